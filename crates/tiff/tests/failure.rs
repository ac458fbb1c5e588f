//! Writes that fail: a full disk (a 4 MiB tmpfs this test mounts; root needed), files
//! removed or replaced mid-acquisition. The dataset is never labelled complete, counts
//! only the frames stored, stays readable, and `recover` finishes it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::Write;
use std::path::Path;

use ome_writers_backend::{Backend, BackendError, Progress};
use ome_writers_router::FrameRouter;
use ome_writers_schema::{FrameNumber, Schema};
use ome_writers_tiff::{TiffBackend, TiffError, recover};
use serde_json::json;

fn schema(root: &Path, t: u64) -> Schema {
    Schema::from_json(
        &json!({"root_path": root.to_string_lossy(), "dtype": "uint16", "dimensions": [
            {"name": "t", "count": t}, {"name": "c", "count": 2},
            {"name": "y", "count": 32}, {"name": "x", "count": 32}]})
        .to_string(),
    )
    .unwrap()
}

/// Fill the filesystem at `dir` with a ballast file, then give `free` bytes back.
fn fill(dir: &Path, free: u64) -> std::path::PathBuf {
    let path = dir.join("ballast");
    let mut f = std::fs::File::create(&path).unwrap();
    let block = vec![1u8; 64 << 10];
    let mut len = 0u64;
    loop {
        match f.write(&block) {
            Ok(0) => break,
            Ok(n) => len += n as u64,
            Err(e) if e.raw_os_error() == Some(28) => break,
            Err(e) => panic!("ballast: {e}"),
        }
    }
    f.set_len(len.saturating_sub(free)).unwrap();
    f.sync_all().unwrap();
    path
}

/// Leading pages that hold frames 0, 1, ... exactly; every later page must be zero.
fn stored_frames(schema: &Schema, pages: &[Vec<u8>]) -> u64 {
    let stored = (0..pages.len())
        .take_while(|&i| pages[i] == support::frame(schema.dtype(), i as u64, schema.frame_shape()))
        .count();
    for (i, page) in pages.iter().enumerate().skip(stored) {
        assert!(
            page.iter().all(|&b| b == 0),
            "page {i} is neither frame {i} nor zero"
        );
    }
    stored as u64
}

#[test]
fn a_full_disk_is_recorded_as_failed_with_the_frames_stored_then_repaired() {
    let Some(fs) = ome_writers_test_support::tmpfs("4m") else {
        return;
    };
    let root = fs.path().join("full.ome.tiff");
    let ballast = fill(fs.path(), 48 << 10);
    let schema = schema(&root, 40);
    let router = FrameRouter::new(&schema);
    let mut tiff = TiffBackend::create(&schema).unwrap();
    let mut accepted = 0u64;
    let error = (0..80)
        .find_map(|n| {
            let r = router.route(FrameNumber(n)).unwrap();
            let frame = support::frame(schema.dtype(), n, schema.frame_shape());
            let e = tiff.write(r.position, &r.index, &frame, None).err();
            accepted += u64::from(e.is_none());
            e
        })
        .expect("48 KiB cannot hold 160 KiB of frames");
    assert!(
        matches!(&error, BackendError::Io { source, .. } if source.raw_os_error() == Some(28)),
        "{error}"
    );
    // The operator makes room; the stream, not noticing, says everything was reached.
    // Emptied first: a child process of a parallel test may hold a copy of its handle.
    std::fs::File::options()
        .write(true)
        .open(&ballast)
        .unwrap()
        .set_len(0)
        .unwrap();
    std::fs::remove_file(&ballast).unwrap();
    let summary = tiff
        .finalize(&Progress {
            frames_written: accepted + 1,
            frames_reached: 80,
            growth_extent: 40,
            complete: true,
            ..Progress::default()
        })
        .unwrap();

    let file = &support::inspect(&[&root])[0];
    let pages = support::inspected_pages(file);
    let stored = stored_frames(&schema, &pages);
    assert!(
        stored == accepted || stored == accepted + 1,
        "{stored} vs {accepted}"
    );
    assert_eq!(summary.frames_written, stored);
    let planes = support::check_agree(file, 0);
    // Padded only to the last time point its pages reach, not to the 40 declared.
    assert_eq!(planes, stored.div_ceil(2) * 2);
    let record = &file["images"][0]["record"];
    assert_eq!(record["status"], "failed", "{record}");
    assert_eq!(record["complete"], "false", "{record}");
    assert_eq!(record["frames_written"], stored.to_string(), "{record}");
    assert_eq!(
        record["frames_handed"],
        (accepted + 1).to_string(),
        "{record}"
    );

    // `recover` accepts the failed dataset and labels it from what is on disk.
    let recovery = recover(&root).unwrap();
    assert!(
        !recovery.already_final && !recovery.nothing_written,
        "{recovery:?}"
    );
    let file = &support::inspect(&[&root])[0];
    assert_eq!(support::inspected_pages(file), pages);
    assert_eq!(support::check_agree(file, 0), planes);
    let record = &file["images"][0]["record"];
    assert_eq!(record["status"], "partial", "{record}");
    assert_eq!(record["repaired_from_status"], "failed", "{record}");
    assert_eq!(record["frames_written"], stored.to_string(), "{record}");
    assert!(recover(&root).unwrap().already_final);
    support::check_bioformats_planes(&root, planes);
}

