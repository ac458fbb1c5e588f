//! Global (acquisition-level) metadata in OME-TIFF, read back by tifffile and ome-types
//! (XSD-validated): one `MapAnnotation` per namespace, each top-level key an `M` entry
//! holding its JSON, referenced by no image or plane, in the files Python ome-writers
//! puts it in (the only file; every file in redundant mode; the master TIFF; the
//! companion file), during acquisition (provisional OME-XML, after a durability point),
//! after finish, after a crash and repair, and set on a finished dataset.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use ome_writers_backend::{Backend, BackendError, Progress};
use ome_writers_router::FrameRouter;
use ome_writers_schema::Schema;
use ome_writers_tiff::{TiffBackend, recover, set_global_metadata};
use serde_json::{Value, json};

/// (mode, or `None` for one file)
const MODES: [Option<&str>; 4] = [
    None,
    Some("redundant"),
    Some("master-tiff"),
    Some("companion-file"),
];

fn schema(dir: &Path, mode: Option<&str>) -> (Schema, PathBuf) {
    let root = dir.join("x.ome.tiff");
    let mut dims = vec![json!({"name": "t", "count": 4})];
    let format = match mode {
        None => json!("ome-tiff"),
        Some(m) => {
            dims.push(json!({"name": "p", "type": "position", "coords": ["a", "b"]}));
            json!({"name": "ome-tiff", "multi_file_metadata": m})
        }
    };
    dims.push(json!({"name": "y", "count": 4}));
    dims.push(json!({"name": "x", "count": 3}));
    let settings = json!({"root_path": root, "dtype": "uint16", "format": format,
        "dimensions": dims});
    let schema = Schema::from_json(&settings.to_string()).unwrap();
    // A multi-file dataset is a folder (the schema says where).
    let output = schema.output_path().unwrap().to_owned();
    (schema, output)
}

/// Write frames `from..to` (pixels: the frame number + 1).
fn write(tiff: &mut TiffBackend, schema: &Schema, from: u64, to: u64) {
    for route in FrameRouter::new(schema)
        .skip(from as usize)
        .take((to - from) as usize)
    {
        let v = u16::try_from(route.frame.0 + 1).unwrap();
        let frame: Vec<u8> = std::iter::repeat_n(v, 12)
            .flat_map(u16::to_ne_bytes)
            .collect();
        tiff.write(route.position, &route.index, &frame, None)
            .unwrap();
    }
}

fn frames(schema: &Schema) -> u64 {
    schema.num_frames().unwrap()
}

/// Every file of the dataset (TIFFs and a companion), sorted.
fn dataset_files(dir: &Path, root: &Path, mode: Option<&str>) -> Vec<PathBuf> {
    if mode.is_none() {
        return vec![root.to_owned()];
    }
    let mut out: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            !n.starts_with('.') && !n.ends_with(".omew-journal")
        })
        .collect();
    out.sort();
    let _ = dir;
    out
}

fn is_tiff(p: &Path) -> bool {
    p.to_string_lossy().ends_with(".ome.tiff")
}

/// Whether `file` should carry the global metadata: `provisional` during the
/// acquisition (the first position file, or every one in redundant mode), else where
/// the full OME-XML is.
fn carries(mode: Option<&str>, file: &Path, provisional: bool) -> bool {
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    let first = name.contains("_p000") || mode.is_none();
    match mode {
        None | Some("redundant") => true,
        Some("master-tiff") => first,
        _ if provisional => first && is_tiff(file),
        _ => !is_tiff(file),
    }
}

