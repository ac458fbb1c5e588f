//! The OME-Zarr 0.5 backend, on zarrs.
//!
//! Frames are copied into in-memory buffers of one *write unit* each (a shard when the
//! schema is sharded, else a chunk). A unit is encoded and stored exactly once, when its
//! last plane arrives; at finish, units left incomplete (an early stop, skipped frames)
//! are stored with their missing planes at the fill value. Buffers are pooled and reused.
//!
//! **Invariant:** the backend never reads a chunk or shard back (its stores have no read
//! method for them; the only read is of its own per-frame metadata journal at finish),
//! so there is no read-modify-write; every `zarr.json` is
//! replaced atomically, and only after the chunks it describes are durable.
//!
//! Layouts (REFERENCE.md section 3): one position is a single image at the root; several
//! positions use the bioformats2raw layout (one image group per position, named after
//! it); a plate writes `row/column/field` image groups under plate and well groups.
//!
//! ```
//! use ome_writers_backend::{Backend, Progress};
//! use ome_writers_schema::{PositionIndex, Schema, StorageIndex};
//! use ome_writers_zarr::ZarrBackend;
//!
//! let dir = tempfile::tempdir()?;
//! let root = dir.path().join("a.ome.zarr");
//! let schema = Schema::from_json(&format!(r#"{{"root_path": {:?}, "dtype": "uint8",
//!     "dimensions": [{{"name": "t", "count": 2}}, {{"name": "y", "count": 2}},
//!                    {{"name": "x", "count": 3}}]}}"#, root))?;
//! let mut zarr = ZarrBackend::create(&schema)?;
//! for t in 0..2 {
//!     let idx = StorageIndex::new(&[t]).unwrap();
//!     zarr.write(PositionIndex(0), &idx, &[t as u8; 6], None)?;
//! }
//! let summary = zarr.finalize(&Progress { frames_written: 2, frames_reached: 2,
//!     growth_extent: 2, complete: true, ..Progress::default() })?;
//! assert_eq!(summary.shape, vec![2, 2, 3]);
//! assert!(root.join("0/zarr.json").exists());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod check;
mod encode;
mod layout;
mod names;
mod ngff;
mod owned;
mod recover;
mod store;
mod stored;

use std::collections::HashMap;
use std::sync::Arc;

use ome_writers_backend::{
    Backend, BackendError, DatasetStatus, FrameBuffer, FrameMetadata, OutputLock, Progress,
    Summary, prepare_output,
};
use ome_writers_schema::{Compression, DType, PositionIndex, Schema, StorageIndex, Target};
use zarrs::array::codec::{BloscCodec, ZstdCodec};
use zarrs::array::{Array, ArrayBuilder, BytesToBytesCodecTraits, data_type};
use zarrs::metadata_ext::codec::blosc::{BloscCompressionLevel, BloscCompressor, BloscShuffleMode};
use zarrs::storage::{Bytes, StorageError, StoreKey, WritableStorageTraits};

pub use check::{ChunkChecker, ChunkDamage};
pub use encode::ChunkCodec;
pub use names::{
    DAMAGED_SUFFIX, PARTIAL_SUFFIX, REPAIRED_KEY, RESERVE, TMP_SUFFIX, ZARR_JSON, is_temporary_name,
};
pub use ome_writers_backend::{EncoderOptions, EncoderPriority};
pub use recover::{
    DamagedChunk, ImageRecovery, MissingChunks, NothingToRepair, RecoverError, RecoveryReport,
    recover, recover_applies,
};
pub use store::DirStore;

use crate::encode::{BloscName, EncodeSpec, EncoderPool, FastCodec};
use crate::layout::Layout;
use crate::ngff::{
    Bf2RawRoot, GroupDoc, ImageAttrs, ImageMeta, Named, OmeOnly, PlateDef, PlateMeta, PlateWell,
    RootAttrs, RootWriterAttrs, SeriesMeta, WellDef, WellImage, WellMeta, WriterAttrs,
};
use crate::stored::StoredFrames;

const BACKEND: &str = "zarr";
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
/// Most array axes: 4 index axes + Y + X.
const MAX_AXES: usize = 6;
type UnitKey = [u64; MAX_AXES];

