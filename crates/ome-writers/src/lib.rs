//! Stream microscope camera frames into OME-Zarr 0.5 and OME-TIFF.
//!
//! Declare the acquisition once ([`Schema`]: built in Rust with
//! [`AcquisitionSettings::builder`], or read from the same settings JSON the Python
//! ome-writers reads with [`Schema::from_json`]), then append frames in acquisition
//! order. The camera thread
//! only copies each frame into a pooled buffer and hands it through a bounded channel
//! to a writer thread; it waits on the disk only when the queue (bounded in bytes) is
//! full.
//!
//! **Invariant:** the frame shape, dtype and count are checked before a frame is
//! queued, so a bad frame is refused with an error and never reaches the dataset; a
//! stream that is dropped, or whose writer fails, still finalizes what it wrote.
//!
//! ```
//! use ome_writers::{AcquisitionSettings, DType, Dimension, create_stream};
//!
//! let dir = tempfile::tempdir()?;
//! let root = dir.path().join("run.ome.zarr");
//! let schema = AcquisitionSettings::builder(root.to_string_lossy(), DType::U16)
//!     .dimension(Dimension::time(3))
//!     .dimension(Dimension::channel_count(2))
//!     .dimension(Dimension::y(64))
//!     .dimension(Dimension::x(64))
//!     .build()?;
//! let mut stream = create_stream(&schema)?;
//! let frame = vec![7u16; 64 * 64];
//! for _ in 0..6 {
//!     stream.append(&frame)?;
//! }
//! let summary = stream.finish()?;
//! assert_eq!(summary.frames_written, 6);
//! assert_eq!(summary.shape, vec![3, 2, 64, 64]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Crate features
//! - `zarr` (default): the OME-Zarr 0.5 backend.
//! - `tiff` (default): the OME-TIFF backend.
//! - `omero-local` (default): the omero_local backend (stage beside an OMERO server,
//!   register in place).
//! - `scratch` (default): the scratch backend (Python's `ScratchFormat`: raw arrays
//!   in memory or in a directory), and [`scratch::open`] to read a scratch directory.

mod error;
mod events;
mod factory;
mod global;
mod grid;
mod live;
mod options;
mod pool;
mod select;
mod stream;
mod synthetic;
mod view;
mod writer;

pub use error::{EarlierError, StreamError, frame_metadata};
pub use events::{CoordEvent, CoordUpdate, EVENT_QUEUE, EventWaiter};
pub use factory::{create_backend, create_backend_with};
pub use global::set_global_metadata;
pub use grid::{CoordLabel, Coords};
pub use ome_writers_backend::{
    Backend, BackendError, BufferHome, Checked, DatasetStatus, EncoderOptions, EncoderPriority,
    FrameBuffer, FrameMetadata, PlaneReader, Progress, Summary, UsageError, error_chain,
};
pub use ome_writers_schema::{
    AcquisitionSettings, BackendKind, Channel, Compression, DType, Dimension, Pixel, Plate,
    Position, PositionIndex, S3Url, Schema, SchemaError, SettingsBuilder, StorageIndex, Target,
};
/// Encode one OME-TIFF image into any medium (a file, memory): the writer behind the
/// tiff backend.
#[cfg(feature = "tiff")]
pub use ome_writers_tiff::{OmeTiffEncoder, TiffSink};
#[cfg(feature = "s3")]
pub use ome_writers_zarr::{S3Error, S3Options};
pub use options::{MAX_QUEUED_FRAMES, StreamOptions, StreamSummary};
pub use select::Sel;
pub use stream::{Stream, create_stream, create_stream_with, create_stream_with_backend};
pub use view::{StreamView, ViewError};
/// Finish an OME-Zarr dataset left by a killed or failed writer from what is on disk
/// (`omew repair`), the frames counted in the acquisition order the router gives.
///
/// # Errors
/// See [`ome_writers_zarr::recover`].
#[cfg(feature = "zarr")]
pub fn recover_zarr(
    path: &std::path::Path,
) -> Result<ome_writers_zarr::RecoveryReport, ome_writers_zarr::RecoverError> {
    ome_writers_zarr::recover(path, &|schema| {
        Box::new(ome_writers_router::FrameRouter::new(schema))
    })
}

/// [`recover_zarr`] of an OME-Zarr dataset at an `s3://` address
/// ([`ome_writers_zarr::recover_s3`]: recovered in a local copy, the changes uploaded,
/// documents last).
///
/// # Errors
/// The store's errors (naming the key), or the recovery's.
#[cfg(feature = "s3")]
pub fn recover_zarr_s3(
    url: &ome_writers_schema::S3Url,
    options: &ome_writers_zarr::S3Options,
) -> Result<ome_writers_zarr::RecoveryReport, BackendError> {
    ome_writers_zarr::recover_s3(url, options, &|schema| {
        Box::new(ome_writers_router::FrameRouter::new(schema))
    })
}

/// The scratch format: reopen a scratch directory (after finish or a crash) and its
/// types.
#[cfg(feature = "scratch")]
pub mod scratch {
    pub use ome_writers_scratch::{
        FRAME_METADATA, MANIFEST, RepairReport, ScratchArrays, ScratchDataset, ScratchError, open,
        repair,
    };
}

pub use synthetic::{frame_pool_u16, pattern_frame, pattern_value, realistic_frame};
