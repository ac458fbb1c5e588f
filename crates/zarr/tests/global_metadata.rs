//! Global (acquisition-level) metadata in OME-Zarr, read back by zarr-python (and the
//! store validated by yaozarrs): `attributes[namespace]` of the root group only (the
//! image for one position, the bioformats2raw or plate group otherwise), beside `ome`
//! and `ome_writers`; set before the first frame, in the middle, replaced; durable at a
//! durability point, kept by repair, set on a finished dataset; reserved namespaces
//! refused with nothing written.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use ome_writers_backend::{Backend, BackendError, Progress};
use ome_writers_router::FrameRouter;
use ome_writers_schema::Schema;
use ome_writers_zarr::{ZarrBackend, recover, set_global_metadata};
use serde_json::{Value, json};

/// (layout, dimensions and plate, image groups)
fn layouts() -> Vec<(&'static str, Value, Vec<&'static str>)> {
    let yx = [
        json!({"name": "y", "count": 4}),
        json!({"name": "x", "count": 3}),
    ];
    let t = json!({"name": "t", "count": 4, "chunk_size": 2});
    let plate = json!([
        {"name": "f", "plate_row": "A", "plate_column": "1"},
        {"name": "f", "plate_row": "A", "plate_column": "2"}]);
    vec![
        ("single", json!({"dimensions": [t, yx[0], yx[1]]}), vec![""]),
        (
            "bioformats2raw",
            json!({"dimensions": [t, {"name": "p", "type": "position", "coords": ["Pos0", "Pos1"]},
                yx[0], yx[1]]}),
            vec!["Pos0", "Pos1"],
        ),
        (
            "plate",
            json!({"dimensions": [t, {"name": "p", "type": "position", "coords": plate},
                yx[0], yx[1]],
                "plate": {"name": "p", "row_names": ["A"], "column_names": ["1", "2"]}}),
            vec!["A/1/f", "A/2/f"],
        ),
    ]
}

fn schema(dir: &Path, settings: &Value) -> (Schema, PathBuf) {
    let root = dir.join("g.ome.zarr");
    let mut s = settings.clone();
    s["root_path"] = json!(root);
    s["dtype"] = json!("uint16");
    (Schema::from_json(&s.to_string()).unwrap(), root)
}

fn write(backend: &mut ZarrBackend, schema: &Schema, from: u64, to: u64) {
    for route in FrameRouter::new(schema)
        .skip(from as usize)
        .take((to - from) as usize)
    {
        let v = u16::try_from(route.frame.0 + 1).unwrap();
        let frame: Vec<u8> = std::iter::repeat_n(v, 12)
            .flat_map(u16::to_ne_bytes)
            .collect();
        backend
            .write(route.position, &route.index, &frame, None)
            .unwrap();
    }
}

fn finalize(backend: &mut ZarrBackend, n: u64) {
    backend
        .finalize(&Progress {
            frames_written: n,
            frames_reached: n,
            growth_extent: 4,
            complete: true,
            ..Progress::default()
        })
        .unwrap();
}

