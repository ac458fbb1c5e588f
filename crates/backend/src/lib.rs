//! The contract between the stream and the storage backends.
//!
//! A backend receives frames already routed: a position index and a storage-order
//! [`StorageIndex`]. It never sees acquisition order (this crate does not depend on the
//! router). It writes as frames arrive, makes what it has written durable at
//! [`Backend::flush`], and applies the project's one partial-acquisition rule at
//! [`Backend::finalize`].
//!
//! **Invariant:** every backend refuses at creation what it cannot write (a
//! [`BackendError::Unsupported`]), so a stream never produces a half-written dataset
//! for a case the backend does not handle; and every backend's output, after `flush` or
//! `finalize`, is readable by the ordinary readers.
//!
//! ```
//! use ome_writers_backend::{Backend, BackendError, FrameMetadata, Progress, Summary};
//! use ome_writers_schema::{PositionIndex, StorageIndex};
//!
//! /// A backend that only counts frames.
//! struct Counter(u64);
//!
//! impl Backend for Counter {
//!     fn write(&mut self, _: PositionIndex, _: &StorageIndex, _: &[u8], _: Option<&FrameMetadata>)
//!         -> Result<(), BackendError> { self.0 += 1; Ok(()) }
//!     fn flush(&mut self) -> Result<(), BackendError> { Ok(()) }
//!     fn finalize(&mut self, progress: &Progress) -> Result<Summary, BackendError> {
//!         Ok(Summary { frames_written: self.0, ..Summary::default() })
//!     }
//! }
//! let mut c = Counter(0);
//! c.write(PositionIndex(0), &StorageIndex::default(), &[0; 4], None)?;
//! assert_eq!(c.finalize(&Progress::default())?.frames_written, 1);
//! # Ok::<(), BackendError>(())
//! ```

mod aligned;
mod buffer;
mod checked;
mod direct;
mod error;
mod fsutil;
mod global;
mod output;
mod readdir;
mod reader;
mod reduce;

use std::path::PathBuf;
use std::sync::Arc;

use ome_writers_schema::{PositionIndex, StorageIndex};

pub use aligned::{ALIGN, AlignedBuf, is_aligned};
pub use buffer::{BufferHome, DtypeMismatch, FrameBuffer};
pub use checked::{Checked, UsageError};
pub use direct::{Direct, create_direct};
pub use error::{BackendError, error_chain};
pub use fsutil::{start_writeback, sync_dir, write_atomic};
pub use global::{GlobalMetadata, RESERVED_NAMESPACES, check_namespace};
pub use output::{
    LOCK_SUFFIX, OutputLock, Ownership, PreparedOutput, REPLACED_SUFFIX, lock_output,
    prepare_output,
};
pub use readdir::ReadDir;
pub use reader::PlaneReader;
pub use reduce::{ReduceError, Sample, reduce_plane, reduce_typed, reduced};

/// How a backend that compresses (zarr today) spreads the encoding over threads.
///
/// The defaults fit an acquisition machine whose cores are there for the writer when
/// the application does not need them. An application with CPU-heavy work of its own
/// (live processing, display) can cap the encoder threads, or give them normal
/// priority so that its own busy threads cannot starve them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EncoderOptions {
    /// Encoder threads. `None`: one per core, plus up to two per core more (bounded
    /// to 32 MiB of extra output buffers) that keep the cores compressing while other
    /// encoders wait for the disk.
    pub threads: Option<std::num::NonZeroUsize>,
    /// Scheduling priority of the encoder threads.
    pub priority: EncoderPriority,
}

impl EncoderOptions {
    /// [`threads`](Self::threads).
    #[must_use]
    pub fn with_threads(mut self, threads: Option<std::num::NonZeroUsize>) -> Self {
        self.threads = threads;
        self
    }
    /// [`priority`](Self::priority).
    #[must_use]
    pub fn with_priority(mut self, priority: EncoderPriority) -> Self {
        self.priority = priority;
        self
    }
}

/// Scheduling priority of encoder threads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EncoderPriority {
    /// Linux `SCHED_IDLE` (nice +10 where refused): encoders use only the CPU the
    /// application's threads leave, so the thread appending frames gets a core the
    /// moment it wants one. A busy application thread that never sleeps delays the
    /// encoders until the queue fills and `append` waits.
    #[default]
    Background,
    /// The scheduler's normal priority: encoders share the cores fairly with the
    /// application's threads.
    Normal,
}

/// Per-frame metadata: any JSON object (`delta_t`, `exposure_time`, stage positions, ...).
pub type FrameMetadata = serde_json::Map<String, serde_json::Value>;

/// Per-frame metadata keys the backends add themselves (zarr: each entry's
/// `storage_index`); the stream refuses them in a user's metadata rather than
/// overwrite them.
pub const RESERVED_FRAME_KEYS: &[&str] = &["storage_index"];

