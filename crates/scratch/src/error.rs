//! The scratch backend's errors.

use std::path::PathBuf;

use ome_writers_backend::BackendError;
use ome_writers_schema::DType;

/// What can go wrong creating, writing, reopening or repairing scratch arrays.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScratchError {
    /// The arrays would take more memory than `format.max_memory_bytes` allows, and
    /// there is no `root_path` and no `spill_to_disk`. Nothing was allocated.
    #[error(
        "scratch arrays would need {needed} bytes in memory, over \
         format.max_memory_bytes={max_memory_bytes}; set root_path to keep them on disk, \
         set spill_to_disk, or raise max_memory_bytes"
    )]
    MemoryLimit {
        /// Bytes the arrays need (planes plus 16 bytes of bookkeeping each).
        needed: u128,
        /// The limit.
        max_memory_bytes: u64,
    },
    /// The allocator refused memory for a plane.
    #[error("could not allocate {bytes} bytes for a scratch plane")]
    OutOfMemory {
        /// Bytes asked for.
        bytes: usize,
    },
    /// A file or directory operation failed.
    #[error("{path}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The directory is not a scratch dataset (no readable `manifest.json` naming the
    /// scratch format, or files that disagree with it).
    #[error("{path}: not a scratch dataset: {reason}")]
    NotScratch {
        /// The directory or file.
        path: PathBuf,
        /// What is missing or wrong.
        reason: String,
    },
    /// User frame metadata holds a key the scratch format writes itself.
    #[error(
        "frame metadata key {key:?} is reserved (each frame_metadata.jsonl line starts \
         with _pos and _idx)"
    )]
    ReservedKey {
        /// The key.
        key: String,
    },
    /// A position number past the dataset's positions.
    #[error("position {position} is out of range: the dataset has {positions}")]
    Position {
        /// Asked for.
        position: usize,
        /// Positions in the dataset.
        positions: usize,
    },
    /// A storage index outside the array.
    #[error("storage index {index:?} is outside the arrays (axis lengths {shape:?})")]
    Index {
        /// The index.
        index: Vec<u64>,
        /// The storage-order lengths of the index axes (`None`: unbounded).
        shape: Vec<Option<u64>>,
    },
    /// An array read as another pixel type than it holds.
    #[error("the arrays hold {actual}, not {requested}")]
    DType {
        /// Asked for.
        requested: DType,
        /// Stored.
        actual: DType,
    },
    /// The scratch dataset was finished already (repair leaves it alone).
    #[error("{path}: the dataset is already finished (status {status})")]
    Finished {
        /// The directory.
        path: PathBuf,
        /// Its status.
        status: String,
    },
}

impl ScratchError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn not_scratch(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::NotScratch {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

impl From<ScratchError> for BackendError {
    fn from(e: ScratchError) -> Self {
        match e {
            ScratchError::Io { path, source } => BackendError::Io { path, source },
            other => BackendError::Backend {
                backend: "scratch",
                source: Box::new(other),
            },
        }
    }
}
