//! The validated schema: checked once, read by the router and the backends.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::dtype::DType;
use crate::error::SchemaError;
use crate::omero::OmeroAddress;
use crate::options::{Container, MultiFileMetadata, PreferSingleFile};
use crate::s3::{S3Url, s3_target};
use crate::settings::{
    AcquisitionSettings, Channel, Compression, Coord, Dimension, DimensionType, FormatSpec,
    NamedStorageOrder, OmeTiffFormat, OmeZarrFormat, OmeroLocalFormat, Plate, Position,
    ScratchFormat, StorageOrder,
};
use crate::units::{Unit, UnitKind};
use crate::validate_paths::{check_paths, check_root_path};
use crate::validate_values::{check_compression, check_unit_grid, clamp_chunking};

/// Safety limits applied by validation (hostile or mistaken settings).
pub mod limits {
    /// Most bytes in one frame (4 GiB).
    pub const MAX_FRAME_BYTES: u128 = 1 << 32;
    /// Most chunk (or shard) files one image may need.
    pub const MAX_FILES_PER_IMAGE: u128 = 10_000_000;
    /// Most positions.
    pub const MAX_POSITIONS: u128 = 1_000_000;
    /// Most channels (each gets a name and OME metadata).
    pub const MAX_CHANNELS: u128 = 100_000;
    /// Most elements in one chunk buffer (2^31 elements).
    pub const MAX_CHUNK_ELEMENTS: u128 = 1 << 31;
}

/// Which backend writes the data. Chosen once, by validation, from the format field and
/// the root path; stored in the normalized settings as an explicit format object so that
/// it survives serialization.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BackendKind {
    /// OME-Zarr 0.5 on disk.
    Zarr,
    /// OME-TIFF on disk.
    Tiff,
    /// An OMERO server's local repository.
    OmeroLocal,
    /// Raw arrays in memory or in a directory (Python's `scratch` format).
    Scratch,
}

/// Where the output goes.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// A directory or file on disk (zarr and tiff backends).
    Disk {
        /// The resolved output path (`stem.ome.zarr`, `stem.ome.tiff`, or the folder `stem`
        /// for several TIFF files).
        path: PathBuf,
    },
    /// A virtual OMERO location; never a path on disk.
    Omero {
        /// The target object.
        address: OmeroAddress,
    },
    /// Nowhere: the scratch format without `root_path` keeps its arrays in memory.
    Memory,
    /// An OME-Zarr dataset in an S3-compatible bucket; never a path on disk.
    S3 {
        /// The dataset's address (`s3://BUCKET/PREFIX/NAME.ome.zarr`).
        url: S3Url,
    },
}

/// OME-TIFF layout options (checked).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TiffLayout {
    /// One file per position in a folder (true), or a single file.
    pub multi_file: bool,
    /// How OME-XML is spread over several files.
    pub metadata: MultiFileMetadata,
    /// Companion file name (for [`MultiFileMetadata::Companion`]).
    pub companion_file: String,
    /// File suffix (`.ome.tiff`).
    pub suffix: String,
}

/// A checked dimension.
#[derive(Clone, Debug, PartialEq)]
pub struct Dim {
    name: String,
    kind: DimensionType,
    count: Option<u64>,
    chunk: u64,
    shard_chunks: Option<u64>,
    unit: Option<Unit>,
    unit_label: Option<String>,
    scale: Option<f64>,
    translation: Option<f64>,
}

impl Dim {
    /// Name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Type (inferred when the settings left it out).
    pub fn kind(&self) -> DimensionType {
        self.kind
    }
    /// Count, `None` when unbounded.
    pub fn count(&self) -> Option<u64> {
        self.count
    }
    /// Chunk length in elements.
    pub fn chunk(&self) -> u64 {
        self.chunk
    }
    /// Shard length in chunks, when sharded.
    pub fn shard_chunks(&self) -> Option<u64> {
        self.shard_chunks
    }
    /// Shard length in elements (the chunk length when not sharded).
    pub fn shard(&self) -> u64 {
        // Validation bounds both factors, so this cannot saturate for a `Schema`.
        self.chunk.saturating_mul(self.shard_chunks.unwrap_or(1))
    }
    /// Physical unit of a space or time axis.
    pub fn unit(&self) -> Option<Unit> {
        self.unit
    }
    /// Unit text of a channel or other axis (kept verbatim).
    pub fn unit_label(&self) -> Option<&str> {
        self.unit_label.as_deref()
    }
    /// Physical size of one element.
    pub fn scale(&self) -> Option<f64> {
        self.scale
    }
    /// Physical coordinate of the first element.
    pub fn translation(&self) -> Option<f64> {
        self.translation
    }
}

/// A validated acquisition: the only thing the router and the backends accept.
///
/// Fields are private: a `Schema` can only come from [`AcquisitionSettings::validate`],
/// so every rule has been checked. It serializes as its normalized settings (types
/// inferred, counts filled, format explicit) and deserializes by validating again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "AcquisitionSettings", into = "AcquisitionSettings")]
pub struct Schema {
    settings: AcquisitionSettings,
    dims: Vec<Dim>,
    position_axis: Option<usize>,
    positions: Vec<Position>,
    channels: Option<Vec<Channel>>,
    index_axes: Vec<usize>,
    storage_axes: Vec<usize>,
    dtype: DType,
    backend: BackendKind,
    target: Target,
    tiff: Option<TiffLayout>,
    omero: Option<OmeroLocalFormat>,
    scratch: Option<ScratchFormat>,
    compression: Compression,
    plate: Option<Plate>,
    pyramid: crate::multiscale::Pyramid,
}

impl TryFrom<AcquisitionSettings> for Schema {
    type Error = SchemaError;
    fn try_from(settings: AcquisitionSettings) -> Result<Self, SchemaError> {
        settings.validate()
    }
}

