//! OME-XML 2016-06, serialized from typed structs.
//!
//! Only the elements this backend writes are modelled. Field order is element order in
//! the XSD (quick-xml writes fields in declaration order); attributes come first.

use std::collections::BTreeMap;

use ome_writers_backend::{FrameMetadata, GlobalMetadata};
use ome_writers_schema::{DType, Dim, Plate, Position, Schema};
use serde::Serialize;
use serde_json::Value;

use crate::error::TiffError;
use crate::plan::{FileRef, OmeAxis, Plan};
use crate::stage::StageCoords;

pub(crate) mod global;

const NAMESPACE: &str = "http://www.openmicroscopy.org/Schemas/OME/2016-06";
const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
const SCHEMA_LOCATION: &str = "http://www.openmicroscopy.org/Schemas/OME/2016-06 \
                               http://www.openmicroscopy.org/Schemas/OME/2016-06/ome.xsd";
const CREATOR: &str = concat!("ome-writers-rs ", env!("CARGO_PKG_VERSION"));
const XML_DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
/// Frame metadata keys that become `Plane` attributes (seconds, seconds, micrometres),
/// as in the Python ome-writers.
const DELTA_T: &str = "delta_t";
const EXPOSURE_TIME: &str = "exposure_time";
const POSITION_KEYS: [&str; 3] = ["position_x", "position_y", "position_z"];

#[derive(Serialize)]
#[serde(rename = "OME")]
struct Ome {
    #[serde(rename = "@xmlns")]
    xmlns: &'static str,
    #[serde(rename = "@xmlns:xsi")]
    xmlns_xsi: &'static str,
    #[serde(rename = "@xsi:schemaLocation")]
    schema_location: &'static str,
    #[serde(rename = "@UUID")]
    uuid: String,
    #[serde(rename = "@Creator")]
    creator: &'static str,
    #[serde(rename = "Plate", skip_serializing_if = "Vec::is_empty")]
    plates: Vec<PlateEl>,
    #[serde(rename = "Image", skip_serializing_if = "Vec::is_empty")]
    images: Vec<ImageEl>,
    #[serde(
        rename = "StructuredAnnotations",
        skip_serializing_if = "Option::is_none"
    )]
    annotations: Option<StructuredAnnotations>,
    #[serde(rename = "BinaryOnly", skip_serializing_if = "Option::is_none")]
    binary_only: Option<BinaryOnly>,
}

#[derive(Serialize)]
struct BinaryOnly {
    #[serde(rename = "@MetadataFile")]
    metadata_file: String,
    #[serde(rename = "@UUID")]
    uuid: String,
}

#[derive(Serialize)]
struct PlateEl {
    #[serde(rename = "@ID")]
    id: String,
    #[serde(rename = "@Name", skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(
        rename = "@ColumnNamingConvention",
        skip_serializing_if = "Option::is_none"
    )]
    column_naming: Option<&'static str>,
    #[serde(
        rename = "@RowNamingConvention",
        skip_serializing_if = "Option::is_none"
    )]
    row_naming: Option<&'static str>,
    #[serde(rename = "@Rows")]
    rows: usize,
    #[serde(rename = "@Columns")]
    columns: usize,
    #[serde(rename = "Well")]
    wells: Vec<WellEl>,
}

#[derive(Serialize)]
struct WellEl {
    #[serde(rename = "@ID")]
    id: String,
    #[serde(rename = "@Column")]
    column: usize,
    #[serde(rename = "@Row")]
    row: usize,
    #[serde(rename = "WellSample")]
    samples: Vec<WellSampleEl>,
}

#[derive(Serialize)]
struct WellSampleEl {
    #[serde(rename = "@ID")]
    id: String,
    #[serde(rename = "@PositionX", skip_serializing_if = "Option::is_none")]
    position_x: Option<f64>,
    #[serde(rename = "@PositionXUnit", skip_serializing_if = "Option::is_none")]
    position_x_unit: Option<&'static str>,
    #[serde(rename = "@PositionY", skip_serializing_if = "Option::is_none")]
    position_y: Option<f64>,
    #[serde(rename = "@PositionYUnit", skip_serializing_if = "Option::is_none")]
    position_y_unit: Option<&'static str>,
    #[serde(rename = "@Index")]
    index: usize,
    #[serde(rename = "ImageRef")]
    image_ref: Ref,
}

