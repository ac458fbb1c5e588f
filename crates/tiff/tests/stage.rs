//! Stage positions (`x_coord`, `y_coord`, `z_coord` of each position) become each
//! image's `StageLabel` and every plane's `PositionX/Y/Z`, in the units of the X, Y and
//! Z axes (µm where an axis has none); a frame's own `position_x/y/z` metadata
//! (micrometres) wins for its plane. Single file, several files (companion), a plate
//! (redundant), and no coordinates at all. Read back by tifffile + ome-types (XSD
//! validation) and by Bio-Formats (`ImageInfo -omexml`); both are required. A writer
//! that dies after a durability point leaves the stage labels in place, and `recover`
//! restores every plane's position.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use ome_writers_backend::{Backend, FrameMetadata, Progress};
use ome_writers_router::FrameRouter;
use ome_writers_schema::Schema;
use ome_writers_tiff::TiffBackend;
use serde_json::{Value, json};

/// `(value, unit)` of a position attribute.
type Len = Option<(f64, String)>;

/// One case: settings without `root_path`, and per position what its StageLabel must
/// say (X, Y, Z with units; `None`: no StageLabel).
struct Case {
    name: &'static str,
    settings: Value,
    labels: Vec<Option<[Len; 3]>>,
}

// Short for the tables of expected values, which hold `Len`s.
#[allow(clippy::unnecessary_wraps)]
fn l(v: f64, unit: &str) -> Len {
    Some((v, unit.to_owned()))
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "single",
            settings: json!({"dimensions": [
                {"name": "p", "type": "position", "coords": [
                    {"name": "s1", "x_coord": 10.5, "y_coord": -3.0, "z_coord": 7.0}]},
                {"name": "t", "count": 2},
                {"name": "z", "count": 3, "unit": "um", "scale": 2.0},
                {"name": "y", "count": 4, "unit": "um", "scale": 0.5},
                {"name": "x", "count": 4, "unit": "nm", "scale": 500.0}]}),
            labels: vec![Some([l(10.5, "nm"), l(-3.0, "µm"), l(7.0, "µm")])],
        },
        Case {
            name: "files",
            settings: json!({
                "format": {"name": "ome-tiff", "multi_file_metadata": "companion-file"},
                "dimensions": [
                {"name": "t", "count": 2},
                {"name": "p", "type": "position", "coords": [
                    {"name": "A", "x_coord": 100.0, "y_coord": 200.0, "z_coord": 5.0},
                    {"name": "B", "x_coord": 500.0, "y_coord": 800.0},
                    {"name": "C"}]},
                {"name": "z", "count": 2},
                {"name": "y", "count": 4, "unit": "mm"},
                {"name": "x", "count": 4, "unit": "mm"}]}),
            labels: vec![
                Some([l(100.0, "mm"), l(200.0, "mm"), l(5.0, "µm")]),
                Some([l(500.0, "mm"), l(800.0, "mm"), None]),
                None,
            ],
        },
        Case {
            name: "plate",
            settings: json!({
                "format": {"name": "ome-tiff", "multi_file_metadata": "redundant"},
                "plate": {"row_names": ["A", "B"], "column_names": ["1", "2", "3"]},
                "dimensions": [
                {"name": "p", "type": "position", "coords": [
                    {"name": "f0", "plate_row": "A", "plate_column": "1", "x_coord": 1.5, "y_coord": 2.5},
                    {"name": "f1", "plate_row": "A", "plate_column": "1", "x_coord": 3.5, "z_coord": -4.0},
                    {"name": "f0", "plate_row": "B", "plate_column": "3"}]},
                {"name": "t", "count": 3},
                {"name": "y", "count": 4}, {"name": "x", "count": 4}]}),
            labels: vec![
                Some([l(1.5, "µm"), l(2.5, "µm"), None]),
                Some([l(3.5, "µm"), None, l(-4.0, "µm")]),
                None,
            ],
        },
        Case {
            name: "no_coordinates",
            settings: json!({
                "format": {"name": "ome-tiff", "multi_file_metadata": "companion-file"},
                "dimensions": [
                {"name": "t", "count": 2},
                {"name": "p", "type": "position", "coords": ["A", "B"]},
                {"name": "y", "count": 4}, {"name": "x", "count": 4}]}),
            labels: vec![None, None],
        },
    ]
}