impl From<Schema> for AcquisitionSettings {
    fn from(schema: Schema) -> Self {
        schema.settings
    }
}

impl Schema {
    /// Parse settings JSON and validate it.
    pub fn from_json(json: &str) -> Result<Self, SchemaError> {
        AcquisitionSettings::from_json(json)?.validate()
    }

    /// The normalized settings (serialize these to reproduce this schema exactly).
    pub fn settings(&self) -> &AcquisitionSettings {
        &self.settings
    }
    /// All dimensions in acquisition order (position and frame axes included).
    pub fn dims(&self) -> &[Dim] {
        &self.dims
    }
    /// Acquisition position of the position dimension, if any.
    pub fn position_axis(&self) -> Option<usize> {
        self.position_axis
    }
    /// The positions (at least one; a schema without a position dimension has one,
    /// named `"0"`).
    pub fn positions(&self) -> &[Position] {
        &self.positions
    }
    /// The channels, when a channel dimension exists.
    pub fn channels(&self) -> Option<&[Channel]> {
        self.channels.as_deref()
    }
    /// Acquisition positions (into [`dims`](Self::dims)) of the index axes (neither
    /// position nor frame), in acquisition order.
    pub fn index_axes(&self) -> &[usize] {
        &self.index_axes
    }
    /// The same axes in storage order: storage axis `k` is acquisition dimension
    /// `storage_axes()[k]`.
    pub fn storage_axes(&self) -> &[usize] {
        &self.storage_axes
    }
    /// The index dimensions in storage order.
    pub fn storage_dims(&self) -> impl Iterator<Item = &Dim> {
        self.storage_axes.iter().map(|&i| &self.dims[i])
    }
    /// Every array axis in storage order: index dims then Y, X.
    pub fn array_dims(&self) -> impl Iterator<Item = &Dim> {
        self.storage_dims().chain(self.frame_dims().iter())
    }
    /// The two frame dimensions (Y, X).
    pub fn frame_dims(&self) -> &[Dim] {
        &self.dims[self.dims.len() - 2..]
    }
    /// Frame height and width in pixels.
    pub fn frame_shape(&self) -> [u64; 2] {
        let f = self.frame_dims();
        [f[0].count.unwrap_or(0), f[1].count.unwrap_or(0)]
    }
    /// Pixels per frame.
    pub fn frame_len(&self) -> usize {
        let [h, w] = self.frame_shape();
        (h * w) as usize
    }
    /// Bytes per frame.
    pub fn frame_bytes(&self) -> usize {
        self.frame_len() * self.dtype.size()
    }
    /// Pixel type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }
    /// Which backend writes this acquisition.
    pub fn backend(&self) -> BackendKind {
        self.backend
    }
    /// Where the output goes.
    pub fn target(&self) -> &Target {
        &self.target
    }
    /// The output path on disk, `None` for OMERO targets.
    pub fn output_path(&self) -> Option<&Path> {
        match &self.target {
            Target::Disk { path } => Some(path),
            Target::Omero { .. } | Target::Memory | Target::S3 { .. } => None,
        }
    }
    /// The output's object-storage address, `None` unless the target is
    /// [`Target::S3`].
    pub fn output_url(&self) -> Option<&S3Url> {
        match &self.target {
            Target::S3 { url } => Some(url),
            _ => None,
        }
    }
    /// TIFF layout (tiff backend only).
    pub fn tiff_layout(&self) -> Option<&TiffLayout> {
        self.tiff.as_ref()
    }
    /// OMERO options (`omero_local` only).
    pub fn omero_options(&self) -> Option<&OmeroLocalFormat> {
        self.omero.as_ref()
    }
    /// Scratch options (`scratch` only).
    pub fn scratch_options(&self) -> Option<&ScratchFormat> {
        self.scratch.as_ref()
    }
    /// Compression ([`Compression::None`] when off; the scratch format ignores it).
    pub fn compression(&self) -> Compression {
        self.compression
    }
    /// Compression level, if set.
    pub fn compression_level(&self) -> Option<i32> {
        self.settings.compression_level
    }
    /// Plate layout.
    pub fn plate(&self) -> Option<&Plate> {
        self.plate.as_ref()
    }
    /// The resolution pyramid (`multiscale`, ours): one level unless asked for.
    pub fn pyramid(&self) -> &crate::multiscale::Pyramid {
        &self.pyramid
    }

    /// Replace an existing output.
    pub fn overwrite(&self) -> bool {
        self.settings.overwrite
    }
    /// Whether the first dimension is unbounded.
    pub fn is_unbounded(&self) -> bool {
        self.dims[0].count.is_none()
    }
    /// Total frames, `None` when unbounded.
    pub fn num_frames(&self) -> Option<u64> {
        self.dims[..self.dims.len() - 2]
            .iter()
            .try_fold(1u64, |acc, d| d.count.map(|c| acc * c))
    }
    /// The storage axis that grows during acquisition and is trimmed when a stream
    /// finishes early: the first non-position dimension of the acquisition, or `None`
    /// when every frame of a position is a single plane.
    pub fn growth_axis(&self) -> Option<usize> {
        let first = *self.index_axes.first()?;
        self.storage_axes.iter().position(|&a| a == first)
    }
    /// Storage-order shape of one position's array, with `extent` on the growth axis
    /// (`None`: the declared count, or 0 when unbounded).
    pub fn array_shape(&self, extent: Option<u64>) -> Vec<u64> {
        let growth = self.growth_axis();
        self.array_dims()
            .enumerate()
            .map(|(i, d)| {
                if Some(i) == growth {
                    extent.or(d.count).unwrap_or(0)
                } else {
                    d.count.unwrap_or(0)
                }
            })
            .collect()
    }
    /// Storage-order chunk shape.
    pub fn chunk_shape(&self) -> Vec<u64> {
        self.array_dims().map(Dim::chunk).collect()
    }
    /// Storage-order shard shape in elements, `None` when not sharded.
    pub fn shard_shape(&self) -> Option<Vec<u64>> {
        self.array_dims()
            .any(|d| d.shard_chunks.is_some())
            .then(|| self.array_dims().map(Dim::shard).collect())
    }
    /// A copy with another root path, validated again (the CLI's `--output`).
    pub fn with_root_path(&self, root_path: &str) -> Result<Self, SchemaError> {
        let mut settings = self.settings.clone();
        settings.root_path = root_path.to_owned();
        settings.validate()
    }
}