#[derive(Serialize)]
struct Ref {
    #[serde(rename = "@ID")]
    id: String,
}

#[derive(Serialize)]
struct ImageEl {
    #[serde(rename = "@ID")]
    id: String,
    #[serde(rename = "@Name")]
    name: String,
    #[serde(rename = "StageLabel", skip_serializing_if = "Option::is_none")]
    stage_label: Option<StageLabel>,
    #[serde(rename = "Pixels")]
    pixels: PixelsEl,
    #[serde(rename = "AnnotationRef", skip_serializing_if = "Option::is_none")]
    annotation_ref: Option<Ref>,
}

#[derive(Serialize)]
struct StageLabel {
    #[serde(rename = "@Name")]
    name: String,
    #[serde(rename = "@X", skip_serializing_if = "Option::is_none")]
    x: Option<f64>,
    #[serde(rename = "@XUnit", skip_serializing_if = "Option::is_none")]
    x_unit: Option<&'static str>,
    #[serde(rename = "@Y", skip_serializing_if = "Option::is_none")]
    y: Option<f64>,
    #[serde(rename = "@YUnit", skip_serializing_if = "Option::is_none")]
    y_unit: Option<&'static str>,
    #[serde(rename = "@Z", skip_serializing_if = "Option::is_none")]
    z: Option<f64>,
    #[serde(rename = "@ZUnit", skip_serializing_if = "Option::is_none")]
    z_unit: Option<&'static str>,
}

#[derive(Serialize)]
struct PixelsEl {
    #[serde(rename = "@ID")]
    id: String,
    #[serde(rename = "@DimensionOrder")]
    dimension_order: String,
    #[serde(rename = "@Type")]
    pixel_type: &'static str,
    #[serde(rename = "@SignificantBits")]
    significant_bits: usize,
    #[serde(rename = "@Interleaved")]
    interleaved: bool,
    #[serde(rename = "@BigEndian")]
    big_endian: bool,
    #[serde(rename = "@SizeX")]
    size_x: u64,
    #[serde(rename = "@SizeY")]
    size_y: u64,
    #[serde(rename = "@SizeZ")]
    size_z: u64,
    #[serde(rename = "@SizeC")]
    size_c: u64,
    #[serde(rename = "@SizeT")]
    size_t: u64,
    #[serde(rename = "@PhysicalSizeX", skip_serializing_if = "Option::is_none")]
    physical_size_x: Option<f64>,
    #[serde(rename = "@PhysicalSizeXUnit", skip_serializing_if = "Option::is_none")]
    physical_size_x_unit: Option<&'static str>,
    #[serde(rename = "@PhysicalSizeY", skip_serializing_if = "Option::is_none")]
    physical_size_y: Option<f64>,
    #[serde(rename = "@PhysicalSizeYUnit", skip_serializing_if = "Option::is_none")]
    physical_size_y_unit: Option<&'static str>,
    #[serde(rename = "@PhysicalSizeZ", skip_serializing_if = "Option::is_none")]
    physical_size_z: Option<f64>,
    #[serde(rename = "@PhysicalSizeZUnit", skip_serializing_if = "Option::is_none")]
    physical_size_z_unit: Option<&'static str>,
    #[serde(rename = "@TimeIncrement", skip_serializing_if = "Option::is_none")]
    time_increment: Option<f64>,
    #[serde(rename = "@TimeIncrementUnit", skip_serializing_if = "Option::is_none")]
    time_increment_unit: Option<&'static str>,
    #[serde(rename = "Channel")]
    channels: Vec<ChannelEl>,
    #[serde(rename = "TiffData")]
    tiff_data: Vec<TiffDataEl>,
    #[serde(rename = "Plane", skip_serializing_if = "Vec::is_empty")]
    planes: Vec<PlaneEl>,
}

