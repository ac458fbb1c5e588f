//! The fuzz bodies. Used by the cargo-fuzz targets (fuzz/fuzz_targets) and, on stable
//! Rust, by crates/cli/tests/fuzz_bodies.rs, which runs them over fuzz/corpus and over
//! a seeded random generator. Each body panics only when it finds a bug.

use ome_writers_router::{FrameRouter, RouteError};
use ome_writers_schema::{FrameNumber, Schema};
use serde_json::{Value, json};

/// Settings JSON parsing and validation.
///
/// - never panics, never aborts on allocation (hostile counts are refused by limits);
/// - a schema that validates serializes back to settings that validate again, to the
///   same backend, array shape and frame count (the settings survive a round trip);
/// - routing the first and the last frame of a valid schema works, past the end is
///   `PastEnd`.
pub fn settings(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let schema = match Schema::from_json(text) {
        Ok(s) => s,
        Err(e) => {
            // Errors render (they name the field and the value).
            assert!(!e.to_string().is_empty());
            return;
        }
    };
    let again = Schema::from_json(&schema.settings().to_json())
        .unwrap_or_else(|e| panic!("normalized settings do not validate again: {e}\n{text}"));
    assert_eq!(again.backend(), schema.backend(), "backend changed: {text}");
    assert_eq!(
        again.array_shape(None),
        schema.array_shape(None),
        "shape changed: {text}"
    );
    assert_eq!(
        again.num_frames(),
        schema.num_frames(),
        "frames changed: {text}"
    );
    let _ = (
        schema.frame_bytes(),
        schema.chunk_shape(),
        schema.shard_shape(),
    );
    check_router(&schema, &[0, 1, u64::MAX / 2, u64::MAX]);
    if let Some(total) = schema.num_frames() {
        check_router(&schema, &[total.saturating_sub(1), total]);
    }
}

/// The router over a schema built from the input's first bytes, asked for frame
/// numbers taken from the rest.
pub fn router(data: &[u8]) {
    let mut bytes = Bytes(data);
    let Some(settings) = schema_from_bytes(&mut bytes) else {
        return;
    };
    let Ok(schema) = Schema::from_json(&settings.to_string()) else {
        return;
    };
    let mut frames = Vec::new();
    while let Some(n) = bytes.u64() {
        frames.push(n);
    }
    check_router(&schema, &frames);
    // Small acquisitions: every frame goes to its own place (one-to-one).
    if let Some(total) = schema.num_frames()
        && total <= 4096
    {
        let router = FrameRouter::new(&schema);
        let mut seen = std::collections::HashSet::new();
        for n in 0..total {
            let r = router
                .route(FrameNumber(n))
                .unwrap_or_else(|e| panic!("frame {n} of {total}: {e}"));
            assert!(
                seen.insert((r.position.0, r.index.as_slice().to_vec())),
                "frames collide at {:?} {:?}: {settings}",
                r.position,
                r.index
            );
        }
    }
}

/// `route(n)` never panics; inside the acquisition it lands inside the array (and a
/// known position), past the end it is `PastEnd`; `extent_reached` stays in bounds.
fn check_router(schema: &Schema, frames: &[u64]) {
    let router = FrameRouter::new(schema);
    let shape = schema.array_shape(None);
    let total = router.total();
    for &n in frames {
        match router.route(FrameNumber(n)) {
            Ok(r) => {
                assert!(
                    total.is_none_or(|t| n < t),
                    "frame {n} routed past {total:?}"
                );
                assert!(r.position.0 < schema.positions().len().max(1));
                let idx = r.index.as_slice();
                assert_eq!(
                    idx.len() + 2,
                    shape.len(),
                    "index {idx:?} vs shape {shape:?}"
                );
                for (k, (&i, &s)) in idx.iter().zip(&shape).enumerate() {
                    let unbounded = Some(k) == schema.growth_axis() && total.is_none();
                    assert!(
                        unbounded || i < s,
                        "frame {n}: index {idx:?} outside {shape:?}"
                    );
                }
            }
            Err(RouteError::PastEnd { frame, total: t }) => {
                assert_eq!(frame, n);
                assert_eq!(Some(t), total);
                assert!(n >= t, "frame {n} refused below the end {t}");
            }
            Err(e) => panic!("unexpected route error: {e}"),
        }
        let extent = router.extent_reached(n.min(u64::MAX / 4));
        if let (Some(g), Some(_)) = (schema.growth_axis(), total) {
            assert!(extent <= shape[g], "extent {extent} past {shape:?}");
        }
    }
}

