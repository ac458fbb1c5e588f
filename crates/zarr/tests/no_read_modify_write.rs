//! Performance guarded by counts, not clocks: a whole stream, with chunks that span
//! several frames, sub-frame chunks, partial edge chunks and shards, performs zero
//! store reads and writes each chunk (or shard) exactly once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use ome_writers_backend::{Backend, BackendError, Progress};
use ome_writers_router::FrameRouter;
use ome_writers_schema::Schema;
use ome_writers_zarr::{ZarrBackend, ZarrStore};
use zarrs::storage::storage_adapter::performance_metrics::PerformanceMetricsStorageAdapter;
use zarrs::storage::store::MemoryStore;
use zarrs::storage::{
    Bytes, OffsetBytesIterator, StorageError, StoreKey, StorePrefix, WritableStorageTraits,
};

/// The metrics adapter, plus a count of the `zarr.json` documents written.
struct Counted(
    Arc<PerformanceMetricsStorageAdapter<MemoryStore>>,
    std::sync::atomic::AtomicUsize,
);

impl Counted {
    fn new(metrics: Arc<PerformanceMetricsStorageAdapter<MemoryStore>>) -> Self {
        Self(metrics, std::sync::atomic::AtomicUsize::new(0))
    }
}

impl WritableStorageTraits for Counted {
    fn set(&self, key: &StoreKey, value: Bytes) -> Result<(), StorageError> {
        if key.as_str().ends_with("zarr.json") {
            self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        self.0.set(key, value)
    }
    fn set_partial_many(&self, key: &StoreKey, v: OffsetBytesIterator) -> Result<(), StorageError> {
        self.0.set_partial_many(key, v)
    }
    fn erase(&self, key: &StoreKey) -> Result<(), StorageError> {
        self.0.erase(key)
    }
    fn erase_prefix(&self, prefix: &StorePrefix) -> Result<(), StorageError> {
        self.0.erase_prefix(prefix)
    }
    fn supports_set_partial(&self) -> bool {
        self.0.supports_set_partial()
    }
}

impl ZarrStore for Counted {
    fn sync(&self) -> Result<(), BackendError> {
        Ok(())
    }
}

/// Write every frame of `json` (nonzero pixels) and return (reads, chunk writes,
/// expected units).
fn run(json: &str) -> (usize, usize, u64) {
    let schema = Schema::from_json(json).unwrap();
    let metrics = Arc::new(PerformanceMetricsStorageAdapter::new(Arc::new(
        MemoryStore::new(),
    )));
    let store = Arc::new(Counted::new(metrics.clone()));
    let mut backend = ZarrBackend::create_in(&schema, store.clone()).unwrap();
    let after_create = metrics.writes();
    let frame = vec![1u8; schema.frame_bytes()];
    let router = FrameRouter::new(&schema);
    let total = router.total().unwrap();
    for route in router {
        backend
            .write(route.position, &route.index, &frame, None)
            .unwrap();
    }
    let metadata_writes_before_finish = metrics.writes();
    backend
        .finalize(&Progress {
            frames_written: total,
            frames_reached: total,
            growth_extent: schema.array_shape(None)[schema.growth_axis().unwrap_or(0)],
            complete: true,
            ..Progress::default()
        })
        .unwrap();
    let unit = schema.shard_shape().unwrap_or_else(|| schema.chunk_shape());
    let units: u64 = schema
        .array_shape(None)
        .iter()
        .zip(&unit)
        .map(|(s, u)| s.div_ceil(*u))
        .product::<u64>()
        * schema.positions().len() as u64;
    // Every write but the metadata documents is a chunk or shard.
    let chunk_writes = metrics.writes() - store.1.load(std::sync::atomic::Ordering::Relaxed);
    assert!(metadata_writes_before_finish >= after_create);
    (metrics.reads(), chunk_writes, units)
}

#[test]
fn a_whole_stream_never_reads_and_writes_each_unit_once() {
    let cases = [
        // chunk spans 2 t and 2 z; partial edge along z (5 / 2) and x (12 / 5)
        r#"{"root_path": "a.ome.zarr", "dtype": "uint16", "dimensions": [
            {"name": "t", "count": 4, "chunk_size": 2}, {"name": "z", "count": 5, "chunk_size": 2},
            {"name": "y", "count": 16, "chunk_size": 8}, {"name": "x", "count": 12, "chunk_size": 5}]}"#,
        // acquired z, c, t; stored t, c, z with chunks along t: frames of one chunk arrive far apart
        r#"{"root_path": "b.ome.zarr", "dtype": "uint8", "dimensions": [
            {"name": "z", "count": 3, "chunk_size": 3}, {"name": "c", "count": 2},
            {"name": "t", "count": 4, "chunk_size": 2}, {"name": "y", "count": 8}, {"name": "x", "count": 8}]}"#,
        // shards of 2x2x2 chunks
        r#"{"root_path": "c.ome.zarr", "dtype": "uint16", "dimensions": [
            {"name": "t", "count": 5, "shard_size_chunks": 2}, {"name": "c", "count": 2},
            {"name": "y", "count": 16, "chunk_size": 4, "shard_size_chunks": 2},
            {"name": "x", "count": 12, "chunk_size": 6, "shard_size_chunks": 2}]}"#,
        // several positions
        r#"{"root_path": "d.ome.zarr", "dtype": "uint16", "dimensions": [
            {"name": "p", "count": 3}, {"name": "t", "count": 3, "chunk_size": 2},
            {"name": "y", "count": 8}, {"name": "x", "count": 8}]}"#,
    ];
    for json in cases {
        let (reads, writes, units) = run(json);
        assert_eq!(reads, 0, "the backend read from its store: {json}");
        assert_eq!(
            writes as u64, units,
            "each chunk/shard written exactly once: {json}"
        );
    }
}

