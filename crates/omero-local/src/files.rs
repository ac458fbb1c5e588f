//! Opening the files the reader reads: only regular files (symbolic links followed).
//!
//! A FIFO where a pixel file is expected would block the open forever, a device
//! (`/dev/zero`) would never end, a directory fails obscurely; each is refused with
//! [`OmeroLocalError::NotRegularFile`] naming the path. The file is opened without
//! blocking (`O_NONBLOCK`) and its type checked on the open descriptor, so a FIFO
//! swapped in after a check cannot block either.

use std::fs::{File, FileType, Metadata};
use std::io::Read;
use std::path::Path;

use crate::OmeroLocalError;

/// The largest JSON metadata document read (`zarr.json`, `.zattrs`, `.zarray`): 256 MiB.
pub const MAX_METADATA_BYTES: u64 = 256 << 20;

/// What a file that is not a regular file is.
pub(crate) fn kind(t: FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_char_device() {
            return "a character device";
        }
    }
    if t.is_dir() {
        "a directory"
    } else if t.is_file() {
        "a regular file"
    } else {
        "not a regular file"
    }
}

fn regular(path: &Path, meta: Metadata) -> Result<Metadata, OmeroLocalError> {
    if meta.is_file() {
        Ok(meta)
    } else {
        Err(OmeroLocalError::NotRegularFile {
            path: path.to_owned(),
            found: kind(meta.file_type()),
        })
    }
}

/// Open `path` for reading if it is a regular file (after following symbolic links);
/// returns the file and its metadata.
pub(crate) fn open_regular(path: &Path) -> Result<(File, Metadata), OmeroLocalError> {
    #[cfg(unix)]
    let file = {
        use rustix::fs::{Mode, OFlags};
        let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = rustix::fs::open(path, flags, Mode::empty())
            .map_err(|e| OmeroLocalError::io(path, e.into()))?;
        File::from(fd)
    };
    #[cfg(not(unix))]
    let file = {
        check_regular(path)?;
        File::open(path).map_err(|e| OmeroLocalError::io(path, e))?
    };
    let meta = file.metadata().map_err(|e| OmeroLocalError::io(path, e))?;
    Ok((file, regular(path, meta)?))
}

/// `Ok(true)` for a regular file, `Ok(false)` when nothing is there, an error for
/// anything else (FIFO, device, directory, unreadable).
pub(crate) fn check_regular(path: &Path) -> Result<bool, OmeroLocalError> {
    match std::fs::metadata(path) {
        Ok(meta) => regular(path, meta).map(|_| true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(OmeroLocalError::io(path, e)),
    }
}

/// The bytes of a small regular file (at most `limit` bytes); `None` when it does not
/// exist.
pub(crate) fn read_small(path: &Path, limit: u64) -> Result<Option<Vec<u8>>, OmeroLocalError> {
    if !check_regular(path)? {
        return Ok(None);
    }
    let (file, meta) = open_regular(path)?;
    if meta.len() > limit {
        return Err(OmeroLocalError::TooLarge {
            path: path.to_owned(),
            size: meta.len(),
            limit,
        });
    }
    let mut bytes = Vec::new();
    // `take`: a file that grows after the check is still read only up to the limit.
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| OmeroLocalError::io(path, e))?;
    if bytes.len() as u64 > limit {
        return Err(OmeroLocalError::TooLarge {
            path: path.to_owned(),
            size: bytes.len() as u64,
            limit,
        });
    }
    Ok(Some(bytes))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_are_opened() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, b"{}").unwrap();
        assert!(open_regular(&file).is_ok());
        assert_eq!(read_small(&file, 2).unwrap().unwrap(), b"{}");
        let e = read_small(&file, 1).unwrap_err().to_string();
        assert!(e.contains("2 bytes") && e.contains("limit of 1"), "{e}");
        assert!(read_small(&dir.path().join("none"), 9).unwrap().is_none());
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        for (path, found) in [
            (fifo.as_path(), "a FIFO"),
            (dir.path(), "a directory"),
            (Path::new("/dev/zero"), "a character device"),
        ] {
            for e in [
                open_regular(path).map(|_| ()).unwrap_err(),
                check_regular(path).map(|_| ()).unwrap_err(),
            ] {
                assert!(
                    matches!(&e, OmeroLocalError::NotRegularFile { path: p, found: f }
                        if p == path && *f == found),
                    "{e}"
                );
                assert!(e.to_string().contains("expected a regular file"), "{e}");
            }
        }
    }
}