/// A cursor over the fuzz input.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn u64(&mut self) -> Option<u64> {
        if self.0.len() < 8 {
            return None;
        }
        let (head, rest) = self.0.split_at(8);
        self.0 = rest;
        let mut v = [0u8; 8];
        v.copy_from_slice(head);
        Some(u64::from_le_bytes(v))
    }
}

/// Settings JSON from bytes: 1-4 index dimensions of assorted names and types (the
/// first possibly unbounded, a position dimension possibly), chunking, storage order,
/// format.
fn schema_from_bytes(b: &mut Bytes<'_>) -> Option<Value> {
    const NAMES: [&str; 8] = ["t", "c", "z", "p", "q", "time", "channel", "angle"];
    let n = usize::from(b.u8()? % 4) + 1;
    let mut dims = Vec::new();
    let mut used = std::collections::HashSet::new();
    for i in 0..n {
        let pick = b.u8()?;
        let name = NAMES[usize::from(pick % 8)];
        if !used.insert(name) {
            continue;
        }
        let count = u64::from(b.u8()? % 6) + 1;
        let mut d = json!({"name": name, "count": count});
        if i == 0 && pick & 0x80 != 0 && name != "p" {
            d["count"] = Value::Null;
        }
        if name == "p" {
            d["type"] = json!("position");
        }
        if pick & 0x40 != 0 {
            d["chunk_size"] = json!(u64::from(b.u8()? % 3) + 1);
        }
        dims.push(d);
    }
    let h = u64::from(b.u8()? % 7) + 1;
    let w = u64::from(b.u8()? % 7) + 1;
    dims.push(json!({"name": "y", "count": h}));
    dims.push(json!({"name": "x", "count": w}));
    let flags = b.u8()?;
    let root = if flags & 1 == 0 {
        "f.ome.zarr"
    } else {
        "f.ome.tiff"
    };
    let order = match flags >> 1 & 3 {
        0 => json!("acquisition"),
        1 => json!("ome"),
        _ => {
            // The index dimensions reversed, Y and X last.
            let k = dims.len() - 2;
            let mut names: Vec<Value> = dims[..k].iter().map(|d| d["name"].clone()).collect();
            names.reverse();
            names.extend([json!("y"), json!("x")]);
            Value::Array(names)
        }
    };
    Some(
        json!({"root_path": root, "dtype": "uint8", "dimensions": dims,
                "storage_order": order}),
    )
}