#[derive(Serialize)]
struct ChannelEl {
    #[serde(rename = "@ID")]
    id: String,
    #[serde(rename = "@Name", skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(rename = "@SamplesPerPixel")]
    samples_per_pixel: u32,
    #[serde(
        rename = "@ExcitationWavelength",
        skip_serializing_if = "Option::is_none"
    )]
    excitation: Option<u32>,
    #[serde(
        rename = "@ExcitationWavelengthUnit",
        skip_serializing_if = "Option::is_none"
    )]
    excitation_unit: Option<&'static str>,
    #[serde(
        rename = "@EmissionWavelength",
        skip_serializing_if = "Option::is_none"
    )]
    emission: Option<u32>,
    #[serde(
        rename = "@EmissionWavelengthUnit",
        skip_serializing_if = "Option::is_none"
    )]
    emission_unit: Option<&'static str>,
    #[serde(rename = "@Fluor", skip_serializing_if = "Option::is_none")]
    fluor: Option<String>,
    #[serde(rename = "@Color", skip_serializing_if = "Option::is_none")]
    color: Option<i32>,
}

#[derive(Serialize)]
struct TiffDataEl {
    #[serde(rename = "@IFD")]
    ifd: u64,
    #[serde(rename = "@FirstZ", skip_serializing_if = "Option::is_none")]
    first_z: Option<u64>,
    #[serde(rename = "@FirstT", skip_serializing_if = "Option::is_none")]
    first_t: Option<u64>,
    #[serde(rename = "@FirstC", skip_serializing_if = "Option::is_none")]
    first_c: Option<u64>,
    #[serde(rename = "@PlaneCount")]
    plane_count: u64,
    #[serde(rename = "UUID", skip_serializing_if = "Option::is_none")]
    uuid: Option<UuidEl>,
}

#[derive(Serialize)]
struct UuidEl {
    #[serde(rename = "@FileName")]
    file_name: String,
    #[serde(rename = "$text")]
    value: String,
}

#[derive(Serialize)]
struct PlaneEl {
    #[serde(rename = "@TheZ")]
    the_z: u64,
    #[serde(rename = "@TheT")]
    the_t: u64,
    #[serde(rename = "@TheC")]
    the_c: u64,
    #[serde(rename = "@DeltaT", skip_serializing_if = "Option::is_none")]
    delta_t: Option<f64>,
    #[serde(rename = "@DeltaTUnit", skip_serializing_if = "Option::is_none")]
    delta_t_unit: Option<&'static str>,
    #[serde(rename = "@ExposureTime", skip_serializing_if = "Option::is_none")]
    exposure_time: Option<f64>,
    #[serde(rename = "@ExposureTimeUnit", skip_serializing_if = "Option::is_none")]
    exposure_time_unit: Option<&'static str>,
    #[serde(rename = "@PositionX", skip_serializing_if = "Option::is_none")]
    position_x: Option<f64>,
    #[serde(rename = "@PositionXUnit", skip_serializing_if = "Option::is_none")]
    position_x_unit: Option<&'static str>,
    #[serde(rename = "@PositionY", skip_serializing_if = "Option::is_none")]
    position_y: Option<f64>,
    #[serde(rename = "@PositionYUnit", skip_serializing_if = "Option::is_none")]
    position_y_unit: Option<&'static str>,
    #[serde(rename = "@PositionZ", skip_serializing_if = "Option::is_none")]
    position_z: Option<f64>,
    #[serde(rename = "@PositionZUnit", skip_serializing_if = "Option::is_none")]
    position_z_unit: Option<&'static str>,
    #[serde(rename = "AnnotationRef", skip_serializing_if = "Option::is_none")]
    annotation_ref: Option<Ref>,
}

#[derive(Serialize)]
struct StructuredAnnotations {
    #[serde(rename = "MapAnnotation")]
    maps: Vec<MapAnnotation>,
}

#[derive(Serialize)]
struct MapAnnotation {
    #[serde(rename = "@ID")]
    id: String,
    #[serde(rename = "@Namespace")]
    namespace: String,
    #[serde(rename = "Value")]
    value: MapValue,
}

