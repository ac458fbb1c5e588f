//! Reading an OME-Zarr image plane by plane: the NGFF metadata, the series of a fileset,
//! and one `(t, c, z)` plane at a time from the full-resolution array (memory bounded
//! by a plane and the chunks it touches, never the whole image).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ome_writers_schema::DType;
use serde_json::Value;
use zarrs::array::{Array, ArrayBytes, ArrayShardedExt, ArraySubset};
use zarrs::filesystem::FilesystemStore;
use zarrs::storage::byte_range::ByteRangeIterator;
use zarrs::storage::{MaybeBytesIterator, ReadableStorageTraits, StorageError, StoreKey};

use crate::files::{MAX_METADATA_BYTES, kind, read_small};

/// The largest chunk (or shard subchunk) that is decoded whole to read a plane: 4 GiB
/// (the largest frame a schema allows).
/// Compressed chunks are decoded whole; a larger one (a crafted or absurd array) is
/// refused at open rather than allocated. Uncompressed, unsharded chunks are read in
/// part and have no limit.
pub const MAX_DECODED_CHUNK_BYTES: u64 = 1 << 32;
use crate::read::AXES;
use crate::{OmeroLocalError, Sizes};

/// A JSON metadata document; `None` when the file does not exist.
fn read_json(path: &Path) -> Result<Option<Value>, OmeroLocalError> {
    let Some(bytes) = read_small(path, MAX_METADATA_BYTES)? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| OmeroLocalError::ZarrMetadata {
            path: path.to_owned(),
            reason: format!("not JSON: {e}"),
        })
}

/// The NGFF attributes of a group: `attributes.ome` (v3, 0.5) or `.zattrs` (v2, 0.4).
fn ngff_attrs(group: &Path) -> Result<Value, OmeroLocalError> {
    if let Some(v) = read_json(&group.join("zarr.json"))? {
        return Ok(v["attributes"]["ome"].clone());
    }
    if let Some(v) = read_json(&group.join(".zattrs"))? {
        return Ok(v);
    }
    Err(OmeroLocalError::ZarrMetadata {
        path: group.to_owned(),
        reason: "no zarr.json or .zattrs: not a zarr group".to_owned(),
    })
}

/// The image group of series `series` in an OME-Zarr fileset root.
pub(crate) fn zarr_series_group(root: &Path, series: u64) -> Result<PathBuf, OmeroLocalError> {
    let attrs = ngff_attrs(root)?;
    if attrs.get("multiscales").is_some() {
        if series == 0 {
            return Ok(root.to_owned());
        }
        return Err(OmeroLocalError::ZarrMetadata {
            path: root.to_owned(),
            reason: format!("a single-image OME-Zarr has no series {series}"),
        });
    }
    if attrs.get("plate").is_some() {
        return Err(OmeroLocalError::Unsupported {
            what: format!("read series {series} of the plate {}", root.display()),
            reason: "reading plate filesets is not implemented; use omero zarr export".to_owned(),
        });
    }
    if attrs.get("bioformats2raw.layout").is_some() {
        let listed = ngff_attrs(&root.join("OME"))
            .ok()
            .and_then(|v| v.get("series").cloned())
            .and_then(|s| s.as_array().cloned());
        let name = match listed {
            Some(list) => usize::try_from(series)
                .ok()
                .and_then(|i| list.get(i))
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| OmeroLocalError::ZarrMetadata {
                    path: root.join("OME"),
                    reason: format!("ome.series has no entry {series}"),
                })?,
            None => series.to_string(),
        };
        return Ok(root.join(name));
    }
    Err(OmeroLocalError::ZarrMetadata {
        path: root.to_owned(),
        reason: "no multiscales, bioformats2raw.layout or plate metadata".to_owned(),
    })
}

pub(crate) fn zarr_dtype(text: &str) -> Option<DType> {
    // v3 names (`uint16`) or v2 typestrings (`<u2`, `|u1`).
    DType::parse(text).or_else(|| match text {
        ">u2" | ">i2" | ">u4" | ">i4" | ">f4" | ">f8" => DType::parse(&text.replace('>', "<")),
        _ => None,
    })
}

/// A filesystem store that reads only regular files: a FIFO or device in place of a
/// chunk is an error naming it, never a blocked open or an endless read.
struct RegularFiles(FilesystemStore);

impl RegularFiles {
    fn check(&self, key: &StoreKey) -> Result<(), StorageError> {
        let path = self.0.key_to_fspath(key);
        match std::fs::metadata(&path) {
            Ok(meta) if !meta.is_file() => Err(StorageError::Other(format!(
                "{}: expected a regular file, found {}",
                path.display(),
                kind(meta.file_type())
            ))),
            _ => Ok(()),
        }
    }
}

