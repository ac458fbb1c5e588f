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

/// The first `BackendError` in an error's source chain.
fn backend_error<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a ome_writers::BackendError> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(b) = err.downcast_ref::<ome_writers::BackendError>() {
            return Some(b);
        }
        cur = err.source();
    }
    None
}

fn frames_written(root: &Path) -> u64 {
    std::fs::read(root.join("zarr.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
        .and_then(|v| v["attributes"]["ome_writers"]["frames_written"].as_u64())
        .unwrap_or(0)
}

/// Every `zarr.json` under `dir` whose `ome_writers.status` is `complete`.
fn complete_docs(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            complete_docs(&e.path(), out);
        } else if e.file_name() == "zarr.json" {
            let v: Value =
                serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap_or(Value::Null);
            if v["attributes"]["ome_writers"]["status"] == "complete" {
                out.push(e.path());
            }
        }
    }
}

#[test]
fn a_dataset_directory_replaced_or_removed_mid_acquisition_is_a_typed_error() {
    for (how, compression) in [
        ("replaced", "none"),
        ("replaced", "zstd"),
        ("removed", "none"),
    ] {
        let label = format!("{how} ({compression})");
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("run.ome.zarr");
        let settings = json!({"root_path": root, "dtype": "uint16", "compression": compression,
            "dimensions": [{"name": "t", "count": 40}, {"name": "y", "count": 8},
                           {"name": "x", "count": 8}]});
        let schema = ome_writers::Schema::from_json(&settings.to_string()).unwrap();
        let options = ome_writers::StreamOptions {
            flush_every_frames: 4,
            ..ome_writers::StreamOptions::default()
        };
        let mut stream = ome_writers::create_stream_with(&schema, &options).unwrap();
        for n in 0..8u16 {
            stream.append(&[n + 1; 64]).unwrap();
        }
        let t0 = std::time::Instant::now();
        while frames_written(&root) < 8 && t0.elapsed() < std::time::Duration::from_secs(20) {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(frames_written(&root), 8, "{label}: no durability point");
        let moved = dir.path().join("moved.ome.zarr");
        std::fs::rename(&root, &moved).unwrap();
        let foreign = json!({"zarr_format": 3, "node_type": "group",
                             "attributes": {"someone": "else"}});
        if how == "replaced" {
            std::fs::create_dir(&root).unwrap();
            std::fs::write(root.join("zarr.json"), foreign.to_string()).unwrap();
            std::fs::write(root.join("thesis.txt"), b"years of work").unwrap();
        } else {
            std::fs::remove_dir_all(&moved).unwrap();
        }
        let mut first = None;
        for n in 8..40u16 {
            if let Err(e) = stream.append(&[n + 1; 64]) {
                first = Some(e);
                break;
            }
        }
        let finished = stream.finish();
        let err = first
            .or(finished.err())
            .unwrap_or_else(|| panic!("{label}: the replaced directory went unnoticed"));
        let typed =
            backend_error(&err).unwrap_or_else(|| panic!("{label}: not a backend error: {err}"));
        let ome_writers::BackendError::Replaced { path, how: said } = typed else {
            panic!("{label}: not BackendError::Replaced: {typed:?}");
        };
        assert_eq!(path, &root, "{label}");
        assert_eq!(
            *said,
            if how == "removed" {
                "removed"
            } else {
                "replaced by another directory"
            },
            "{label}"
        );
        println!("{label}: {err}");
        if how == "replaced" {
            // The foreign directory is never described as the dataset.
            assert_eq!(read_json(&root.join("zarr.json")), foreign, "{label}");
            assert_eq!(
                std::fs::read(root.join("thesis.txt")).unwrap(),
                b"years of work"
            );
            let mut complete = Vec::new();
            complete_docs(&root, &mut complete);
            assert!(complete.is_empty(), "{label}: {complete:?}");
            // The original, where it was moved, still opens with its durable frames
            // and is not called complete.
            let ow = &read_json(&moved.join("zarr.json"))["attributes"]["ome_writers"];
            assert_ne!(ow["status"], "complete", "{label}");
            let out = py(
                r#"
import sys, zarr, numpy as np
a = zarr.open_array(store=sys.argv[1] + "/0", mode="r")[...]
for t in range(8):
    assert (a[t] == t + 1).all(), (t, a[t])
print("ok")
"#,
                &[moved.to_str().unwrap()],
            );
            assert_eq!(out.trim(), "ok", "{label}");
        } else {
            assert!(
                !root.exists(),
                "{label}: the removed dataset was made again"
            );
        }
    }
}

/// A size-limited tmpfs, unmounted on drop.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounting needs root: without it this test fails (it is not skipped).
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "cannot mount a tmpfs (run as root): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self { dir }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

/// Frame `n` of the crash checker's pattern (tests/python/_common.py).
fn pattern(n: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 * 64 * 2);
    for y in 0..64u64 {
        for x in 0..64u64 {
            out.extend(((1 + (n * 7 + y * 3 + x) % 30_000) as u16).to_le_bytes());
        }
    }
    out
}

