//! Redundant multi-file OME-XML repeats every image's metadata in every file, so its
//! cost grows with the square of the positions: creating such a dataset with more than
//! 100 positions logs a warning that suggests companion mode. Also measures the cost
//! quoted in the crate docs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Mutex;

use ome_writers_backend::{Backend, Progress};
use ome_writers_schema::{PositionIndex, Schema, StorageIndex};
use ome_writers_tiff::TiffBackend;
use serde_json::json;

/// Records every warning logged.
struct Capture(Mutex<Vec<String>>);

impl log::Log for Capture {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::Level::Warn
    }
    fn log(&self, r: &log::Record<'_>) {
        if self.enabled(r.metadata()) {
            self.0.lock().unwrap().push(r.args().to_string());
        }
    }
    fn flush(&self) {}
}

static LOGGER: Capture = Capture(Mutex::new(Vec::new()));

fn schema(dir: &std::path::Path, positions: usize, metadata: &str) -> Schema {
    let names: Vec<String> = (0..positions).map(|p| format!("pos{p}")).collect();
    Schema::from_json(
        &json!({"root_path": dir.join("run").to_string_lossy(), "dtype": "uint8",
            "format": {"name": "ome-tiff", "multi_file_metadata": metadata},
            "dimensions": [
                {"name": "p", "type": "position", "coords": names},
                {"name": "t", "count": 1},
                {"name": "y", "count": 2}, {"name": "x", "count": 2}]})
        .to_string(),
    )
    .unwrap()
}

/// Bytes of OME-XML in one file of a finished dataset with `positions` positions.
fn xml_bytes_per_file(positions: usize, metadata: &str) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let mut tiff = TiffBackend::create(&schema(dir.path(), positions, metadata)).unwrap();
    for p in 0..positions {
        let index = StorageIndex::new(&[0]).unwrap();
        tiff.write(PositionIndex(p), &index, &[1; 4], None).unwrap();
    }
    let summary = tiff
        .finalize(&Progress {
            frames_written: positions as u64,
            frames_reached: positions as u64,
            growth_extent: 1,
            complete: true,
            ..Progress::default()
        })
        .unwrap();
    let file = std::fs::File::open(&summary.paths[positions - 1]).unwrap();
    let mut d = tiff::decoder::Decoder::new(std::io::BufReader::new(file)).unwrap();
    d.get_tag_ascii_string(tiff::tags::Tag::ImageDescription)
        .unwrap()
        .len()
}

fn warnings() -> Vec<String> {
    std::mem::take(&mut *LOGGER.0.lock().unwrap())
}

#[test]
fn more_than_100_redundant_positions_warn_and_suggest_companion_mode() {
    log::set_logger(&LOGGER).unwrap();
    log::set_max_level(log::LevelFilter::Warn);
    let dir = tempfile::tempdir().unwrap();
    let create = |n, mode| {
        let d = dir.path().join(format!("{n}_{mode}"));
        std::fs::create_dir(&d).unwrap();
        let tiff = TiffBackend::create(&schema(&d, n, mode)).unwrap();
        std::mem::forget(tiff); // only creation matters here
    };
    create(100, "redundant");
    assert!(warnings().is_empty());
    create(101, "companion-file");
    assert!(warnings().is_empty());
    create(101, "redundant");
    let w = warnings();
    assert!(
        w.len() == 1 && w[0].contains("101 positions") && w[0].contains("companion-file"),
        "{w:?}"
    );

    // The cost the docs quote: XML per file grows linearly with the positions, so the
    // dataset's total grows with their square.
    for n in [10, 100, 200] {
        let redundant = xml_bytes_per_file(n, "redundant");
        let companion = xml_bytes_per_file(n, "companion-file");
        println!(
            "{n} positions: {redundant} bytes of OME-XML per file (companion mode: {companion})"
        );
        assert!(redundant > n * 700, "{n}: {redundant}");
        assert!(companion < 1000, "{n}: {companion}");
    }
}
