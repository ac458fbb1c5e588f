//! The scratch format through the facade: `create_stream` with scratch settings, in
//! memory and to a directory, read back with `ome_writers::scratch::open`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ome_writers::{PositionIndex, Schema, StorageIndex, create_backend, create_stream};
use serde_json::json;

fn schema(root: &str, t: Option<u64>) -> Schema {
    let v = json!({"root_path": root, "format": "scratch", "dtype": "uint16", "dimensions": [
        {"name": "t", "count": t}, {"name": "p", "count": 2},
        {"name": "y", "count": 4}, {"name": "x", "count": 6}]});
    Schema::from_json(&v.to_string()).unwrap()
}

/// Frame `n`: every pixel `n + 1`.
fn frame(n: u64) -> Vec<u16> {
    vec![(n + 1) as u16; 24]
}

#[test]
fn a_stream_writes_a_scratch_directory_that_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("run");
    let s = schema(root.to_str().unwrap(), None);
    let mut stream = create_stream(&s).unwrap();
    for n in 0..7 {
        if n == 3 {
            stream.skip(1).unwrap();
            continue;
        }
        let meta = json!({"delta_t": n as f64 * 0.5})
            .as_object()
            .cloned()
            .unwrap();
        stream.append_with_metadata(&frame(n), meta).unwrap();
    }
    let summary = stream.finish().unwrap();
    assert_eq!(summary.frames_written, 6);
    assert_eq!(
        summary.shape,
        [4, 4, 6],
        "t grows to 4 (frames 0..7 over 2 positions)"
    );
    assert_eq!(summary.paths, std::slice::from_ref(&root));
    let ds = ome_writers::scratch::open(&root).unwrap();
    assert_eq!(ds.status(), Some(ome_writers::DatasetStatus::Partial));
    assert_eq!(ds.shapes(), [vec![4, 4, 6], vec![4, 4, 6]]);
    for n in 0..7u64 {
        let (t, p) = ((n / 2) as usize, (n % 2) as usize);
        let want = if n == 3 { 0 } else { n + 1 };
        let a = ds.array::<u16>(p).unwrap();
        assert!(
            a.slice(ndarray::s![t, .., ..])
                .iter()
                .all(|&v| u64::from(v) == want),
            "frame {n}"
        );
    }
    // t=3 of position 1 was never reached: zeros.
    assert!(
        ds.array::<u16>(1)
            .unwrap()
            .slice(ndarray::s![3, .., ..])
            .iter()
            .all(|&v| v == 0)
    );
    let lines = ds.frame_metadata();
    assert_eq!(lines.len(), 6);
    assert_eq!(lines[3]["delta_t"], json!(2.0));
    assert_eq!(lines[3]["_pos"], json!(0));
    assert_eq!(lines[3]["_idx"], json!([2]));
}

#[test]
fn in_memory_a_stream_reports_its_frames_and_the_reader_reads_them() {
    let s = schema("", Some(2));
    assert_eq!(s.backend(), ome_writers::BackendKind::Scratch);
    let mut stream = create_stream(&s).unwrap();
    for n in 0..4 {
        stream.append(&frame(n)).unwrap();
    }
    let summary = stream.finish().unwrap();
    assert_eq!((summary.frames_written, summary.complete), (4, true));
    assert!(summary.paths.is_empty());
    assert_eq!(summary.shape, [2, 4, 6]);

    // The backend the factory makes reads back through its PlaneReader.
    let mut b = create_backend(&s).unwrap();
    let idx = StorageIndex::new(&[1]).unwrap();
    let bytes: Vec<u8> = bytemuck::cast_slice(&frame(9)).to_vec();
    b.write(PositionIndex(1), &idx, &bytes, None).unwrap();
    assert_eq!(b.frames_readable(), 1);
    let reader = b.reader().unwrap();
    let mut out = vec![0u8; 48];
    assert!(reader.read_plane(PositionIndex(1), &idx, &mut out).unwrap());
    assert_eq!(out, bytes);
    let t0 = StorageIndex::new(&[0]).unwrap();
    assert!(!reader.read_plane(PositionIndex(0), &t0, &mut out).unwrap());
}

/// A live view over a scratch stream reads each frame as soon as `append` returns
/// (through the backend's `PlaneReader`), in memory and on disk, and still after
/// finish (the view keeps the in-memory arrays alive).
#[test]
fn a_view_reads_scratch_frames_live_and_after_finish() {
    use ome_writers::Sel;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("viewed");
    for root in ["", root.to_str().unwrap()] {
        let s = schema(root, None);
        let mut stream = create_stream(&s).unwrap();
        let view = stream.view(true, false);
        let read = |t: u64, p: u64| {
            view.read::<u16>(&[Sel::Index(t as i64), Sel::Index(p as i64)])
                .unwrap()
                .iter()
                .copied()
                .collect::<Vec<_>>()
        };
        for n in 0..9u64 {
            stream.append(&frame(n)).unwrap();
            assert_eq!(read(n / 2, n % 2), frame(n), "{root:?} frame {n}");
        }
        assert_eq!(view.shape(), vec![5, 2, 4, 6]);
        stream.finish().unwrap();
        for n in 0..9u64 {
            assert_eq!(
                read(n / 2, n % 2),
                frame(n),
                "{root:?} frame {n} after finish"
            );
        }
        assert_eq!(read(4, 1), vec![0; 24], "never written");
    }
}
