//! The scratch backend (Python's `ScratchFormat`): one raw array per position, in
//! storage order with Y and X last, for acquisitions that are displayed rather than
//! archived.
//!
//! - No `root_path`: the arrays are in memory (planes allocated as they are written),
//!   if they fit `format.max_memory_bytes`; over it they spill to a temporary
//!   directory (`spill_to_disk`, removed when the arrays are dropped, unless
//!   [`ScratchBackend::keep_spill_dir`]) or creation fails with
//!   [`ScratchError::MemoryLimit`] before anything is allocated.
//! - `root_path`: the directory holds `pos_<i>.dat` (raw, native byte order,
//!   C order, shapes in `manifest.json`), `manifest.json` (Python's keys plus our
//!   record: status, frames) and `frame_metadata.jsonl`. numpy reads an array with
//!   `np.memmap(path, dtype, mode="r", shape=manifest["position_shapes"][i])`.
//!
//! Files are written and read with `pwrite`/`pread`, not memory-mapped: a mapping of a
//! file another process truncates faults, and the output lock is advisory, so a safe
//! mapping could not be proven. There is no `unsafe` code in this crate.
//!
//! **Invariant:** an unbounded axis is the first (validation), so the arrays only grow
//! at their end and no plane ever moves; a file never shrinks while a frame may be
//! written to it; the manifest is replaced atomically, so after a crash [`open`] reads
//! every frame written (the files hold them; the first axis is measured from them).
//!
//! ```
//! use ome_writers_backend::{Backend, Progress};
//! use ome_writers_schema::{PositionIndex, Schema, StorageIndex};
//!
//! let schema = Schema::from_json(r#"{"format": "scratch", "dtype": "uint8",
//!     "dimensions": [{"name": "t", "count": 2}, {"name": "y", "count": 2}, {"name": "x", "count": 3}]}"#)?;
//! let mut backend = ome_writers_scratch::ScratchBackend::create(&schema)?;
//! let t1 = StorageIndex::new(&[1]).unwrap();
//! backend.write(PositionIndex(0), &t1, &[7; 6], None)?;
//! let progress = Progress { frames_written: 1, frames_skipped: 1, frames_reached: 2,
//!     growth_extent: 2, complete: true, failed: false };
//! backend.finalize(&progress)?;
//! let array = backend.arrays().to_ndarray::<u8>(0)?;
//! assert_eq!(array.shape(), &[2, 2, 3]);
//! assert_eq!(array[[1, 1, 2]], 7);
//! assert_eq!(array[[0, 0, 0]], 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod arrays;
mod backend;
mod error;
mod layout;
mod manifest;
mod names;
mod open;
mod repair;

pub use arrays::ScratchArrays;
pub use backend::ScratchBackend;
pub use error::ScratchError;
pub use names::{
    FRAME_METADATA, INDEX_KEY, MANIFEST, POSITION_KEY, RECORD_KEY, is_own_file, position_file,
};
pub use open::{ScratchDataset, open};
pub use repair::{RepairReport, repair};
