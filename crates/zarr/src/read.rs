//! [ZarrReader]: the planes a [ZarrBackend] stored, read back from their chunk and
//! shard files on another thread while the backend writes (for live views), through
//! zarrs with the array metadata the backend holds in memory.
//!
//! The writer never reads a chunk back; this reader only opens the files the writer
//! put into place. Every chunk and shard file is written under a temporary name and
//! renamed (store.rs, the O_DIRECT path too), so a reader sees a whole unit or
//! none. The array documents on disk are not used: an unbounded growth axis grows in
//! memory before its zarr.json is rewritten, and finish may shrink the shape, so the
//! reader keeps its own copy of each array's metadata (codecs and chunk grid never
//! change) and grows its shape as reads ask for it. Files are opened relative to the
//! dataset directory held open ([ReadDir]), so renaming the dataset (omero_local's
//! staging folder at finish) does not disturb it.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use ome_writers_backend::{BackendError, PlaneReader, ReadDir, UsageError};
use ome_writers_schema::{PositionIndex, StorageIndex, Target};
use zarrs::array::{Array, ArrayBytes, ArraySubset};
use zarrs::storage::byte_range::{ByteRange, ByteRangeIterator};
use zarrs::storage::{Bytes, MaybeBytesIterator, ReadableStorageTraits, StorageError, StoreKey};

use crate::backend::ZarrBackend;
use crate::error::ZarrError;

/// A read-only store over a dataset directory held open, made for one plane read: each
/// file is opened once and that handle serves every read of it (a shard's index and
/// its inner chunks), so a unit replaced meanwhile (a durability point's copy by the
/// whole unit) is read from one version only, never an index of one and data of another.
#[derive(Debug)]
pub(crate) struct ReadStore {
    dir: Arc<ReadDir>,
    opened: Mutex<Vec<(String, Option<Arc<File>>)>>,
}

impl ReadStore {
    pub(crate) fn new(dir: Arc<ReadDir>) -> Self {
        Self {
            dir,
            opened: Mutex::new(Vec::new()),
        }
    }

    fn open(&self, key: &StoreKey) -> Result<Option<Arc<File>>, StorageError> {
        let mut opened = self.opened.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, file)) = opened.iter().find(|(k, _)| k == key.as_str()) {
            return Ok(file.clone());
        }
        let file = self
            .dir
            .open_file(key.as_str())
            .map_err(|e| StorageError::IOError(Arc::new(e)))?
            .map(Arc::new);
        opened.push((key.as_str().to_owned(), file.clone()));
        Ok(file)
    }
}

impl ReadableStorageTraits for ReadStore {
    fn get_partial_many<'a>(
        &'a self,
        key: &StoreKey,
        byte_ranges: ByteRangeIterator<'a>,
    ) -> Result<MaybeBytesIterator<'a>, StorageError> {
        let Some(file) = self.open(key)? else {
            return Ok(None);
        };
        let size = file.metadata()?.len();
        let read = move |range: ByteRange| -> Result<Bytes, StorageError> {
            let r = range.to_range(size);
            if r.end > size || r.start > r.end {
                return Err(StorageError::InvalidByteRangeError(
                    zarrs::storage::byte_range::InvalidByteRangeError::new(range, size),
                ));
            }
            let len = usize::try_from(r.end - r.start)
                .map_err(|_| StorageError::Other(format!("a byte range of {r:?}")))?;
            let mut buf = vec![0u8; len];
            file.read_exact_at(&mut buf, r.start)?;
            Ok(Bytes::from(buf))
        };
        Ok(Some(Box::new(byte_ranges.map(read))))
    }

    fn size_key(&self, key: &StoreKey) -> Result<Option<u64>, StorageError> {
        match self.open(key)? {
            Some(file) => Ok(Some(file.metadata()?.len())),
            None => Ok(None),
        }
    }

    fn supports_get_partial(&self) -> bool {
        true
    }
}

