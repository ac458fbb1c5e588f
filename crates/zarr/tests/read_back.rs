//! The live-view reader (`Backend::reader`, `frames_readable`): every frame counted
//! readable reads back, from another thread while the writer writes, after a
//! durability point and after finalize; a plane never stored reads as `Ok(false)`.
//! Frames carry their frame number (and each pixel its offset) in their pixels.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use ome_writers_backend::{Backend, Checked, FrameBuffer, PlaneReader, Progress};
use ome_writers_router::{FrameRouter, Route};
use ome_writers_schema::{DType, Schema, StorageIndex};
use ome_writers_zarr::ZarrBackend;
use serde_json::{Value, json};

/// Frame `n`'s pixels (uint16, native byte order): the first is `n`, the others a hash
/// of `n` and their offset (incompressible, so large chunks stay large when encoded).
fn frame(n: u64, bytes: usize) -> Vec<u8> {
    (0..bytes as u64 / 2)
        .flat_map(|i| {
            let mut z = (n << 32 | i).wrapping_add(0x9E37_79B9_7F4A_7C15);
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            let v = if i == 0 { n } else { z ^ (z >> 31) };
            (v as u16).to_ne_bytes()
        })
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
        let got = read(reader, r, bytes);
        assert_eq!(
            got.as_deref(),
            Some(&frame(r.frame.0, bytes)[..]),
            "{when}: frame {} at {:?} {}",
            r.frame.0,
            r.position,
            r.index
        );
    }
}

/// The reader thread: verifies every frame below the published readable count as it
/// grows (all of them, each round), until `done`; returns the count it last verified.
fn spawn_checker(
    reader: Arc<dyn PlaneReader>,
    routes: Vec<Route>,
    bytes: usize,
    readable: Arc<AtomicU64>,
    done: Arc<AtomicBool>,
) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        loop {
            let finished = done.load(Ordering::Acquire);
            let n = readable.load(Ordering::Acquire);
            // Every readable frame, again and again: units are replaced (a durability
            // point's copy by the whole unit) while they are read.
            for r in &routes[..n as usize] {
                assert_eq!(
                    read(&*reader, r, bytes).as_deref(),
                    Some(&frame(r.frame.0, bytes)[..]),
                    "live: frame {} counted readable",
                    r.frame.0
                );
            }
            if finished {
                return n;
            }
            std::thread::yield_now();
        }
    })
}

/// Write `frames` frames of `settings` (`flush_every`: a durability point every so
/// many frames), checking the reader throughout; returns the schema and the reader.
fn run(label: &str, settings: Value, frames: u64, flush_every: u64) -> Arc<dyn PlaneReader> {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = settings;
    settings["root_path"] = json!(dir.path().join("r.ome.zarr"));
    settings["dtype"] = json!("uint16");
    let schema = Schema::from_json(&settings.to_string()).unwrap();
    let bytes = schema.frame_bytes();
    let router = FrameRouter::new(&schema);
    let routes: Vec<Route> = router.clone().take(frames as usize).collect();
    let mut backend = Checked::new(&schema, ZarrBackend::create(&schema).unwrap());
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
        let pixels = frame(r.frame.0, bytes);
        if k % 2 == 1 {
            // The facade's way: a pooled frame buffer handed over.
            let mut buf = FrameBuffer::new(bytes, DType::U16);
            buf.as_bytes_mut().copy_from_slice(&pixels);
            backend
                .write_owned(r.position, &r.index, buf, None)
                .unwrap();
        } else {
            backend.write(r.position, &r.index, &pixels, None).unwrap();
        }
        let written = k as u64 + 1;
        if written.is_multiple_of(flush_every) {
            backend.flush().unwrap();
            assert_eq!(backend.frames_readable(), written, "{label}: after flush");
        }
        let now = backend.frames_readable();
        assert!(now >= last && now <= written, "{label}: {last} then {now}");
        last = now;
        readable.store(now, Ordering::Release);
    }
    backend.flush().unwrap();
    assert_eq!(backend.frames_readable(), frames, "{label}: after flush");
    readable.store(frames, Ordering::Release);
    done.store(true, Ordering::Release);
    assert_eq!(checker.join().unwrap(), frames, "{label}");
    check_all(&*reader, &routes, bytes, &format!("{label} after flush"));
    let extent = router.extent_reached(frames);
    let total = router.total();
    backend
        .finalize(&Progress {
            frames_written: frames,
            frames_reached: frames,
            growth_extent: extent,
            complete: total == Some(frames),
            ..Progress::default()
        })
        .unwrap();
    assert_eq!(backend.frames_readable(), frames);
    check_all(&*reader, &routes, bytes, &format!("{label} after finalize"));
    // A second reader made after finalize reads the same.
    let again = backend.reader().unwrap();
    check_all(&*again, &routes, bytes, &format!("{label} new reader"));
    reader
}

