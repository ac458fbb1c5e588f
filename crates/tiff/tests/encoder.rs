//! The single-image `OmeTiffEncoder` over an in-memory buffer: its bytes read back
//! with the independent readers, and compared with what `TiffBackend` writes to a
//! file from the same frames (same OME-XML apart from UUIDs, same pixels).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::Cursor;
use std::path::Path;

use ome_writers_backend::{BackendError, Progress};
use ome_writers_router::FrameRouter;
use ome_writers_schema::{FrameNumber, Schema, StorageIndex};
use ome_writers_tiff::{OmeTiffEncoder, TiffError};
use serde_json::{Value, json};
use support::{Case, ExpectedFile, Written};

fn settings() -> Value {
    json!({"dtype": "uint16", "dimensions": [
        {"name": "t", "count": 2}, {"name": "c", "count": 2},
        {"name": "y", "count": 6}, {"name": "x", "count": 5}]})
}

fn schema(settings: &Value, root: &Path) -> Schema {
    let mut s = settings.clone();
    s["root_path"] = json!(root.to_string_lossy());
    Schema::from_json(&s.to_string()).unwrap()
}

/// Every frame of `schema` through the encoder into memory, finished as the router
/// says; returns the bytes.
fn encode(schema: &Schema) -> Vec<u8> {
    let router = FrameRouter::new(schema);
    let total = router.total().unwrap();
    let mut tiff = OmeTiffEncoder::new(Cursor::new(Vec::new()), schema).unwrap();
    for n in 0..total {
        let route = router.route(FrameNumber(n)).unwrap();
        let data = support::frame(schema.dtype(), n, schema.frame_shape());
        tiff.write_plane(&route.index, &data).unwrap();
    }
    let progress = Progress {
        frames_written: total,
        frames_reached: total,
        growth_extent: router.extent_reached(total),
        complete: true,
        ..Progress::default()
    };
    tiff.finish(&progress).unwrap().into_inner()
}

/// Every `urn:uuid:...` replaced by a placeholder.
fn without_uuids(xml: &str) -> String {
    let mut out = String::with_capacity(xml.len());
    let mut rest = xml;
    while let Some(i) = rest.find("urn:uuid:") {
        out.push_str(&rest[..i]);
        out.push_str("urn:uuid:UUID");
        rest = &rest[(i + 9 + 36).min(rest.len())..];
    }
    out.push_str(rest);
    out
}

#[test]
fn encoded_bytes_read_back_and_match_the_file_backend() {
    let root = tempfile::tempdir().unwrap();
    let (by_backend, by_encoder) = (root.path().join("backend"), root.path().join("encoder"));
    std::fs::create_dir(&by_backend).unwrap();
    std::fs::create_dir(&by_encoder).unwrap();
    let case = Case::new("encoder_tc_uint16", "TC", settings()).bioformats_pixels();
    let backend = support::write(&case, &by_backend);

    let path = by_encoder.join(case.root);
    let schema = schema(&case.settings, &path);
    std::fs::write(&path, encode(&schema)).unwrap();
    let encoded = Written {
        case: case.clone(),
        axes: backend.axes.clone(),
        schema,
        dir: by_encoder.clone(),
        files: vec![ExpectedFile {
            path: path.clone(),
            shape: backend.files[0].shape.clone(),
            frames: backend.files[0].frames.clone(),
        }],
        entry: path.clone(),
        xml_files: Vec::new(),
    };
    support::check_rust(&encoded);
    support::check_python(std::slice::from_ref(&encoded));
    support::check_bioformats(std::slice::from_ref(&encoded));

    let (pages_b, xml_b) = support::read_pages(&backend.files[0].path);
    let (pages_e, xml_e) = support::read_pages(&path);
    assert_eq!(pages_e, pages_b);
    assert_eq!(without_uuids(&xml_e), without_uuids(&xml_b));
    support::keep_if_asked(root);
}