/// A pyramid (Z pairs, odd sizes, shards, clamped level chunks): still no read, and
/// each unit of every level written exactly once.
#[test]
fn a_pyramid_never_reads_and_writes_each_unit_of_every_level_once() {
    let json = r#"{"root_path": "m.ome.zarr", "dtype": "uint16",
        "multiscale": {"levels": 3, "method": "mean", "downsample_z": true}, "dimensions": [
        {"name": "p", "count": 2}, {"name": "z", "count": 5, "chunk_size": 2},
        {"name": "t", "count": 3, "shard_size_chunks": 2},
        {"name": "y", "count": 21, "chunk_size": 8}, {"name": "x", "count": 18, "chunk_size": 4,
         "shard_size_chunks": 2}]}"#;
    let schema = Schema::from_json(json).unwrap();
    let (reads, writes, _) = run(json);
    let units: u64 = (0..schema.pyramid().levels())
        .map(|k| {
            let level = schema.level_schema(k).unwrap();
            let unit = level.shard_shape().unwrap_or_else(|| level.chunk_shape());
            level
                .array_shape(None)
                .iter()
                .zip(&unit)
                .map(|(s, u)| s.div_ceil(*u))
                .product::<u64>()
                * level.positions().len() as u64
        })
        .sum();
    assert_eq!(reads, 0);
    assert_eq!(writes as u64, units);
}

/// Counts writes; panics on the `panic_at`-th chunk write when set.
struct Panicky(
    Arc<PerformanceMetricsStorageAdapter<MemoryStore>>,
    Option<usize>,
);

impl WritableStorageTraits for Panicky {
    fn set(&self, key: &StoreKey, value: Bytes) -> Result<(), StorageError> {
        let is_chunk = key.as_str().contains("/c/");
        assert!(!(is_chunk && Some(self.0.writes()) >= self.1), "store bug");
        self.0.set(key, value)
    }
    fn set_partial_many(&self, key: &StoreKey, v: OffsetBytesIterator) -> Result<(), StorageError> {
        self.0.set_partial_many(key, v)
    }
    fn erase(&self, key: &StoreKey) -> Result<(), StorageError> {
        self.0.erase(key)
    }
    fn erase_prefix(&self, prefix: &StorePrefix) -> Result<(), StorageError> {
        self.0.erase_prefix(prefix)
    }
    fn supports_set_partial(&self) -> bool {
        false
    }
}

impl ZarrStore for Panicky {
    fn sync(&self) -> Result<(), BackendError> {
        Ok(())
    }
}