#[derive(Serialize)]
struct MapValue {
    #[serde(rename = "M")]
    entries: Vec<MapEntry>,
}

#[derive(Serialize)]
struct MapEntry {
    #[serde(rename = "@K")]
    key: String,
    #[serde(rename = "$text")]
    value: String,
}

/// Namespace of the per-frame metadata map annotations.
const FRAME_METADATA_NS: &str = "https://github.com/ome-writers-rs/ome-writers-rs/frame-metadata";

/// What one frame's metadata says about its plane.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct PlaneMeta {
    delta_t: Option<f64>,
    exposure_time: Option<f64>,
    position: [Option<f64>; 3],
    /// Every other key, the value as text (strings verbatim, anything else as JSON).
    extra: Vec<(String, String)>,
}

impl PlaneMeta {
    /// Sort a frame's metadata into Plane attributes and map entries; `None` if empty.
    pub(crate) fn from_frame(metadata: &FrameMetadata) -> Option<Self> {
        let mut out = Self::default();
        for (key, value) in metadata {
            let number = value.as_f64().filter(|v| v.is_finite());
            let slot = match key.as_str() {
                DELTA_T => Some(&mut out.delta_t),
                EXPOSURE_TIME => Some(&mut out.exposure_time),
                k => POSITION_KEYS
                    .iter()
                    .position(|p| *p == k)
                    .map(|i| &mut out.position[i]),
            };
            match (slot, number) {
                (Some(slot), Some(v)) => *slot = Some(v),
                _ => {
                    let text = match value {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    out.extra.push((xml_safe(key), xml_safe(&text)));
                }
            }
        }
        (out != Self::default()).then_some(out)
    }
}

/// Drop characters XML 1.0 cannot hold (control characters other than tab and line
/// breaks), so that no name or metadata value can make the document ill-formed.
fn xml_safe(s: &str) -> String {
    s.chars()
        .filter(|&c| {
            matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
        })
        .collect()
}

/// One image (position) as an OME-XML document should describe it.
pub(crate) struct ImageState<'a> {
    /// Position index.
    pub(crate) position: usize,
    /// Extent of every index axis (see [`Plan::full_box`] and [`Plan::prefix_box`]).
    pub(crate) sizes: &'a [u64],
    /// Per-plane metadata, for the final document; `None` in provisional ones.
    pub(crate) planes: Option<&'a BTreeMap<u64, PlaneMeta>>,
    /// What the acquisition recorded for this image (frames written to it, and the
    /// stream's counts), as a map annotation; empty for none.
    pub(crate) record: Vec<(&'static str, String)>,
}

/// Namespace of the acquisition record map annotations.
pub(crate) const RECORD_NS: &str = "https://github.com/ome-writers-rs/ome-writers-rs/acquisition";
/// Record key of the dataset status: [`STATUS_ACQUIRING`] in provisional documents,
/// the final status (`complete`, `partial`, `failed`) after finish.
pub(crate) const STATUS_KEY: &str = "status";
/// The value of [`STATUS_KEY`] while the writer runs.
pub(crate) const STATUS_ACQUIRING: &str = "acquiring";
/// Record key of the normalized settings JSON (first file's provisional document).
pub(crate) const SETTINGS_KEY: &str = "settings";

/// The OME `PixelType` of a dtype.
pub(crate) fn pixel_type(dtype: DType) -> &'static str {
    match dtype {
        DType::U8 => "uint8",
        DType::U16 => "uint16",
        DType::U32 => "uint32",
        DType::I8 => "int8",
        DType::I16 => "int16",
        DType::I32 => "int32",
        DType::F32 => "float",
        DType::F64 => "double",
    }
}

fn length_unit(dim: Option<&Dim>) -> &'static str {
    dim.and_then(Dim::unit)
        .map_or("µm", ome_writers_schema::Unit::ome_symbol)
}

