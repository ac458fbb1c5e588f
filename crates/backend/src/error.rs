//! Backend errors.

use std::path::PathBuf;

/// Errors of creating, writing or finishing a backend.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// The output exists and `overwrite` is false.
    #[error("{path}: the output already exists (set overwrite to replace it)")]
    Exists {
        /// The existing output.
        path: PathBuf,
    },
    /// `overwrite` was asked for, but the existing path is not a dataset this backend
    /// wrote, so it is left alone.
    #[error("{path}: refusing to overwrite: {reason}")]
    RefuseOverwrite {
        /// The existing path.
        path: PathBuf,
        /// Why it does not look like our dataset.
        reason: String,
    },
    /// Another process (a writer, or `omew repair`) holds the output's lock.
    #[error("{path}: another writer is using this output ({holder}); one writer per output")]
    Locked {
        /// The output.
        path: PathBuf,
        /// What the lock file says of its holder (`pid N`).
        holder: String,
    },
    /// A filesystem operation failed.
    #[error("{path}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The backend cannot write this schema; refused before anything was written.
    #[error("the {backend} backend cannot write this acquisition: {reason}")]
    Unsupported {
        /// Backend name.
        backend: &'static str,
        /// What it cannot do.
        reason: String,
    },
    /// The backend is not built into this program or not implemented yet.
    #[error("the {backend} backend is not available: {reason}")]
    NotAvailable {
        /// Backend name.
        backend: &'static str,
        /// Why.
        reason: String,
    },
    /// The format library reported an error.
    #[error("{backend}")]
    Format {
        /// Backend name.
        backend: &'static str,
        /// The library's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A backend-specific error (configuration, registration, ...), kept typed: downcast
    /// `source` to the backend's own error type.
    #[error("{backend}")]
    Backend {
        /// Backend name.
        backend: &'static str,
        /// The backend's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Metadata could not be serialized (e.g. frame metadata holding NaN keys).
    #[error("metadata")]
    Metadata(#[from] serde_json::Error),
    /// A call that breaks the backend contract (checked by [`Checked`](crate::Checked));
    /// nothing was written for it.
    #[error("backend contract broken")]
    Usage(#[from] crate::UsageError),
    /// The dataset directory was removed, or replaced by another directory, while the
    /// acquisition was writing into it: nothing more is written there, and the
    /// directory now at `path` is never described as this acquisition.
    #[error("{path}: the dataset directory was {how} during the acquisition")]
    Replaced {
        /// The dataset root.
        path: PathBuf,
        /// `"removed"` or `"replaced by another directory"`.
        how: &'static str,
    },
    /// The backend was already finalized.
    #[error("the backend was already finalized")]
    Finalized,
}

impl BackendError {
    /// Wrap an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// Whether this is the disk running out of space (or quota).
    pub fn is_disk_full(&self) -> bool {
        match self {
            Self::Io { source, .. } => {
                matches!(
                    source.kind(),
                    std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
                )
            }
            _ => false,
        }
    }
}

/// An error and its sources, each said once: `outer: inner: root cause` (what
/// `anyhow`'s `{:#}` prints). Error messages in this workspace never repeat their
/// source, so this is how to show one whole in a single line.
#[must_use]
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}