const ZARR_BACKENDS: [&str; 5] = [
    "auto",
    "tensorstore",
    "acquire-zarr",
    "zarrs-python",
    "zarr-python",
];

/// Split `data/x.ome.tiff` into (`data/x`, `.ome.tiff`), like Python's `_ome_stem_suffix`.
pub fn ome_stem_suffix(path: &str) -> (&str, &str) {
    let lower = path.to_ascii_lowercase();
    for ext in [".tiff", ".tif", ".zarr"] {
        if lower.ends_with(ext) {
            let stem = &path[..path.len() - ext.len()];
            if stem.to_ascii_lowercase().ends_with(".ome") {
                return (&stem[..stem.len() - 4], &path[stem.len() - 4..]);
            }
            return (stem, &path[stem.len()..]);
        }
    }
    (path, "")
}

pub(crate) enum Resolved {
    Zarr(OmeZarrFormat),
    Tiff(OmeTiffFormat),
    Omero(OmeroLocalFormat),
    Scratch(ScratchFormat),
}

fn resolve_format(settings: &AcquisitionSettings) -> Result<Resolved, SchemaError> {
    let root = settings.root_path.as_str();
    let (_, suffix) = ome_stem_suffix(root);
    let suffix_or = |default: &str| {
        if suffix.is_empty() {
            default.to_owned()
        } else {
            suffix.to_owned()
        }
    };
    let zarr = |backend: &str| OmeZarrFormat {
        backend: backend.to_owned(),
        suffix: suffix_or(".ome.zarr"),
        ..OmeZarrFormat::default()
    };
    let tiff = |backend: &str| OmeTiffFormat {
        backend: backend.to_owned(),
        suffix: suffix_or(".ome.tiff"),
        ..OmeTiffFormat::default()
    };
    match &settings.format {
        FormatSpec::Named(name) => match name.to_ascii_lowercase().as_str() {
            "auto" => {
                let lower = suffix.to_ascii_lowercase();
                if root.trim().is_empty() {
                    // Python: the only format that needs no root_path.
                    Ok(Resolved::Scratch(ScratchFormat::default()))
                } else if OmeroAddress::looks_like(root) {
                    Err(SchemaError::invalid(
                        "format",
                        "\"auto\"",
                        "root_path is an OMERO address: set format to an omero_local object \
                         (with data_dir and staging_dir)",
                    ))
                } else if lower.ends_with(".zarr") {
                    Ok(Resolved::Zarr(zarr("auto")))
                } else if lower.ends_with(".tif") || lower.ends_with(".tiff") {
                    Ok(Resolved::Tiff(tiff("auto")))
                } else {
                    Err(SchemaError::invalid(
                        "format",
                        "\"auto\"",
                        format!(
                            "cannot infer the format from root_path {root:?}: end it with \
                             .ome.zarr or .ome.tiff, or set format"
                        ),
                    ))
                }
            }
            "ome-zarr" | "zarr" => Ok(Resolved::Zarr(zarr("auto"))),
            b @ ("tensorstore" | "acquire-zarr" | "zarrs-python" | "zarr-python") => {
                Ok(Resolved::Zarr(zarr(b)))
            }
            "ome-tiff" | "tiff" => Ok(Resolved::Tiff(tiff("auto"))),
            "tifffile" => Ok(Resolved::Tiff(tiff("tifffile"))),
            "omero_local" | "omero-local" => Ok(Resolved::Omero(OmeroLocalFormat::default())),
            "scratch" | "memory" => Ok(Resolved::Scratch(ScratchFormat::default())),
            _ => Err(SchemaError::invalid(
                "format",
                format!("{name:?}"),
                "unknown format; expected auto, ome-zarr, ome-tiff, omero_local, scratch or a Python \
                 backend name (tensorstore, acquire-zarr, zarrs-python, zarr-python, tifffile)",
            )),
        },
        FormatSpec::OmeZarr(f) => {
            if !ZARR_BACKENDS.contains(&f.backend.as_str()) {
                return Err(SchemaError::invalid(
                    "format.backend",
                    format!("{:?}", f.backend),
                    format!("expected one of {ZARR_BACKENDS:?}"),
                ));
            }
            Ok(Resolved::Zarr(f.clone()))
        }
        FormatSpec::OmeTiff(f) => {
            if !["auto", "tifffile"].contains(&f.backend.as_str()) {
                return Err(SchemaError::invalid(
                    "format.backend",
                    format!("{:?}", f.backend),
                    "expected auto or tifffile",
                ));
            }
            Ok(Resolved::Tiff(f.clone()))
        }
        FormatSpec::OmeroLocal(f) => Ok(Resolved::Omero(f.clone())),
        FormatSpec::Scratch(f) => {
            if f.name != "scratch" || f.backend != "scratch" {
                return Err(SchemaError::invalid(
                    "format.backend",
                    format!("{:?}", f.backend),
                    "expected scratch",
                ));
            }
            Ok(Resolved::Scratch(f.clone()))
        }
    }
}

