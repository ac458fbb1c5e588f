//! Validation rules added for hostile or mistaken settings: output paths and suffixes,
//! names inside a dataset, codecs per format, chunk clamping, limits naming their
//! dimension, a byte order mark. Each case is one line: settings merged over a base,
//! then the field the error must name and a fragment of its message.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ome_writers_schema::Schema;
use serde_json::{Value, json};

/// A valid zarr acquisition: t=2, c=2, 4x4 frames.
fn base() -> Value {
    json!({
        "root_path": "r.ome.zarr", "dtype": "uint16",
        "dimensions": [{"name": "t", "count": 2}, {"name": "c", "count": 2},
                       {"name": "y", "count": 4}, {"name": "x", "count": 4}]
    })
}

#[test]
fn a_byte_order_mark_is_skipped() {
    let text = format!("\u{feff}{}", base());
    assert!(Schema::from_json(&text).is_ok());
    let settings = ome_writers_schema::AcquisitionSettings::from_json(&text).unwrap();
    assert_eq!(settings.root_path, "r.ome.zarr");
    // Only one, and only at the start.
    assert!(Schema::from_json(&format!("\u{feff}\u{feff}{}", base())).is_err());
    assert!(Schema::from_json(&format!("{} \u{feff}", base())).is_err());
}
