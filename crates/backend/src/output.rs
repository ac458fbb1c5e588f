//! Taking an output path: one writer per output (an OS lock held for the stream's
//! life), and `overwrite` that removes only a dataset this library wrote, and only once
//! the new one is in place.
//!
//! The sequence, for an existing output with `overwrite`:
//! 1. lock the output (a sibling lock file, `flock`ed; a second writer fails at once);
//! 2. check that the existing output is ours: its metadata carries this library's
//!    marker ([`Ownership::check_marker`]) and every file in it is one this backend
//!    writes ([`Ownership::is_own_file`]); otherwise refuse, naming the foreign files;
//! 3. rename it aside (`.NAME.omew-replaced`, same directory, atomic);
//! 4. the backend creates the new dataset at the path and calls
//!    [`PreparedOutput::commit`], which deletes the old one. If creation fails (or the
//!    [`PreparedOutput`] is dropped uncommitted), what was created is removed and the
//!    old dataset is renamed back, intact.

use std::fs;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::BackendError;

/// How a backend recognises a dataset it wrote.
pub trait Ownership {
    /// Whether the output is a directory (zarr, multi-file TIFF) rather than one file.
    fn is_directory(&self) -> bool;
    /// `Ok` when the existing output at `path` carries this library's own metadata
    /// (zarr: `attributes.ome_writers`; TIFF: our `Creator`); else why not.
    fn check_marker(&self, path: &Path) -> Result<(), String>;
    /// Whether a regular file at `relative` inside a directory output is one this
    /// backend writes (metadata, chunks, journals, its temporary files).
    fn is_own_file(&self, relative: &Path) -> bool;
}

/// Suffix of the lock file beside an output: `.NAME.omew-lock`.
pub const LOCK_SUFFIX: &str = ".omew-lock";
/// Suffix of an old dataset moved aside during an overwrite: `.NAME.omew-replaced`.
pub const REPLACED_SUFFIX: &str = ".omew-replaced";
/// Most foreign files named in a refusal.
const NAMED_FOREIGN: usize = 5;

/// An output path taken by this process: locked, and free of an old dataset (moved
/// aside until [`commit`](Self::commit)).
#[derive(Debug)]
pub struct PreparedOutput {
    path: PathBuf,
    aside: Option<PathBuf>,
    lock: Option<OutputLock>,
}

impl PreparedOutput {
    /// The new dataset is in place: delete the old one (if any) and keep the lock for
    /// the stream's life. An old dataset that cannot be deleted entirely is left at
    /// its aside name and named in a warning; the new dataset is unaffected.
    #[must_use]
    pub fn commit(mut self) -> OutputLock {
        if let Some(aside) = self.aside.take()
            && let Err(e) = remove_any(&aside)
        {
            log::warn!(
                "{}: the new dataset is in place, but the old one could not be deleted \
                 entirely; what is left of it is at {}: {e}",
                self.path.display(),
                aside.display()
            );
        }
        self.lock.take().unwrap_or_else(OutputLock::none)
    }
}

impl Drop for PreparedOutput {
    fn drop(&mut self) {
        let Some(aside) = self.aside.take() else {
            return;
        };
        // Creation failed: remove what it made and put the old dataset back.
        if fs::symlink_metadata(&self.path).is_ok()
            && let Err(e) = remove_any(&self.path)
        {
            log::error!(
                "{}: could not remove the half-made new dataset ({e}); the old one is \
                 kept at {}",
                self.path.display(),
                aside.display()
            );
            return;
        }
        if let Err(e) = fs::rename(&aside, &self.path) {
            log::error!(
                "{}: could not move the old dataset back from {}: {e}",
                self.path.display(),
                aside.display()
            );
        }
    }
}

fn remove_any(path: &Path) -> std::io::Result<()> {
    if fs::symlink_metadata(path)?.is_dir() {
        fs::remove_dir_all(path)
    } else {
        fs::remove_file(path)
    }
}

/// A sibling of `path` named `.NAME<suffix>`.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}{suffix}"))
}

