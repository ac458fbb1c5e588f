//! Multiscale pyramids (`multiscale`): every level of every method read back with
//! zarr-python and compared pixel-exact with a numpy reference computed from level 0
//! as read back (each level from the one below, by the definition in
//! `ome_writers_backend::reduce`); shapes, chunks and the NGFF datasets (scales
//! doubling, translations keeping pixel centres aligned) checked; every store
//! validated by yaozarrs. Cases: uint8, uint16, float32, int16; even and odd sizes; Z
//! halved or not; storage order differing from acquisition order; positions and a
//! plate; an unbounded T; skipped frames; a partial acquisition; sharded and
//! compressed units; a dataset left after a durability point. Both readers are
//! required.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use ome_writers_backend::{Backend, Progress};
use ome_writers_router::FrameRouter;
use ome_writers_schema::{DType, Schema};
use ome_writers_zarr::ZarrBackend;
use serde_json::{Value, json};

struct Case {
    name: String,
    settings: Value,
    /// Frames to write (`None`: all).
    stop: Option<u64>,
    /// Frame numbers never written.
    skip: fn(u64) -> bool,
    /// Leave the backend instead of finishing: after a durability point (`Some(true)`),
    /// or frames after it (`Some(false)`).
    die: Option<bool>,
}

/// A pixel value that varies across the frame and with the frame number, in range.
fn pixel(dtype: DType, frame: u64, i: usize) -> Vec<u8> {
    let v = (frame * 131 + i as u64 * 7 + (i as u64 * i as u64) % 13) % 251;
    match dtype {
        DType::U8 => vec![v as u8],
        DType::U16 => ((v * 257) as u16).to_ne_bytes().to_vec(),
        DType::I16 => ((v as i16 - 125) * 100).to_ne_bytes().to_vec(),
        DType::F32 => (v as f32 / 4.0 - 20.0).to_ne_bytes().to_vec(),
        other => panic!("no test pixels for {other:?}"),
    }
}

fn write(case: &Case, dir: &Path) -> PathBuf {
    let root = dir.join(format!("{}.ome.zarr", case.name));
    let mut settings = case.settings.clone();
    settings["root_path"] = json!(root);
    let schema = Schema::from_json(&settings.to_string()).unwrap();
    let mut router = FrameRouter::new(&schema);
    let total = case.stop.or(router.total()).unwrap();
    let mut backend = ZarrBackend::create(&schema).unwrap();
    let n = schema.frame_len();
    let mut written = 0;
    for f in 0..total {
        let route = router.next_route().unwrap();
        if (case.skip)(f) {
            continue;
        }
        let frame: Vec<u8> = (0..n).flat_map(|i| pixel(schema.dtype(), f, i)).collect();
        backend
            .write(route.position, &route.index, &frame, None)
            .unwrap();
        written += 1;
        if f == total / 2 {
            backend.flush().unwrap();
        }
    }
    if let Some(flush) = case.die {
        if flush {
            backend.flush().unwrap();
        }
        std::mem::forget(backend);
    } else {
        let complete = router.total() == Some(total);
        backend
            .finalize(&Progress {
                frames_written: written,
                frames_skipped: total - written,
                frames_reached: total,
                growth_extent: router.extent_reached(total),
                complete,
                failed: false,
            })
            .unwrap();
    }
    root
}

const CHECK: &str = r#"
import json, sys, warnings
import numpy as np, zarr, yaozarrs

