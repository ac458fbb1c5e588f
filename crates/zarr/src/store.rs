//! A write-only directory store with a deliberate durability policy.
//!
//! zarrs' `FilesystemStore` fsyncs every chunk it writes, which halves throughput on a
//! real disk. This store writes chunk files plainly and remembers them; [`DirStore::sync`]
//! (called at every durability point and at finish) fsyncs them and their directories
//! before any metadata that refers to them is replaced. Every file is written under a
//! temporary name and renamed into place (`zarr.json` documents also fsynced first), so
//! a reader or a crash never sees a torn chunk or document. The store cannot read chunks
//! (only its own metadata journal): a read-modify-write is impossible.
//!
//! Two write paths, chosen by the caller: through the page cache with its writeback
//! started at once (the writer thread's raw chunks and shards: it cannot overlap its
//! own writes, and the kernel's asynchronous writeback does that for it), or around the
//! page cache (`O_DIRECT`, for the encoder threads' page-aligned output: no copy into
//! the page cache and no writeback work taking CPU from compression; the encoder pool
//! has more threads than cores to overlap the synchronous writes). A filesystem that
//! refuses direct I/O (tmpfs, some network filesystems) turns the second path into the
//! first for the rest of the store's life. Both are made durable by the same sync.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use ome_writers_backend::{
    BackendError, Direct, create_direct, start_writeback, sync_dir, write_atomic,
};
use zarrs::storage::{
    Bytes, OffsetBytesIterator, StorageError, StoreKey, StorePrefix, WritableStorageTraits,
};

#[derive(Default)]
struct State {
    /// Files written since the last sync.
    dirty_files: Vec<PathBuf>,
    /// Directories that gained entries since the last sync.
    dirty_dirs: HashSet<PathBuf>,
    /// Directories known to exist.
    known_dirs: HashSet<PathBuf>,
    /// The first I/O failure, kept with its path for a precise error.
    last_error: Option<(PathBuf, std::io::ErrorKind, String)>,
    /// Open journals (append-only files), synced at every `sync`.
    journals: HashMap<PathBuf, fs::File>,
}

/// Files at least this large are written directly (around the page cache) when their
/// bytes are page-aligned: below it, the synchronous device round trip of a direct
/// write costs more than the copy it saves.
const DIRECT_MIN_BYTES: usize = 256 << 10;

/// A write-only filesystem store (see the module docs).
pub struct DirStore {
    root: PathBuf,
    state: Mutex<State>,
    /// Large chunk files go to the disk directly (`O_DIRECT`) until the filesystem
    /// refuses it once.
    direct: AtomicBool,
}

