//! `omew write --global-metadata NS=FILE.json` end to end: the zarr root attribute
//! (read by zarr-python) and the OME-TIFF MapAnnotation (read by tifffile, validated
//! by ome-types); bad arguments refused before anything is written, naming the
//! namespace and the file.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::omew;
use serde_json::{Value, json};

fn settings(dir: &Path) -> String {
    let path = dir.join("settings.json");
    let dims =
        json!([{"name": "t", "count": 3}, {"name": "y", "count": 3}, {"name": "x", "count": 2}]);
    std::fs::write(
        &path,
        json!({"dtype": "uint16", "dimensions": dims}).to_string(),
    )
    .unwrap();
    path.to_string_lossy().into_owned()
}

fn file(dir: &Path, name: &str, value: &Value) -> String {
    let path = dir.join(name);
    std::fs::write(&path, value.to_string()).unwrap();
    path.to_string_lossy().into_owned()
}

fn write(dir: &Path, out: &Path, globals: &[String]) -> std::process::Output {
    let s = settings(dir);
    let mut args = vec![
        "write".to_owned(),
        "--settings".to_owned(),
        s,
        "--output".to_owned(),
        out.to_string_lossy().into_owned(),
        "--synthetic".to_owned(),
    ];
    for g in globals {
        args.push("--global-metadata".to_owned());
        args.push(g.clone());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    omew(&args, None)
}

fn python(script: &str, path: &Path) -> Value {
    let py = common::python().expect("the Python readers are required");
    let out = Command::new(py)
        .args(["-c", script])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn values() -> (Value, Value) {
    (
        json!({"mda_sequence": {"axis_order": ["t"], "time_plan": {"loops": 3}}, "n": 1.5}),
        json!({"user": "é"}),
    )
}

#[test]
fn zarr_root_attributes() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = values();
    let out = dir.path().join("g.ome.zarr");
    let o = write(
        dir.path(),
        &out,
        &[
            format!("pymmcore_plus={}", file(dir.path(), "a.json", &a)),
            format!("lab={}", file(dir.path(), "b.json", &b)),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let attrs = python(
        "import json, sys, zarr; print(json.dumps(dict(zarr.open_group(sys.argv[1], mode='r').attrs)))",
        &out,
    );
    assert_eq!(attrs["pymmcore_plus"], a);
    assert_eq!(attrs["lab"], b);
    assert_eq!(attrs["ome_writers"]["status"], "complete");
}

#[test]
fn tiff_map_annotations() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = values();
    let out = dir.path().join("g.ome.tiff");
    let o = write(
        dir.path(),
        &out,
        &[
            format!("pymmcore_plus={}", file(dir.path(), "a.json", &a)),
            format!("lab={}", file(dir.path(), "b.json", &b)),
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let maps = python(
        r#"
import json, sys, tifffile, ome_types
with tifffile.TiffFile(sys.argv[1]) as tf:
    assert len(tf.pages) == 3
    doc = ome_types.from_xml(tf.pages[0].description, validate=True)
maps = {m.namespace: {e.k: json.loads(e.value) for e in m.value.ms}
        for m in doc.structured_annotations.map_annotations
        if m.id.startswith("Annotation:global:")}
print(json.dumps(maps))
"#,
        &out,
    );
    assert_eq!(maps, json!({"pymmcore_plus": a, "lab": b}));
}

#[test]
fn bad_arguments_are_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bad.ome.zarr");
    let array = file(dir.path(), "array.json", &json!([1, 2]));
    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{not json").unwrap();
    let broken = broken.to_string_lossy().into_owned();
    let object = file(dir.path(), "ok.json", &json!({}));
    for (arg, says) in [
        (
            format!("ns={array}"),
            vec!["\"ns\"", "array.json", "JSON object"],
        ),
        (
            format!("ns={broken}"),
            vec!["\"ns\"", "broken.json", "not JSON"],
        ),
        (
            "ns=/nonexistent/x.json".to_owned(),
            vec!["\"ns\"", "/nonexistent/x.json"],
        ),
        (format!("ome={object}"), vec!["\"ome\"", "reserved"]),
        ("no-equals".to_owned(), vec!["NAMESPACE=FILE"]),
    ] {
        let o = write(dir.path(), &out, std::slice::from_ref(&arg));
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{arg}");
        for s in says {
            assert!(stderr.contains(s), "{arg}: {s:?} not in {stderr}");
        }
        assert!(!out.exists(), "{arg}: something was written");
    }
}