fn infer_kind(i: usize, dim: &Dimension) -> Result<DimensionType, SchemaError> {
    let field = |f: &str| format!("dimensions[{i}].{f}");
    let from_coords = dim.coords.as_ref().and_then(|coords| {
        if coords.iter().any(|c| matches!(c, Coord::Position(_))) {
            Some(DimensionType::Position)
        } else if coords.iter().any(|c| {
            matches!(c, Coord::Channel(ch) if ch.color.is_some()
                || ch.excitation_wavelength_nm.is_some()
                || ch.emission_wavelength_nm.is_some()
                || ch.fluorophore.is_some())
        }) {
            Some(DimensionType::Channel)
        } else {
            None
        }
    });
    let from_unit = dim
        .unit
        .as_deref()
        .and_then(Unit::parse)
        .map(|u| match u.kind() {
            UnitKind::Length => DimensionType::Space,
            UnitKind::Time => DimensionType::Time,
        });
    // Only when the type is inferred: an explicit type is checked against the coords
    // below, and validation fills a position dimension's coords, so checking the unit
    // against them here would refuse the normalized form of settings it accepted.
    if let (None, Some(c), Some(u)) = (dim.kind, from_coords, from_unit)
        && c != u
    {
        return Err(SchemaError::invalid(
            field("unit"),
            format!("{:?}", dim.unit.as_deref().unwrap_or_default()),
            format!(
                "the coords make this a {} dimension but the unit makes it {}",
                c.as_str(),
                u.as_str()
            ),
        ));
    }
    let from_name = match dim.name.to_ascii_lowercase().as_str() {
        "t" | "time" => Some(DimensionType::Time),
        "c" | "channel" => Some(DimensionType::Channel),
        "z" | "y" | "x" => Some(DimensionType::Space),
        "p" | "position" => Some(DimensionType::Position),
        _ => None,
    };
    let inferred = match dim.kind {
        Some(k) => {
            if let Some(c) = from_coords
                && c != k
            {
                return Err(SchemaError::invalid(
                    field("type"),
                    format!("{:?}", k.as_str()),
                    format!("the coords are {} objects", c.as_str()),
                ));
            }
            k
        }
        None => from_coords
            .or(from_unit)
            .or(from_name)
            .unwrap_or(DimensionType::Other),
    };
    Ok(inferred)
}

fn check_positions(field: &str, positions: &[Position]) -> Result<(), SchemaError> {
    let mut seen: HashSet<(Option<&str>, Option<&str>, Option<i64>, Option<i64>, &str)> =
        HashSet::new();
    for (j, p) in positions.iter().enumerate() {
        let f = format!("{field}[{j}]");
        if p.name.is_empty() {
            return Err(SchemaError::invalid(
                format!("{f}.name"),
                "\"\"",
                "must not be empty",
            ));
        }
        if p.plate_row.is_some() != p.plate_column.is_some() {
            return Err(SchemaError::invalid(
                format!("{f}.plate_row"),
                format!("{:?}/{:?}", p.plate_row, p.plate_column),
                "plate_row and plate_column must be given together",
            ));
        }
        if p.grid_row.is_some() != p.grid_column.is_some() {
            return Err(SchemaError::invalid(
                format!("{f}.grid_row"),
                format!("{:?}/{:?}", p.grid_row, p.grid_column),
                "grid_row and grid_column must be given together",
            ));
        }
        for (name, v) in [
            ("x_coord", p.x_coord),
            ("y_coord", p.y_coord),
            ("z_coord", p.z_coord),
        ] {
            if let Some(v) = v.filter(|v| !v.is_finite()) {
                return Err(SchemaError::invalid(
                    format!("{f}.{name}"),
                    format!("{v:?}"),
                    "must be finite",
                ));
            }
        }
        let key = (
            p.plate_row.as_deref(),
            p.plate_column.as_deref(),
            p.grid_row,
            p.grid_column,
            p.name.as_str(),
        );
        if !seen.insert(key) {
            return Err(SchemaError::invalid(
                format!("{f}.name"),
                format!("{:?}", p.name),
                "position names must be unique within their well and grid cell",
            ));
        }
    }
    Ok(())
}

fn ngff_rank(kind: DimensionType) -> u8 {
    match kind {
        DimensionType::Time => 0,
        DimensionType::Channel | DimensionType::Other | DimensionType::Position => 1,
        DimensionType::Space => 2,
    }
}

