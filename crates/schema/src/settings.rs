//! The plain serde model: field for field the JSON of Python's
//! `AcquisitionSettings.model_dump(mode="json")`.

use std::fmt;

use serde::de::{Error as _, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::dtype::DType;
use crate::options::{Container, MultiFileMetadata, PreferSingleFile, Registration};

/// Everything that describes an acquisition, exactly as written in a settings file.
///
/// This is unchecked data; [`AcquisitionSettings::validate`] turns it into a
/// [`Schema`](crate::Schema), the only thing the router and backends accept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcquisitionSettings {
    /// Output path: a directory (`.ome.zarr`), a file (`.ome.tiff`), or an OMERO address
    /// (`omero://dataset/7`) for the `omero_local` format.
    #[serde(default)]
    pub root_path: String,
    /// Dimensions in acquisition order; the last two are the frame (Y, X).
    #[serde(default)]
    pub dimensions: Vec<Dimension>,
    /// Pixel type, written as its numpy name (`uint16`, `float32`, ...); numpy codes
    /// such as `<u2` are read too.
    pub dtype: DType,
    /// Output format and backend.
    #[serde(default)]
    pub format: FormatSpec,
    /// Compression codec, `None` for none.
    #[serde(default)]
    pub compression: Option<Compression>,
    /// Codec level (ours; absent from the Python model, so only written when set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression_level: Option<i32>,
    /// Order of the non-frame axes on disk.
    #[serde(default)]
    pub storage_order: StorageOrder,
    /// Plate layout; requires a position dimension whose positions name their wells.
    #[serde(default)]
    pub plate: Option<Plate>,
    /// Replace an existing dataset at the output path.
    #[serde(default)]
    pub overwrite: bool,
    /// Resolution pyramid (ours; absent from the Python model, so only written when set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multiscale: Option<crate::multiscale::Multiscale>,
}

/// One axis of the acquisition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dimension {
    /// Unique name (`t`, `c`, `z`, `y`, `x`, `p`, or anything else).
    pub name: String,
    /// Number of elements; `None` means unbounded (first dimension only).
    #[serde(default)]
    pub count: Option<u64>,
    /// Axis type; inferred from coords, unit or name when absent.
    #[serde(default, rename = "type")]
    pub kind: Option<DimensionType>,
    /// Explicit coordinates (names, values, channels or positions).
    #[serde(default)]
    pub coords: Option<Vec<Coord>>,
    /// Chunk length along this axis (elements).
    #[serde(default)]
    pub chunk_size: Option<u64>,
    /// Shard length along this axis, in chunks.
    #[serde(default)]
    pub shard_size_chunks: Option<u64>,
    /// Physical unit (NGFF name such as `micrometer`, or OME symbol such as `um`).
    #[serde(default)]
    pub unit: Option<String>,
    /// Physical size of one element along this axis.
    #[serde(default)]
    pub scale: Option<f64>,
    /// Physical coordinate of the first element.
    #[serde(default)]
    pub translation: Option<f64>,
}

impl Dimension {
    /// A dimension with a name and a count and every other field unset.
    pub fn new(name: impl Into<String>, count: Option<u64>) -> Self {
        Self {
            name: name.into(),
            count,
            kind: None,
            coords: None,
            chunk_size: None,
            shard_size_chunks: None,
            unit: None,
            scale: None,
            translation: None,
        }
    }
}

/// The kind of an axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DimensionType {
    /// A spatial axis (Z, Y, X).
    Space,
    /// A time axis.
    Time,
    /// A channel axis.
    Channel,
    /// Stage positions: separate images, never an array axis.
    Position,
    /// Anything else (NGFF "custom" axes).
    Other,
}

impl DimensionType {
    /// The name used in JSON and NGFF.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Space => "space",
            Self::Time => "time",
            Self::Channel => "channel",
            Self::Position => "position",
            Self::Other => "other",
        }
    }
}

/// A coordinate along a dimension.
#[derive(Clone, Debug, PartialEq)]
pub enum Coord {
    /// A plain label.
    Text(String),
    /// A numeric coordinate.
    Number(f64),
    /// A channel description.
    Channel(Channel),
    /// A stage position.
    Position(Position),
}

impl Coord {
    /// The label of this coordinate (channel or position name, or the text/number).
    pub fn label(&self) -> String {
        match self {
            Self::Text(s) => s.clone(),
            Self::Number(v) => v.to_string(),
            Self::Channel(c) => c.name.clone(),
            Self::Position(p) => p.name.clone(),
        }
    }
}

