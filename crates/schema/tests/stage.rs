//! Stage coordinates of positions: finite numbers only (NaN and infinities, which the
//! Rust API can hold though JSON cannot, are refused naming the field and the value),
//! read from JSON and kept through the normalized settings.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ome_writers_schema::{
    AcquisitionSettings, DType, Dimension, Position, Schema, SchemaError, StageAxis,
};

fn settings(positions: Vec<Position>) -> AcquisitionSettings {
    AcquisitionSettings::builder("s.ome.zarr", DType::U8)
        .dimension(Dimension::positions(positions))
        .dimension(Dimension::z(2))
        .dimension(Dimension::y(4))
        .dimension(Dimension::x(4))
        .settings()
}

fn at(name: &str, x: Option<f64>, y: Option<f64>, z: Option<f64>) -> Position {
    Position {
        x_coord: x,
        y_coord: y,
        z_coord: z,
        ..Position::named(name)
    }
}

#[test]
fn non_finite_coordinates_are_refused_naming_the_field_and_the_value() {
    let cases = [
        (at("b", Some(f64::NAN), None, None), "x_coord", "NaN"),
        (at("b", None, Some(f64::INFINITY), None), "y_coord", "inf"),
        (
            at("b", None, None, Some(f64::NEG_INFINITY)),
            "z_coord",
            "-inf",
        ),
    ];
    for (bad, field, value) in cases {
        let s = settings(vec![at("a", Some(1.0), Some(2.0), Some(3.0)), bad]);
        match s.validate() {
            Err(SchemaError::Invalid {
                field: f,
                value: v,
                reason,
            }) => {
                assert_eq!(f, format!("dimensions[0].coords[1].{field}"));
                assert_eq!(v, value);
                assert!(reason.contains("finite"), "{reason}");
            }
            other => panic!("{field}: {other:?}"),
        }
    }
}

#[test]
fn coordinates_are_read_from_json_and_survive_normalization() {
    let schema = Schema::from_json(
        r#"{"root_path": "s.ome.tiff", "dtype": "uint8", "dimensions": [
            {"name": "p", "type": "position", "coords": [
                {"name": "a", "x_coord": -1.5, "y_coord": 2e3, "z_coord": 0},
                {"name": "b", "y_coord": 7}]},
            {"name": "y", "count": 4}, {"name": "x", "count": 4}]}"#,
    )
    .unwrap();
    let [a, b] = schema.positions() else {
        panic!("two positions")
    };
    let coords = |p: &Position| StageAxis::ALL.map(|axis| axis.coord(p));
    assert_eq!(coords(a), [Some(-1.5), Some(2000.0), Some(0.0)]);
    assert_eq!(coords(b), [None, Some(7.0), None]);
    let again = Schema::from_json(&schema.settings().to_json()).unwrap();
    assert_eq!(again, schema);
    // Too large for an f64: a parse error, not infinity.
    let huge = Schema::from_json(
        r#"{"root_path": "s.ome.tiff", "dtype": "uint8", "dimensions": [
            {"name": "p", "type": "position", "coords": [{"name": "a", "x_coord": 1e400}]},
            {"name": "y", "count": 4}, {"name": "x", "count": 4}]}"#,
    );
    assert!(huge.is_err(), "{huge:?}");
}
