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

/// Settings with dimensions t, c, y, x of the given counts (`None`: unbounded).
fn tcyx(t: Option<u64>, c: u64, y: u64, x: u64) -> Value {
    json!({"dimensions": [{"name": "t", "count": t}, {"name": "q", "type": "other", "count": c}, {"name": "y", "count": y}, {"name": "x", "count": x}]})
}

#[test]
#[rustfmt::skip]
fn limits_name_the_dimension_that_overflows() {
    let big = 1u64 << 40;
    check(tcyx(Some(big), big, 2, 2), "dimensions[1].count", "1208925819614629174706176 exceeds the limit of 9223372036854775807 frames in total");
    check(tcyx(Some(2), 2, 1 << 33, 2), "dimensions[2].count", "8589934592 exceeds the limit of 2147483648 elements along one axis");
    check(tcyx(Some(2), 2, 65_536, 65_536), "dimensions[3].count", "8589934592 exceeds the limit of 4294967296 bytes per frame");
    let mut tall = tcyx(Some(2), 2, 1 << 30, 2);
    tall["dtype"] = json!("float64");
    check(tall, "dimensions[2].count", "bytes per frame");
    check(tcyx(Some(2), 2, 50_000, 50_000), "dimensions[3].count", "5000000000 exceeds the limit of 4294967296 bytes per frame");
    // Chunk files: the whole product, and the dimension at which it passes 10 million.
    check(tcyx(Some(big), 1, 2, 2), "dimensions[0].chunk_size", "1099511627776 exceeds the limit of 10000000 chunk files");
    check(tcyx(Some(10_000), 10_000, 2, 2), "dimensions[1].chunk_size", "100000000 exceeds");
    check(json!({"dimensions": [{"name": "t", "count": 10_000}, {"name": "y", "count": 4096, "chunk_size": 1}, {"name": "x", "count": 4096}]}), "dimensions[1].chunk_size", "40960000 exceeds");
    check(json!({"dimensions": [{"name": "t", "count": 100}, {"name": "y", "count": 4096, "chunk_size": 1}, {"name": "x", "count": 4096, "chunk_size": 1}]}), "dimensions[2].chunk_size", "1677721600 exceeds");
    // Elements per chunk or shard.
    check(json!({"dimensions": [{"name": "t", "count": 2}, {"name": "y", "count": 46_341}, {"name": "x", "count": 46_341}], "dtype": "uint8"}), "dimensions[2].chunk_size", "elements per chunk");
    check(json!({"dimensions": [{"name": "t", "count": null, "chunk_size": 1, "shard_size_chunks": 1024}, {"name": "y", "count": 2048}, {"name": "x", "count": 2048}], "dtype": "uint8"}), "dimensions[2].chunk_size", "4294967296 exceeds the limit of 2147483648 elements per chunk (or shard)");
    check(json!({"dimensions": [{"name": "t", "count": 2}, {"name": "y", "count": 1u64 << 33, "chunk_size": 1}, {"name": "x", "count": 1}], "dtype": "uint8"}), "dimensions[1].count", "bytes per frame");
}
