//! Errors of the TIFF writer itself, reported to the stream wrapped in
//! [`BackendError::Format`](ome_writers_backend::BackendError::Format).

use ome_writers_backend::BackendError;

/// Why the TIFF writer refused a frame or could not encode it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TiffError {
    /// A frame came for a plane that was already written: IFDs are written in order and
    /// never rewritten.
    #[error(
        "position {position}: plane {plane} arrived after plane {written} was written; \
         OME-TIFF planes are written sequentially and cannot be rewritten"
    )]
    OutOfOrder {
        /// Position (file) index.
        position: usize,
        /// The plane the frame belongs to.
        plane: u64,
        /// Planes already written to that file.
        written: u64,
    },
    /// The storage index does not fit the schema.
    #[error("index {index:?} is outside the array (storage extents {extents:?}; 0 = unbounded)")]
    IndexOutOfBounds {
        /// The storage index.
        index: Vec<u64>,
        /// Extents of the storage axes.
        extents: Vec<u64>,
    },
    /// The position index does not name a position of the schema.
    #[error("position {position} does not exist ({count} positions)")]
    NoSuchPosition {
        /// The position asked for.
        position: usize,
        /// Positions of the schema.
        count: usize,
    },
    /// The frame has the wrong number of bytes.
    #[error("frame has {got} bytes, expected {expected}")]
    FrameSize {
        /// Bytes per frame of the schema.
        expected: usize,
        /// Bytes received.
        got: usize,
    },
    /// The single-image [`OmeTiffEncoder`](crate::OmeTiffEncoder) was given a schema
    /// that describes more than one image or more than one file.
    #[error(
        "the OME-TIFF encoder writes one image to one medium; this schema has {positions} \
         position(s) and a {layout} layout (use TiffBackend for several files)"
    )]
    NotSingleImage {
        /// Positions of the schema.
        positions: usize,
        /// The layout the schema asks for (`single-file`, `redundant`, `master-tiff`,
        /// `companion-file`).
        layout: &'static str,
    },
    /// The codec failed.
    #[error("compression failed")]
    Compression(#[source] std::io::Error),
    /// A pyramid level could not be reduced.
    #[error("pyramid reduction failed")]
    Pyramid(#[source] ome_writers_backend::ReduceError),
    /// OME-XML serialization failed.
    #[error("OME-XML serialization failed")]
    Xml(#[from] quick_xml::SeError),
    /// A file of the dataset was unlinked, or another file put at its path, while the
    /// acquisition was writing it: what it held is no longer at its path.
    #[error("{}: was removed or replaced during the acquisition", path.display())]
    Vanished {
        /// The file's path.
        path: std::path::PathBuf,
    },
    /// Global metadata for OME-TIFF must be a JSON object: each top-level key becomes
    /// one `Map` entry.
    #[error(
        "global metadata {namespace:?}: OME-TIFF needs a JSON object (one Map entry per \
         key), got {found}"
    )]
    GlobalNotObject {
        /// The namespace.
        namespace: String,
        /// The JSON type given.
        found: &'static str,
    },
    /// A finished dataset given to [`set_global_metadata`](crate::set_global_metadata)
    /// that this library did not write, or that is not finished.
    #[error("{}: {reason}", path.display())]
    NotFinishedOurs {
        /// The file or folder.
        path: std::path::PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A value does not fit the TIFF or OME-XML field that must hold it.
    #[error("{what} ({value}) does not fit in OME-TIFF")]
    TooLarge {
        /// What overflowed.
        what: &'static str,
        /// The value.
        value: u64,
    },
}

impl From<TiffError> for BackendError {
    fn from(e: TiffError) -> Self {
        BackendError::Format {
            backend: crate::BACKEND,
            source: Box::new(e),
        }
    }
}
