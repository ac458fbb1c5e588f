//! `recover` as a library call: a dataset set back to what a killed writer leaves
//! (status `acquiring`, a short shape, a journal, stale temporary files, a damaged chunk)
//! is finished with a typed report, and recovering again has nothing to repair. The
//! killed-writer cases themselves are in crates/cli/tests (crash.rs, repair.rs,
//! hostile_zarr.rs).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use ome_writers_backend::{Backend, DatasetStatus, Progress};
use ome_writers_schema::{PositionIndex, Schema, StorageIndex};
use ome_writers_zarr::{
    DAMAGED_SUFFIX, JOURNAL, MissingChunks, NothingToRepair, REPAIRED_KEY, RESERVE, ZarrBackend,
    recover, recover_applies,
};
use serde_json::{Value, json};

fn read(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn write(p: &Path, v: &Value) {
    std::fs::write(p, serde_json::to_vec_pretty(v).unwrap()).unwrap();
}

#[test]
fn a_killed_dataset_is_finished_with_a_typed_report_and_only_once() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("k.ome.zarr");
    let schema = Schema::from_json(&format!(
        r#"{{"root_path": {:?}, "dtype": "uint8", "dimensions": [
            {{"name": "t", "count": 5}}, {{"name": "y", "count": 2}}, {{"name": "x", "count": 3}}]}}"#,
        root.display().to_string()
    ))
    .unwrap();
    let mut zarr = ZarrBackend::create(&schema).unwrap();
    for t in 0..4u8 {
        let idx = StorageIndex::new(&[u64::from(t)]).unwrap();
        zarr.write(PositionIndex(0), &idx, &[t + 1; 6], None)
            .unwrap();
    }
    zarr.finalize(&Progress {
        frames_written: 4,
        frames_reached: 4,
        growth_extent: 4,
        ..Progress::default()
    })
    .unwrap();
    drop(zarr);

    // As a killed writer leaves it.
    let group = root.join("zarr.json");
    let mut doc = read(&group);
    doc["attributes"]["ome_writers"]["status"] = json!("acquiring");
    doc["attributes"]["ome_writers"]["frames_written"] = json!(2);
    write(&group, &doc);
    let array = root.join("0/zarr.json");
    let mut arr = read(&array);
    arr["shape"] = json!([2, 2, 3]);
    write(&array, &arr);
    std::fs::write(
        root.join(JOURNAL),
        "{\"storage_index\": [0]}\n{\"storage_ind",
    )
    .unwrap();
    std::fs::write(root.join(RESERVE), b"").unwrap();
    std::fs::write(root.join("0/c/.9.partial"), b"x").unwrap();
    std::fs::write(root.join("0/c/2/0/0"), b"torn").unwrap();
    assert!(recover_applies(&root));

    let report = recover(&root, &by_router).unwrap();
    assert_eq!(report.nothing_to_repair, None);
    assert_eq!(report.status, Some(DatasetStatus::Partial));
    assert_eq!(report.frames_counted, 2, "{report}");
    assert_eq!(report.growth_extent, Some(4));
    assert!(report.reserve_removed);
    assert_eq!(report.stale_files_removed(), 2);
    let [image] = report.images.as_slice() else {
        panic!("one image: {report}");
    };
    assert_eq!(image.name, "");
    assert_eq!(image.status_before, Some(DatasetStatus::Acquiring));
    assert_eq!(image.frames_claimed, Some(2));
    assert_eq!(
        (&image.shape_before[..], &image.shape_after[..]),
        (&[2, 2, 3][..], &[4, 2, 3][..])
    );
    assert_eq!(image.chunks_on_disk, 3);
    assert_eq!(image.chunks_missing, MissingChunks::Counted(1));
    assert_eq!(image.missing_keys, ["c/2/0/0"]);
    assert_eq!(image.damaged.len(), 1);
    assert_eq!(image.damaged[0].key, "c/2/0/0");
    assert_eq!(
        (image.journal_entries_folded, image.journal_lines_unreadable),
        (1, 1)
    );
    assert!(root.join(format!("0/c/2/0/.0{DAMAGED_SUFFIX}")).is_file());
    assert!(!root.join(JOURNAL).exists() && !root.join(RESERVE).exists());

    let doc = read(&group);
    let ow = &doc["attributes"]["ome_writers"];
    assert_eq!(ow["status"], DatasetStatus::Partial.as_str());
    assert_eq!(ow[REPAIRED_KEY]["frames_counted"], 2);
    assert_eq!(ow[REPAIRED_KEY]["damaged_chunks"][0]["key"], "c/2/0/0");
    assert_eq!(read(&array)["shape"], json!([4, 2, 3]));
    let said = report.to_string();
    assert!(
        said.ends_with(
            "2 frame(s) counted from the chunks on disk, 2 stale temporary file(s) removed"
        ),
        "{said}"
    );

    let again = recover(&root, &by_router).unwrap();
    assert_eq!(
        again.nothing_to_repair,
        Some(NothingToRepair::Finished {
            status: "partial".to_owned(),
            images: 1
        })
    );
}