fn physical(dim: Option<&Dim>) -> (Option<f64>, Option<&'static str>) {
    match dim.and_then(|d| d.scale().map(|s| (s, d.unit()))) {
        Some((scale, unit)) => (Some(scale), unit.map(ome_writers_schema::Unit::ome_symbol)),
        None => (None, None),
    }
}

fn signed_rgba([r, g, b, a]: [u8; 4]) -> i32 {
    i32::from_be_bytes([r, g, b, a])
}

fn naming(names: &[String]) -> Option<&'static str> {
    if names
        .iter()
        .all(|n| n.chars().all(|c| c.is_ascii_alphabetic()))
    {
        Some("letter")
    } else if names.iter().all(|n| n.chars().all(|c| c.is_ascii_digit())) {
        Some("number")
    } else {
        None
    }
}

/// What to put in a full document.
pub(crate) struct Document<'a> {
    /// The root UUID: the file that holds this document.
    pub(crate) uuid: &'a str,
    /// The images it describes.
    pub(crate) images: &'a [ImageState<'a>],
    /// Whether `TiffData` names its file (multi-file datasets).
    pub(crate) file_uuids: bool,
    /// Whether to include the plate.
    pub(crate) plate: bool,
    /// A provisional document: IFDs are described in the order they were written
    /// (acquisition order), with one `TiffData`.
    pub(crate) provisional: bool,
    /// The acquisition-level metadata to include (see `ome/global.rs`).
    pub(crate) global: Option<&'a GlobalMetadata>,
}

/// Runs of IFDs that are consecutive in the storage-order `DimensionOrder`:
/// `(first IFD, plane count, [z, c, t] of the first)`.
fn tiff_data_runs(plan: &Plan, sizes: &[u64], planes: u64) -> Vec<(u64, u64, [u64; 3])> {
    let mut runs: Vec<(u64, u64, [u64; 3])> = Vec::new();
    let mut previous = None;
    for ifd in 0..planes {
        let at = plan.order_index(sizes, ifd);
        match runs.last_mut() {
            Some(run) if previous.is_some_and(|p: u64| p + 1 == at) => run.1 += 1,
            _ => runs.push((ifd, 1, plan.zct_of(sizes, ifd))),
        }
        previous = Some(at);
    }
    runs
}