const CHANNEL_ONLY_KEYS: [&str; 4] = [
    "excitation_wavelength_nm",
    "emission_wavelength_nm",
    "fluorophore",
    "color",
];
const POSITION_ONLY_KEYS: [&str; 7] = [
    "plate_row",
    "plate_column",
    "grid_row",
    "grid_column",
    "x_coord",
    "y_coord",
    "z_coord",
];

impl<'de> Deserialize<'de> for Coord {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        match value {
            Value::String(s) => Ok(Self::Text(s)),
            Value::Number(n) => n
                .as_f64()
                .map(Self::Number)
                .ok_or_else(|| D::Error::custom(format!("coordinate {n} is not a finite number"))),
            Value::Object(ref map) => {
                let is_position = map.keys().any(|k| POSITION_ONLY_KEYS.contains(&k.as_str()));
                let is_channel = map.keys().any(|k| CHANNEL_ONLY_KEYS.contains(&k.as_str()));
                if is_position && is_channel {
                    return Err(D::Error::custom(
                        "a coordinate object mixes channel fields and position fields",
                    ));
                }
                // An object with only `name` is read as a channel; validation turns it into
                // a position when the dimension is a position dimension.
                if is_position {
                    Position::deserialize(value)
                        .map(Self::Position)
                        .map_err(D::Error::custom)
                } else {
                    Channel::deserialize(value)
                        .map(Self::Channel)
                        .map_err(D::Error::custom)
                }
            }
            other => Err(D::Error::custom(format!(
                "a coordinate must be a string, a number, a channel or a position, got {other}"
            ))),
        }
    }
}

impl Serialize for Coord {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Text(s) => serializer.serialize_str(s),
            Self::Number(v) => serializer.serialize_f64(*v),
            Self::Channel(c) => c.serialize(serializer),
            Self::Position(p) => p.serialize(serializer),
        }
    }
}

/// A channel of the acquisition.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Channel {
    /// Channel name.
    pub name: String,
    /// Excitation wavelength in nanometres.
    #[serde(default)]
    pub excitation_wavelength_nm: Option<u32>,
    /// Emission wavelength in nanometres.
    #[serde(default)]
    pub emission_wavelength_nm: Option<u32>,
    /// Fluorophore name.
    #[serde(default)]
    pub fluorophore: Option<String>,
    /// Display colour: a CSS name, `#rrggbb[aa]`, or `[r, g, b(, a)]`.
    #[serde(default)]
    pub color: Option<Color>,
}

impl Channel {
    /// A channel with only a name.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            excitation_wavelength_nm: None,
            emission_wavelength_nm: None,
            fluorophore: None,
            color: None,
        }
    }
}

/// A colour as written in settings: kept verbatim so it round-trips.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Color {
    /// `"red"`, `"#ff0000"`, `"#f00"`, `"#ff000080"`, `"rgb(255, 0, 0)"`.
    Text(String),
    /// `[r, g, b]` or `[r, g, b, a]` with r, g, b in 0..=255 and a in 0..=1.
    Components(Vec<f64>),
}

/// A stage position.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Position {
    /// Position name (unique within its well or grid cell).
    pub name: String,
    /// Plate row name (e.g. `"A"`).
    #[serde(default)]
    pub plate_row: Option<String>,
    /// Plate column name (e.g. `"1"`).
    #[serde(default)]
    pub plate_column: Option<String>,
    /// Grid row index.
    #[serde(default)]
    pub grid_row: Option<i64>,
    /// Grid column index.
    #[serde(default)]
    pub grid_column: Option<i64>,
    /// Stage X coordinate, in the X dimension's unit.
    #[serde(default)]
    pub x_coord: Option<f64>,
    /// Stage Y coordinate, in the Y dimension's unit.
    #[serde(default)]
    pub y_coord: Option<f64>,
    /// Stage Z coordinate, in the Z dimension's unit.
    #[serde(default)]
    pub z_coord: Option<f64>,
}

impl Position {
    /// A position with only a name.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            plate_row: None,
            plate_column: None,
            grid_row: None,
            grid_column: None,
            x_coord: None,
            y_coord: None,
            z_coord: None,
        }
    }
}

