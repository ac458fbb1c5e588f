//! A durability point covers every frame written so far, including frames that sit in
//! chunks not yet complete: after a crash (simulated by leaking the backend, so no
//! destructor or finalize runs) the dataset opens and those frames read back.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use ome_writers_backend::Backend;
use ome_writers_router::FrameRouter;
use ome_writers_schema::Schema;
use ome_writers_zarr::ZarrBackend;
use zarrs::array::Array;
use zarrs::filesystem::FilesystemStore;

fn check(compression: &str) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("crash.ome.zarr");
    let schema = Schema::from_json(&format!(
        r#"{{"root_path": {root:?}, "dtype": "uint16", "compression": "{compression}",
            "dimensions": [{{"name": "t", "count": 6, "chunk_size": 4}},
                           {{"name": "y", "count": 4}}, {{"name": "x", "count": 3}}]}}"#
    ))
    .unwrap();
    let mut backend = ZarrBackend::create(&schema).unwrap();
    let router = FrameRouter::new(&schema);
    for route in router.take(5) {
        let v = route.frame.0 as u16 + 1;
        let mut meta = serde_json::Map::new();
        meta.insert("delta_t".into(), serde_json::json!(f64::from(v)));
        backend
            .write(
                route.position,
                &route.index,
                bytemuck_bytes(&[v; 12]),
                Some(&meta),
            )
            .unwrap();
    }
    backend.flush().unwrap();
    std::mem::forget(backend); // the process "dies" here

    let group: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("zarr.json")).unwrap()).unwrap();
    assert_eq!(group["attributes"]["ome_writers"]["frames_written"], 5);
    assert_eq!(group["attributes"]["ome_writers"]["status"], "acquiring");
    // Per-frame metadata up to the durability point is in the journal it names.
    let journal = group["attributes"]["ome_writers"]["frame_metadata_journal"]
        .as_str()
        .unwrap();
    let lines = std::fs::read_to_string(root.join(journal)).unwrap();
    assert_eq!(lines.lines().count(), 5);
    assert!(lines.lines().last().unwrap().contains("\"delta_t\":5.0"));
    let store = Arc::new(FilesystemStore::new(&root).unwrap());
    let array = Array::open(store, "/0").unwrap();
    let data: Vec<u16> = array.retrieve_array_subset(&array.subset_all()).unwrap();
    for t in 0..6 {
        let want = if t < 5 { t as u16 + 1 } else { 0 };
        assert!(
            data[t * 12..(t + 1) * 12].iter().all(|&v| v == want),
            "{compression}: frame {t} lost"
        );
    }
}

fn bytemuck_bytes(v: &[u16]) -> &[u8] {
    bytemuck::cast_slice(v)
}

#[test]
fn a_durability_point_covers_frames_in_incomplete_chunks() {
    check("none");
    check("zstd");
    check("blosc-lz4");
}