/// A store the zarr backend can write to: write-only zarrs storage plus a durability
/// hook.
pub trait ZarrStore: WritableStorageTraits + Send + Sync {
    /// Make everything written so far durable.
    fn sync(&self) -> Result<(), BackendError>;
    /// The first I/O error seen, with its path, if the store keeps one.
    fn take_error(&self) -> Option<BackendError> {
        None
    }
    /// Store a borrowed value (stores that write files override this to avoid a copy).
    fn set_slice(&self, key: &StoreKey, value: &[u8]) -> Result<(), StorageError> {
        self.set(key, Bytes::copy_from_slice(value))
    }
    /// Store a value given in parts, back to back.
    fn set_parts(&self, key: &StoreKey, parts: &[&[u8]]) -> Result<(), StorageError> {
        self.set(key, Bytes::from(parts.concat()))
    }
    /// [`set_parts`](Self::set_parts) from an encoder thread: stores that write files
    /// may write around the page cache (the value is page-aligned when it can be).
    fn set_parts_direct(&self, key: &StoreKey, parts: &[&[u8]]) -> Result<(), StorageError> {
        self.set_parts(key, parts)
    }
    /// Append to a journal file (per-frame metadata), made durable by [`sync`](Self::sync).
    /// `Ok(false)`: this store keeps no journals (the caller keeps the data in memory).
    fn append(&self, _key: &str, _value: &[u8]) -> Result<bool, BackendError> {
        Ok(false)
    }
    /// Everything appended to a journal so far.
    fn read_journal(&self, _key: &str) -> Result<Vec<u8>, BackendError> {
        Ok(Vec::new())
    }
    /// Remove a journal once its content is in the metadata.
    fn remove_journal(&self, _key: &str) -> Result<(), BackendError> {
        Ok(())
    }
    /// Start a batch of `zarr.json` documents, put into place together by
    /// [`commit_metadata`](Self::commit_metadata) (stores that write files make them
    /// durable with one filesystem sync rather than one per document).
    fn begin_metadata(&self) {}
    /// Make the batch's documents durable and put them into place.
    fn commit_metadata(&self) -> Result<(), BackendError> {
        Ok(())
    }
    /// End the batch without putting its documents into place.
    fn discard_metadata(&self) {}
    /// Fail if the dataset's root directory is no longer the one the store made
    /// (removed, or replaced by another directory).
    fn check_root(&self) -> Result<(), BackendError> {
        Ok(())
    }
    /// Set disk space aside for the final metadata (stores on a disk that can fill).
    fn reserve(&self, _bytes: usize) -> Result<(), BackendError> {
        Ok(())
    }
    /// Free the space set aside.
    fn release_reserve(&self) {}
}

impl ZarrStore for DirStore {
    fn sync(&self) -> Result<(), BackendError> {
        DirStore::sync(self)
    }
    fn take_error(&self) -> Option<BackendError> {
        DirStore::take_error(self)
    }
    fn set_slice(&self, key: &StoreKey, value: &[u8]) -> Result<(), StorageError> {
        DirStore::set_parts(self, key, &[value])
    }
    fn set_parts(&self, key: &StoreKey, parts: &[&[u8]]) -> Result<(), StorageError> {
        DirStore::set_parts(self, key, parts)
    }
    fn set_parts_direct(&self, key: &StoreKey, parts: &[&[u8]]) -> Result<(), StorageError> {
        DirStore::set_parts_direct(self, key, parts)
    }
    fn append(&self, key: &str, value: &[u8]) -> Result<bool, BackendError> {
        DirStore::append(self, key, value).map(|()| true)
    }
    fn read_journal(&self, key: &str) -> Result<Vec<u8>, BackendError> {
        DirStore::read_journal(self, key)
    }
    fn remove_journal(&self, key: &str) -> Result<(), BackendError> {
        DirStore::remove_journal(self, key)
    }
    fn begin_metadata(&self) {
        DirStore::begin_metadata(self);
    }
    fn commit_metadata(&self) -> Result<(), BackendError> {
        DirStore::commit_metadata(self)
    }
    fn discard_metadata(&self) {
        DirStore::discard_metadata(self);
    }
    fn check_root(&self) -> Result<(), BackendError> {
        DirStore::check_root(self)
    }
    fn reserve(&self, bytes: usize) -> Result<(), BackendError> {
        DirStore::reserve(self, bytes)
    }
    fn release_reserve(&self) {
        DirStore::release_reserve(self);
    }
}

/// A frame as the backend receives it.
enum Frame<'a> {
    Borrowed(&'a [u8]),
    Owned(FrameBuffer),
}

impl Frame<'_> {
    fn bytes(&self) -> &[u8] {
        match self {
            Self::Borrowed(b) => b,
            Self::Owned(f) => f.as_bytes(),
        }
    }
}

/// One unit buffer being filled.
struct Unit {
    data: Vec<u8>,
    /// Which planes (index-axis offsets inside the unit, row-major) have been written.
    planes: Vec<bool>,
    filled: u64,
    /// The first frame (arrival order) placed in it since it was last stored.
    pending: Option<u64>,
}

struct Image {
    /// Group path inside the store, `""` for the root.
    group: String,
    meta: ImageMeta,
    array: Array<dyn ZarrStore>,
    open: HashMap<UnitKey, Unit>,
    /// Highest growth-axis index written, plus one.
    growth_reached: u64,
    /// Growth-axis unit index of the last frame written (units before it are closed).
    growth_unit: u64,
    /// Frames written to this image.
    frames_written: u64,
    /// Per-frame metadata kept in memory (stores without journals), or read back from
    /// the journal at finish.
    frame_metadata: Vec<serde_json::Value>,
    /// Frames that came with metadata.
    metadata_count: u64,
    /// The journal holding per-frame metadata during acquisition, once one is used.
    journal: Option<String>,
    /// The group's `zarr.json` is out of date.
    dirty: bool,
    /// The array shape its `zarr.json` on disk holds (`None`: not written yet); the
    /// array document is rewritten only when the shape changes.
    stored_shape: Option<Vec<u64>>,
}

impl Image {
    fn new(
        schema: &Schema,
        store: &Arc<dyn ZarrStore>,
        p: usize,
        group: String,
    ) -> Result<Self, BackendError> {
        let name = schema.positions().get(p).map(|pos| pos.name.clone());
        Ok(Self {
            meta: ngff::image_meta(schema, name),
            array: build_array(schema, store.clone(), &group)?,
            group,
            open: HashMap::new(),
            growth_reached: 0,
            growth_unit: 0,
            frames_written: 0,
            frame_metadata: Vec::new(),
            metadata_count: 0,
            journal: None,
            dirty: true,
            stored_shape: None,
        })
    }
}

