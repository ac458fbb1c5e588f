//! A disk that fills up mid-acquisition, on a small tmpfs this test mounts itself
//! (`mount -t tmpfs -o size=4m`; skipped with a message where mounting is not
//! permitted).
//!
//! For OME-Zarr and OME-TIFF, through the library and through `omew write`: the error is
//! typed (`StreamError::is_disk_full`, "No space left on device" from the CLI), nothing
//! panics, the dataset still opens with every frame before the last durability point;
//! once space is freed, `omew repair` finishes it and the readers check it again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

use ome_writers::{Schema, StreamOptions, create_stream_with};
use ome_writers_router::FrameRouter;
use ome_writers_schema::FrameNumber;
use serde_json::{Value, json};

mod common;

fn settings(kind: &str, root: &Path) -> Value {
    let mut s = json!({"root_path": root.to_string_lossy(), "dtype": "uint16", "dimensions": [
        {"name": "t", "count": 1000}, {"name": "c", "count": 2},
        {"name": "y", "count": 64}, {"name": "x", "count": 64}]});
    if kind == "zarr" {
        s["compression"] = json!("none");
    }
    s
}

fn frame(n: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 * 64 * 2);
    for y in 0..64u64 {
        for x in 0..64u64 {
            out.extend(((1 + (n * 7 + y * 3 + x) % 30_000) as u16).to_le_bytes());
        }
    }
    out
}

/// Reader jobs for a dataset that was handed `frames` frames.
fn job(kind: &str, label: &str, stage: &str, schema: &Schema, path: &Path, frames: u64) -> Value {
    let router = FrameRouter::new(schema);
    let routes: Vec<_> = (0..frames)
        .map(|n| router.route(FrameNumber(n)).unwrap())
        .collect();
    if kind == "zarr" {
        let frames: Vec<Value> = routes
            .iter()
            .map(|r| json!([r.index.as_slice(), r.frame.0]))
            .collect();
        json!({"kind": "zarr", "label": label, "root": path, "dtype": "uint16",
               "stage": stage, "frames": frames})
    } else {
        let frames: Vec<u64> = routes.iter().map(|r| r.frame.0).collect();
        json!({"kind": "tiff", "label": label, "stage": stage, "dtype": "uint16",
               "files": [{"path": path, "frames": frames}], "companion": null})
    }
}

fn repair(path: &Path) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_omew"))
        .arg("repair")
        .arg(path)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "repair {}: {}",
        path.display(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn a_full_disk_is_a_typed_error_and_loses_nothing_durable() {
    let Some(fs) = common::tmpfs("4m") else {
        return;
    };
    let scratch = tempfile::tempdir().unwrap();
    let mut jobs = Vec::new();
    for kind in ["zarr", "tiff"] {
        for via in ["library", "cli"] {
            let label = format!("{kind} via {via}");
            let name = format!("{kind}_{via}.ome.{kind}");
            let root = fs.path().join(&name);
            // Ballast the operator can delete to make room for repair.
            let ballast = fs.path().join("ballast");
            std::fs::write(&ballast, vec![1u8; 256 << 10]).unwrap();
            let schema = Schema::from_json(&settings(kind, &root).to_string()).unwrap();
            let handed = if via == "library" {
                let options = StreamOptions::default()
                    .with_queue_bytes(4 * schema.frame_bytes())
                    .with_flush_every_frames(10);
                let mut stream = create_stream_with(&schema, &options).unwrap();
                let mut handed = 0;
                let mut error = None;
                for n in 0..schema.num_frames().unwrap() {
                    match stream.append_bytes(&frame(n), None) {
                        Ok(()) => handed += 1,
                        Err(e) => {
                            error = Some(e);
                            break;
                        }
                    }
                }
                let finished = stream.finish();
                let e = error
                    .or(finished.err())
                    .expect("a 4 MiB disk cannot hold 16 MiB of frames");
                assert!(e.is_disk_full(), "{label}: not a disk-full error: {e}");
                println!("{label}: {handed} frames handed, error: {e}");
                handed
            } else {
                let settings_path = scratch.path().join(format!("{kind}.json"));
                std::fs::write(&settings_path, settings(kind, &root).to_string()).unwrap();
                let o = Command::new(env!("CARGO_BIN_EXE_omew"))
                    .args(["write", "--synthetic", "--flush-every", "10", "--settings"])
                    .arg(&settings_path)
                    .output()
                    .unwrap();
                let stderr = String::from_utf8_lossy(&o.stderr);
                assert!(!o.status.success(), "{label}: a full disk went unnoticed");
                assert!(
                    stderr.contains("No space left on device") && !stderr.contains("panicked"),
                    "{label}: {stderr}"
                );
                println!("{label}: {}", stderr.trim());
                schema.num_frames().unwrap()
            };
            // The state the full disk left, copied out for the readers (which run once,
            // at the end).
            let full = scratch.path().join("full").join(&name);
            copy_tree(&root, &full);
            jobs.push(job(
                kind,
                &format!("{label}, disk full"),
                "killed",
                &schema,
                &full,
                handed,
            ));
            // Make room, then repair (a finalize that ran out of space left it unfinished).
            std::fs::remove_file(&ballast).unwrap();
            let report = repair(&root);
            println!("{label}: repair: {}", report.trim());
            let kept = scratch.path().join("repaired").join(&name);
            copy_tree(&root, &kept);
            jobs.push(job(
                kind,
                &format!("{label}, repaired"),
                "repaired",
                &schema,
                &kept,
                handed,
            ));
            remove(&root);
        }
    }
    drop(fs);
    common::check_with_readers(&jobs, scratch.path());
}

fn copy_tree(from: &Path, to: &Path) {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            copy_tree(&e.path(), &to.join(e.file_name()));
        }
    } else {
        std::fs::copy(from, to).unwrap();
    }
}

fn remove(path: &Path) {
    if path.is_dir() {
        std::fs::remove_dir_all(path).unwrap();
    } else {
        std::fs::remove_file(path).unwrap();
    }
}
