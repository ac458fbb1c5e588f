//! [`ZarrBackend`]: creating a dataset (checks, arrays, the first documents, the space
//! reserve), writing frames, durability points (flush) and finalize.

use std::sync::Arc;

use ome_writers_backend::{
    Backend, BackendError, DatasetStatus, EncoderOptions, FrameBuffer, FrameMetadata,
    GlobalMetadata, OutputLock, PlaneReader, Progress, Summary, prepare_output,
};
use ome_writers_schema::{Compression, PositionIndex, Schema, StorageIndex, Target};
use zarrs::array::Array;
use zarrs::storage::{StorageError, StoreKey};

use crate::codecs::{bytes_codecs, fast_codec, raw_shard_index};
use crate::encode::{EncodeSpec, EncoderPool};
use crate::error::ZarrError;
use crate::hierarchy::Image;
use crate::layout::Layout;
use crate::names::{image_groups, journal_key};
use crate::readable::Pending;
use crate::store::DirStore;
use crate::stored::StoredFrames;
use crate::units::{Frame, Unit};
use crate::{BACKEND, ZarrStore, owned};

/// Memory the encoder threads beyond one per core may hold in output buffers.
const EXTRA_ENCODER_BYTES: usize = 32 << 20;

/// How many encoder threads: one per core, plus up to two per core more. The store
/// writes encoded chunks around the page cache, which blocks the writing thread until
/// the disk has the bytes; meanwhile the extra threads keep every core compressing.
/// Measured on 2 cores (docs/benchmarks.md): 3 per core beat 2 per core and buffered
/// writes with 1 per core. Each thread keeps one output buffer of about a unit, so
/// the extra threads are limited to [`EXTRA_ENCODER_BYTES`] of them: the memory bound
/// does not grow with the core count.
fn encoder_threads(cores: usize, unit_bytes: usize) -> usize {
    let extra = (2 * cores).min(EXTRA_ENCODER_BYTES / unit_bytes.max(1));
    cores.max(1) + extra
}

/// The encoder threads for units of `unit_bytes`, encoding as `array` does.
fn encoder_pool(
    schema: &Schema,
    array: &Array<dyn ZarrStore>,
    store: &Arc<dyn ZarrStore>,
    unit_bytes: usize,
    encoders: &EncoderOptions,
    pending: &Arc<Pending>,
) -> Result<EncoderPool, BackendError> {
    let ndim = array.dimensionality();
    let shape = array
        .chunk_shape(&vec![0; ndim])
        .map_err(|source| ZarrError::ChunkShape {
            path: array.path().as_str().to_owned(),
            source,
        })?;
    let threads = encoders.threads.map_or_else(
        || {
            encoder_threads(
                std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
                unit_bytes,
            )
        },
        std::num::NonZero::get,
    );
    Ok(EncoderPool::new(
        EncodeSpec {
            store: store.clone(),
            codecs: array.codecs(),
            shape,
            data_type: array.data_type().clone(),
            fill_value: array.fill_value().clone(),
            fast: fast_codec(schema),
            pending: pending.clone(),
        },
        threads,
        encoders.priority,
    ))
}

