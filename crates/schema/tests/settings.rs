//! Settings compatibility with the Python ome-writers, and validation errors.
//!
//! tests/data/python_settings/*.json were written by the Python ome-writers
//! (tests/python/gen_settings.py); they must be accepted unchanged and serialize back
//! to the same JSON.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use ome_writers_schema::{AcquisitionSettings, BackendKind, Schema, SchemaError, Target};
use serde_json::{Value, json};

fn fixtures() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/python_settings");
    let mut out: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read_to_string(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    assert!(out.len() >= 10, "fixtures missing");
    out
}

#[test]
fn python_settings_are_accepted_unchanged_and_round_trip() {
    for (name, text) in fixtures() {
        let settings =
            AcquisitionSettings::from_json(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let back: Value = serde_json::to_value(&settings).unwrap();
        let original: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            back, original,
            "{name} does not serialize back to the same JSON"
        );
        settings
            .validate()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn the_backend_choice_survives_every_serialization() {
    // seeds/004: a backend silently replaced after a config round trip. Here the
    // normalized settings carry an explicit format object, so every round trip selects
    // the same backend and the same target.
    let cases = [
        (json!({"root_path": "a.ome.zarr"}), BackendKind::Zarr),
        (json!({"root_path": "a.ome.tiff"}), BackendKind::Tiff),
        (
            json!({"root_path": "a", "format": "tensorstore"}),
            BackendKind::Zarr,
        ),
        (
            json!({"root_path": "a", "format": "tifffile"}),
            BackendKind::Tiff,
        ),
        (
            json!({"root_path": "x", "format": {"name": "ome-zarr"}}),
            BackendKind::Zarr,
        ),
        (
            json!({"root_path": "omero://dataset/7", "format": "omero_local"}),
            BackendKind::OmeroLocal,
        ),
        (
            json!({"root_path": "omero://screen/3",
                   "format": {"name": "omero_local", "data_dir": "/OMERO", "container": "ome-tiff"}}),
            BackendKind::OmeroLocal,
        ),
        // Python: auto without root_path is the scratch format, in memory.
        (json!({"root_path": ""}), BackendKind::Scratch),
        (
            json!({"root_path": "", "format": "scratch"}),
            BackendKind::Scratch,
        ),
        (
            json!({"root_path": "d", "format": "memory"}),
            BackendKind::Scratch,
        ),
        (
            json!({"root_path": "d", "format": {"name": "scratch", "spill_to_disk": false}}),
            BackendKind::Scratch,
        ),
    ];
    for (partial, backend) in cases {
        let mut v = json!({"dtype": "uint8", "dimensions": [{"name": "y", "count": 2}, {"name": "x", "count": 2}]});
        for (k, x) in partial.as_object().unwrap() {
            v[k] = x.clone();
        }
        let schema = Schema::from_json(&v.to_string()).unwrap();
        assert_eq!(schema.backend(), backend, "{v}");
        let mut current = schema.clone();
        for _ in 0..3 {
            let text = serde_json::to_string(&current).unwrap();
            current = serde_json::from_str(&text).unwrap();
            assert_eq!(current.backend(), backend, "after a round trip of {v}");
            assert_eq!(current.target(), schema.target());
            // A second serialization is identical: nothing drifts.
            assert_eq!(serde_json::to_string(&current).unwrap(), text);
        }
        if backend == BackendKind::OmeroLocal {
            assert!(matches!(current.target(), Target::Omero { .. }));
            assert_eq!(
                current.output_path(),
                None,
                "an OMERO address is never a disk path"
            );
        }
    }
}

#[test]
fn scratch_targets_memory_or_the_directory_named() {
    let base = |root: &str, format: Value| {
        json!({"root_path": root, "format": format, "dtype": "uint8",
               "dimensions": [{"name": "t", "count": null}, {"name": "y", "count": 2},
                              {"name": "x", "count": 2}]})
    };
    let memory = Schema::from_json(&base("", json!("scratch")).to_string()).unwrap();
    assert_eq!(memory.target(), &Target::Memory);
    assert_eq!(memory.output_path(), None);
    let f = memory.scratch_options().unwrap();
    assert_eq!((f.max_memory_bytes, f.spill_to_disk), (4 << 30, true));
    // The normalized form is Python's model_dump of ScratchFormat(), field for field.
    assert_eq!(
        serde_json::to_value(&memory.settings().format).unwrap(),
        json!({"name": "scratch", "backend": "scratch", "max_memory_bytes": 4_294_967_296_u64,
               "suffix": "", "spill_to_disk": true})
    );
    let dir = Schema::from_json(
        &base("out/run", json!({"name": "scratch", "max_memory_bytes": 7})).to_string(),
    )
    .unwrap();
    assert_eq!(dir.output_path(), Some(Path::new("out/run")));
    assert_eq!(dir.scratch_options().unwrap().max_memory_bytes, 7);
    // Storage order "ome" is the acquisition order for scratch (Python).
    let v = json!({"root_path": "", "format": "scratch", "dtype": "uint8", "storage_order": "ome",
        "dimensions": [{"name": "c", "count": 2}, {"name": "t", "count": 3},
                       {"name": "y", "count": 2}, {"name": "x", "count": 2}]});
    let s = Schema::from_json(&v.to_string()).unwrap();
    let names: Vec<&str> = s
        .storage_dims()
        .map(ome_writers_schema::Dim::name)
        .collect();
    assert_eq!(names, ["c", "t"]);
    // Compression is ignored, as Python does.
    let mut v = base("", json!("scratch"));
    v["compression"] = json!("zstd");
    assert!(Schema::from_json(&v.to_string()).is_ok());
}

#[test]
fn a_virtual_omero_path_is_never_a_disk_target() {
    for root in [
        "omero://dataset/7",
        "/omero/plate_403_outputs",
        "OMERO://image/1",
    ] {
        for format in ["auto", "ome-zarr", "tifffile"] {
            let v = json!({"root_path": root, "format": format, "dtype": "uint8",
                "dimensions": [{"name": "y", "count": 2}, {"name": "x", "count": 2}]});
            let err = Schema::from_json(&v.to_string()).unwrap_err();
            assert!(err.to_string().contains("OMERO"), "{root} {format}: {err}");
        }
    }
}

/// Build settings from a base and a JSON-pointer patch, expect an error naming `field`
/// and containing `needle`.
fn check_invalid(patch: &[(&str, Value)], field: &str, needle: &str) {
    let mut v = json!({
        "root_path": "r.ome.zarr", "dtype": "uint16",
        "dimensions": [{"name": "t", "count": 2}, {"name": "c", "count": 2},
                       {"name": "y", "count": 4}, {"name": "x", "count": 4}]
    });
    for (ptr, value) in patch {
        let (parent, key) = ptr.rsplit_once('/').unwrap();
        match v
            .pointer_mut(parent)
            .unwrap_or_else(|| panic!("no {parent}"))
        {
            Value::Object(m) => {
                m.insert(key.to_owned(), value.clone());
            }
            Value::Array(a) => a[key.parse::<usize>().unwrap()] = value.clone(),
            _ => panic!("bad pointer {ptr}"),
        }
    }
    match Schema::from_json(&v.to_string()) {
        Ok(_) => panic!("accepted: {v}"),
        Err(e) => {
            let text = e.to_string();
            let named = match &e {
                SchemaError::Invalid { field: f, .. } | SchemaError::Limit { field: f, .. } => {
                    f.clone()
                }
                SchemaError::Parse { path, .. } => path.clone(),
                _ => String::new(),
            };
            assert!(
                named.contains(field),
                "field {field:?} not named in {text:?}"
            );
            assert!(text.contains(needle), "{needle:?} not in {text:?}");
        }
    }
}

// A table of one-line cases: long, but each line reads alone.
#[allow(clippy::too_many_lines)]
#[test]
fn invalid_settings_are_refused_naming_field_and_value() {
    check_invalid(
        &[("/dimensions/1/count", json!(null))],
        "dimensions[1].count",
        "unbounded (null) is only allowed for the first dimension",
    );
    check_invalid(
        &[("/dimensions/1/count", json!(0))],
        "dimensions[1].count",
        "positive",
    );
    check_invalid(
        &[("/dimensions/1/count", json!(-3))],
        "dimensions[1].count",
        "-3",
    );
    check_invalid(
        &[("/dimensions/1/name", json!("t"))],
        "dimensions[1].name",
        "unique",
    );
    check_invalid(&[("/dtype", json!("uint64"))], "dtype", "uint64");
    check_invalid(&[("/dtype", json!(">u2"))], "dtype", ">u2");
    check_invalid(
        &[("/dtype", json!("u8"))],
        "dtype",
        r#"expected uint8, uint16, uint32, int8, int16, int32, float32 or float64 (or a numpy code such as <u2), got "u8""#,
    );
    check_invalid(
        &[(
            "/format",
            json!({"name": "ome-tiff", "prefer_single_file": "x"}),
        )],
        "format.prefer_single_file",
        r#"expected auto, always, never or a bool, got "x""#,
    );
    check_invalid(
        &[(
            "/format",
            json!({"name": "ome-tiff", "multi_file_metadata": "master"}),
        )],
        "format.multi_file_metadata",
        r#"expected redundant, master-tiff or companion-file, got "master""#,
    );
    check_invalid(
        &[(
            "/format",
            json!({"name": "omero_local", "container": "zarr"}),
        )],
        "format.container",
        r#"expected ome-zarr or ome-tiff, got "zarr""#,
    );
    check_invalid(
        &[(
            "/format",
            json!({"name": "omero_local", "registration": "import"}),
        )],
        "format.registration",
        r#"expected in-place-import or zarr-import, got "import""#,
    );
    check_invalid(&[("/compression", json!("lzw"))], "compression", "lzw");
    check_invalid(
        &[("/compression", json!("brotli"))],
        "compression",
        "brotli",
    );
    check_invalid(&[("/root_path", json!("r.h5"))], "format", "r.h5");
    check_invalid(&[("/root_path", json!("run"))], "format", "cannot infer");
    check_invalid(
        &[("/dimensions/3/type", json!("time"))],
        "dimensions[3].type",
        "frame",
    );
    check_invalid(
        &[("/dimensions/0/unit", json!("parsec-ish"))],
        "dimensions[0].unit",
        "parsec-ish",
    );
    check_invalid(
        &[
            ("/dimensions/0/type", json!("time")),
            ("/dimensions/0/unit", json!("um")),
        ],
        "dimensions[0].unit",
        "time",
    );
    check_invalid(
        &[("/dimensions/2/scale", json!(-1.0))],
        "dimensions[2].scale",
        "positive",
    );
    check_invalid(
        &[("/dimensions/1/chunk_size", json!(0))],
        "dimensions[1].chunk_size",
        "positive",
    );
    check_invalid(
        &[("/storage_order", json!(["c", "t", "x", "y"]))],
        "storage_order",
        "frame dimensions",
    );
    check_invalid(
        &[("/storage_order", json!(["c", "t", "y", "x"]))],
        "storage_order",
        "OME-Zarr 0.5",
    );
    check_invalid(
        &[("/storage_order", json!(["t", "q", "y", "x"]))],
        "storage_order[1]",
        "\"q\"",
    );
    check_invalid(
        &[("/dimensions/0/name", json!("q"))],
        "dimensions",
        "channel or custom",
    );
    check_invalid(
        &[("/plate", json!({"row_names": ["A"], "column_names": ["1"]}))],
        "plate",
        "position dimension",
    );
    check_invalid(&[("/format", json!("hdf5"))], "format", "hdf5");
    check_invalid(
        &[("/format", json!({"name": "ome-zarr", "backend": "n5"}))],
        "format.backend",
        "n5",
    );
    check_invalid(&[("/surprise", json!(1))], "", "surprise");
    check_invalid(
        &[(
            "/dimensions/1/coords",
            json!([{"name": "a", "color": "not-a-colour"}, {"name": "b"}]),
        )],
        "dimensions[1].coords[0].color",
        "not-a-colour",
    );
    check_invalid(
        &[("/dimensions/1/coords", json!(["a", "a"]))],
        "dimensions[1].coords[1].name",
        "unique",
    );
    check_invalid(
        &[("/dimensions/1/coords", json!(["a", "b", "c"]))],
        "dimensions[1].coords",
        "count (2)",
    );
    // Limits: hostile sizes are refused with the number.
    check_invalid(
        &[("/dimensions/0/count", json!(u64::MAX / 2))],
        "dimensions[1].count",
        "frames in total",
    );
    check_invalid(
        &[
            ("/dimensions/2/count", json!(1_000_000)),
            ("/dimensions/3/count", json!(1_000_000)),
        ],
        "dimensions[3].count",
        "bytes per frame",
    );
    check_invalid(
        &[
            ("/dimensions/0/chunk_size", json!(u64::MAX)),
            ("/dimensions/0/shard_size_chunks", json!(3)),
        ],
        "dimensions[0].shard_size_chunks",
        "elements along one axis",
    );
    check_invalid(
        &[("/dimensions/0/count", json!(100_000_000))],
        "chunk_size",
        "chunk files per image",
    );
}

#[test]
fn types_are_inferred_from_names_units_and_coords() {
    let s = Schema::from_json(
        &json!({"root_path": "a.ome.tiff", "dtype": "uint8", "dimensions": [
            {"name": "p", "count": 2}, {"name": "T", "count": 2}, {"name": "angle", "count": 2, "unit": "ms"},
            {"name": "y", "count": 2}, {"name": "x", "count": 2}]})
        .to_string(),
    )
    .unwrap();
    let kinds: Vec<&str> = s.dims().iter().map(|d| d.kind().as_str()).collect();
    assert_eq!(kinds, ["position", "time", "time", "space", "space"]);
    assert_eq!(s.positions().len(), 2);
}

#[test]
fn ome_storage_order_puts_time_channel_then_space() {
    let s = Schema::from_json(
        &json!({"root_path": "a.ome.zarr", "dtype": "uint8", "dimensions": [
            {"name": "z", "count": 3}, {"name": "c", "count": 2}, {"name": "t", "count": 4},
            {"name": "y", "count": 2}, {"name": "x", "count": 2}]})
        .to_string(),
    )
    .unwrap();
    let names: Vec<&str> = s.array_dims().map(ome_writers_schema::Dim::name).collect();
    assert_eq!(names, ["t", "c", "z", "y", "x"]);
    assert_eq!(
        s.growth_axis(),
        Some(2),
        "z is acquired outermost and stored third"
    );
}

#[test]
fn malformed_and_hostile_json_is_an_error_not_a_panic() {
    for text in [
        "",
        "{",
        "[]",
        "{\"dimensions\": 5}",
        &"[".repeat(100_000),
        "{\"dtype\": \"uint8\", \"dimensions\": [{\"name\": \"y\"}, {\"name\": \"x\", \"count\": 1e400}]}",
    ] {
        assert!(Schema::from_json(text).is_err(), "{text:.40}");
    }
}