impl AcquisitionSettings {
    /// Check every rule and produce a [`Schema`]. Errors name the field and the value.
    #[allow(clippy::too_many_lines)]
    pub fn validate(&self) -> Result<Schema, SchemaError> {
        let n = self.dimensions.len();
        if !(2..=6).contains(&n) {
            return Err(SchemaError::invalid(
                "dimensions",
                format!("{n} dimensions"),
                "an acquisition needs 2 to 6 dimensions, the last two being Y and X",
            ));
        }
        let dtype = self.dtype;

        // Resolved now, reported after the dimensions (whose errors come first).
        let format_result = resolve_format(self);
        let format = match &format_result {
            Ok(f) => f,
            Err(_) => &Resolved::Zarr(OmeZarrFormat::default()),
        };
        let backend = match format {
            Resolved::Zarr(_) => BackendKind::Zarr,
            Resolved::Tiff(_) => BackendKind::Tiff,
            Resolved::Omero(_) => BackendKind::OmeroLocal,
            Resolved::Scratch(_) => BackendKind::Scratch,
        };
        // The container that holds the pixels (omero_local stages a zarr or tiff fileset).
        let container_is_zarr = match format {
            Resolved::Zarr(_) => true,
            Resolved::Tiff(_) | Resolved::Scratch(_) => false,
            Resolved::Omero(f) => f.container == Container::OmeZarr,
        };

        let mut normalized = self.clone();
        let mut dims = Vec::with_capacity(n);
        let mut names = HashSet::new();
        let mut position_axis = None;
        let mut positions = vec![Position::named("0")];
        let mut channels = None;
        for (i, dim) in self.dimensions.iter().enumerate() {
            let field = |f: &str| format!("dimensions[{i}].{f}");
            if dim.name.is_empty() {
                return Err(SchemaError::invalid(
                    field("name"),
                    "\"\"",
                    "must not be empty",
                ));
            }
            if !names.insert(dim.name.as_str()) {
                return Err(SchemaError::invalid(
                    field("name"),
                    format!("{:?}", dim.name),
                    "dimension names must be unique",
                ));
            }
            let is_frame = i + 2 >= n;
            let mut kind = infer_kind(i, dim)?;
            if is_frame {
                match kind {
                    DimensionType::Space => {}
                    DimensionType::Other if dim.kind.is_none() => kind = DimensionType::Space,
                    other => {
                        return Err(SchemaError::invalid(
                            field("type"),
                            format!("{:?}", other.as_str()),
                            "the last two dimensions are the frame and must be spatial",
                        ));
                    }
                }
            }
            let mut count = dim.count;
            if count == Some(0) {
                return Err(SchemaError::invalid(field("count"), 0, "must be positive"));
            }
            if let Some(coords) = &dim.coords {
                let len = coords.len() as u64;
                match count {
                    None => count = Some(len),
                    Some(c) if c != len => {
                        return Err(SchemaError::invalid(
                            field("coords"),
                            format!("{len} coords"),
                            format!("the number of coords must equal count ({c})"),
                        ));
                    }
                    Some(_) => {}
                }
                if len == 0 {
                    return Err(SchemaError::invalid(
                        field("coords"),
                        "[]",
                        "must not be empty",
                    ));
                }
            }
            if kind == DimensionType::Position {
                if position_axis.is_some() {
                    return Err(SchemaError::invalid(
                        field("type"),
                        "\"position\"",
                        "only one position dimension is allowed",
                    ));
                }
                let Some(c) = count else {
                    return Err(SchemaError::invalid(
                        field("count"),
                        "null",
                        "a position dimension cannot be unbounded",
                    ));
                };
                if u128::from(c) > limits::MAX_POSITIONS {
                    return Err(SchemaError::Limit {
                        field: field("count"),
                        value: u128::from(c),
                        limit: limits::MAX_POSITIONS,
                        what: "positions",
                    });
                }
                positions = match &dim.coords {
                    Some(coords) => coords
                        .iter()
                        .enumerate()
                        .map(|(j, c)| match c {
                            Coord::Position(p) => Ok(p.clone()),
                            Coord::Text(s) => Ok(Position::named(s.clone())),
                            Coord::Channel(ch) if ch.color.is_none() => {
                                Ok(Position::named(ch.name.clone()))
                            }
                            other => Err(SchemaError::invalid(
                                format!("dimensions[{i}].coords[{j}]"),
                                other.label(),
                                "a position dimension takes names or Position objects",
                            )),
                        })
                        .collect::<Result<_, _>>()?,
                    None => (0..c).map(|j| Position::named(j.to_string())).collect(),
                };
                check_positions(&field("coords"), &positions)?;
                normalized.dimensions[i].coords =
                    Some(positions.iter().cloned().map(Coord::Position).collect());
                position_axis = Some(i);
            }
            if kind == DimensionType::Channel {
                if let Some(coords) = &dim.coords {
                    let chs: Vec<Channel> = coords
                        .iter()
                        .enumerate()
                        .map(|(j, c)| match c {
                            Coord::Channel(ch) => Ok(ch.clone()),
                            Coord::Text(s) => Ok(Channel::named(s.clone())),
                            Coord::Number(v) => Ok(Channel::named(v.to_string())),
                            Coord::Position(p) => Err(SchemaError::invalid(
                                format!("dimensions[{i}].coords[{j}]"),
                                format!("{:?}", p.name),
                                "a channel dimension cannot hold Position objects",
                            )),
                        })
                        .collect::<Result<_, _>>()?;
                    let mut seen = HashSet::new();
                    for (j, ch) in chs.iter().enumerate() {
                        if !seen.insert(ch.name.as_str()) {
                            return Err(SchemaError::invalid(
                                format!("dimensions[{i}].coords[{j}].name"),
                                format!("{:?}", ch.name),
                                "channel names must be unique",
                            ));
                        }
                        if let Some(color) = &ch.color
                            && color.rgba().is_none()
                        {
                            return Err(SchemaError::invalid(
                                format!("dimensions[{i}].coords[{j}].color"),
                                format!("{color:?}"),
                                "not a colour (CSS name, #rrggbb, or [r, g, b])",
                            ));
                        }
                    }
                    channels = Some(chs);
                } else if let Some(c) = count {
                    // Checked before one name per channel is made (hostile counts).
                    if u128::from(c) > limits::MAX_CHANNELS {
                        return Err(SchemaError::Limit {
                            field: field("count"),
                            value: u128::from(c),
                            limit: limits::MAX_CHANNELS,
                            what: "channels",
                        });
                    }
                    channels = Some(
                        (0..c)
                            .map(|j| Channel::named(format!("Channel:{j}")))
                            .collect(),
                    );
                }
            } else if kind != DimensionType::Position
                && let Some(coords) = &dim.coords
                && let Some((j, c)) = coords
                    .iter()
                    .enumerate()
                    .find(|(_, c)| matches!(c, Coord::Position(_)))
            {
                return Err(SchemaError::invalid(
                    format!("dimensions[{i}].coords[{j}]"),
                    c.label(),
                    format!(
                        "Position objects need a position dimension, not {}",
                        kind.as_str()
                    ),
                ));
            }
            if count.is_none() && i != 0 {
                return Err(SchemaError::invalid(
                    field("count"),
                    "null",
                    "unbounded (null) is only allowed for the first dimension",
                ));
            }
            if count.is_none() && is_frame {
                return Err(SchemaError::invalid(
                    field("count"),
                    "null",
                    "the frame dimensions (Y, X) must have a count",
                ));
            }
            if dim.chunk_size == Some(0) {
                return Err(SchemaError::invalid(
                    field("chunk_size"),
                    0,
                    "must be positive",
                ));
            }
            if dim.shard_size_chunks == Some(0) {
                return Err(SchemaError::invalid(
                    field("shard_size_chunks"),
                    0,
                    "must be positive",
                ));
            }
            let chunk = dim
                .chunk_size
                .unwrap_or(if is_frame { count.unwrap_or(1) } else { 1 });
            // The limit applies to the lengths as written (absurd input is refused), the
            // clamp below to what remains.
            let shard = u128::from(chunk) * u128::from(dim.shard_size_chunks.unwrap_or(1));
            if shard > limits::MAX_CHUNK_ELEMENTS {
                return Err(SchemaError::Limit {
                    // A frame dimension's default chunk is its count.
                    field: field(if dim.shard_size_chunks.is_some() {
                        "shard_size_chunks"
                    } else if dim.chunk_size.is_some() {
                        "chunk_size"
                    } else {
                        "count"
                    }),
                    value: shard,
                    limit: limits::MAX_CHUNK_ELEMENTS,
                    what: "elements along one axis of a chunk or shard",
                });
            }
            let (chunk, shard_chunks) = clamp_chunking(count, chunk, dim.shard_size_chunks);
            if dim.chunk_size.is_some() {
                normalized.dimensions[i].chunk_size = Some(chunk);
            }
            normalized.dimensions[i].shard_size_chunks = shard_chunks;
            let (unit, unit_label) = match (&dim.unit, kind) {
                (None, _) => (None, None),
                (Some(text), DimensionType::Space | DimensionType::Time) => {
                    let unit = Unit::parse(text).ok_or_else(|| {
                        SchemaError::invalid(
                            field("unit"),
                            format!("{text:?}"),
                            format!(
                                "not a known unit of {}",
                                if kind == DimensionType::Space {
                                    "length"
                                } else {
                                    "time"
                                }
                            ),
                        )
                    })?;
                    let want = if kind == DimensionType::Space {
                        UnitKind::Length
                    } else {
                        UnitKind::Time
                    };
                    if unit.kind() != want {
                        return Err(SchemaError::invalid(
                            field("unit"),
                            format!("{text:?}"),
                            format!(
                                "a {} dimension needs a unit of {}",
                                kind.as_str(),
                                if want == UnitKind::Length {
                                    "length"
                                } else {
                                    "time"
                                }
                            ),
                        ));
                    }
                    normalized.dimensions[i].unit = Some(unit.ngff_name().to_owned());
                    (Some(unit), None)
                }
                (Some(text), _) => (None, Some(text.clone())),
            };
            for (name, v) in [("scale", dim.scale), ("translation", dim.translation)] {
                if let Some(v) = v.filter(|v| !v.is_finite()) {
                    return Err(SchemaError::invalid(
                        field(name),
                        format!("{v:?}"),
                        "must be finite",
                    ));
                }
            }
            if dim.scale.is_some_and(|s| s <= 0.0) {
                return Err(SchemaError::invalid(
                    field("scale"),
                    format!("{:?}", dim.scale.unwrap_or_default()),
                    "must be positive",
                ));
            }
            normalized.dimensions[i].kind = Some(kind);
            normalized.dimensions[i].count = count;
            dims.push(Dim {
                name: dim.name.clone(),
                kind,
                count,
                chunk,
                shard_chunks,
                unit,
                unit_label,
                scale: dim.scale,
                translation: dim.translation,
            });
        }
        if dims[0].kind == DimensionType::Position && dims[0].count.is_none() {
            return Err(SchemaError::invalid(
                "dimensions[0].count",
                "null",
                "a position dimension cannot be unbounded",
            ));
        }
        let non_position = dims
            .iter()
            .filter(|d| d.kind != DimensionType::Position)
            .count();
        if !(2..=5).contains(&non_position) {
            return Err(SchemaError::invalid(
                "dimensions",
                format!("{non_position} non-position dimensions"),
                "OME-Zarr and OME-TIFF allow 2 to 5 non-position dimensions",
            ));
        }
        // A root_path that names no dataset, or a URL, says more than a format that
        // cannot be inferred from it.
        let root = self.root_path.trim();
        if !root.is_empty()
            && !OmeroAddress::looks_like(root)
            && !S3Url::looks_like(root)
            && !matches!(format_result, Ok(Resolved::Omero(_)))
        {
            check_root_path(root)?;
        }
        let format = format_result?;
        let index_axes: Vec<usize> = (0..n - 2)
            .filter(|&i| dims[i].kind != DimensionType::Position)
            .collect();

        // Storage order.
        let storage_axes: Vec<usize> = match &self.storage_order {
            StorageOrder::Named(NamedStorageOrder::Acquisition) => index_axes.clone(),
            StorageOrder::Named(NamedStorageOrder::Ome) => {
                if container_is_zarr {
                    let mut axes = index_axes.clone();
                    axes.sort_by_key(|&i| {
                        let d = &dims[i];
                        let space_rank = match d.name.to_ascii_lowercase().as_str() {
                            "z" => 0,
                            _ => -1,
                        };
                        (ngff_rank(d.kind), space_rank)
                    });
                    axes
                } else {
                    index_axes.clone()
                }
            }
            StorageOrder::Explicit(order) => {
                let by_name: HashMap<&str, usize> = dims
                    .iter()
                    .enumerate()
                    .map(|(i, d)| (d.name.as_str(), i))
                    .collect();
                let mut seen = HashSet::new();
                let mut axes = Vec::new();
                for (k, name) in order.iter().enumerate() {
                    let Some(&i) = by_name.get(name.as_str()) else {
                        return Err(SchemaError::invalid(
                            format!("storage_order[{k}]"),
                            format!("{name:?}"),
                            "not the name of a dimension",
                        ));
                    };
                    if !seen.insert(i) {
                        return Err(SchemaError::invalid(
                            format!("storage_order[{k}]"),
                            format!("{name:?}"),
                            "listed twice",
                        ));
                    }
                    if index_axes.contains(&i) {
                        axes.push(i);
                    }
                }
                let frame_names: Vec<&str> =
                    dims[n - 2..].iter().map(|d| d.name.as_str()).collect();
                let tail: Vec<&str> = order
                    .iter()
                    .filter(|s| {
                        by_name
                            .get(s.as_str())
                            .is_some_and(|&i| dims[i].kind != DimensionType::Position)
                    })
                    .map(String::as_str)
                    .collect();
                if tail.len() < 2 || tail[tail.len() - 2..] != frame_names[..] {
                    return Err(SchemaError::invalid(
                        "storage_order",
                        format!("{order:?}"),
                        format!("must end with the frame dimensions {frame_names:?} in that order"),
                    ));
                }
                if let Some(missing) = index_axes.iter().find(|i| !axes.contains(i)) {
                    return Err(SchemaError::invalid(
                        "storage_order",
                        format!("{order:?}"),
                        format!("dimension {:?} is missing", dims[*missing].name),
                    ));
                }
                axes
            }
        };

        if container_is_zarr {
            check_ngff_axes(&dims, &storage_axes)?;
        }

        // Compression.
        let compression = self.compression.unwrap_or(Compression::None);
        if backend == BackendKind::Scratch {
            // Python ignores compression for scratch arrays; so do we (raw arrays).
            check_scratch_order(&dims, &storage_axes)?;
        } else {
            check_compression(compression, self.compression_level, container_is_zarr)?;
        }

        // Plate.
        let plate = self.plate.clone();
        if let Some(p) = &plate {
            let Some(pa) = position_axis else {
                return Err(SchemaError::invalid(
                    "plate",
                    p.name.as_deref().unwrap_or("(unnamed)"),
                    "a plate needs a position dimension whose positions name their wells",
                ));
            };
            for (what, list) in [
                ("row_names", &p.row_names),
                ("column_names", &p.column_names),
            ] {
                if list.is_empty() {
                    return Err(SchemaError::invalid(
                        format!("plate.{what}"),
                        "[]",
                        "must not be empty",
                    ));
                }
                let mut seen = HashSet::new();
                if let Some(d) = list.iter().find(|s| !seen.insert(s.as_str())) {
                    return Err(SchemaError::invalid(
                        format!("plate.{what}"),
                        format!("{d:?}"),
                        "listed twice",
                    ));
                }
                if let Some(bad) = list
                    .iter()
                    .find(|s| s.is_empty() || !s.chars().all(|c| c.is_ascii_alphanumeric()))
                {
                    return Err(SchemaError::invalid(
                        format!("plate.{what}"),
                        format!("{bad:?}"),
                        "row and column names must be non-empty and alphanumeric (NGFF)",
                    ));
                }
            }
            for (j, pos) in positions.iter().enumerate() {
                let f = format!("dimensions[{pa}].coords[{j}]");
                let (Some(r), Some(c)) = (&pos.plate_row, &pos.plate_column) else {
                    return Err(SchemaError::invalid(
                        format!("{f}.plate_row"),
                        format!("{:?}", pos.name),
                        "every position of a plate needs plate_row and plate_column",
                    ));
                };
                if !p.row_names.contains(r) {
                    return Err(SchemaError::invalid(
                        format!("{f}.plate_row"),
                        format!("{r:?}"),
                        "not one of plate.row_names",
                    ));
                }
                if !p.column_names.contains(c) {
                    return Err(SchemaError::invalid(
                        format!("{f}.plate_column"),
                        format!("{c:?}"),
                        "not one of plate.column_names",
                    ));
                }
            }
        }

        // Target and naming.
        let mut tiff_layout = None;
        let mut omero = None;
        let mut scratch = None;
        let target = match &format {
            Resolved::Scratch(f) if root.is_empty() => {
                scratch = Some(f.clone());
                normalized.format = FormatSpec::Scratch(f.clone());
                Target::Memory
            }
            Resolved::Omero(f) => {
                let address: OmeroAddress = root.parse()?;
                omero = Some(f.clone());
                normalized.format = FormatSpec::OmeroLocal(f.clone());
                Target::Omero { address }
            }
            Resolved::Zarr(_) | Resolved::Tiff(_) if root.is_empty() => {
                return Err(SchemaError::invalid(
                    "root_path",
                    "\"\"",
                    "an output path is required",
                ));
            }
            _ if S3Url::looks_like(root) => s3_target(root, &format, &mut normalized)?,
            _ if OmeroAddress::looks_like(root) => {
                return Err(SchemaError::invalid(
                    "root_path",
                    format!("{root:?}"),
                    "an OMERO address can only be written by the omero_local format; \
                     it is never a path on disk",
                ));
            }
            Resolved::Scratch(f) => {
                scratch = Some(f.clone());
                normalized.format = FormatSpec::Scratch(f.clone());
                // Python: the output is root_path itself, a directory.
                Target::Disk {
                    path: PathBuf::from(root),
                }
            }
            Resolved::Zarr(f) => {
                let (stem, _) = ome_stem_suffix(root);
                normalized.format = FormatSpec::OmeZarr(f.clone());
                Target::Disk {
                    path: PathBuf::from(format!("{stem}{}", f.suffix)),
                }
            }
            Resolved::Tiff(f) => {
                let (stem, _) = ome_stem_suffix(root);
                let multi = match f.prefer_single_file {
                    PreferSingleFile::Never => true,
                    PreferSingleFile::Always => {
                        if positions.len() > 1 {
                            return Err(SchemaError::invalid(
                                "format.prefer_single_file",
                                "\"always\"",
                                "several positions in one OME-TIFF file are not supported",
                            ));
                        }
                        false
                    }
                    PreferSingleFile::Auto => positions.len() > 1,
                };
                tiff_layout = Some(TiffLayout {
                    multi_file: multi,
                    metadata: f.multi_file_metadata,
                    companion_file: f.companion_file.clone(),
                    suffix: f.suffix.clone(),
                });
                normalized.format = FormatSpec::OmeTiff(f.clone());
                Target::Disk {
                    path: PathBuf::from(if multi {
                        stem.to_owned()
                    } else {
                        format!("{stem}{}", f.suffix)
                    }),
                }
            }
        };

        let pyramid = crate::multiscale::resolve(self.multiscale.as_ref(), &dims, backend)?;
        let schema = Schema {
            settings: normalized,
            dims,
            position_axis,
            positions,
            channels,
            index_axes,
            storage_axes,
            dtype,
            backend,
            target,
            tiff: tiff_layout,
            omero,
            scratch,
            compression,
            plate,
            pyramid,
        };
        check_limits(&schema)?;
        check_paths(&schema)?;
        Ok(schema)
    }
}

