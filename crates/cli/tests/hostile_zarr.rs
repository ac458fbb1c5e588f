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
    for (how, compression, at_finish) in [
        ("replaced", "none", false),
        ("replaced", "zstd", false),
        ("removed", "none", false),
        // Every frame handed over before the swap: caught at the latest by finish.
        ("replaced", "zstd", true),
        ("replaced", "none", true),
    ] {
        let label = format!(
            "{how} ({compression}{})",
            if at_finish { ", at finish" } else { "" }
        );
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("run.ome.zarr");
        let settings = json!({"root_path": root, "dtype": "uint16", "compression": compression,
            "dimensions": [{"name": "t", "count": 40}, {"name": "y", "count": 8},
                           {"name": "x", "count": 8}]});
        let schema = ome_writers::Schema::from_json(&settings.to_string()).unwrap();
        let options = ome_writers::StreamOptions::default().with_flush_every_frames(4);
        let mut stream = ome_writers::create_stream_with(&schema, &options).unwrap();
        let before = if at_finish { 40 } else { 8 };
        for n in 0..before {
            stream.append(&[n + 1; 64]).unwrap();
        }
        let t0 = std::time::Instant::now();
        while frames_written(&root) < 8 && t0.elapsed() < std::time::Duration::from_secs(20) {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(frames_written(&root) >= 8, "{label}: no durability point");
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
        for n in before..40u16 {
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
        // A writer that looked between the rename and the new directory saw it
        // removed: both words are true then.
        let allowed: &[&str] = if how == "removed" {
            &["removed"]
        } else {
            &["replaced by another directory", "removed"]
        };
        assert!(allowed.contains(said), "{label}: {said}");
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
    let Some(fs) = common::tmpfs("4m") else {
        return;
    };
    let scratch = tempfile::tempdir().unwrap();
    let mut jobs = Vec::new();
    for compression in ["none", "zstd"] {
        for via in ["library", "cli"] {
            let label = format!("zarr {compression} via {via}");
            let root = fs.path().join(format!("{compression}_{via}.ome.zarr"));
            let ballast = fs.path().join("ballast");
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
                let options = ome_writers::StreamOptions::default().with_flush_every_frames(10);
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

/// A dataset left by a writer that died after a durability point: `written` frames
/// of `t` (each frame filled with t + 1) of a `t = 6` acquisition of 4x4 uint16,
/// chunks of `chunk_t` planes; `finish`: finalized with `progress.failed` instead.
fn crafted(root: &Path, compression: &str, chunk_t: u64, written: u64, failed: bool) {
    let settings = json!({"root_path": root, "dtype": "uint16", "compression": compression,
        "dimensions": [{"name": "t", "count": 6, "chunk_size": chunk_t},
                       {"name": "y", "count": 4}, {"name": "x", "count": 4}]});
    crafted_with(&settings, written, failed);
}

fn crafted_with(settings: &Value, written: u64, failed: bool) {
    use ome_writers::{Backend, Progress};
    let schema = ome_writers::Schema::from_json(&settings.to_string()).unwrap();
    // Without the output's lock (as `create` takes): the forgotten writer below must
    // not keep holding it, as a killed process would not.
    let mut backend = unlocked_backend(&schema);
    for t in 0..written {
        let frame: Vec<u8> = (0..16).flat_map(|_| (t as u16 + 1).to_le_bytes()).collect();
        let idx = ome_writers_schema::StorageIndex::new(&[t]).unwrap();
        backend
            .write(ome_writers_schema::PositionIndex(0), &idx, &frame, None)
            .unwrap();
    }
    if failed {
        let progress = Progress {
            frames_written: written,
            frames_reached: written,
            growth_extent: written,
            failed: true,
            ..Progress::default()
        };
        backend.finalize(&progress).unwrap();
    } else {
        backend.flush().unwrap();
        std::mem::forget(backend); // the writer dies here
    }
}

/// A zarr backend over the schema's output directory that takes no lock.
fn unlocked_backend(schema: &ome_writers::Schema) -> ome_writers_zarr::ZarrBackend {
    let root = schema.output_path().unwrap().to_owned();
    let store = std::sync::Arc::new(ome_writers_zarr::DirStore::new(root));
    ome_writers_zarr::ZarrBackend::create_in(schema, store).unwrap()
}

fn set_frames_written(root: &Path, value: Value) {
    let path = root.join("zarr.json");
    let mut doc = read_json(&path);
    doc["attributes"]["ome_writers"]["frames_written"] = value;
    std::fs::write(&path, doc.to_string()).unwrap();
}

/// `omew repair` with a time limit (a FIFO must never block it).
fn repair_within(path: &Path, secs: u64) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_omew"))
        .arg("repair")
        .arg(path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t0.elapsed() > std::time::Duration::from_secs(secs) {
            child.kill().unwrap();
            let _ = child.wait();
            panic!("omew repair {} hung", path.display());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Read the array with zarr-python and validate the store with yaozarrs: plane t must
/// hold `want[t]` (0: zeros) and the shape must be `len(want)`.
fn check_planes(root: &Path, want: &[u16]) {
    let want = serde_json::to_string(want).unwrap();
    let out = py(
        r#"
import json, sys, warnings, zarr, yaozarrs, numpy as np
root, want = sys.argv[1], json.loads(sys.argv[2])
a = zarr.open_array(store=root + "/0", mode="r")[...]
assert a.shape[0] == len(want), (a.shape, want)
for t, v in enumerate(want):
    assert (a[t] == v).all(), (t, a[t], v)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    yaozarrs.validate_zarr_store(root)
print("ok")
"#,
        &[root.to_str().unwrap(), &want],
    );
    assert_eq!(out.trim(), "ok");
}

fn repaired_attrs(root: &Path) -> Value {
    read_json(&root.join("zarr.json"))["attributes"]["ome_writers"].clone()
}

#[test]
fn repair_counts_frames_on_disk_whatever_the_metadata_claims() {
    let dir = tempfile::tempdir().unwrap();
    // Claims of every frame, and more, over 3 frames on disk: partial, 3 counted.
    for claim in [json!(u64::MAX), json!(6), json!(-1), json!("all")] {
        let root = dir
            .path()
            .join(format!("claim_{}.ome.zarr", claim.to_string().len()));
        crafted(&root, "none", 1, 3, false);
        set_frames_written(&root, claim.clone());
        let o = repair_within(&root, 60);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let ow = repaired_attrs(&root);
        assert_eq!(ow["status"], "partial", "claim {claim}");
        assert_eq!(ow["frames_written"], 3, "claim {claim}");
        check_planes(&root, &[1, 2, 3]);
    }
    // Chunks of two planes, a chunk missing: the claim cannot make it complete.
    let root = dir.path().join("two_planes.ome.zarr");
    crafted(&root, "zstd", 2, 6, false);
    std::fs::remove_file(root.join("0/c/1/0/0")).unwrap();
    set_frames_written(&root, json!(u64::MAX));
    let o = repair_within(&root, 60);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ow = repaired_attrs(&root);
    assert_eq!(ow["status"], "partial");
    assert_eq!(ow["frames_written"], 2);
    assert_eq!(ow["repaired"]["missing_chunks"], json!(["c/1/0/0"]));
    check_planes(&root, &[1, 2, 0, 0, 5, 6]);
}

#[test]
fn repair_sets_damaged_chunks_aside_and_names_them() {
    let dir = tempfile::tempdir().unwrap();
    for (compression, damage) in [("none", "truncate"), ("zstd", "garbage"), ("none", "pad")] {
        let label = format!("{compression} {damage}");
        let root = dir.path().join(format!("{compression}_{damage}.ome.zarr"));
        crafted(&root, compression, 1, 4, false);
        let chunk = root.join("0/c/1/0/0");
        let bytes = std::fs::read(&chunk).unwrap();
        let bad = match damage {
            "truncate" => bytes[..bytes.len() / 2].to_vec(),
            "pad" => [bytes.as_slice(), &[0u8; 3]].concat(),
            _ => vec![0xA5u8; bytes.len()],
        };
        std::fs::write(&chunk, bad).unwrap();
        let o = repair_within(&root, 60);
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert!(
            o.status.success(),
            "{label}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(stdout.contains("1 damaged"), "{label}: {stdout}");
        let ow = repaired_attrs(&root);
        assert_eq!(ow["status"], "partial", "{label}");
        // Frames counted stop at the damaged chunk; it reads as 0, kept aside.
        assert_eq!(ow["frames_written"], 1, "{label}");
        let damaged = ow["repaired"]["damaged_chunks"].as_array().unwrap();
        assert_eq!(damaged.len(), 1, "{label}");
        assert_eq!(damaged[0]["key"], "c/1/0/0", "{label}");
        println!("{label}: {}", damaged[0]["reason"]);
        assert!(
            !chunk.exists() && root.join("0/c/1/0/.0.damaged").exists(),
            "{label}"
        );
        check_planes(&root, &[1, 0, 3, 4]);
        // The set-aside file is ours (so --overwrite may remove the dataset).
        assert!(ome_writers_zarr::is_own_file(Path::new(
            "0/c/1/0/.0.damaged"
        )));
    }
}

#[test]
fn repair_refuses_fifos_and_devices_without_opening_them() {
    let dir = tempfile::tempdir().unwrap();
    let mkfifo = |p: &Path| {
        let _ = std::fs::remove_file(p);
        let ok = Command::new("mkfifo").arg(p).status().unwrap().success();
        assert!(ok, "mkfifo {}", p.display());
    };
    let cases: [(&str, &dyn Fn(&Path)); 5] = [
        ("chunk fifo", &|root: &Path| mkfifo(&root.join("0/c/1/0/0"))),
        ("group zarr.json fifo", &|root: &Path| {
            mkfifo(&root.join("zarr.json"));
        }),
        ("array zarr.json fifo", &|root: &Path| {
            mkfifo(&root.join("0/zarr.json"));
        }),
        ("chunk device", &|root: &Path| {
            // A character device like /dev/zero (1, 5): reading it never ends.
            let p = root.join("0/c/2/0/0");
            std::fs::remove_file(&p).unwrap();
            let ok = Command::new("mknod")
                .arg(&p)
                .args(["c", "1", "5"])
                .status()
                .unwrap()
                .success();
            assert!(ok, "mknod (run as root)");
        }),
        ("chunk symlink", &|root: &Path| {
            let p = root.join("0/c/2/0/0");
            std::fs::remove_file(&p).unwrap();
            std::os::unix::fs::symlink("/dev/zero", &p).unwrap();
        }),
    ];
    for (label, damage) in cases {
        let root = dir
            .path()
            .join(format!("{}.ome.zarr", label.replace(' ', "_")));
        crafted(&root, "zstd", 1, 4, false);
        damage(&root);
        let o = repair_within(&root, 20);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{label}: accepted");
        assert!(
            err.contains("refusing to read it") && !err.contains("panicked"),
            "{label}: {err}"
        );
        println!("{label}: {}", err.trim());
    }
}

#[test]
fn repair_finishes_a_failed_dataset_complete_when_everything_is_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    for (written, status, frames) in [(6, "complete", 6), (4, "partial", 4)] {
        let root = dir.path().join(format!("failed_{written}.ome.zarr"));
        crafted(&root, "zstd", 2, written, true);
        assert_eq!(repaired_attrs(&root)["status"], "failed");
        assert_eq!(repaired_attrs(&root)["frames_written"], written);
        let o = repair_within(&root, 60);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let ow = repaired_attrs(&root);
        assert_eq!(ow["status"], status, "{written}");
        assert_eq!(ow["frames_written"], frames, "{written}");
        assert_eq!(ow["repaired"]["status_before"], "failed");
        let want: Vec<u16> = (1..=written as u16).collect();
        check_planes(&root, &want);
        // Idempotent.
        let o = repair_within(&root, 60);
        assert!(String::from_utf8_lossy(&o.stdout).contains("nothing to repair"));
    }
}

#[test]
fn repair_reads_settings_from_the_root_or_from_image_groups_of_earlier_versions() {
    use ome_writers::Backend;
    let dir = tempfile::tempdir().unwrap();
    for old in [false, true] {
        let root = dir.path().join(format!("pos_{old}.ome.zarr"));
        let settings = json!({"root_path": root, "dtype": "uint8", "dimensions": [
            {"name": "t", "count": 4}, {"name": "p", "type": "position", "coords": ["a", "b"]},
            {"name": "y", "count": 2}, {"name": "x", "count": 2}]});
        let schema = ome_writers::Schema::from_json(&settings.to_string()).unwrap();
        // Without the output's lock (as `create` takes): the forgotten writer below must
        // not keep holding it, as a killed process would not.
        let mut backend = unlocked_backend(&schema);
        for t in 0..2u64 {
            for p in 0..2 {
                let idx = ome_writers_schema::StorageIndex::new(&[t]).unwrap();
                let v = (t * 2 + p as u64 + 1) as u8;
                backend
                    .write(ome_writers_schema::PositionIndex(p), &idx, &[v; 4], None)
                    .unwrap();
            }
        }
        backend.flush().unwrap();
        std::mem::forget(backend);
        if old {
            // The layout of earlier versions: settings in every image group only.
            let top_path = root.join("zarr.json");
            let mut top = read_json(&top_path);
            let s = top["attributes"]["ome_writers"]["settings"].take();
            top["attributes"]
                .as_object_mut()
                .unwrap()
                .remove("ome_writers");
            std::fs::write(&top_path, top.to_string()).unwrap();
            for g in ["a", "b"] {
                let p = root.join(g).join("zarr.json");
                let mut doc = read_json(&p);
                doc["attributes"]["ome_writers"]["settings"] = s.clone();
                std::fs::write(&p, doc.to_string()).unwrap();
            }
        }
        let o = repair_within(&root, 60);
        assert!(
            o.status.success(),
            "old={old}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        for (g, first) in [("a", 1), ("b", 2)] {
            let ow = &read_json(&root.join(g).join("zarr.json"))["attributes"]["ome_writers"];
            assert_eq!(ow["status"], "partial", "old={old} {g}");
            assert_eq!(ow["frames_written"], 2, "old={old} {g}");
            let out = py(
                r#"
import sys, zarr
a = zarr.open_array(store=sys.argv[1], mode="r")[...]
first = int(sys.argv[2])
assert a.shape[0] == 2, a.shape
assert (a[0] == first).all() and (a[1] == first + 2).all(), a
print("ok")
"#,
                &[root.join(g).join("0").to_str().unwrap(), &first.to_string()],
            );
            assert_eq!(out.trim(), "ok");
        }
    }
}

#[test]
fn repair_finds_no_damage_in_sound_shards() {
    let dir = tempfile::tempdir().unwrap();
    for compression in ["none", "zstd", "blosc-lz4"] {
        let root = dir.path().join(format!("sharded_{compression}.ome.zarr"));
        let settings = json!({"root_path": root, "dtype": "uint16", "compression": compression,
            "dimensions": [{"name": "t", "count": 6, "chunk_size": 1, "shard_size_chunks": 2},
                {"name": "y", "count": 4, "chunk_size": 2, "shard_size_chunks": 2},
                {"name": "x", "count": 4, "chunk_size": 2, "shard_size_chunks": 2}]});
        crafted_with(&settings, 4, false);
        let o = repair_within(&root, 60);
        assert!(
            o.status.success(),
            "{compression}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let ow = repaired_attrs(&root);
        assert_eq!(ow["repaired"]["damaged_chunks"], json!([]), "{compression}");
        assert_eq!(ow["frames_written"], 4, "{compression}");
        check_planes(&root, &[1, 2, 3, 4]);
        // A shard with a flipped byte in its index is damaged (crc32c), the others not.
        let root = dir
            .path()
            .join(format!("sharded_{compression}_bad.ome.zarr"));
        let mut settings = settings.clone();
        settings["root_path"] = json!(root);
        crafted_with(&settings, 4, false);
        let shard = root.join("0/c/1/0/0");
        let mut bytes = std::fs::read(&shard).unwrap();
        let n = bytes.len();
        bytes[n - 6] ^= 0xFF;
        std::fs::write(&shard, bytes).unwrap();
        let o = repair_within(&root, 60);
        assert!(
            o.status.success(),
            "{compression}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let ow = repaired_attrs(&root);
        let damaged = ow["repaired"]["damaged_chunks"].as_array().unwrap();
        if compression == "none" {
            // Uncompressed shards are checked by size only (no read): a flipped byte in
            // place is not seen.
            assert!(damaged.is_empty(), "{compression}: {damaged:?}");
        } else {
            assert_eq!(damaged.len(), 1, "{compression}: {damaged:?}");
            assert_eq!(ow["frames_written"], 2, "{compression}");
            // The last shard on disk is the first: the growth axis ends with it.
            check_planes(&root, &[1, 2]);
        }
    }
}

#[test]
fn finish_after_the_directory_was_swapped_writes_nothing_into_the_new_one() {
    use ome_writers::{Backend, Progress};
    for compression in ["none", "zstd"] {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("run.ome.zarr");
        let settings = json!({"root_path": root, "dtype": "uint16", "compression": compression,
            "dimensions": [{"name": "t", "count": 4, "chunk_size": 2},
                           {"name": "y", "count": 4}, {"name": "x", "count": 4}]});
        let schema = ome_writers::Schema::from_json(&settings.to_string()).unwrap();
        // Without the output's lock (as `create` takes): the forgotten writer below must
        // not keep holding it, as a killed process would not.
        let mut backend = unlocked_backend(&schema);
        for t in 0..3u64 {
            let idx = ome_writers_schema::StorageIndex::new(&[t]).unwrap();
            let frame: Vec<u8> = (0..16).flat_map(|_| (t as u16 + 1).to_le_bytes()).collect();
            backend
                .write(ome_writers_schema::PositionIndex(0), &idx, &frame, None)
                .unwrap();
        }
        // A durability point (the encoders drained; t = 2 stays open in memory), then
        // the directory swapped before finish: a copy of the dataset, so that even
        // chunk writes would find their directories.
        backend.flush().unwrap();
        let moved = dir.path().join("moved.ome.zarr");
        std::fs::rename(&root, &moved).unwrap();
        copy_tree(&moved, &root);
        let before = tree(&root);
        let err = backend
            .finalize(&Progress {
                frames_written: 3,
                frames_reached: 3,
                growth_extent: 3,
                ..Progress::default()
            })
            .unwrap_err();
        assert!(
            matches!(&err, ome_writers::BackendError::Replaced { path, .. } if path == &root),
            "{compression}: {err:?}"
        );
        // The new directory is exactly as it was: no chunk, no document written.
        assert!(
            tree(&root) == before,
            "{compression}: the new directory was written"
        );
        let mut complete = Vec::new();
        complete_docs(&root, &mut complete);
        complete_docs(&moved, &mut complete);
        assert!(complete.is_empty(), "{compression}: {complete:?}");
    }
}

/// Every file under `dir` with its inode and bytes (a file replaced by the same bytes
/// differs), sorted.
fn tree(dir: &Path) -> Vec<(PathBuf, u64, Vec<u8>)> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                let ino = e.metadata().unwrap().ino();
                out.push((e.path(), ino, std::fs::read(e.path()).unwrap()));
            }
        }
    }
    out.sort();
    out
}