/// The encoder threads for units of `unit_bytes`, encoding as `array` does.
fn encoder_pool(
    schema: &Schema,
    array: &Array<dyn ZarrStore>,
    store: &Arc<dyn ZarrStore>,
    unit_bytes: usize,
    encoders: &EncoderOptions,
) -> Result<EncoderPool, BackendError> {
    let ndim = array.dimensionality();
    let shape = array
        .chunk_shape(&vec![0; ndim])
        .map_err(|e| BackendError::Format {
            backend: BACKEND,
            source: Box::new(e),
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
        },
        threads,
        encoders.priority,
    ))
}

/// The OME-Zarr writer for one stream.
pub struct ZarrBackend {
    schema: Schema,
    store: Arc<dyn ZarrStore>,
    images: Vec<Image>,
    /// Write-unit shape, storage order, Y/X included.
    unit: Vec<u64>,
    /// Declared array shape (growth axis: `None` when unbounded).
    declared: Vec<Option<u64>>,
    growth: Option<usize>,
    /// Planes per unit (product of the index-axis unit lengths).
    planes_per_unit: usize,
    unit_bytes: usize,
    /// Chunks are stored as raw bytes (no codec work, no copy).
    raw_chunks: bool,
    /// A unit is exactly one frame (chunk = frame, one plane per chunk).
    frame_units: bool,
    /// Uncompressed shards assembled here: the unit buffer is the shard's data section.
    raw_shards: bool,
    /// The (constant) index of a raw shard, with its crc32c.
    shard_index: Vec<u8>,
    /// Where frame pixels go in unit buffers.
    layout: Layout,
    /// One frame of zeros, for planes never written (allocated on first need).
    zero_frame: Vec<u8>,
    /// Encoder threads for compressed or sharded units.
    encoder: Option<EncoderPool>,
    /// Units whose buffers are free for reuse (no allocation per unit once warm).
    pool: Vec<Unit>,
    settings_json: serde_json::Value,
    /// Which frames are stored (the count a failed acquisition records).
    stored: StoredFrames,
    /// Images whose documents are out of date (`dirty`), each once: a durability
    /// point visits these, not every position.
    touched: Vec<usize>,
    /// Images that may hold open units (a superset; pruned at durability points).
    with_open: std::collections::BTreeSet<usize>,
    bytes_received: u64,
    finalized: bool,
    /// The output's lock, held until finalize (one writer per output).
    lock: OutputLock,
}

impl ZarrBackend {
    /// Create the dataset at the schema's output path (refusing an existing one unless
    /// `overwrite`), with every group and array and their metadata written.
    pub fn create(schema: &Schema) -> Result<Self, BackendError> {
        Self::create_with(schema, &EncoderOptions::default())
    }

    /// [`create`](Self::create), with the encoder threads set by `encoders`.
    pub fn create_with(schema: &Schema, encoders: &EncoderOptions) -> Result<Self, BackendError> {
        let Target::Disk { path } = schema.target() else {
            return Err(BackendError::Unsupported {
                backend: BACKEND,
                reason: "the target is an OMERO address, not a path on disk".to_owned(),
            });
        };
        Self::check(schema)?;
        let prepared = prepare_output(path, &owned::ZarrOwnership, schema.overwrite())?;
        let mut backend =
            Self::create_in_with(schema, Arc::new(DirStore::new(path.clone())), encoders)?;
        backend.lock = prepared.commit();
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
            .map(|(p, group)| Image::new(schema, &store, p, group))
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
        let encoder = match images.first() {
            Some(first) if !raw_chunks && !raw_shards => Some(encoder_pool(
                schema,
                &first.array,
                &store,
                unit_elems as usize * schema.dtype().size(),
                encoders,
            )?),
            _ => None,
        };
        let mut backend = Self {
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
        };
        backend.write_initial()?;
        Ok(backend)
    }

    /// Every group and array document, then the space reserve.
    fn write_initial(&mut self) -> Result<(), BackendError> {
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

    fn store_err(&self, e: impl std::error::Error + Send + Sync + 'static) -> BackendError {
        self.store
            .take_error()
            .unwrap_or_else(|| BackendError::Format {
                backend: BACKEND,
                source: Box::new(e),
            })
    }

    fn put_json(&self, key: &str, value: &impl serde::Serialize) -> Result<(), BackendError> {
        let bytes = serde_json::to_vec_pretty(value)?;
        let key = StoreKey::new(key).map_err(|e| BackendError::Format {
            backend: BACKEND,
            source: Box::new(e),
        })?;
        self.store
            .set(&key, bytes.into())
            .map_err(|e| self.store_err(e))
    }

    fn root_writer_attrs(&self) -> RootWriterAttrs<'_> {
        RootWriterAttrs {
            version: env!("CARGO_PKG_VERSION"),
            settings: &self.settings_json,
        }
    }