fn check_ngff_axes(dims: &[Dim], storage_axes: &[usize]) -> Result<(), SchemaError> {
    let n = dims.len();
    let kinds: Vec<DimensionType> = storage_axes
        .iter()
        .map(|&i| dims[i].kind)
        .chain([DimensionType::Space, DimensionType::Space])
        .collect();
    let count = |k: &[DimensionType]| kinds.iter().filter(|x| k.contains(x)).count();
    let names = || {
        storage_axes
            .iter()
            .map(|&i| dims[i].name.clone())
            .chain(dims[n - 2..].iter().map(|d| d.name.clone()))
            .collect::<Vec<_>>()
    };
    if count(&[DimensionType::Time]) > 1 {
        return Err(SchemaError::invalid(
            "dimensions",
            format!("{:?}", names()),
            "OME-Zarr 0.5 allows at most one time axis",
        ));
    }
    if count(&[DimensionType::Channel, DimensionType::Other]) > 1 {
        return Err(SchemaError::invalid(
            "dimensions",
            format!("{:?}", names()),
            "OME-Zarr 0.5 allows at most one channel or custom axis",
        ));
    }
    if count(&[DimensionType::Space]) > 3 {
        return Err(SchemaError::invalid(
            "dimensions",
            format!("{:?}", names()),
            "OME-Zarr 0.5 allows at most three space axes",
        ));
    }
    if kinds.windows(2).any(|w| ngff_rank(w[0]) > ngff_rank(w[1])) {
        return Err(SchemaError::invalid(
            "storage_order",
            format!("{:?}", names()),
            "OME-Zarr 0.5 needs the axes ordered time, channel/custom, space; use \
             storage_order \"ome\"",
        ));
    }
    Ok(())
}

