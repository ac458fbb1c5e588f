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

mod backend;
mod check;
mod codecs;
mod encode;
mod error;
mod global;
mod hierarchy;
mod layout;
mod names;
mod ngff;
mod owned;
mod pyramid;
mod read;
mod readable;
mod recover;
#[cfg(feature = "s3")]
mod s3;
mod stage;
mod storage;
mod store;
mod stored;
mod units;

pub use backend::ZarrBackend;
pub use check::{ChunkChecker, ChunkDamage};
pub use codecs::ChunkCodec;
pub use error::ZarrError;
pub use global::set_global_metadata;
pub use names::{
    DAMAGED_SUFFIX, JOURNAL, PARTIAL_SUFFIX, REPAIRED_KEY, RESERVE, TMP_SUFFIX, ZARR_JSON,
    image_groups, is_own_file, is_temporary_name,
};
pub use ome_writers_backend::{EncoderOptions, EncoderPriority};
pub use recover::{
    DamagedChunk, ImageRecovery, MissingChunks, NothingToRepair, OrderOf, RecoverError,
    RecoveryReport, recover, recover_applies,
};
#[cfg(feature = "s3")]
pub use s3::{MIN_PART_SIZE, S3Error, S3Options, S3Store, recover_s3};
pub use storage::ZarrStore;
pub use store::DirStore;

/// The backend's name in errors.
const BACKEND: &str = "zarr";
