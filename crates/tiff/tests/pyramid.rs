//! OME-TIFF pyramids (`multiscale`): each plane's reduced resolutions as SubIFDs of its
//! page. tifffile reads `series[0].levels` with the halved shapes and pixels equal to
//! a numpy reference computed level by level from level 0 (every method; uint8,
//! uint16, float32; even and odd sizes; LZW too; one file and a file per position);
//! the OME-XML still validates; Bio-Formats reports the resolution count. After a
//! writer is left mid-acquisition, `recover` keeps the levels of the pages it keeps.
//! Levels are tiled (at most 256 a side), level 0 is one strip per plane.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use ome_writers_backend::{Backend, Progress};
use ome_writers_router::FrameRouter;
use ome_writers_schema::{DType, Schema};
use ome_writers_tiff::TiffBackend;
use serde_json::{Value, json};

fn pixel(dtype: DType, frame: u64, i: usize) -> Vec<u8> {
    let v = (frame * 131 + i as u64 * 7 + (i as u64 * i as u64) % 13) % 251;
    match dtype {
        DType::U8 => vec![v as u8],
        DType::U16 => ((v * 257) as u16).to_ne_bytes().to_vec(),
        DType::F32 => (v as f32 / 4.0 - 20.0).to_ne_bytes().to_vec(),
        other => panic!("no test pixels for {other:?}"),
    }
}

/// Write `stop` frames (all when `None`) and finish, or leave the backend (`die`).
fn write(
    dir: &Path,
    name: &str,
    settings: &Value,
    stop: Option<u64>,
    die: bool,
) -> (Schema, PathBuf) {
    let mut settings = settings.clone();
    settings["root_path"] = json!(dir.join(format!("{name}.ome.tiff")));
    let schema = Schema::from_json(&settings.to_string()).unwrap();
    let mut router = FrameRouter::new(&schema);
    let total = stop.or(router.total()).unwrap();
    let mut backend = TiffBackend::create(&schema).unwrap();
    let n = schema.frame_len();
    for f in 0..total {
        let route = router.next_route().unwrap();
        let frame: Vec<u8> = (0..n).flat_map(|i| pixel(schema.dtype(), f, i)).collect();
        backend
            .write(route.position, &route.index, &frame, None)
            .unwrap();
    }
    if die {
        backend.flush().unwrap();
        std::mem::forget(backend);
    } else {
        backend
            .finalize(&Progress {
                frames_written: total,
                frames_reached: total,
                growth_extent: router.extent_reached(total),
                complete: router.total() == Some(total),
                ..Progress::default()
            })
            .unwrap();
    }
    let path = match schema.target() {
        ome_writers_schema::Target::Disk { path } => path.clone(),
        _ => unreachable!(),
    };
    (schema, path)
}

const CHECK: &str = r#"
import json, sys, glob, os
import numpy as np, tifffile

