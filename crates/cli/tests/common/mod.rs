//! Helpers shared by the `omew` integration tests.

#![allow(dead_code, clippy::unwrap_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Run `omew` with `args`, feeding `stdin` (the writer may stop reading early; that is
/// part of some cases), and collect its output.
pub(crate) fn omew(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_omew"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(bytes) = stdin {
        let _ = input.write_all(bytes);
    }
    drop(input);
    child.wait_with_output().unwrap()
}

/// The interop venv's Python, or a loud skip (see ome-writers-test-support).
pub(crate) fn python() -> Option<PathBuf> {
    ome_writers_test_support::python()
}

/// A tmpfs mounted for the test, or a loud skip (ome-writers-test-support).
pub(crate) fn tmpfs(size: &str) -> Option<ome_writers_test_support::Tmpfs> {
    ome_writers_test_support::tmpfs(size)
}

/// Check datasets with the independent readers (crates/cli/tests/crash_check.py): each
/// job names a dataset and what it must hold.
pub(crate) fn check_with_readers(jobs: &[serde_json::Value], scratch: &Path) {
    let Some(py) = python() else {
        return;
    };
    let path = scratch.join("jobs.json");
    std::fs::write(&path, serde_json::to_string(jobs).unwrap()).unwrap();
    let out = Command::new(py)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/crash_check.py"))
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    print!("{stdout}");
    assert!(
        out.status.success(),
        "the readers found lost or torn frames:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
