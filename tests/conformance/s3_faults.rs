//! Object storage under faults, on the local S3 server (s3s-fs): refused before the
//! first frame (wrong secret, missing bucket, OME-TIFF), injected 503s retried, the
//! server stopped mid-acquisition (a typed error; what the last durability point
//! described readable once it is back), overwrite that deletes only our objects, and
//! multipart uploads. Read back by zarr-python over s3fs (check_zarr.py).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ome_writers::{
    BackendError, S3Error, S3Options, Schema, StreamError, StreamOptions, create_stream_with,
    error_chain,
};
use ome_writers_test_support::s3::{ACCESS_KEY, BUCKET, S3Server};
use serde_json::{Value, json};

use crate::harness::{check_env, frame_bytes, python};
use crate::s3::options;

fn schema(root: &str, t: Option<u64>, yx: [u64; 2]) -> Schema {
    let settings = json!({
        "root_path": root, "dtype": "uint16", "overwrite": false,
        "dimensions": [
            {"name": "t", "count": t, "chunk_size": 1},
            {"name": "y", "count": yx[0]}, {"name": "x", "count": yx[1]}
        ]
    });
    Schema::from_json(&settings.to_string()).unwrap()
}

fn with_overwrite(root: &str, frames: u64) -> Schema {
    let settings = json!({
        "root_path": root, "dtype": "uint16", "overwrite": true,
        "dimensions": [
            {"name": "t", "count": frames, "chunk_size": 1},
            {"name": "y", "count": 8}, {"name": "x", "count": 6}
        ]
    });
    Schema::from_json(&settings.to_string()).unwrap()
}

/// An EXPECT document for check_zarr.py: a single [t, y, x] image whose frames
/// `0..frames` hold the pattern.
fn expect(dir: &Path, root: &str, frames: u64, yx: [u64; 2]) -> PathBuf {
    let doc = json!({
        "root": root, "dtype": "uint16", "layout": "image", "plate": null,
        "frame_metadata_count": null,
        "images": [{
            "group": "", "shape": [frames, yx[0], yx[1]],
            "dimension_names": ["t", "y", "x"], "chunks": [1, yx[0], yx[1]], "shards": null,
            "frames": (0..frames).map(|n| json!([[n], n])).collect::<Vec<Value>>(),
        }],
    });
    let path = dir.join(format!("{}.expect.json", root.rsplit('/').next().unwrap()));
    std::fs::write(&path, doc.to_string()).unwrap();
    path
}

fn read_back(server: &S3Server, expects: &[PathBuf]) {
    let Some(py) = python() else {
        return;
    };
    let out = check_env(&py, "check_zarr.py", expects, &server.python_env())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        out.lines().filter(|l| l.starts_with("ok ")).count(),
        expects.len(),
        "{out}"
    );
}

fn write_all(schema: &Schema, options: &StreamOptions, frames: u64) {
    let mut stream = create_stream_with(schema, options).unwrap();
    for n in 0..frames {
        stream.append_bytes(&frame_bytes(schema, n), None).unwrap();
    }
    stream.finish().unwrap();
}

/// The objects the server holds under `key` (its files, but s3s-fs's own sidecars).
fn objects(server: &S3Server, key: &str) -> Vec<String> {
    let root = server.root().join(BUCKET).join(key);
    let mut found = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if entry.file_type().unwrap().is_dir() {
                dirs.push(entry.path());
            } else {
                let rel = entry.path().strip_prefix(&root).unwrap().to_owned();
                found.push(rel.to_string_lossy().into_owned());
            }
        }
    }
    found.sort();
    found
}

fn create_error(schema: &Schema, options: &StreamOptions) -> String {
    match create_stream_with(schema, options) {
        Ok(_) => panic!("creation should have been refused"),
        Err(e) => error_chain(&e),
    }
}

#[test]
fn a_wrong_secret_and_a_missing_bucket_are_refused_before_the_first_frame() {
    let server = S3Server::start().unwrap();
    let root = format!("s3://{BUCKET}/refused/run.ome.zarr");
    let wrong = StreamOptions::default().with_s3(
        S3Options::default()
            .with_endpoint(server.endpoint())
            .with_credentials(ACCESS_KEY, "not-the-secret")
            .with_region("us-east-1")
            .with_retries(1, Duration::from_secs(2)),
    );
    let said = create_error(&schema(&root, Some(3), [8, 6]), &wrong);
    assert!(said.contains("refused the credentials"), "{said}");
    assert!(said.contains(&root), "{said}");
    assert!(objects(&server, "refused").is_empty());

    let missing = "s3://no-such-bucket/run.ome.zarr";
    let said = create_error(&schema(missing, Some(3), [8, 6]), &options(&server));
    assert!(said.contains("does not exist"), "{said}");
    assert!(said.contains("no-such-bucket"), "{said}");
}