fn dims(extra: Value) -> Value {
    json!({ "dimensions": extra })
}

#[test]
fn unsharded_raw_chunks_of_one_frame_and_of_several() {
    let d = dims(json!([{"name": "t", "count": 6}, {"name": "c", "count": 2},
        {"name": "y", "count": 8}, {"name": "x", "count": 6}]));
    run("frame chunks", d, 12, 5);
    let d = dims(json!([{"name": "t", "count": 5, "chunk_size": 2},
        {"name": "z", "count": 3, "chunk_size": 2},
        {"name": "y", "count": 8, "chunk_size": 4}, {"name": "x", "count": 6, "chunk_size": 4}]));
    run("chunks over t, z, y, x with edges", d, 15, 4);
}

#[test]
fn compressed_chunks_zstd_and_blosc() {
    for compression in ["zstd", "blosc-zstd", "blosc-lz4"] {
        let mut d = dims(json!([{"name": "t", "count": 4, "chunk_size": 2},
            {"name": "c", "count": 2},
            {"name": "y", "count": 8, "chunk_size": 4}, {"name": "x", "count": 6}]));
        d["compression"] = json!(compression);
        run(compression, d.clone(), 8, 3);
        // One frame per chunk: the encoders take the pooled buffer itself.
        let mut d = dims(json!([{"name": "t", "count": 5}, {"name": "y", "count": 8},
            {"name": "x", "count": 6}]));
        d["compression"] = json!(compression);
        run(&format!("{compression} frame chunks"), d, 5, 100);
    }
}

#[test]
fn large_compressed_units_written_around_the_page_cache_read_back() {
    // Encoded chunks of more than 256 KiB go through O_DIRECT (where the filesystem
    // takes it), renamed into place like the others; large shards go buffered.
    for compression in ["zstd", "blosc-lz4"] {
        let mut d = dims(json!([{"name": "t", "count": 4},
            {"name": "y", "count": 512}, {"name": "x", "count": 512}]));
        d["compression"] = json!(compression);
        run(&format!("large {compression}"), d, 4, 3);
        let mut d = dims(json!([{"name": "t", "count": 4, "shard_size_chunks": 2},
            {"name": "y", "count": 256, "chunk_size": 128, "shard_size_chunks": 2},
            {"name": "x", "count": 512}]));
        d["compression"] = json!(compression);
        run(&format!("large sharded {compression}"), d, 4, 3);
    }
}

#[test]
fn sharded_raw_and_compressed() {
    for compression in ["none", "zstd", "blosc-lz4"] {
        let mut d = dims(json!([{"name": "t", "count": 5, "shard_size_chunks": 2},
            {"name": "c", "count": 2},
            {"name": "y", "count": 8, "chunk_size": 4, "shard_size_chunks": 2},
            {"name": "x", "count": 6, "chunk_size": 3, "shard_size_chunks": 2}]));
        d["compression"] = json!(compression);
        run(&format!("sharded {compression}"), d, 10, 3);
    }
}

#[test]
fn compressed_shards_replaced_at_every_durability_point_read_whole() {
    // Each flush stores a copy of the open shard, replaced by the next one: a reader
    // must never mix one version's index with another's chunks.
    let mut d = dims(json!([{"name": "t", "count": 16, "shard_size_chunks": 8},
        {"name": "y", "count": 64, "chunk_size": 32, "shard_size_chunks": 2},
        {"name": "x", "count": 64}]));
    d["compression"] = json!("zstd");
    run("shards replaced", d, 16, 1);
}

#[test]
fn transposed_storage_order() {
    // Acquired z, c, t; stored t, c, z: the frames of one chunk arrive far apart.
    let d = dims(json!([{"name": "z", "count": 3, "chunk_size": 3},
        {"name": "c", "count": 2}, {"name": "t", "count": 4, "chunk_size": 2},
        {"name": "y", "count": 4}, {"name": "x", "count": 4}]));
    run("transposed", d, 24, 7);
}