/// Reads the planes a [ZarrBackend] stored (see the module docs).
pub(crate) struct ZarrReader {
    /// The store of one read: a [`ReadStore`] of its own on disk, the shared S3 store.
    fresh: Box<dyn Fn() -> Arc<dyn ReadableStorageTraits> + Send + Sync>,
    /// One array per image (a template: each read gives it a store of its own), its
    /// shape grown on demand (unbounded growth axis).
    arrays: Vec<RwLock<Array<dyn ReadableStorageTraits>>>,
    /// Write-unit shape (shard or chunk), storage order, Y/X included.
    unit: Vec<u64>,
    /// Declared extents (None: the unbounded growth axis).
    declared: Vec<Option<u64>>,
    frame: [u64; 2],
    frame_bytes: usize,
}

impl ZarrBackend {
    /// A reader of this dataset's planes: None for a store that is not a directory
    /// of the schema's output path (tests' in-memory stores) or whose directory is gone.
    pub(crate) fn plane_reader(&self) -> Option<Arc<dyn PlaneReader>> {
        type Fresh = Box<dyn Fn() -> Arc<dyn ReadableStorageTraits> + Send + Sync>;
        let (store, fresh): (Arc<dyn ReadableStorageTraits>, Fresh) = if let Some(remote) =
            &self.remote_reads
        {
            let shared = remote.clone();
            (remote.clone(), Box::new(move || shared.clone()))
        } else {
            let (true, Target::Disk { path }) = (self.readable_dir, self.schema.target()) else {
                return None;
            };
            let dir = Arc::new(ReadDir::open(path).ok()?);
            let first: Arc<dyn ReadableStorageTraits> = Arc::new(ReadStore::new(dir.clone()));
            (
                first,
                Box::new(move || Arc::new(ReadStore::new(dir.clone()))),
            )
        };
        let arrays = self
            .images
            .iter()
            .map(|img| {
                Array::new_with_metadata(
                    store.clone(),
                    img.array.path().as_str(),
                    img.array.metadata().clone(),
                )
                .map(RwLock::new)
            })
            .collect::<Result<Vec<_>, _>>()
            .ok()?;
        Some(Arc::new(ZarrReader {
            fresh,
            arrays,
            unit: self.unit.clone(),
            declared: self.declared.clone(),
            frame: self.schema.frame_shape(),
            frame_bytes: self.schema.frame_bytes(),
        }))
    }

    /// The frames (arrival order, from the first) whose units are all in their files
    /// (on object storage: acknowledged, as of the last durability point).
    pub(crate) fn readable_prefix(&self) -> u64 {
        let stored = self
            .pending
            .prefix(self.stored.arrived(), self.stored.first_failed());
        self.acknowledged.map_or(stored, |acked| acked.min(stored))
    }
}

impl ZarrReader {
    /// Refuse a position, index or buffer that is not one plane of the dataset.
    fn check(
        &self,
        position: PositionIndex,
        index: &[u64],
        out: &[u8],
    ) -> Result<&RwLock<Array<dyn ReadableStorageTraits>>, BackendError> {
        let array = self.arrays.get(position.0).ok_or(UsageError::Position {
            position: position.0,
            count: self.arrays.len(),
        })?;
        let n = self.unit.len() - 2;
        let outside = index
            .iter()
            .zip(&self.declared)
            .any(|(&i, d)| d.is_some_and(|c| i >= c));
        if index.len() != n || outside {
            return Err(UsageError::Index {
                index: index.to_vec(),
                extents: self.declared[..n].iter().map(|d| d.unwrap_or(0)).collect(),
            }
            .into());
        }
        if out.len() != self.frame_bytes {
            return Err(UsageError::FrameLength {
                expected: self.frame_bytes,
                got: out.len(),
            }
            .into());
        }
        Ok(array)
    }

