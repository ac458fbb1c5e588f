//! Stream errors.

use ome_writers_backend::{BackendError, FrameMetadata};
use ome_writers_schema::{DType, SchemaError, StorageIndex};

/// Errors of creating a stream, appending frames and finishing it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// The settings are invalid.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// The backend could not be created (existing output, unsupported case, I/O).
    #[error("cannot create the output")]
    Create(#[source] BackendError),
    /// The frame's pixel type is not the schema's.
    #[error("frame dtype: expected {expected}, got {got}")]
    FrameDtype {
        /// The schema's dtype.
        expected: DType,
        /// The frame's.
        got: DType,
    },
    /// The frame does not have the schema's size.
    #[error("frame shape: expected {expected_shape:?} ({expected} {unit}), got {got} {unit}")]
    FrameShape {
        /// `[height, width]` of the schema.
        expected_shape: [u64; 2],
        /// Expected pixels or bytes.
        expected: usize,
        /// What was given.
        got: usize,
        /// `"pixels"` or `"bytes"`.
        unit: &'static str,
    },
    /// More frames than the schema declares; nothing of this frame was written.
    #[error("too many frames: frame {frame} is past the end of the acquisition ({total} frames)")]
    TooManyFrames {
        /// The refused frame's number.
        frame: u64,
        /// Frames declared.
        total: u64,
    },
    /// `try_append` found the queue full; the frame was not taken.
    #[error("the frame queue is full")]
    QueueFull,
    /// The backend failed writing a frame.
    #[error("writing frame at position {position}, index {index}")]
    Write {
        /// Position of the failed frame.
        position: usize,
        /// Its storage index.
        index: StorageIndex,
        /// The backend's error.
        #[source]
        source: BackendError,
    },
    /// The backend failed at a durability point.
    #[error("at a durability point")]
    Flush(#[source] BackendError),
    /// The backend failed to finalize.
    #[error("finalizing")]
    Finalize(#[source] BackendError),
    /// The writer thread panicked (a bug in a backend); what it had written was
    /// finalized if possible.
    #[error("the writer thread panicked: {message}")]
    WriterPanicked {
        /// The panic message.
        message: String,
    },
    /// The writer thread ended without a panic and without an error of its own (it
    /// was stopped by an earlier failure); nothing more can be written.
    #[error("the writer thread stopped")]
    WriterStopped,
    /// A call after the writer had already failed (that error was returned by an
    /// earlier call): no further frame is taken; at `finish`, what was written before
    /// the failure was finalized.
    #[error("the stream had failed earlier ({first}); the frames stored before it were finalized")]
    FailedEarlier {
        /// The first error, as it was reported.
        first: EarlierError,
    },
    /// A frame's metadata uses a key the library writes itself; nothing of the frame
    /// was written.
    #[error("frame metadata key {key:?} is reserved (the library writes it); rename it")]
    ReservedMetadataKey {
        /// The key.
        key: String,
    },
    /// A thread the stream needs could not be started (the OS refused: too many
    /// threads, no memory); the backend was finalized as failed, with no frame.
    #[error("cannot start the {thread} thread")]
    Spawn {
        /// The thread's name.
        thread: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A frame's metadata is not a JSON object.
    #[error("frame metadata must be a JSON object, got {got}")]
    Metadata {
        /// What was given.
        got: String,
    },
    /// A global-metadata namespace that is empty, reserved (`ome`, `ome_writers`) or
    /// holds control characters; nothing was written.
    #[error(transparent)]
    GlobalNamespace(ome_writers_backend::UsageError),
    /// Global metadata must be a JSON object; nothing was written.
    #[error("global metadata {namespace:?} must be a JSON object, got {found}")]
    GlobalNotObject {
        /// The namespace.
        namespace: String,
        /// The JSON type given.
        found: &'static str,
    },
    /// The backend (or, after finish, the dataset) could not take the global metadata.
    #[error("setting global metadata {namespace:?}")]
    GlobalMetadata {
        /// The namespace.
        namespace: String,
        /// The backend's error.
        #[source]
        source: BackendError,
    },
}

/// What a stream remembers of an error it has already returned.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EarlierError {
    /// The error and its causes, each said once.
    pub message: String,
    /// Whether its cause was a full disk.
    pub disk_full: bool,
}

impl EarlierError {
    pub(crate) fn of(e: &StreamError) -> Self {
        Self {
            message: ome_writers_backend::error_chain(e),
            disk_full: e.is_disk_full(),
        }
    }
}

impl std::fmt::Display for EarlierError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl StreamError {
    /// Whether the underlying cause is a full disk.
    pub fn is_disk_full(&self) -> bool {
        match self {
            Self::FailedEarlier { first } => first.disk_full,
            Self::Create(e)
            | Self::Flush(e)
            | Self::Finalize(e)
            | Self::Write { source: e, .. } => e.is_disk_full(),
            _ => false,
        }
    }
}

impl From<ome_writers_router::RouteError> for StreamError {
    fn from(e: ome_writers_router::RouteError) -> Self {
        match e {
            ome_writers_router::RouteError::PastEnd { frame, total } => {
                Self::TooManyFrames { frame, total }
            }
            // Future router errors are all "no such frame".
            _ => Self::TooManyFrames { frame: 0, total: 0 },
        }
    }
}

impl From<ome_writers_backend::DtypeMismatch> for StreamError {
    fn from(e: ome_writers_backend::DtypeMismatch) -> Self {
        Self::FrameDtype {
            expected: e.expected,
            got: e.got,
        }
    }
}

/// Per-frame metadata from a JSON value, which must be an object
/// (`frame_metadata(json!({"delta_t": 0.5}))`).
pub fn frame_metadata(value: serde_json::Value) -> Result<FrameMetadata, StreamError> {
    match value {
        serde_json::Value::Object(map) => Ok(map),
        other => Err(StreamError::Metadata {
            got: other.to_string(),
        }),
    }
}
