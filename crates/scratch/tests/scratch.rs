//! The scratch backend end to end: frames whose pixels are their frame number + 1,
//! read back through the backend's reader and arrays, through `open`, and by numpy.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use common::{Planes, backend, check_arrays, check_numpy, drive, progress, schema, tcyx};
use ome_writers_backend::{Backend, BackendError, DatasetStatus};
use ome_writers_scratch::{ScratchBackend, ScratchError, open, repair};
use serde_json::{Value, json};

fn none() -> BTreeSet<u64> {
    BTreeSet::new()
}

/// One case: settings, frames reached, frames skipped; the expected shape.
struct Case {
    name: &'static str,
    settings: Value,
    frames: u64,
    skip: &'static [u64],
    shape: Vec<u64>,
    /// Expected on disk (`root_path` set or spilled).
    on_disk: bool,
}

fn cases(dir: &std::path::Path) -> Vec<Case> {
    let root = |n: &str| dir.join(n).to_string_lossy().into_owned();
    vec![
        Case {
            name: "in memory",
            settings: json!({"format": "scratch", "dimensions": tcyx(Some(3), 2)}),
            frames: 6,
            skip: &[],
            shape: vec![3, 2, 3, 5],
            on_disk: false,
        },
        Case {
            name: "in memory, skips read as zeros",
            settings: json!({"format": "scratch", "dimensions": tcyx(Some(3), 2)}),
            frames: 6,
            skip: &[1, 3, 4],
            shape: vec![3, 2, 3, 5],
            on_disk: false,
        },
        Case {
            name: "in memory, stopped early: the partial-acquisition rule",
            settings: json!({"format": "scratch", "dimensions": tcyx(Some(5), 2)}),
            frames: 3,
            skip: &[],
            shape: vec![2, 2, 3, 5],
            on_disk: false,
        },
        Case {
            name: "in memory, unbounded growth",
            settings: json!({"format": "scratch", "dimensions": tcyx(None, 2)}),
            frames: 20,
            skip: &[],
            shape: vec![10, 2, 3, 5],
            on_disk: false,
        },
        Case {
            name: "in memory, several positions",
            settings: json!({"format": "scratch", "dimensions": [
                {"name": "t", "count": 2}, {"name": "p", "count": 3},
                {"name": "y", "count": 3}, {"name": "x", "count": 5}]}),
            frames: 6,
            skip: &[2],
            shape: vec![2, 3, 5],
            on_disk: false,
        },
        Case {
            name: "spilled at creation (limit below the data)",
            settings: json!({"format": {"name": "scratch", "max_memory_bytes": 100},
                             "dimensions": tcyx(Some(3), 2)}),
            frames: 6,
            skip: &[0],
            shape: vec![3, 2, 3, 5],
            on_disk: true,
        },
        Case {
            name: "spilled while growing",
            settings: json!({"format": {"name": "scratch", "max_memory_bytes": 500},
                             "dimensions": tcyx(None, 2)}),
            frames: 16,
            skip: &[5],
            shape: vec![8, 2, 3, 5],
            on_disk: true,
        },
        Case {
            name: "root_path, bounded",
            settings: json!({"root_path": root("bounded"), "format": "scratch",
                             "dimensions": tcyx(Some(3), 2)}),
            frames: 6,
            skip: &[3],
            shape: vec![3, 2, 3, 5],
            on_disk: true,
        },
        Case {
            name: "root_path, unbounded with a skip at the end",
            settings: json!({"root_path": root("unbounded"), "format": "scratch",
                             "dimensions": tcyx(None, 2)}),
            frames: 19,
            skip: &[18],
            shape: vec![10, 2, 3, 5],
            on_disk: true,
        },
        Case {
            name: "root_path, several positions, storage order as listed",
            settings: json!({"root_path": root("positions"), "format": "scratch",
                "storage_order": ["t", "p", "z", "y", "x"],
                "dimensions": [{"name": "t", "count": 2}, {"name": "z", "count": 2},
                    {"name": "p", "count": 2}, {"name": "y", "count": 3}, {"name": "x", "count": 5}]}),
            frames: 8,
            skip: &[],
            shape: vec![2, 2, 3, 5],
            on_disk: true,
        },
    ]
}