    /// Root, series, plate and well groups (everything but the image groups).
    fn write_hierarchy(&self) -> Result<(), BackendError> {
        let version = ngff::NGFF_VERSION;
        if let Some(plate) = self.schema.plate() {
            let mut wells: Vec<(String, String)> = Vec::new();
            let mut fields: HashMap<(String, String), Vec<String>> = HashMap::new();
            for (pos, group) in self.schema.positions().iter().zip(&self.images) {
                let key = (
                    pos.plate_row.clone().unwrap_or_default(),
                    pos.plate_column.clone().unwrap_or_default(),
                );
                let field = group
                    .group
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                if !fields.contains_key(&key) {
                    wells.push(key.clone());
                }
                fields.entry(key).or_default().push(field);
            }
            let def = PlateDef {
                name: plate.name.clone(),
                rows: plate
                    .row_names
                    .iter()
                    .map(|n| Named { name: n.clone() })
                    .collect(),
                columns: plate
                    .column_names
                    .iter()
                    .map(|n| Named { name: n.clone() })
                    .collect(),
                wells: wells
                    .iter()
                    .map(|(r, c)| PlateWell {
                        path: format!("{r}/{c}"),
                        row_index: plate.row_names.iter().position(|x| x == r).unwrap_or(0),
                        column_index: plate.column_names.iter().position(|x| x == c).unwrap_or(0),
                    })
                    .collect(),
                field_count: fields.values().map(Vec::len).max().unwrap_or(0),
            };
            self.put_json(
                "zarr.json",
                &GroupDoc::new(RootAttrs {
                    ome: PlateMeta {
                        version,
                        plate: def,
                    },
                    ome_writers: self.root_writer_attrs(),
                }),
            )?;
            let mut rows_written = std::collections::HashSet::new();
            for (r, c) in &wells {
                let images = fields
                    .get(&(r.clone(), c.clone()))
                    .map(|f| f.iter().map(|p| WellImage { path: p.clone() }).collect())
                    .unwrap_or_default();
                if rows_written.insert(r.as_str()) {
                    self.put_json(
                        &format!("{r}/zarr.json"),
                        &GroupDoc::new(serde_json::Map::new()),
                    )?;
                }
                self.put_json(
                    &format!("{r}/{c}/zarr.json"),
                    &GroupDoc::new(OmeOnly {
                        ome: WellMeta {
                            version,
                            well: WellDef { images },
                        },
                    }),
                )?;
            }
        } else if self.images.len() > 1 {
            self.put_json(
                "zarr.json",
                &GroupDoc::new(RootAttrs {
                    ome: Bf2RawRoot { version, layout: 3 },
                    ome_writers: self.root_writer_attrs(),
                }),
            )?;
            let series: Vec<String> = self.images.iter().map(|i| i.group.clone()).collect();
            self.put_json(
                "OME/zarr.json",
                &GroupDoc::new(OmeOnly {
                    ome: SeriesMeta {
                        version,
                        series: &series,
                    },
                }),
            )?;
        }
        Ok(())
    }

    /// Array and image-group metadata of every dirty image. Chunks first: the encoders
    /// are drained and the store synced before any `zarr.json` that could describe
    /// them is replaced.
    fn write_metadata(&mut self, status: &str) -> Result<(), BackendError> {
        self.drain_encoders()?;
        self.sync_store()?;
        self.put_metadata(status)
    }

    fn drain_encoders(&mut self) -> Result<(), BackendError> {
        match self.encoder.as_mut() {
            Some(enc) => enc.drain(&mut self.pool),
            None => Ok(()),
        }
    }

    fn sync_store(&mut self) -> Result<(), BackendError> {
        let synced = self.store.sync();
        if synced.is_err() {
            self.stored.sync_failed();
        }
        synced
    }

    /// The dirty images' documents, put into place as one batch (one durability step
    /// for all); never into a dataset directory that was replaced.
    fn put_metadata(&mut self, status: &str) -> Result<(), BackendError> {
        self.store.check_root()?;
        self.store.begin_metadata();
        let written = self.put_image_docs(status);
        let committed = match written {
            Ok(()) => self.store.commit_metadata(),
            Err(e) => {
                self.store.discard_metadata();
                Err(e)
            }
        };
        match committed {
            Ok(()) => {
                for p in std::mem::take(&mut self.touched) {
                    if let Some(img) = self.images.get_mut(p) {
                        img.dirty = false;
                        img.stored_shape = Some(img.array.shape().to_vec());
                    }
                }
                Ok(())
            }
            Err(e) => {
                // Nothing of this batch is in place: the arrays are written again.
                for &p in &self.touched {
                    if let Some(img) = self.images.get_mut(p) {
                        img.stored_shape = None;
                    }
                }
                Err(e)
            }
        }
    }

    /// The `zarr.json` documents of every dirty image (the array's only when its shape
    /// changed since it was last stored).
    fn put_image_docs(&self, status: &str) -> Result<(), BackendError> {
        for img in self.touched.iter().filter_map(|&p| self.images.get(p)) {
            if img.stored_shape.as_deref() != Some(img.array.shape()) {
                img.array.store_metadata().map_err(|e| self.store_err(e))?;
            }
            let key = if img.group.is_empty() {
                "zarr.json".to_owned()
            } else {
                format!("{}/zarr.json", img.group)
            };
            let doc = GroupDoc::new(ImageAttrs {
                ome: &img.meta,
                ome_writers: WriterAttrs {
                    version: env!("CARGO_PKG_VERSION"),
                    frames_written: img.frames_written,
                    status,
                    settings: img.group.is_empty().then_some(&self.settings_json),
                    frame_metadata: &img.frame_metadata,
                    frame_metadata_count: img.metadata_count,
                    frame_metadata_journal: img.journal.as_ref().map(|_| JOURNAL),
                },
            });
            self.put_json(&key, &doc)?;
        }
        Ok(())
    }

