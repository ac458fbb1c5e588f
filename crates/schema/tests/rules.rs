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

/// The resolved output path of accepted settings.
#[track_caller]
fn output(patch: Value) -> String {
    let s = accepts(patch);
    s.output_path()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn zarr_suffix(suffix: &str) -> Value {
    json!({"format": {"name": "ome-zarr", "suffix": suffix}})
}

#[test]
#[rustfmt::skip]
fn the_suffix_is_one_extension_of_the_container() {
    check(zarr_suffix(""), "format.suffix", "must start with '.'");
    check(zarr_suffix("."), "format.suffix", "must start with '.'");
    check(zarr_suffix("zarr"), "format.suffix", "must start with '.'");
    check(zarr_suffix(".."), "format.suffix", "dots only");
    check(zarr_suffix("..."), "format.suffix", "dots only");
    check(zarr_suffix("./x.zarr"), "format.suffix", "must not contain '/'");
    check(zarr_suffix("./../../etc/x.zarr"), "format.suffix", "must not contain '/'");
    check(zarr_suffix(".a\\b.zarr"), "format.suffix", "must not contain");
    check(zarr_suffix(".ome\u{0}.zarr"), "format.suffix", "NUL");
    check(zarr_suffix(".zip"), "format.suffix", "must end in .zarr");
    check(zarr_suffix(".ome.tiff"), "format.suffix", "must end in .zarr");
    check(zarr_suffix(&format!(".{}.zarr", "a".repeat(300))), "format.suffix", "255 bytes");
    check(json!({"root_path": "r.ome.tiff", "format": {"name": "ome-tiff", "suffix": ".ome.zarr"}}), "format.suffix", "must end in .tif or .tiff");
    check(json!({"root_path": "r.ome.tiff", "format": {"name": "ome-tiff", "suffix": ""}}), "format.suffix", "must start with '.'");
    // What Python writes for a format object and a root_path without an OME suffix.
    check(json!({"root_path": "run", "format": {"name": "ome-zarr", "backend": "auto", "suffix": ""}}), "format.suffix", "must start with '.'");
    assert_eq!(output(zarr_suffix(".zarr")), "r.zarr");
    assert_eq!(output(zarr_suffix(".ZARR")), "r.ZARR");
    assert_eq!(output(zarr_suffix(".v1.ome.zarr")), "r.v1.ome.zarr");
    assert_eq!(output(json!({"root_path": "r.tif", "format": {"name": "ome-tiff", "suffix": ".ome.tif"}})), "r.ome.tif");
    assert_eq!(output(json!({"root_path": "r.ome.tiff", "format": {"name": "ome-tiff", "suffix": ".OME.TIFF"}})), "r.OME.TIFF");
}

#[test]
#[rustfmt::skip]
fn the_output_is_exactly_the_path_named() {
    assert_eq!(output(json!({"root_path": "out/run.ome.zarr"})), "out/run.ome.zarr");
    assert_eq!(output(json!({"root_path": "out/run.zarr"})), "out/run.zarr");
    assert_eq!(output(json!({"root_path": "out/run", "format": "ome-zarr"})), "out/run.ome.zarr");
    assert_eq!(output(json!({"root_path": "out/run", "format": "tifffile"})), "out/run.ome.tiff");
    assert_eq!(output(json!({"root_path": "/data/run.OME.TIF"})), "/data/run.OME.TIF");
    assert_eq!(output(json!({"root_path": "out/run.ome.tiff", "dimensions": positions(json!(["a", "b"]))})), "out/run");
    // A single-letter scheme is a Windows drive, not a URL.
    assert_eq!(output(json!({"root_path": "C://data/run.ome.zarr"})), "C://data/run.ome.zarr");
}

#[test]
#[rustfmt::skip]
fn a_root_path_that_names_no_dataset_is_refused() {
    for root in [".", "..", "/", "out/", "out/.", "out/..", "./", "../..", "//"] {
        check(json!({"root_path": root, "format": "ome-zarr"}), "root_path", "names a directory, not a dataset");
        check(json!({"root_path": root, "format": "ome-tiff"}), "root_path", "names a directory, not a dataset");
        // Before the format is inferred from it.
        check(json!({"root_path": root}), "root_path", "names a directory, not a dataset");
    }
    check(json!({"root_path": "", "format": "ome-zarr"}), "root_path", "an output path is required");
    check(json!({"root_path": "   ", "format": "ome-zarr"}), "root_path", "an output path is required");
    check(json!({"root_path": "a\u{0}b.ome.zarr"}), "root_path", "NUL");
    // Several TIFF files go into the folder named by the stem: it must be a name.
    check(json!({"root_path": "..ome.tiff", "dimensions": positions(json!(["a", "b"]))}), "root_path", "resolves to \".\", which names a directory");
    check(json!({"root_path": "out/...ome.tiff", "dimensions": positions(json!(["a", "b"]))}), "root_path", "resolves to \"out/..\"");
    check(json!({"root_path": "out/.ome.tiff", "dimensions": positions(json!(["a", "b"]))}), "root_path", "resolves to \"out/\"");
    check(json!({"root_path": format!("{}.ome.zarr", "a".repeat(250))}), "root_path", "component of 259 bytes");
    check(json!({"root_path": format!("{}/x.ome.zarr", "d".repeat(256))}), "root_path", "component of 256 bytes");
    check(json!({"root_path": format!("{}.ome.tiff", "a".repeat(240)), "format": {"name": "ome-tiff", "suffix": ".abcdef.ome.tiff"}, "dimensions": positions(json!(["a", "b"]))}), "root_path", "the position file");
    // Room for the lock file beside the output.
    check(json!({"root_path": format!("{}.ome.zarr", "a".repeat(235))}), "root_path", "at most 240");
}

#[test]
#[rustfmt::skip]
fn an_object_storage_url_is_refused() {
    for root in ["gs://b/run.ome.zarr", "https://host/run.ome.zarr", "http://host/run.ome.tiff", "file:///tmp/run.ome.zarr", "az://c/run.ome.zarr", "abfs+https://x/run.ome.zarr"] {
        check(json!({"root_path": root}), "root_path", "the only object storage is s3://");
        check(json!({"root_path": root, "format": "ome-tiff"}), "root_path", "the only object storage is s3://");
    }
    // s3:// is a typed target: OME-Zarr only, the address checked.
    for root in ["s3://bucket/run.ome.zarr", "S3://bucket/lab/run.ome.zarr"] {
        let schema = Schema::from_json(&merged(&json!({"root_path": root}))).unwrap();
        assert!(schema.output_path().is_none(), "{root} is never a path");
        assert!(schema.output_url().is_some_and(|u| u.bucket() == "bucket"), "{root}");
        check(json!({"root_path": root, "format": "ome-tiff"}), "format", "OME-TIFF cannot be written to object storage");
    }
    check(json!({"root_path": "s3://Bucket/run.ome.zarr"}), "root_path", "lowercase");
    check(json!({"root_path": "s3://bucket/"}), "format", "cannot infer the format");
    check(json!({"root_path": "s3://bucket/", "format": "ome-zarr"}), "root_path", "names a bucket");
    // OMERO addresses keep their own rule.
    check(json!({"root_path": "omero://dataset/7", "format": "ome-zarr"}), "root_path", "omero_local");
    assert!(Schema::from_json(&merged(&json!({"root_path": "omero://dataset/7", "format": "omero_local"}))).is_ok());
}

#[test]
#[rustfmt::skip]
fn a_format_that_contradicts_the_root_path_is_refused() {
    check(json!({"root_path": "x.ome.tiff", "format": "ome-zarr"}), "format", "root_path \"x.ome.tiff\" ends in .ome.tiff");
    check(json!({"root_path": "x.ome.tiff", "format": {"name": "ome-zarr"}}), "format", "writes OME-Zarr but root_path");
    check(json!({"root_path": "x.ome.zarr", "format": {"name": "ome-tiff"}}), "format", "an OME-Zarr name");
    check(json!({"root_path": "x.tif", "format": "tensorstore"}), "format", "\"ome-zarr\"");
    check(json!({"root_path": "x.zarr", "format": "tifffile"}), "format", "\"ome-tiff\"");
    check(json!({"root_path": "x.ome.zarr", "format": {"name": "ome-tiff", "suffix": ".ome.tiff"}}), "format", "ends in .ome.zarr");
    // No OME suffix: the format decides.
    assert_eq!(output(json!({"root_path": "x.h5", "format": "ome-zarr"})), "x.h5.ome.zarr");
}

/// Dimensions p (with these coords), y, x.
fn positions(coords: Value) -> Value {
    json!([{"name": "p", "type": "position", "coords": coords}, {"name": "y", "count": 4}, {"name": "x", "count": 4}])
}

fn zarr_positions(coords: Value) -> Value {
    json!({"dimensions": positions(coords)})
}

fn companion(name: &str) -> Value {
    json!({"root_path": "out/run.ome.tiff", "dimensions": positions(json!(["a", "b"])),
           "format": {"name": "ome-tiff", "multi_file_metadata": "companion-file", "companion_file": name}})
}

#[test]
#[rustfmt::skip]
fn names_inside_a_dataset_are_valid_and_never_collide() {
    let f = "dimensions[0].coords[1].name";
    check(zarr_positions(json!(["a", "A"])), f, "positions 0 and 1 both map to the image group \"A\"");
    check(zarr_positions(json!(["Well", "wELL"])), f, "ignoring ASCII case");
    check(zarr_positions(json!([{"name": "a_1_2"}, {"name": "a", "grid_row": 1, "grid_column": 2}])), f, "\"a_1_2\"");
    check(zarr_positions(json!(["x", "a/b"])), f, "has '/'");
    check(zarr_positions(json!(["x", "a\\b"])), f, "has '/' or '\\'");
    check(zarr_positions(json!(["x", "a\u{0}"])), f, "NUL");
    check(zarr_positions(json!(["x", "."])), f, "is . or ..");
    check(zarr_positions(json!(["x", ".."])), f, "is . or ..");
    check(zarr_positions(json!(["x", "__meta"])), f, "zarr v3 reserves");
    check(zarr_positions(json!(["x", "OME"])), f, "\"OME\" ignoring case");
    check(zarr_positions(json!(["x", "ome"])), f, "\"OME\" ignoring case");
    check(zarr_positions(json!(["x", "Zarr.JSON"])), f, "\"zarr.json\"");
    check(zarr_positions(json!(["x", "n".repeat(256)])), f, "256 bytes long");
    check(json!({"root_path": "omero://dataset/7", "format": "omero_local", "dimensions": positions(json!(["a", "A"]))}), f, "both map");
    check(json!({"dimensions": positions(json!([{"name": "f", "plate_row": "A", "plate_column": "1"}, {"name": "f", "plate_row": "a", "plate_column": "1"}])), "plate": {"row_names": ["A", "a"], "column_names": ["1"]}}), "plate.row_names[1]", "equals plate.row_names[0] ignoring ASCII case");
    // Position files of OME-TIFF are numbered, so their names never collide.
    assert_eq!(accepts(json!({"root_path": "r.ome.tiff", "dimensions": positions(json!(["a", "A", "OME", "a/b"]))})).positions().len(), 4);
    // One position is the root group: its name is not a path.
    accepts(zarr_positions(json!(["OME"])));
    accepts(zarr_positions(json!([{"name": "a", "grid_row": 0, "grid_column": 1}, {"name": "a", "grid_row": 1, "grid_column": 0}])));
}

#[test]
#[rustfmt::skip]
fn the_companion_file_is_a_plain_name_unlike_every_position_file() {
    let f = "format.companion_file";
    check(companion("run_p000.ome.tiff"), f, "is the file of position 0");
    check(companion("RUN_P001.OME.TIFF"), f, "is the file of position 1");
    check(companion("meta/run.companion.ome"), f, "must be a plain file name");
    check(companion("..\\run.companion.ome"), f, "must be a plain file name");
    check(companion("."), f, "must be a plain file name");
    check(companion(".."), f, "must be a plain file name");
    check(companion("a\u{0}.ome"), f, "must be a plain file name");
    check(companion(&"c".repeat(251)), f, "at most 250");
    for name in ["companion.ome", "", "run.companion.ome", "other.companion.ome", "run_p002.ome.tiff", "run_p000.ome.tif"] {
        accepts(companion(name));
    }
    // The names the TIFF backend writes.
    assert_eq!(ome_writers_schema::tiff_position_file_name("run", 7, ".ome.tiff"), "run_p007.ome.tiff");
    assert_eq!(ome_writers_schema::tiff_companion_file_name("run", "companion.ome"), "run.companion.ome");
}

/// The scratch format: a directory named like OME data, a suffix that is no extension,
/// an unbounded axis moved from the front, an unknown backend, a URL: refused.
#[test]
fn scratch_rules() {
    let dims = json!([{"name": "t", "count": null}, {"name": "c", "count": 2},
                      {"name": "y", "count": 4}, {"name": "x", "count": 4}]);
    let scratch = |root: &str, format: Value| json!({"root_path": root, "format": format, "dimensions": dims.clone()});
    check(
        scratch("run.ome.zarr", json!("scratch")),
        "root_path",
        "raw arrays",
    );
    check(
        scratch("run.tif", json!("scratch")),
        "root_path",
        "OME-TIFF",
    );
    check(
        scratch("s3://b/run", json!("scratch")),
        "format",
        "writes local files, not s3://",
    );
    check(scratch("gs://b/run", json!("scratch")), "root_path", "URL");
    check(
        scratch("out/..", json!("scratch")),
        "root_path",
        "names a directory",
    );
    check(scratch("a\0b", json!("scratch")), "root_path", "NUL");
    check(
        scratch("omero://dataset/1", json!("scratch")),
        "root_path",
        "OMERO",
    );
    check(
        scratch(&"n".repeat(250), json!("scratch")),
        "root_path",
        "lock file",
    );
    for bad in ["dat", "./x", ".a/b", "..", "."] {
        check(
            scratch("run", json!({"name": "scratch", "suffix": bad})),
            "format.suffix",
            "",
        );
    }
    check(
        scratch("run", json!({"name": "scratch", "backend": "numpy"})),
        "format.backend",
        "scratch",
    );
    check(
        scratch("run", json!({"name": "scratch", "max_memory_bytes": -1})),
        "format",
        "",
    );
    check(
        scratch("run", json!({"name": "scratch", "extra": 1})),
        "format",
        "unknown field",
    );
    let mut moved = scratch("", json!("scratch"));
    moved["storage_order"] = json!(["c", "t", "y", "x"]);
    check(moved, "storage_order", "first");
    let mut ok = scratch("", json!("scratch"));
    ok["storage_order"] = json!(["t", "c", "y", "x"]);
    accepts(ok);
    accepts(scratch(
        "out/run",
        json!({"name": "scratch", "suffix": ".dat"}),
    ));
    accepts(scratch(
        "",
        json!({"name": "scratch", "max_memory_bytes": 0, "spill_to_disk": false}),
    ));
}

#[test]
fn plate_fields_are_named_after_alphanumeric_distinct_positions() {
    let json = |names: [&str; 3]| {
        format!(
            r#"{{"root_path": "p.ome.zarr", "dtype": "uint8",
            "plate": {{"row_names": ["A", "B"], "column_names": ["1", "2"]}},
            "dimensions": [{{"name": "p", "type": "position", "coords": [
              {{"name": "{}", "plate_row": "A", "plate_column": "1"}},
              {{"name": "{}", "plate_row": "A", "plate_column": "1"}},
              {{"name": "{}", "plate_row": "B", "plate_column": "2"}}]}},
             {{"name": "y", "count": 4}}, {{"name": "x", "count": 4}}]}}"#,
            names[0], names[1], names[2]
        )
    };
    let groups = |names| {
        ome_writers_schema::zarr_image_groups(
            &ome_writers_schema::Schema::from_json(&json(names)).unwrap(),
        )
    };
    assert_eq!(
        groups(["fov0", "fov1", "fov0"]),
        ["A/1/fov0", "A/1/fov1", "B/2/fov0"]
    );
    // A shared name in a well (ignoring case) or a non-alphanumeric one numbers the
    // fields of every well.
    assert_eq!(
        groups(["fov", "FOV", "site-1"]),
        ["A/1/0", "A/1/1", "B/2/0"]
    );
    assert_eq!(groups(["a_1", "b", "c"]), ["A/1/0", "A/1/1", "B/2/0"]);
}