/// The OME-Zarr writer for one stream.
pub struct ZarrBackend {
    pub(crate) schema: Schema,
    pub(crate) store: Arc<dyn ZarrStore>,
    pub(crate) images: Vec<Image>,
    /// Write-unit shape, storage order, Y/X included.
    pub(crate) unit: Vec<u64>,
    /// Declared array shape (growth axis: `None` when unbounded).
    pub(crate) declared: Vec<Option<u64>>,
    pub(crate) growth: Option<usize>,
    /// Planes per unit (product of the index-axis unit lengths).
    pub(crate) planes_per_unit: usize,
    pub(crate) unit_bytes: usize,
    /// Chunks are stored as raw bytes (no codec work, no copy).
    pub(crate) raw_chunks: bool,
    /// A unit is exactly one frame (chunk = frame, one plane per chunk).
    pub(crate) frame_units: bool,
    /// Uncompressed shards assembled here: the unit buffer is the shard's data section.
    pub(crate) raw_shards: bool,
    /// The (constant) index of a raw shard, with its crc32c.
    pub(crate) shard_index: Vec<u8>,
    /// Where frame pixels go in unit buffers.
    pub(crate) layout: Layout,
    /// One frame of zeros, for planes never written (allocated on first need).
    pub(crate) zero_frame: Vec<u8>,
    /// Encoder threads for compressed or sharded units.
    pub(crate) encoder: Option<EncoderPool>,
    /// Units whose buffers are free for reuse (no allocation per unit once warm).
    pub(crate) pool: Vec<Unit>,
    pub(crate) settings_json: serde_json::Value,
    /// Which frames are stored (the count a failed acquisition records).
    pub(crate) stored: StoredFrames,
    /// Images whose documents are out of date (`dirty`), each once: a durability
    /// point visits these, not every position.
    pub(crate) touched: Vec<usize>,
    /// Images that may hold open units (a superset; pruned at durability points).
    pub(crate) with_open: std::collections::BTreeSet<usize>,
    pub(crate) bytes_received: u64,
    pub(crate) finalized: bool,
    /// The output's lock, held until finalize (one writer per output).
    pub(crate) lock: OutputLock,
    /// Acquisition-level metadata (root attributes, see `global.rs`).
    pub(crate) global: GlobalMetadata,
    /// The global metadata changed since the root document was last stored.
    pub(crate) global_dirty: bool,
    /// The root group's `ome` attribute when the root is not an image.
    pub(crate) root_ome: Option<serde_json::Value>,
    /// Units not yet in their files, for live views (`readable.rs`).
    pub(crate) pending: Arc<Pending>,
    /// The store is the directory at the schema's path (a reader can open it).
    pub(crate) readable_dir: bool,
    /// A read-only store of the same objects, for a remote store (S3) that has one.
    pub(crate) remote_reads: Option<Arc<dyn zarrs::storage::ReadableStorageTraits>>,
    /// For a remote store: the frames every upload of which was acknowledged, as of
    /// the last durability point (the live view reads no further back).
    pub(crate) acknowledged: Option<u64>,
    /// Pyramid level this backend writes (0: the frames, and every group document).
    pub(crate) level: u32,
    /// The levels above 0 (`multiscale`), written from the frames as they arrive.
    pub(crate) pyramid: Option<crate::pyramid::LevelThread>,
}

impl ZarrBackend {
    /// Create the dataset at the schema's output path (refusing an existing one unless
    /// `overwrite`), with every group and array and their metadata written.
    pub fn create(schema: &Schema) -> Result<Self, BackendError> {
        Self::create_with(schema, &EncoderOptions::default())
    }

    /// [`create`](Self::create), with the encoder threads set by `encoders`.
    pub fn create_with(schema: &Schema, encoders: &EncoderOptions) -> Result<Self, BackendError> {
        let path = match schema.target() {
            Target::Disk { path } => path,
            #[cfg(feature = "s3")]
            Target::S3 { .. } => {
                return Self::create_s3(schema, encoders, &crate::S3Options::default());
            }
            other => {
                return Err(BackendError::Unsupported {
                    backend: BACKEND,
                    reason: format!("the target {other:?} is not a path on disk"),
                });
            }
        };
        Self::check(schema)?;
        let prepared = prepare_output(path, &owned::ZarrOwnership, schema.overwrite())?;
        let mut backend =
            Self::create_in_with(schema, Arc::new(DirStore::new(path.clone())), encoders)?;
        backend.lock = prepared.commit();
        backend.readable_dir = true;
        Ok(backend)
    }

    /// Create the dataset at the schema's `s3://` address (see [`crate::S3Store::open`]:
    /// the bucket and credentials checked, an existing dataset refused unless
    /// `overwrite`), with every group and array and their metadata uploaded.
    #[cfg(feature = "s3")]
    pub fn create_s3(
        schema: &Schema,
        encoders: &EncoderOptions,
        s3: &crate::S3Options,
    ) -> Result<Self, BackendError> {
        let Some(url) = schema.output_url() else {
            return Err(BackendError::Unsupported {
                backend: BACKEND,
                reason: "the target is not an s3:// address".to_owned(),
            });
        };
        Self::check(schema)?;
        let store = Arc::new(crate::S3Store::open(url, s3, schema.overwrite())?);
        let reads = store.read_store();
        let mut backend = Self::create_in_with(schema, store, encoders)?;
        backend.remote_reads = Some(reads);
        backend.acknowledged = Some(0);
        Ok(backend)
    }

