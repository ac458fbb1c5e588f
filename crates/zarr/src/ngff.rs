//! OME-Zarr 0.5 (NGFF) metadata as typed structs, built from a [`Schema`].

use ome_writers_schema::{DType, DimensionType, Position, Schema};
use serde::Serialize;

use crate::global::GlobalAttrs;

/// NGFF version written.
pub(crate) const NGFF_VERSION: &str = "0.5";

/// A Zarr v3 group document (`zarr.json`).
#[derive(Serialize)]
pub(crate) struct GroupDoc<A: Serialize> {
    pub(crate) zarr_format: u8,
    pub(crate) node_type: &'static str,
    pub(crate) attributes: A,
}

impl<A: Serialize> GroupDoc<A> {
    pub(crate) fn new(attributes: A) -> Self {
        Self {
            zarr_format: 3,
            node_type: "group",
            attributes,
        }
    }
}

/// `attributes` of an image group.
#[derive(Serialize)]
pub(crate) struct ImageAttrs<'a> {
    pub(crate) ome: &'a ImageMeta,
    pub(crate) ome_writers: WriterAttrs<'a>,
    /// The global metadata, when this image is the root group.
    #[serde(flatten)]
    pub(crate) global: GlobalAttrs<'a>,
}

/// `attributes.ome` of an image group.
#[derive(Serialize, Clone, Debug)]
pub(crate) struct ImageMeta {
    pub(crate) version: &'static str,
    pub(crate) multiscales: Vec<Multiscale>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) omero: Option<Omero>,
}

#[derive(Serialize, Clone, Debug)]
pub(crate) struct Multiscale {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    pub(crate) axes: Vec<Axis>,
    pub(crate) datasets: Vec<Dataset>,
}

#[derive(Serialize, Clone, Debug)]
pub(crate) struct Axis {
    pub(crate) name: String,
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) unit: Option<&'static str>,
}

#[derive(Serialize, Clone, Debug)]
pub(crate) struct Dataset {
    pub(crate) path: String,
    #[serde(rename = "coordinateTransformations")]
    pub(crate) transforms: Vec<Transform>,
}

#[derive(Serialize, Clone, Debug)]
#[serde(tag = "type", rename_all = "lowercase")]
pub(crate) enum Transform {
    Scale { scale: Vec<f64> },
    Translation { translation: Vec<f64> },
}

#[derive(Serialize, Clone, Debug)]
pub(crate) struct Omero {
    pub(crate) channels: Vec<OmeroChannel>,
}

#[derive(Serialize, Clone, Debug)]
pub(crate) struct OmeroChannel {
    pub(crate) label: String,
    pub(crate) color: String,
    pub(crate) active: bool,
    pub(crate) coefficient: f64,
    pub(crate) family: &'static str,
    pub(crate) inverted: bool,
    pub(crate) window: Window,
}

#[derive(Serialize, Clone, Debug)]
pub(crate) struct Window {
    pub(crate) min: f64,
    pub(crate) max: f64,
    pub(crate) start: f64,
    pub(crate) end: f64,
}

/// `attributes.ome_writers`: our own record of the acquisition.
#[derive(Serialize)]
pub(crate) struct WriterAttrs<'a> {
    pub(crate) version: &'static str,
    /// Frames written to this image so far.
    pub(crate) frames_written: u64,
    /// `"acquiring"` until finish, then `"complete"` or `"partial"`.
    pub(crate) status: &'a str,
    /// The normalized settings this dataset was written with: only in the root group
    /// (here when the image is the root; else in [`RootWriterAttrs`]), so that the
    /// metadata stays O(1) per position.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) settings: Option<&'a serde_json::Value>,
    /// One entry per frame that came with metadata, with its `storage_index` (at
    /// finish; during acquisition they are in the journal file named below).
    pub(crate) frame_metadata: &'a [serde_json::Value],
    /// Frames that came with metadata.
    pub(crate) frame_metadata_count: u64,
    /// During acquisition: the JSON-lines file in this group holding the per-frame
    /// metadata written so far (durable at each durability point).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) frame_metadata_journal: Option<&'static str>,
}

/// `attributes` of a root group that is not an image (bioformats2raw, plate): the
/// NGFF metadata and our ownership marker with the settings, stored once.
#[derive(Serialize)]
pub(crate) struct RootAttrs<'a, T: Serialize> {
    pub(crate) ome: T,
    pub(crate) ome_writers: RootWriterAttrs<'a>,
    /// The global metadata, one attribute per namespace.
    #[serde(flatten)]
    pub(crate) global: GlobalAttrs<'a>,
}

