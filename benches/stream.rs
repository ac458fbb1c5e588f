//! Criterion benches of the write path (issue 6): whole streams (create + appends +
//! finish), throughput in raw pixel bytes per second.
//!
//! - `write_path/*`: the CPU cost of the write path. The output goes to a temporary
//!   directory on `/dev/shm` when there is one (tmpfs: no disk, fsync is free), else to
//!   the system temporary directory. Cases: full-frame chunks uncompressed, sub-frame
//!   chunks (256x256), shards of 8 frames, zstd level 1 and blosc-lz4 level 1 on
//!   realistic frames, OME-TIFF.
//! - `disk/*`: real I/O: full-frame chunks uncompressed into a temporary directory
//!   under `target/` (on the project's disk), durable at finish.
//!
//! Run with `cargo bench -p ome-writers --bench stream` (about a minute). For the
//! workloads of the issue at full size, with the disk reference and the peers, use
//! `omew bench` and `benches/run_peers.sh`.
#![allow(clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use ome_writers::{Schema, StreamOptions, create_stream_with};
use serde_json::{Value, json};

/// Frame side (pixels) of every case.
const SIZE: u64 = 1024;
/// Frames per stream (64 MiB of uint16 at 1024x1024).
const FRAMES: u64 = 32;
/// Distinct source frames, cycled.
const POOL: usize = 4;

/// One benchmark case: a settings document and its source frames.
struct Case {
    name: &'static str,
    settings: Value,
    realistic: bool,
}

fn yx(chunk: Option<u64>) -> [Value; 2] {
    let dim = |name: &str| match chunk {
        Some(c) => json!({"name": name, "count": SIZE, "chunk_size": c}),
        None => json!({"name": name, "count": SIZE}),
    };
    [dim("y"), dim("x")]
}

fn settings(root: &Path, dims: Vec<Value>, compression: &str, level: Option<i32>) -> Value {
    let mut v = json!({
        "root_path": root.to_string_lossy(),
        "dtype": "uint16",
        "dimensions": dims,
        "compression": compression,
        "overwrite": true,
    });
    if let Some(l) = level {
        v["compression_level"] = json!(l);
    }
    v
}

fn cases(dir: &Path) -> Vec<Case> {
    let t = json!({"name": "t", "count": FRAMES});
    let zarr = dir.join("bench.ome.zarr");
    let [y, x] = yx(None);
    let [ys, xs] = yx(Some(256));
    let tczyx = vec![
        json!({"name": "t", "count": FRAMES / 16}),
        json!({"name": "c", "count": 2}),
        json!({"name": "z", "count": 8, "shard_size_chunks": 8}),
        y.clone(),
        x.clone(),
    ];
    vec![
        Case {
            name: "full_frame_chunks",
            settings: settings(&zarr, vec![t.clone(), y.clone(), x.clone()], "none", None),
            realistic: false,
        },
        Case {
            name: "sub_frame_chunks_256",
            settings: settings(&zarr, vec![t.clone(), ys, xs], "none", None),
            realistic: false,
        },
        Case {
            name: "sharded_8_frames",
            settings: settings(&zarr, tczyx, "none", None),
            realistic: false,
        },
        Case {
            name: "zstd_1",
            settings: settings(
                &zarr,
                vec![t.clone(), y.clone(), x.clone()],
                "zstd",
                Some(1),
            ),
            realistic: true,
        },
        Case {
            name: "blosc_lz4_1",
            settings: settings(
                &zarr,
                vec![t.clone(), y.clone(), x.clone()],
                "blosc-lz4",
                Some(1),
            ),
            realistic: true,
        },
        Case {
            name: "ome_tiff",
            settings: settings(&dir.join("bench.ome.tiff"), vec![t, y, x], "none", None),
            realistic: false,
        },
    ]
}

fn remove(path: &Path) {
    if path.is_dir() {
        let _ = std::fs::remove_dir_all(path);
    } else if path.exists() {
        let _ = std::fs::remove_file(path);
    }
}

/// `iters` whole streams; only create + appends + finish are timed (removing the
/// previous output is not).
fn run_streams(schema: &Schema, root: &Path, frames: &[Vec<u16>], iters: u64) -> Duration {
    let total = schema.num_frames().unwrap_or(FRAMES);
    let options = StreamOptions::default();
    let mut elapsed = Duration::ZERO;
    for _ in 0..iters {
        remove(root);
        let started = Instant::now();
        let mut stream = create_stream_with(schema, &options).expect("create stream");
        for n in 0..total {
            stream
                .append(&frames[n as usize % frames.len()])
                .expect("append");
        }
        black_box(stream.finish().expect("finish"));
        elapsed += started.elapsed();
    }
    remove(root);
    elapsed
}

fn shm_or_tmp() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(d) = tempfile::Builder::new()
            .prefix("omew-bench-")
            .tempdir_in(shm)
    {
        return d;
    }
    tempfile::Builder::new()
        .prefix("omew-bench-")
        .tempdir()
        .expect("temporary directory")
}

fn schema_of(case: &Case) -> (Schema, PathBuf) {
    let schema = Schema::from_json(&case.settings.to_string()).expect("valid settings");
    let root = PathBuf::from(case.settings["root_path"].as_str().unwrap_or_default());
    (schema, root)
}

fn write_path(c: &mut Criterion) {
    let dir = shm_or_tmp();
    let pattern = ome_writers::frame_pool_u16(SIZE, false, POOL);
    let realistic = ome_writers::frame_pool_u16(SIZE, true, POOL);
    let mut group = c.benchmark_group("write_path");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for case in cases(dir.path()) {
        let (schema, root) = schema_of(&case);
        let total = schema.num_frames().unwrap_or(FRAMES);
        group.throughput(Throughput::Bytes(total * SIZE * SIZE * 2));
        let frames = if case.realistic { &realistic } else { &pattern };
        group.bench_function(case.name, |b| {
            b.iter_custom(|iters| run_streams(&schema, &root, frames, iters));
        });
    }
    group.finish();
}

fn disk(c: &mut Criterion) {
    // Under target/ (the project's disk), not /tmp, which may be a tmpfs.
    let base = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-tmp");
    std::fs::create_dir_all(&base).expect("create target/bench-tmp");
    let dir = tempfile::Builder::new()
        .prefix("omew-bench-")
        .tempdir_in(&base)
        .expect("temporary directory");
    let pattern = ome_writers::frame_pool_u16(SIZE, false, POOL);
    let case = &cases(dir.path())[0];
    let (schema, root) = schema_of(case);
    let mut group = c.benchmark_group("disk");
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(6));
    group.throughput(Throughput::Bytes(FRAMES * SIZE * SIZE * 2));
    group.bench_function(case.name, |b| {
        b.iter_custom(|iters| run_streams(&schema, &root, &pattern, iters));
    });
    group.finish();
}

criterion_group!(benches, write_path, disk);
criterion_main!(benches);
