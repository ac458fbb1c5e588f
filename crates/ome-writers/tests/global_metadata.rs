//! `Stream::set_global_metadata`: checked on the caller's thread (namespace, JSON
//! object), applied by the writer thread (a backend error becomes the stream's error),
//! and `ome_writers::set_global_metadata` after finish (omero_local refused). The
//! formats' own read-back (zarr-python, tifffile, ome-types) is tested in their crates
//! and end to end through `omew write --global-metadata` in crates/cli/tests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use ome_writers::{
    Backend, BackendError, FrameMetadata, Progress, Schema, StreamError, StreamOptions, Summary,
    create_stream, create_stream_with_backend, set_global_metadata,
};
use ome_writers_schema::{PositionIndex, StorageIndex};
use serde_json::{Value, json};

fn schema(dir: &std::path::Path, name: &str) -> Schema {
    Schema::from_json(&format!(
        r#"{{"root_path": {:?}, "dtype": "uint8", "dimensions": [
            {{"name": "t", "count": 2}}, {{"name": "y", "count": 2}}, {{"name": "x", "count": 2}}]}}"#,
        dir.join(name)
    ))
    .unwrap()
}

fn root_attrs(path: &std::path::Path) -> Value {
    let doc: Value =
        serde_json::from_slice(&std::fs::read(path.join("zarr.json")).unwrap()).unwrap();
    doc["attributes"].clone()
}

#[test]
fn bad_namespaces_and_values_are_refused_on_the_callers_thread() {
    let dir = tempfile::tempdir().unwrap();
    let mut stream = create_stream(&schema(dir.path(), "a.ome.zarr")).unwrap();
    for ns in ["ome", "ome_writers", ""] {
        let e = stream.set_global_metadata(ns, json!({})).unwrap_err();
        assert!(matches!(e, StreamError::GlobalNamespace(_)), "{e:?}");
        assert!(e.to_string().contains(&format!("{ns:?}")), "{e}");
    }
    for (value, kind) in [
        (json!([1]), "an array"),
        (json!("s"), "a string"),
        (json!(null), "null"),
    ] {
        let e = stream.set_global_metadata("ns", value).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("global metadata \"ns\" must be a JSON object, got {kind}")
        );
    }
    // Nothing was queued: the stream carries on and writes none of it.
    stream.set_global_metadata("ok", json!({"k": 1})).unwrap();
    stream.append(&[1u8; 4]).unwrap();
    stream.append(&[2u8; 4]).unwrap();
    stream.finish().unwrap();
    let attrs = root_attrs(&dir.path().join("a.ome.zarr"));
    let keys: Vec<&String> = attrs.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["ome", "ome_writers", "ok"]);
}

#[test]
fn set_on_the_stream_then_after_finish() {
    let dir = tempfile::tempdir().unwrap();
    let schema = schema(dir.path(), "b.ome.zarr");
    let mut stream = create_stream(&schema).unwrap();
    stream
        .set_global_metadata("ns", json!({"first": 1}))
        .unwrap();
    stream.append(&[1u8; 4]).unwrap();
    stream
        .set_global_metadata("ns", json!({"second": 2}))
        .unwrap();
    stream.append(&[2u8; 4]).unwrap();
    stream.finish().unwrap();
    let root = dir.path().join("b.ome.zarr");
    assert_eq!(root_attrs(&root)["ns"], json!({"second": 2}));
    set_global_metadata(&schema, "after", &json!({"x": [1]})).unwrap();
    assert_eq!(root_attrs(&root)["after"], json!({"x": [1]}));
    let e = set_global_metadata(&schema, "ome", &json!({})).unwrap_err();
    assert!(matches!(e, StreamError::GlobalNamespace(_)), "{e:?}");
}

#[test]
fn after_finish_an_omero_target_is_unsupported() {
    let schema = Schema::from_json(
        r#"{"root_path": "omero://dataset/7", "dtype": "uint8", "format": "omero_local",
            "dimensions": [{"name": "y", "count": 2}, {"name": "x", "count": 2}]}"#,
    );
    let Ok(schema) = schema else {
        panic!("omero_local settings: {schema:?}");
    };
    let e = set_global_metadata(&schema, "ns", &json!({})).unwrap_err();
    assert!(
        ome_writers::error_chain(&e).contains("registered with OMERO"),
        "{e}"
    );
}

/// A backend without global metadata (the trait's default refuses).
struct NoGlobal;

impl Backend for NoGlobal {
    fn write(
        &mut self,
        _: PositionIndex,
        _: &StorageIndex,
        _: &[u8],
        _: Option<&FrameMetadata>,
    ) -> Result<(), BackendError> {
        Ok(())
    }
    fn flush(&mut self) -> Result<(), BackendError> {
        Ok(())
    }
    fn finalize(&mut self, p: &Progress) -> Result<Summary, BackendError> {
        Ok(Summary {
            frames_written: p.frames_written,
            ..Summary::default()
        })
    }
}

#[test]
fn a_backend_error_becomes_the_streams_error() {
    let dir = tempfile::tempdir().unwrap();
    let schema = schema(dir.path(), "c.ome.zarr");
    let mut stream =
        create_stream_with_backend(&schema, Box::new(NoGlobal), &StreamOptions::default()).unwrap();
    stream.set_global_metadata("ns", json!({})).unwrap();
    let e = stream.finish().unwrap_err();
    let chain = ome_writers::error_chain(&e);
    assert!(chain.contains("setting global metadata \"ns\""), "{chain}");
}
