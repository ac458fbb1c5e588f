//! The live-view reader (`Backend::reader`, `frames_readable`): every frame counted
//! readable reads back, from another thread while the writer writes, after a
//! durability point and after finalize; a page not written yet reads as `Ok(false)`.
//! Frames carry their frame number (and each pixel its offset) in their pixels.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use ome_writers_backend::{Backend, Checked, PlaneReader, Progress};
use ome_writers_router::{FrameRouter, Route};
use ome_writers_schema::{PositionIndex, Schema, StorageIndex};
use ome_writers_tiff::TiffBackend;
use serde_json::{Value, json};

/// Frame `n`'s pixels (uint16, native byte order): each encodes `n` and its offset.
fn frame(n: u64, bytes: usize) -> Vec<u8> {
    (0..bytes / 2)
        .flat_map(|i| (((n + 1) * 97 + i as u64) as u16).to_ne_bytes())
        .collect()
}

fn read(reader: &dyn PlaneReader, route: &Route, bytes: usize) -> Option<Vec<u8>> {
    let mut out = vec![0xAAu8; bytes];
    reader
        .read_plane(route.position, &route.index, &mut out)
        .unwrap()
        .then_some(out)
}

fn check_all(reader: &dyn PlaneReader, routes: &[Route], bytes: usize, when: &str) {
    for r in routes {
        assert_eq!(
            read(reader, r, bytes).as_deref(),
            Some(&frame(r.frame.0, bytes)[..]),
            "{when}: frame {} at {:?} {}",
            r.frame.0,
            r.position,
            r.index
        );
    }
}

/// The reader thread: verifies every frame below the published readable count as it
/// grows, until `done`; returns how many frames it verified.
fn spawn_checker(
    reader: Arc<dyn PlaneReader>,
    routes: Vec<Route>,
    bytes: usize,
    readable: Arc<AtomicU64>,
    done: Arc<AtomicBool>,
) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut verified = 0u64;
        loop {
            let finished = done.load(Ordering::Acquire);
            let n = readable.load(Ordering::Acquire);
            for r in &routes[verified as usize..n as usize] {
                assert_eq!(
                    read(&*reader, r, bytes).as_deref(),
                    Some(&frame(r.frame.0, bytes)[..]),
                    "live: frame {} counted readable",
                    r.frame.0
                );
            }
            verified = n;
            if finished {
                return verified;
            }
            std::thread::yield_now();
        }
    })
}

/// Write `frames` frames of `settings` (a durability point every `flush_every`),
/// checking the reader throughout and after finalize.
fn run(label: &str, settings: Value, output: &str, frames: u64, flush_every: u64) {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings;
    settings["root_path"] = json!(dir.path().join(output));
    settings["dtype"] = json!("uint16");
    let schema = Schema::from_json(&settings.to_string()).unwrap();
    let bytes = schema.frame_bytes();
    let router = FrameRouter::new(&schema);
    let routes: Vec<Route> = router.clone().take(frames as usize).collect();
    let mut backend = Checked::new(&schema, TiffBackend::create(&schema).unwrap());
    let reader = backend.reader().expect("a reader");
    assert_eq!(backend.frames_readable(), 0);
    for r in &routes {
        assert!(read(&*reader, r, bytes).is_none(), "{label}: nothing yet");
    }
    let readable = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let checker = spawn_checker(
        reader.clone(),
        routes.clone(),
        bytes,
        readable.clone(),
        done.clone(),
    );
    let mut last = 0;
    for (k, r) in routes.iter().enumerate() {
        backend
            .write(r.position, &r.index, &frame(r.frame.0, bytes), None)
            .unwrap();
        let written = k as u64 + 1;
        if written.is_multiple_of(flush_every) {
            backend.flush().unwrap();
        }
        let now = backend.frames_readable();
        // Pages go straight to the file: each frame is readable once written.
        assert_eq!(now, written, "{label}");
        assert!(now >= last);
        last = now;
        readable.store(now, Ordering::Release);
    }
    backend.flush().unwrap();
    assert_eq!(backend.frames_readable(), frames, "{label}: after flush");
    done.store(true, Ordering::Release);
    assert_eq!(checker.join().unwrap(), frames, "{label}");
    check_all(&*reader, &routes, bytes, &format!("{label} after flush"));
    backend
        .finalize(&Progress {
            frames_written: frames,
            frames_reached: frames,
            growth_extent: router.extent_reached(frames),
            complete: router.total() == Some(frames),
            ..Progress::default()
        })
        .unwrap();
    assert_eq!(backend.frames_readable(), frames);
    check_all(&*reader, &routes, bytes, &format!("{label} after finalize"));
    let again = backend.reader().unwrap();
    check_all(&*again, &routes, bytes, &format!("{label} new reader"));
}