#[test]
fn ome_tiff_and_other_schemes_are_refused_by_validation() {
    let tiff = json!({"root_path": format!("s3://{BUCKET}/run.ome.tiff"), "dtype": "uint8",
        "dimensions": [{"name": "y", "count": 4}, {"name": "x", "count": 4}]});
    let said = Schema::from_json(&tiff.to_string())
        .unwrap_err()
        .to_string();
    assert!(
        said.contains("OME-TIFF cannot be written to object storage"),
        "{said}"
    );
    for url in [
        "gs://bucket/run.ome.zarr",
        "http://host/run.ome.zarr",
        "az://c/run.ome.zarr",
    ] {
        let zarr = json!({"root_path": url, "dtype": "uint8",
            "dimensions": [{"name": "y", "count": 4}, {"name": "x", "count": 4}]});
        let said = Schema::from_json(&zarr.to_string())
            .unwrap_err()
            .to_string();
        assert!(
            said.contains("the only object storage is s3://"),
            "{url}: {said}"
        );
    }
}

#[test]
fn injected_503s_are_retried_and_the_dataset_is_whole() {
    let server = S3Server::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = format!("s3://{BUCKET}/retried/run.ome.zarr");
    // Fewer than the retries of one request (10), all on the first PUTs.
    server.inject_503(6);
    write_all(&schema(&root, Some(10), [8, 6]), &options(&server), 10);
    assert_eq!(server.faults_left(), 0, "every injected 503 was answered");
    read_back(&server, &[expect(dir.path(), &root, 10, [8, 6])]);
}

#[test]
fn large_chunks_go_as_multipart_uploads() {
    let server = S3Server::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = format!("s3://{BUCKET}/multipart/run.ome.zarr");
    let mut opts = options(&server);
    opts.s3 = opts.s3.with_multipart(5 << 20, 5 << 20);
    // 2048 x 2048 uint16: 8 MiB a chunk, two parts each.
    write_all(&schema(&root, Some(3), [2048, 2048]), &opts, 3);
    assert_eq!(server.parts_received(), 6);
    read_back(&server, &[expect(dir.path(), &root, 3, [2048, 2048])]);
}