/// Every third frame says where the stage was: X and Z, in micrometres.
fn frame_position(n: u64) -> Option<[Option<f64>; 3]> {
    n.is_multiple_of(3)
        .then(|| [Some(1000.0 + n as f64), None, Some(-(n as f64))])
}

/// A written case: its schema, the files per position, and per (position, z, t) the
/// position metadata of the frame written there.
struct Written {
    /// The dataset: a file, or the folder of a multi-file dataset.
    output: PathBuf,
    schema: Schema,
    files: Vec<PathBuf>,
    entry: PathBuf,
    frames: BTreeMap<(usize, u64, u64), [Option<f64>; 3]>,
}

/// Write `frames` frames of a case (all when `None`), then finalize, or die after a
/// durability point.
fn write(case: &Case, dir: &Path, frames: Option<u64>) -> Written {
    let root = dir.join(format!("{}.ome.tiff", case.name));
    let mut settings = case.settings.clone();
    settings["root_path"] = json!(root);
    settings["dtype"] = json!("uint8");
    let schema = Schema::from_json(&settings.to_string()).unwrap();
    let router = FrameRouter::new(&schema);
    let total = router.total().unwrap();
    let mut backend = TiffBackend::create(&schema).unwrap();
    let names: Vec<&str> = schema
        .storage_dims()
        .map(ome_writers_schema::Dim::name)
        .collect();
    let mut written = BTreeMap::new();
    for route in router.take(frames.unwrap_or(total) as usize) {
        let n = route.frame.0;
        let at = |axis: &str| {
            names
                .iter()
                .position(|d| *d == axis)
                .map_or(0, |k| route.index.as_slice()[k])
        };
        let position = frame_position(n);
        let meta: Option<FrameMetadata> = position.map(|[x, _, z]| {
            let v = json!({"position_x": x, "position_z": z, "n": n});
            v.as_object().cloned().unwrap()
        });
        backend
            .write(
                route.position,
                &route.index,
                &[n as u8 + 1; 16],
                meta.as_ref(),
            )
            .unwrap();
        if let Some(p) = position {
            written.insert((route.position.0, at("z"), at("t")), p);
        }
    }
    if frames.is_some() {
        backend.flush().unwrap();
        std::mem::forget(backend); // the process dies here
    } else {
        backend
            .finalize(&Progress {
                frames_written: total,
                frames_reached: total,
                growth_extent: schema.dims()[0].count().unwrap_or(1),
                complete: true,
                ..Progress::default()
            })
            .unwrap();
    }
    let output = schema.output_path().unwrap().to_owned();
    let files: Vec<PathBuf> = if schema.tiff_layout().is_some_and(|l| l.multi_file) {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&output)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|f| f.to_string_lossy().ends_with(".ome.tiff"))
            .collect();
        files.sort();
        files
    } else {
        vec![output.clone()]
    };
    assert_eq!(files.len(), schema.positions().len(), "{files:?}");
    Written {
        output,
        entry: files[0].clone(),
        schema,
        files,
        frames: written,
    }
}

const READ_BACK: &str = r#"
import json, sys
sys.path.insert(0, sys.argv[1])
import ome_types, tifffile
from inspect_tiff import describing_xml

def unit(u):
    return None if u is None else u.value

for arg in sys.argv[2:]:
    with tifffile.TiffFile(arg) as tf:
        own = tf.pages[0].description
        pages = len(tf.pages)
    doc = ome_types.from_xml(describing_xml(__import__("pathlib").Path(arg), own), validate=True)
    images = []
    for im in doc.images:
        sl = im.stage_label
        label = None if sl is None else {
            "name": sl.name,
            "x": sl.x, "x_unit": unit(sl.x_unit) if sl.x is not None else None,
            "y": sl.y, "y_unit": unit(sl.y_unit) if sl.y is not None else None,
            "z": sl.z, "z_unit": unit(sl.z_unit) if sl.z is not None else None}
        planes = [{"z": p.the_z, "t": p.the_t,
                   "x": p.position_x, "x_unit": unit(p.position_x_unit) if p.position_x is not None else None,
                   "y": p.position_y, "y_unit": unit(p.position_y_unit) if p.position_y is not None else None,
                   "pz": p.position_z, "z_unit": unit(p.position_z_unit) if p.position_z is not None else None}
                  for p in im.pixels.planes]
        images.append({"name": im.name, "stage_label": label, "planes": planes,
                       "size": im.pixels.size_z * im.pixels.size_c * im.pixels.size_t})
    print(json.dumps({"path": arg, "pages": pages, "images": images}))