/// tifffile + ome-types, one JSON object per file.
fn inspect(files: &[PathBuf]) -> Vec<Value> {
    let py = support::python().expect("tifffile and ome-types are required");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/global_tiff.py");
    let out = Command::new(&py).arg(&script).args(files).output().unwrap();
    assert!(
        out.status.success(),
        "global_tiff.py failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Each file carries exactly `want` (namespace, value) where it should, nothing
/// elsewhere, and no image or plane refers to the annotations.
fn check(mode: Option<&str>, files: &[PathBuf], provisional: bool, want: &[(&str, Value)]) {
    let read = inspect(files);
    assert_eq!(read.len(), files.len());
    for (file, got) in files.iter().zip(&read) {
        let maps = got["maps"].as_array().unwrap();
        let label = format!("{mode:?} {} (provisional {provisional})", file.display());
        if carries(mode, file, provisional) {
            let found: Vec<(String, Value)> = maps
                .iter()
                .map(|m| (m["ns"].as_str().unwrap().to_owned(), m["entries"].clone()))
                .collect();
            let expected: Vec<(String, Value)> = want
                .iter()
                .map(|(n, v)| ((*n).to_owned(), v.clone()))
                .collect();
            assert_eq!(found, expected, "{label}: {got}");
        } else {
            assert!(maps.is_empty(), "{label}: {got}");
        }
        assert_eq!(got["refs"], json!([]), "{label}");
    }
}

fn nested() -> Value {
    json!({"a": 1, "nested": {"b": [2, 3], "c": "hello"}})
}

#[test]
fn every_mode_carries_it_where_python_does_set_before_during_and_replaced() {
    for mode in MODES {
        let dir = tempfile::tempdir().unwrap();
        let (schema, root) = schema(dir.path(), mode);
        let mut tiff = TiffBackend::create(&schema).unwrap();
        tiff.set_global_metadata("ns_a", &json!({"first": true, "shared": 1}))
            .unwrap();
        let n = frames(&schema);
        write(&mut tiff, &schema, 0, n / 2);
        tiff.flush().unwrap();
        tiff.set_global_metadata("ns_a", &nested()).unwrap(); // replaced
        tiff.set_global_metadata("ns_b", &json!({"y": 2})).unwrap();
        write(&mut tiff, &schema, n / 2, n);
        let summary = tiff
            .finalize(&Progress {
                frames_written: n,
                frames_reached: n,
                growth_extent: 4,
                complete: true,
                ..Progress::default()
            })
            .unwrap();
        let files = dataset_files(dir.path(), &root, mode);
        assert_eq!(files.len(), summary.paths.len(), "{mode:?}");
        check(
            mode,
            &files,
            false,
            &[("ns_a", nested()), ("ns_b", json!({"y": 2}))],
        );
        // The entries are Python's json.dumps of each value.
        let read = inspect(&files);
        let carrier = read.iter().find(|r| !r["maps"][0].is_null()).unwrap();
        assert_eq!(
            carrier["maps"][0]["raw"],
            json!({"a": "1", "nested": "{\"b\": [2, 3], \"c\": \"hello\"}"})
        );

        // After finish: written at once, replacing one namespace, keeping the other.
        set_global_metadata(&root, "ns_b", &json!({"late": [1, "é"]})).unwrap();
        set_global_metadata(&root, "ns_c", &json!({})).unwrap();
        check(
            mode,
            &files,
            false,
            &[
                ("ns_a", nested()),
                ("ns_b", json!({"late": [1, "é"]})),
                ("ns_c", json!({})),
            ],
        );
    }
}

#[test]
fn a_durability_point_makes_it_durable_and_repair_keeps_it() {
    for mode in MODES {
        let dir = tempfile::tempdir().unwrap();
        let (schema, root) = schema(dir.path(), mode);
        let mut tiff = TiffBackend::create(&schema).unwrap();
        let n = frames(&schema);
        write(&mut tiff, &schema, 0, 2);
        tiff.set_global_metadata("pymmcore_plus", &nested())
            .unwrap();
        write(&mut tiff, &schema, 2, n - 1);
        tiff.flush().unwrap();
        std::mem::forget(tiff); // the process dies here
        let files = dataset_files(dir.path(), &root, mode);
        check(mode, &files, true, &[("pymmcore_plus", nested())]);
        // Not finished: refused until repaired.
        let refused = set_global_metadata(&root, "x", &json!({}));
        assert!(refused.is_err(), "{mode:?}");

        let recovery = recover(&root).unwrap();
        assert!(!recovery.already_final, "{mode:?}");
        let files = dataset_files(dir.path(), &root, mode);
        check(mode, &files, false, &[("pymmcore_plus", nested())]);
    }
}

#[test]
fn a_large_value_is_written_at_durability_points_and_the_frames_stay_described() {
    // Far larger than the description slots sized at creation.
    let big: serde_json::Map<String, Value> = (0..400)
        .map(|i| {
            (
                format!("key{i}"),
                json!(format!("value {i} {}", "x".repeat(40))),
            )
        })
        .collect();
    let big = Value::Object(big);
    let dir = tempfile::tempdir().unwrap();
    let (schema, root) = schema(dir.path(), None);
    let mut tiff = TiffBackend::create(&schema).unwrap();
    tiff.set_global_metadata("big", &big).unwrap();
    write(&mut tiff, &schema, 0, 3);
    tiff.flush().unwrap();
    std::mem::forget(tiff);
    check(
        None,
        std::slice::from_ref(&root),
        true,
        &[("big", big.clone())],
    );
    let (pages, xml) = support::read_pages(&root);
    assert_eq!(pages.len(), 3);
    assert!(xml.contains("SizeT=\"3\""), "{xml}");
    recover(&root).unwrap();
    check(None, &[root], false, &[("big", big)]);
}

#[test]
fn reserved_namespaces_and_non_objects_are_refused_with_nothing_written() {
    let dir = tempfile::tempdir().unwrap();
    let (schema, root) = schema(dir.path(), None);
    let mut tiff = TiffBackend::create(&schema).unwrap();
    for ns in ["ome", "ome_writers", ""] {
        let e = tiff.set_global_metadata(ns, &json!({"a": 1})).unwrap_err();
        assert!(matches!(e, BackendError::Usage(_)), "{ns:?}: {e:?}");
    }
    let e = tiff.set_global_metadata("ns", &json!([1])).unwrap_err();
    assert!(
        ome_writers_backend::error_chain(&e).contains("\"ns\""),
        "{e}"
    );
    let n = frames(&schema);
    write(&mut tiff, &schema, 0, n);
    tiff.finalize(&Progress {
        frames_written: n,
        frames_reached: n,
        growth_extent: 4,
        complete: true,
        ..Progress::default()
    })
    .unwrap();
    check(None, std::slice::from_ref(&root), false, &[]);
    let before = std::fs::read(&root).unwrap();
    assert!(set_global_metadata(&root, "ome", &json!({})).is_err());
    assert!(set_global_metadata(&root, "ns", &json!("text")).is_err());
    assert_eq!(std::fs::read(&root).unwrap(), before);
}

#[test]
fn a_tiff_this_library_did_not_write_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.ome.tiff");
    std::fs::write(&path, b"II*\0not a bigtiff").unwrap();
    let before = std::fs::read(&path).unwrap();
    assert!(set_global_metadata(&path, "ns", &json!({"a": 1})).is_err());
    assert_eq!(std::fs::read(&path).unwrap(), before);
}
