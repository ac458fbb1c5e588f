//! The conformance suite: every case on every backend, read back by independent
//! readers (zarr-python and yaozarrs for OME-Zarr).
//!
//! Cases are data (cases.rs); each frame's pixels encode its frame number, and the
//! expected location of every frame comes from the router, so reading back proves
//! where each frame landed. The Python readers live in a virtual environment that
//! tests/python/setup_venv.sh creates (or `$OMEW_PYTHON`).

#![allow(unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

mod cases;
mod harness;
mod misuse;
mod oracle;
mod s3;
mod s3_faults;

use std::path::PathBuf;

use harness::{Outcome, check, python, run, scratch_expect, tiff_expect, zarr_expect};

#[test]
fn zarr_conformance_read_back_by_zarr_python_and_yaozarrs() {
    let dir = tempfile::tempdir().unwrap();
    let mut expects: Vec<PathBuf> = Vec::new();
    let mut failures = Vec::new();
    let cases = cases::cases();
    for case in &cases {
        let root = dir.path().join(format!("{}.ome.zarr", case.name));
        match run(case, &root, false) {
            Ok(Some(ran)) => {
                let path = dir.path().join(format!("{}.expect.json", case.name));
                std::fs::write(&path, zarr_expect(&ran, &root).to_string()).unwrap();
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
    read_back(
        "check_zarr.py",
        &expects,
        "zarr cases read back exactly by zarr-python and validated by yaozarrs",
    );
}

#[test]
fn tiff_conformance_read_back_by_tifffile_and_the_ome_xsd() {
    let dir = tempfile::tempdir().unwrap();
    let mut expects: Vec<PathBuf> = Vec::new();
    let mut failures = Vec::new();
    let mut refused = Vec::new();
    for case in &cases::cases() {
        let root = dir.path().join(format!("{}.ome.tiff", case.name));
        match run(case, &root, true) {
            Ok(Some(ran)) => {
                let path = dir.path().join(format!("{}.tiff-expect.json", case.name));
                std::fs::write(&path, tiff_expect(&ran, &root).to_string()).unwrap();
                expects.push(path);
            }
            Ok(None) => refused.push(case.name),
            Err(e) => failures.push(format!("{}: {e}", case.name)),
        }
    }
    assert!(
        failures.is_empty(),
        "cases failed:\n{}",
        failures.join("\n")
    );
    // Only zarr-specific cases may be refused (compression codecs TIFF lacks, custom axes).
    for name in &refused {
        assert!(
            [
                "blosc_zstd",
                "blosc_lz4_level_1",
                "zstd",
                "sharding_zstd_with_skips"
            ]
            .contains(name),
            "the tiff backend refused {name}"
        );
    }
    read_back(
        "check_tiff.py",
        &expects,
        "tiff cases read back exactly by tifffile, OME-XML valid against the XSD",
    );
}

#[test]
fn scratch_conformance_read_back_by_numpy() {
    let dir = tempfile::tempdir().unwrap();
    let mut expects: Vec<PathBuf> = Vec::new();
    let mut failures = Vec::new();
    let mut refused = Vec::new();
    for case in &cases::cases() {
        let root = dir.path().join(format!("{}_scratch", case.name));
        let mut case_scratch = harness::Case {
            name: case.name,
            settings: case.settings.clone(),
            script: case.script,
            outcome: case.outcome,
        };
        case_scratch.settings["format"] = serde_json::json!("scratch");
        match run(&case_scratch, &root, true) {
            Ok(Some(ran)) => {
                let shape = ran.schema.array_shape(None);
                let g = ran.schema.growth_axis();
                let shape = if g == Some(0) {
                    let mut s = ran.shape.clone();
                    s[0] = s[0].max(1);
                    s
                } else if g.is_some() {
                    shape
                } else {
                    ran.shape.clone()
                };
                let path = dir
                    .path()
                    .join(format!("{}.scratch-expect.json", case.name));
                std::fs::write(&path, scratch_expect(&ran, &root, &shape).to_string()).unwrap();
                expects.push(path);
            }
            Ok(None) => refused.push(case.name),
            Err(e) => failures.push(format!("{}: {e}", case.name)),
        }
    }
    assert!(
        failures.is_empty(),
        "cases failed:\n{}",
        failures.join("\n")
    );
    eprintln!("scratch refused: {refused:?}");
    read_back(
        "check_scratch.py",
        &expects,
        "scratch cases read back exactly by numpy (np.memmap and np.fromfile)",
    );
}

/// Run a Python checker over every EXPECT file; every one must pass. Without the venv
/// the read-back is skipped with a message, except under CI where it is required.
fn read_back(script: &str, expects: &[PathBuf], what: &str) {
    let Some(py) = python() else {
        return;
    };
    let out = check(&py, script, expects).unwrap_or_else(|e| panic!("{e}"));
    let oks = out.lines().filter(|l| l.starts_with("ok ")).count();
    assert_eq!(oks, expects.len(), "{out}");
    eprintln!("{oks} {what}");
}
