//! Misuse of the backend contract, on every backend behind the facade's factory: each
//! call is a typed `UsageError`, nothing panics, and nothing is written for it.

use std::path::Path;

use ome_writers::{Backend, BackendError, Progress, Schema, create_backend};
use ome_writers_backend::UsageError;
use ome_writers_schema::{PositionIndex, StorageIndex};
use serde_json::json;

/// A root named `*_scratch` selects the scratch format (a directory of raw arrays).
fn schema(root: &Path) -> Schema {
    let format = if root.to_string_lossy().ends_with("_scratch") {
        "scratch"
    } else {
        "auto"
    };
    Schema::from_json(
        &json!({"root_path": root, "format": format, "dtype": "uint16", "dimensions": [
            {"name": "t", "count": 2}, {"name": "p", "type": "position", "count": 2},
            {"name": "y", "count": 4}, {"name": "x", "count": 3}]})
        .to_string(),
    )
    .unwrap()
}

/// Every file under `root` with its length.
fn files(root: &Path) -> Vec<(std::path::PathBuf, u64)> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(root) {
        for e in entries.flatten() {
            let m = e.metadata().unwrap();
            if m.is_dir() {
                out.extend(files(&e.path()));
            } else {
                out.push((e.path(), m.len()));
            }
        }
    }
    out.sort();
    out
}

fn usage(result: Result<impl std::fmt::Debug, BackendError>) -> UsageError {
    match result {
        Err(BackendError::Usage(u)) => u,
        other => panic!("expected a usage error, got {other:?}"),
    }
}

fn misuse_on(root: &Path) {
    let s = schema(root);
    let mut b = create_backend(&s).unwrap();
    // What is on disk: the output itself (a multi-file TIFF's folder).
    let root = s.output_path().unwrap().to_owned();
    let root = root.as_path();
    let at = |t: u64| StorageIndex::new(&[t]).unwrap();
    let good = vec![1u8; s.frame_bytes()];
    b.write(PositionIndex(0), &at(0), &good, None).unwrap();
    b.flush().unwrap();
    let before = files(root);
    assert!(!before.is_empty(), "{}: nothing on disk", root.display());
    let cases: [(&str, PositionIndex, StorageIndex, usize); 5] = [
        ("short frame", PositionIndex(0), at(1), s.frame_bytes() - 1),
        ("long frame", PositionIndex(0), at(1), s.frame_bytes() + 2),
        (
            "position past the end",
            PositionIndex(2),
            at(1),
            s.frame_bytes(),
        ),
        (
            "index past the shape",
            PositionIndex(1),
            at(2),
            s.frame_bytes(),
        ),
        (
            "index of the wrong length",
            PositionIndex(1),
            StorageIndex::new(&[0, 0]).unwrap(),
            s.frame_bytes(),
        ),
    ];
    for (what, p, idx, len) in cases {
        let e = usage(b.write(p, &idx, &vec![1u8; len], None));
        println!("{}: {what}: {e}", root.display());
    }
    assert_eq!(files(root), before, "a refused write wrote a file");
    let progress = Progress {
        frames_written: 1,
        frames_reached: 1,
        growth_extent: 1,
        ..Progress::default()
    };
    b.finalize(&progress).unwrap();
    let after = files(root);
    assert!(matches!(
        usage(b.write(PositionIndex(0), &at(1), &good, None)),
        UsageError::Finalized { call: "write" }
    ));
    assert!(matches!(
        usage(b.flush()),
        UsageError::Finalized { call: "flush" }
    ));
    assert!(matches!(
        usage(b.finalize(&progress)),
        UsageError::Finalized { call: "finalize" }
    ));
    assert_eq!(files(root), after, "a call after finalize wrote a file");
}

#[test]
fn misuse_is_a_typed_usage_error_on_every_backend() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["m.ome.zarr", "m.ome.tiff", "m_scratch"] {
        misuse_on(&dir.path().join(name));
    }
}

/// A `Progress` that would trim below what was written (a default one) keeps every
/// frame written.
#[test]
fn a_default_progress_never_trims_below_what_was_written() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["d.ome.zarr", "d.ome.tiff", "d_scratch"] {
        let root = dir.path().join(name);
        let s = schema(&root);
        let mut b = create_backend(&s).unwrap();
        for t in 0..2 {
            for p in 0..2 {
                let idx = StorageIndex::new(&[t]).unwrap();
                b.write(PositionIndex(p), &idx, &vec![1u8; s.frame_bytes()], None)
                    .unwrap();
            }
        }
        let summary = b.finalize(&Progress::default()).unwrap();
        assert_eq!(summary.shape, vec![2, 4, 3], "{name}");
    }
}