/// zarr-python's `attrs` of each group (`""`: the root), and yaozarrs' verdict.
fn attrs(root: &Path, groups: &[&str]) -> Vec<Value> {
    let py = ome_writers_test_support::python().expect("zarr-python is required");
    let script = r#"
import json, sys
import zarr, yaozarrs
root = sys.argv[1]
yaozarrs.validate_zarr_store(root)
g = zarr.open_group(root, mode="r")
for path in sys.argv[2:]:
    node = g if path == "." else g[path]
    print(json.dumps(dict(node.attrs)))
"#;
    let args: Vec<&str> = groups
        .iter()
        .map(|g| if g.is_empty() { "." } else { g })
        .collect();
    let out = Command::new(&py)
        .args(["-c", script])
        .arg(root)
        .args(&args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "zarr-python / yaozarrs failed on {}:\n{}",
        root.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The root carries exactly `want` besides `ome` and `ome_writers`; no image group
/// below the root carries any of it.
fn check(layout: &str, root: &Path, images: &[&str], want: &[(&str, Value)]) {
    let mut groups = vec![""];
    groups.extend(images.iter().filter(|g| !g.is_empty()));
    let read = attrs(root, &groups);
    let top = read[0].as_object().unwrap();
    assert!(
        top["ome"].is_object() && top["ome_writers"].is_object(),
        "{layout}: {top:?}"
    );
    let extra: Vec<(String, Value)> = top
        .iter()
        .filter(|(k, _)| *k != "ome" && *k != "ome_writers")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let want: Vec<(String, Value)> = want
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    assert_eq!(extra, want, "{layout}");
    for (group, a) in groups.iter().zip(&read).skip(1) {
        let keys: Vec<&String> = a.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["ome", "ome_writers"], "{layout} {group}");
    }
}

fn nested() -> Value {
    json!({"a": 1, "nested": {"b": [2, 3], "c": "hello"}})
}

#[test]
fn every_layout_set_before_during_replaced_and_after_finish() {
    for (layout, settings, images) in layouts() {
        let dir = tempfile::tempdir().unwrap();
        let (schema, root) = schema(dir.path(), &settings);
        let n = schema.num_frames().unwrap();
        let mut zarr = ZarrBackend::create(&schema).unwrap();
        zarr.set_global_metadata("ns_a", &json!({"first": true}))
            .unwrap();
        write(&mut zarr, &schema, 0, n / 2);
        zarr.flush().unwrap();
        check(layout, &root, &images, &[("ns_a", json!({"first": true}))]);
        zarr.set_global_metadata("ns_a", &nested()).unwrap(); // replaced, not merged
        zarr.set_global_metadata("ns_b", &json!({"y": 2})).unwrap();
        write(&mut zarr, &schema, n / 2, n);
        finalize(&mut zarr, n);
        check(
            layout,
            &root,
            &images,
            &[("ns_a", nested()), ("ns_b", json!({"y": 2}))],
        );

        set_global_metadata(&root, "ns_b", &json!({"late": true})).unwrap();
        set_global_metadata(&root, "ns_c", &json!([1, 2])).unwrap();
        check(
            layout,
            &root,
            &images,
            &[
                ("ns_a", nested()),
                ("ns_b", json!({"late": true})),
                ("ns_c", json!([1, 2])),
            ],
        );
    }
}

#[test]
fn a_durability_point_makes_it_durable_and_repair_keeps_it() {
    for (layout, settings, images) in layouts() {
        let dir = tempfile::tempdir().unwrap();
        let (schema, root) = schema(dir.path(), &settings);
        let n = schema.num_frames().unwrap();
        let mut zarr = ZarrBackend::create(&schema).unwrap();
        write(&mut zarr, &schema, 0, 1);
        zarr.set_global_metadata("pymmcore_plus", &nested())
            .unwrap();
        write(&mut zarr, &schema, 1, n - 1);
        zarr.flush().unwrap();
        std::mem::forget(zarr); // the process dies here
        check(layout, &root, &images, &[("pymmcore_plus", nested())]);

        let report = recover(&root, &|s| Box::new(FrameRouter::new(s))).unwrap();
        assert!(report.nothing_to_repair.is_none(), "{layout}");
        check(layout, &root, &images, &[("pymmcore_plus", nested())]);
        // Repaired: the image groups were rewritten, the global metadata stayed.
        let image: Value =
            serde_json::from_slice(&std::fs::read(root.join(images[0]).join("zarr.json")).unwrap())
                .unwrap();
        assert_eq!(
            image["attributes"]["ome_writers"]["status"], "partial",
            "{layout}"
        );
    }
}

#[test]
fn reserved_namespaces_are_refused_with_nothing_written() {
    let (_, settings, images) = layouts().remove(1);
    let dir = tempfile::tempdir().unwrap();
    let (schema, root) = schema(dir.path(), &settings);
    let n = schema.num_frames().unwrap();
    let mut zarr = ZarrBackend::create(&schema).unwrap();
    for ns in ["ome", "ome_writers", "", "a\u{1}b"] {
        let e = zarr
            .set_global_metadata(ns, &json!({"clobber": 1}))
            .unwrap_err();
        assert!(matches!(e, BackendError::Usage(_)), "{ns:?}: {e:?}");
    }
    write(&mut zarr, &schema, 0, n);
    finalize(&mut zarr, n);
    check("bioformats2raw", &root, &images, &[]);
    let before = std::fs::read(root.join("zarr.json")).unwrap();
    for ns in ["ome", "ome_writers", ""] {
        assert!(
            set_global_metadata(&root, ns, &json!({})).is_err(),
            "{ns:?}"
        );
    }
    assert_eq!(std::fs::read(root.join("zarr.json")).unwrap(), before);
}

#[test]
fn a_dataset_this_library_did_not_write_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("other.zarr");
    std::fs::create_dir(&root).unwrap();
    let doc = br#"{"zarr_format": 3, "node_type": "group", "attributes": {}}"#;
    std::fs::write(root.join("zarr.json"), doc).unwrap();
    let e = set_global_metadata(&root, "ns", &json!({})).unwrap_err();
    assert!(
        ome_writers_backend::error_chain(&e).contains("not written by this library"),
        "{e}"
    );
    assert_eq!(std::fs::read(root.join("zarr.json")).unwrap(), doc);
}