impl ReadableStorageTraits for RegularFiles {
    fn get_partial_many<'a>(
        &'a self,
        key: &StoreKey,
        byte_ranges: ByteRangeIterator<'a>,
    ) -> Result<MaybeBytesIterator<'a>, StorageError> {
        self.check(key)?;
        self.0.get_partial_many(key, byte_ranges)
    }

    fn size_key(&self, key: &StoreKey) -> Result<Option<u64>, StorageError> {
        self.check(key)?;
        self.0.size_key(key)
    }

    fn supports_get_partial(&self) -> bool {
        self.0.supports_get_partial()
    }
}

/// The full-resolution array of an OME-Zarr image, read one plane at a time.
pub(crate) struct ZarrPlanes {
    array_dir: PathBuf,
    array: Array<dyn ReadableStorageTraits>,
    /// For each of t, c, z, y, x: its dimension in the array, if present.
    position: [Option<usize>; 5],
    sizes: Sizes,
    dtype: DType,
}

impl ZarrPlanes {
    /// Open the image group's `datasets[0]` array (no pixel is read).
    pub(crate) fn open(group: &Path) -> Result<Self, OmeroLocalError> {
        let meta_err = |reason: String| OmeroLocalError::ZarrMetadata {
            path: group.to_owned(),
            reason,
        };
        let (axes, path) = multiscale_axes_and_path(group)?;
        let array_dir = group.join(&path);
        let dtype_text = match read_json(&array_dir.join("zarr.json"))? {
            Some(v) => v["data_type"].as_str().map(str::to_owned),
            None => read_json(&array_dir.join(".zarray"))?
                .and_then(|v| v["dtype"].as_str().map(str::to_owned)),
        }
        .ok_or_else(|| meta_err(format!("{path}: no array metadata")))?;
        let dtype = zarr_dtype(&dtype_text).ok_or_else(|| {
            meta_err(format!("{path}: data type {dtype_text:?} is not supported"))
        })?;
        let zarr_err = |e: Box<dyn std::error::Error + Send + Sync>| OmeroLocalError::Decode {
            path: array_dir.clone(),
            source: e,
        };
        let store = FilesystemStore::new(group).map_err(|e| zarr_err(Box::new(e)))?;
        let store: Arc<dyn ReadableStorageTraits> = Arc::new(RegularFiles(store));
        let array = Array::open(store, &format!("/{path}")).map_err(|e| zarr_err(Box::new(e)))?;
        let shape = array.shape().to_vec();
        if shape.len() != axes.len() {
            return Err(meta_err(format!(
                "{} axes but the array has {} dimensions",
                axes.len(),
                shape.len()
            )));
        }
        let mut sizes5 = [1u64; 5];
        let mut position = [None; 5];
        for (i, (name, &len)) in axes.iter().zip(&shape).enumerate() {
            let k = AXES
                .iter()
                .position(|a| a == name)
                .ok_or_else(|| meta_err(format!("axis {name:?} is not one of t, c, z, y, x")))?;
            if position[k].is_some() {
                return Err(meta_err(format!("axis {name:?} appears twice")));
            }
            position[k] = Some(i);
            sizes5[k] = len;
        }
        let [t, c, z, y, x] = sizes5;
        let sizes = Sizes { x, y, z, c, t };
        sizes.total_bytes(dtype.size())?;
        check_decoded_chunk(&array, dtype, &array_dir)?;
        Ok(Self {
            array_dir,
            array,
            position,
            sizes,
            dtype,
        })
    }

    /// The image's dimensions.
    pub(crate) fn sizes(&self) -> Sizes {
        self.sizes
    }

    /// The pixel type.
    pub(crate) fn dtype(&self) -> DType {
        self.dtype
    }

    /// Plane `(t, c, z)` into `out` (one plane, native byte order, `[Y][X]`).
    pub(crate) fn read_plane(
        &self,
        t: u64,
        c: u64,
        z: u64,
        out: &mut [u8],
    ) -> Result<(), OmeroLocalError> {
        self.sizes.plane_index(z, c, t)?;
        let shape = self.array.shape();
        let mut ranges = vec![0..1; shape.len()];
        for (k, v) in [t, c, z].into_iter().enumerate() {
            if let Some(r) = self.position[k].and_then(|i| ranges.get_mut(i)) {
                *r = v..v + 1;
            }
        }
        for k in [3, 4] {
            if let Some(i) = self.position[k]
                && let (Some(r), Some(&n)) = (ranges.get_mut(i), shape.get(i))
            {
                *r = 0..n;
            }
        }
        let zarr_err = |e: Box<dyn std::error::Error + Send + Sync>| OmeroLocalError::Decode {
            path: self.array_dir.clone(),
            source: e,
        };
        let bytes = self
            .array
            .retrieve_array_subset::<ArrayBytes<'static>>(&ArraySubset::new_with_ranges(&ranges))
            .map_err(|e| zarr_err(Box::new(e)))?
            .into_fixed()
            .map_err(|e| zarr_err(Box::new(e)))?;
        if bytes.len() != out.len() {
            return Err(OmeroLocalError::Unsupported {
                what: format!("read a plane into a buffer of {} bytes", out.len()),
                reason: format!("a plane of {} is {} bytes", self.sizes, bytes.len()),
            });
        }
        // Only y and x are longer than 1: the plane is [Y][X] unless x comes first.
        match (self.position[3], self.position[4]) {
            (Some(y), Some(x)) if x < y => {
                transpose_plane(&bytes, out, self.sizes.x, self.sizes.y, self.dtype.size());
            }
            _ => out.copy_from_slice(&bytes),
        }
        Ok(())
    }
}

