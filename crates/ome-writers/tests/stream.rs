//! Stream behaviour: bad frames refused with named errors, backpressure bounded by the
//! queue, writer failures surfaced without deadlock, and a dropped stream finalized.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{Receiver, bounded};
use ome_writers::{
    Backend, BackendError, FrameMetadata, Progress, Schema, StreamError, StreamOptions,
    create_stream, create_stream_with, create_stream_with_backend, error_chain, frame_metadata,
};
use ome_writers_backend::Summary;
use ome_writers_schema::{PositionIndex, StorageIndex};
use serde_json::json;

fn schema(root: &Path, dims: &str, dtype: &str) -> Schema {
    Schema::from_json(&format!(
        r#"{{"root_path": {root:?}, "dtype": "{dtype}", "dimensions": {dims}}}"#
    ))
    .unwrap()
}

const TC: &str = r#"[{"name": "t", "count": 3}, {"name": "c", "count": 2}, {"name": "y", "count": 4}, {"name": "x", "count": 5}]"#;

/// A test double: waits for a permit before each write, fails or panics on request.
struct Double {
    permits: Option<Receiver<()>>,
    fail_at: Option<u64>,
    panic_at: Option<u64>,
    written: Arc<Mutex<Vec<Vec<u64>>>>,
}

impl Backend for Double {
    fn write(
        &mut self,
        _: PositionIndex,
        index: &StorageIndex,
        _: &[u8],
        _: Option<&FrameMetadata>,
    ) -> Result<(), BackendError> {
        if let Some(p) = &self.permits {
            let _ = p.recv();
        }
        let n = self.written.lock().unwrap().len() as u64;
        if self.fail_at == Some(n) {
            return Err(BackendError::io(
                "/dev/full",
                std::io::Error::from(std::io::ErrorKind::StorageFull),
            ));
        }
        assert!(self.panic_at != Some(n), "backend bug at frame {n}");
        self.written.lock().unwrap().push(index.as_slice().to_vec());
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

fn double() -> (Double, Arc<Mutex<Vec<Vec<u64>>>>) {
    let written = Arc::new(Mutex::new(Vec::new()));
    (
        Double {
            permits: None,
            fail_at: None,
            panic_at: None,
            written: written.clone(),
        },
        written,
    )
}

#[test]
fn wrong_frames_are_refused_with_expected_and_got() {
    let dir = tempfile::tempdir().unwrap();
    let s = schema(&dir.path().join("a.ome.zarr"), TC, "uint16");
    let mut stream = create_stream(&s).unwrap();
    let e = stream.append(&[0u8; 20]).unwrap_err();
    assert!(matches!(e, StreamError::FrameDtype { .. }), "{e}");
    assert_eq!(e.to_string(), "frame dtype: expected uint16, got uint8");
    let e = stream.append(&[0u16; 19]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "frame shape: expected [4, 5] (20 pixels), got 19 pixels"
    );
    let e = stream.append_bytes(&[0u8; 39], None).unwrap_err();
    assert!(e.to_string().contains("(40 bytes), got 39 bytes"), "{e}");
    let e = stream
        .append_array(ndarray::Array2::<u16>::zeros((5, 4)).view())
        .unwrap_err();
    assert!(matches!(e, StreamError::FrameShape { .. }), "{e}");
    let e = frame_metadata(json!([1, 2])).unwrap_err();
    assert!(matches!(e, StreamError::Metadata { .. }), "{e}");
    let reserved = frame_metadata(json!({"storage_index": [0]})).unwrap();
    let e = stream
        .append_with_metadata(&[0u16; 20], reserved.clone())
        .unwrap_err();
    assert!(matches!(e, StreamError::ReservedMetadataKey { .. }), "{e}");
    let e = stream
        .try_append_with_metadata(&[0u16; 20], reserved.clone())
        .unwrap_err();
    assert!(matches!(e, StreamError::ReservedMetadataKey { .. }), "{e}");
    let t = ndarray::Array2::<u16>::zeros((5, 4));
    let e = stream
        .append_array_with_metadata(t.t(), reserved)
        .unwrap_err();
    assert!(matches!(e, StreamError::ReservedMetadataKey { .. }), "{e}");
    // None of those consumed a frame: six good frames still fit exactly.
    let t = ndarray::Array2::<u16>::from_shape_fn((5, 4), |(i, j)| (i * 4 + j) as u16);
    stream.append_array(t.t()).unwrap(); // a non-contiguous view
    for _ in 0..5 {
        stream.append(&[1u16; 20]).unwrap();
    }
    let e = stream.append(&[1u16; 20]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "too many frames: frame 6 is past the end of the acquisition (6 frames)"
    );
    let summary = stream.finish().unwrap();
    assert_eq!(summary.frames_written, 6);
    assert!(summary.complete);
}

#[test]
fn the_queue_is_bounded_and_try_append_hands_the_frame_back() {
    // Buffers made at creation, or as the queue grows (the allocator thread).
    queue_bound(true);
    queue_bound(false);
}

fn queue_bound(preallocate: bool) {
    let dir = tempfile::tempdir().unwrap();
    let s = schema(&dir.path().join("q.ome.zarr"), TC, "uint16");
    let (mut d, written) = double();
    let (permit_tx, permit_rx) = bounded(100);
    d.permits = Some(permit_rx);
    let opts = StreamOptions::default()
        .with_queue_bytes(3 * s.frame_bytes())
        .with_preallocate(preallocate);
    let mut stream = create_stream_with_backend(&s, Box::new(d), &opts).unwrap();
    for _ in 0..3 {
        stream.try_append(&[1u16; 20]).unwrap();
    }
    // Three buffers in flight (one held by the blocked writer): the fourth is refused.
    let e = stream.try_append(&[1u16; 20]).unwrap_err();
    assert!(matches!(e, StreamError::QueueFull), "{e}");
    // Waiting a while does not help either: the frame is handed back after it.
    let bytes: Vec<u8> = [1u16; 20].iter().flat_map(|v| v.to_le_bytes()).collect();
    let e = stream
        .append_bytes_timeout(&bytes, None, Duration::from_millis(20))
        .unwrap_err();
    assert!(matches!(e, StreamError::QueueFull), "{e}");
    let e = stream
        .append_bytes_timeout(&bytes[..38], None, Duration::from_millis(20))
        .unwrap_err();
    assert!(matches!(e, StreamError::FrameShape { .. }), "{e}");
    for _ in 0..6 {
        permit_tx.send(()).unwrap();
    }
    // Once the writer drains, appends go through again; nothing was lost or reordered.
    stream
        .append_bytes_timeout(&bytes, None, Duration::from_mins(1))
        .unwrap();
    for _ in 0..2 {
        stream.append(&[1u16; 20]).unwrap();
    }
    let summary = stream.finish().unwrap();
    assert_eq!(summary.frames_written, 6);
    assert_eq!(written.lock().unwrap().len(), 6);
    assert_eq!(written.lock().unwrap()[3], vec![1, 1]);
}

#[test]
fn a_writer_error_comes_back_on_the_next_append_or_finish() {
    let dir = tempfile::tempdir().unwrap();
    let s = schema(&dir.path().join("e.ome.zarr"), TC, "uint16");
    let (mut d, _) = double();
    d.fail_at = Some(2);
    let mut stream = create_stream_with_backend(
        &s,
        Box::new(d),
        &StreamOptions::default().with_queue_bytes(1),
    )
    .unwrap();
    let mut error = None;
    for _ in 0..6 {
        if let Err(e) = stream.append(&[1u16; 20]) {
            error = Some(e);
            break;
        }
    }
    let finished = stream.finish();
    let e = match error {
        Some(e) => {
            // finish() does not pretend all went well.
            let later = finished.unwrap_err();
            assert!(
                matches!(later, StreamError::FailedEarlier { .. }),
                "{later}"
            );
            e
        }
        None => finished.unwrap_err(),
    };
    assert!(e.is_disk_full(), "{e}");
    assert!(error_chain(&e).contains("/dev/full"), "{e}");
}

#[test]
fn a_panicking_backend_is_an_error_not_a_deadlock() {
    let dir = tempfile::tempdir().unwrap();
    let s = schema(&dir.path().join("p.ome.zarr"), TC, "uint16");
    let (mut d, _) = double();
    d.panic_at = Some(1);
    let (done_tx, done_rx) = bounded(1);
    std::thread::spawn(move || {
        let mut stream = create_stream_with_backend(
            &s,
            Box::new(d),
            &StreamOptions::default().with_queue_bytes(1),
        )
        .unwrap();
        let mut first_error = None;
        for _ in 0..6 {
            if let Err(e) = stream.append(&[1u16; 20]) {
                first_error = Some(e);
                break;
            }
        }
        let e = first_error.unwrap_or_else(|| stream.finish().unwrap_err());
        done_tx.send(e.to_string()).unwrap();
    });
    let msg = done_rx
        .recv_timeout(Duration::from_secs(20))
        .expect("deadlocked");
    assert!(
        msg.contains("panicked") && msg.contains("backend bug at frame 1"),
        "{msg}"
    );
}

#[test]
fn a_dropped_stream_leaves_a_finalized_readable_dataset() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("d.ome.zarr");
    let s = schema(&root, TC, "uint16");
    {
        let mut stream = create_stream(&s).unwrap();
        for _ in 0..3 {
            stream.append(&[9u16; 20]).unwrap();
        }
        // dropped without finish(): t=0 complete, t=1 has c=0 only
    }
    let array: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("0/zarr.json")).unwrap()).unwrap();
    assert_eq!(array["shape"], json!([2, 2, 4, 5]));
    let group: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("zarr.json")).unwrap()).unwrap();
    assert_eq!(group["attributes"]["ome_writers"]["status"], "partial");
    assert_eq!(group["attributes"]["ome_writers"]["frames_written"], 3);
    // Read back with zarrs: the missing plane (t=1, c=1) is the fill value.
    let store = Arc::new(zarrs::filesystem::FilesystemStore::new(&root).unwrap());
    let arr = zarrs::array::Array::open(store, "/0").unwrap();
    let data: Vec<u16> = arr.retrieve_array_subset(&arr.subset_all()).unwrap();
    assert!(data[..60].iter().all(|&v| v == 9));
    assert!(data[60..].iter().all(|&v| v == 0));
}

