//! Settings built in Rust, without JSON: [`AcquisitionSettings::builder`] and the
//! dimension helpers ([`Dimension::time`], [`Dimension::channels`], [`Dimension::z`],
//! [`Dimension::y`], [`Dimension::x`], [`Dimension::positions`], ...). What they build
//! is the same plain data a settings file holds, and [`SettingsBuilder::build`] checks
//! it with the same [`AcquisitionSettings::validate`].
//!
//! ```
//! use ome_writers_schema::{
//!     AcquisitionSettings, BackendKind, Channel, Compression, DType, Dimension,
//! };
//!
//! let schema = AcquisitionSettings::builder("out/run.ome.zarr", DType::U16)
//!     .dimension(Dimension::time(10).with_unit("s").with_scale(2.0))
//!     .dimension(Dimension::channels([Channel::named("DAPI").with_color("blue"), "GFP".into()]))
//!     .dimension(Dimension::z(5).with_unit("um").with_scale(1.5).with_chunk(5))
//!     .dimension(Dimension::y(512).with_unit("um").with_scale(0.325).with_chunk(256))
//!     .dimension(Dimension::x(512).with_unit("um").with_scale(0.325).with_chunk(256))
//!     .compression(Compression::Zstd)
//!     .compression_level(1)
//!     .build()?;
//! assert_eq!(schema.backend(), BackendKind::Zarr);
//! assert_eq!(schema.num_frames(), Some(100));
//! assert_eq!(schema.chunk_shape(), vec![1, 1, 5, 256, 256]);
//! # Ok::<(), ome_writers_schema::SchemaError>(())
//! ```

use crate::dtype::DType;
use crate::error::SchemaError;
use crate::schema::Schema;
use crate::settings::{
    AcquisitionSettings, Channel, Color, Compression, Coord, Dimension, DimensionType, FormatSpec,
    NamedStorageOrder, OmeTiffFormat, OmeZarrFormat, OmeroLocalFormat, Plate, Position,
    StorageOrder,
};

/// Builds [`AcquisitionSettings`] field by field; [`build`](Self::build) validates them
/// into a [`Schema`]. Fields left unset keep the settings file's defaults (format
/// `auto`, no compression, storage order `ome`, no plate, no overwrite).
#[derive(Clone, Debug)]
#[must_use]
pub struct SettingsBuilder {
    settings: AcquisitionSettings,
}

impl AcquisitionSettings {
    /// A builder for settings writing `dtype` pixels to `root_path` (a path ending in
    /// `.ome.zarr` or `.ome.tiff` picks the format; an `omero://` address needs an
    /// `omero_local` [`format`](SettingsBuilder::format)).
    pub fn builder(root_path: impl Into<String>, dtype: DType) -> SettingsBuilder {
        SettingsBuilder {
            settings: Self::new(root_path, Vec::new(), dtype),
        }
    }
}

impl SettingsBuilder {
    /// Append a dimension (acquisition order, outermost first; the last two are the
    /// frame, Y then X).
    pub fn dimension(mut self, dimension: Dimension) -> Self {
        self.settings.dimensions.push(dimension);
        self
    }

    /// Append several dimensions.
    pub fn dimensions(mut self, dimensions: impl IntoIterator<Item = Dimension>) -> Self {
        self.settings.dimensions.extend(dimensions);
        self
    }

    /// The output format: a name (`"ome-tiff"`, `"tensorstore"`, ...) or a format
    /// object ([`OmeZarrFormat`], [`OmeTiffFormat`], [`OmeroLocalFormat`]).
    pub fn format(mut self, format: impl Into<FormatSpec>) -> Self {
        self.settings.format = format.into();
        self
    }

    /// The compression codec.
    pub fn compression(mut self, compression: Compression) -> Self {
        self.settings.compression = Some(compression);
        self
    }

    /// The codec level (zstd -7..=22, blosc and deflate 0..=9).
    pub fn compression_level(mut self, level: i32) -> Self {
        self.settings.compression_level = Some(level);
        self
    }