def reduce(a, halved, method, dtype):
    """One level up from `a` (float64 copy of the level below), by the definition."""
    f = a.astype(np.float64)
    for ax in halved:
        if f.shape[ax] % 2:
            pad = [(0, 0)] * f.ndim
            pad[ax] = (0, 1)
            f = np.pad(f, pad, constant_values=np.nan)
    shape, block_axes = [], []
    for ax, n in enumerate(f.shape):
        if ax in halved:
            shape += [n // 2, 2]
            block_axes.append(len(shape) - 1)
        else:
            shape.append(n)
    b = f.reshape(shape)
    if method == "decimate":
        r = b[tuple(0 if i in block_axes else slice(None) for i in range(b.ndim))]
    else:
        r = {"mean": np.nanmean, "min": np.nanmin, "max": np.nanmax}[method](b, axis=tuple(block_axes))
    if np.issubdtype(dtype, np.integer):
        r = np.round(r)
    return r.astype(dtype)

for root, images in json.loads(sys.argv[1]).items():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yaozarrs.validate_zarr_store(root)
    for group, want in images.items():
        g = zarr.open_group(store=root + ("/" + group if group else ""), mode="r")
        ms = g.attrs["ome"]["multiscales"][0]
        paths = [d["path"] for d in ms["datasets"]]
        assert paths == [str(k) for k in range(want["levels"])], (root, paths)
        names = [ax["name"] for ax in ms["axes"]]
        halved = [names.index(n) for n in want["halved"]]
        level0 = g["0"]
        ref = level0[...]
        assert ref.any(), (root, group, "level 0 is blank")
        s0 = ms["datasets"][0]["coordinateTransformations"][0]["scale"]
        t0 = ms["datasets"][0]["coordinateTransformations"][1]["translation"] if len(ms["datasets"][0]["coordinateTransformations"]) > 1 else [0.0] * len(s0)
        for k in range(1, want["levels"]):
            ref = reduce(ref, halved, want["method"], level0.dtype)
            a = g[str(k)]
            assert a.shape == ref.shape, (root, group, k, a.shape, ref.shape)
            assert a.dtype == level0.dtype
            for ax in range(a.ndim):
                assert a.chunks[ax] == min(level0.chunks[ax], a.shape[ax]), (root, k, a.chunks, level0.chunks)
            got = a[...]
            if not np.array_equal(got, ref):
                bad = np.argwhere(got != ref)[:5].tolist()
                raise AssertionError(f"{root} {group!r} level {k}: {len(np.argwhere(got != ref))} pixels differ, first {bad}: got {[got[tuple(i)] for i in bad]} want {[ref[tuple(i)] for i in bad]}")
            ct = ms["datasets"][k]["coordinateTransformations"]
            f = [2.0 ** k if ax in halved else 1.0 for ax in range(a.ndim)]
            assert ct[0] == {"type": "scale", "scale": [s * fa for s, fa in zip(s0, f)]}, (root, k, ct)
            want_t = [t + (fa - 1) / 2 * s for t, s, fa in zip(t0, s0, f)]
            assert ct[1]["type"] == "translation" and np.allclose(ct[1]["translation"], want_t), (root, k, ct, want_t)
print("ok")
"#;

/// `[root: {group: {levels, method, halved}}]` checked by zarr-python and yaozarrs.
fn check(spec: &Value) {
    let py = ome_writers_test_support::python()
        .expect("zarr-python, numpy and yaozarrs are required: set OMEW_PYTHON");
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

fn no_skip(_: u64) -> bool {
    false
}

fn case(name: &str, settings: Value) -> Case {
    Case {
        name: name.to_owned(),
        settings,
        stop: None,
        skip: no_skip,
        die: None,
    }
}

fn spec_of(cases: &[Case], dir: &Path) -> Value {
    spec_with(cases, dir, |_| {})
}

/// The spec of `cases`, each dataset passed to `then` once written.
fn spec_with(cases: &[Case], dir: &Path, then: impl Fn(&Path)) -> Value {
    let mut spec = serde_json::Map::new();
    for c in cases {
        let root = write(c, dir);
        then(&root);
        let m = &c.settings["multiscale"];
        let dims = c.settings["dimensions"].as_array().unwrap();
        let mut halved: Vec<String> = dims[dims.len() - 2..]
            .iter()
            .map(|d| d["name"].as_str().unwrap().to_owned())
            .collect();
        if m["downsample_z"] == json!(true) {
            halved.push("z".to_owned());
        }
        let schema = Schema::from_json(&{
            let mut s = c.settings.clone();
            s["root_path"] = json!(root);
            s.to_string()
        })
        .unwrap();
        let groups = ome_writers_zarr::image_groups(&schema);
        let images: serde_json::Map<String, Value> = groups
            .into_iter()
            .map(|g| {
                let v = json!({"levels": schema.pyramid().levels(),
                    "method": m["method"].as_str().unwrap_or("mean"), "halved": halved});
                (g, v)
            })
            .collect();
        spec.insert(root.to_str().unwrap().to_owned(), Value::Object(images));
    }
    Value::Object(spec)
}

fn tzyx(t: Option<u64>, z: u64, h: u64, w: u64) -> Value {
    json!([
        {"name": "t", "count": t},
        {"name": "z", "count": z, "type": "space", "unit": "micrometer", "scale": 2.0},
        {"name": "y", "count": h, "unit": "micrometer", "scale": 0.5, "chunk_size": 16},
        {"name": "x", "count": w, "unit": "micrometer", "scale": 0.5, "chunk_size": 16}
    ])
}

#[test]
fn every_method_and_dtype_matches_numpy_even_and_odd_z_on_and_off() {
    let dir = tempfile::tempdir().unwrap();
    let mut cases = Vec::new();
    for dtype in ["uint8", "uint16", "float32", "int16"] {
        for method in ["mean", "decimate", "min", "max"] {
            for (size, (h, w)) in [("even", (32, 48)), ("odd", (37, 29))] {
                for z in [false, true] {
                    cases.push(case(
                        &format!("{dtype}_{method}_{size}_z{z}"),
                        json!({"dtype": dtype, "dimensions": tzyx(Some(2), 5, h, w),
                           "multiscale": {"levels": 4, "method": method, "downsample_z": z}}),
                    ));
                }
            }
        }
    }
    check(&spec_of(&cases, dir.path()));
}

#[test]
fn storage_order_positions_plates_codecs_and_shards() {
    let dir = tempfile::tempdir().unwrap();
    let ms = json!({"levels": 3, "method": "mean", "downsample_z": true});
    let cases = vec![
        // Acquired z outermost, stored t, z: pairs wait across every t.
        case(
            "transposed",
            json!({"dtype": "uint16", "multiscale": ms, "dimensions": [
                {"name": "z", "count": 5, "type": "space"},
                {"name": "t", "count": 3},
                {"name": "y", "count": 21}, {"name": "x", "count": 30}]}),
        ),
        case(
            "positions_zstd",
            json!({"dtype": "uint16", "multiscale": ms, "compression": "zstd", "dimensions": [
                {"name": "t", "count": 2},
                {"name": "p", "type": "position", "coords": ["A", "B", "C"]},
                {"name": "z", "count": 3, "type": "space"},
                {"name": "y", "count": 33, "chunk_size": 8}, {"name": "x", "count": 20, "chunk_size": 8}]}),
        ),
        case(
            "plate_sharded_blosc",
            json!({"dtype": "float32", "multiscale": ms, "compression": "blosc-zstd",
                "plate": {"row_names": ["A", "B"], "column_names": ["1", "2"]},
                "dimensions": [
                {"name": "p", "type": "position", "coords": [
                    {"name": "f0", "plate_row": "A", "plate_column": "1"},
                    {"name": "f1", "plate_row": "A", "plate_column": "1"},
                    {"name": "f0", "plate_row": "B", "plate_column": "2"}]},
                {"name": "z", "count": 4, "type": "space", "chunk_size": 2, "shard_size_chunks": 2},
                {"name": "y", "count": 40, "chunk_size": 8, "shard_size_chunks": 2},
                {"name": "x", "count": 24, "chunk_size": 8, "shard_size_chunks": 3}]}),
        ),
        case(
            "raw_shards",
            json!({"dtype": "uint8", "multiscale": {"levels": 3, "method": "max"}, "dimensions": [
                {"name": "t", "count": 3, "chunk_size": 2, "shard_size_chunks": 2},
                {"name": "c", "count": 2},
                {"name": "y", "count": 40, "chunk_size": 8, "shard_size_chunks": 2},
                {"name": "x", "count": 24, "chunk_size": 8, "shard_size_chunks": 2}]}),
        ),
    ];
    check(&spec_of(&cases, dir.path()));
}

fn skip_some(f: u64) -> bool {
    f % 7 == 3
}

#[test]
fn unbounded_partial_skipped_and_dead_writer() {
    let dir = tempfile::tempdir().unwrap();
    let zms = json!({"levels": 3, "method": "mean", "downsample_z": true});
    let mut cases = vec![
        Case {
            stop: Some(17),
            ..case(
                "unbounded",
                json!({"dtype": "uint16", "multiscale": zms, "dimensions": tzyx(None, 5, 35, 18)}),
            )
        },
        Case {
            stop: Some(13),
            ..case(
                "partial",
                json!({"dtype": "uint8", "multiscale": zms, "dimensions": tzyx(Some(4), 5, 35, 18)}),
            )
        },
        Case {
            skip: skip_some,
            ..case(
                "skipped",
                json!({"dtype": "uint16", "multiscale": zms, "dimensions": tzyx(Some(3), 5, 35, 18)}),
            )
        },
        // Z is the growth axis, cut short: level 0 keeps z 0..=6, the levels follow.
        Case {
            stop: Some(13),
            ..case(
                "partial_z_growth",
                json!({"dtype": "uint16", "multiscale": zms, "compression": "zstd", "dimensions": [
                {"name": "z", "count": 9, "type": "space"}, {"name": "c", "count": 2},
                {"name": "y", "count": 17}, {"name": "x", "count": 16}]}),
            )
        },
    ];
    // Left after a durability point, Z off: every level matches level 0.
    cases.push(Case {
        stop: Some(7),
        die: Some(true),
        ..case(
            "dead",
            json!({"dtype": "uint16", "multiscale": {"levels": 3}, "dimensions": tzyx(Some(4), 2, 35, 18)}),
        )
    });
    check(&spec_of(&cases, dir.path()));
}

/// A writer killed after frames past its last durability point: `recover` rebuilds
/// every level from level 0 as it is on disk, so they match it exactly.
#[test]
fn repair_rebuilds_every_level_from_level_0() {
    let dir = tempfile::tempdir().unwrap();
    let zms = json!({"levels": 3, "method": "mean", "downsample_z": true});
    let cases = vec![
        Case {
            stop: Some(17),
            die: Some(false),
            ..case(
                "killed_unbounded",
                json!({"dtype": "uint16", "multiscale": zms, "compression": "zstd",
                    "dimensions": tzyx(None, 5, 35, 18)}),
            )
        },
        Case {
            stop: Some(11),
            die: Some(false),
            skip: skip_some,
            ..case(
                "killed_positions",
                json!({"dtype": "uint8", "multiscale": {"levels": 3, "method": "max"}, "dimensions": [
                    {"name": "t", "count": 3}, {"name": "p", "type": "position", "coords": ["A", "B"]},
                    {"name": "c", "count": 2}, {"name": "y", "count": 19}, {"name": "x", "count": 26}]}),
            )
        },
    ];
    let spec = spec_with(&cases, dir.path(), |root| {
        let by_router = |s: &Schema| -> Box<dyn ome_writers_schema::FrameOrder> {
            Box::new(FrameRouter::new(s))
        };
        let report = ome_writers_zarr::recover(root, &by_router).unwrap();
        assert!(report.nothing_to_repair.is_none(), "{report}");
    });
    check(&spec);
}

/// `levels: 1` writes the same files, byte for byte, as no `multiscale` key.
#[test]
fn one_level_is_todays_output() {
    let dir = tempfile::tempdir().unwrap();
    let dims = tzyx(Some(2), 3, 20, 20);
    let a = write(
        &case("plain", json!({"dtype": "uint16", "dimensions": dims})),
        dir.path(),
    );
    let b = write(
        &case(
            "one",
            json!({"dtype": "uint16", "dimensions": dims, "multiscale": {"levels": 1}}),
        ),
        dir.path(),
    );
    let files = |root: &Path| {
        let mut out = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    let rel = p.strip_prefix(root).unwrap().to_path_buf();
                    out.push((rel, std::fs::read(&p).unwrap()));
                }
            }
        }
        out.sort();
        out
    };
    let (fa, fb) = (files(&a), files(&b));
    assert_eq!(fa.len(), fb.len());
    for ((pa, ba), (pb, bb)) in fa.iter().zip(&fb) {
        assert_eq!(pa, pb);
        if pa.ends_with("zarr.json") && pa.parent() == Some(Path::new("")) {
            // The root document holds the settings: the same but for the root path and
            // the key itself.
            let text = |b: &[u8], root: &Path| {
                String::from_utf8(b.to_vec())
                    .unwrap()
                    .replace(root.to_str().unwrap(), "ROOT")
            };
            let (ta, tb) = (text(ba, &a), text(bb, &b));
            let mut vb: Value = serde_json::from_str(&tb).unwrap();
            vb["attributes"]["ome_writers"]["settings"]
                .as_object_mut()
                .unwrap()
                .remove("multiscale");
            assert_eq!(serde_json::from_str::<Value>(&ta).unwrap(), vb);
        } else {
            assert_eq!(ba, bb, "{}", pa.display());
        }
    }
}