/// Take `path` for writing: lock it, refuse it if it exists and `overwrite` is false,
/// and with `overwrite` move aside an existing dataset only if `owner` recognises it
/// as ours (see the module docs). Creates the parent directory.
pub fn prepare_output(
    path: &Path,
    owner: &dyn Ownership,
    overwrite: bool,
) -> Result<PreparedOutput, BackendError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|e| BackendError::io(parent, e))?;
    }
    let lock = lock_output(path)?;
    let mut prepared = PreparedOutput {
        path: path.to_owned(),
        aside: None,
        lock: Some(lock),
    };
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(prepared),
        Err(e) => return Err(BackendError::io(path, e)),
        Ok(_) if !overwrite => {
            return Err(BackendError::Exists {
                path: path.to_owned(),
            });
        }
        Ok(meta) => check_ours(path, &meta, owner)?,
    }
    let aside = sibling(path, REPLACED_SUFFIX);
    if fs::symlink_metadata(&aside).is_ok() {
        return Err(BackendError::RefuseOverwrite {
            path: path.to_owned(),
            reason: format!(
                "{} is in the way (left by an earlier overwrite that was interrupted); \
                 remove it or move it back",
                aside.display()
            ),
        });
    }
    fs::rename(path, &aside).map_err(|e| BackendError::io(path, e))?;
    prepared.aside = Some(aside);
    Ok(prepared)
}

fn check_ours(path: &Path, meta: &fs::Metadata, owner: &dyn Ownership) -> Result<(), BackendError> {
    let refuse = |reason: String| BackendError::RefuseOverwrite {
        path: path.to_owned(),
        reason,
    };
    let ft = meta.file_type();
    if ft.is_symlink() {
        return Err(refuse("it is a symbolic link".to_owned()));
    }
    match (owner.is_directory(), ft.is_dir(), ft.is_file()) {
        (true, false, _) => return Err(refuse("it is not a directory".to_owned())),
        (false, _, false) => return Err(refuse("it is not a regular file".to_owned())),
        _ => {}
    }
    owner
        .check_marker(path)
        .map_err(|why| refuse(format!("it was not written by ome-writers-rs ({why})")))?;
    if owner.is_directory() {
        let foreign = foreign_files(path, owner)?;
        if !foreign.names.is_empty() {
            let more = foreign.count - foreign.names.len();
            return Err(refuse(format!(
                "it holds {} file(s) ome-writers-rs did not write: {}{}",
                foreign.count,
                foreign.names.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            )));
        }
    }
    Ok(())
}

struct Foreign {
    names: Vec<String>,
    count: usize,
}

/// Every entry under `root` that is not a directory or one of `owner`'s files.
fn foreign_files(root: &Path, owner: &dyn Ownership) -> Result<Foreign, BackendError> {
    let mut found = Foreign {
        names: Vec::new(),
        count: 0,
    };
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = root.join(&rel);
        for entry in fs::read_dir(&dir).map_err(|e| BackendError::io(&dir, e))? {
            let entry = entry.map_err(|e| BackendError::io(&dir, e))?;
            let child = rel.join(entry.file_name());
            let ft = entry
                .file_type()
                .map_err(|e| BackendError::io(entry.path(), e))?;
            if ft.is_dir() {
                stack.push(child);
            } else if !(ft.is_file() && owner.is_own_file(&child)) {
                found.count += 1;
                if found.names.len() < NAMED_FOREIGN {
                    found
                        .names
                        .push(format!("{:?}", child.display().to_string()));
                }
            }
        }
    }
    Ok(found)
}

/// An exclusive lock on an output path, held by this process until dropped (the OS
/// releases it if the process dies). The lock file, `.NAME.omew-lock` beside the
/// output, holds the pid of its holder and is removed when the lock is dropped.
#[derive(Debug)]
pub struct OutputLock {
    held: Option<(PathBuf, fs::File)>,
}

impl OutputLock {
    /// A lock that holds nothing (an output that is not on disk).
    #[must_use]
    pub fn none() -> Self {
        Self { held: None }
    }
}

impl Drop for OutputLock {
    fn drop(&mut self) {
        if let Some((path, file)) = self.held.take() {
            // Unlink only our own lock file (same inode), then release by closing.
            if same_file(&path, &file) {
                let _ = fs::remove_file(&path);
            }
            drop(file);
        }
    }
}

fn same_file(path: &Path, file: &fs::File) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (fs::metadata(path), file.metadata()) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (path, file);
        true
    }
}