#[test]
fn every_frame_reads_back_where_the_router_put_it() {
    let dir = tempfile::tempdir().unwrap();
    for case in cases(dir.path()) {
        let s = schema(&case.settings);
        let (mut b, arrays) = backend(&s);
        let skip: BTreeSet<u64> = case.skip.iter().copied().collect();
        let planes = drive(&mut b, &s, 0..case.frames, &skip);
        assert_eq!(b.frames_readable(), planes.len() as u64, "{}", case.name);
        let summary = b
            .finalize(&progress(&s, case.frames, skip.len() as u64))
            .unwrap();
        assert_eq!(summary.shape, case.shape, "{}", case.name);
        assert_eq!(summary.frames_written, planes.len() as u64);
        assert_eq!(arrays.dir().is_some(), case.on_disk, "{}", case.name);
        check_arrays(&arrays, &s, &planes);
        if let Some(d) = arrays.dir() {
            let shapes = vec![case.shape.clone(); s.positions().len()];
            check_numpy(&d, "uint16", &shapes, &planes);
            check_reopened(&d, &case.shape, &planes);
        }
        // A spill directory goes with the last handle on the arrays.
        let spilled = arrays.dir().filter(|_| s.output_path().is_none());
        drop((b, arrays));
        if let Some(d) = spilled {
            assert!(!d.exists(), "{}: {} left behind", case.name, d.display());
        }
    }
}

/// `open` finds every plane, the frame metadata (with `_pos` and `_idx`), the status.
fn check_reopened(dir: &std::path::Path, shape: &[u64], planes: &Planes) {
    let ds = open(dir).unwrap();
    assert_eq!(ds.shapes()[0], shape);
    for (p, idx, value) in planes {
        let a = ds.array::<u16>(*p).unwrap();
        let ix: Vec<usize> = idx.iter().map(|&i| i as usize).chain([1, 2]).collect();
        assert_eq!(
            u64::from(a[ix.as_slice()]),
            *value,
            "{} p{p} {idx:?}",
            dir.display()
        );
    }
    let lines = ds.frame_metadata();
    assert_eq!(lines.len(), planes.len());
    for (line, (p, idx, value)) in lines.iter().zip(planes) {
        assert_eq!(line["_pos"], json!(p));
        assert_eq!(line["_idx"], json!(idx));
        assert_eq!(line["n"], json!(value - 1));
    }
}

#[test]
fn the_manifest_has_pythons_keys_and_our_record() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("run");
    let s =
        schema(&json!({"root_path": root, "format": "scratch", "dimensions": tcyx(Some(3), 2)}));
    let (mut b, _) = backend(&s);
    b.set_global_metadata("pymmcore_plus", &json!({"a": 1, "nested": {"b": [2, 3]}}))
        .unwrap();
    b.set_global_metadata("other", &json!({"x": 42})).unwrap();
    drive(&mut b, &s, 0..4, &none());
    b.flush().unwrap();
    let m: Value =
        serde_json::from_slice(&std::fs::read(root.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["ome_writers"]["status"], "acquiring");
    assert_eq!(m["ome_writers"]["frames_written"], 4);
    b.finalize(&progress(&s, 6, 2)).unwrap();
    let m: Value =
        serde_json::from_slice(&std::fs::read(root.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(m["dtype"], "uint16");
    let names: Vec<&str> = m["dimensions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["t", "c", "y", "x"]);
    assert_eq!(m["dimensions"][0]["type"], "time");
    assert_eq!(m["dimensions"][0]["count"], 3);
    assert_eq!(m["format"]["name"], "scratch");
    assert_eq!(m["position_shapes"], json!([[3, 2, 3, 5]]));
    assert_eq!(
        m["global_metadata"],
        json!({"pymmcore_plus": {"a": 1, "nested": {"b": [2, 3]}}, "other": {"x": 42}})
    );
    assert_eq!(m["ome_writers"]["status"], "complete");
    assert_eq!(
        m["ome_writers"]["storage_axes"],
        json!(["t", "c", "y", "x"])
    );
    let ds = open(&root).unwrap();
    assert_eq!(ds.status(), Some(DatasetStatus::Complete));
    assert_eq!(ds.global_metadata()["other"], json!({"x": 42}));
    assert_eq!(ds.settings(), s.settings());
}

#[test]
fn over_the_limit_without_spill_is_refused_at_creation_naming_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let s = schema(
        &json!({"format": {"name": "scratch", "max_memory_bytes": 100, "spill_to_disk": false},
                           "dimensions": tcyx(Some(3), 2)}),
    );
    let before = spill_dirs();
    let err = ScratchBackend::create(&s).unwrap_err();
    let msg = ome_writers_backend::error_chain(&err);
    assert!(msg.contains("max_memory_bytes=100"), "{msg}");
    // 6 planes of 30 bytes, plus 16 bytes of bookkeeping each.
    assert!(msg.contains("276 bytes"), "{msg}");
    assert!(matches!(&err, BackendError::Backend { source, .. }
        if matches!(source.downcast_ref::<ScratchError>(), Some(ScratchError::MemoryLimit { needed: 276, max_memory_bytes: 100 }))));
    assert_eq!(spill_dirs(), before, "nothing is written");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

    // Unbounded: the limit is checked before each growth; the frames before it stay.
    let s = schema(
        &json!({"format": {"name": "scratch", "max_memory_bytes": 300, "spill_to_disk": false},
                           "dimensions": tcyx(None, 2)}),
    );
    let (mut b, arrays) = backend(&s);
    // 3 rows of 2 planes (46 bytes each) fit in 300 bytes, the 4th row does not.
    let planes = drive(&mut b, &s, 0..6, &none());
    let router = ome_writers_router::FrameRouter::new(&s);
    let r = router.route(ome_writers_schema::FrameNumber(6)).unwrap();
    let err = b
        .write(r.position, &r.index, &common::frame(&s, 6), None)
        .unwrap_err();
    let msg = ome_writers_backend::error_chain(&err);
    assert!(
        msg.contains("max_memory_bytes=300") && msg.contains("368 bytes"),
        "{msg}"
    );
    assert_eq!(b.frames_readable(), 6);
    check_arrays(&arrays, &s, &planes);
}

fn spill_dirs() -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("ome_scratch_"))
        })
        .collect();
    v.sort();
    v
}