/// What every image of a document shares: the frame's physical sizes and units.
struct Frame {
    height: u64,
    width: u64,
    physical: [(Option<f64>, Option<&'static str>); 3],
    time: (Option<f64>, Option<&'static str>),
    /// Length units of X, Y, Z (stage positions).
    units: [&'static str; 3],
    declared_c: u64,
}

impl Frame {
    fn of(plan: &Plan) -> Self {
        let frame = plan.schema.frame_dims();
        let (dim_y, dim_x) = (frame.first(), frame.get(1));
        let dim_z = plan.dim_of(OmeAxis::Z);
        let [height, width] = plan.schema.frame_shape();
        Self {
            height,
            width,
            physical: [physical(dim_x), physical(dim_y), physical(dim_z)],
            time: physical(plan.dim_of(OmeAxis::T)),
            units: [length_unit(dim_x), length_unit(dim_y), length_unit(dim_z)],
            declared_c: plan
                .axes
                .iter()
                .find(|a| a.ome == OmeAxis::C)
                .and_then(|a| a.count)
                .unwrap_or(1),
        }
    }
}

/// A full OME-XML document.
pub(crate) fn full_xml(plan: &Plan, doc: &Document<'_>) -> Result<String, TiffError> {
    let frame = Frame::of(plan);
    let mut maps = Vec::new();
    let images = doc
        .images
        .iter()
        .map(|state| image_el(plan, doc, &frame, state, &mut maps))
        .collect();
    if let Some(g) = doc.global {
        maps.extend(global::map_annotations(g));
    }
    let plates = match plan.schema.plate() {
        Some(plate) if doc.plate => vec![plate_el(&plan.schema, plate, &frame.units)],
        _ => Vec::new(),
    };
    let ome = Ome {
        xmlns: NAMESPACE,
        xmlns_xsi: XSI,
        schema_location: SCHEMA_LOCATION,
        uuid: doc.uuid.to_owned(),
        creator: CREATOR,
        plates,
        images,
        annotations: (!maps.is_empty()).then_some(StructuredAnnotations { maps }),
        binary_only: None,
    };
    serialize(&ome)
}

/// One image: its pixels, channels, `TiffData`, planes, stage label and record.
fn image_el(
    plan: &Plan,
    doc: &Document<'_>,
    frame: &Frame,
    state: &ImageState<'_>,
    maps: &mut Vec<MapAnnotation>,
) -> ImageEl {
    let schema = &plan.schema;
    let p = state.position;
    let position = schema.positions().get(p);
    let [size_z, size_c, size_t] = plan.zct_sizes(state.sizes);
    let plane_count = state.sizes.iter().fold(1u64, |a, &s| a.saturating_mul(s));
    let dimension_order = if plan.sequential || !doc.provisional {
        plan.dimension_order.clone()
    } else {
        plan.acquisition_order.clone()
    };
    let [(psx, psx_unit), (psy, psy_unit), (psz, psz_unit)] = frame.physical;
    // The planes' annotations come before the image's record.
    let stage = StageCoords::of(position, &frame.units);
    let planes = plane_els(plan, state, plane_count, stage, maps);
    let annotation_ref = record_annotation(state, maps);
    ImageEl {
        annotation_ref,
        id: format!("Image:{p}"),
        name: match position {
            Some(pos) if schema.position_axis().is_some() => xml_safe(&pos.name),
            _ => xml_safe(&plan.stem),
        },
        stage_label: position.and_then(|pos| stage_label(pos, &frame.units)),
        pixels: PixelsEl {
            id: format!("Pixels:{p}"),
            dimension_order,
            pixel_type: pixel_type(plan.dtype),
            significant_bits: plan.dtype.size() * 8,
            interleaved: false,
            big_endian: cfg!(target_endian = "big"),
            size_x: frame.width,
            size_y: frame.height,
            size_z,
            size_c,
            size_t,
            physical_size_x: psx,
            physical_size_x_unit: psx_unit,
            physical_size_y: psy,
            physical_size_y_unit: psy_unit,
            physical_size_z: psz,
            physical_size_z_unit: psz_unit,
            time_increment: frame.time.0,
            time_increment_unit: frame.time.1,
            channels: channel_els(plan, p, size_c.min(frame.declared_c)),
            tiff_data: tiff_data_els(plan, doc, state, plane_count),
            planes,
        },
    }
}

/// The first `count` channels of position `p`.
fn channel_els(plan: &Plan, p: usize, count: u64) -> Vec<ChannelEl> {
    (0..count)
        .map(|c| {
            let ch = plan.schema.channels().and_then(|chs| chs.get(c as usize));
            let excitation = ch
                .and_then(|ch| ch.excitation_wavelength_nm)
                .filter(|&w| w > 0);
            let emission = ch
                .and_then(|ch| ch.emission_wavelength_nm)
                .filter(|&w| w > 0);
            ChannelEl {
                id: format!("Channel:{p}:{c}"),
                name: ch.map(|ch| xml_safe(&ch.name)),
                samples_per_pixel: 1,
                excitation,
                excitation_unit: excitation.map(|_| "nm"),
                emission,
                emission_unit: emission.map(|_| "nm"),
                fluor: ch.and_then(|ch| ch.fluorophore.as_deref()).map(xml_safe),
                color: ch
                    .and_then(|ch| ch.color.as_ref())
                    .and_then(ome_writers_schema::Color::rgba)
                    .map(signed_rgba),
            }
        })
        .collect()
}

/// `TiffData`: one block in IFD order (sequential or provisional documents), else one
/// per run of consecutive planes, each naming its file in multi-file datasets.
fn tiff_data_els(
    plan: &Plan,
    doc: &Document<'_>,
    state: &ImageState<'_>,
    plane_count: u64,
) -> Vec<TiffDataEl> {
    let uuid = || {
        plan.files
            .get(state.position)
            .filter(|_| doc.file_uuids)
            .map(|f: &FileRef| UuidEl {
                file_name: f.name.clone(),
                value: f.uuid.clone(),
            })
    };
    if plan.sequential || doc.provisional {
        return vec![TiffDataEl {
            ifd: 0,
            first_z: None,
            first_t: None,
            first_c: None,
            plane_count,
            uuid: uuid(),
        }];
    }
    tiff_data_runs(plan, state.sizes, plane_count)
        .into_iter()
        .map(|(ifd, count, [z, c, t])| TiffDataEl {
            ifd,
            first_z: Some(z),
            first_t: Some(t),
            first_c: Some(c),
            plane_count: count,
            uuid: uuid(),
        })
        .collect()
}

/// `Plane` elements with their per-frame metadata; keys OME has no attribute for go to
/// a map annotation each plane refers to. A position with stage coordinates gives
/// every plane its `PositionX/Y/Z` (see [`StageCoords::plane`]).
fn plane_els(
    plan: &Plan,
    state: &ImageState<'_>,
    plane_count: u64,
    stage: StageCoords,
    maps: &mut Vec<MapAnnotation>,
) -> Vec<PlaneEl> {
    let Some(metas) = state.planes else {
        return Vec::new();
    };
    let p = state.position;
    let described: Vec<u64> = if stage.is_empty() {
        metas
            .range(..plane_count)
            .map(|(&plane, _)| plane)
            .collect()
    } else {
        (0..plane_count).collect()
    };
    let no_meta = PlaneMeta::default();
    let mut planes = Vec::with_capacity(described.len());
    for plane in described {
        let meta = metas.get(&plane).unwrap_or(&no_meta);
        let [z, c, t] = plan.zct_of(state.sizes, plane);
        let annotation_ref = (!meta.extra.is_empty()).then(|| {
            let id = format!("Annotation:{p}:{plane}");
            let entries = meta.extra.iter().map(|(k, v)| (k.clone(), v.clone()));
            maps.push(map_annotation(&id, FRAME_METADATA_NS, entries));
            Ref { id }
        });
        let [px, py, pz] = stage.plane(meta.position);
        planes.push(PlaneEl {
            the_z: z,
            the_t: t,
            the_c: c,
            delta_t: meta.delta_t,
            delta_t_unit: meta.delta_t.map(|_| "s"),
            exposure_time: meta.exposure_time,
            exposure_time_unit: meta.exposure_time.map(|_| "s"),
            position_x: px.map(|(v, _)| v),
            position_x_unit: px.map(|(_, u)| u),
            position_y: py.map(|(v, _)| v),
            position_y_unit: py.map(|(_, u)| u),
            position_z: pz.map(|(v, _)| v),
            position_z_unit: pz.map(|(_, u)| u),
            annotation_ref,
        });
    }
    planes
}

fn map_annotation(
    id: &str,
    namespace: &'static str,
    entries: impl Iterator<Item = (String, String)>,
) -> MapAnnotation {
    MapAnnotation {
        id: id.to_owned(),
        namespace: namespace.to_owned(),
        value: MapValue {
            entries: entries
                .map(|(key, value)| MapEntry { key, value })
                .collect(),
        },
    }
}

/// The image's acquisition record, as a map annotation it refers to.
fn record_annotation(state: &ImageState<'_>, maps: &mut Vec<MapAnnotation>) -> Option<Ref> {
    (!state.record.is_empty()).then(|| {
        let id = format!("Annotation:{}:acquisition", state.position);
        let entries = state
            .record
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()));
        maps.push(map_annotation(&id, RECORD_NS, entries));
        Ref { id }
    })
}

/// The stage position of a position with coordinates.
fn stage_label(pos: &Position, units: &[&'static str; 3]) -> Option<StageLabel> {
    (pos.x_coord.is_some() || pos.y_coord.is_some() || pos.z_coord.is_some()).then(|| StageLabel {
        name: xml_safe(&pos.name),
        x: pos.x_coord,
        x_unit: pos.x_coord.map(|_| units[0]),
        y: pos.y_coord,
        y_unit: pos.y_coord.map(|_| units[1]),
        z: pos.z_coord,
        z_unit: pos.z_coord.map(|_| units[2]),
    })
}

/// The plate: one well per (row, column) holding positions, a sample per field.
fn plate_el(schema: &Schema, plate: &Plate, units: &[&'static str; 3]) -> PlateEl {
    let mut wells: Vec<WellEl> = Vec::new();
    for (i, pos) in schema.positions().iter().enumerate() {
        let row = pos
            .plate_row
            .as_ref()
            .and_then(|r| plate.row_names.iter().position(|n| n == r));
        let column = pos
            .plate_column
            .as_ref()
            .and_then(|c| plate.column_names.iter().position(|n| n == c));
        let (Some(row), Some(column)) = (row, column) else {
            continue;
        };
        let k = match wells
            .iter()
            .position(|w| w.row == row && w.column == column)
        {
            Some(k) => k,
            None => {
                wells.push(WellEl {
                    id: format!("Well:{row}:{column}"),
                    column,
                    row,
                    samples: Vec::new(),
                });
                wells.len() - 1
            }
        };
        let Some(well) = wells.get_mut(k) else {
            continue;
        };
        let sample = well.samples.len();
        well.samples.push(WellSampleEl {
            id: format!("WellSample:{row}:{column}:{sample}"),
            position_x: pos.x_coord,
            position_x_unit: pos.x_coord.map(|_| units[0]),
            position_y: pos.y_coord,
            position_y_unit: pos.y_coord.map(|_| units[1]),
            index: i,
            image_ref: Ref {
                id: format!("Image:{i}"),
            },
        });
    }
    PlateEl {
        id: "Plate:0".to_owned(),
        name: plate.name.as_deref().map(xml_safe),
        column_naming: naming(&plate.column_names),
        row_naming: naming(&plate.row_names),
        rows: plate.row_names.len(),
        columns: plate.column_names.len(),
        wells,
    }
}

/// A `BinaryOnly` document: the metadata lives in `metadata_file`.
pub(crate) fn binary_only_xml(uuid: &str, metadata_file: &FileRef) -> Result<String, TiffError> {
    serialize(&Ome {
        xmlns: NAMESPACE,
        xmlns_xsi: XSI,
        schema_location: SCHEMA_LOCATION,
        uuid: uuid.to_owned(),
        creator: CREATOR,
        plates: Vec::new(),
        images: Vec::new(),
        annotations: None,
        binary_only: Some(BinaryOnly {
            metadata_file: metadata_file.name.clone(),
            uuid: metadata_file.uuid.clone(),
        }),
    })
}

fn serialize(ome: &Ome) -> Result<String, TiffError> {
    let mut out = String::from(XML_DECLARATION);
    ome.serialize(quick_xml::se::Serializer::new(&mut out))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_signed_rgba() {
        assert_eq!(signed_rgba([255, 0, 0, 255]), -16_776_961);
        assert_eq!(signed_rgba([0, 255, 0, 255]), 16_711_935);
        assert_eq!(signed_rgba([255, 255, 255, 255]), -1);
    }

    #[test]
    fn frame_metadata_splits_into_plane_attributes_and_a_map() {
        let m: FrameMetadata = serde_json::from_str(
            r#"{"delta_t": 1.5, "exposure_time": 0.01, "position_x": 3, "position_z": "high",
                "camera": "cam\u0001a", "gain": 2}"#,
        )
        .unwrap();
        let meta = PlaneMeta::from_frame(&m).unwrap();
        assert_eq!(meta.delta_t, Some(1.5));
        assert_eq!(meta.exposure_time, Some(0.01));
        assert_eq!(meta.position, [Some(3.0), None, None]);
        assert_eq!(
            meta.extra,
            [
                ("position_z".to_owned(), "high".to_owned()),
                ("camera".to_owned(), "cama".to_owned()),
                ("gain".to_owned(), "2".to_owned())
            ]
        );
        assert_eq!(PlaneMeta::from_frame(&FrameMetadata::new()), None);
    }
}
