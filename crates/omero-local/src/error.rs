//! The crate's one error type.

use std::path::PathBuf;

use ome_writers_backend::BackendError;
use ome_writers_schema::OmeroAddress;

use crate::romio::Sizes;

/// Errors of configuring, writing, registering and reading through a local OMERO
/// repository.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OmeroLocalError {
    /// A configuration field is missing or wrong.
    #[error("omero_local format.{field} = {value:?}: {reason}")]
    Config {
        /// The field of the `omero_local` format object (or option).
        field: &'static str,
        /// Its value.
        value: String,
        /// The rule it breaks.
        reason: String,
    },
    /// `data_dir` does not look like an OMERO binary repository (`omero.data.dir`).
    #[error("{path}: not an OMERO data directory: {reason}")]
    NotDataDir {
        /// The directory given.
        path: PathBuf,
        /// What is missing.
        reason: String,
    },
    /// The staging directory cannot be used.
    #[error("staging directory {path}: {reason}")]
    Staging {
        /// The directory given.
        path: PathBuf,
        /// Why it cannot be used.
        reason: String,
    },
    /// The OMERO target cannot receive this acquisition.
    #[error("{target}: {reason}")]
    Target {
        /// The target address.
        target: OmeroAddress,
        /// Why.
        reason: String,
    },
    /// Something this backend or reader does not do (refused before anything is written).
    #[error("omero_local cannot {what}: {reason}")]
    Unsupported {
        /// What was asked.
        what: String,
        /// Why not, and what to do instead.
        reason: String,
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
    /// A FIFO, device or directory where a file is expected (refused before reading, so
    /// it cannot block or never end).
    #[error("{path}: expected a regular file, found {found}")]
    NotRegularFile {
        /// The path.
        path: PathBuf,
        /// What is there: `a FIFO`, `a directory`, `a character device`, ...
        found: &'static str,
    },
    /// A metadata file larger than this reader accepts.
    #[error("{path}: {size} bytes, more than the limit of {limit} bytes for a metadata file")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// A ROMIO pixel file's length disagrees with the pixels' dimensions.
    #[error(
        "{path}: a ROMIO pixel file of {sizes} {pixel_type} holds {expected} bytes, \
         this one has {actual}"
    )]
    RomioSize {
        /// The pixel file.
        path: PathBuf,
        /// The dimensions.
        sizes: Sizes,
        /// The OMERO pixel type name.
        pixel_type: &'static str,
        /// Bytes expected.
        expected: u64,
        /// Bytes found.
        actual: u64,
    },
    /// Dimensions that are zero or too large to address.
    #[error("pixel dimensions {sizes}: {reason}")]
    Sizes {
        /// The dimensions.
        sizes: Sizes,
        /// Why they are refused.
        reason: &'static str,
    },
    /// An OMERO pixel type this crate does not read or write.
    #[error(
        "pixel type {value:?} is not supported (expected int8, uint8, int16, uint16, int32, \
         uint32, float or double)"
    )]
    PixelType {
        /// The type name given.
        value: String,
    },
    /// A plane index outside the image.
    #[error("plane (z={z}, c={c}, t={t}) is outside {sizes}")]
    PlaneOutOfRange {
        /// Z index.
        z: u64,
        /// C index.
        c: u64,
        /// T index.
        t: u64,
        /// The image's dimensions.
        sizes: Sizes,
    },
    /// The image's pixels are stored as a ROMIO pyramid (JPEG-2000 tiles).
    #[error(
        "image {image}: its pixels are stored as a pyramid ({path}): tiled JPEG-2000 TIFF, \
         which this reader does not decode; export the image with `omero zarr export` instead"
    )]
    Pyramid {
        /// The image id.
        image: u64,
        /// The `<id>_pyramid` file.
        path: PathBuf,
    },
    /// No local copy of the image's pixels was found.
    #[error("image {image}: no local pixels found: {tried}")]
    NoLocalPixels {
        /// The image id.
        image: u64,
        /// What was looked for.
        tried: String,
    },
    /// An OME-Zarr image could not be read.
    #[error("{path}: {reason}")]
    ZarrMetadata {
        /// The group or array.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A zarr array or TIFF file could not be opened or decoded.
    #[error("{path}")]
    Decode {
        /// The array or file.
        path: PathBuf,
        /// The decoder's error (zarrs, tiff).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The `omero` command could not be started.
    #[error(
        "cannot run the OMERO CLI {executable:?}: {cause} (install omero-py or set \
         format.omero_executable)"
    )]
    CliUnavailable {
        /// The executable.
        executable: PathBuf,
        /// The OS error.
        /// (Part of the message, not a `source()`: it is said once.)
        cause: std::io::Error,
    },
    /// The server could not be reached.
    #[error("cannot reach the OMERO server {server}: {message}")]
    Unreachable {
        /// `host:port` as far as known.
        server: String,
        /// The CLI's message.
        message: String,
    },
    /// No usable session (bad or expired key, no login, no password).
    #[error(
        "no usable OMERO session: {message} (log in with `omero login`, or set \
         OMERO_SESSION_KEY / OMERO_HOST)"
    )]
    Session {
        /// The CLI's message.
        message: String,
    },
    /// An OMERO object does not exist (or the session cannot see it).
    #[error("{object} does not exist or is not visible to this session")]
    NotFound {
        /// `Dataset:7`, `Image:12`.
        object: String,
    },
    /// The CLI reported an error.
    #[error("`omero {command}` failed with exit code {exit_code}: {message}")]
    Omero {
        /// The plugin and subcommand (`import`, `obj new`, `hql`).
        command: String,
        /// The process exit code (-1 when killed by a signal).
        exit_code: i32,
        /// The error lines the CLI printed.
        message: String,
    },
    /// The CLI printed something this parser does not expect.
    #[error("`omero {command}`: unexpected output ({reason}):\n{output}")]
    Parse {
        /// The plugin and subcommand.
        command: String,
        /// What did not match.
        reason: String,
        /// The output.
        output: String,
    },
    /// Paging through `omero hql` results made no progress (or no end).
    #[error("`omero hql` paging stopped at offset {offset}: {reason} (query: {query})")]
    Paging {
        /// The HQL query.
        query: String,
        /// The `--offset` of the page that stopped it.
        offset: usize,
        /// What was wrong.
        reason: String,
    },
    /// Registration failed; the complete fileset stays in place.
    #[error(
        "registering {path} with OMERO failed: {cause}\nThe fileset is complete and was left \
         in place. Register it by hand with:\n    {manual}"
    )]
    Registration {
        /// The staged fileset.
        path: PathBuf,
        /// The command that registers it.
        manual: String,
        /// Why registration failed.
        /// (Part of the message, not a `source()`: it is said once.)
        cause: Box<OmeroLocalError>,
    },
    /// A write (or durability point) of the staged fileset failed. The frames stored
    /// before it are kept; the fileset is sealed with status `failed` and not registered.
    #[error(
        "writing the staged fileset {path} failed (it keeps the frames stored before the \
         error, will be sealed with status failed and not registered with OMERO; to register \
         it anyway once the stream has finished: `{manual}`)"
    )]
    StagedWrite {
        /// Where the fileset will be once sealed.
        path: PathBuf,
        /// The command that registers it by hand.
        manual: String,
        /// The staging backend's error.
        #[source]
        source: Box<BackendError>,
    },
    /// The stream failed (a write, a durability point): the fileset was finalized with
    /// status `failed` and kept, but not registered.
    #[error(
        "{path} was not registered with OMERO: the acquisition failed, so the fileset holds \
         only the {frames_written} frames stored before the error (status failed). It was \
         kept; to register it anyway:\n    {manual}"
    )]
    NotRegistered {
        /// The sealed fileset.
        path: PathBuf,
        /// Frames it holds.
        frames_written: u64,
        /// The command that registers it by hand.
        manual: String,
    },
    /// The data was registered but the provenance annotation could not be attached.
    #[error(
        "{path} was registered as {objects:?}, but attaching the provenance annotation failed: \
         {cause}"
    )]
    Provenance {
        /// The staged fileset.
        path: PathBuf,
        /// The registered objects (`Image:12`).
        objects: Vec<String>,
        /// Why.
        /// (Part of the message, not a `source()`: it is said once.)
        cause: Box<OmeroLocalError>,
    },
    /// The staging backend (zarr or tiff) failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

impl OmeroLocalError {
    /// Wrap an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

impl From<OmeroLocalError> for BackendError {
    fn from(e: OmeroLocalError) -> Self {
        match e {
            OmeroLocalError::Backend(inner) => inner,
            OmeroLocalError::Io { path, source } => BackendError::Io { path, source },
            other => BackendError::Backend {
                backend: crate::BACKEND,
                source: Box::new(other),
            },
        }
    }
}