impl DirStore {
    /// A store rooted at `root` (created on first write).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            state: Mutex::new(State::default()),
            direct: AtomicBool::new(cfg!(target_os = "linux")),
        }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn ensure_dir(&self, dir: &Path) -> std::io::Result<()> {
        if self.lock().known_dirs.contains(dir) {
            return Ok(());
        }
        // Once made, the root is never made again: if it vanished (removed during the
        // acquisition), recreating it would leave a dataset whose metadata claims
        // frames that are gone.
        if self.lock().known_dirs.contains(&self.root) && !self.root.is_dir() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "the dataset directory vanished during the acquisition",
            ));
        }
        fs::create_dir_all(dir)?;
        let mut st = self.lock();
        let mut d = Some(dir);
        while let Some(p) = d {
            if !st.known_dirs.insert(p.to_owned()) {
                break;
            }
            st.dirty_dirs.insert(p.to_owned());
            if p == self.root {
                break;
            }
            d = p.parent();
        }
        if let Some(parent) = self.root.parent() {
            st.dirty_dirs.insert(parent.to_owned());
        }
        Ok(())
    }

    fn record_error(&self, path: &Path, e: &std::io::Error) {
        let mut st = self.lock();
        if st.last_error.is_none() {
            st.last_error = Some((path.to_owned(), e.kind(), e.to_string()));
        }
    }

    /// The first I/O failure seen, as a typed error naming the file.
    pub fn take_error(&self) -> Option<BackendError> {
        self.lock()
            .last_error
            .take()
            .map(|(path, kind, msg)| BackendError::io(path, std::io::Error::new(kind, msg)))
    }

    /// Append to the journal file at `key` (created on first use).
    pub fn append(&self, key: &str, value: &[u8]) -> Result<(), BackendError> {
        let path = self.root.join(key);
        let mut st = self.lock();
        if !st.journals.contains_key(&path) {
            drop(st);
            let dir = path.parent().unwrap_or(&self.root).to_owned();
            self.ensure_dir(&dir)
                .map_err(|e| BackendError::io(&dir, e))?;
            let f = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| BackendError::io(&path, e))?;
            st = self.lock();
            st.dirty_dirs.insert(dir);
            st.journals.insert(path.clone(), f);
        }
        match st.journals.get_mut(&path) {
            Some(f) => f.write_all(value).map_err(|e| BackendError::io(&path, e)),
            None => Ok(()),
        }
    }

    /// The content of a journal.
    pub fn read_journal(&self, key: &str) -> Result<Vec<u8>, BackendError> {
        let path = self.root.join(key);
        fs::read(&path).map_err(|e| BackendError::io(&path, e))
    }

    /// Close and delete a journal.
    pub fn remove_journal(&self, key: &str) -> Result<(), BackendError> {
        let path = self.root.join(key);
        self.lock().journals.remove(&path);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(BackendError::io(&path, e)),
            _ => Ok(()),
        }
    }

    /// Make every file written since the last call durable (fsync files, then their
    /// directories).
    pub fn sync(&self) -> Result<(), BackendError> {
        {
            let st = self.lock();
            for (path, f) in &st.journals {
                f.sync_data().map_err(|e| BackendError::io(path, e))?;
            }
        }
        let (files, dirs) = {
            let mut st = self.lock();
            (
                std::mem::take(&mut st.dirty_files),
                std::mem::take(&mut st.dirty_dirs),
            )
        };
        for f in &files {
            match fs::File::open(f).and_then(|h| h.sync_data()) {
                Ok(()) => {}
                // A chunk erased after it was written (all fill value) is fine.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(BackendError::io(f, e)),
            }
        }
        let mut dirs: Vec<_> = dirs.into_iter().collect();
        dirs.sort();
        for d in dirs.iter().rev() {
            if d.exists() {
                sync_dir(d)?;
            }
        }
        Ok(())
    }

    /// Write a whole file, atomically for `zarr.json`; `direct`: around the page cache
    /// when the file is large, its bytes page-aligned and the filesystem willing.
    fn write_file(&self, key: &str, parts: &[&[u8]], direct: bool) -> std::io::Result<()> {
        let path = self.root.join(key);
        let dir = path.parent().unwrap_or(&self.root).to_owned();
        self.ensure_dir(&dir)?;
        if key == "zarr.json" || key.ends_with("/zarr.json") {
            return write_atomic(&path, &parts.concat()).map_err(|e| match e {
                BackendError::Io { source, .. } => source,
                other => std::io::Error::other(other.to_string()),
            });
        }
        // Written under a temporary name and renamed: a reader (or a crash) sees the
        // whole chunk or none of it, never a torn one.
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(".{name}.partial"));
        let total: usize = parts.iter().map(|p| p.len()).sum();
        if direct && total >= DIRECT_MIN_BYTES && self.direct.load(Ordering::Relaxed) {
            // No copy into the page cache and no writeback work left for the kernel:
            // the CPU stays with the encoders. Durable at the next sync, as below.
            match create_direct(&tmp, parts).and_then(|d| match d {
                Direct::Written(_) => fs::rename(&tmp, &path).map(|()| true),
                Direct::Refused => {
                    self.direct.store(false, Ordering::Relaxed);
                    Ok(false)
                }
                Direct::NotSuitable => Ok(false),
            }) {
                Ok(true) => {
                    self.mark_dirty(path, dir);
                    return Ok(());
                }
                Ok(false) => {}
                Err(e) => {
                    let _ = fs::remove_file(&tmp);
                    return Err(e);
                }
            }
        }
        let written = fs::File::create(&tmp)
            .and_then(|mut f| {
                for part in parts {
                    f.write_all(part)?;
                }
                start_writeback(&f, 0, None);
                Ok(())
            })
            .and_then(|()| fs::rename(&tmp, &path));
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        self.mark_dirty(path, dir);
        Ok(())
    }

    fn mark_dirty(&self, file: PathBuf, dir: PathBuf) {
        let mut st = self.lock();
        st.dirty_files.push(file);
        st.dirty_dirs.insert(dir);
    }
}

impl DirStore {
    /// Write a value given in parts, back to back (no copy into `Bytes`), through the
    /// page cache, its writeback started at once.
    pub fn set_parts(&self, key: &StoreKey, parts: &[&[u8]]) -> Result<(), StorageError> {
        self.set_parts_with(key, parts, false)
    }

    /// [`set_parts`](Self::set_parts), but written around the page cache when the
    /// value is large and its first part page-aligned (`O_DIRECT`): for encoder
    /// threads, which would otherwise share their cores with the copy into the page
    /// cache and the kernel's writeback. A writer that cannot overlap its writes (one
    /// thread) is faster buffered.
    pub fn set_parts_direct(&self, key: &StoreKey, parts: &[&[u8]]) -> Result<(), StorageError> {
        self.set_parts_with(key, parts, true)
    }

    fn set_parts_with(
        &self,
        key: &StoreKey,
        parts: &[&[u8]],
        direct: bool,
    ) -> Result<(), StorageError> {
        self.write_file(key.as_str(), parts, direct).map_err(|e| {
            self.record_error(&self.root.join(key.as_str()), &e);
            StorageError::IOError(Arc::new(e))
        })
    }
}

impl WritableStorageTraits for DirStore {
    fn set(&self, key: &StoreKey, value: Bytes) -> Result<(), StorageError> {
        self.write_file(key.as_str(), &[&value], false)
            .map_err(|e| {
                self.record_error(&self.root.join(key.as_str()), &e);
                StorageError::IOError(Arc::new(e))
            })
    }

    fn set_partial_many(
        &self,
        key: &StoreKey,
        _offset_values: OffsetBytesIterator,
    ) -> Result<(), StorageError> {
        Err(StorageError::Unsupported(format!(
            "partial writes to {key} (the ome-writers store writes whole chunks only)"
        )))
    }

    fn erase(&self, key: &StoreKey) -> Result<(), StorageError> {
        let path = self.root.join(key.as_str());
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => {
                self.record_error(&path, &e);
                Err(StorageError::IOError(Arc::new(e)))
            }
        }
    }

    fn erase_prefix(&self, prefix: &StorePrefix) -> Result<(), StorageError> {
        let path = self.root.join(prefix.as_str());
        match fs::remove_dir_all(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StorageError::IOError(Arc::new(e))),
        }
    }

    fn supports_set_partial(&self) -> bool {
        false
    }
}