#[test]
fn a_killed_writer_leaves_every_frame_written_and_repair_finishes_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("crashed");
    let s = schema(&json!({"root_path": root, "format": "scratch", "dimensions": tcyx(None, 2)}));
    let (mut b, arrays) = backend(&s);
    let mut planes = drive(&mut b, &s, 0..6, &none());
    b.flush().unwrap();
    planes.extend(drive(&mut b, &s, 6..15, &none()));
    // The process dies: no finalize, no drop.
    std::mem::forget(b);
    std::mem::forget(arrays);
    let ds = open(&root).unwrap();
    assert_eq!(ds.status(), Some(DatasetStatus::Acquiring));
    assert_eq!(
        ds.frames_written(),
        Some(6),
        "as of the last durability point"
    );
    assert_eq!(
        ds.shapes()[0],
        [8, 2, 3, 5],
        "the first axis measured from the file"
    );
    check_reopened(&root, &[8, 2, 3, 5], &planes);
    let report = repair(&root).unwrap();
    assert_eq!(report.after, DatasetStatus::Partial);
    assert_eq!(report.frames_written, 15, "from the frame metadata lines");
    assert_eq!(report.shapes, [vec![8, 2, 3, 5]]);
    assert!(
        report.to_string().contains("acquiring -> partial"),
        "{report}"
    );
    check_numpy(&root, "uint16", &[vec![8, 2, 3, 5]], &planes);
    assert!(matches!(repair(&root), Err(ScratchError::Finished { .. })));
    assert_eq!(open(&root).unwrap().status(), Some(DatasetStatus::Partial));
}

#[test]
fn a_killed_child_process_leaves_every_frame_written() {
    // The child is this test binary itself, running the writer below and killed with
    // SIGKILL once it says how many frames it wrote.
    if let Ok(root) = std::env::var("OMEW_SCRATCH_CHILD") {
        child_writer(&root);
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("killed");
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_killed_child_process_leaves_every_frame_written",
            "--nocapture",
        ])
        .env("OMEW_SCRATCH_CHILD", &root)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            std::io::BufRead::read_line(&mut out, &mut line).unwrap() > 0,
            "child ended early"
        );
        if line.starts_with("WROTE") {
            break;
        }
    }
    let written: u64 = line.trim().trim_start_matches("WROTE ").parse().unwrap();
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let s = schema(&json!({"root_path": root, "format": "scratch", "dimensions": tcyx(None, 2)}));
    let ds = open(&root).unwrap();
    assert_eq!(ds.status(), Some(DatasetStatus::Acquiring));
    let router = ome_writers_router::FrameRouter::new(&s);
    let a = ds.array::<u16>(0).unwrap();
    for n in 0..written {
        let r = router.route(ome_writers_schema::FrameNumber(n)).unwrap();
        let ix: Vec<usize> = r
            .index
            .as_slice()
            .iter()
            .map(|&i| i as usize)
            .chain([2, 4])
            .collect();
        assert_eq!(u64::from(a[ix.as_slice()]), n + 1, "frame {n}");
    }
    assert_eq!(
        ds.frame_metadata().len() as u64,
        written,
        "each line written with its frame"
    );
}

fn child_writer(root: &str) {
    let s = schema(&json!({"root_path": root, "format": "scratch", "dimensions": tcyx(None, 2)}));
    let b = ScratchBackend::create(&s).unwrap();
    let mut b = ome_writers_backend::Checked::new(&s, b);
    drive(&mut b, &s, 0..10, &none());
    b.flush().unwrap();
    drive(&mut b, &s, 10..25, &none());
    println!("WROTE 25");
    std::thread::sleep(std::time::Duration::from_mins(1));
}

