//! Filesystem helpers every disk backend needs: refusing or replacing an existing
//! output safely, and atomic, durable small-file writes.

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::BackendError;

/// What a backend writes at its output path, so `overwrite` only ever removes a dataset
/// of that kind and nothing else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatasetKind {
    /// A directory with a `zarr.json` at its root.
    ZarrDirectory,
    /// A single `.ome.tif(f)` file.
    TiffFile,
    /// A directory that holds only `.ome.tif(f)` files and `.companion.ome` / `.ome`
    /// files.
    TiffDirectory,
}

/// Make `path` ready to be written: refuse if it exists and `overwrite` is false;
/// with `overwrite`, remove it only if it is a dataset of `kind`. Creates the parent
/// directory.
pub fn prepare_output(path: &Path, kind: DatasetKind, overwrite: bool) -> Result<(), BackendError> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(BackendError::io(path, e)),
        Ok(meta) => {
            if !overwrite {
                return Err(BackendError::Exists {
                    path: path.to_owned(),
                });
            }
            let refuse = |reason: &str| BackendError::RefuseOverwrite {
                path: path.to_owned(),
                reason: reason.to_owned(),
            };
            if meta.file_type().is_symlink() {
                return Err(refuse("it is a symbolic link"));
            }
            match kind {
                DatasetKind::ZarrDirectory => {
                    if !meta.is_dir() || !path.join("zarr.json").is_file() {
                        return Err(refuse(
                            "it is not a Zarr directory (no zarr.json at its root)",
                        ));
                    }
                    fs::remove_dir_all(path).map_err(|e| BackendError::io(path, e))?;
                }
                DatasetKind::TiffFile => {
                    if !meta.is_file() {
                        return Err(refuse("it is not a file"));
                    }
                    fs::remove_file(path).map_err(|e| BackendError::io(path, e))?;
                }
                DatasetKind::TiffDirectory => {
                    if !meta.is_dir() {
                        return Err(refuse("it is not a directory"));
                    }
                    let entries = fs::read_dir(path).map_err(|e| BackendError::io(path, e))?;
                    for entry in entries {
                        let entry = entry.map_err(|e| BackendError::io(path, e))?;
                        let name = entry.file_name().to_string_lossy().to_lowercase();
                        let ours = entry.file_type().is_ok_and(|t| t.is_file())
                            && [".ome.tif", ".ome.tiff", ".ome", ".ome.xml"]
                                .iter()
                                .any(|s| name.ends_with(s));
                        if !ours {
                            return Err(refuse(&format!(
                                "it holds {:?}, which is not an OME-TIFF file",
                                entry.file_name()
                            )));
                        }
                    }
                    fs::remove_dir_all(path).map_err(|e| BackendError::io(path, e))?;
                }
            }
        }
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|e| BackendError::io(parent, e))?;
    }
    Ok(())
}

/// Write `bytes` to `path` atomically and durably: a temporary file in the same
/// directory, fsync, rename over `path`, fsync the directory. Readers see the old or
/// the new content, never a torn file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), BackendError> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(BackendError::io(path, e));
    }
    sync_dir(dir)
}

/// Ask the kernel to start writing `len` bytes of `file` from `offset` (to the end
/// with `None`) back to the disk now, asynchronously, and to drop those pages from the
/// page cache once written (`posix_fadvise(DONTNEED)`): the next durability point finds
/// little left to do, and dirty pages do not pile up in memory. Advisory: failures are
/// ignored. Linux only.
pub fn start_writeback(file: &fs::File, offset: u64, len: Option<u64>) {
    #[cfg(target_os = "linux")]
    {
        let len = len.and_then(std::num::NonZeroU64::new);
        let _ = rustix::fs::fadvise(file, offset, len, rustix::fs::Advice::DontNeed);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (file, offset, len);
}

/// fsync a directory so that entries created or renamed in it survive a crash.
pub fn sync_dir(dir: &Path) -> Result<(), BackendError> {
    let d = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    fs::File::open(d)
        .and_then(|f| f.sync_all())
        .map_err(|e| BackendError::io(d, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn existing_output_is_refused_without_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.ome.zarr");
        fs::create_dir(&p).unwrap();
        assert!(matches!(
            prepare_output(&p, DatasetKind::ZarrDirectory, false),
            Err(BackendError::Exists { .. })
        ));
    }

    #[test]
    fn overwrite_never_removes_something_that_is_not_our_dataset() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("precious.ome.zarr");
        fs::create_dir(&p).unwrap();
        fs::write(p.join("thesis.docx"), b"years of work").unwrap();
        let err = prepare_output(&p, DatasetKind::ZarrDirectory, true).unwrap_err();
        assert!(matches!(err, BackendError::RefuseOverwrite { .. }), "{err}");
        assert!(p.join("thesis.docx").exists());

        let t = dir.path().join("set");
        fs::create_dir(&t).unwrap();
        fs::write(t.join("notes.txt"), b"x").unwrap();
        assert!(prepare_output(&t, DatasetKind::TiffDirectory, true).is_err());
        assert!(t.join("notes.txt").exists());
    }

    #[test]
    fn overwrite_replaces_our_dataset() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.ome.zarr");
        fs::create_dir(&p).unwrap();
        fs::write(p.join("zarr.json"), b"{}").unwrap();
        prepare_output(&p, DatasetKind::ZarrDirectory, true).unwrap();
        assert!(!p.exists());
    }

    #[test]
    fn atomic_write_replaces_content() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("zarr.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