    /// Refuse, before anything is written, what this backend cannot write.
    pub fn check(schema: &Schema) -> Result<(), BackendError> {
        let unsupported = |reason: String| BackendError::Unsupported {
            backend: BACKEND,
            reason,
        };
        if !matches!(
            schema.compression(),
            Compression::None | Compression::Zstd | Compression::BloscZstd | Compression::BloscLz4
        ) {
            return Err(unsupported(format!(
                "compression {:?} is not a zarr codec",
                schema.compression().as_str()
            )));
        }
        bytes_codecs(schema)?;
        let names = image_groups(schema);
        let mut seen = std::collections::HashSet::new();
        for (p, name) in names.iter().enumerate() {
            if !seen.insert(name.as_str()) {
                return Err(unsupported(format!(
                    "positions {p} and an earlier one both map to the image group {name:?}; \
                     give them distinct names (or grid_row/grid_column)"
                )));
            }
            let bad = name.split('/').any(|part| {
                part.is_empty() || part == "." || part == ".." || part.starts_with("__")
            }) || name.contains('\\');
            let nested = schema.plate().is_none() && name.contains('/');
            if !name.is_empty() && (bad || nested || (schema.plate().is_none() && name == "OME")) {
                return Err(unsupported(format!(
                    "position name {name:?} cannot be a zarr group name"
                )));
            }
        }
        Ok(())
    }

    /// Create the dataset in any [`ZarrStore`] (tests use an in-memory store wrapped in
    /// zarrs' performance-metrics adapter to prove the backend never reads).
    pub fn create_in(schema: &Schema, store: Arc<dyn ZarrStore>) -> Result<Self, BackendError> {
        Self::create_in_with(schema, store, &EncoderOptions::default())
    }

    /// [`create_in`](Self::create_in), with the encoder threads set by `encoders`.
    pub fn create_in_with(
        schema: &Schema,
        store: Arc<dyn ZarrStore>,
        encoders: &EncoderOptions,
    ) -> Result<Self, BackendError> {
        Self::check(schema)?;
        let mut backend = Self::build(schema, store, encoders, 0)?;
        // The level arrays first: the image groups' documents name them.
        backend.pyramid = crate::pyramid::Levels::create(schema, &backend.store, encoders)?
            .map(crate::pyramid::LevelThread::spawn)
            .transpose()?;
        backend.write_initial()?;
        Ok(backend)
    }

    /// The backend of one level (0: the frames) of `schema`, nothing written yet.
    pub(crate) fn build(
        schema: &Schema,
        store: Arc<dyn ZarrStore>,
        encoders: &EncoderOptions,
        level: u32,
    ) -> Result<Self, BackendError> {
        let unit = schema.shard_shape().unwrap_or_else(|| schema.chunk_shape());
        let growth = schema.growth_axis();
        let declared: Vec<Option<u64>> = schema
            .array_dims()
            .map(ome_writers_schema::Dim::count)
            .collect();
        let n_index = unit.len() - 2;
        let planes_per_unit: u64 = unit[..n_index].iter().product();
        let unit_elems: u64 = unit.iter().product();
        let settings_json = serde_json::to_value(schema.settings())?;
        let images = image_groups(schema)
            .into_iter()
            .enumerate()
            .map(|(p, group)| Image::new(schema, &store, p, group, level))
            .collect::<Result<Vec<_>, _>>()?;
        let n_images = images.len();
        let uncompressed_le =
            schema.compression() == Compression::None && cfg!(target_endian = "little");
        let raw_chunks = uncompressed_le && schema.shard_shape().is_none();
        let raw_shards = uncompressed_le && schema.shard_shape().is_some();
        let block = if raw_shards {
            schema.chunk_shape()
        } else {
            unit.clone()
        };
        let layout = Layout::new(&unit, &block, schema.frame_shape(), schema.dtype().size());
        let shard_index = if raw_shards {
            raw_shard_index(layout.blocks(), layout.block_bytes())
        } else {
            Vec::new()
        };
        let [fh, fw] = schema.frame_shape();
        let frame_units = planes_per_unit == 1 && unit[n_index] == fh && unit[n_index + 1] == fw;
        let pending = Arc::new(Pending::default());
        let encoder = match images.first() {
            Some(first) if !raw_chunks && !raw_shards => Some(encoder_pool(
                schema,
                &first.array,
                &store,
                unit_elems as usize * schema.dtype().size(),
                encoders,
                &pending,
            )?),
            _ => None,
        };
        Ok(Self {
            schema: schema.clone(),
            store,
            images,
            unit,
            declared,
            growth,
            planes_per_unit: planes_per_unit as usize,
            unit_bytes: (unit_elems as usize) * schema.dtype().size(),
            raw_chunks,
            frame_units,
            raw_shards,
            shard_index,
            layout,
            zero_frame: Vec::new(),
            encoder,
            pool: Vec::new(),
            settings_json,
            stored: StoredFrames::new(n_images),
            touched: (0..n_images).collect(),
            with_open: std::collections::BTreeSet::new(),
            bytes_received: 0,
            finalized: false,
            lock: OutputLock::none(),
            global: GlobalMetadata::default(),
            global_dirty: false,
            root_ome: None,
            pending,
            readable_dir: false,
            remote_reads: None,
            acknowledged: None,
            level,
            pyramid: None,
        })
    }

