//! The settings are stored once, in the root group, for every layout (single image,
//! bioformats2raw, plate); the image groups hold only their own progress. Every file
//! a stream leaves on disk (during the acquisition and after finish) is one
//! `is_own_file` recognises, and nothing else is.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use ome_writers_backend::{Backend, Progress};
use ome_writers_router::FrameRouter;
use ome_writers_schema::Schema;
use ome_writers_zarr::{JOURNAL, ZarrBackend, is_own_file};
use serde_json::{Value, json};

fn read(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn files(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            files(root, &e.path(), out);
        } else {
            out.push(e.path().strip_prefix(root).unwrap().to_owned());
        }
    }
}

/// (layout name, extra settings, image groups)
fn layouts() -> Vec<(&'static str, Value, Vec<&'static str>)> {
    let plate_positions = json!([
        {"name": "fov", "plate_row": "A", "plate_column": "1", "grid_row": 0, "grid_column": 0},
        {"name": "fov", "plate_row": "A", "plate_column": "1", "grid_row": 0, "grid_column": 1},
        {"name": "fov", "plate_row": "B", "plate_column": "3", "grid_row": 0, "grid_column": 0}]);
    vec![
        (
            "single",
            json!({"dimensions": [{"name": "t", "count": 3, "chunk_size": 2},
                {"name": "y", "count": 4}, {"name": "x", "count": 4}]}),
            vec![""],
        ),
        (
            "bioformats2raw",
            json!({"dimensions": [{"name": "t", "count": 3, "chunk_size": 2},
                {"name": "p", "type": "position", "coords": ["left", "right"]},
                {"name": "y", "count": 4}, {"name": "x", "count": 4}]}),
            vec!["left", "right"],
        ),
        (
            "plate",
            json!({"dimensions": [{"name": "t", "count": 3, "chunk_size": 2},
                {"name": "p", "type": "position", "coords": plate_positions},
                {"name": "y", "count": 4}, {"name": "x", "count": 4}],
                "plate": {"row_names": ["A", "B"], "column_names": ["1", "2", "3"]}}),
            vec!["A/1/0", "A/1/1", "B/3/0"],
        ),
    ]
}

fn check_own(root: &Path, label: &str) {
    let mut all = Vec::new();
    files(root, root, &mut all);
    assert!(!all.is_empty());
    for f in &all {
        assert!(is_own_file(f), "{label}: {} not recognised", f.display());
    }
}

#[test]
fn settings_are_stored_once_at_the_root_and_every_file_is_ours() {
    for (name, extra, groups) in layouts() {
        for compression in ["none", "zstd"] {
            let label = format!("{name} {compression}");
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path().join("a.ome.zarr");
            let mut settings = extra.clone();
            settings["root_path"] = json!(root);
            settings["dtype"] = json!("uint8");
            settings["compression"] = json!(compression);
            let schema = Schema::from_json(&settings.to_string()).unwrap();
            let mut backend = ZarrBackend::create(&schema).unwrap();
            let router = FrameRouter::new(&schema);
            let total = router.total().unwrap();
            let mut meta = serde_json::Map::new();
            meta.insert("delta_t".into(), json!(1.5));
            for (i, route) in router.enumerate() {
                let frame = vec![route.frame.0 as u8 + 1; schema.frame_bytes()];
                backend
                    .write(route.position, &route.index, &frame, Some(&meta))
                    .unwrap();
                if i == 2 {
                    backend.flush().unwrap();
                    // Mid-acquisition: journals, chunk checkpoints, metadata.
                    check_own(&root, &label);
                    assert!(
                        groups.iter().any(|g| root.join(g).join(JOURNAL).exists()),
                        "{label}: no journal during the acquisition"
                    );
                }
            }
            backend
                .finalize(&Progress {
                    frames_written: total,
                    frames_reached: total,
                    growth_extent: 3,
                    complete: true,
                    ..Progress::default()
                })
                .unwrap();
            check_own(&root, &label);

            let top = read(&root.join("zarr.json"));
            let ow = &top["attributes"]["ome_writers"];
            assert_eq!(ow["version"], env!("CARGO_PKG_VERSION"), "{label}");
            assert_eq!(
                ow["settings"],
                serde_json::to_value(schema.settings()).unwrap(),
                "{label}"
            );
            for g in &groups {
                let attrs = &read(&root.join(g).join("zarr.json"))["attributes"];
                let ow = &attrs["ome_writers"];
                assert_eq!(ow["status"], "complete", "{label} {g}");
                assert_eq!(ow["version"], env!("CARGO_PKG_VERSION"), "{label} {g}");
                assert_eq!(ow["frame_metadata_count"], 3, "{label} {g}");
                assert!(attrs["ome"]["multiscales"].is_array(), "{label} {g}");
                if !g.is_empty() {
                    assert!(ow.get("settings").is_none(), "{label} {g}: settings again");
                }
            }
        }
    }
}

