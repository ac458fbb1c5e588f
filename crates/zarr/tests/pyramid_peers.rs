//! Our pyramids beside the peers' (tests/python/check_pyramid_peers.py): ome-zarr-py's
//! reader lists every level with our shapes; acquire-zarr, fed the same frames with
//! equivalent settings (MEAN and DECIMATE in XY), writes the same level shapes and,
//! where its rounding agrees, the same pixels (the differences: docs/layouts.md).
//!
//! Runs with the shared test venv (tests/python/requirements.txt has `ome-zarr` and
//! `acquire-zarr`), or `OMEW_PEERS_PYTHON` when set.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use ome_writers_backend::{Backend, Progress};
use ome_writers_router::FrameRouter;
use ome_writers_schema::Schema;
use ome_writers_zarr::ZarrBackend;
use serde_json::{Value, json};

fn write(dir: &Path, name: &str, method: &str, h: u64, w: u64) -> PathBuf {
    let root = dir.join(format!("{name}.ome.zarr"));
    let settings = json!({"root_path": root, "dtype": "uint16",
        "multiscale": {"levels": 3, "method": method},
        "dimensions": [{"name": "t", "count": 3},
            {"name": "y", "count": h, "chunk_size": 16}, {"name": "x", "count": w, "chunk_size": 16}]});
    let schema = Schema::from_json(&settings.to_string()).unwrap();
    let router = FrameRouter::new(&schema);
    let mut backend = ZarrBackend::create(&schema).unwrap();
    let n = schema.frame_len();
    for route in router.take(3) {
        let f = route.frame.0;
        let frame: Vec<u8> = (0..n as u64)
            .flat_map(|i| (((f * 977 + i * 31 + i * i % 17) % 60000) as u16).to_ne_bytes())
            .collect();
        backend
            .write(route.position, &route.index, &frame, None)
            .unwrap();
    }
    backend
        .finalize(&Progress {
            frames_written: 3,
            frames_reached: 3,
            growth_extent: 3,
            complete: true,
            ..Progress::default()
        })
        .unwrap();
    root
}

fn peers(root: &Path, method: &str, out: &Path) -> Value {
    let py = match std::env::var_os("OMEW_PEERS_PYTHON") {
        Some(p) => PathBuf::from(p),
        None => ome_writers_test_support::python().expect("the test venv's Python"),
    };
    let script = ome_writers_test_support::repo_root().join("tests/python/check_pyramid_peers.py");
    let o = Command::new(py)
        .arg(script)
        .arg(root)
        .arg(method)
        .arg(out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let line = String::from_utf8_lossy(&o.stdout);
    serde_json::from_str(line.lines().last().unwrap()).unwrap()
}

#[test]
fn ome_zarr_lists_the_levels_and_acquire_zarr_agrees() {
    let dir = tempfile::tempdir().unwrap();
    for (size, h, w) in [("even", 64, 48), ("odd", 37, 29)] {
        for method in ["mean", "decimate"] {
            let name = format!("{method}_{size}");
            let root = write(dir.path(), &name, method, h, w);
            let r = peers(
                &root,
                method,
                &dir.path().join(format!("{name}_acquire.zarr")),
            );
            eprintln!("{name}: {r}");
            assert_eq!(r["ome_zarr"], r["ours"], "{name}: {r}");
            // acquire-zarr stops earlier by its own rule; the levels it writes have
            // our shapes.
            let theirs = r["acquire"].as_array().unwrap();
            assert!(theirs.len() >= 2, "{name}: {r}");
            for (k, shape) in theirs.iter().enumerate() {
                assert_eq!(shape, &r["ours"][k], "{name} level {k}: {r}");
            }
            for (k, px) in r["pixels"].as_array().unwrap().iter().enumerate() {
                if method == "decimate" || k == 0 {
                    assert_eq!(px["equal"], px["total"], "{name} level {k}: {r}");
                } else if k == 1 {
                    // acquire-zarr truncates the mean (floor), we round half to even:
                    // the same pixel or one less.
                    assert!(
                        px["max_diff"].as_f64().unwrap() <= 1.0,
                        "{name} level {k}: {r}"
                    );
                }
            }
        }
    }
}