    /// Every group and array document, then the space reserve.
    pub(crate) fn write_initial(&mut self) -> Result<(), BackendError> {
        if self.level > 0 {
            // A level's arrays only (level 0 writes the groups and the reserve).
            return self.write_metadata(DatasetStatus::Acquiring.as_str());
        }
        // The hierarchy's documents as one batch (a plate of many wells has many).
        self.store.begin_metadata();
        match self.write_hierarchy() {
            Ok(()) => self.store.commit_metadata()?,
            Err(e) => {
                self.store.discard_metadata();
                return Err(e);
            }
        }
        self.write_metadata(DatasetStatus::Acquiring.as_str())?;
        // Room for the final metadata even if the frames fill the disk: 8 KiB per
        // image (two pages), 64 KiB to 1 MiB.
        let reserve = (8usize << 10)
            .saturating_mul(self.images.len())
            .clamp(64 << 10, 1 << 20);
        self.store.reserve(reserve)
    }

    /// The error of storing `key`: the store's own I/O error (with its path) if it
    /// kept one, else the storage error.
    pub(crate) fn store_err(&self, key: &StoreKey, source: StorageError) -> BackendError {
        self.store.take_error().unwrap_or_else(|| {
            ZarrError::Store {
                key: key.to_string(),
                source,
            }
            .into()
        })
    }

    /// Array and image-group metadata of every dirty image. Chunks first: the encoders
    /// are drained and the store synced before any `zarr.json` that could describe
    /// them is replaced.
    pub(crate) fn write_metadata(&mut self, status: &str) -> Result<(), BackendError> {
        self.drain_encoders()?;
        self.sync_store()?;
        self.put_metadata(status)
    }

    pub(crate) fn drain_encoders(&mut self) -> Result<(), BackendError> {
        match self.encoder.as_mut() {
            Some(enc) => enc.drain(&mut self.pool),
            None => Ok(()),
        }
    }

    pub(crate) fn sync_store(&mut self) -> Result<(), BackendError> {
        let synced = self.store.sync();
        if synced.is_err() {
            self.stored.sync_failed();
        } else if self.acknowledged.is_some() {
            // Every upload handed over so far is acknowledged.
            let stored = self
                .pending
                .prefix(self.stored.arrived(), self.stored.first_failed());
            self.acknowledged = Some(stored);
        }
        synced
    }

    /// Route one frame into its chunk(s), given borrowed or as a pooled buffer.
    fn write_frame(
        &mut self,
        position: PositionIndex,
        index: &StorageIndex,
        frame: Frame<'_>,
        metadata: Option<&FrameMetadata>,
    ) -> Result<(), BackendError> {
        if self.finalized {
            return Err(BackendError::Finalized);
        }
        self.store.failed()?;
        let p = position.0;
        if p >= self.images.len() || index.len() + 2 != self.unit.len() {
            return Err(BackendError::Unsupported {
                backend: BACKEND,
                reason: format!("no image for position {p} and index {index}"),
            });
        }
        let seq = self.stored.arrive(p);
        let frame_len = frame.bytes().len();
        // The levels from the frame in memory: the level thread shares its buffer.
        let placed = self
            .write_levels(p, index.as_slice(), &frame, seq)
            .and_then(|()| self.place_frame(p, index.as_slice(), frame, seq))
            .and_then(|()| self.record_frame(p, index.as_slice(), metadata));
        if placed.is_err() {
            // Whatever failed, this frame is not known stored.
            self.stored.failed(Some(seq));
        }
        placed?;
        self.bytes_received += frame_len as u64;
        Ok(())
    }