/// `attributes.ome_writers` of the root group when it is not an image: which version
/// of this library wrote the dataset, and the normalized settings (the image groups
/// below hold only their own progress).
#[derive(Serialize)]
pub(crate) struct RootWriterAttrs<'a> {
    pub(crate) version: &'static str,
    pub(crate) settings: &'a serde_json::Value,
}

/// `attributes` of an OME series group, plate row or well.
#[derive(Serialize)]
pub(crate) struct OmeOnly<T: Serialize> {
    pub(crate) ome: T,
}

#[derive(Serialize)]
pub(crate) struct Bf2RawRoot {
    pub(crate) version: &'static str,
    #[serde(rename = "bioformats2raw.layout")]
    pub(crate) layout: u8,
}

#[derive(Serialize)]
pub(crate) struct SeriesMeta<'a> {
    pub(crate) version: &'static str,
    pub(crate) series: &'a [String],
}

#[derive(Serialize)]
pub(crate) struct PlateMeta {
    pub(crate) version: &'static str,
    pub(crate) plate: PlateDef,
}

#[derive(Serialize)]
pub(crate) struct PlateDef {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    pub(crate) rows: Vec<Named>,
    pub(crate) columns: Vec<Named>,
    pub(crate) wells: Vec<PlateWell>,
    pub(crate) field_count: usize,
}

#[derive(Serialize)]
pub(crate) struct Named {
    pub(crate) name: String,
}

#[derive(Serialize)]
pub(crate) struct PlateWell {
    pub(crate) path: String,
    #[serde(rename = "rowIndex")]
    pub(crate) row_index: usize,
    #[serde(rename = "columnIndex")]
    pub(crate) column_index: usize,
}

#[derive(Serialize)]
pub(crate) struct WellMeta {
    pub(crate) version: &'static str,
    pub(crate) well: WellDef,
}

#[derive(Serialize)]
pub(crate) struct WellDef {
    pub(crate) images: Vec<WellImage>,
}

#[derive(Serialize)]
pub(crate) struct WellImage {
    pub(crate) path: String,
}

fn axis_type(kind: DimensionType) -> &'static str {
    match kind {
        DimensionType::Space => "space",
        DimensionType::Time => "time",
        DimensionType::Channel => "channel",
        DimensionType::Position | DimensionType::Other => "other",
    }
}

fn window(dtype: DType) -> Window {
    // Integer types: the full range (as Python does). Floats: the data range is unknown
    // before acquisition, so a unit window (Python fails outright here).
    let (min, max) = if dtype.is_float() {
        (0.0, 1.0)
    } else {
        dtype.range()
    };
    Window {
        min,
        max,
        start: min,
        end: max,
    }
}

/// The image metadata of the image at `position`, named `name`: what every position
/// of `schema` shares, and its stage position as a translation.
pub(crate) fn image_meta(
    schema: &Schema,
    position: Option<&Position>,
    name: Option<String>,
) -> ImageMeta {
    let axes = schema
        .array_dims()
        .map(|d| Axis {
            name: d.name().to_owned(),
            kind: axis_type(d.kind()),
            unit: d.unit().map(ome_writers_schema::Unit::ngff_name),
        })
        .collect();
    let scale: Vec<f64> = schema
        .array_dims()
        .map(|d| d.scale().unwrap_or(1.0))
        .collect();
    let translation = crate::stage::translation(schema, position);
    let omero = schema.channels().map(|channels| Omero {
        channels: channels
            .iter()
            .map(|c| OmeroChannel {
                label: c.name.clone(),
                color: c
                    .color
                    .as_ref()
                    .and_then(ome_writers_schema::Color::hex_rgb)
                    .unwrap_or_else(|| "FFFFFF".to_owned()),
                active: true,
                coefficient: 1.0,
                family: "linear",
                inverted: false,
                window: window(schema.dtype()),
            })
            .collect(),
    });
    ImageMeta {
        version: NGFF_VERSION,
        multiscales: vec![Multiscale {
            name,
            axes,
            datasets: crate::pyramid::datasets(schema, &scale, translation.as_deref()),
        }],
        omero,
    }
}