#[test]
fn a_directory_that_holds_no_data_has_nothing_to_repair() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("e.ome.zarr");
    std::fs::create_dir_all(root.join("0")).unwrap();
    std::fs::write(root.join(RESERVE), b"").unwrap();
    std::fs::write(root.join("0/.zarr.json.tmp"), b"{").unwrap();
    assert!(recover_applies(&root));
    let report = recover(&root, &by_router).unwrap();
    assert_eq!(
        report.nothing_to_repair,
        Some(NothingToRepair::NothingWritten)
    );
    assert!(report.to_string().starts_with("nothing to repair: "));
    // Not ours: recovery does not apply, and refuses.
    std::fs::write(root.join("data.bin"), b"x").unwrap();
    assert!(!recover_applies(&root));
    assert!(recover(&root, &by_router).is_err());
}

/// Found by the `zarr_recover` fuzzer: a chunk shape of 2^64 elements overflowed in
/// the decoder that checks each chunk (a panic, caught as "damaged", so every chunk
/// was set aside). Such metadata is refused, and no chunk is touched.
#[test]
fn chunks_larger_than_this_library_writes_are_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("h.ome.zarr");
    let schema = Schema::from_json(&format!(
        r#"{{"root_path": {:?}, "dtype": "uint8", "compression": "zstd", "dimensions": [
            {{"name": "t", "count": 2}}, {{"name": "y", "count": 2}}, {{"name": "x", "count": 3}}]}}"#,
        root.display().to_string()
    ))
    .unwrap();
    let mut zarr = ZarrBackend::create(&schema).unwrap();
    for t in 0..2 {
        let idx = StorageIndex::new(&[t]).unwrap();
        zarr.write(PositionIndex(0), &idx, &[1; 6], None).unwrap();
    }
    zarr.finalize(&Progress {
        frames_written: 2,
        frames_reached: 2,
        growth_extent: 2,
        complete: true,
        ..Progress::default()
    })
    .unwrap();
    drop(zarr);
    let group = root.join("zarr.json");
    let mut doc = read(&group);
    doc["attributes"]["ome_writers"]["status"] = json!("acquiring");
    write(&group, &doc);
    let array = root.join("0/zarr.json");
    let mut arr = read(&array);
    arr["chunk_grid"]["configuration"]["chunk_shape"] =
        json!([1, 4_294_967_296_u64, 4_294_967_296_u64]);
    write(&array, &arr);
    let err = recover(&root, &by_router).unwrap_err();
    assert!(
        err.to_string().contains("not an array this library wrote"),
        "{err}"
    );
    assert!(root.join("0/c/0/0/0").is_file() && root.join("0/c/1/0/0").is_file());
    assert_eq!(
        read(&group)["attributes"]["ome_writers"]["status"],
        "acquiring"
    );
}

/// The acquisition order recovery is given: the router's.
fn by_router(schema: &ome_writers_schema::Schema) -> Box<dyn ome_writers_schema::FrameOrder> {
    Box::new(ome_writers_router::FrameRouter::new(schema))
}
