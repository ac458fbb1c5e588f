//! Every case is written through the router and the backend, then read back in Rust,
//! with tifffile + the OME XSD, and with Bio-Formats (the last two when available; see
//! `support/mod.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::{Value, json};
use support::{Case, End, Written};

fn dims(spec: &[(&str, Option<u64>)]) -> Vec<Value> {
    spec.iter()
        .map(|(name, count)| json!({"name": name, "count": count}))
        .collect()
}

fn settings(dtype: &str, spec: &[(&str, Option<u64>)]) -> Value {
    json!({"dtype": dtype, "dimensions": dims(spec)})
}

fn with(mut v: Value, key: &str, value: Value) -> Value {
    v[key] = value;
    v
}

const YX: [(&str, Option<u64>); 2] = [("y", Some(6)), ("x", Some(5))];

fn spec(index: &[(&'static str, Option<u64>)]) -> Vec<(&'static str, Option<u64>)> {
    index.iter().chain(YX.iter()).copied().collect()
}

fn multi(format: &str) -> Value {
    json!({"name": "ome-tiff", "multi_file_metadata": format})
}

fn positions() -> Value {
    json!({"name": "p", "type": "position", "coords": [
        {"name": "A1-0", "x_coord": 10.5, "y_coord": -3.0, "z_coord": 1.0},
        {"name": "B2-0", "x_coord": 20.0, "y_coord": 4.0}
    ]})
}

/// Channels with every field, and physical units on every axis.
fn rich_5d(dtype: &str) -> Value {
    json!({"dtype": dtype, "dimensions": [
        {"name": "t", "count": 2, "unit": "ms", "scale": 250.0},
        {"name": "c", "coords": [
            {"name": "DAPI", "excitation_wavelength_nm": 405, "emission_wavelength_nm": 450,
             "fluorophore": "DAPI", "color": "blue"},
            {"name": "GFP & <friends>", "color": [0, 255, 0]}
        ]},
        {"name": "z", "count": 3, "unit": "um", "scale": 2.0},
        {"name": "y", "count": 6, "unit": "um", "scale": 0.325},
        {"name": "x", "count": 5, "unit": "nm", "scale": 650.0}
    ]})
}

fn c_with_units() -> Value {
    let mut v = rich_5d("uint8");
    let d = v["dimensions"].as_array_mut().unwrap();
    d.remove(2); // z
    d.remove(0); // t
    v
}

// A table of one-line cases: long, but each line reads alone.
#[allow(clippy::too_many_lines)]
fn cases() -> Vec<Case> {
    let plate = json!({
        "dtype": "uint16",
        "plate": {"row_names": ["A", "B"], "column_names": ["1", "2", "3"], "name": "my plate"},
        "format": multi("redundant"),
        "dimensions": [
            {"name": "p", "type": "position", "coords": [
                {"name": "f0", "plate_row": "A", "plate_column": "1", "x_coord": 1.0, "y_coord": 2.0},
                {"name": "f1", "plate_row": "A", "plate_column": "1"},
                {"name": "f0", "plate_row": "B", "plate_column": "3"}
            ]},
            {"name": "c", "count": 2},
            {"name": "y", "count": 6}, {"name": "x", "count": 5}
        ]
    });
    let pos_first = |format: &str| {
        json!({"dtype": "uint16", "format": multi(format), "dimensions": [
            positions(),
            {"name": "t", "count": 2}, {"name": "c", "count": 2},
            {"name": "y", "count": 6}, {"name": "x", "count": 5}
        ]})
    };
    vec![
        Case::new("yx_only", "", settings("uint8", &YX)),
        Case::new("c_uint8_units", "C", c_with_units()).metadata(),
        Case::new("tczyx_uint16", "TCZ", rich_5d("uint16")).metadata(),
        Case::new(
            "tzc_acquisition_order",
            "TZC",
            settings(
                "uint16",
                &spec(&[("t", Some(2)), ("z", Some(3)), ("c", Some(2))]),
            ),
        ),
        Case::new(
            "czt_acquisition_order",
            "CZT",
            settings(
                "uint8",
                &spec(&[("c", Some(2)), ("z", Some(2)), ("t", Some(3))]),
            ),
        ),
        Case::new("float32", "TCZ", rich_5d("float32")),
        Case::new(
            "float64",
            "TZ",
            settings("float64", &spec(&[("t", Some(2)), ("z", Some(2))])),
        )
        .bioformats_pixels(),
        Case::new("int8", "C", settings("int8", &spec(&[("c", Some(3))]))).bioformats_pixels(),
        Case::new("int16", "Z", settings("int16", &spec(&[("z", Some(3))]))),
        Case::new("int32", "T", settings("int32", &spec(&[("t", Some(3))]))),
        Case::new("uint32", "T", settings("uint32", &spec(&[("t", Some(3))]))),
        Case::new(
            "lzw",
            "TC",
            with(
                settings("uint16", &spec(&[("t", Some(3)), ("c", Some(2))])),
                "compression",
                json!("lzw"),
            ),
        )
        .bioformats_pixels(),
        Case::new(
            "deflate",
            "TC",
            with(
                with(
                    settings("float32", &spec(&[("t", Some(3)), ("c", Some(2))])),
                    "compression",
                    json!("deflate"),
                ),
                "compression_level",
                json!(9),
            ),
        )
        .bioformats_pixels(),
        Case::new("positions_redundant", "TC", pos_first("redundant")).metadata(),
        Case::new("positions_master_tiff", "TC", pos_first("master-tiff")).metadata(),
        Case::new("positions_companion", "TC", pos_first("companion-file")).metadata(),
        Case::new(
            "t_then_p_interleaved",
            "TZ",
            json!({"dtype": "uint8", "dimensions": [
                {"name": "t", "count": 3}, positions(), {"name": "z", "count": 2},
                {"name": "y", "count": 6}, {"name": "x", "count": 5}
            ]}),
        ),
        Case::new("plate", "C", plate).metadata(),
        Case::new(
            "unbounded_t_c_z",
            "TCZ",
            settings(
                "uint16",
                &spec(&[("t", None), ("c", Some(2)), ("z", Some(2))]),
            ),
        )
        .frames(11),
        Case::new(
            "partial_bounded",
            "TC",
            settings("uint8", &spec(&[("t", Some(5)), ("c", Some(3))])),
        )
        .frames(7),
        Case::new(
            "skip_inside_and_at_end",
            "TC",
            settings("uint8", &spec(&[("t", Some(4)), ("c", Some(3))])),
        )
        .frames(9)
        .skip(&[0, 4, 7, 8])
        .bioformats_pixels(),
        Case::new(
            "skip_positions",
            "T",
            json!({"dtype": "uint16", "dimensions": [
                {"name": "t", "count": 3}, positions(),
                {"name": "y", "count": 6}, {"name": "x", "count": 5}
            ]}),
        )
        .skip(&[1, 2, 3]),
        Case::new(
            "partial_positions_outermost",
            "T",
            json!({"dtype": "uint16", "dimensions": [
                positions(), {"name": "t", "count": 4},
                {"name": "y", "count": 6}, {"name": "x", "count": 5}
            ]}),
        )
        .frames(6),
        Case::new(
            "empty_stream",
            "TC",
            settings("uint8", &spec(&[("t", None), ("c", Some(2))])),
        )
        .frames(0),
        Case::new(
            "length_one_axis_moved",
            "TC",
            with(
                settings("uint8", &spec(&[("t", Some(3)), ("c", Some(1))])),
                "storage_order",
                json!(["t", "c", "y", "x"]),
            ),
        ),
        Case::new(
            "tzc_stored_tcz",
            "TCZ",
            with(
                settings(
                    "uint16",
                    &spec(&[("t", Some(2)), ("z", Some(3)), ("c", Some(2))]),
                ),
                "storage_order",
                json!(["t", "c", "z", "y", "x"]),
            ),
        )
        .metadata()
        .bioformats_pixels(),
        Case::new(
            "transposed_unbounded_partial",
            "TCZ",
            with(
                settings(
                    "uint8",
                    &spec(&[("t", None), ("z", Some(2)), ("c", Some(3))]),
                ),
                "storage_order",
                json!(["t", "c", "z", "y", "x"]),
            ),
        )
        .frames(10)
        .skip(&[3])
        .bioformats_pixels(),
        Case::new(
            "growth_axis_not_first_in_storage",
            "TZC",
            with(
                settings(
                    "uint16",
                    &spec(&[("c", Some(3)), ("t", Some(2)), ("z", Some(2))]),
                ),
                "storage_order",
                json!(["t", "z", "c", "y", "x"]),
            ),
        )
        .frames(9),
        Case::new(
            "transposed_positions_companion",
            "CT",
            json!({"dtype": "uint16", "format": multi("companion-file"),
            "storage_order": ["p", "c", "t", "y", "x"],
            "dimensions": [
                {"name": "t", "count": 3}, positions(), {"name": "c", "count": 2},
                {"name": "y", "count": 6}, {"name": "x", "count": 5}
            ]}),
        )
        .metadata(),
        Case::new(
            "dropped_without_finalize",
            "TCZ",
            settings(
                "uint16",
                &spec(&[("t", Some(4)), ("c", Some(2)), ("z", Some(2))]),
            ),
        )
        .frames(10)
        .end(End::Drop),
        Case::new(
            "crash_after_two_timepoints",
            "TCZ",
            settings(
                "uint16",
                &spec(&[("t", Some(4)), ("c", Some(2)), ("z", Some(2))]),
            ),
        )
        .frames(10)
        .metadata()
        .end(End::Crash),
        Case::new(
            "crash_inside_first_timepoint",
            "TCZ",
            settings(
                "uint16",
                &spec(&[("t", None), ("c", Some(2)), ("z", Some(3))]),
            ),
        )
        .frames(5)
        .end(End::Crash),
        Case::new(
            "crash_transposed",
            "TCZ",
            with(
                settings(
                    "uint8",
                    &spec(&[("t", Some(3)), ("z", Some(2)), ("c", Some(3))]),
                ),
                "storage_order",
                json!(["t", "c", "z", "y", "x"]),
            ),
        )
        .frames(14)
        .end(End::Crash),
        Case::new(
            "crash_multi_file_companion",
            "TC",
            pos_first("companion-file"),
        )
        .frames(7)
        .end(End::Crash),
    ]
}

#[test]
fn every_case_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut written: Vec<Written> = Vec::new();
    for case in cases() {
        let case_dir = dir.path().join(case.name);
        std::fs::create_dir(&case_dir).unwrap();
        let w = support::write(&case, &case_dir);
        support::check_rust(&w);
        written.push(w);
    }
    support::check_python(&written);
    support::check_bioformats(&written);
    support::keep_if_asked(dir);
}
