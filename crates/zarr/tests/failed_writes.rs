//! A chunk that cannot be stored: the metadata says `failed`, never `complete`, and
//! `frames_written` is the stored prefix (the longest prefix of frames, in arrival
//! order, whose units were stored), whether the write failed on the writer thread
//! (uncompressed) or on an encoder thread (compressed: the error surfaces later).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use ome_writers_backend::{Backend, BackendError, Progress};
use ome_writers_router::FrameRouter;
use ome_writers_schema::Schema;
use ome_writers_zarr::{ZarrBackend, ZarrStore};
use serde_json::Value;
use zarrs::storage::store::MemoryStore;
use zarrs::storage::{
    Bytes, OffsetBytesIterator, ReadableStorageTraits, StorageError, StoreKey, StorePrefix,
    WritableStorageTraits,
};

/// An in-memory store where one key cannot be written (a full disk, for that chunk).
struct FailingAt(Arc<MemoryStore>, &'static str);

impl WritableStorageTraits for FailingAt {
    fn set(&self, key: &StoreKey, value: Bytes) -> Result<(), StorageError> {
        if key.as_str() == self.1 {
            return Err(StorageError::Other(format!("{key}: no space left (test)")));
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
        false
    }
}

impl ZarrStore for FailingAt {
    fn sync(&self) -> Result<(), BackendError> {
        Ok(())
    }
}

fn doc(store: &MemoryStore, key: &str) -> Value {
    let bytes = store.get(&StoreKey::new(key).unwrap()).unwrap().unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// Write every frame as the stream does (stop at the first error, then finalize with
/// `failed` set); returns the metadata of each image group.
fn run(json: &str, failing: &'static str, groups: &[&str]) -> Vec<Value> {
    let schema = Schema::from_json(json).unwrap();
    let memory = Arc::new(MemoryStore::new());
    let store = Arc::new(FailingAt(memory.clone(), failing));
    let mut backend = ZarrBackend::create_in(&schema, store).unwrap();
    let router = FrameRouter::new(&schema);
    let total = router.total().unwrap();
    let mut handed = 0;
    let mut failed = false;
    for route in router {
        let frame = vec![route.frame.0 as u8 + 1; schema.frame_bytes()];
        if backend
            .write(route.position, &route.index, &frame, None)
            .is_err()
        {
            failed = true;
            break;
        }
        handed += 1;
    }
    let progress = Progress {
        frames_written: handed,
        frames_reached: handed,
        growth_extent: schema.array_shape(None)[0],
        complete: !failed && handed == total,
        failed,
        ..Progress::default()
    };
    // The failure is reported, here or earlier.
    assert!(failed | backend.finalize(&progress).is_err(), "{json}");
    groups
        .iter()
        .map(|g| {
            let key = if g.is_empty() {
                "zarr.json".to_owned()
            } else {
                format!("{g}/zarr.json")
            };
            doc(&memory, &key)["attributes"]["ome_writers"].clone()
        })
        .collect()
}

#[test]
fn a_failed_chunk_write_records_failed_and_the_stored_prefix() {
    // (settings, failing chunk, image groups, frames_written per group)
    let cases: [(&str, &'static str, &[&str], &[u64]); 7] = [
        // One frame per chunk: frame 5's chunk fails; frames 0-4 are stored.
        (
            r#"{"root_path": "a.ome.zarr", "dtype": "uint8", "compression": "none", "dimensions": [
                {"name": "t", "count": 10}, {"name": "y", "count": 4}, {"name": "x", "count": 4}]}"#,
            "0/c/5/0/0",
            &[""],
            &[5],
        ),
        (
            r#"{"root_path": "a.ome.zarr", "dtype": "uint8", "compression": "zstd", "dimensions": [
                {"name": "t", "count": 10}, {"name": "y", "count": 4}, {"name": "x", "count": 4}]}"#,
            "0/c/5/0/0",
            &[""],
            &[5],
        ),
        // Two frames per chunk: the chunk of frames 2, 3 fails.
        (
            r#"{"root_path": "a.ome.zarr", "dtype": "uint8", "compression": "zstd", "dimensions": [
                {"name": "t", "count": 10, "chunk_size": 2}, {"name": "y", "count": 4},
                {"name": "x", "count": 4}]}"#,
            "0/c/1/0/0",
            &[""],
            &[2],
        ),
        // Frames spanning two chunks (x split): the second half of frame 3 fails.
        (
            r#"{"root_path": "a.ome.zarr", "dtype": "uint8", "compression": "blosc-lz4", "dimensions": [
                {"name": "t", "count": 10}, {"name": "y", "count": 4},
                {"name": "x", "count": 8, "chunk_size": 4}]}"#,
            "0/c/3/0/1",
            &[""],
            &[3],
        ),
        // Two positions, arrival order (t0 a, t0 b, t1 a, t1 b, ...): b's t=1 fails,
        // so the prefix is 3 frames: a holds 2 of them, b 1.
        (
            r#"{"root_path": "a.ome.zarr", "dtype": "uint8", "compression": "zstd", "dimensions": [
                {"name": "t", "count": 4},
                {"name": "p", "type": "position", "coords": ["a", "b"]},
                {"name": "y", "count": 4}, {"name": "x", "count": 4}]}"#,
            "b/0/c/1/0/0",
            &["a", "b"],
            &[2, 1],
        ),
        // A pyramid level's chunk fails on the level thread (stored there as it is
        // reduced): frame 5's level-1 plane, so frames 0-4 are stored at every level.
        (
            r#"{"root_path": "a.ome.zarr", "dtype": "uint8", "compression": "none",
                "multiscale": {"levels": 2}, "dimensions": [
                {"name": "t", "count": 10}, {"name": "y", "count": 4}, {"name": "x", "count": 4}]}"#,
            "1/c/5/0/0",
            &[""],
            &[5],
        ),
        // The same, compressed: the level's own encoder threads fail later, so every
        // frame since the levels' last durability point (none here) is not known stored.
        (
            r#"{"root_path": "a.ome.zarr", "dtype": "uint8", "compression": "zstd",
                "multiscale": {"levels": 2}, "dimensions": [
                {"name": "t", "count": 10}, {"name": "y", "count": 4}, {"name": "x", "count": 4}]}"#,
            "1/c/5/0/0",
            &[""],
            &[0],
        ),
    ];
    for (json, failing, groups, want) in cases {
        let attrs = run(json, failing, groups);
        for ((ow, g), w) in attrs.iter().zip(groups).zip(want) {
            assert_eq!(ow["status"], "failed", "{failing} {g}");
            assert_eq!(ow["frames_written"], *w, "{failing} {g}: {json}");
        }
    }
}