    /// Whether every unit holding the plane at index is in its file.
    fn units_stored(
        &self,
        array: &Array<dyn ReadableStorageTraits>,
        index: &[u64],
    ) -> Result<bool, BackendError> {
        let n = index.len();
        let mut key: Vec<u64> = index.iter().zip(&self.unit).map(|(i, u)| i / u).collect();
        key.extend([0, 0]);
        let [uy, ux] = [self.unit[n], self.unit[n + 1]];
        for by in 0..self.frame[0].div_ceil(uy) {
            for bx in 0..self.frame[1].div_ceil(ux) {
                key[n] = by;
                key[n + 1] = bx;
                let chunk = array.chunk_key(&key);
                let found = array
                    .storage()
                    .size_key(&chunk)
                    .map_err(|source| ZarrError::Read {
                        key: chunk.to_string(),
                        source: source.into(),
                    })?;
                if found.is_none() {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }
}

impl PlaneReader for ZarrReader {
    fn read_plane(
        &self,
        position: PositionIndex,
        index: &StorageIndex,
        out: &mut [u8],
    ) -> Result<bool, BackendError> {
        let index = index.as_slice();
        let lock = self.check(position, index, out)?;
        let n = index.len();
        // An unbounded growth axis: the shape this reader knows may be behind.
        let behind =
            |a: &Array<dyn ReadableStorageTraits>| (0..n).find(|&k| a.shape()[k] <= index[k]);
        if behind(&lock.read().unwrap_or_else(PoisonError::into_inner)).is_some() {
            let mut array = lock.write().unwrap_or_else(PoisonError::into_inner);
            if let Some(k) = behind(&array) {
                let mut shape = array.shape().to_vec();
                shape[k] = (index[k] + 1).max(shape[k].saturating_mul(2));
                let path = array.path().as_str().to_owned();
                array
                    .set_shape(shape.clone())
                    .map_err(|source| ZarrError::Resize {
                        path,
                        shape,
                        source,
                    })?;
            }
        }
        let array = lock
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .with_storage((self.fresh)());
        if !self.units_stored(&array, index)? {
            return Ok(false);
        }
        let mut ranges: Vec<std::ops::Range<u64>> = index.iter().map(|&i| i..i + 1).collect();
        ranges.extend([0..self.frame[0], 0..self.frame[1]]);
        let read_err = |source: zarrs::array::ArrayError| ZarrError::Read {
            key: format!("{} at {index:?}", array.path()),
            source: Box::new(source),
        };
        let bytes = array
            .retrieve_array_subset::<ArrayBytes<'static>>(&ArraySubset::new_with_ranges(&ranges))
            .map_err(read_err)?
            .into_fixed()
            .map_err(|e| ZarrError::Read {
                key: format!("{} at {index:?}", array.path()),
                source: Box::new(e),
            })?;
        if out.len() != bytes.len() {
            return Err(UsageError::FrameLength {
                expected: bytes.len(),
                got: out.len(),
            }
            .into());
        }
        out.copy_from_slice(&bytes);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;

    use ome_writers_backend::ReadDir;
    use zarrs::storage::byte_range::ByteRange;
    use zarrs::storage::{ReadableStorageTraits, StoreKey};

    use super::ReadStore;

    #[test]
    fn one_read_sees_one_version_of_a_file_replaced_meanwhile() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("c")).unwrap();
        std::fs::write(tmp.path().join("c/0"), b"old index+data").unwrap();
        let dir = Arc::new(ReadDir::open(tmp.path()).unwrap());
        let store = ReadStore::new(dir.clone());
        let key = StoreKey::new("c/0").unwrap();
        assert_eq!(store.size_key(&key).unwrap(), Some(14));
        // The writer renames a new version into place.
        std::fs::write(tmp.path().join("c/.0.new"), b"new").unwrap();
        std::fs::rename(tmp.path().join("c/.0.new"), tmp.path().join("c/0")).unwrap();
        let head = store
            .get_partial(&key, ByteRange::FromStart(0, Some(3)))
            .unwrap();
        assert_eq!(head.as_deref(), Some(&b"old"[..]));
        // The next read (a new store) sees the new version; absent keys are None.
        let next = ReadStore::new(dir);
        assert_eq!(next.get(&key).unwrap().as_deref(), Some(&b"new"[..]));
        assert!(next.get(&StoreKey::new("c/1").unwrap()).unwrap().is_none());
        let past = next.get_partial(&key, ByteRange::FromStart(2, Some(5)));
        assert!(past.is_err());
    }
}