/// A well plate's geometry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plate {
    /// All row names, e.g. `["A", "B", ...]`.
    pub row_names: Vec<String>,
    /// All column names, e.g. `["1", "2", ...]`.
    pub column_names: Vec<String>,
    /// Plate name.
    #[serde(default)]
    pub name: Option<String>,
}

impl Plate {
    /// A standard plate: 6, 12, 24, 48, 96, 384 or 1536 wells; rows A, B, ..., Z, AA, BB, ...
    pub fn standard(wells: u32) -> Option<Self> {
        let (rows, cols) = match wells {
            6 => (2, 3),
            12 => (3, 4),
            24 => (4, 6),
            48 => (6, 8),
            96 => (8, 12),
            384 => (16, 24),
            1536 => (32, 48),
            _ => return None,
        };
        let row_names = (0..rows)
            .map(|i: u32| {
                let letter = char::from(b'A' + (i % 26) as u8);
                std::iter::repeat_n(letter, (i / 26 + 1) as usize).collect()
            })
            .collect();
        let column_names = (1..=cols).map(|c: u32| c.to_string()).collect();
        Some(Self {
            row_names,
            column_names,
            name: None,
        })
    }
}

/// Compression codec.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Compression {
    /// Blosc with zstd, byte shuffle (zarr).
    #[serde(rename = "blosc-zstd")]
    BloscZstd,
    /// Blosc with lz4, byte shuffle (zarr).
    #[serde(rename = "blosc-lz4")]
    BloscLz4,
    /// Plain zstd (zarr; TIFF when supported).
    #[serde(rename = "zstd")]
    Zstd,
    /// LZW (TIFF).
    #[serde(rename = "lzw")]
    Lzw,
    /// Deflate/zlib (TIFF).
    #[serde(rename = "deflate")]
    Deflate,
    /// No compression.
    #[serde(rename = "none")]
    None,
}

impl Compression {
    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BloscZstd => "blosc-zstd",
            Self::BloscLz4 => "blosc-lz4",
            Self::Zstd => "zstd",
            Self::Lzw => "lzw",
            Self::Deflate => "deflate",
            Self::None => "none",
        }
    }
}

/// Storage order of the non-frame axes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StorageOrder {
    /// `"ome"` or `"acquisition"`.
    Named(NamedStorageOrder),
    /// Explicit dimension names, Y and X last.
    Explicit(Vec<String>),
}

impl Default for StorageOrder {
    fn default() -> Self {
        Self::Named(NamedStorageOrder::Ome)
    }
}

/// The named storage orders.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NamedStorageOrder {
    /// The format's canonical order (zarr: time, channel/other, space).
    Ome,
    /// The acquisition order.
    Acquisition,
}

/// The `format` field: a name (`"auto"`, `"ome-zarr"`, `"tensorstore"`, `"omero_local"`,
/// ...) or a format object with a `name` tag.
#[derive(Clone, Debug, PartialEq)]
pub enum FormatSpec {
    /// A format or backend name.
    Named(String),
    /// `{"name": "ome-zarr", ...}`.
    OmeZarr(OmeZarrFormat),
    /// `{"name": "ome-tiff", ...}`.
    OmeTiff(OmeTiffFormat),
    /// `{"name": "omero_local", ...}`.
    OmeroLocal(OmeroLocalFormat),
    /// `{"name": "scratch", ...}`: raw arrays in memory or in a directory.
    Scratch(ScratchFormat),
}

impl Default for FormatSpec {
    fn default() -> Self {
        Self::Named("auto".to_owned())
    }
}

impl<'de> Deserialize<'de> for FormatSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(FormatVisitor)
    }
}

/// Reads a format name, or a format object key by key: the typed options are read
/// straight from the document, so an error in one names its path
/// (`format.prefer_single_file`); the object is then read as the format its `name` says.
struct FormatVisitor;

impl<'de> Visitor<'de> for FormatVisitor {
    type Value = FormatSpec;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a format name or a format object")
    }

    fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<FormatSpec, E> {
        Ok(FormatSpec::Named(name.to_owned()))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FormatSpec, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let text = |s: &str| Value::String(s.to_owned());
            let value = match key.as_str() {
                "prefer_single_file" => text(map.next_value::<PreferSingleFile>()?.as_str()),
                "multi_file_metadata" => text(map.next_value::<MultiFileMetadata>()?.as_str()),
                "container" => text(map.next_value::<Container>()?.as_str()),
                "registration" => text(map.next_value::<Registration>()?.as_str()),
                _ => map.next_value::<Value>()?,
            };
            object.insert(key, value);
        }
        format_object(object).map_err(A::Error::custom)
    }
}