#[test]
fn several_positions_and_a_plate() {
    let d = dims(json!([{"name": "t", "count": 3, "chunk_size": 2},
        {"name": "p", "type": "position", "coords": ["left", "right", "top"]},
        {"name": "y", "count": 4}, {"name": "x", "count": 4}]));
    run("positions", d, 9, 4);
    let mut d = dims(json!([{"name": "t", "count": 3, "chunk_size": 2},
        {"name": "p", "type": "position", "coords": [
            {"name": "fov", "plate_row": "A", "plate_column": "1", "grid_row": 0, "grid_column": 0},
            {"name": "fov", "plate_row": "A", "plate_column": "1", "grid_row": 0, "grid_column": 1},
            {"name": "fov", "plate_row": "B", "plate_column": "3", "grid_row": 0, "grid_column": 0}]},
        {"name": "y", "count": 4}, {"name": "x", "count": 4}]));
    d["plate"] = json!({"row_names": ["A", "B"], "column_names": ["1", "2", "3"]});
    d["compression"] = json!("zstd");
    run("plate", d, 9, 100);
}

#[test]
fn unbounded_time_grows_past_the_documents_and_planes_past_it_are_absent() {
    for shard in [false, true] {
        let t = if shard {
            json!({"name": "t", "count": null, "chunk_size": 2, "shard_size_chunks": 2})
        } else {
            json!({"name": "t", "count": null, "chunk_size": 3})
        };
        let d = dims(
            json!([t, {"name": "c", "count": 2}, {"name": "y", "count": 4},
            {"name": "x", "count": 4}]),
        );
        let reader = run(&format!("unbounded sharded={shard}"), d, 23, 9);
        let mut out = vec![0u8; 32];
        let far = StorageIndex::new(&[1000, 1]).unwrap();
        assert!(
            !reader
                .read_plane(ome_writers_schema::PositionIndex(0), &far, &mut out)
                .unwrap()
        );
    }
}

#[test]
fn a_partial_acquisition_reads_what_was_written_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let schema = Schema::from_json(
        &json!({"root_path": dir.path().join("p.ome.zarr"), "dtype": "uint16",
            "dimensions": [{"name": "t", "count": 6, "chunk_size": 2},
                {"name": "y", "count": 4}, {"name": "x", "count": 2}]})
        .to_string(),
    )
    .unwrap();
    let bytes = schema.frame_bytes();
    let mut backend = Checked::new(&schema, ZarrBackend::create(&schema).unwrap());
    let reader = backend.reader().unwrap();
    let routes: Vec<Route> = FrameRouter::new(&schema).collect();
    for r in &routes[..3] {
        backend
            .write(r.position, &r.index, &frame(r.frame.0, bytes), None)
            .unwrap();
    }
    // Frames 0 and 1 fill a chunk; frame 2 waits in an open one.
    assert_eq!(backend.frames_readable(), 2);
    check_all(&*reader, &routes[..2], bytes, "partial");
    assert!(read(&*reader, &routes[2], bytes).is_none());
    backend
        .finalize(&Progress {
            frames_written: 3,
            frames_reached: 3,
            growth_extent: 3,
            ..Progress::default()
        })
        .unwrap();
    assert_eq!(backend.frames_readable(), 3);
    // The shape shrank to t = 3 on disk; the planes inside still read, t = 3 (the
    // chunk's unwritten plane) reads as zeros, t = 4 and 5 were never stored.
    check_all(&*reader, &routes[..3], bytes, "partial after finalize");
    assert_eq!(read(&*reader, &routes[3], bytes), Some(vec![0; bytes]));
    assert!(read(&*reader, &routes[4], bytes).is_none());
    assert!(read(&*reader, &routes[5], bytes).is_none());
    // Misuse is a typed error, not a panic.
    let mut out = vec![0u8; bytes];
    let bad = StorageIndex::new(&[6]).unwrap();
    assert!(
        reader
            .read_plane(routes[0].position, &bad, &mut out)
            .is_err()
    );
    assert!(
        reader
            .read_plane(routes[0].position, &routes[0].index, &mut out[1..])
            .is_err()
    );
    assert!(
        reader
            .read_plane(
                ome_writers_schema::PositionIndex(1),
                &routes[0].index,
                &mut out
            )
            .is_err()
    );
}
