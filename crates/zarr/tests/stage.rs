//! Stage positions (`x_coord`, `y_coord`, `z_coord` of each position) become each
//! image's `translation` transform, after its `scale`, for a single position, several
//! positions (bioformats2raw) and a plate; a dimension's own translation is added.
//! Read back with zarr-python (pixels and `multiscales[0].datasets[0]`), the stores
//! validated by yaozarrs; both are required. A writer that dies (the backend leaked
//! after a durability point) leaves them in place, and `recover` keeps them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use ome_writers_backend::{Backend, Progress};
use ome_writers_router::FrameRouter;
use ome_writers_schema::{FrameOrder, Schema};
use ome_writers_zarr::{ZarrBackend, recover};
use serde_json::{Value, json};

/// Z (2 µm steps), Y and X (0.5 µm pixels) after `t` and the positions.
fn dims(positions: &Value, x_translation: Option<f64>) -> Value {
    json!([
        {"name": "t", "count": 2},
        {"name": "p", "type": "position", "coords": positions},
        {"name": "z", "count": 3, "unit": "micrometer", "scale": 2.0},
        {"name": "y", "count": 4, "unit": "micrometer", "scale": 0.5},
        {"name": "x", "count": 4, "unit": "micrometer", "scale": 0.5,
         "translation": x_translation}
    ])
}

/// One layout: its settings (without `root_path`), its image groups and the
/// translation each should carry (axes t, z, y, x; `None`: no translation).
struct Layout {
    name: &'static str,
    settings: Value,
    groups: Vec<&'static str>,
    want: Vec<Option<[f64; 4]>>,
}

fn layouts() -> Vec<Layout> {
    let plate = json!({"row_names": ["A", "B"], "column_names": ["1", "2", "3"]});
    vec![
        Layout {
            name: "single",
            settings: json!({"dimensions": dims(
                &json!([{"name": "only", "x_coord": 111.0, "y_coord": -222.5}]), None)}),
            groups: vec![""],
            want: vec![Some([0.0, 0.0, -222.5, 111.0])],
        },
        Layout {
            name: "bioformats2raw",
            settings: json!({"dimensions": dims(&json!([
                {"name": "A", "x_coord": 100.0, "y_coord": 200.0, "z_coord": 5.0},
                {"name": "B", "x_coord": 500.0, "y_coord": 800.0, "z_coord": 10.0},
                {"name": "C"}]), Some(0.25))}),
            groups: vec!["A", "B", "C"],
            want: vec![
                Some([0.0, 5.0, 200.0, 100.25]),
                Some([0.0, 10.0, 800.0, 500.25]),
                Some([0.0, 0.0, 0.0, 0.25]),
            ],
        },
        Layout {
            name: "plate",
            settings: json!({"plate": plate, "dimensions": dims(&json!([
                {"name": "f0", "plate_row": "A", "plate_column": "1", "x_coord": 1.5, "y_coord": 2.5},
                {"name": "f1", "plate_row": "A", "plate_column": "1", "x_coord": 3.5, "z_coord": -4.0},
                {"name": "f0", "plate_row": "B", "plate_column": "3"}]), None)}),
            groups: vec!["A/1/f0", "A/1/f1", "B/3/f0"],
            want: vec![
                Some([0.0, 0.0, 2.5, 1.5]),
                Some([0.0, -4.0, 0.0, 3.5]),
                Some([0.0, 0.0, 0.0, 0.0]),
            ],
        },
        Layout {
            name: "no_coordinates",
            settings: json!({"dimensions": dims(&json!(["A", "B"]), None)}),
            groups: vec!["A", "B"],
            want: vec![None, None],
        },
    ]
}