    fn is_edge(&self, key: &UnitKey) -> bool {
        self.unit
            .iter()
            .enumerate()
            .any(|(k, &u)| self.declared[k].is_some_and(|count| (key[k] + 1) * u > count))
    }

    fn expected_planes(&self, key: &UnitKey, extent: Option<u64>) -> u64 {
        let n_index = self.unit.len() - 2;
        (0..n_index)
            .map(|k| {
                let u = self.unit[k];
                let limit = if Some(k) == self.growth {
                    extent.or(self.declared[k])
                } else {
                    self.declared[k]
                };
                limit.map_or(u, |c| u.min(c.saturating_sub(key[k] * u)))
            })
            .product()
    }

    /// Store (zero-filled where planes are missing) every open unit of image `p` whose
    /// growth-axis unit index is below `unit`.
    fn close_units_before(&mut self, p: usize, g: usize, unit: u64) -> Result<(), BackendError> {
        let mut keys: Vec<UnitKey> = self.images[p]
            .open
            .keys()
            .filter(|k| k[g] < unit)
            .copied()
            .collect();
        keys.sort_unstable();
        for key in keys {
            if let Some(u) = self.images[p].open.remove(&key) {
                self.store_unit(p, key, u)?;
            }
        }
        Ok(())
    }

    /// Store a copy of every open (incomplete) unit, its missing planes at the fill
    /// value, so that a durability point covers every frame written so far. The units
    /// stay open: when complete they are stored again, whole, replacing the copy. This
    /// is the only case of a unit written twice, once per durability point at most.
    fn checkpoint_open_units(&mut self) -> Result<(), BackendError> {
        // Only the images that may hold open units; those that hold none are dropped.
        self.with_open
            .retain(|&p| self.images.get(p).is_some_and(|img| !img.open.is_empty()));
        let with_open: Vec<usize> = self.with_open.iter().copied().collect();
        for p in with_open {
            let mut keys: Vec<UnitKey> = self.images[p].open.keys().copied().collect();
            keys.sort_unstable();
            for key in keys {
                let mut copy = self.take_unit(false);
                if let Some(open) = self.images[p].open.get_mut(&key) {
                    copy.data.copy_from_slice(&open.data);
                    copy.planes.copy_from_slice(&open.planes);
                    copy.filled = open.filled;
                    // Its frames are stored once the copy is.
                    copy.pending = open.pending.take();
                }
                self.store_unit(p, key, copy)?;
            }
        }
        Ok(())
    }

    /// Encode and store one unit, growing the array first if the unit lies past its
    /// current shape (unbounded growth axis).
    fn store_unit(
        &mut self,
        image: usize,
        key: UnitKey,
        mut unit: Unit,
    ) -> Result<(), BackendError> {
        let ndim = self.unit.len();
        // Zero the planes never written (early stop, skipped frames).
        if unit.filled < self.planes_per_unit as u64 {
            if self.raw_shards {
                // Planes are spread over inner chunks: copy a zero frame into each.
                if self.zero_frame.is_empty() {
                    self.zero_frame = vec![0u8; self.schema.frame_bytes()];
                }
                let n = ndim - 2;
                for (p, written) in unit.planes.iter().enumerate() {
                    if !written {
                        let o = self.layout.plane_offsets(p as u64);
                        self.layout
                            .copy(&mut unit.data, &o, key[n], key[n + 1], &self.zero_frame);
                    }
                }
            } else {
                let plane_bytes = self.unit_bytes / self.planes_per_unit;
                for (p, written) in unit.planes.iter().enumerate() {
                    if !written {
                        unit.data[p * plane_bytes..(p + 1) * plane_bytes].fill(0);
                    }
                }
            }
        }
        let pending = unit.pending.take();
        if let Err(e) = self.grow_to(image, &key) {
            self.stored.failed(pending);
            return Err(e);
        }
        let chunk_key = self.images[image].array.chunk_key(&key[..ndim]);
        if let Some(enc) = self.encoder.as_mut() {
            unit.planes.fill(false);
            unit.filled = 0;
            let submitted = enc.submit(chunk_key, unit, pending);
            if submitted.is_err() {
                self.stored.failed(pending);
            }
            return submitted;
        }
        // Uncompressed, unsharded, little-endian (the only case without encoders):
        // the encoded chunk is the buffer itself.
        let result = if self.raw_shards {
            self.store
                .set_parts(&chunk_key, &[&unit.data, &self.shard_index])
        } else {
            self.store.set_slice(&chunk_key, &unit.data)
        };
        self.recycle(unit);
        if result.is_err() {
            self.stored.failed(pending);
        }
        result.map_err(|e| self.store_err(e))
    }