    /// Count a placed frame and journal its metadata.
    fn record_frame(
        &mut self,
        p: usize,
        idx: &[u64],
        metadata: Option<&FrameMetadata>,
    ) -> Result<(), BackendError> {
        self.touch(p);
        let img = &mut self.images[p];
        img.frames_written += 1;
        if let Some(m) = metadata {
            let mut entry = m.clone();
            entry.insert(
                "storage_index".to_owned(),
                serde_json::Value::from(idx.to_vec()),
            );
            // Appended to a journal (flat cost per frame, durable at the next
            // durability point); folded into the attributes at finish.
            let key = journal_key(&img.group);
            let mut line = serde_json::to_vec(&entry)?;
            line.push(b'\n');
            if self.store.append(&key, &line)? {
                img.journal = Some(key);
            } else {
                img.frame_metadata.push(serde_json::Value::Object(entry));
            }
            img.metadata_count += 1;
        }
        Ok(())
    }

    /// Image `p`'s documents are out of date.
    pub(crate) fn touch(&mut self, p: usize) {
        if let Some(img) = self.images.get_mut(p)
            && !img.dirty
        {
            img.dirty = true;
            self.touched.push(p);
        }
    }
}

impl Backend for ZarrBackend {
    fn write(
        &mut self,
        position: PositionIndex,
        index: &StorageIndex,
        frame: &[u8],
        metadata: Option<&FrameMetadata>,
    ) -> Result<(), BackendError> {
        self.write_frame(position, index, Frame::Borrowed(frame), metadata)
    }

    fn write_owned(
        &mut self,
        position: PositionIndex,
        index: &StorageIndex,
        frame: FrameBuffer,
        metadata: Option<&FrameMetadata>,
    ) -> Result<(), BackendError> {
        self.write_frame(position, index, Frame::Owned(Arc::new(frame)), metadata)
    }

    fn set_global_metadata(
        &mut self,
        namespace: &str,
        value: &serde_json::Value,
    ) -> Result<(), BackendError> {
        self.set_global(namespace, value)
    }

    fn reader(&self) -> Option<Arc<dyn PlaneReader>> {
        self.plane_reader()
    }

    fn frames_readable(&self) -> u64 {
        self.readable_prefix()
    }

    fn flush(&mut self) -> Result<(), BackendError> {
        if self.finalized {
            return Ok(());
        }
        self.store.check_root()?;
        // Level planes are in their files before level 0's documents are replaced;
        // the level thread flushes while level 0's open units are checkpointed.
        let begun = self.begin_flush_levels();
        let checkpoint = self.checkpoint_open_units();
        let levels = self.end_flush_levels(begun.is_ok());
        begun.and(levels).and(checkpoint)?;
        self.write_metadata(DatasetStatus::Acquiring.as_str())?;
        // Every frame so far is stored and described (unless an earlier error, already
        // returned, lost one: then this is not a durability point for the count).
        if self.stored.all(self.stored_prefix()) {
            self.stored.durable();
        }
        Ok(())
    }
    /// Apply the partial-acquisition rule and write the final metadata. After any
    /// error (the stream's, `progress.failed`, or one met here, the encoders' included)
    /// everything accepted is still stored where possible and the metadata says
    /// `failed`, each image's `frames_written` counting the stored prefix of frames
    /// (see `stored.rs`); the first error is returned. Nothing is written into a
    /// dataset directory that was replaced.
    fn finalize(&mut self, progress: &Progress) -> Result<Summary, BackendError> {
        if self.finalized {
            return Err(BackendError::Finalized);
        }
        self.finalized = true;
        let mut first: Option<BackendError> = None;
        self.trim_channels(progress.growth_extent);
        keep(&mut first, self.finalize_levels(progress));
        // Final shape: the growth axis trimmed (or grown) to the extent reached.
        let shape = self
            .schema
            .array_shape(self.growth.map(|_| progress.growth_extent));
        // Nothing is written into a dataset directory that was swapped.
        keep(&mut first, self.store.check_root());
        keep(&mut first, self.set_shapes(&shape));
        let replaced = matches!(first, Some(BackendError::Replaced { .. }));
        keep(
            &mut first,
            self.store_open_units(progress.growth_extent, &shape, replaced),
        );
        let (folded, read) = self.fold_journals();
        keep(&mut first, read);
        keep(&mut first, self.drain_encoders());
        keep(&mut first, self.sync_store());
        if self.encoder.as_ref().is_some_and(EncoderPool::lost) {
            self.stored.sync_failed();
        }
        let prefix = self.stored_prefix();
        let status = progress.status(first.is_some() || !self.stored.all(prefix));
        if status == DatasetStatus::Failed {
            let counts = self.stored.per_image(prefix);
            for (img, n) in self.images.iter_mut().zip(counts) {
                img.frames_written = n;
            }
        }
        if !matches!(first, Some(BackendError::Replaced { .. })) {
            // A full disk still takes the final metadata, in the space set aside.
            if self.level == 0 {
                self.store.release_reserve();
            }
            let written = self.put_metadata(status.as_str());
            if written.is_ok() {
                for key in folded {
                    keep(&mut first, self.store.remove_journal(&key));
                }
            }
            keep(&mut first, written);
        }
        if let Some(e) = first {
            return Err(e);
        }
        // Finished: another writer (or `omew repair`) may take the output now.
        drop(std::mem::replace(&mut self.lock, OutputLock::none()));
        let root = match self.schema.target() {
            Target::Disk { path } => vec![path.clone()],
            Target::S3 { url } => vec![std::path::PathBuf::from(url.to_string())],
            Target::Omero { .. } | Target::Memory => vec![],
        };
        Ok(Summary {
            paths: root,
            frames_written: self.images.iter().map(|i| i.frames_written).sum(),
            bytes_received: self.bytes_received,
            shape,
        })
    }
}