/// Write `frames` frames of a layout (each filled with its frame number + 1), then
/// finalize, or die after a durability point. Returns the root and `[group: [[storage
/// index, value]]]` of the frames written.
fn write(layout: &Layout, dir: &Path, frames: Option<u64>) -> (PathBuf, Value) {
    let root = dir.join(format!("{}.ome.zarr", layout.name));
    let mut settings = layout.settings.clone();
    settings["root_path"] = json!(root);
    settings["dtype"] = json!("uint8");
    let schema = Schema::from_json(&settings.to_string()).unwrap();
    let router = FrameRouter::new(&schema);
    let total = router.total().unwrap();
    let mut backend = ZarrBackend::create(&schema).unwrap();
    let mut written = vec![Vec::new(); layout.groups.len()];
    for route in router.take(frames.unwrap_or(total) as usize) {
        let v = route.frame.0 as u8 + 1;
        backend
            .write(route.position, &route.index, &[v; 16], None)
            .unwrap();
        written[route.position.0].push(json!([route.index.as_slice(), v]));
    }
    if frames.is_some() {
        backend.flush().unwrap();
        std::mem::forget(backend); // the process dies here
    } else {
        backend
            .finalize(&Progress {
                frames_written: total,
                frames_reached: total,
                growth_extent: 2,
                complete: true,
                ..Progress::default()
            })
            .unwrap();
    }
    let spec: serde_json::Map<String, Value> = layout
        .groups
        .iter()
        .map(|g| (*g).to_owned())
        .zip(written.into_iter().map(Value::from))
        .collect();
    (root, Value::Object(spec))
}

const READ_BACK: &str = r#"
import json, sys, warnings, zarr, yaozarrs
root, spec = sys.argv[1], json.loads(sys.argv[2])
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    yaozarrs.validate_zarr_store(root)
out = {}
for group, frames in spec.items():
    g = zarr.open_group(store=root + ("/" + group if group else ""), mode="r")
    ms = g.attrs["ome"]["multiscales"][0]
    a = g["0"][...]
    for index, v in frames:
        assert (a[tuple(index)] == v).all(), (group, index, v)
    out[group] = {"axes": [ax["name"] for ax in ms["axes"]],
                  "transforms": ms["datasets"][0]["coordinateTransformations"]}
print(json.dumps(out))
"#;

/// What zarr-python reads of every image, after yaozarrs validated the store.
fn read_back(root: &Path, spec: &Value) -> Value {
    let py = ome_writers_test_support::python()
        .expect("zarr-python and yaozarrs are required: set OMEW_PYTHON");
    let out = Command::new(py)
        .args(["-c", READ_BACK])
        .arg(root)
        .arg(spec.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}: {}",
        root.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn check(layout: &Layout, root: &Path, spec: &Value, when: &str) {
    let got = read_back(root, spec);
    for (g, want) in layout.groups.iter().zip(&layout.want) {
        let label = format!("{} {g:?} {when}", layout.name);
        let image = &got[*g];
        assert_eq!(image["axes"], json!(["t", "z", "y", "x"]), "{label}");
        let mut expected = vec![json!({"type": "scale", "scale": [1.0, 2.0, 0.5, 0.5]})];
        if let Some(t) = want {
            expected.push(json!({"type": "translation", "translation": t}));
        }
        assert_eq!(image["transforms"], json!(expected), "{label}");
    }
}

#[test]
fn stage_positions_are_each_images_translation() {
    let dir = tempfile::tempdir().unwrap();
    for layout in layouts() {
        let (root, spec) = write(&layout, dir.path(), None);
        check(&layout, &root, &spec, "finished");
    }
}

#[test]
fn a_dead_writers_dataset_keeps_them_and_recovery_too() {
    let dir = tempfile::tempdir().unwrap();
    for layout in layouts() {
        // 3 positions × 3 z per time point: the second time point is cut short.
        let (root, spec) = write(&layout, dir.path(), Some(11));
        check(&layout, &root, &spec, "after the crash");
        let report = recover(&root, &by_router).unwrap();
        assert!(report.nothing_to_repair.is_none(), "{report}");
        check(&layout, &root, &spec, "after recovery");
    }
}

/// The acquisition order recovery is given: the router's.
fn by_router(schema: &Schema) -> Box<dyn FrameOrder> {
    Box::new(FrameRouter::new(schema))
}