#[test]
fn units_with_skipped_planes_are_stored_as_soon_as_the_acquisition_moves_past_them() {
    // Unbounded t, chunks of 4 z; every time point skips its last z plane. Without
    // closing, every chunk would stay open (in memory) until finish.
    let schema = Schema::from_json(
        r#"{"root_path": "s.ome.zarr", "dtype": "uint16", "dimensions": [
            {"name": "t", "count": null}, {"name": "z", "count": 4, "chunk_size": 4},
            {"name": "y", "count": 8}, {"name": "x", "count": 8}]}"#,
    )
    .unwrap();
    let metrics = Arc::new(PerformanceMetricsStorageAdapter::new(Arc::new(
        MemoryStore::new(),
    )));
    let mut backend =
        ZarrBackend::create_in(&schema, Arc::new(Counted::new(metrics.clone()))).unwrap();
    let created = metrics.writes();
    let frame = vec![1u8; schema.frame_bytes()];
    let router = FrameRouter::new(&schema);
    for n in 0..40u64 {
        if n % 4 == 3 {
            continue; // skipped
        }
        let route = router.route(ome_writers_schema::FrameNumber(n)).unwrap();
        backend
            .write(route.position, &route.index, &frame, None)
            .unwrap();
    }
    // 10 time points: the first 9 chunks are stored already, the 10th is still open.
    assert_eq!(metrics.writes() - created, 9);
    assert_eq!(metrics.reads(), 0);
}

#[test]
fn a_panicking_store_under_the_encoders_is_an_error_not_a_hang() {
    let schema = Schema::from_json(
        r#"{"root_path": "p.ome.zarr", "dtype": "uint16", "compression": "zstd", "dimensions": [
            {"name": "t", "count": 6}, {"name": "y", "count": 4}, {"name": "x", "count": 4}]}"#,
    )
    .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let metrics = Arc::new(PerformanceMetricsStorageAdapter::new(Arc::new(
            MemoryStore::new(),
        )));
        let created = metrics.writes();
        let store = Arc::new(Panicky(metrics, Some(created + 1)));
        let mut backend = ZarrBackend::create_in(&schema, store).unwrap();
        let frame = vec![1u8; schema.frame_bytes()];
        let mut result = Ok(());
        for route in FrameRouter::new(&schema) {
            result = backend.write(route.position, &route.index, &frame, None);
            if result.is_err() {
                break;
            }
        }
        let done = result.and_then(|()| {
            backend
                .finalize(&Progress {
                    frames_written: 6,
                    frames_reached: 6,
                    growth_extent: 6,
                    complete: true,
                    ..Progress::default()
                })
                .map(|_| ())
        });
        tx.send(done.map_err(|e| ome_writers_backend::error_chain(&e)))
            .unwrap();
    });
    let outcome = rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the backend hung after an encoder panic");
    let err = outcome.expect_err("the panic must surface as an error");
    assert!(err.contains("panicked"), "{err}");
}

#[test]
fn a_durability_point_rewrites_only_the_images_written_since_the_last() {
    // 100 positions; the metadata written at each durability point is counted.
    let schema = Schema::from_json(
        r#"{"root_path": "m.ome.zarr", "dtype": "uint8", "dimensions": [
            {"name": "t", "count": 4}, {"name": "p", "type": "position", "count": 100},
            {"name": "y", "count": 2}, {"name": "x", "count": 2}]}"#,
    )
    .unwrap();
    let metrics = Arc::new(PerformanceMetricsStorageAdapter::new(Arc::new(
        MemoryStore::new(),
    )));
    let store = Arc::new(Counted::new(metrics));
    let mut backend = ZarrBackend::create_in(&schema, store.clone()).unwrap();
    let docs = || store.1.load(std::sync::atomic::Ordering::Relaxed);
    // Creation: root, series, and one array + one group document per image.
    assert_eq!(docs(), 2 + 2 * 100);
    let mut router = FrameRouter::new(&schema);
    for (frames, want) in [(3, 3), (1, 1), (0, 0), (100, 100)] {
        let before = docs();
        for _ in 0..frames {
            let route = router.next_route().unwrap();
            backend
                .write(route.position, &route.index, &[1; 4], None)
                .unwrap();
        }
        backend.flush().unwrap();
        // One group document per image written since the last point; the arrays'
        // documents only when a shape changes (never here).
        assert_eq!(docs() - before, want, "{frames} frames");
    }
}