#[test]
fn overwrite_replaces_only_a_scratch_directory_we_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("run");
    let settings = |overwrite: bool| {
        schema(
            &json!({"root_path": root, "format": "scratch", "overwrite": overwrite,
                       "dimensions": tcyx(Some(1), 2)}),
        )
    };
    let write = |overwrite: bool, first: u64| -> Result<(), BackendError> {
        let s = settings(overwrite);
        let mut b = ScratchBackend::create(&s)?;
        drive(&mut b, &s, 0..2, &none());
        let _ = first;
        b.finalize(&progress(&s, 2, 0)).map(|_| ())
    };
    write(false, 0).unwrap();
    assert!(matches!(write(false, 0), Err(BackendError::Exists { .. })));
    write(true, 0).unwrap();
    std::fs::write(root.join("thesis.docx"), b"years").unwrap();
    let err = write(true, 0).unwrap_err().to_string();
    assert!(err.contains("thesis.docx"), "{err}");
    assert_eq!(std::fs::read(root.join("thesis.docx")).unwrap(), b"years");
    // A directory that is not ours at all.
    let foreign = dir.path().join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    let e = open(&foreign).unwrap_err();
    assert!(matches!(e, ScratchError::NotScratch { .. }), "{e}");
    assert!(e.to_string().contains("manifest.json"), "{e}");
    std::fs::write(
        foreign.join("manifest.json"),
        br#"{"format": {"name": "ome-zarr"}}"#,
    )
    .unwrap();
    assert!(
        open(&foreign)
            .unwrap_err()
            .to_string()
            .contains("not scratch")
    );
}

#[test]
fn reserved_metadata_keys_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let s = schema(
        &json!({"root_path": dir.path().join("r"), "format": "scratch", "dimensions": tcyx(Some(1), 1)}),
    );
    let mut b = ScratchBackend::create(&s).unwrap();
    let meta = json!({"_idx": 1}).as_object().cloned().unwrap();
    let idx = ome_writers_schema::StorageIndex::new(&[0, 0]).unwrap();
    let err = b
        .write(
            ome_writers_schema::PositionIndex(0),
            &idx,
            &common::frame(&s, 0),
            Some(&meta),
        )
        .unwrap_err();
    assert!(
        ome_writers_backend::error_chain(&err).contains("\"_idx\" is reserved"),
        "{err}"
    );
}

#[test]
fn a_directory_python_wrote_opens() {
    let Some(python) = ome_writers_test_support::python() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("py");
    let script = r#"
import sys, numpy as np
from ome_writers import AcquisitionSettings, create_stream, dims_from_standard_axes
s = AcquisitionSettings(root_path=sys.argv[1], format="scratch", dtype="uint16",
    dimensions=dims_from_standard_axes({"t": None, "c": 2, "y": 3, "x": 5}))
with create_stream(s) as st:
    st.set_global_metadata("ns", {"k": 1})
    for i in range(6):
        st.append(np.full((3, 5), i + 1, dtype="uint16"), frame_metadata={"n": i})
"#;
    let out = std::process::Command::new(python)
        .args(["-c", script])
        .arg(&root)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ds = open(&root).unwrap();
    assert_eq!(ds.status(), None, "Python records no status");
    assert_eq!(ds.shapes(), [vec![3, 2, 3, 5]]);
    let a = ds.array::<u16>(0).unwrap();
    for n in 0..6usize {
        assert_eq!(usize::from(a[[n / 2, n % 2, 2, 4]]), n + 1);
    }
    assert_eq!(ds.frame_metadata().len(), 6);
    assert_eq!(ds.global_metadata()["ns"], json!({"k": 1}));
}

#[test]
fn a_failed_stream_is_recorded_failed_and_repair_keeps_it_failed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("failed");
    let s =
        schema(&json!({"root_path": root, "format": "scratch", "dimensions": tcyx(Some(3), 2)}));
    let (mut b, _) = backend(&s);
    let planes = drive(&mut b, &s, 0..3, &none());
    let mut p = progress(&s, 3, 0);
    p.failed = true;
    b.finalize(&p).unwrap();
    let ds = open(&root).unwrap();
    assert_eq!(ds.status(), Some(DatasetStatus::Failed));
    assert_eq!(ds.frames_written(), Some(3));
    check_reopened(&root, &[2, 2, 3, 5], &planes);
    let report = repair(&root).unwrap();
    assert_eq!(
        (report.before, report.after),
        (DatasetStatus::Failed, DatasetStatus::Failed)
    );
}