/// The BigTIFF reader behind `omew repair` (`ome_writers_tiff::recover`, and the
/// writer's reopen): any file, crafted or torn, is recovered or refused with an error,
/// never a panic, a hang or an abort; a file recovered once recovers again.
pub fn tiff_recover(data: &[u8]) {
    let dir = std::env::temp_dir().join(format!(
        "omew-fuzz-tiff-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    if std::fs::create_dir_all(&dir).is_err() {
        return;
    }
    let path = dir.join("f.ome.tiff");
    if std::fs::write(&path, data).is_ok()
        && ome_writers_tiff::recover(&path).is_ok()
        && let Err(e) = ome_writers_tiff::recover(&path)
    {
        panic!("a recovered file does not recover again: {e}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The documents of a zarr dataset that [`zarr_recover`] replaces with its input (the
/// input's first byte picks one, modulo their count): the root group (the image, with
/// the settings), the array, the frame-metadata journal.
pub const ZARR_RECOVER_DOCS: [&str; 3] = ["zarr.json", "0/zarr.json", "ome_writers_frames.jsonl"];

/// A tiny dataset as a killed writer leaves it: written with the library (3 frames of
/// an unbounded `t`, 2x3 uint8), then its documents set back to what they said during
/// the acquisition (status `acquiring`, the array's shape short of the chunks on disk,
/// two journal lines). Files relative to the root, made once per process.
fn zarr_template() -> &'static [(String, Vec<u8>)] {
    static TEMPLATE: std::sync::OnceLock<Vec<(String, Vec<u8>)>> = std::sync::OnceLock::new();
    TEMPLATE.get_or_init(|| {
        use ome_writers_backend::{Backend, Progress};
        use ome_writers_schema::{PositionIndex, StorageIndex};

        let parent = std::env::temp_dir().join(format!(
            "omew-fuzz-zarr-template-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&parent);
        std::fs::create_dir_all(&parent).expect("a temporary directory");
        let root = parent.join("t.ome.zarr");
        let schema = Schema::from_json(&format!(
            r#"{{"root_path": {:?}, "dtype": "uint8", "dimensions": [
                {{"name": "t", "count": null}}, {{"name": "y", "count": 2}},
                {{"name": "x", "count": 3}}]}}"#,
            root.display().to_string()
        ))
        .expect("the template's settings");
        let mut zarr = ome_writers_zarr::ZarrBackend::create(&schema).expect("the template");
        for t in 0..3u8 {
            let idx = StorageIndex::new(&[u64::from(t)]).expect("an index");
            zarr.write(PositionIndex(0), &idx, &[t + 1; 6], None)
                .expect("a frame");
        }
        let progress = Progress {
            frames_written: 3,
            frames_reached: 3,
            growth_extent: 3,
            ..Progress::default()
        };
        zarr.finalize(&progress).expect("the template's finish");
        drop(zarr);
        let mut files = Vec::new();
        collect_files(&root, &root, &mut files);
        for (name, bytes) in &mut files {
            let Ok(mut doc) = serde_json::from_slice::<Value>(bytes) else {
                continue;
            };
            if name == ZARR_RECOVER_DOCS[0] {
                let ow = &mut doc["attributes"]["ome_writers"];
                ow["status"] = json!("acquiring");
                ow["frames_written"] = json!(2);
                ow["frame_metadata_journal"] = json!(ZARR_RECOVER_DOCS[2]);
            } else if name == ZARR_RECOVER_DOCS[1] {
                doc["shape"] = json!([2, 2, 3]);
            }
            *bytes = serde_json::to_vec_pretty(&doc).expect("JSON");
        }
        files.push((
            ZARR_RECOVER_DOCS[2].to_owned(),
            b"{\"storage_index\": [0], \"delta_t\": 0.5}\n{\"storage_index\": [1], \"delta_t\": 1.5}\n"
                .to_vec(),
        ));
        let _ = std::fs::remove_dir_all(&parent);
        files
    })
}

fn collect_files(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<(String, Vec<u8>)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("the template directory")
        .filter_map(Result::ok)
        .collect();
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for e in entries {
        let path = e.path();
        if path.is_dir() {
            collect_files(root, &path, out);
        } else if let Ok(rel) = path.strip_prefix(root) {
            out.push((
                rel.to_string_lossy().into_owned(),
                std::fs::read(&path).expect("a template file"),
            ));
        }
    }
}

/// Zarr recovery (`ome_writers_zarr::recover`, behind `omew repair`) on a tiny killed
/// dataset one of whose documents (the root group, the array, the journal: see
/// [`ZARR_RECOVER_DOCS`]) is the input: recovered or refused with an error, never a
/// panic; a dataset recovered once has nothing to repair the second time.
pub fn zarr_recover(data: &[u8]) {
    let Some((&which, doc)) = data.split_first() else {
        return;
    };
    let target = ZARR_RECOVER_DOCS[usize::from(which) % ZARR_RECOVER_DOCS.len()];
    let dir = std::env::temp_dir().join(format!(
        "omew-fuzz-zarr-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let root = dir.join("f.ome.zarr");
    for (name, bytes) in zarr_template() {
        let path = root.join(name);
        let bytes = if name == target { doc } else { bytes };
        if path
            .parent()
            .is_some_and(|p| std::fs::create_dir_all(p).is_err())
            || std::fs::write(&path, bytes).is_err()
        {
            return;
        }
    }
    if target == ZARR_RECOVER_DOCS[2] && std::fs::write(root.join(target), doc).is_err() {
        return;
    }
    match ome_writers_zarr::recover(&root, &|s| Box::new(FrameRouter::new(s))) {
        Ok(report) => {
            let _ = report.to_string();
            match ome_writers_zarr::recover(&root, &|s| Box::new(FrameRouter::new(s))) {
                Ok(again) => assert!(
                    again.nothing_to_repair.is_some(),
                    "a recovered dataset is recovered again: {again}"
                ),
                Err(e) => panic!("a recovered dataset does not recover again: {e}"),
            }
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    let _ = std::fs::remove_dir_all(&dir);
}