#[test]
fn an_existing_output_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("o.ome.zarr");
    let s = schema(&root, TC, "uint16");
    let mut stream = create_stream(&s).unwrap();
    stream.append(&[5u16; 20]).unwrap();
    stream.finish().unwrap();
    let before = std::fs::read(root.join("zarr.json")).unwrap();
    let e = create_stream(&s).err().unwrap();
    assert!(error_chain(&e).contains("already exists"), "{e}");
    assert_eq!(std::fs::read(root.join("zarr.json")).unwrap(), before);
}

#[test]
fn omero_local_without_a_data_dir_is_refused_without_touching_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let s = Schema::from_json(
        r#"{"root_path": "omero://dataset/7", "format": {"name": "omero_local", "data_dir": "/OMERO"},
            "dtype": "uint8", "dimensions": [{"name": "y", "count": 2}, {"name": "x", "count": 2}]}"#,
    )
    .unwrap();
    // The same schema after a serialization round trip selects the same backend.
    let again: Schema = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
    for schema in [&s, &again] {
        let e = create_stream_with(schema, &StreamOptions::default())
            .err()
            .unwrap();
        // No OMERO data directory here: refused at creation, naming it.
        let msg = error_chain(&e);
        assert!(
            msg.contains("omero_local") && msg.contains("/OMERO"),
            "{msg}"
        );
    }
    assert!(!Path::new("omero:").exists() && !Path::new("/omero").exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn pooled_buffers_are_appended_without_a_copy_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("b.ome.zarr");
    let s = schema(&root, TC, "uint16");
    let mut stream = create_stream(&s).unwrap();
    for n in 0..6u16 {
        let mut buf = stream.next_buffer().unwrap();
        assert!(buf.pixels_mut::<u8>().is_err(), "wrong pixel type refused");
        buf.pixels_mut::<u16>().unwrap().fill(n + 1);
        let meta = frame_metadata(json!({"n": n})).unwrap();
        stream.append_buffer(buf, Some(meta)).unwrap();
    }
    let buf = stream.next_buffer().unwrap();
    let e = stream.append_buffer(buf, None).unwrap_err();
    assert!(matches!(e, StreamError::TooManyFrames { .. }), "{e}");
    stream.finish().unwrap();
    let store = Arc::new(zarrs::filesystem::FilesystemStore::new(&root).unwrap());
    let arr = zarrs::array::Array::open(store, "/0").unwrap();
    let data: Vec<u16> = arr.retrieve_array_subset(&arr.subset_all()).unwrap();
    for (i, chunk) in data.chunks(20).enumerate() {
        assert!(chunk.iter().all(|&v| v == i as u16 + 1), "frame {i}");
    }
}

#[test]
fn a_buffer_dropped_without_being_appended_returns_to_the_pool() {
    dropped_buffer(true);
    dropped_buffer(false);
}

fn dropped_buffer(preallocate: bool) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("d.ome.zarr");
    let s = schema(&root, TC, "uint16");
    // Room for one frame only: a lost buffer would leave the pool empty for good.
    let opts = StreamOptions::default()
        .with_queue_bytes(s.frame_bytes())
        .with_preallocate(preallocate);
    let (done_tx, done_rx) = bounded(1);
    std::thread::spawn(move || {
        let mut stream = create_stream_with(&s, &opts).unwrap();
        for _ in 0..3 {
            drop(stream.next_buffer().unwrap());
        }
        let mut buf = stream.next_buffer().unwrap();
        buf.pixels_mut::<u16>().unwrap().fill(7);
        stream.append_buffer(buf, None).unwrap();
        let summary = stream.finish().unwrap();
        done_tx.send(summary.frames_written).unwrap();
    });
    let written = done_rx
        .recv_timeout(std::time::Duration::from_mins(1))
        .expect("next_buffer waits forever for a buffer the caller dropped");
    assert_eq!(written, 1);
}
