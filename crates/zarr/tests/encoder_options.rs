//! `EncoderOptions` are obeyed: the number of encoder threads and their scheduling
//! policy (seen from /proc, as the kernel has them), and the data they write reads
//! back. One test per binary, so that no other test's encoders are counted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ome_writers_backend::{Backend, Progress};
use ome_writers_router::FrameRouter;
use ome_writers_schema::Schema;
use ome_writers_zarr::{EncoderOptions, EncoderPriority, ZarrBackend};
use zarrs::array::Array;
use zarrs::filesystem::FilesystemStore;

/// Scheduling policy (field 41 of /proc/self/task/TID/stat) of every encoder thread.
fn encoder_policies() -> Vec<u32> {
    let mut policies = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let task = task.unwrap().path();
        let Ok(comm) = std::fs::read_to_string(task.join("comm")) else {
            continue; // the thread has just exited
        };
        if !comm.starts_with("ome-writers-enc") {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(task.join("stat")) else {
            continue;
        };
        // Fields after the parenthesised command name start at field 3.
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let policy = after.split(' ').nth(41 - 3).unwrap().parse().unwrap();
        policies.push(policy);
    }
    policies
}

/// Wait (a few seconds at most) until the encoder threads have set their policy.
fn settled(want: usize, policy: u32) -> Vec<u32> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = encoder_policies();
        if (now.len() == want && now.iter().all(|&p| p == policy)) || Instant::now() > deadline {
            return now;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

const SCHED_OTHER: u32 = 0;
const SCHED_IDLE: u32 = 5;

fn write_and_check(threads: usize, priority: EncoderPriority, policy: u32) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("enc.ome.zarr");
    let schema = Schema::from_json(&format!(
        r#"{{"root_path": {root:?}, "dtype": "uint16", "compression": "zstd",
            "dimensions": [{{"name": "t", "count": 9, "chunk_size": 2}},
                           {{"name": "y", "count": 8}}, {{"name": "x", "count": 5}}]}}"#
    ))
    .unwrap();
    let options = EncoderOptions::default()
        .with_threads(NonZeroUsize::new(threads))
        .with_priority(priority);
    let mut backend = ZarrBackend::create_with(&schema, &options).unwrap();
    let policies = settled(threads, policy);
    assert_eq!(
        policies,
        vec![policy; threads],
        "{threads} encoder threads under policy {policy} asked for"
    );
    for route in FrameRouter::new(&schema) {
        let t = route.frame.0 as u16;
        let pixels: Vec<u16> = (0..40).map(|i| t * 100 + i).collect();
        backend
            .write(
                route.position,
                &route.index,
                bytemuck::cast_slice(&pixels),
                None,
            )
            .unwrap();
    }
    backend
        .finalize(&Progress {
            frames_written: 9,
            frames_reached: 9,
            growth_extent: 9,
            complete: true,
            ..Progress::default()
        })
        .unwrap();
    drop(backend);
    // Joined threads leave /proc a moment after the join returns.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !encoder_policies().is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        encoder_policies().is_empty(),
        "encoder threads outlive the backend"
    );
    let array = Array::open(Arc::new(FilesystemStore::new(&root).unwrap()), "/0").unwrap();
    let data: Vec<u16> = array.retrieve_array_subset(&array.subset_all()).unwrap();
    for t in 0..9u16 {
        for i in 0..40u16 {
            assert_eq!(
                data[usize::from(t * 40 + i)],
                t * 100 + i,
                "frame {t}, pixel {i}"
            );
        }
    }
}

#[test]
fn encoder_thread_count_and_priority_are_as_asked() {
    write_and_check(3, EncoderPriority::Normal, SCHED_OTHER);
    write_and_check(1, EncoderPriority::Background, SCHED_IDLE);
    write_and_check(5, EncoderPriority::Background, SCHED_IDLE);
}