/// The format a format object's `name` names, read from the object.
fn format_object(object: serde_json::Map<String, Value>) -> Result<FormatSpec, String> {
    let name = object
        .get("name")
        .and_then(Value::as_str)
        .ok_or("a format object needs a string `name` field")?
        .to_owned();
    let value = Value::Object(object);
    let spec = match name.as_str() {
        "ome-zarr" => OmeZarrFormat::deserialize(value).map(FormatSpec::OmeZarr),
        "ome-tiff" => OmeTiffFormat::deserialize(value).map(FormatSpec::OmeTiff),
        "omero_local" => OmeroLocalFormat::deserialize(value).map(FormatSpec::OmeroLocal),
        "scratch" => ScratchFormat::deserialize(value).map(FormatSpec::Scratch),
        other => {
            return Err(format!(
                "unknown format name {other:?}; expected ome-zarr, ome-tiff, omero_local, scratch"
            ));
        }
    };
    spec.map_err(|e| e.to_string())
}

impl Serialize for FormatSpec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Named(s) => serializer.serialize_str(s),
            Self::OmeZarr(f) => f.serialize(serializer),
            Self::OmeTiff(f) => f.serialize(serializer),
            Self::OmeroLocal(f) => f.serialize(serializer),
            Self::Scratch(f) => f.serialize(serializer),
        }
    }
}

fn ome_zarr_name() -> String {
    "ome-zarr".to_owned()
}
fn ome_tiff_name() -> String {
    "ome-tiff".to_owned()
}
fn omero_local_name() -> String {
    "omero_local".to_owned()
}
fn auto() -> String {
    "auto".to_owned()
}
fn zarr_suffix() -> String {
    ".ome.zarr".to_owned()
}
fn tiff_suffix() -> String {
    ".ome.tiff".to_owned()
}
fn companion_name() -> String {
    "companion.ome".to_owned()
}

/// OME-Zarr format options (Python's `OmeZarrFormat`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OmeZarrFormat {
    /// Always `"ome-zarr"`.
    #[serde(default = "ome_zarr_name")]
    pub name: String,
    /// Python backend name (`auto`, `tensorstore`, `acquire-zarr`, `zarrs-python`,
    /// `zarr-python`); all mean our zarr backend.
    #[serde(default = "auto")]
    pub backend: String,
    /// Directory suffix, default `.ome.zarr`.
    #[serde(default = "zarr_suffix")]
    pub suffix: String,
}

impl Default for OmeZarrFormat {
    fn default() -> Self {
        Self {
            name: ome_zarr_name(),
            backend: auto(),
            suffix: zarr_suffix(),
        }
    }
}

/// OME-TIFF format options (Python's `OmeTiffFormat`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OmeTiffFormat {
    /// Always `"ome-tiff"`.
    #[serde(default = "ome_tiff_name")]
    pub name: String,
    /// Python backend name (`auto`, `tifffile`); both mean our tiff backend.
    #[serde(default = "auto")]
    pub backend: String,
    /// File suffix, default `.ome.tiff`.
    #[serde(default = "tiff_suffix")]
    pub suffix: String,
    /// `auto`, `always` or `never` (also `true`/`false`).
    #[serde(default)]
    pub prefer_single_file: PreferSingleFile,
    /// `redundant`, `master-tiff` or `companion-file`.
    #[serde(default)]
    pub multi_file_metadata: MultiFileMetadata,
    /// Companion file name for `companion-file`.
    #[serde(default = "companion_name")]
    pub companion_file: String,
}

impl Default for OmeTiffFormat {
    fn default() -> Self {
        Self {
            name: ome_tiff_name(),
            backend: auto(),
            suffix: tiff_suffix(),
            prefer_single_file: PreferSingleFile::Auto,
            multi_file_metadata: MultiFileMetadata::Redundant,
            companion_file: companion_name(),
        }
    }
}