/// Lock the output at `path` for this process, or fail at once with
/// [`BackendError::Locked`] when another writer (or `omew repair`) holds it.
pub fn lock_output(path: &Path) -> Result<OutputLock, BackendError> {
    let lock_path = sibling(path, LOCK_SUFFIX);
    // The holder removes the lock file when done; a lock taken on a file that was
    // removed meanwhile protects nothing, so retry on a fresh one.
    for _ in 0..8 {
        let mut file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(|e| BackendError::io(&lock_path, e))?;
        if !try_lock(&file) {
            let mut holder = String::new();
            let _ = Read::by_ref(&mut file).take(64).read_to_string(&mut holder);
            return Err(BackendError::Locked {
                path: path.to_owned(),
                holder: holder.trim().to_owned(),
            });
        }
        if same_file(&lock_path, &file) {
            let _ = file.set_len(0);
            let _ = file.rewind();
            let _ = write!(file, "pid {}", std::process::id());
            return Ok(OutputLock {
                held: Some((lock_path, file)),
            });
        }
    }
    Err(BackendError::Locked {
        path: path.to_owned(),
        holder: "the lock file keeps being replaced".to_owned(),
    })
}

#[cfg(unix)]
fn try_lock(file: &fs::File) -> bool {
    rustix::fs::flock(file, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_ok()
}

#[cfg(not(unix))]
fn try_lock(_: &fs::File) -> bool {
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A toy format: a directory with `marker` at its root; files ending `.dat` are ours.
    struct Toy;
    impl Ownership for Toy {
        fn is_directory(&self) -> bool {
            true
        }
        fn check_marker(&self, path: &Path) -> Result<(), String> {
            path.join("marker")
                .is_file()
                .then_some(())
                .ok_or_else(|| "no marker".to_owned())
        }
        fn is_own_file(&self, rel: &Path) -> bool {
            rel == Path::new("marker") || rel.extension().is_some_and(|e| e == "dat")
        }
    }

    fn toy_dataset(dir: &Path) -> PathBuf {
        let p = dir.join("a.toy");
        fs::create_dir_all(p.join("sub")).unwrap();
        fs::write(p.join("marker"), b"m").unwrap();
        fs::write(p.join("sub/0.dat"), b"old").unwrap();
        p
    }

    #[test]
    fn the_schema_leaves_room_for_the_names_kept_beside_an_output() {
        for suffix in [LOCK_SUFFIX, REPLACED_SUFFIX] {
            assert!(suffix.len() < ome_writers_schema::OUTPUT_SIBLING_BYTES);
        }
    }

    #[test]
    fn existing_output_is_refused_without_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let p = toy_dataset(dir.path());
        let err = prepare_output(&p, &Toy, false).unwrap_err();
        assert!(matches!(err, BackendError::Exists { .. }), "{err}");
        assert_eq!(fs::read(p.join("sub/0.dat")).unwrap(), b"old");
    }

    #[test]
    fn overwrite_refuses_foreign_files_and_names_them() {
        let dir = tempfile::tempdir().unwrap();
        let p = toy_dataset(dir.path());
        fs::write(p.join("sub/thesis.docx"), b"years of work").unwrap();
        let err = prepare_output(&p, &Toy, true).unwrap_err().to_string();
        assert!(err.contains("thesis.docx"), "{err}");
        assert_eq!(
            fs::read(p.join("sub/thesis.docx")).unwrap(),
            b"years of work"
        );
    }

    #[test]
    fn overwrite_refuses_a_dataset_without_our_marker() {
        let dir = tempfile::tempdir().unwrap();
        let p = toy_dataset(dir.path());
        fs::remove_file(p.join("marker")).unwrap();
        let err = prepare_output(&p, &Toy, true).unwrap_err().to_string();
        assert!(err.contains("no marker"), "{err}");
        assert!(p.join("sub/0.dat").exists());
    }

    #[test]
    fn a_failed_creation_puts_the_old_dataset_back() {
        let dir = tempfile::tempdir().unwrap();
        let p = toy_dataset(dir.path());
        let prepared = prepare_output(&p, &Toy, true).unwrap();
        assert!(!p.exists());
        fs::create_dir(&p).unwrap();
        fs::write(p.join("half"), b"new").unwrap();
        drop(prepared);
        assert_eq!(fs::read(p.join("sub/0.dat")).unwrap(), b"old");
        assert!(!p.join("half").exists());
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn commit_removes_the_old_dataset_and_the_lock_file_goes_with_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let p = toy_dataset(dir.path());
        let prepared = prepare_output(&p, &Toy, true).unwrap();
        fs::create_dir(&p).unwrap();
        let lock = prepared.commit();
        assert!(!sibling(&p, REPLACED_SUFFIX).exists());
        assert!(sibling(&p, LOCK_SUFFIX).exists());
        let err = lock_output(&p).unwrap_err().to_string();
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(lock);
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
        drop(lock_output(&p).unwrap());
    }
}