/// Refuse an array whose decode unit (the subchunk of a shard, or a compressed chunk)
/// is larger than [`MAX_DECODED_CHUNK_BYTES`].
fn check_decoded_chunk(
    array: &Array<dyn ReadableStorageTraits>,
    dtype: DType,
    array_dir: &Path,
) -> Result<(), OmeroLocalError> {
    let codecs = array.codecs();
    let whole = array.is_sharded()
        || !codecs.bytes_to_bytes_codecs().is_empty()
        || !codecs.array_to_array_codecs().is_empty();
    if !whole {
        return Ok(());
    }
    let unit: Option<Vec<u64>> = if array.is_sharded() {
        array
            .effective_subchunk_shape()
            .map(|s| s.iter().map(|n| n.get()).collect())
    } else {
        array
            .chunk_shape(&vec![0; array.shape().len()])
            .ok()
            .map(|s| s.iter().map(|n| n.get()).collect())
    };
    let Some(unit) = unit else {
        return Ok(());
    };
    let bytes = unit
        .iter()
        .try_fold(dtype.size() as u64, |acc, &n| acc.checked_mul(n));
    match bytes {
        Some(b) if b <= MAX_DECODED_CHUNK_BYTES => Ok(()),
        _ => Err(OmeroLocalError::ZarrMetadata {
            path: array_dir.to_owned(),
            reason: format!(
                "a chunk of shape {unit:?} ({} bytes decoded) is larger than the \
                 {MAX_DECODED_CHUNK_BYTES} bytes decoded to read one plane",
                bytes.map_or_else(|| "overflowing".to_owned(), |b| b.to_string())
            ),
        }),
    }
}

/// The multiscale's axis names (lower case) and its `datasets[0].path`.
fn multiscale_axes_and_path(group: &Path) -> Result<(Vec<String>, String), OmeroLocalError> {
    let meta_err = |reason: String| OmeroLocalError::ZarrMetadata {
        path: group.to_owned(),
        reason,
    };
    let attrs = ngff_attrs(group)?;
    let ms = attrs
        .get("multiscales")
        .and_then(|m| m.get(0))
        .ok_or_else(|| meta_err("no multiscales: not an OME-Zarr image group".to_owned()))?;
    let axes: Vec<String> = ms
        .get("axes")
        .and_then(Value::as_array)
        .ok_or_else(|| meta_err("multiscales has no axes".to_owned()))?
        .iter()
        .map(|a| {
            a.get("name")
                .and_then(Value::as_str)
                .or_else(|| a.as_str())
                .map(str::to_ascii_lowercase)
        })
        .collect::<Option<_>>()
        .ok_or_else(|| meta_err("an axis has no name".to_owned()))?;
    let path = ms
        .get("datasets")
        .and_then(|d| d.get(0))
        .and_then(|d| d.get("path"))
        .and_then(Value::as_str)
        .ok_or_else(|| meta_err("multiscales has no datasets[0].path".to_owned()))?;
    Ok((axes, path.to_owned()))
}

/// `src` is `[X][Y]` (x outer); write it to `out` as `[Y][X]`.
fn transpose_plane(src: &[u8], out: &mut [u8], nx: u64, ny: u64, elem: usize) {
    let (nx, ny) = (nx as usize, ny as usize);
    for (i, dst) in out.chunks_exact_mut(elem).enumerate() {
        let (y, x) = (i / nx.max(1), i % nx.max(1));
        let from = (x * ny + y) * elem;
        if let Some(s) = src.get(from..from + elem) {
            dst.copy_from_slice(s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transpose_plane_turns_xy_into_yx() {
        // x=3, y=2 stored x-major: element (x, y) = 10*x + y.
        let src: Vec<u8> = (0..3u8)
            .flat_map(|x| (0..2u8).map(move |y| 10 * x + y))
            .collect();
        let mut out = [0u8; 6];
        transpose_plane(&src, &mut out, 3, 2, 1);
        assert_eq!(out, [0, 10, 20, 1, 11, 21]);
    }

    #[test]
    fn zarr_dtypes() {
        assert_eq!(zarr_dtype("uint16"), Some(DType::U16));
        assert_eq!(zarr_dtype("<u2"), Some(DType::U16));
        assert_eq!(zarr_dtype("|u1"), Some(DType::U8));
        assert_eq!(zarr_dtype("<f8"), Some(DType::F64));
        assert_eq!(zarr_dtype("uint64"), None);
    }
}