    /// The order of the non-frame axes on disk: [`NamedStorageOrder::Ome`] (the
    /// default), [`NamedStorageOrder::Acquisition`], or [`StorageOrder::Explicit`].
    pub fn storage_order(mut self, order: impl Into<StorageOrder>) -> Self {
        self.settings.storage_order = order.into();
        self
    }

    /// A plate layout (the position dimension's positions name their wells).
    pub fn plate(mut self, plate: Plate) -> Self {
        self.settings.plate = Some(plate);
        self
    }

    /// A resolution pyramid (`multiscale`, ours).
    pub fn multiscale(mut self, multiscale: crate::Multiscale) -> Self {
        self.settings.multiscale = Some(multiscale);
        self
    }

    /// Replace an existing dataset at the output path.
    pub fn overwrite(mut self, overwrite: bool) -> Self {
        self.settings.overwrite = overwrite;
        self
    }

    /// The settings as built, not validated (e.g. to write them as JSON).
    pub fn settings(self) -> AcquisitionSettings {
        self.settings
    }

    /// Validate the settings: every rule of a settings file applies.
    pub fn build(self) -> Result<Schema, SchemaError> {
        self.settings.validate()
    }
}

/// The dimension helpers: a conventional name and an explicit type, every other field
/// unset; the `with_*` methods set the rest.
impl Dimension {
    fn typed(name: &str, count: Option<u64>, kind: DimensionType) -> Self {
        Self {
            kind: Some(kind),
            ..Self::new(name, count)
        }
    }

    /// Time `t` with `count` points, or unbounded (`None`, first dimension only).
    pub fn time(count: impl Into<Option<u64>>) -> Self {
        Self::typed("t", count.into(), DimensionType::Time)
    }

    /// Channels `c`, named (or given as [`Channel`]s, with colours and wavelengths).
    pub fn channels<C: Into<Channel>>(channels: impl IntoIterator<Item = C>) -> Self {
        let coords: Vec<Coord> = channels
            .into_iter()
            .map(|c| Coord::Channel(c.into()))
            .collect();
        Self {
            coords: Some(coords),
            ..Self::typed("c", None, DimensionType::Channel)
        }
    }

    /// Channels `c`, `count` of them, named `Channel:0`, `Channel:1`, ...
    pub fn channel_count(count: u64) -> Self {
        Self::typed("c", Some(count), DimensionType::Channel)
    }

    /// Space `z` with `count` planes.
    pub fn z(count: u64) -> Self {
        Self::typed("z", Some(count), DimensionType::Space)
    }

    /// Space `y`, the frame's height in pixels.
    pub fn y(count: u64) -> Self {
        Self::typed("y", Some(count), DimensionType::Space)
    }

    /// Space `x`, the frame's width in pixels.
    pub fn x(count: u64) -> Self {
        Self::typed("x", Some(count), DimensionType::Space)
    }

    /// Stage positions `p`, named (or given as [`Position`]s, with wells and grid
    /// cells).
    pub fn positions<P: Into<Position>>(positions: impl IntoIterator<Item = P>) -> Self {
        let coords: Vec<Coord> = positions
            .into_iter()
            .map(|p| Coord::Position(p.into()))
            .collect();
        Self {
            coords: Some(coords),
            ..Self::typed("p", None, DimensionType::Position)
        }
    }

    /// Stage positions `p`, `count` of them, named `0`, `1`, ...
    pub fn position_count(count: u64) -> Self {
        Self::typed("p", Some(count), DimensionType::Position)
    }