    /// Copy a frame into the unit buffers it overlaps; store each unit it completes.
    fn write_into_units(
        &mut self,
        p: usize,
        key: &UnitKey,
        (plane, seq): (usize, u64),
        frame: &[u8],
    ) -> Result<(), BackendError> {
        let n_index = self.unit.len() - 2;
        let (ny, nx) = self.layout.columns();
        let offsets = self.layout.plane_offsets(plane as u64);
        let layout = self.layout;
        let mut key = *key;
        for by in 0..ny {
            for bx in 0..nx {
                key[n_index] = by;
                key[n_index + 1] = bx;
                if !self.images[p].open.contains_key(&key) {
                    let zero = self.is_edge(&key);
                    let unit = self.take_unit(zero);
                    self.images[p].open.insert(key, unit);
                    self.with_open.insert(p);
                }
                let Some(unit) = self.images[p].open.get_mut(&key) else {
                    continue;
                };
                layout.copy(&mut unit.data, &offsets, by, bx, frame);
                unit.pending.get_or_insert(seq);
                if !unit.planes[plane] {
                    unit.planes[plane] = true;
                    unit.filled += 1;
                }
                let filled = unit.filled;
                if filled >= self.expected_planes(&key, None)
                    && let Some(unit) = self.images[p].open.remove(&key)
                {
                    self.store_unit(p, key, unit)?;
                }
            }
        }
        Ok(())
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
        let p = position.0;
        if p >= self.images.len() || index.len() + 2 != self.unit.len() {
            return Err(BackendError::Unsupported {
                backend: BACKEND,
                reason: format!("no image for position {p} and index {index}"),
            });
        }
        let seq = self.stored.arrive(p);
        let frame_len = frame.bytes().len();
        let placed = self
            .place_frame(p, index.as_slice(), frame, seq)
            .and_then(|()| self.record_frame(p, index.as_slice(), metadata));
        if placed.is_err() {
            // Whatever failed, this frame is not known stored.
            self.stored.failed(Some(seq));
        }
        placed?;
        self.bytes_received += frame_len as u64;
        Ok(())
    }

