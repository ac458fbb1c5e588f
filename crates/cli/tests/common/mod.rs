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

/// The interop venv's Python: `$OMEW_PYTHON`, or tests/python/setup_venv.sh.
pub(crate) fn python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("OMEW_PYTHON").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new("bash")
        .arg(root.join("tests/python/setup_venv.sh"))
        .output()
        .ok()?;
    let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && !path.is_empty()).then(|| PathBuf::from(path))
}

/// Check datasets with the independent readers (crates/cli/tests/crash_check.py): each
/// job names a dataset and what it must hold. Without a venv the check is skipped,
/// except under CI, where that is a failure.
pub(crate) fn check_with_readers(jobs: &[serde_json::Value], scratch: &Path) {
    let Some(py) = python() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "the Python readers are required under CI"
        );
        println!("SKIP Python readers: no venv (tests/python/setup_venv.sh)");
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

/// A size-limited tmpfs, unmounted on drop.
pub(crate) struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    pub(crate) fn mount(size: &str) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
        }
        Ok(Self { dir })
    }
    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(self.dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount")
                .arg("-l")
                .arg(self.dir.path())
                .status();
        }
    }
}