    /// Another name.
    #[must_use]
    pub fn with_name(self, name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..self
        }
    }

    /// The chunk length along this axis (zarr).
    #[must_use]
    pub fn with_chunk(self, chunk_size: u64) -> Self {
        Self {
            chunk_size: Some(chunk_size),
            ..self
        }
    }

    /// The shard length along this axis, in chunks (zarr).
    #[must_use]
    pub fn with_shard_chunks(self, chunks: u64) -> Self {
        Self {
            shard_size_chunks: Some(chunks),
            ..self
        }
    }

    /// The physical unit: an NGFF name (`micrometer`, `second`) or an OME symbol
    /// (`um`, `µm`, `ms`).
    #[must_use]
    pub fn with_unit(self, unit: impl Into<String>) -> Self {
        Self {
            unit: Some(unit.into()),
            ..self
        }
    }

    /// The physical size of one element (pixel size, time interval).
    #[must_use]
    pub fn with_scale(self, scale: f64) -> Self {
        Self {
            scale: Some(scale),
            ..self
        }
    }

    /// The physical coordinate of the first element.
    #[must_use]
    pub fn with_translation(self, translation: f64) -> Self {
        Self {
            translation: Some(translation),
            ..self
        }
    }
}

impl From<&str> for Channel {
    fn from(name: &str) -> Self {
        Self::named(name)
    }
}

impl From<String> for Channel {
    fn from(name: String) -> Self {
        Self::named(name)
    }
}

impl Channel {
    /// The same channel with a display colour (`"blue"`, `"#00ff00"`, ...).
    #[must_use]
    pub fn with_color(self, color: impl Into<Color>) -> Self {
        Self {
            color: Some(color.into()),
            ..self
        }
    }
}

impl From<&str> for Color {
    fn from(text: &str) -> Self {
        Self::Text(text.to_owned())
    }
}

impl From<&str> for Position {
    fn from(name: &str) -> Self {
        Self::named(name)
    }
}

impl From<String> for Position {
    fn from(name: String) -> Self {
        Self::named(name)
    }
}

impl Position {
    /// A position named `name` in the well at `row`, `column` of a plate.
    pub fn in_well(
        name: impl Into<String>,
        row: impl Into<String>,
        column: impl Into<String>,
    ) -> Self {
        Self {
            plate_row: Some(row.into()),
            plate_column: Some(column.into()),
            ..Self::named(name)
        }
    }
}

impl From<&str> for FormatSpec {
    fn from(name: &str) -> Self {
        Self::Named(name.to_owned())
    }
}

impl From<OmeZarrFormat> for FormatSpec {
    fn from(format: OmeZarrFormat) -> Self {
        Self::OmeZarr(format)
    }
}

impl From<OmeTiffFormat> for FormatSpec {
    fn from(format: OmeTiffFormat) -> Self {
        Self::OmeTiff(format)
    }
}

impl From<OmeroLocalFormat> for FormatSpec {
    fn from(format: OmeroLocalFormat) -> Self {
        Self::OmeroLocal(format)
    }
}