/// What the stream knows when it finishes, for the partial-acquisition rule.
///
/// The rule: the growth axis ([`Schema::growth_axis`](ome_writers_schema::Schema::growth_axis))
/// keeps `growth_extent` elements (highest index reached + 1); every other axis is
/// complete; planes never written inside that shape read as the fill value (0).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Frames handed to the backend.
    pub frames_written: u64,
    /// Frames skipped (never written; fill value).
    pub frames_skipped: u64,
    /// Frames reached: written + skipped.
    pub frames_reached: u64,
    /// Extent of the growth axis after trimming.
    pub growth_extent: u64,
    /// Whether every declared frame was reached (always false when unbounded).
    /// Never true together with `failed`.
    pub complete: bool,
    /// The stream met an error (a write, a durability point, a writer panic): frames
    /// after it were not handed over. The backend records
    /// [`DatasetStatus::Failed`] and counts in its summary only the frames it stored.
    pub failed: bool,
}

impl Progress {
    /// The status a backend records at finalize: `failed` after any error (the
    /// stream's, or the backend's own, passed as `backend_failed`), `complete` when
    /// every declared frame was reached, else `partial`.
    #[must_use]
    pub fn status(&self, backend_failed: bool) -> DatasetStatus {
        if self.failed || backend_failed {
            DatasetStatus::Failed
        } else if self.complete {
            DatasetStatus::Complete
        } else {
            DatasetStatus::Partial
        }
    }
}

/// The state a dataset's metadata records, the same words in every format (zarr
/// `ome_writers.status`, the TIFF acquisition record, the OMERO provenance).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DatasetStatus {
    /// The writer is running (or was killed: `omew repair` finishes it).
    Acquiring,
    /// Every declared frame was reached and stored.
    Complete,
    /// Stopped early without error; the partial-acquisition rule applies.
    Partial,
    /// A write failed: only the frames the metadata counts are stored.
    Failed,
}

impl DatasetStatus {
    /// The word written on disk.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Acquiring => "acquiring",
            Self::Complete => "complete",
            Self::Partial => "partial",
            Self::Failed => "failed",
        }
    }

    /// Parse the word written on disk.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Acquiring, Self::Complete, Self::Partial, Self::Failed]
            .into_iter()
            .find(|st| st.as_str() == s)
    }
}

impl std::fmt::Display for DatasetStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a finished backend reports.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    /// Files or directories written, one per image or the dataset root.
    pub paths: Vec<PathBuf>,
    /// Frames written.
    pub frames_written: u64,
    /// Pixel bytes received.
    pub bytes_received: u64,
    /// Final storage-order shape of each position's array (Y, X included).
    pub shape: Vec<u64>,
}

/// A storage backend: the format-specific writer behind a stream.
///
/// Calls arrive on one writer thread, in acquisition order. `frame` holds exactly one
/// frame of the schema's dtype, row-major, native byte order (the stream checks its
/// length before it gets here).
pub trait Backend: Send {
    /// Write one frame at `(position, index)`.
    fn write(
        &mut self,
        position: PositionIndex,
        index: &StorageIndex,
        frame: &[u8],
        metadata: Option<&FrameMetadata>,
    ) -> Result<(), BackendError>;

    /// Write one frame given as a pooled buffer the backend may keep (for example to
    /// compress it on another thread); dropping it returns it to the stream's pool. The
    /// default borrows it for [`write`](Self::write).
    fn write_owned(
        &mut self,
        position: PositionIndex,
        index: &StorageIndex,
        frame: FrameBuffer,
        metadata: Option<&FrameMetadata>,
    ) -> Result<(), BackendError> {
        self.write(position, index, frame.as_bytes(), metadata)
    }

    /// A durability point: after it returns, every frame written so far reads back
    /// with valid metadata after a crash.
    fn flush(&mut self) -> Result<(), BackendError>;

    /// Apply the partial-acquisition rule, write the final metadata and make it all
    /// durable. Called once; later calls may return an error.
    fn finalize(&mut self, progress: &Progress) -> Result<Summary, BackendError>;

    /// A reader of what this backend has stored, for live views: usable from any
    /// thread while the backend writes, and after finalize. `None` (the default):
    /// the backend cannot read back, so a view keeps every frame it shows in memory.
    fn reader(&self) -> Option<Arc<dyn PlaneReader>> {
        None
    }

    /// How many of the frames handed over (in arrival order, from the first) the
    /// [`reader`](Self::reader) can read now: a prefix, never decreasing. A view keeps
    /// the frames after it in memory. The default (no reader) is 0.
    fn frames_readable(&self) -> u64 {
        0
    }

    /// Set (or replace) acquisition-level metadata under `namespace` (already checked
    /// with [`check_namespace`]): zarr root attributes, a TIFF MapAnnotation. Durable
    /// at the next durability point or finalize. The default refuses.
    fn set_global_metadata(
        &mut self,
        namespace: &str,
        value: &serde_json::Value,
    ) -> Result<(), BackendError> {
        let _ = (namespace, value);
        Err(BackendError::Unsupported {
            backend: "this",
            reason: "global metadata is not supported by this backend".to_owned(),
        })
    }
}
