//! [`ReadDir`]: a dataset directory held open for reading, for live views.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};

use crate::BackendError;

/// A directory opened once, read-only, its files opened relative to it (`openat`): a
/// rename of the directory or of any folder above it (omero_local renames its staging
/// folder at finish) does not disturb a reader holding it.
#[derive(Debug)]
pub struct ReadDir {
    dir: OwnedFd,
    /// The path it was opened at, for errors.
    path: PathBuf,
}

impl ReadDir {
    /// Open the directory at `path`.
    pub fn open(path: &Path) -> Result<Self, BackendError> {
        let dir = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| BackendError::io(path, e.into()))?;
        Ok(Self {
            dir,
            path: path.to_owned(),
        })
    }

    /// The path the directory was opened at.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Open the regular file `relative` (a relative path below the directory)
    /// read-only; `Ok(None)` when there is none. Errors do not name the path: the
    /// caller names it (`self.path().join(relative)`).
    pub fn open_file(&self, relative: &str) -> std::io::Result<Option<File>> {
        if relative.starts_with('/') {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "not a relative path",
            ));
        }
        let fd = match rustix::fs::openat(
            &self.dir,
            relative,
            OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT | rustix::io::Errno::NOTDIR) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let file = File::from(fd);
        if !file.metadata()?.is_file() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "not a regular file",
            ));
        }
        Ok(Some(file))
    }
}

#[cfg(test)]
mod tests {
    use super::ReadDir;

    #[test]
    fn files_stay_readable_after_the_directory_is_renamed() {
        let tmp = tempfile::tempdir().unwrap();
        let a = tmp.path().join("a.partial");
        std::fs::create_dir_all(a.join("sub")).unwrap();
        std::fs::write(a.join("sub/f"), b"x").unwrap();
        let dir = ReadDir::open(&a).unwrap();
        std::fs::rename(&a, tmp.path().join("a")).unwrap();
        assert!(dir.open_file("sub/f").unwrap().is_some());
        assert!(dir.open_file("sub/none").unwrap().is_none());
        assert!(dir.open_file("none/f").unwrap().is_none());
        assert!(dir.open_file("sub").is_err());
        assert!(dir.open_file("/etc/passwd").is_err());
    }
}
