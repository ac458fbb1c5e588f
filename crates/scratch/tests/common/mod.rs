//! Shared helpers: acquisitions driven through the router into the backend (behind
//! the contract checks), frames whose pixels are their frame number + 1.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use ome_writers_backend::{Backend, Checked, Progress};
use ome_writers_router::FrameRouter;
use ome_writers_schema::{FrameNumber, Schema};
use ome_writers_scratch::{ScratchArrays, ScratchBackend};
use serde_json::{Value, json};

/// A schema from settings JSON (dtype uint16 unless given).
pub(crate) fn schema(v: &Value) -> Schema {
    let mut v = v.clone();
    if v.get("dtype").is_none() {
        v["dtype"] = json!("uint16");
    }
    Schema::from_json(&v.to_string()).unwrap_or_else(|e| panic!("{e}: {v}"))
}

/// Dimensions `t, c, y, x` (t `None` = unbounded).
pub(crate) fn tcyx(t: Option<u64>, c: u64) -> Value {
    json!([{"name": "t", "count": t}, {"name": "c", "count": c},
           {"name": "y", "count": 3}, {"name": "x", "count": 5}])
}

/// Frame `n`'s pixels: every pixel `n + 1` (so 0 means never written).
pub(crate) fn frame(schema: &Schema, n: u64) -> Vec<u8> {
    let v = (n + 1) as u16;
    bytemuck::cast_slice(&vec![v; schema.frame_len()]).to_vec()
}

/// What an acquisition wrote: (position, storage index, value) per frame written.
pub(crate) type Planes = Vec<(usize, Vec<u64>, u64)>;

/// Frames `from..to`, those in `skip` skipped; metadata `{"n": n}` on each.
pub(crate) fn drive(
    backend: &mut dyn Backend,
    schema: &Schema,
    frames: std::ops::Range<u64>,
    skip: &BTreeSet<u64>,
) -> Planes {
    let router = FrameRouter::new(schema);
    let mut planes = Vec::new();
    for n in frames {
        if skip.contains(&n) {
            continue;
        }
        let r = router.route(FrameNumber(n)).unwrap();
        let meta = json!({"n": n}).as_object().cloned().unwrap();
        backend
            .write(r.position, &r.index, &frame(schema, n), Some(&meta))
            .unwrap();
        planes.push((r.position.0, r.index.as_slice().to_vec(), n + 1));
    }
    planes
}

/// The progress a stream reports after `frames` frames (skips included).
pub(crate) fn progress(schema: &Schema, frames: u64, skipped: u64) -> Progress {
    let router = FrameRouter::new(schema);
    Progress {
        frames_written: frames - skipped,
        frames_skipped: skipped,
        frames_reached: frames,
        growth_extent: router.extent_reached(frames),
        complete: router.total() == Some(frames),
        failed: false,
    }
}

/// A scratch backend behind the checks every stream puts in front of it.
pub(crate) fn backend(schema: &Schema) -> (Checked<ScratchBackend>, ScratchArrays) {
    let b = ScratchBackend::create(schema).unwrap();
    let arrays = b.arrays();
    (Checked::new(schema, b), arrays)
}

/// Every plane of `arrays` (through the `PlaneReader` and through `to_ndarray`) holds
/// exactly `planes`, everything else 0.
pub(crate) fn check_arrays(arrays: &ScratchArrays, schema: &Schema, planes: &Planes) {
    use ome_writers_backend::PlaneReader;
    use ome_writers_schema::{PositionIndex, StorageIndex};
    let shape = arrays.shape();
    let n_idx = shape.len() - 2;
    for p in 0..arrays.positions() {
        let a = arrays.to_ndarray::<u16>(p).unwrap();
        assert_eq!(
            a.shape().iter().map(|&d| d as u64).collect::<Vec<_>>(),
            shape
        );
        let planes_total: u64 = shape[..n_idx].iter().product();
        for k in 0..planes_total {
            // The k-th storage index, row-major.
            let mut all = vec![0u64; n_idx];
            let mut rest = k;
            for ax in (0..n_idx).rev() {
                all[ax] = rest % shape[ax];
                rest /= shape[ax];
            }
            let want = planes
                .iter()
                .find(|(q, i, _)| *q == p && *i == all)
                .map_or(0, |x| x.2);
            let mut out = vec![0u8; schema.frame_bytes()];
            let index = StorageIndex::new(&all).unwrap();
            let stored = arrays
                .read_plane(PositionIndex(p), &index, &mut out)
                .unwrap();
            let got: &[u16] = bytemuck::cast_slice(&out);
            if stored {
                assert!(
                    got.iter().all(|&v| u64::from(v) == want),
                    "reader: p{p} {all:?}"
                );
            } else {
                assert_eq!(want, 0, "reader: p{p} {all:?} not stored");
            }
            let sub = a.slice_each_axis(|ax| {
                let i = ax.axis.index();
                if i < n_idx {
                    let at = all[i] as isize;
                    ndarray::Slice::from(at..=at)
                } else {
                    ndarray::Slice::from(..)
                }
            });
            assert!(
                sub.iter().all(|&v| u64::from(v) == want),
                "ndarray: p{p} {all:?}"
            );
        }
    }
}

/// numpy reads `dir` and finds exactly `planes` (everything else 0) in `shapes`.
pub(crate) fn check_numpy(dir: &Path, dtype: &str, shapes: &[Vec<u64>], planes: &Planes) {
    let Some(python) = ome_writers_test_support::python() else {
        return;
    };
    let expected = dir.with_extension("expected.json");
    let doc = json!({"dtype": dtype, "shapes": shapes, "planes": planes});
    std::fs::write(&expected, doc.to_string()).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/check_numpy.py");
    let out = Command::new(python)
        .arg(script)
        .arg(dir)
        .arg(&expected)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "numpy check failed for {}:\n{}{}",
        dir.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
