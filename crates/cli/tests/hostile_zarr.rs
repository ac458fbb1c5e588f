//! OME-Zarr under hostile conditions: many positions (metadata must stay O(1) per
//! position), a disk that fills up (the dataset is `failed`, never `complete`), the
//! dataset directory replaced under the writer, and crafted datasets handed to
//! `omew repair`. Every dataset is read back with zarr-python (and validated with
//! yaozarrs where it should be valid); a missing reader is a failure.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

mod common;

/// The interop venv's Python; its absence fails the test (never a silent skip).
fn python() -> PathBuf {
    common::python().expect(
        "the Python readers (zarr-python, yaozarrs) are required: set OMEW_PYTHON or run \
         tests/python/setup_venv.sh",
    )
}

/// Run a Python snippet with `args` (as `sys.argv[1:]`); panics with its output when
/// it fails. Returns its stdout.
fn py(code: &str, args: &[&str]) -> String {
    let out = Command::new(python())
        .arg("-c")
        .arg(code)
        .args(args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "python failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn zarr_json_bytes(dir: &Path) -> (u64, usize) {
    let mut total = 0;
    let mut count = 0;
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            let (t, c) = zarr_json_bytes(&e.path());
            total += t;
            count += c;
        } else if e.file_name() == "zarr.json" {
            total += e.metadata().unwrap().len();
            count += 1;
        }
    }
    (total, count)
}

#[allow(dead_code)]
fn omew(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_omew"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn ten_thousand_positions_write_a_few_kb_of_metadata_each() {
    const POSITIONS: u64 = 10_000;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("many.ome.zarr");
    let settings = json!({"root_path": root, "dtype": "uint8", "dimensions": [
        {"name": "p", "type": "position", "count": POSITIONS},
        {"name": "y", "count": 16}, {"name": "x", "count": 16}]});
    let schema = ome_writers::Schema::from_json(&settings.to_string()).unwrap();
    let t0 = std::time::Instant::now();
    let mut stream = ome_writers::create_stream(&schema).unwrap();
    // Frame n: pixel (y, x) = (n + y + x) mod 251, so each position's pixels say
    // which frame they are.
    for n in 0..POSITIONS {
        let frame: Vec<u8> = (0..256u64)
            .map(|i| ((n + i / 16 + i % 16) % 251) as u8)
            .collect();
        stream.append(&frame).unwrap();
    }
    let summary = stream.finish().unwrap();
    println!("{POSITIONS} positions written in {:?}", t0.elapsed());
    assert_eq!(summary.frames_written, POSITIONS);
    let (bytes, files) = zarr_json_bytes(&root);
    println!("{files} zarr.json, {bytes} bytes");
    assert!(
        bytes < 5 * 1024 * POSITIONS,
        "{bytes} bytes of zarr.json for {POSITIONS} positions"
    );
    // The settings are at the root, once.
    let top = read_json(&root.join("zarr.json"));
    assert_eq!(
        top["attributes"]["ome_writers"]["settings"]["dimensions"][0]["name"],
        "p"
    );
    let image = read_json(&root.join("9999/zarr.json"));
    assert!(image["attributes"]["ome_writers"].get("settings").is_none());
    assert_eq!(image["attributes"]["ome_writers"]["status"], "complete");
    let out = py(
        r#"
import sys, zarr, numpy as np
root = sys.argv[1]
for n in (0, 1, 4321, 9999):
    a = zarr.open_array(store=f"{root}/{n}/0", mode="r")[...]
    y, x = np.mgrid[0:16, 0:16]
    want = ((n + y + x) % 251).astype("uint8")
    assert np.array_equal(a, want), (n, a)
    g = zarr.open_group(store=f"{root}/{n}", mode="r")
    assert g.attrs["ome_writers"]["frames_written"] == 1, dict(g.attrs)
top = zarr.open_group(store=root, mode="r")
assert len(top.attrs["ome_writers"]["settings"]["dimensions"]) == 3
print("ok")
"#,
        &[root.to_str().unwrap()],
    );
    assert_eq!(out.trim(), "ok");
}