/// Scratch arrays grow only along their first axis (a file grows at its end): an
/// unbounded dimension must come first in storage order.
fn check_scratch_order(dims: &[Dim], storage_axes: &[usize]) -> Result<(), SchemaError> {
    match storage_axes.iter().position(|&a| dims[a].count.is_none()) {
        Some(k) if k > 0 => Err(SchemaError::invalid(
            "storage_order",
            format!(
                "{:?}",
                storage_axes
                    .iter()
                    .map(|&a| dims[a].name.as_str())
                    .collect::<Vec<_>>()
            ),
            format!(
                "the scratch format grows its arrays along the first axis only: the \
                 unbounded dimension {:?} must come first",
                dims[storage_axes[k]].name
            ),
        )),
        _ => Ok(()),
    }
}

fn check_limits(schema: &Schema) -> Result<(), SchemaError> {
    let [h, w] = schema.frame_shape();
    let n = schema.dims.len();
    let size = schema.dtype.size() as u128;
    let frame_bytes = (u128::from(h) * u128::from(w)).saturating_mul(size);
    if frame_bytes > limits::MAX_FRAME_BYTES {
        // The frame dimension at which the product passes the limit.
        let at = if u128::from(h) * size > limits::MAX_FRAME_BYTES {
            n - 2
        } else {
            n - 1
        };
        return Err(SchemaError::Limit {
            field: format!("dimensions[{at}].count"),
            value: frame_bytes,
            limit: limits::MAX_FRAME_BYTES,
            what: "bytes per frame",
        });
    }
    // Total frames must fit a u64 even for the product of all bounded counts.
    let mut frames: u128 = 1;
    for (i, d) in schema.dims[..n - 2].iter().enumerate() {
        frames = frames.saturating_mul(u128::from(d.count.unwrap_or(1)));
        if frames > u128::from(u64::MAX) / 2 {
            return Err(SchemaError::Limit {
                field: format!("dimensions[{i}].count"),
                value: frames,
                limit: u128::from(u64::MAX) / 2,
                what: "frames in total",
            });
        }
    }
    if schema.backend == BackendKind::Zarr
        || schema
            .omero
            .as_ref()
            .is_some_and(|o| o.container == Container::OmeZarr)
    {
        check_unit_grid(schema)?;
    }
    Ok(())
}