    /// Put frame `seq` into its unit(s), storing the units it completes.
    fn place_frame(
        &mut self,
        p: usize,
        idx: &[u64],
        frame: Frame<'_>,
        seq: u64,
    ) -> Result<(), BackendError> {
        let mut key: UnitKey = [0; MAX_AXES];
        let mut plane = 0u64;
        for (k, &i) in idx.iter().enumerate() {
            key[k] = i / self.unit[k];
            plane = plane * self.unit[k] + i % self.unit[k];
        }
        let plane = plane as usize;
        if let Some(g) = self.growth {
            let img = &mut self.images[p];
            img.growth_reached = img.growth_reached.max(idx[g] + 1);
            // Within one image the growth coordinate never decreases: once a frame lies
            // in a later growth unit, the units before it can receive nothing more
            // (their missing planes were skipped), so they are stored now rather than
            // held until finish.
            let unit = idx[g] / self.unit[g];
            if unit > img.growth_unit {
                img.growth_unit = unit;
                self.close_units_before(p, g, unit)?;
            }
        }
        match frame {
            // A whole-frame chunk to compress: the encoder threads take the pooled frame
            // buffer itself, no copy.
            Frame::Owned(buf) if self.frame_units && self.encoder.is_some() => {
                self.grow_to(p, &key)?;
                let chunk_key = self.images[p].array.chunk_key(&key[..self.unit.len()]);
                if let Some(enc) = self.encoder.as_mut() {
                    enc.submit_frame(chunk_key, buf, seq)?;
                }
                Ok(())
            }
            frame => {
                if self.frame_units && self.raw_chunks {
                    self.store_frame(p, &key, frame.bytes())
                } else {
                    self.write_into_units(p, &key, (plane, seq), frame.bytes())
                }
            }
        }
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

    /// Grow an unbounded growth axis so that the unit at `key` lies inside the array.
    fn grow_to(&mut self, image: usize, key: &UnitKey) -> Result<(), BackendError> {
        let Some(g) = self.growth else {
            return Ok(());
        };
        if self.declared[g].is_some() {
            return Ok(());
        }
        let img = &mut self.images[image];
        let needed = img.growth_reached.max(key[g] * self.unit[g] + 1);
        if img.array.shape()[g] < needed {
            let mut new_shape = img.array.shape().to_vec();
            new_shape[g] = needed;
            img.array
                .set_shape(new_shape)
                .map_err(|e| BackendError::Format {
                    backend: BACKEND,
                    source: Box::new(e),
                })?;
            self.touch(image);
        }
        Ok(())
    }

    /// Image `p`'s documents are out of date.
    fn touch(&mut self, p: usize) {
        if let Some(img) = self.images.get_mut(p)
            && !img.dirty
        {
            img.dirty = true;
            self.touched.push(p);
        }
    }

    /// A frame that is exactly one raw chunk: stored straight from the caller's
    /// buffer, no copy at all.
    fn store_frame(
        &mut self,
        image: usize,
        key: &UnitKey,
        frame: &[u8],
    ) -> Result<(), BackendError> {
        self.grow_to(image, key)?;
        let chunk_key = self.images[image].array.chunk_key(&key[..self.unit.len()]);
        self.store
            .set_slice(&chunk_key, frame)
            .map_err(|e| self.store_err(e))
    }

    fn recycle(&mut self, mut unit: Unit) {
        unit.planes.fill(false);
        unit.filled = 0;
        unit.pending = None;
        self.pool.push(unit);
    }

    fn take_unit(&mut self, zero: bool) -> Unit {
        if let Some(enc) = self.encoder.as_mut() {
            while let Some(u) = enc.returned() {
                self.pool.push(u);
            }
        }
        match self.pool.pop() {
            Some(mut u) => {
                if zero {
                    u.data.fill(0);
                }
                u.pending = None;
                u
            }
            None => Unit {
                data: vec![0u8; self.unit_bytes],
                planes: vec![false; self.planes_per_unit],
                filled: 0,
                pending: None,
            },
        }
    }
}

/// The index of a raw shard whose every inner chunk is present, at `block_bytes`
/// each, back to back from offset 0: `(offset, nbytes)` as little-endian u64 pairs in
/// C order, then the crc32c of those bytes (the `index_codecs` zarrs writes: bytes
/// little-endian + crc32c; `index_location` end).
fn raw_shard_index(blocks: usize, block_bytes: usize) -> Vec<u8> {
    let mut index = Vec::with_capacity(blocks * 16 + 4);
    for b in 0..blocks {
        index.extend_from_slice(&((b * block_bytes) as u64).to_le_bytes());
        index.extend_from_slice(&(block_bytes as u64).to_le_bytes());
    }
    let crc = crc32c::crc32c(&index);
    index.extend_from_slice(&crc.to_le_bytes());
    index
}

/// Name of the per-frame metadata journal inside an image group (JSON lines, one
/// entry per frame that came with metadata; folded into `zarr.json` at finish).
pub const JOURNAL: &str = "ome_writers_frames.jsonl";

/// Whether a file at `relative_path` inside a dataset (relative to its root) is one
/// this backend writes: a `zarr.json`, a chunk or shard file under an array's `c/`
/// (`…/0/c/<index>/…/<index>`), the per-frame [`JOURNAL`], or a temporary file of its
/// own (`.<name>.partial` for chunks, `.<name>.tmp` for metadata, `.<name>.damaged`
/// for a chunk `omew repair` set aside, the space reserve `.ome_writers.reserve` at
/// the root). `--overwrite` uses it to delete only what
/// this library wrote. Absolute paths and paths with `..` are never ours.
#[must_use]
pub fn is_own_file(relative_path: &std::path::Path) -> bool {
    use std::path::Component;
    let mut names = Vec::new();
    for c in relative_path.components() {
        match c {
            Component::Normal(n) => match n.to_str() {
                Some(n) => names.push(n),
                None => return false,
            },
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    let Some((&file, dirs)) = names.split_last() else {
        return false;
    };
    let chunk_index = |n: &str| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit());
    // Under an array's chunk directory: `0/c/<index>/.../<file>`.
    let in_chunks = dirs.iter().enumerate().any(|(k, &d)| {
        d == "c"
            && k >= 1
            && dirs.get(k - 1) == Some(&"0")
            && dirs
                .get(k + 1..)
                .is_some_and(|rest| rest.iter().all(|n| chunk_index(n)))
    });
    let temporary = |suffix: &str| {
        file.strip_prefix('.')
            .and_then(|n| n.strip_suffix(suffix))
            .filter(|n| !n.is_empty())
    };
    if file == "zarr.json" || file == JOURNAL || temporary(".tmp") == Some("zarr.json") {
        return true;
    }
    if dirs.is_empty() && file == store::RESERVE {
        return true;
    }
    in_chunks
        && (chunk_index(file)
            || temporary(".partial").is_some_and(chunk_index)
            || temporary(".damaged").is_some_and(chunk_index))
}

fn journal_key(group: &str) -> String {
    if group.is_empty() {
        JOURNAL.to_owned()
    } else {
        format!("{group}/{JOURNAL}")
    }
}

/// Image group path of every position, relative to the dataset root (`""`: the root
/// is the image): the names validation checked (one rule, in the schema crate).
#[must_use]
pub fn image_groups(schema: &Schema) -> Vec<String> {
    ome_writers_schema::zarr_image_groups(schema)
}

/// The compression codecs of a schema (checked before anything is written).
fn bytes_codecs(schema: &Schema) -> Result<Vec<Arc<dyn BytesToBytesCodecTraits>>, BackendError> {
    let unsupported = |reason: String| BackendError::Unsupported {
        backend: BACKEND,
        reason,
    };
    let typesize = schema.dtype().size();
    let level = compression_level(schema);
    let blosc = |cname| -> Result<BloscCodec, BackendError> {
        let clevel = u8::try_from(level)
            .ok()
            .and_then(|l| BloscCompressionLevel::try_from(l).ok())
            .ok_or_else(|| {
                unsupported(format!("blosc compression level {level} is outside 0..=9"))
            })?;
        BloscCodec::new(
            cname,
            clevel,
            None,
            BloscShuffleMode::Shuffle,
            Some(typesize),
        )
        .map_err(|e| unsupported(e.to_string()))
    };
    Ok(match schema.compression() {
        Compression::Zstd => vec![Arc::new(ZstdCodec::new(level, false))],
        Compression::BloscZstd => vec![Arc::new(blosc(BloscCompressor::Zstd)?)],
        Compression::BloscLz4 => vec![Arc::new(blosc(BloscCompressor::LZ4)?)],
        _ => Vec::new(),
    })
}

/// The codec the encoder threads run themselves, for unsharded chunks on a
/// little-endian machine (parameters as in [`bytes_codecs`]).
fn fast_codec(schema: &Schema) -> Option<FastCodec> {
    if schema.shard_shape().is_some() || !cfg!(target_endian = "little") {
        return None;
    }
    let level = compression_level(schema);
    let blosc = |compressor| {
        Some(FastCodec::Blosc {
            compressor,
            clevel: u8::try_from(level).ok()?,
            typesize: schema.dtype().size(),
        })
    };
    match schema.compression() {
        Compression::Zstd => Some(FastCodec::Zstd { level }),
        Compression::BloscLz4 => blosc(BloscName::Lz4),
        Compression::BloscZstd => blosc(BloscName::Zstd),
        _ => None,
    }
}

/// The schema's compression level, or the codec's default (zstd 3, blosc-zstd 3,
/// blosc-lz4 5): one place for both the zarrs codecs and the encoders' own.
fn compression_level(schema: &Schema) -> i32 {
    schema
        .compression_level()
        .unwrap_or(match schema.compression() {
            Compression::BloscLz4 => 5,
            _ => 3,
        })
}

fn build_array(
    schema: &Schema,
    store: Arc<dyn ZarrStore>,
    group: &str,
) -> Result<Array<dyn ZarrStore>, BackendError> {
    let fmt_err = |e: Box<dyn std::error::Error + Send + Sync>| BackendError::Format {
        backend: BACKEND,
        source: e,
    };
    let shape = schema.array_shape(None);
    let (outer, inner) = match schema.shard_shape() {
        Some(shard) => (shard, Some(schema.chunk_shape())),
        None => (schema.chunk_shape(), None),
    };
    let mut builder = match schema.dtype() {
        DType::U8 => ArrayBuilder::new(shape, outer, data_type::uint8(), 0u8),
        DType::U16 => ArrayBuilder::new(shape, outer, data_type::uint16(), 0u16),
        DType::U32 => ArrayBuilder::new(shape, outer, data_type::uint32(), 0u32),
        DType::I8 => ArrayBuilder::new(shape, outer, data_type::int8(), 0i8),
        DType::I16 => ArrayBuilder::new(shape, outer, data_type::int16(), 0i16),
        DType::I32 => ArrayBuilder::new(shape, outer, data_type::int32(), 0i32),
        DType::F32 => ArrayBuilder::new(shape, outer, data_type::float32(), 0f32),
        DType::F64 => ArrayBuilder::new(shape, outer, data_type::float64(), 0f64),
    };
    let names: Vec<String> = schema.array_dims().map(|d| d.name().to_owned()).collect();
    builder.dimension_names(Some(names));
    if let Some(inner) = inner {
        builder.subchunk_shape(inner);
    }
    let codecs = bytes_codecs(schema)?;
    if !codecs.is_empty() {
        builder.bytes_to_bytes_codecs(codecs);
    }
    let path = if group.is_empty() {
        "/0".to_owned()
    } else {
        format!("/{group}/0")
    };
    builder
        .build(store, &path)
        .map_err(|e| fmt_err(Box::new(e)))
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
        self.write_frame(position, index, Frame::Owned(frame), metadata)
    }

    fn flush(&mut self) -> Result<(), BackendError> {
        if self.finalized {
            return Ok(());
        }
        self.store.check_root()?;
        self.checkpoint_open_units()?;
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
            self.store.release_reserve();
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
            Target::Omero { .. } => vec![],
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
    fn trim_channels(&mut self, extent: u64) {
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
    fn set_shapes(&mut self, shape: &[u64]) -> Result<(), BackendError> {
        for p in 0..self.images.len() {
            self.touch(p);
        }
        for img in &mut self.images {
            if img.array.shape() != shape {
                img.array
                    .set_shape(shape.to_vec())
                    .map_err(|e| BackendError::Format {
                        backend: BACKEND,
                        source: Box::new(e),
                    })?;
            }
        }
        Ok(())
    }

    /// Store every unit still open, padded with the fill value, if it lies inside the
    /// extent; past an error, the others are still stored (not into a replaced
    /// directory). Returns the first error.
    fn store_open_units(
        &mut self,
        extent: u64,
        shape: &[u64],
        replaced: bool,
    ) -> Result<(), BackendError> {
        let mut first = None;
        for p in 0..self.images.len() {
            let mut keys: Vec<UnitKey> = self.images[p].open.keys().copied().collect();
            keys.sort_unstable();
            for key in keys {
                let Some(unit) = self.images[p].open.remove(&key) else {
                    continue;
                };
                let inside = self.growth.is_none_or(|g| key[g] * self.unit[g] < extent);
                let replaced = replaced || matches!(first, Some(BackendError::Replaced { .. }));
                if inside && !replaced {
                    if let Err(e) = self.store_unit(p, key, unit) {
                        first.get_or_insert(e);
                    }
                } else {
                    if inside {
                        self.stored.failed(unit.pending);
                    }
                    self.recycle(unit);
                }
            }
        }
        // store_unit may have grown the shape past the extent; set it back.
        let reset = self.set_shapes(shape);
        first.map_or(reset, Err)
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

    /// The longest prefix of frames (arrival order) all stored.
    fn stored_prefix(&self) -> u64 {
        let open = self
            .with_open
            .iter()
            .filter_map(|&p| self.images.get(p))
            .flat_map(|img| img.open.values().filter_map(|u| u.pending));
        let encoders = self.encoder.as_ref().and_then(EncoderPool::failed_seq);
        self.stored.prefix(open.chain(encoders))
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
