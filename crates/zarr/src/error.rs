//! [`ZarrError`]: the zarr backend's own failures (zarrs refusing an array, a key or a
//! value, the encoder threads, the codecs run here). Each reaches callers as the
//! source of a [`BackendError::Format`], to downcast; I/O errors of the directory
//! store stay [`BackendError::Io`] with their path (so `is_disk_full` sees them).

use ome_writers_backend::BackendError;
use zarrs::array::{ArrayCreateError, ArrayError, CodecError};
use zarrs::storage::{StorageError, StoreKeyError};

use crate::BACKEND;

/// A failure of the zarr backend that is not an I/O error with a path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ZarrError {
    /// zarrs refused to create an image's array.
    #[error("creating the array {path}")]
    CreateArray {
        /// The array's path in the store.
        path: String,
        /// zarrs' error.
        #[source]
        source: ArrayCreateError,
    },
    /// A `zarr.json` does not describe an array zarrs can open.
    #[error("opening an array from its metadata")]
    OpenArray {
        /// zarrs' error.
        #[source]
        source: ArrayCreateError,
    },
    /// zarrs refused to change an array's shape.
    #[error("resizing the array {path} to {shape:?}")]
    Resize {
        /// The array's path in the store.
        path: String,
        /// The shape asked for.
        shape: Vec<u64>,
        /// zarrs' error.
        #[source]
        source: ArrayCreateError,
    },
    /// The array's chunk grid gave no shape for its first chunk.
    #[error("the chunk shape of the array {path}")]
    ChunkShape {
        /// The array's path in the store.
        path: String,
        /// zarrs' error.
        #[source]
        source: ArrayError,
    },
    /// A name the backend made is not a valid store key.
    #[error("{key:?} is not a store key")]
    StoreKey {
        /// The name.
        key: String,
        /// zarrs' error.
        #[source]
        source: StoreKeyError,
    },
    /// The store refused a value and kept no I/O error of its own.
    #[error("storing {key}")]
    Store {
        /// The value's key.
        key: String,
        /// The store's error.
        #[source]
        source: StorageError,
    },
    /// zarrs' codec chain could not encode a unit.
    #[error("encoding the chunk {key}")]
    Encode {
        /// The chunk's key.
        key: String,
        /// zarrs' error.
        #[source]
        source: CodecError,
    },
    /// No zstd compression context could be made at this level.
    #[error("no zstd compression context at level {level}")]
    ZstdContext {
        /// The compression level.
        level: i32,
    },
    /// zstd could not compress a chunk.
    #[error("zstd compression")]
    Zstd {
        /// zstd's error.
        #[source]
        source: std::io::Error,
    },
    /// blosc could not compress a chunk.
    #[error(
        "blosc_compress_ctx({compressor}, clevel {clevel}, typesize {typesize}, {bytes} bytes) \
         failed ({code})"
    )]
    Blosc {
        /// The blosc compressor.
        compressor: &'static str,
        /// The compression level.
        clevel: u8,
        /// The element size given to the shuffle.
        typesize: usize,
        /// The chunk's size.
        bytes: usize,
        /// blosc's return code.
        code: i32,
    },
    /// Every encoder thread ended while units were still to encode.
    #[error("the encoder threads stopped")]
    EncodersStopped,
    /// An encoder thread panicked (its unit was not stored).
    #[error("an encoder thread panicked")]
    EncoderPanicked,
    /// A finished dataset given to [`set_global_metadata`](crate::set_global_metadata)
    /// that this library did not write (or whose root document cannot be read).
    #[error("{}: not an OME-Zarr dataset written by ome-writers: {reason}", path.display())]
    NotOurDataset {
        /// The root `zarr.json`.
        path: std::path::PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A pyramid level could not be derived or computed.
    #[error("pyramid level {level}")]
    Pyramid {
        /// The level (1 or more).
        level: u32,
        /// What failed: the level's settings, or the reduction.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A live view could not read a plane back (a unit file or its decoding).
    #[error("reading back {key}")]
    Read {
        /// The unit's key, or the array and the plane's storage index.
        key: String,
        /// zarrs' (or the file's) error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl From<ZarrError> for BackendError {
    fn from(e: ZarrError) -> Self {
        BackendError::Format {
            backend: BACKEND,
            source: Box::new(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use ome_writers_backend::{BackendError, error_chain};
    use zarrs::storage::StorageError;

    use super::ZarrError;

    /// Each error reaches callers as the typed source of a `Format` error, and its
    /// whole chain says each cause once.
    #[test]
    fn zarr_errors_are_typed_sources_said_once() {
        let check = |e: ZarrError, chain: &str| {
            let e = BackendError::from(e);
            let source = std::error::Error::source(&e).and_then(|s| s.downcast_ref::<ZarrError>());
            assert!(source.is_some(), "{e:?}");
            assert_eq!(error_chain(&e), chain);
        };
        check(
            ZarrError::ZstdContext { level: 30 },
            "zarr: no zstd compression context at level 30",
        );
        check(
            ZarrError::EncodersStopped,
            "zarr: the encoder threads stopped",
        );
        check(
            ZarrError::Store {
                key: "0/c/0".to_owned(),
                source: StorageError::Unsupported("read-only".to_owned()),
            },
            "zarr: storing 0/c/0: read-only",
        );
        check(
            ZarrError::Blosc {
                compressor: "lz4",
                clevel: 5,
                typesize: 2,
                bytes: 8,
                code: -1,
            },
            "zarr: blosc_compress_ctx(lz4, clevel 5, typesize 2, 8 bytes) failed (-1)",
        );
    }
}