#[test]
fn a_dataset_failed_after_its_last_frame_repairs_as_complete() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("all.ome.tiff");
    let schema = schema(&root, 3);
    let router = FrameRouter::new(&schema);
    let mut tiff = TiffBackend::create(&schema).unwrap();
    for n in 0..6 {
        let r = router.route(FrameNumber(n)).unwrap();
        let frame = support::frame(schema.dtype(), n, schema.frame_shape());
        tiff.write(r.position, &r.index, &frame, None).unwrap();
    }
    // The stream failed later (a durability point, say): every frame is on disk.
    tiff.finalize(&Progress {
        frames_written: 6,
        frames_reached: 6,
        growth_extent: 3,
        failed: true,
        ..Progress::default()
    })
    .unwrap();
    let file = &support::inspect(&[&root])[0];
    assert_eq!(file["images"][0]["record"]["status"], "failed");
    recover(&root).unwrap();
    let file = &support::inspect(&[&root])[0];
    assert_eq!(stored_frames(&schema, &support::inspected_pages(file)), 6);
    assert_eq!(support::check_agree(file, 0), 6);
    let record = &file["images"][0]["record"];
    assert_eq!(record["status"], "complete", "{record}");
    assert_eq!(record["complete"], "true", "{record}");
}

fn vanished(e: &BackendError) -> &Path {
    match e {
        BackendError::Format { source, .. } => match source.downcast_ref() {
            Some(TiffError::Vanished { path }) => path,
            _ => panic!("not Vanished: {e}"),
        },
        other => panic!("not a format error: {other}"),
    }
}

#[test]
fn files_removed_or_replaced_are_an_error_naming_them() {
    for replace in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("gone.ome.tiff");
        let schema = schema(&root, 4);
        let router = FrameRouter::new(&schema);
        let mut tiff = TiffBackend::create(&schema).unwrap();
        let write = |tiff: &mut TiffBackend, n| {
            let r = router.route(FrameNumber(n)).unwrap();
            let frame = support::frame(schema.dtype(), n, schema.frame_shape());
            tiff.write(r.position, &r.index, &frame, None)
        };
        write(&mut tiff, 0).unwrap();
        tiff.flush().unwrap();
        std::fs::remove_file(&root).unwrap();
        if replace {
            std::fs::write(&root, b"someone else's file").unwrap();
        }
        // The open handle still takes frames; the durability point notices.
        write(&mut tiff, 1).unwrap();
        let e = tiff.flush().unwrap_err();
        assert_eq!(vanished(&e), root);
        let text = ome_writers_backend::error_chain(&e);
        assert!(
            text.contains("was removed or replaced during the acquisition"),
            "{text}"
        );
        let e = tiff.finalize(&Progress::default()).unwrap_err();
        assert_eq!(vanished(&e), root, "{e}");
        if replace {
            assert_eq!(std::fs::read(&root).unwrap(), b"someone else's file");
        }
    }
}

#[test]
fn failed_multi_file_datasets_repair_in_every_layout() {
    for mode in ["redundant", "master-tiff", "companion-file"] {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("multi");
        let schema = Schema::from_json(
            &json!({"root_path": root.to_string_lossy(), "dtype": "uint16",
                "format": {"name": "ome-tiff", "multi_file_metadata": mode},
                "dimensions": [
                    {"name": "t", "count": 3},
                    {"name": "p", "type": "position", "coords": ["a", "b"]},
                    {"name": "c", "count": 2},
                    {"name": "y", "count": 32}, {"name": "x", "count": 32}]})
            .to_string(),
        )
        .unwrap();
        let router = FrameRouter::new(&schema);
        let mut tiff = TiffBackend::create(&schema).unwrap();
        // 5 frames: position a holds t0 (c0, c1), position b t0 c0 and c1, a t1 c0.
        for n in 0..5 {
            let r = router.route(FrameNumber(n)).unwrap();
            let frame = support::frame(schema.dtype(), n, schema.frame_shape());
            tiff.write(r.position, &r.index, &frame, None).unwrap();
        }
        let summary = tiff
            .finalize(&Progress {
                frames_written: 5,
                frames_reached: 6,
                growth_extent: 2,
                failed: true,
                ..Progress::default()
            })
            .unwrap();
        assert_eq!(summary.frames_written, 5, "{mode}");
        let files: Vec<std::path::PathBuf> = (0..2)
            .map(|p| root.join(format!("multi_p{p:03}.ome.tiff")))
            .collect();
        let paths: Vec<&Path> = files.iter().map(std::path::PathBuf::as_path).collect();
        for (p, file) in support::inspect(&paths).iter().enumerate() {
            let record = &file["images"][p]["record"];
            assert_eq!(record["status"], "failed", "{mode}: {record}");
        }
        let recovery = recover(&root).unwrap();
        assert!(!recovery.already_final, "{mode}");
        for (p, file) in support::inspect(&paths).iter().enumerate() {
            let image = &file["images"][p];
            assert_eq!(image["record"]["status"], "partial", "{mode}: {image}");
            assert_eq!(image["record"]["repaired_from_status"], "failed", "{mode}");
            // Both images padded to the same extent (t = 2) as finish gives them.
            assert_eq!(image["plane_count"], 4, "{mode}: {image}");
            assert_eq!(file["pages"].as_array().unwrap().len(), 4, "{mode}");
        }
        assert!(recover(&root).unwrap().already_final, "{mode}");
    }
}