fn dims(d: Value) -> Value {
    json!({ "dimensions": d })
}

#[test]
fn uncompressed_lzw_and_deflate() {
    for compression in ["none", "lzw", "deflate"] {
        let mut d = dims(json!([{"name": "t", "count": 4}, {"name": "c", "count": 2},
            {"name": "z", "count": 3}, {"name": "y", "count": 6}, {"name": "x", "count": 5}]));
        d["compression"] = json!(compression);
        run(compression, d, "a.ome.tiff", 24, 7);
    }
}

#[test]
fn several_positions_in_several_files() {
    for layout in ["redundant", "companion-file"] {
        let mut d = dims(json!([{"name": "t", "count": 3},
            {"name": "p", "type": "position", "coords": ["left", "right"]},
            {"name": "c", "count": 2}, {"name": "y", "count": 6}, {"name": "x", "count": 5}]));
        d["format"] = json!({"name": "ome-tiff", "multi_file_metadata": layout});
        d["compression"] = json!("lzw");
        run(layout, d, "m.ome.tiff", 12, 5);
    }
}

#[test]
fn a_plate_whose_files_are_closed_and_reopened() {
    // More positions than the backend keeps open: files are closed and reopened.
    let coords: Vec<Value> = (0..70)
        .map(|i| json!({"name": format!("f{i}"), "plate_row": "A", "plate_column": "1"}))
        .collect();
    let mut d = dims(json!([{"name": "t", "count": 2},
        {"name": "p", "type": "position", "coords": coords},
        {"name": "y", "count": 4}, {"name": "x", "count": 3}]));
    d["plate"] = json!({"row_names": ["A"], "column_names": ["1"]});
    run("plate", d, "plate.ome.tiff", 140, 50);
}

#[test]
fn an_unbounded_time_axis() {
    let d = dims(
        json!([{"name": "t", "count": null}, {"name": "z", "count": 2},
        {"name": "y", "count": 4}, {"name": "x", "count": 3}]),
    );
    run("unbounded", d, "u.ome.tiff", 11, 4);
}

#[test]
fn skipped_and_unwritten_planes() {
    let dir = tempfile::tempdir().unwrap();
    let schema = Schema::from_json(
        &json!({"root_path": dir.path().join("s.ome.tiff"), "dtype": "uint16",
            "compression": "lzw",
            "dimensions": [{"name": "t", "count": 4}, {"name": "y", "count": 4},
                {"name": "x", "count": 2}]})
        .to_string(),
    )
    .unwrap();
    let bytes = schema.frame_bytes();
    let mut backend = Checked::new(&schema, TiffBackend::create(&schema).unwrap());
    let reader = backend.reader().unwrap();
    let routes: Vec<Route> = FrameRouter::new(&schema).collect();
    // Frame 1 is skipped: a zero page.
    for r in [routes[0], routes[2]] {
        backend
            .write(r.position, &r.index, &frame(r.frame.0, bytes), None)
            .unwrap();
    }
    assert_eq!(backend.frames_readable(), 2);
    check_all(&*reader, &[routes[0], routes[2]], bytes, "skipped");
    assert_eq!(read(&*reader, &routes[1], bytes), Some(vec![0; bytes]));
    assert!(read(&*reader, &routes[3], bytes).is_none());
    backend
        .finalize(&Progress {
            frames_written: 2,
            frames_reached: 3,
            frames_skipped: 1,
            growth_extent: 3,
            ..Progress::default()
        })
        .unwrap();
    check_all(&*reader, &[routes[0], routes[2]], bytes, "after finalize");
    assert!(read(&*reader, &routes[3], bytes).is_none());
    // Misuse is a typed error, not a panic.
    let mut out = vec![0u8; bytes];
    let bad = StorageIndex::new(&[4]).unwrap();
    assert!(reader.read_plane(PositionIndex(0), &bad, &mut out).is_err());
    assert!(
        reader
            .read_plane(PositionIndex(1), &routes[0].index, &mut out)
            .is_err()
    );
    assert!(
        reader
            .read_plane(PositionIndex(0), &routes[0].index, &mut out[1..])
            .is_err()
    );
}