#[test]
fn a_file_and_a_borrowed_buffer_are_media_too() {
    let dir = tempfile::tempdir().unwrap();
    let schema = schema(&settings(), &dir.path().join("f.ome.tiff"));
    let in_memory = encode(&schema);
    let path = dir.path().join("through-file.ome.tiff");
    let mut buffer = Vec::new();
    {
        let file = std::fs::File::create(&path).unwrap();
        let mut to_file = OmeTiffEncoder::new(file, &schema).unwrap();
        let mut to_buffer = OmeTiffEncoder::new(Cursor::new(&mut buffer), &schema).unwrap();
        let router = FrameRouter::new(&schema);
        for n in 0..4 {
            let route = router.route(FrameNumber(n)).unwrap();
            let data = support::frame(schema.dtype(), n, schema.frame_shape());
            to_file.write_plane(&route.index, &data).unwrap();
            to_buffer.write_plane(&route.index, &data).unwrap();
        }
        let progress = Progress {
            frames_written: 4,
            frames_reached: 4,
            growth_extent: 2,
            complete: true,
            ..Progress::default()
        };
        to_file.finish(&progress).unwrap();
        to_buffer.finish(&progress).unwrap();
    }
    let memory_path = dir.path().join("in-memory.ome.tiff");
    std::fs::write(&memory_path, &in_memory).unwrap();
    let buffer_path = dir.path().join("borrowed.ome.tiff");
    std::fs::write(&buffer_path, &buffer).unwrap();
    let (pages, xml) = support::read_pages(&memory_path);
    assert_eq!(pages.len(), 4);
    for other in [&path, &buffer_path] {
        let (p, x) = support::read_pages(other);
        assert_eq!(p, pages);
        assert_eq!(without_uuids(&x), without_uuids(&xml));
    }
}

fn tiff_error(e: &BackendError) -> &TiffError {
    match e {
        BackendError::Format { source, .. } => source.downcast_ref().unwrap(),
        other => panic!("not a format error: {other}"),
    }
}

#[test]
fn misuse_is_a_typed_error() {
    let schema = schema(&settings(), Path::new("m.ome.tiff"));
    let mut tiff = OmeTiffEncoder::new(Cursor::new(Vec::new()), &schema).unwrap();
    let at = |t, c| StorageIndex::new(&[t, c]).unwrap();
    let frame = vec![0u8; 60];
    let e = tiff.write_plane(&at(0, 0), &frame[..59]).unwrap_err();
    assert!(matches!(
        tiff_error(&e),
        TiffError::FrameSize {
            expected: 60,
            got: 59
        }
    ));
    for (t, c) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
        tiff.write_plane(&at(t, c), &frame).unwrap();
    }
    let e = tiff.write_plane(&at(2, 0), &frame).unwrap_err();
    assert!(matches!(tiff_error(&e), TiffError::IndexOutOfBounds { .. }));
    let e = tiff.write_plane(&at(1, 1), &frame).unwrap_err();
    assert!(matches!(
        tiff_error(&e),
        TiffError::OutOfOrder {
            plane: 3,
            written: 4,
            ..
        }
    ));
    assert_eq!(tiff.planes_written(), 4);
    // After an error the image is recorded as failed, and still readable.
    let bytes = tiff.finish(&Progress::default()).unwrap().into_inner();
    let xml = String::from_utf8_lossy(&bytes);
    assert!(xml.contains(r#"<M K="status">failed</M>"#));
}

#[test]
fn a_schema_of_several_images_is_refused() {
    for format in ["redundant", "companion-file"] {
        let settings = json!({"dtype": "uint8",
            "format": {"name": "ome-tiff", "multi_file_metadata": format},
            "dimensions": [
                {"name": "p", "type": "position", "coords": [{"name": "A"}, {"name": "B"}]},
                {"name": "y", "count": 2}, {"name": "x", "count": 2}]});
        let schema = schema(&settings, Path::new("several.ome.tiff"));
        let e = OmeTiffEncoder::new(Cursor::new(Vec::new()), &schema).unwrap_err();
        assert!(
            matches!(
                tiff_error(&e),
                TiffError::NotSingleImage { positions: 2, .. }
            ),
            "{e}"
        );
    }
}