"#;

/// What tifffile + ome-types (XSD-validated) read of each file's describing OME-XML.
fn read_back(paths: &[PathBuf]) -> Vec<Value> {
    let py = support::python().expect("tifffile and ome-types are required: set OMEW_PYTHON");
    let out = Command::new(py)
        .args(["-c", READ_BACK])
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support"))
        .args(paths)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{paths:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn len(v: &Value, unit: &Value) -> Len {
    v.as_f64()
        .map(|x| (x, unit.as_str().unwrap_or("").to_owned()))
}

/// The StageLabel of image `image` (of position `p`).
fn check_label(case: &Case, p: usize, w: &Written, image: &Value, label: &str) {
    let got = &image["stage_label"];
    match &case.labels[p] {
        None => assert!(got.is_null(), "{label}: {got}"),
        Some(want) => {
            assert_eq!(got["name"], json!(w.schema.positions()[p].name), "{label}");
            let got = ["x", "y", "z"].map(|a| len(&got[a], &got[format!("{a}_unit")]));
            assert_eq!(&got, want, "{label}");
        }
    }
}

/// Every plane of image `image` (position `p`): the frame's own X and Z where it had
/// them, else the position's coordinates; planes only where something is known.
fn check_planes(case: &Case, p: usize, w: &Written, image: &Value, label: &str) {
    let planes = image["planes"].as_array().unwrap();
    let stage = case.labels[p].clone().unwrap_or_default();
    if case.labels[p].is_some() {
        assert_eq!(
            planes.len() as u64,
            image["size"].as_u64().unwrap(),
            "{label}"
        );
    }
    for plane in planes {
        let (z, t) = (plane["z"].as_u64().unwrap(), plane["t"].as_u64().unwrap());
        let own = w.frames.get(&(p, z, t));
        let pick = |k: usize, stage: &Len| match own.and_then(|f| f[k]) {
            Some(v) => Some((v, "µm".to_owned())),
            None => stage.clone(),
        };
        let want = [pick(0, &stage[0]), pick(1, &stage[1]), pick(2, &stage[2])];
        let got = [
            len(&plane["x"], &plane["x_unit"]),
            len(&plane["y"], &plane["y_unit"]),
            len(&plane["pz"], &plane["z_unit"]),
        ];
        assert_eq!(got, want, "{label}: plane z={z} t={t}");
    }
    // Without coordinates, only the frames that came with metadata have planes.
    if case.labels[p].is_none() {
        let own = w.frames.keys().filter(|(q, _, _)| *q == p).count();
        assert_eq!(planes.len(), own, "{label}: planes");
    }
}

/// tifffile + ome-types on the entry file: one image per position.
fn check_full(case: &Case, w: &Written, when: &str) {
    let [file] = read_back(std::slice::from_ref(&w.entry))
        .try_into()
        .unwrap();
    let images = file["images"].as_array().unwrap();
    assert_eq!(images.len(), w.schema.positions().len(), "{}", case.name);
    for (p, image) in images.iter().enumerate() {
        let label = format!("{} image {p} {when}", case.name);
        check_label(case, p, w, image, &label);
        check_planes(case, p, w, image, &label);
    }
}

/// `name="value"` attributes of every `<tag ...>` in `xml`, in order.
fn elements(xml: &str, tag: &str) -> Vec<BTreeMap<String, String>> {
    let open = format!("<{tag} ");
    let mut out = Vec::new();
    for (at, _) in xml.match_indices(&open) {
        let body = &xml[at + open.len()..];
        let body = &body[..body.find('>').unwrap_or(body.len())];
        let mut attrs = BTreeMap::new();
        let mut rest = body;
        while let Some(eq) = rest.find("=\"") {
            let key = rest[..eq].trim().trim_start_matches('/').to_owned();
            let value_start = eq + 2;
            let end = rest[value_start..].find('"').unwrap() + value_start;
            attrs.insert(key, rest[value_start..end].to_owned());
            rest = &rest[end + 1..];
        }
        out.push(attrs);
    }
    out
}

/// Bio-Formats reports the stage labels and every plane's position of the entry file.
fn check_bioformats(case: &Case, w: &Written) {
    let jar = support::bioformats().unwrap_or_else(|| {
        panic!("Bio-Formats is required for this test: set OMEW_BIOFORMATS_JAR")
    });
    let (series, out) = support::image_info(&jar, &w.entry);
    let name = case.name;
    assert!(
        out.contains("No validation errors found."),
        "{name}: Bio-Formats found OME-XML validation errors\n{out}"
    );
    assert_eq!(series.len(), w.schema.positions().len(), "{name}\n{out}");
    let xml = &out[out.find("<OME").unwrap_or(0)..];
    let images = support::images(xml);
    assert_eq!(images.len(), series.len(), "{name}\n{xml}");
    let num = |a: &BTreeMap<String, String>, k: &str| -> Option<(f64, String)> {
        let v: f64 = a.get(k)?.parse().unwrap();
        Some((v, a.get(&format!("{k}Unit")).cloned().unwrap_or_default()))
    };
    for (p, image) in images.iter().enumerate() {
        let labels = elements(image, "StageLabel");
        match &case.labels[p] {
            None => assert!(labels.is_empty(), "{name} {p}: {image}"),
            Some(want) => {
                let [label] = labels.as_slice() else {
                    panic!("{name} {p}: no StageLabel\n{image}")
                };
                let got = ["X", "Y", "Z"].map(|k| num(label, k));
                assert_eq!(&got, want, "{name} {p}: Bio-Formats StageLabel");
            }
        }
        let planes = elements(image, "Plane");
        if let Some(stage) = &case.labels[p] {
            let size = series[p].num("Image count");
            assert_eq!(planes.len() as u64, size, "{name} {p}: planes\n{image}");
            for plane in &planes {
                let at = |k: &str| plane[k].parse::<u64>().unwrap();
                let own = w.frames.get(&(p, at("TheZ"), at("TheT")));
                let want_x = own
                    .and_then(|f| f[0])
                    .map(|v| (v, "µm".to_owned()))
                    .or_else(|| stage[0].clone());
                assert_eq!(num(plane, "PositionX"), want_x, "{name} {p}: {plane:?}");
                assert_eq!(num(plane, "PositionY"), stage[1], "{name} {p}: {plane:?}");
            }
        }
    }
    println!("ok bioformats {name}");
}

#[test]
fn stage_positions_are_stage_labels_and_plane_positions() {
    let dir = tempfile::tempdir().unwrap();
    for case in cases() {
        let w = write(&case, dir.path(), None);
        check_full(&case, &w, "finished");
        check_bioformats(&case, &w);
    }
    support::keep_if_asked(dir);
}

#[test]
fn a_dead_writers_files_keep_the_stage_labels_and_recovery_the_planes() {
    let dir = tempfile::tempdir().unwrap();
    for case in cases() {
        // Cut short in the last time point of every case.
        let total = Schema::from_json(
            &json!({"root_path": "a.ome.tiff", "dtype": "uint8",
                    "dimensions": case.settings["dimensions"]})
            .to_string(),
        )
        .unwrap()
        .num_frames()
        .unwrap();
        let w = write(&case, dir.path(), Some(total - 2));
        // Each file alone, as its provisional document describes it.
        for (p, file) in read_back(&w.files).iter().enumerate() {
            let [image] = file["images"].as_array().unwrap().as_slice() else {
                panic!("{}: {file}", case.name)
            };
            let label = format!("{} image {p} after the crash", case.name);
            check_label(&case, p, &w, image, &label);
        }
        let recovery = ome_writers_tiff::recover(&w.output).unwrap();
        println!("{}: {recovery:?}", case.name);
        check_full(&case, &w, "after recovery");
        check_bioformats(&case, &w);
    }
}