/// Wait until the array's zarr.json on the server says `frames` along T.
fn wait_for_shape(server: &S3Server, key: &str, frames: u64) {
    let doc = server.root().join(BUCKET).join(key).join("0/zarr.json");
    let start = Instant::now();
    loop {
        let shape = std::fs::read(&doc)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .and_then(|v| v["shape"][0].as_u64());
        if shape == Some(frames) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_mins(1),
            "no durability point at {frames}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_server_stopped_mid_acquisition_is_a_typed_error_and_the_durable_frames_stay_readable() {
    let mut server = S3Server::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = "stopped/run.ome.zarr";
    let root = format!("s3://{BUCKET}/{key}");
    let schema = schema(&root, None, [8, 6]);
    let mut opts = options(&server).with_flush_every_frames(10);
    opts.s3 = opts
        .s3
        .with_retries(2, Duration::from_secs(2))
        .with_request_timeout(Duration::from_secs(2));
    let mut stream = create_stream_with(&schema, &opts).unwrap();
    for n in 0..20 {
        stream.append_bytes(&frame_bytes(&schema, n), None).unwrap();
    }
    wait_for_shape(&server, key, 20);
    server.stop();
    let start = Instant::now();
    let mut n = 20;
    let error = loop {
        match stream.append_bytes(&frame_bytes(&schema, n), None) {
            Ok(()) => n += 1,
            Err(e) => break e,
        }
        assert!(
            start.elapsed() < Duration::from_mins(2),
            "no error while the server is down"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    let said = error_chain(&error);
    let typed = match &error {
        StreamError::Write { source, .. } | StreamError::Flush(source) => source,
        other => panic!("not a write error: {said} ({other:?})"),
    };
    let BackendError::Backend { source, .. } = typed else {
        panic!("not the backend's own error: {said}");
    };
    let s3 = source.downcast_ref::<S3Error>().expect("an S3Error");
    assert!(
        matches!(s3, S3Error::Request { op: "upload", .. }),
        "{said}"
    );
    assert!(said.contains(key), "the error names the key: {said}");
    assert!(
        stream.finish().is_err(),
        "a failed acquisition never finishes as complete"
    );

    server.restart().unwrap();
    let root_doc = server.root().join(BUCKET).join(key).join("zarr.json");
    let status: Value = serde_json::from_slice(&std::fs::read(&root_doc).unwrap()).unwrap();
    assert_ne!(
        status["attributes"]["ome_writers"]["status"], "complete",
        "{status}"
    );
    read_back(&server, &[expect(dir.path(), &root, 20, [8, 6])]);

    // `omew repair` of the S3 dataset: counted from the chunks there, status partial.
    let url: ome_writers::S3Url = root.parse().unwrap();
    let report = ome_writers::recover_zarr_s3(&url, &opts.s3).unwrap();
    let counted = report.frames_counted;
    assert!((20..n).contains(&counted), "{report}");
    let status: Value = serde_json::from_slice(&std::fs::read(&root_doc).unwrap()).unwrap();
    assert_eq!(
        status["attributes"]["ome_writers"]["status"], "partial",
        "{status}"
    );
    read_back(&server, &[expect(dir.path(), &root, counted, [8, 6])]);
    let again = ome_writers::recover_zarr_s3(&url, &opts.s3).unwrap();
    assert!(
        again.nothing_to_repair.is_some(),
        "repair is idempotent: {again}"
    );
}

#[test]
fn overwrite_deletes_only_a_dataset_this_library_wrote() {
    let server = S3Server::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = "again/run.ome.zarr";
    let root = format!("s3://{BUCKET}/{key}");
    write_all(&schema(&root, Some(6), [8, 6]), &options(&server), 6);
    let said = create_error(&schema(&root, Some(6), [8, 6]), &options(&server));
    assert!(said.contains("already exists"), "{said}");

    // Replaced by a shorter acquisition: the old chunks are gone.
    write_all(&with_overwrite(&root, 3), &options(&server), 3);
    assert!(!objects(&server, key).iter().any(|o| o.starts_with("0/c/5")));
    read_back(&server, &[expect(dir.path(), &root, 3, [8, 6])]);

    // An object this library does not write under the prefix: refused, kept.
    let notes = server.root().join(BUCKET).join(key).join("notes.txt");
    std::fs::write(&notes, "mine").unwrap();
    let said = create_error(&with_overwrite(&root, 3), &options(&server));
    assert!(
        said.contains("refusing to overwrite") && said.contains("notes.txt"),
        "{said}"
    );
    assert_eq!(std::fs::read_to_string(&notes).unwrap(), "mine");
}

#[test]
fn a_live_view_reads_frames_back_from_the_bucket() {
    let mut server = S3Server::start().unwrap();
    let root = format!("s3://{BUCKET}/viewed/run.ome.zarr");
    let schema = schema(&root, Some(12), [8, 6]);
    let mut opts = options(&server).with_flush_every_frames(4);
    opts.s3 = opts.s3.with_retries(0, Duration::from_secs(1));
    let mut stream = create_stream_with(&schema, &opts).unwrap();
    let view = stream.view(true, false);
    let pattern =
        |n: u64| -> Vec<u16> { bytemuck::cast_slice::<u8, u16>(&frame_bytes(&schema, n)).to_vec() };
    let check = |n: u64| {
        let got = view
            .read::<u16>(&[ome_writers::Sel::Index(n as i64)])
            .unwrap();
        assert_eq!(
            got.iter().copied().collect::<Vec<_>>(),
            pattern(n),
            "frame {n}"
        );
    };
    for n in 0..12 {
        stream.append_bytes(&frame_bytes(&schema, n), None).unwrap();
        // Visible when append returns: from the cache, or from the bucket once the
        // durability point acknowledged its upload.
        check(n);
    }
    stream.finish().unwrap();
    // After finish every frame is read from the bucket (the cache holds none).
    for n in 0..12 {
        check(n);
    }
    // Proof that those reads went to the bucket: with the server down they fail.
    server.stop();
    assert!(view.read::<u16>(&[ome_writers::Sel::Index(0)]).is_err());
}
