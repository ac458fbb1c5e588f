//! Filesystem helpers every disk backend needs: atomic, durable small-file writes,
//! writeback hints, directory syncs.

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::BackendError;

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
    fn atomic_write_replaces_content() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("zarr.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
