//! Per-frame metadata survives a crash: it is journaled beside each TIFF file
//! (`<file>.omew-journal`), synced at durability points, and `recover` folds it into
//! the final OME-XML's `Plane` elements. Read back with ome-types (XSD validation) and
//! tifffile.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::path::{Path, PathBuf};

use ome_writers_backend::{Backend, FrameMetadata};
use ome_writers_router::FrameRouter;
use ome_writers_schema::{FrameNumber, Schema};
use ome_writers_tiff::{JOURNAL_SUFFIX, TiffBackend, recover};
use serde_json::{Value, json};

fn metadata(n: u64) -> FrameMetadata {
    json!({"delta_t": n as f64 * 0.5, "exposure_time": (n + 1) as f64 / 64.0,
           "position_x": 100.0 + n as f64, "camera": format!("cam-{n}")})
    .as_object()
    .cloned()
    .unwrap()
}

fn journal_of(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(JOURNAL_SUFFIX);
    PathBuf::from(name)
}

/// The planes of `image` are those of `frames` (t, c with c fastest), each with its
/// frame's metadata; zero planes have none.
fn check_planes(image: &Value, frames: &[u64]) {
    let planes = image["planes"].as_array().unwrap();
    assert_eq!(planes.len(), frames.len(), "{image}");
    for (plane, &n) in planes.iter().zip(frames) {
        let (t, c) = (n / 2, n % 2);
        assert_eq!(
            (plane["the_t"].as_u64(), plane["the_c"].as_u64()),
            (Some(t), Some(c))
        );
        assert_eq!(plane["delta_t"].as_f64(), Some(n as f64 * 0.5), "{plane}");
        assert_eq!(plane["exposure_time"].as_f64(), Some((n + 1) as f64 / 64.0));
        assert_eq!(
            plane["position_x"].as_f64(),
            Some(100.0 + n as f64),
            "{plane}"
        );
        assert_eq!(plane["extra"]["camera"], format!("cam-{n}"), "{plane}");
    }
}

/// Write `frames` frames with metadata, a durability point after `flushed`, then die.
fn crash(settings: Value, root: &Path, flushed: u64, frames: u64) -> Schema {
    let mut settings = settings;
    settings["root_path"] = json!(root.to_string_lossy());
    let schema = Schema::from_json(&settings.to_string()).unwrap();
    let router = FrameRouter::new(&schema);
    let mut tiff = TiffBackend::create(&schema).unwrap();
    for n in 0..frames {
        let r = router.route(FrameNumber(n)).unwrap();
        let frame = support::frame(schema.dtype(), n, schema.frame_shape());
        tiff.write(r.position, &r.index, &frame, Some(&metadata(n)))
            .unwrap();
        if n + 1 == flushed {
            tiff.flush().unwrap();
        }
    }
    std::mem::forget(tiff); // the process dies here
    schema
}

#[test]
fn frame_metadata_survives_a_crash_and_repair() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("run.ome.tiff");
    let settings = json!({"dtype": "uint16", "dimensions": [
        {"name": "t", "count": 10}, {"name": "c", "count": 2},
        {"name": "y", "count": 8}, {"name": "x", "count": 8}]});
    let schema = crash(settings, &root, 6, 7);
    let journal = journal_of(&root);
    assert!(journal.is_file(), "no journal beside the file");
    assert_eq!(
        std::fs::read_to_string(&journal).unwrap().lines().count(),
        7
    );

    let recovery = recover(&root).unwrap();
    assert_eq!(recovery.files[0].pages_found, 7);
    assert!(!journal.exists(), "the journal is removed once folded in");
    let file = &support::inspect(&[&root])[0];
    assert_eq!(support::check_agree(file, 0), 8);
    let pages = support::inspected_pages(file);
    for n in 0..7 {
        assert!(pages[n as usize] == support::frame(schema.dtype(), n, schema.frame_shape()));
    }
    check_planes(&file["images"][0], &(0..7).collect::<Vec<_>>());
}

#[test]
fn each_file_of_a_multi_file_dataset_has_its_journal() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("multi");
    let settings = json!({"dtype": "uint8",
        "format": {"name": "ome-tiff", "multi_file_metadata": "master-tiff"},
        "dimensions": [
            {"name": "t", "count": 4},
            {"name": "p", "type": "position", "coords": ["a", "b"]},
            {"name": "c", "count": 2},
            {"name": "y", "count": 4}, {"name": "x", "count": 4}]});
    crash(settings, &root, 8, 11);
    let files: Vec<PathBuf> = (0..2)
        .map(|p| root.join(format!("multi_p{p:03}.ome.tiff")))
        .collect();
    for f in &files {
        assert!(journal_of(f).is_file(), "{}", f.display());
    }
    recover(&root).unwrap();
    let inspected = support::inspect(&[&files[0], &files[1]]);
    // Frame n went to position (n / 2) % 2 (t, p, c: c fastest).
    for (p, file) in inspected.iter().enumerate() {
        assert!(!journal_of(&files[p]).exists());
        let frames: Vec<u64> = (0..11).filter(|n| (n / 2) % 2 == p as u64).collect();
        let image = &file["images"][p];
        let planes = image["planes"].as_array().unwrap();
        assert_eq!(planes.len(), frames.len(), "{image}");
        for (plane, &n) in planes.iter().zip(&frames) {
            assert_eq!(plane["delta_t"].as_f64(), Some(n as f64 * 0.5), "{plane}");
            assert_eq!(plane["extra"]["camera"], format!("cam-{n}"), "{plane}");
            assert_eq!(plane["the_t"].as_u64(), Some(n / 4));
            assert_eq!(plane["the_c"].as_u64(), Some(n % 2));
        }
    }
}
