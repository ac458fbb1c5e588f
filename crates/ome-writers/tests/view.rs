//! Live views (`Stream::view`) on every backend: acquisition order whatever the
//! storage order, positions, unbounded, skip, partial acquisitions, a reader thread
//! racing the camera thread. Each frame's pixels carry its frame number + 1, so a
//! plane in the wrong place is seen at once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use ome_writers::{
    Backend, BackendError, CoordLabel, Coords, FrameMetadata, PlaneReader, Progress, Schema, Sel,
    StreamOptions, Summary, ViewError, create_stream, create_stream_with,
    create_stream_with_backend,
};
use ome_writers_schema::{PositionIndex, StorageIndex};

const H: usize = 6;
const W: usize = 5;

/// `NAME.scratch`: a scratch directory; `NAME.memory`: scratch in memory.
fn schema(root: &Path, name: &str, dims: &str, extra: &str) -> Schema {
    let (root, extra) = if name.ends_with(".memory") {
        (
            String::new(),
            format!(r#"{extra}, "format": {{"name": "scratch"}}"#),
        )
    } else if name.ends_with(".scratch") {
        let root = root.join(name).to_string_lossy().into_owned();
        (root, format!(r#"{extra}, "format": {{"name": "scratch"}}"#))
    } else {
        (
            root.join(name).to_string_lossy().into_owned(),
            extra.to_owned(),
        )
    };
    Schema::from_json(&format!(
        r#"{{"root_path": {root:?}, "dtype": "uint16", "dimensions": {dims} {extra}}}"#
    ))
    .unwrap()
}

fn dims(outer: &str) -> String {
    format!(r#"[{outer}, {{"name": "y", "count": {H}}}, {{"name": "x", "count": {W}}}]"#)
}

/// Frame `n`: pixel (r, c) = (n + 1) * 100 + r * W + c (so regions are checked too).
fn frame(n: u64) -> Vec<u16> {
    (0..H * W)
        .map(|i| ((n + 1) * 100) as u16 + i as u16)
        .collect()
}

fn sel(coords: &[u64]) -> Vec<Sel> {
    coords.iter().map(|&c| Sel::Index(c as i64)).collect()
}

/// The plane at `coords` holds frame `n` (or zeros when `n` is None).
fn assert_plane(view: &ome_writers::StreamView, coords: &[u64], n: Option<u64>) {
    let got = view.read::<u16>(&sel(coords)).unwrap();
    assert_eq!(got.shape(), &[H, W], "{coords:?}");
    let want = n.map_or(vec![0; H * W], frame);
    assert_eq!(
        got.iter().copied().collect::<Vec<_>>(),
        want,
        "plane {coords:?}"
    );
}

/// Acquisition coordinates of frame n for counts (rightmost fastest).
fn coords_of(mut n: u64, counts: &[u64]) -> Vec<u64> {
    let mut out = vec![0; counts.len()];
    for k in (0..counts.len()).rev() {
        out[k] = n % counts[k];
        n /= counts[k];
    }
    out
}

const BACKENDS: [&str; 4] = [".ome.zarr", ".ome.tiff", ".scratch", ".memory"];

/// Append every frame, checking each one through the view right after `append`
/// returns, and every frame again after finish.
fn check_all_frames(schema: &Schema, counts: &[u64]) {
    let mut stream = create_stream(schema).unwrap();
    let view = stream.view(true, false);
    let total: u64 = counts.iter().product();
    for n in 0..total {
        stream.append(&frame(n)).unwrap();
        assert_plane(&view, &coords_of(n, counts), Some(n));
        if n > 0 {
            assert_plane(&view, &coords_of(n - 1, counts), Some(n - 1));
        }
    }
    stream.finish().unwrap();
    for n in 0..total {
        assert_plane(&view, &coords_of(n, counts), Some(n));
    }
}

#[test]
fn transposed_storage_reads_in_acquisition_order() {
    let dir = tempfile::tempdir().unwrap();
    // Acquisition c, t, z; zarr stores t, c, z.
    let d =
        dims(r#"{"name": "c", "count": 2}, {"name": "t", "count": 3}, {"name": "z", "count": 2}"#);
    for suffix in BACKENDS {
        let s = schema(dir.path(), &format!("tr{suffix}"), &d, "");
        check_all_frames(&s, &[2, 3, 2]);
    }
    // TIFF in an explicit storage order of the caller's.
    let s = schema(
        dir.path(),
        "explicit.ome.tiff",
        &d,
        r#", "storage_order": ["z", "t", "c", "y", "x"]"#,
    );
    check_all_frames(&s, &[2, 3, 2]);
}

#[test]
fn positions_are_an_axis_of_the_view() {
    let dir = tempfile::tempdir().unwrap();
    let d = dims(
        r#"{"name": "t", "count": 2}, {"name": "p", "type": "position", "coords": ["a", "b", "c"]}, {"name": "z", "count": 2}"#,
    );
    for suffix in BACKENDS {
        let s = schema(dir.path(), &format!("pos{suffix}"), &d, "");
        check_all_frames(&s, &[2, 3, 2]);
        let stream = create_stream(&schema(
            dir.path(),
            &format!("pos2{suffix}"),
            &d,
            r#", "overwrite": true"#,
        ))
        .unwrap();
        let view = stream.view(false, false);
        assert_eq!(view.dims(), vec!["t", "p", "z", "y", "x"]);
        assert_eq!(view.shape(), vec![2, 3, 2, H as u64, W as u64]);
        let coords = view.coords();
        assert_eq!(
            coords[1].1,
            Coords::Labels(["a", "b", "c"].map(|s| CoordLabel::Text(s.into())).to_vec())
        );
        stream.finish().unwrap();
    }
}

#[test]
fn sharded_and_compressed_zarr() {
    let dir = tempfile::tempdir().unwrap();
    let d = r#"[{"name": "t", "count": 4, "chunk_size": 2, "shard_size_chunks": 2},
        {"name": "c", "count": 2}, {"name": "y", "count": 6}, {"name": "x", "count": 5}]"#;
    for (k, extra) in [
        "",
        r#", "compression": "zstd""#,
        r#", "compression": "blosc-lz4""#,
    ]
    .iter()
    .enumerate()
    {
        check_all_frames(
            &schema(dir.path(), &format!("sh{k}.ome.zarr"), d, extra),
            &[4, 2],
        );
    }
    check_all_frames(
        &schema(dir.path(), "lzw.ome.tiff", d, r#", "compression": "lzw""#),
        &[4, 2],
    );
}

#[test]
fn unbounded_shape_grows_with_the_frames() {
    let dir = tempfile::tempdir().unwrap();
    let d = dims(r#"{"name": "t", "count": null}, {"name": "c", "count": 2}"#);
    for suffix in BACKENDS {
        let s = schema(dir.path(), &format!("unb{suffix}"), &d, "");
        let mut stream = create_stream(&s).unwrap();
        let live = stream.view(true, false);
        let fixed = stream.view(false, false);
        assert_eq!(live.shape(), vec![0, 0, H as u64, W as u64]);
        assert_eq!(fixed.shape(), vec![0, 2, H as u64, W as u64]);
        for n in 0..7 {
            stream.append(&frame(n)).unwrap();
            assert_plane(&live, &[n / 2, n % 2], Some(n));
        }
        assert_eq!(live.shape(), vec![4, 2, H as u64, W as u64]);
        assert_eq!(fixed.shape(), vec![4, 2, H as u64, W as u64]);
        // Past the extent, on the unbounded axis: zeros (not strict).
        assert_plane(&live, &[9, 0], None);
        stream.finish().unwrap();
        assert_plane(&live, &[3, 0], Some(6));
        assert_plane(&live, &[3, 1], None);
    }
}

#[test]
fn skipped_and_unreached_planes_read_zero_and_partial_keeps_what_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let d = dims(r#"{"name": "t", "count": 3}, {"name": "c", "count": 2}"#);
    for suffix in BACKENDS {
        let s = schema(dir.path(), &format!("skip{suffix}"), &d, "");
        let mut stream = create_stream(&s).unwrap();
        let view = stream.view(true, false);
        stream.append(&frame(0)).unwrap();
        stream.skip(2).unwrap();
        stream.append(&frame(3)).unwrap();
        assert_eq!(view.shape(), vec![2, 2, H as u64, W as u64]);
        assert_plane(&view, &[0, 0], Some(0));
        assert_plane(&view, &[0, 1], None);
        assert_plane(&view, &[1, 0], None);
        assert_plane(&view, &[1, 1], Some(3));
        assert_plane(&view, &[2, 0], None);
        stream.finish().unwrap(); // partial: stops after frame 3
        assert_plane(&view, &[1, 1], Some(3));
        assert_plane(&view, &[0, 0], Some(0));
        assert_plane(&view, &[2, 1], None);
    }
}

#[test]
fn frames_appended_before_the_view_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let d = dims(r#"{"name": "t", "count": 4}, {"name": "c", "count": 2, "chunk_size": 2}"#);
    for suffix in BACKENDS {
        let s = schema(dir.path(), &format!("late{suffix}"), &d, "");
        let mut stream = create_stream(&s).unwrap();
        for n in 0..3 {
            stream.append(&frame(n)).unwrap();
        }
        let view = stream.view(true, false);
        for n in 0..3 {
            assert_plane(&view, &coords_of(n, &[4, 2]), Some(n));
        }
        for n in 3..8 {
            stream.append(&frame(n)).unwrap();
            assert_plane(&view, &coords_of(n, &[4, 2]), Some(n));
        }
        drop(stream);
        for n in 0..8 {
            assert_plane(&view, &coords_of(n, &[4, 2]), Some(n));
        }
    }
}

#[test]
fn dynamic_shape_coords_strict_and_slices() {
    let dir = tempfile::tempdir().unwrap();
    let d = dims(r#"{"name": "t", "count": 3}, {"name": "c", "coords": ["DAPI", "GFP"]}"#);
    let s = schema(dir.path(), "dyn.ome.zarr", &d, "");
    let mut stream = create_stream(&s).unwrap();
    let view = stream.view(true, false);
    let strict = stream.view(true, true);
    assert_eq!(view.shape(), vec![0, 0, 6, 5]);
    assert_eq!(view.len(), 0);
    let expect = [[1, 1], [1, 2], [2, 2], [2, 2], [3, 2]];
    for (n, want) in expect.iter().enumerate() {
        stream.append(&frame(n as u64)).unwrap();
        assert_eq!(view.shape()[..2], want[..], "after frame {n}");
        if n == 0 {
            // Strict: integer indices inside the live shape only (Python's cases).
            for (t, c, ok) in [
                (0, 0, true),
                (1, 0, false),
                (0, 1, false),
                (-1, 0, true),
                (-2, 0, false),
            ] {
                let got = strict.read::<u16>(&[Sel::Index(t), Sel::Index(c)]);
                assert_eq!(got.is_ok(), ok, "strict [{t}, {c}]");
                if !ok {
                    assert!(matches!(got, Err(ViewError::OutOfBounds { .. })));
                }
            }
            // Not strict: past the live shape reads zeros.
            assert_plane(&view, &[2, 0], None);
        }
    }
    let c = view.coords();
    assert_eq!(c[0], ("t", Coords::Range(3)));
    assert_eq!(
        c[1].1,
        Coords::Labels(vec![
            CoordLabel::Text("DAPI".into()),
            CoordLabel::Text("GFP".into())
        ])
    );
    // Strict: live bounds; negative indices from the live end.
    assert_plane(&strict, &[2, 0], Some(4));
    let got = strict
        .read::<u16>(&[Sel::Index(-1), Sel::Index(0)])
        .unwrap();
    assert_eq!(got[[0, 0]], 500);
    assert!(matches!(
        strict.read::<u16>(&[Sel::Index(-4)]),
        Err(ViewError::OutOfBounds { .. })
    ));
    // Declared bounds always hold; Y and X too.
    assert!(matches!(
        view.read::<u16>(&[Sel::Index(3)]),
        Err(ViewError::OutOfBounds { .. })
    ));
    assert!(matches!(
        view.read::<u16>(&[Sel::Index(0), Sel::Index(0), Sel::Index(6)]),
        Err(ViewError::OutOfBounds { .. })
    ));
    // Slices: clipped, stepped, reversed; regions of a frame.
    let all = view.read::<u16>(&[]).unwrap();
    assert_eq!(all.shape(), &[3, 2, 6, 5]);
    assert_eq!(all[[2, 1, 0, 0]], 0);
    assert_eq!(all[[1, 1, 2, 3]], 400 + 13);
    let part = view
        .read::<u16>(&[
            Sel::Slice {
                start: None,
                stop: None,
                step: -1,
            },
            Sel::Index(0),
            Sel::range(1..99),
            Sel::Slice {
                start: Some(4),
                stop: None,
                step: -2,
            },
        ])
        .unwrap();
    assert_eq!(part.shape(), &[3, 5, 3]);
    assert_eq!(part[[0, 0, 0]], 500 + 5 + 4);
    assert_eq!(part[[2, 4, 2]], 100 + 25);
    assert_eq!(
        view.selection_shape(&[Sel::range(0..2)]).unwrap(),
        vec![2, 2, 6, 5]
    );
    assert!(matches!(view.read::<u8>(&[]), Err(ViewError::Dtype { .. })));
    assert!(matches!(
        view.read::<u16>(&[Sel::all(); 5]),
        Err(ViewError::TooManyIndices { .. })
    ));
    let mut out = vec![0u8; 6 * 5 * 2];
    assert_eq!(view.read_into(&sel(&[1, 0]), &mut out).unwrap(), vec![6, 5]);
    assert_eq!(u16::from_ne_bytes([out[0], out[1]]), 300);
    stream.finish().unwrap();
}

#[test]
fn a_reader_thread_never_sees_a_frame_in_the_wrong_place() {
    let dir = tempfile::tempdir().unwrap();
    let d = dims(
        r#"{"name": "t", "count": 40}, {"name": "p", "type": "position", "coords": ["a", "b"]}, {"name": "c", "count": 2}"#,
    );
    for suffix in BACKENDS {
        let s = schema(dir.path(), &format!("race{suffix}"), &d, "");
        let opts = StreamOptions::default().with_flush_every_frames(7);
        let mut stream = create_stream_with(&s, &opts).unwrap();
        let view = stream.view(false, false);
        let stop = Arc::new(AtomicBool::new(false));
        let reader = {
            let (view, stop) = (view.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut checked = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let reached = view.frames_reached();
                    let all = view.read::<u16>(&[]).unwrap();
                    for (n, plane) in all
                        .outer_iter()
                        .flat_map(|a| {
                            a.outer_iter()
                                .flat_map(|b| {
                                    b.outer_iter().map(|p| p.to_owned()).collect::<Vec<_>>()
                                })
                                .collect::<Vec<_>>()
                        })
                        .enumerate()
                    {
                        let n = n as u64;
                        let v = plane[[0, 0]];
                        // Reached before the read began: it must be there.
                        if n < reached {
                            assert_eq!(v, ((n + 1) * 100) as u16, "frame {n}");
                        } else {
                            assert!(v == 0 || v == ((n + 1) * 100) as u16, "frame {n}: {v}");
                        }
                        checked += 1;
                    }
                }
                checked
            })
        };
        for n in 0..160 {
            stream.append(&frame(n)).unwrap();
        }
        stream.finish().unwrap();
        stop.store(true, Ordering::Relaxed);
        assert!(reader.join().unwrap() > 0);
    }
}

/// A backend holding planes in memory, readable only from its last durability point:
/// the view must keep the rest and drop the copies once readable.
#[derive(Default)]
struct Lagging {
    planes: Arc<Mutex<Vec<(usize, Vec<u64>, Vec<u8>)>>>,
    pending: Vec<(usize, Vec<u64>, Vec<u8>)>,
    readable: u64,
}

struct LaggingReader(Arc<Mutex<Vec<(usize, Vec<u64>, Vec<u8>)>>>);

impl PlaneReader for LaggingReader {
    fn read_plane(
        &self,
        p: PositionIndex,
        idx: &StorageIndex,
        out: &mut [u8],
    ) -> Result<bool, BackendError> {
        let planes = self.0.lock().unwrap();
        match planes
            .iter()
            .find(|(q, i, _)| *q == p.0 && i == idx.as_slice())
        {
            Some((_, _, b)) => {
                out.copy_from_slice(b);
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

impl Backend for Lagging {
    fn write(
        &mut self,
        p: PositionIndex,
        idx: &StorageIndex,
        f: &[u8],
        _: Option<&FrameMetadata>,
    ) -> Result<(), BackendError> {
        self.pending
            .push((p.0, idx.as_slice().to_vec(), f.to_vec()));
        Ok(())
    }
    fn flush(&mut self) -> Result<(), BackendError> {
        let mut planes = self.planes.lock().unwrap();
        self.readable += self.pending.len() as u64;
        planes.append(&mut self.pending);
        Ok(())
    }
    fn finalize(&mut self, _: &Progress) -> Result<Summary, BackendError> {
        self.flush()?;
        Ok(Summary::default())
    }
    fn reader(&self) -> Option<Arc<dyn PlaneReader>> {
        Some(Arc::new(LaggingReader(self.planes.clone())))
    }
    fn frames_readable(&self) -> u64 {
        self.readable
    }
}

#[test]
fn frames_the_backend_cannot_read_yet_come_from_memory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dims(r#"{"name": "t", "count": 5}, {"name": "c", "count": 3}"#);
    let s = schema(dir.path(), "mem.ome.zarr", &d, "");
    let opts = StreamOptions::default()
        .with_flush_every_frames(4)
        .with_flush_every(None);
    let mut stream = create_stream_with_backend(&s, Box::new(Lagging::default()), &opts).unwrap();
    // Before the view: queued frames; the view's first read waits for the writer's
    // durability point, then reads them from the backend.
    for n in 0..2 {
        stream.append(&frame(n)).unwrap();
    }
    let view = stream.view(true, false);
    for n in 0..15 {
        if n >= 2 {
            stream.append(&frame(n)).unwrap();
        }
        for m in 0..=n {
            assert_plane(&view, &coords_of(m, &[5, 3]), Some(m));
        }
    }
    stream.finish().unwrap();
    for m in 0..15 {
        assert_plane(&view, &coords_of(m, &[5, 3]), Some(m));
    }
}

#[test]
fn a_view_never_starves_the_queue_when_write_units_outgrow_it() {
    // Shards of 8 frames, a queue of 2: frames wait in open shards, not in the queue;
    // the view keeps copies of those, and appends never run out of buffers.
    let dir = tempfile::tempdir().unwrap();
    let d = r#"[{"name": "t", "count": 16, "chunk_size": 2, "shard_size_chunks": 4},
        {"name": "y", "count": 6}, {"name": "x", "count": 5}]"#;
    let s = schema(
        dir.path(),
        "starve.ome.zarr",
        d,
        r#", "compression": "zstd""#,
    );
    let opts = StreamOptions::default()
        .with_queue_bytes(2 * H * W * 2)
        .with_flush_every_frames(0)
        .with_flush_every(None);
    let mut stream = create_stream_with(&s, &opts).unwrap();
    let view = stream.view(true, false);
    for n in 0..16 {
        stream.append(&frame(n)).unwrap();
        for m in 0..=n {
            assert_plane(&view, &[m], Some(m));
        }
    }
    stream.finish().unwrap();
    for m in 0..16 {
        assert_plane(&view, &[m], Some(m));
    }
}

#[test]
fn a_selection_larger_than_memory_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = r#"[{"name": "t", "count": 5000}, {"name": "c", "count": 1000},
        {"name": "y", "count": 2048}, {"name": "x", "count": 2048}]"#;
    let s = schema(dir.path(), "huge.ome.zarr", d, "");
    let stream = create_stream(&s).unwrap();
    let view = stream.view(false, false);
    assert!(matches!(
        view.read::<u16>(&[]),
        Err(ViewError::TooLarge { .. })
    ));
    let mut out = vec![0u8; 8];
    assert!(view.read_into(&[], &mut out).is_err());
    drop(stream);
}
