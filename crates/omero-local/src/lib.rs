//! Stream an acquisition straight into an OMERO server's local storage, and read OMERO
//! images back from that storage without going through the server.
//!
//! For users who acquire on (or next to) the machine that hosts OMERO:
//! - **Write:** [`OmeroLocalBackend`] stages frames into an OME-Zarr or OME-TIFF fileset
//!   (the zarr and tiff backends) in a staging directory beside the server's data
//!   directory; at finalize it seals the fileset (`NAME.partial` → sync → rename) and
//!   only then registers it in place (`omero import --transfer=ln_s`, or
//!   `omero zarr import`) and attaches a provenance MapAnnotation.
//! - **Read:** [`OmeroReader`] lists a Dataset's images and loads an image from local
//!   disk the way the server finds it: OME-Zarr named by ExternalInfo, fileset files
//!   under `ManagedRepository/`, or ROMIO pixel files under `Pixels/` (memory-mapped,
//!   [`RomioPixels`]). Pyramids (`_pyramid`) are refused with a clear error. Pixels are
//!   read one plane at a time ([`OmeroImage::read_plane`]), so memory does not grow
//!   with the image; only regular files are opened (a FIFO or device is refused).
//! - **Offline:** [`RomioPixels`] and [`repository_path`] read ROMIO files with no
//!   server running (`omew omero export-pixels` converts one to OME-Zarr).
//!
//! The server is reached through the [`Gateway`] trait; [`CliGateway`] runs omero-py's
//! `omero` command and parses its output strictly.
//!
//! # Requirements and environment
//! - omero-py's `omero` (`format.omero_executable`); omero-cli-zarr for `zarr-import`;
//!   for in-place import of OME-Zarr, a server whose Bio-Formats reads OME-Zarr.
//! - In-place import (`--transfer=ln_s`) runs on the server's host, as a user allowed to
//!   link into `ManagedRepository`; the links point into the staging directory, so
//!   registered filesets must stay there.
//! - Session: `OMERO_HOST`, `OMERO_PORT`, `OMERO_SESSION_KEY` or `OMERO_USER` (the CLI
//!   reads `OMERO_PASSWORD` itself), else the CLI's current login. Provenance namespace
//!   `OMEW_OMERO_NAMESPACE` (default [`PROVENANCE_NAMESPACE`]); image name
//!   `OMEW_OMERO_IMAGE_NAME` (see [`OmeroLocalOptions`]).
//!
//! **Invariants:** an OMERO address ([`OmeroAddress`](ome_writers_schema::OmeroAddress))
//! is never a path, so nothing is ever created under a virtual OMERO root; nothing is
//! written under the server's data directory (ROMIO, pyramid and managed files belong
//! to the server; the staging directory must lie outside them); registration never
//! points at a `.partial` fileset, and a failed registration leaves the complete
//! fileset in place with the command that registers it by hand; a stream that failed
//! is sealed with status `failed`, kept, and never registered.
//!
//! ```
//! use ome_writers_omero_local::{DataDir, RomioPixels, Sizes, Store, repository_path};
//! use ome_writers_schema::DType;
//!
//! // OMERO names pixel files by id, in Dir-NNN folders (omero-romio's rule).
//! assert_eq!(repository_path(Store::Pixels, 1_000_001), "Pixels/Dir-001/Dir-000/1000001");
//!
//! // A 3x2 uint16 image with 2 channels, stored as OMERO does: big-endian, XYZCT.
//! let dir = tempfile::tempdir()?;
//! std::fs::create_dir_all(dir.path().join("Pixels/Dir-001"))?;
//! let values: Vec<u16> = (0..12).collect();
//! let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_be_bytes()).collect();
//! std::fs::write(dir.path().join("Pixels/Dir-001/1001"), bytes)?;
//!
//! let data = DataDir::open_for_pixels(dir.path())?;
//! let sizes = Sizes { x: 3, y: 2, z: 1, c: 2, t: 1 };
//! let pixels = RomioPixels::open(data.pixels_path(1001), sizes, DType::U16)?;
//! let mut plane = vec![0u8; pixels.plane_bytes()];
//! pixels.read_plane(0, 1, 0, &mut plane)?; // z=0, c=1, t=0: native byte order
//! let plane: Vec<u16> = plane.chunks(2).map(|b| u16::from_ne_bytes([b[0], b[1]])).collect();
//! assert_eq!(plane, [6, 7, 8, 9, 10, 11]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod backend;
mod cli_gateway;
mod config;
mod error;
mod files;
mod gateway;
mod read;
mod repo;
mod romio;
mod tiff_read;
mod zarr_read;

pub use backend::{
    OmeroLocalBackend, PARTIAL_SUFFIX, StagingFactory, default_staging, staging_schema,
};
pub use cli_gateway::{CliGateway, HQL_PAGE, MAX_HQL_PAGES};
pub use config::{OmeroLocalConfig, OmeroLocalOptions, PROVENANCE_NAMESPACE, Session};
pub use error::OmeroLocalError;
pub use files::MAX_METADATA_BYTES;
pub use gateway::{
    ExternalInfo, FilesetFile, Gateway, ImageInfo, ImportRequest, NGFF_ENTITY_TYPE, Registered,
    object_ref, shell_quote,
};
/// The staged container and the registration method are the settings' own types.
pub use ome_writers_schema::{Container, Registration};
pub use read::{AXES, OmeroImage, OmeroReader, PixelSource, load_source, resolve};
pub use repo::{
    DataDir, MANAGED_REPOSITORY, PYRAMID_SUFFIX, SERVER_FOLDERS, Store, repository_path,
};
pub use romio::{RomioPixels, Sizes, be_to_native, omero_pixel_type_name, parse_pixel_type};
pub use zarr_read::MAX_DECODED_CHUNK_BYTES;

/// The backend name used in errors.
pub(crate) const BACKEND: &str = "omero_local";