impl From<NamedStorageOrder> for StorageOrder {
    fn from(order: NamedStorageOrder) -> Self {
        Self::Named(order)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::MultiFileMetadata;
    use serde_json::{Value, json};

    /// What the builder makes validates to the same schema as `json` does.
    fn check(built: SettingsBuilder, json: &Value) {
        let expected = Schema::from_json(&json.to_string());
        assert_eq!(built.build(), expected, "{json}");
    }

    fn frame(h: u64, w: u64) -> [Dimension; 2] {
        [Dimension::y(h), Dimension::x(w)]
    }

    #[test]
    fn built_settings_equal_their_json() {
        let b = |root: &str| AcquisitionSettings::builder(root, DType::U16);
        check(
            b("a.ome.zarr")
                .dimension(Dimension::time(3))
                .dimensions(frame(4, 4)),
            &json!({"root_path": "a.ome.zarr", "dtype": "uint16", "dimensions": [{"name": "t", "count": 3, "type": "time"}, {"name": "y", "count": 4}, {"name": "x", "count": 4}]}),
        );
        check(
            b("a.ome.zarr")
                .dimension(Dimension::time(None))
                .dimensions(frame(4, 4)),
            &json!({"root_path": "a.ome.zarr", "dtype": "uint16", "dimensions": [{"name": "t", "count": null}, {"name": "y", "count": 4}, {"name": "x", "count": 4}]}),
        );
        check(
            b("a.ome.zarr")
                .dimension(Dimension::channels(["DAPI", "GFP"]))
                .dimensions(frame(4, 4))
                .compression(Compression::BloscZstd)
                .compression_level(5),
            &json!({"root_path": "a.ome.zarr", "dtype": "uint16", "compression": "blosc-zstd", "compression_level": 5, "dimensions": [{"name": "c", "type": "channel", "coords": [{"name": "DAPI"}, {"name": "GFP"}]}, {"name": "y", "count": 4}, {"name": "x", "count": 4}]}),
        );
        check(
            b("a.ome.zarr")
                .dimension(Dimension::channels([
                    Channel::named("DAPI").with_color("blue"),
                    "GFP".into(),
                ]))
                .dimensions(frame(4, 4)),
            &json!({"root_path": "a.ome.zarr", "dtype": "uint16", "dimensions": [{"name": "c", "coords": [{"name": "DAPI", "color": "blue"}, {"name": "GFP"}]}, {"name": "y", "count": 4}, {"name": "x", "count": 4}]}),
        );
        check(
            b("a.ome.zarr")
                .dimension(
                    Dimension::z(9)
                        .with_chunk(3)
                        .with_shard_chunks(3)
                        .with_unit("um")
                        .with_scale(0.5)
                        .with_translation(1.0),
                )
                .dimensions(frame(4, 4)),
            &json!({"root_path": "a.ome.zarr", "dtype": "uint16", "dimensions": [{"name": "z", "count": 9, "chunk_size": 3, "shard_size_chunks": 3, "unit": "um", "scale": 0.5, "translation": 1.0}, {"name": "y", "count": 4}, {"name": "x", "count": 4}]}),
        );
        check(
            b("a.ome.tiff")
                .dimension(Dimension::position_count(2))
                .dimension(Dimension::z(2).with_name("focus"))
                .dimensions(frame(4, 4))
                .storage_order(NamedStorageOrder::Acquisition)
                .overwrite(true),
            &json!({"root_path": "a.ome.tiff", "dtype": "uint16", "overwrite": true, "storage_order": "acquisition", "dimensions": [{"name": "p", "count": 2, "type": "position"}, {"name": "focus", "count": 2, "type": "space"}, {"name": "y", "count": 4}, {"name": "x", "count": 4}]}),
        );
        check(
            b("a")
                .format(OmeTiffFormat {
                    multi_file_metadata: MultiFileMetadata::Companion,
                    ..OmeTiffFormat::default()
                })
                .dimension(Dimension::positions(["a", "b"]))
                .dimensions(frame(4, 4)),
            &json!({"root_path": "a", "dtype": "uint16", "format": {"name": "ome-tiff", "multi_file_metadata": "companion-file"}, "dimensions": [{"name": "p", "coords": ["a", "b"]}, {"name": "y", "count": 4}, {"name": "x", "count": 4}]}),
        );
        check(
            b("a.ome.zarr")
                .dimension(Dimension::positions([
                    Position::in_well("f0", "A", "1"),
                    Position::in_well("f0", "B", "2"),
                ]))
                .dimensions(frame(4, 4))
                .plate(Plate {
                    row_names: vec!["A".into(), "B".into()],
                    column_names: vec!["1".into(), "2".into()],
                    name: None,
                }),
            &json!({"root_path": "a.ome.zarr", "dtype": "uint16", "plate": {"row_names": ["A", "B"], "column_names": ["1", "2"]}, "dimensions": [{"name": "p", "coords": [{"name": "f0", "plate_row": "A", "plate_column": "1"}, {"name": "f0", "plate_row": "B", "plate_column": "2"}]}, {"name": "y", "count": 4}, {"name": "x", "count": 4}]}),
        );
    }

    #[test]
    fn build_applies_every_rule() {
        let built = AcquisitionSettings::builder("a.ome.tiff", DType::U8)
            .dimension(Dimension::time(2))
            .dimensions(frame(4, 4))
            .compression(Compression::Zstd)
            .build();
        assert!(
            matches!(&built, Err(SchemaError::Invalid { field, .. }) if field == "compression"),
            "{built:?}"
        );
    }
}