#[test]
fn own_files_are_recognised_and_nothing_else() {
    let ours = [
        "zarr.json",
        ".zarr.json.tmp",
        "0/zarr.json",
        "0/c/0/0/0",
        "0/c/12/3/4",
        "0/c/0/.7.partial",
        "0/c/0/.7.damaged",
        "left/zarr.json",
        "left/0/c/1/0/0",
        "left/ome_writers_frames.jsonl",
        "A/1/0/0/c/0/0/0",
        "OME/zarr.json",
        "./0/c/1",
        ".ome_writers.reserve",
    ];
    for p in ours {
        assert!(is_own_file(Path::new(p)), "{p}");
    }
    let foreign = [
        "thesis.docx",
        "0/c/0/notes.txt",
        "0/c/x/0",
        "0/0/0",
        "c/0/0",
        "0/c/0/.partial",
        "0/c/0/.x.partial",
        "../zarr.json",
        "/zarr.json",
        "left/../../0/c/0",
        "0/c/0/0.partial",
        ".zarr.json.partial",
        "left/.ome_writers.reserve",
        "",
    ];
    for p in foreign {
        assert!(!is_own_file(Path::new(p)), "{p}");
    }
}

#[test]
fn many_positions_with_frame_metadata_hold_few_files_open_and_keep_every_entry() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("many.ome.zarr");
    let positions = 300u64;
    let settings = json!({"root_path": root, "dtype": "uint8", "dimensions": [
        {"name": "t", "count": 2}, {"name": "p", "type": "position", "count": positions},
        {"name": "y", "count": 2}, {"name": "x", "count": 2}]});
    let schema = Schema::from_json(&settings.to_string()).unwrap();
    let mut backend = ZarrBackend::create(&schema).unwrap();
    let open_fds = || std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count);
    let mut most = 0;
    for (n, route) in FrameRouter::new(&schema).enumerate() {
        let mut meta = serde_json::Map::new();
        meta.insert("n".into(), json!(n));
        backend
            .write(route.position, &route.index, &[1; 4], Some(&meta))
            .unwrap();
        if n as u64 == positions {
            backend.flush().unwrap();
            // A killed writer would leave every entry so far in the journals.
            let lines: usize = (0..positions)
                .map(|p| {
                    std::fs::read_to_string(root.join(p.to_string()).join(JOURNAL))
                        .map_or(0, |s| s.lines().count())
                })
                .sum();
            assert_eq!(lines as u64, positions + 1);
        }
        most = most.max(open_fds());
    }
    assert!(most < 200, "{most} files open for {positions} journals");
    backend
        .finalize(&Progress {
            frames_written: 2 * positions,
            frames_reached: 2 * positions,
            growth_extent: 2,
            complete: true,
            ..Progress::default()
        })
        .unwrap();
    for p in [0, 150, positions - 1] {
        let ow = &read(&root.join(p.to_string()).join("zarr.json"))["attributes"]["ome_writers"];
        assert_eq!(ow["frame_metadata_count"], 2, "{p}");
        assert_eq!(ow["frame_metadata"][1]["n"], positions + p, "{p}");
        assert!(!root.join(p.to_string()).join(JOURNAL).exists());
    }
}