/// Reader job (crates/cli/tests/crash_check.py) for a single-image dataset handed
/// `frames` frames of `t, c`.
fn reader_job(label: &str, stage: &str, root: &Path, frames: u64) -> Value {
    let frames: Vec<Value> = (0..frames).map(|n| json!([[n / 2, n % 2], n])).collect();
    json!({"kind": "zarr", "label": label, "root": root, "dtype": "uint16",
           "stage": stage, "frames": frames})
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn a_full_disk_is_recorded_as_failed_never_complete_and_repair_finishes_it() {
    let fs = Tmpfs::mount("4m");
    let scratch = tempfile::tempdir().unwrap();
    let mut jobs = Vec::new();
    for compression in ["none", "zstd"] {
        for via in ["library", "cli"] {
            let label = format!("zarr {compression} via {via}");
            let root = fs.dir.path().join(format!("{compression}_{via}.ome.zarr"));
            let ballast = fs.dir.path().join("ballast");
            std::fs::write(&ballast, vec![1u8; 256 << 10]).unwrap();
            // 1000 x 2 frames of 8 KiB (noise-free patterns compress, so zstd gets
            // more frames in; a 4 MiB disk holds neither).
            let settings = json!({"root_path": root, "dtype": "uint16",
                "compression": compression, "dimensions": [
                {"name": "t", "count": if compression == "none" { 1000 } else { 20000 }},
                {"name": "c", "count": 2},
                {"name": "y", "count": 64}, {"name": "x", "count": 64}]});
            let handed = if via == "library" {
                let schema = ome_writers::Schema::from_json(&settings.to_string()).unwrap();
                let options = ome_writers::StreamOptions {
                    flush_every_frames: 10,
                    ..ome_writers::StreamOptions::default()
                };
                let mut stream = ome_writers::create_stream_with(&schema, &options).unwrap();
                let mut handed = 0;
                let mut error = None;
                for n in 0..schema.num_frames().unwrap() {
                    match stream.append_bytes(&pattern(n), None) {
                        Ok(()) => handed += 1,
                        Err(e) => {
                            error = Some(e);
                            break;
                        }
                    }
                }
                let finished = stream.finish();
                let e = error.or(finished.err()).expect("the disk cannot hold it");
                assert!(e.is_disk_full(), "{label}: {e}");
                handed
            } else {
                let s = scratch.path().join("settings.json");
                std::fs::write(&s, settings.to_string()).unwrap();
                let o = omew(&[
                    "write".as_ref(),
                    "--synthetic".as_ref(),
                    "--flush-every".as_ref(),
                    "10".as_ref(),
                    "--settings".as_ref(),
                    s.as_os_str(),
                ]);
                let stderr = String::from_utf8_lossy(&o.stderr);
                assert!(!o.status.success(), "{label}: a full disk went unnoticed");
                assert!(
                    stderr.contains("No space left on device"),
                    "{label}: {stderr}"
                );
                settings["dimensions"][0]["count"].as_u64().unwrap() * 2
            };
            let ow = read_json(&root.join("zarr.json"))["attributes"]["ome_writers"].clone();
            println!(
                "{label}: {handed} handed, status {}, frames_written {}",
                ow["status"], ow["frames_written"]
            );
            // Never complete: `failed` (the final metadata goes into the space the
            // writer set aside), counting stored frames only.
            assert_eq!(ow["status"], "failed", "{label}");
            assert!(!root.join(".ome_writers.reserve").exists(), "{label}");
            assert!(ow["frames_written"].as_u64().unwrap() < handed, "{label}");
            let full = scratch.path().join("full").join(&label);
            copy_tree(&root, &full);
            jobs.push(reader_job(
                &format!("{label}, disk full"),
                "killed",
                &full,
                handed,
            ));
            std::fs::remove_file(&ballast).unwrap();
            let o = omew(&["repair".as_ref(), root.as_os_str()]);
            let out = String::from_utf8_lossy(&o.stdout);
            assert!(
                o.status.success(),
                "{label}: repair: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            assert!(
                out.contains("repaired"),
                "{label}: repair did nothing: {out}"
            );
            let ow = read_json(&root.join("zarr.json"))["attributes"]["ome_writers"].clone();
            assert_eq!(ow["status"], "partial", "{label}");
            let repaired = scratch.path().join("repaired").join(&label);
            copy_tree(&root, &repaired);
            jobs.push(reader_job(
                &format!("{label}, repaired"),
                "repaired",
                &repaired,
                handed,
            ));
            std::fs::remove_dir_all(&root).unwrap();
        }
    }
    drop(fs);
    python();
    common::check_with_readers(&jobs, scratch.path());
}