def reduce(a, method, dtype):
    f = a.astype(np.float64)
    for ax in (-2, -1):
        if f.shape[ax] % 2:
            pad = [(0, 0)] * f.ndim
            pad[ax] = (0, 1)
            f = np.pad(f, pad, constant_values=np.nan)
    h, w = f.shape[-2:]
    b = f.reshape(f.shape[:-2] + (h // 2, 2, w // 2, 2))
    if method == "decimate":
        r = b[..., :, 0, :, 0]
    else:
        r = {"mean": np.nanmean, "min": np.nanmin, "max": np.nanmax}[method](b, axis=(-3, -1))
    if np.issubdtype(dtype, np.integer):
        r = np.round(r)
    return r.astype(dtype)

for path, want in json.loads(sys.argv[1]).items():
    files = sorted(glob.glob(os.path.join(path, "*.ome.tif*"))) if os.path.isdir(path) else [path]
    for file in files:
        with tifffile.TiffFile(file) as tf:
            s = tf.series[0]
            assert len(s.levels) == want["levels"], (file, len(s.levels))
            ref = s.levels[0].asarray()
            assert ref.any(), (file, "blank")
            for k in range(1, want["levels"]):
                ref = reduce(ref, want["method"], s.levels[0].dtype)
                got = s.levels[k].asarray()
                assert got.shape == ref.shape, (file, k, got.shape, ref.shape)
                # Levels are tiled: at most 256 a side, multiples of 16.
                page = s.levels[k].keyframe
                side = lambda n: min(256, -(-n // 16) * 16)
                want_tile = (side(got.shape[-2]), side(got.shape[-1]))
                assert page.is_tiled, (file, k, "not tiled")
                assert (page.tilelength, page.tilewidth) == want_tile, (file, k, page.tilelength, page.tilewidth)
                if not np.array_equal(got, ref):
                    raise AssertionError(f"{file} level {k}: {int((got != ref).sum())} pixels differ")
print("ok")
"#;

fn check(spec: &Value) {
    let py = support::python().expect("tifffile and numpy are required: set OMEW_PYTHON");
    let out = Command::new(py)
        .args(["-c", CHECK])
        .arg(spec.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stdout.starts_with(b"ok"),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn tzyx(h: u64, w: u64) -> Value {
    json!([{"name": "t", "count": 2}, {"name": "z", "count": 3, "type": "space"},
           {"name": "y", "count": h}, {"name": "x", "count": w}])
}

#[test]
fn tifffile_reads_every_level_of_every_method() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = serde_json::Map::new();
    for dtype in ["uint8", "uint16", "float32"] {
        for method in ["mean", "decimate", "min", "max"] {
            for (size, h, w) in [("even", 32, 48), ("odd", 37, 29)] {
                let settings = json!({"dtype": dtype, "dimensions": tzyx(h, w),
                    "multiscale": {"levels": 4, "method": method}});
                let (_, path) = write(
                    dir.path(),
                    &format!("{dtype}_{method}_{size}"),
                    &settings,
                    None,
                    false,
                );
                spec.insert(
                    path.to_str().unwrap().to_owned(),
                    json!({"levels": 4, "method": method}),
                );
            }
        }
    }
    let lzw_positions = json!({"dtype": "uint16", "compression": "lzw",
        "multiscale": {"levels": 3, "method": "mean"},
        "dimensions": [{"name": "t", "count": 2}, {"name": "p", "type": "position", "coords": ["A", "B"]},
                       {"name": "y", "count": 33}, {"name": "x", "count": 40}]});
    let (_, path) = write(dir.path(), "lzw_positions", &lzw_positions, None, false);
    spec.insert(
        path.to_str().unwrap().to_owned(),
        json!({"levels": 3, "method": "mean"}),
    );
    // Levels larger than a tile: several tiles, the edge ones padded (raw and deflate).
    for compression in ["none", "deflate"] {
        let big = json!({"dtype": "uint16", "compression": compression,
            "multiscale": {"levels": 4, "method": "mean"},
            "dimensions": [{"name": "t", "count": 2}, {"name": "y", "count": 1100}, {"name": "x", "count": 530}]});
        let (_, path) = write(
            dir.path(),
            &format!("tiles_{compression}"),
            &big,
            None,
            false,
        );
        spec.insert(
            path.to_str().unwrap().to_owned(),
            json!({"levels": 4, "method": "mean"}),
        );
    }
    check(&Value::Object(spec));
}

#[test]
fn bioformats_reports_the_resolutions_and_recovery_keeps_them() {
    let dir = tempfile::tempdir().unwrap();
    // Level 1 (280 x 260) is 2 x 2 tiles of 256, the edge ones padded.
    let settings = json!({"dtype": "uint16", "dimensions": tzyx(560, 520),
        "multiscale": {"levels": 3, "method": "mean"}});
    let (_, path) = write(dir.path(), "bf", &settings, None, false);
    let jar = support::bioformats().unwrap_or_else(|| {
        panic!("Bio-Formats is required for this test: set OMEW_BIOFORMATS_JAR")
    });
    let (series, out) = support::image_info(&jar, &path);
    assert!(out.contains("No validation errors found."), "{out}");
    // ImageInfo flattens resolutions: one series per level, halved.
    assert_eq!(series.len(), 3, "{out}");
    let widths: Vec<u64> = series.iter().map(|s| s.num("Width")).collect();
    assert_eq!(widths, [520, 260, 130], "{out}");
    check(&json!({path.to_str().unwrap(): {"levels": 3, "method": "mean"}}));

    // Left after a durability point, then recovered: the pages kept keep their levels.
    let (_, dead) = write(dir.path(), "dead", &settings, Some(4), true);
    ome_writers_tiff::recover(&dead).unwrap();
    check(&json!({dead.to_str().unwrap(): {"levels": 3, "method": "mean"}}));
}