/// Options of the `omero_local` format: frames are staged next to an OMERO server's
/// binary repository and registered in place.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OmeroLocalFormat {
    /// Always `"omero_local"`.
    #[serde(default = "omero_local_name")]
    pub name: String,
    /// The server's `omero.data.dir` (e.g. `/OMERO`).
    #[serde(default)]
    pub data_dir: String,
    /// A writable directory outside `ManagedRepository` where filesets are staged.
    #[serde(default)]
    pub staging_dir: String,
    /// Container written into the staging directory: `ome-zarr` or `ome-tiff`.
    #[serde(default)]
    pub container: Container,
    /// `in-place-import` or `zarr-import`.
    #[serde(default)]
    pub registration: Registration,
    /// Path of the `omero` executable.
    #[serde(default = "omero_exe")]
    pub omero_executable: String,
    /// OMERO server host (`-s`); the session key itself comes from the environment
    /// (`OMERO_SESSION_KEY`), never from a settings file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// OMERO server port (`-p`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Namespace of the provenance MapAnnotation.
    #[serde(default = "provenance_ns")]
    pub annotation_namespace: String,
    /// Name of the new image (default: the fileset name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_name: Option<String>,
}

fn provenance_ns() -> String {
    "org.ome-writers-rs/provenance".to_owned()
}

impl Default for OmeroLocalFormat {
    /// The format object `{"name": "omero_local"}`: every field at its default.
    fn default() -> Self {
        Self {
            name: omero_local_name(),
            data_dir: String::new(),
            staging_dir: String::new(),
            container: Container::OmeZarr,
            registration: Registration::InPlaceImport,
            omero_executable: omero_exe(),
            server: None,
            port: None,
            annotation_namespace: provenance_ns(),
            image_name: None,
        }
    }
}

fn omero_exe() -> String {
    "omero".to_owned()
}

fn scratch_name() -> String {
    "scratch".to_owned()
}
fn scratch_memory() -> u64 {
    4 << 30
}
fn yes() -> bool {
    true
}

/// Python's `ScratchFormat`: one raw array per position, in memory (no `root_path`),
/// or as files `pos_<i>.dat` with `manifest.json` and `frame_metadata.jsonl` in the
/// directory `root_path` (docs/layouts.md, "Scratch").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScratchFormat {
    /// Always `"scratch"`.
    #[serde(default = "scratch_name")]
    pub name: String,
    /// Always `"scratch"`.
    #[serde(default = "scratch_name")]
    pub backend: String,
    /// Most bytes the arrays may take in memory (default 4 GiB) when `root_path` is
    /// empty; beyond it they spill to a temporary directory or are refused.
    #[serde(default = "scratch_memory")]
    pub max_memory_bytes: u64,
    /// Kept for Python parity; it names nothing (the output is `root_path` itself).
    #[serde(default)]
    pub suffix: String,
    /// Over `max_memory_bytes` without `root_path`: spill to a temporary directory
    /// (true, the default) or refuse.
    #[serde(default = "yes")]
    pub spill_to_disk: bool,
}

impl Default for ScratchFormat {
    fn default() -> Self {
        Self {
            name: scratch_name(),
            backend: scratch_name(),
            max_memory_bytes: scratch_memory(),
            suffix: String::new(),
            spill_to_disk: true,
        }
    }
}

impl AcquisitionSettings {
    /// Settings with the given dimensions and dtype, every other field at its default.
    pub fn new(root_path: impl Into<String>, dimensions: Vec<Dimension>, dtype: DType) -> Self {
        Self {
            root_path: root_path.into(),
            dimensions,
            dtype,
            format: FormatSpec::default(),
            compression: None,
            compression_level: None,
            storage_order: StorageOrder::default(),
            plate: None,
            overwrite: false,
            multiscale: None,
        }
    }

    /// Parse settings JSON; errors name the JSON path of the bad field. A UTF-8 byte
    /// order mark before the document (as some Windows editors write) is skipped.
    pub fn from_json(json: &str) -> Result<Self, crate::SchemaError> {
        let json = json.strip_prefix('\u{feff}').unwrap_or(json);
        let mut de = serde_json::Deserializer::from_str(json);
        let settings: Self =
            serde_path_to_error::deserialize(&mut de).map_err(|e| crate::SchemaError::Parse {
                path: e.path().to_string(),
                message: e.inner().to_string(),
            })?;
        de.end().map_err(|e| crate::SchemaError::Parse {
            path: ".".to_owned(),
            message: e.to_string(),
        })?;
        Ok(settings)
    }

    /// The settings as pretty JSON (the shape Python's `model_dump(mode="json")` writes).
    pub fn to_json(&self) -> String {
        // Serializing plain data with string keys into a String cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}
