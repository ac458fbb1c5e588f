//! [`RecoverError`]: why [`crate::recover`] could not finish a dataset.

use std::path::PathBuf;

use ome_writers_backend::BackendError;
use ome_writers_schema::SchemaError;

/// Why [`crate::recover`] could not finish a dataset. Each names the file or directory
/// concerned; an upstream cause is the [`source`](std::error::Error::source), never
/// repeated in the message.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RecoverError {
    /// A file or directory could not be inspected, listed, read, written or removed.
    #[error("{action}{}", path.display())]
    Io {
        /// What was being done (`"reading "`, `"listing "`, ...; empty for a lookup).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Something that is not a regular file (a FIFO, a device, a symbolic link, a
    /// directory) where a file is expected; refused without opening it.
    #[error("{}: a {kind} where {expected} is expected; refusing to read it", path.display())]
    NotARegularFile {
        /// The entry.
        path: PathBuf,
        /// What it is (`"FIFO"`, `"symbolic link"`, ...).
        kind: &'static str,
        /// What was expected there (`"a zarr.json document"`, `"a chunk file"`, ...).
        expected: &'static str,
    },
    /// A `zarr.json` larger than any this library writes.
    #[error("{}: {len} bytes is not a zarr.json we wrote", path.display())]
    TooLarge {
        /// The document.
        path: PathBuf,
        /// Its size in bytes.
        len: u64,
    },
    /// The pyramid levels could not be rebuilt from level 0.
    #[error("{}: rebuilding the pyramid levels", path.display())]
    Levels {
        /// The dataset.
        path: PathBuf,
        /// What failed (reading level 0, reducing, writing a level).
        #[source]
        source: Box<BackendError>,
    },
    /// A `zarr.json` that is not JSON.
    #[error("{} is not valid JSON", path.display())]
    Json {
        /// The document.
        path: PathBuf,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
    /// A metadata field that does not hold what it must.
    #[error("{}: {what}", path.display())]
    Metadata {
        /// The document (or the image group).
        path: PathBuf,
        /// What is wrong, with the value found.
        what: String,
    },
    /// No image group written by this library under the root.
    #[error(
        "{}: no image group written by ome-writers (attributes.ome_writers) found",
        path.display()
    )]
    NoImage {
        /// The dataset root.
        path: PathBuf,
    },
    /// Neither the root group nor the first image group records the settings.
    #[error(
        "{}: no recorded settings (attributes.ome_writers.settings of the root group or of {})",
        path.display(),
        image.display()
    )]
    NoSettings {
        /// The dataset root.
        path: PathBuf,
        /// The first image group.
        image: PathBuf,
    },
    /// The recorded settings do not parse, or are not valid.
    #[error("{}: the recorded settings (attributes.ome_writers.settings) {problem}", path.display())]
    Settings {
        /// The dataset root.
        path: PathBuf,
        /// `"do not parse"` or `"are not valid"`.
        problem: &'static str,
        /// The schema's error.
        #[source]
        source: SchemaError,
    },
    /// An array's metadata does not describe an array that can be read.
    #[error(
        "{}: the array metadata (zarr.json) does not describe a readable array",
        path.display()
    )]
    Array {
        /// The array's `zarr.json`.
        path: PathBuf,
        /// Why.
        #[source]
        source: BackendError,
    },
}

impl RecoverError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io {
            action,
            path,
            source,
        }
    }

    pub(crate) fn metadata(path: impl Into<PathBuf>, what: impl Into<String>) -> Self {
        Self::Metadata {
            path: path.into(),
            what: what.into(),
        }
    }
}
