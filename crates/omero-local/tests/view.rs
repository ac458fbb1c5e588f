//! The live-view reader of omero_local is the staging backend's: it reads planes
//! while the fileset is staged in `NAME.partial` and still after finish renamed it
//! to `NAME` (fake gateway).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{FakeGateway, frame, site, tree};
use ome_writers_backend::{Backend, PlaneReader, Progress};
use ome_writers_omero_local::{OmeroLocalBackend, OmeroLocalOptions, Registered};
use ome_writers_schema::{OmeroAddress, OmeroObject, PositionIndex, Schema, StorageIndex};
use serde_json::json;

fn read(reader: &dyn PlaneReader, p: usize, index: &[u64], bytes: usize) -> Option<Vec<u8>> {
    let mut out = vec![0xAAu8; bytes];
    let index = StorageIndex::new(index).unwrap();
    reader
        .read_plane(PositionIndex(p), &index, &mut out)
        .unwrap()
        .then_some(out)
}

fn check(container: &str, positions: usize) {
    let site = site();
    let coords: Vec<_> = (0..positions)
        .map(|i| json!({"name": format!("p{i}")}))
        .collect();
    let settings = json!({"root_path": "omero://dataset/7", "dtype": "uint16",
        "dimensions": [{"name": "t", "count": 2},
            {"name": "p", "type": "position", "coords": coords},
            {"name": "c", "count": 3}, {"name": "y", "count": 4}, {"name": "x", "count": 5}],
        "format": {"name": "omero_local", "data_dir": site.data_dir,
            "staging_dir": site.staging, "omero_executable": "/opt/omero/bin/omero",
            "container": container}});
    let schema = Schema::from_json(&settings.to_string()).unwrap();
    let gateway = FakeGateway {
        targets: vec![OmeroAddress {
            object: OmeroObject::Dataset,
            id: 7,
        }],
        import_result: Some(Registered {
            fileset: Some(31),
            images: (0..positions as u64).map(|i| 100 + i).collect(),
            plates: vec![],
        }),
        ..FakeGateway::default()
    };
    let mut backend =
        OmeroLocalBackend::create_with(&schema, &OmeroLocalOptions::default(), Box::new(gateway))
            .unwrap();
    let reader = backend.reader().expect("the staging backend's reader");
    let [h, w] = schema.frame_shape();
    let bytes = schema.frame_bytes();
    let px = |n: u64| frame(schema.dtype(), n, h, w);
    // Acquisition order t, p, c; storage index [t, c] in each position's image.
    let mut n = 0;
    for t in 0..2u64 {
        for p in 0..positions {
            for c in 0..3u64 {
                let index = StorageIndex::new(&[t, c]).unwrap();
                backend
                    .write(PositionIndex(p), &index, &px(n), None)
                    .unwrap();
                n += 1;
            }
        }
    }
    backend.flush().unwrap();
    assert_eq!(backend.frames_readable(), n, "{container}");
    let at = |t: u64, p: usize, c: u64| (t * positions as u64 + p as u64) * 3 + c;
    let planes = |when: &str| {
        for t in 0..2 {
            for p in 0..positions {
                for c in 0..3 {
                    assert_eq!(
                        read(&*reader, p, &[t, c], bytes),
                        Some(px(at(t, p, c))),
                        "{container} {when}: t={t} p={p} c={c}"
                    );
                }
            }
        }
    };
    planes("staged");
    assert!(tree(&site.staging).iter().any(|f| f.contains(".partial")));
    backend
        .finalize(&Progress {
            frames_written: n,
            frames_reached: n,
            growth_extent: 2,
            complete: true,
            ..Progress::default()
        })
        .unwrap();
    let staged = tree(&site.staging);
    assert!(!staged.iter().any(|f| f.contains(".partial")), "{staged:?}");
    assert_eq!(backend.frames_readable(), n);
    planes("after finish (renamed)");
}

#[test]
fn the_reader_reads_before_and_after_the_staging_folder_is_renamed() {
    check("ome-zarr", 1);
    check("ome-zarr", 2);
    check("ome-tiff", 1);
    check("ome-tiff", 2);
}