/// Keep the first error of several steps.
fn keep(first: &mut Option<BackendError>, result: Result<(), BackendError>) {
    if let Err(e) = result {
        first.get_or_insert(e);
    }
}

impl ZarrBackend {
    /// A trimmed channel axis keeps the display settings of the channels it kept.
    pub(crate) fn trim_channels(&mut self, extent: u64) {
        if let Some(g) = self.growth
            && self
                .schema
                .array_dims()
                .nth(g)
                .is_some_and(|d| d.kind() == ome_writers_schema::DimensionType::Channel)
        {
            let kept = usize::try_from(extent).unwrap_or(usize::MAX);
            for img in &mut self.images {
                if let Some(omero) = img.meta.omero.as_mut() {
                    omero.channels.truncate(kept);
                }
            }
        }
    }

    /// Every array to `shape`; every image's metadata to be rewritten.
    pub(crate) fn set_shapes(&mut self, shape: &[u64]) -> Result<(), BackendError> {
        for p in 0..self.images.len() {
            self.touch(p);
        }
        for img in &mut self.images {
            if img.array.shape() != shape {
                let path = img.array.path().as_str().to_owned();
                img.array
                    .set_shape(shape.to_vec())
                    .map_err(|source| ZarrError::Resize {
                        path,
                        shape: shape.to_vec(),
                        source,
                    })?;
            }
        }
        Ok(())
    }

    /// Read each journal into its image's frame metadata; returns the journals folded
    /// (to remove once the metadata holds them) and the first error. A journal that
    /// cannot be read stays named in the metadata and on disk, for `omew repair`.
    fn fold_journals(&mut self) -> (Vec<String>, Result<(), BackendError>) {
        let mut first = None;
        let mut folded = Vec::new();
        for img in &mut self.images {
            let Some(key) = img.journal.clone() else {
                continue;
            };
            let read = self.store.read_journal(&key).and_then(|text| {
                let mut entries = Vec::new();
                for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                    entries.push(serde_json::from_slice(line)?);
                }
                Ok(entries)
            });
            match read {
                Ok(entries) => {
                    img.frame_metadata.extend(entries);
                    img.journal = None;
                    folded.push(key);
                }
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        (folded, first.map_or(Ok(()), Err))
    }
}

#[cfg(test)]
mod tests {
    use super::encoder_threads;

    #[test]
    fn extra_encoder_threads_are_bounded_in_memory_not_in_cores() {
        let frame = 2048 * 2048 * 2;
        assert_eq!(encoder_threads(2, frame), 6);
        // Many cores: one thread each, and the same 32 MiB of extra output buffers.
        assert_eq!(encoder_threads(64, frame), 68);
        // Small chunks: up to two extra threads per core.
        assert_eq!(encoder_threads(4, 64 << 10), 12);
        // Chunks larger than the extra budget: one thread per core.
        assert_eq!(encoder_threads(8, 64 << 20), 8);
        assert_eq!(encoder_threads(0, 0), 1);
    }
}
