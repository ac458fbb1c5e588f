//! The conformance cases on object storage: every zarr case written to a real S3
//! server (s3s-fs on 127.0.0.1, ome-writers-test-support) and read back over the S3
//! protocol by zarr-python through s3fs, pixel-exact, the store validated by yaozarrs.

use std::path::PathBuf;

use ome_writers::{S3Options, StreamOptions};
use ome_writers_test_support::s3::{ACCESS_KEY, BUCKET, S3Server, SECRET_KEY};

use crate::harness::{Outcome, check_env, python, run_at, zarr_expect_at};

/// Stream options that reach `server`.
pub fn options(server: &S3Server) -> StreamOptions {
    StreamOptions::default().with_s3(
        S3Options::default()
            .with_endpoint(server.endpoint())
            .with_credentials(ACCESS_KEY, SECRET_KEY)
            .with_region("us-east-1"),
    )
}

#[test]
fn zarr_conformance_on_s3_read_back_by_zarr_python_over_s3fs() {
    let server = S3Server::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut expects: Vec<PathBuf> = Vec::new();
    let mut failures = Vec::new();
    for case in &crate::cases::cases() {
        let root = format!("s3://{BUCKET}/conformance/{}.ome.zarr", case.name);
        let nothing = || None;
        match run_at(case, &root, options(&server), false, &nothing) {
            Ok(Some(ran)) => {
                let path = dir.path().join(format!("{}.expect.json", case.name));
                std::fs::write(&path, zarr_expect_at(&ran, &root).to_string()).unwrap();
                expects.push(path);
            }
            Ok(None) => assert_eq!(case.outcome, Outcome::CreateRefused),
            Err(e) => failures.push(format!("{}: {e}", case.name)),
        }
    }
    assert!(
        failures.is_empty(),
        "cases failed:\n{}",
        failures.join("\n")
    );
    let Some(py) = python() else {
        return;
    };
    let out = check_env(&py, "check_zarr.py", &expects, &server.python_env())
        .unwrap_or_else(|e| panic!("{e}"));
    let oks = out.lines().filter(|l| l.starts_with("ok ")).count();
    assert_eq!(oks, expects.len(), "{out}");
    eprintln!("{oks} zarr cases on S3 read back exactly by zarr-python over s3fs, yaozarrs-valid");
}
