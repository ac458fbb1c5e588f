//! The declarative description of a microscope acquisition.
//!
//! [`AcquisitionSettings`] is plain serde data that reads (and writes back) the settings
//! JSON of the Python ome-writers unchanged; [`AcquisitionSettings::builder`] builds the
//! same data in Rust, with typed options ([`DType`], [`Compression`], [`Container`],
//! ...) whose serde form is the JSON's strings. [`AcquisitionSettings::validate`] checks
//! every rule once and yields a [`Schema`], whose fields are private: the router and the
//! backends accept nothing else, so they never see unchecked input.
//!
//! **Invariant:** a [`Schema`] always satisfies every rule in `docs/schema.md`; its
//! [`BackendKind`] is fixed by validation and survives serialization (the normalized
//! settings carry an explicit format object), and an OMERO address is never a disk
//! [`Target`].
//!
//! ```
//! use ome_writers_schema::{Schema, BackendKind};
//!
//! let schema = Schema::from_json(r#"{
//!     "root_path": "out/run1.ome.zarr",
//!     "dtype": "uint16",
//!     "dimensions": [
//!         {"name": "t", "count": 10},
//!         {"name": "c", "count": 2},
//!         {"name": "y", "count": 512},
//!         {"name": "x", "count": 512}
//!     ]
//! }"#)?;
//! assert_eq!(schema.backend(), BackendKind::Zarr);
//! assert_eq!(schema.num_frames(), Some(20));
//! assert_eq!(schema.array_shape(None), vec![10, 2, 512, 512]);
//! # Ok::<(), ome_writers_schema::SchemaError>(())
//! ```

mod builder;
mod color;
mod css_colors;
mod dtype;
mod error;
mod index;
mod multiscale;
mod omero;
mod options;
mod order;
mod s3;
mod schema;
mod settings;
mod stage;
mod units;
mod validate_paths;
mod validate_values;

pub use builder::SettingsBuilder;
pub use dtype::{DType, Pixel};
pub use error::SchemaError;
pub use index::{FrameNumber, MAX_INDEX_AXES, PositionIndex, StorageIndex};
pub use multiscale::{AUTO_MAX_SIDE, Levels, Multiscale, Pyramid};
pub use omero::{OMERO_SCHEME, OmeroAddress, OmeroObject};
pub use options::{
    Container, MultiFileMetadata, PreferSingleFile, ReduceMethod, Registration, UnknownValue,
};
pub use order::FrameOrder;
pub use s3::{S3_SCHEME, S3Url};
pub use schema::{BackendKind, Dim, Schema, Target, TiffLayout, limits, ome_stem_suffix};
pub use settings::{
    AcquisitionSettings, Channel, Color, Compression, Coord, Dimension, DimensionType, FormatSpec,
    NamedStorageOrder, OmeTiffFormat, OmeZarrFormat, OmeroLocalFormat, Plate, Position,
    ScratchFormat, StorageOrder,
};
pub use stage::StageAxis;
pub use units::{Unit, UnitKind};
pub use validate_paths::{
    MAX_NAME_BYTES, OUTPUT_SIBLING_BYTES, tiff_companion_file_name, tiff_position_file_name,
    zarr_image_groups,
};
