//! Validation rules added for hostile or mistaken settings: output paths and suffixes,
//! names inside a dataset, codecs per format, chunk clamping, limits naming their
//! dimension, a byte order mark. Each case is one line: settings merged over a base,
//! then the field the error must name and a fragment of its message.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ome_writers_schema::{Schema, SchemaError};
use serde_json::{Value, json};

/// A valid zarr acquisition: t=2, c=2, 4x4 frames.
fn base() -> Value {
    json!({
        "root_path": "r.ome.zarr", "dtype": "uint16",
        "dimensions": [{"name": "t", "count": 2}, {"name": "c", "count": 2},
                       {"name": "y", "count": 4}, {"name": "x", "count": 4}]
    })
}

/// `base()` with the top-level fields of `patch` replaced.
fn merged(patch: &Value) -> String {
    let mut v = base();
    for (k, x) in patch.as_object().unwrap() {
        v[k] = x.clone();
    }
    v.to_string()
}

fn field_of(e: &SchemaError) -> String {
    match e {
        SchemaError::Invalid { field, .. } | SchemaError::Limit { field, .. } => field.clone(),
        SchemaError::Parse { path, .. } => path.clone(),
        _ => String::new(),
    }
}

/// The settings are refused; the error names `field` exactly and contains `fragment`.
#[track_caller]
fn check(patch: Value, field: &str, fragment: &str) {
    let text = merged(&patch);
    match Schema::from_json(&text) {
        Ok(s) => panic!("accepted {text}\n-> {:?}", s.output_path()),
        Err(e) => {
            let msg = e.to_string();
            assert_eq!(field_of(&e), field, "wrong field in {msg:?} for {text}");
            assert!(msg.contains(fragment), "{fragment:?} not in {msg:?}");
        }
    }
}

/// The settings are accepted, and their normalized form validates to the same schema.
#[track_caller]
fn accepts(patch: Value) -> Schema {
    let text = merged(&patch);
    let schema = Schema::from_json(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let again = Schema::from_json(&schema.settings().to_json())
        .unwrap_or_else(|e| panic!("normalized form refused: {e}\n{text}"));
    assert_eq!(
        again, schema,
        "normalized form validates differently: {text}"
    );
    schema
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

#[test]
#[rustfmt::skip]
fn each_format_takes_only_the_codecs_its_backend_writes() {
    let tiff = |c: &str| json!({"root_path": "r.ome.tiff", "compression": c});
    let omero_tiff = |c: &str| json!({"root_path": "omero://dataset/7", "compression": c, "format": {"name": "omero_local", "container": "ome-tiff"}});
    check(tiff("zstd"), "compression", "not available for OME-TIFF");
    check(tiff("blosc-zstd"), "compression", "\"blosc-zstd\"");
    check(tiff("blosc-lz4"), "compression", "OME-TIFF (format ome-tiff)");
    check(omero_tiff("zstd"), "compression", "OME-TIFF");
    check(json!({"compression": "lzw"}), "compression", "OME-Zarr");
    check(json!({"compression": "deflate"}), "compression", "\"deflate\"");
    check(json!({"compression": "zstd", "compression_level": 23}), "compression_level", "-7..=22");
    check(json!({"root_path": "r.ome.tiff", "compression": "lzw", "compression_level": 1}), "compression_level", "0..=0");
    for c in ["lzw", "deflate", "none"] {
        accepts(tiff(c));
    }
    for c in ["zstd", "blosc-zstd", "blosc-lz4", "none"] {
        accepts(json!({"compression": c}));
    }
    accepts(json!({"root_path": "r.ome.tiff", "compression": null}));
}

/// A dimension as (count, `chunk_size`, `shard_size_chunks`).
type Spec = (Option<u64>, Option<u64>, Option<u64>);
const FRAME4: Spec = (Some(4), None, None);

/// Storage-order chunk and shard shapes of accepted settings with dimensions t, y, x.
#[track_caller]
fn chunking(specs: [Spec; 3]) -> (Vec<u64>, Option<Vec<u64>>) {
    let dims: Vec<Value> = ["t", "y", "x"]
        .iter()
        .zip(specs)
        .map(|(name, (count, chunk, shard))| {
            json!({"name": name, "count": count, "chunk_size": chunk, "shard_size_chunks": shard})
        })
        .collect();
    let s = accepts(json!({ "dimensions": dims }));
    (s.chunk_shape(), s.shard_shape())
}

#[test]
#[rustfmt::skip]
fn chunks_and_shards_are_clamped_to_bounded_dimensions() {
    let four = Some(4);
    assert_eq!(chunking([(four, Some(50_000), None), FRAME4, FRAME4]), (vec![4, 4, 4], None));
    assert_eq!(chunking([(four, Some(1 << 31), None), FRAME4, FRAME4]), (vec![4, 4, 4], None));
    assert_eq!(chunking([(four, Some(3), None), FRAME4, FRAME4]), (vec![3, 4, 4], None));
    assert_eq!(chunking([(four, None, Some(1000)), FRAME4, FRAME4]), (vec![1, 4, 4], Some(vec![4, 4, 4])));
    // The shard covers the dimension with the fewest chunks: 3 chunks of 4 for 10.
    assert_eq!(chunking([(Some(10), four, Some(5)), FRAME4, FRAME4]), (vec![4, 4, 4], Some(vec![12, 4, 4])));
    assert_eq!(chunking([(Some(2), None, None), (four, Some(9), Some(9)), (Some(6), four, Some(2))]), (vec![1, 4, 4], Some(vec![1, 4, 8])));
    // Lengths beyond the per-axis limit are refused as written, before any clamp.
    check(json!({"dimensions": [{"name": "t", "count": 4, "chunk_size": (1u64 << 31) + 1}, {"name": "y", "count": 4}, {"name": "x", "count": 4}]}), "dimensions[0].chunk_size", "elements along one axis");
    // Unbounded: nothing to clamp to.
    assert_eq!(chunking([(None, Some(64), Some(8)), FRAME4, FRAME4]), (vec![64, 4, 4], Some(vec![512, 4, 4])));
    // The normalized settings say what is used; chunk_size left out stays out.
    let s = accepts(json!({"dimensions": [{"name": "t", "count": 4, "chunk_size": 50_000}, {"name": "y", "count": 4}, {"name": "x", "count": 4}]}));
    assert_eq!(s.settings().dimensions[0].chunk_size, Some(4));
    assert_eq!(s.settings().dimensions[1].chunk_size, None);
}
