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
//!
//! Made to scale with the positions: `zarr.json` documents of a durability point are
//! written as one batch (temporary files, then one durability step, then the renames),
//! and more than [`SYNCFS_MIN`] files to make durable at once take one `syncfs` rather
//! than an fsync each; at most [`MAX_OPEN_JOURNALS`] journals are held open (each
//! entry is still written as it arrives), so a dataset of many positions does not run
//! out of file descriptors. The root directory's (device, inode) is
//! recorded when the store makes it and checked at every sync and before any metadata
//! goes into place ([`DirStore::check_root`]): a dataset directory removed or replaced
//! under the writer is an error, and the foreign directory is never described.

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

use crate::names::{PARTIAL_SUFFIX, TMP_SUFFIX, ZARR_JSON, hidden};

#[derive(Default)]
struct State {
    /// Files written since the last sync.
    dirty_files: Vec<PathBuf>,
    /// Directories that gained entries since the last sync.
    dirty_dirs: HashSet<PathBuf>,
    /// Directories known to exist.
    known_dirs: HashSet<PathBuf>,
    /// The first failure, kept with its path for a precise error.
    last_error: Option<BackendError>,
    /// Open journals (append-only files), at most [`MAX_OPEN_JOURNALS`].
    journals: HashMap<PathBuf, fs::File>,
    /// Journals appended to since the last sync (made durable by it).
    journals_dirty: HashSet<PathBuf>,
    /// The root directory's (device, inode), recorded when the store made it.
    root_id: Option<(u64, u64)>,
    /// While a metadata batch is open: `zarr.json` documents written under their
    /// temporary name, to be made durable and renamed into place together.
    batch: Option<Batch>,
    /// The space reserve, while it exists.
    reserve: Option<PathBuf>,
}

/// Name of the space reserve in the root directory (see [`DirStore::reserve`]).
pub(crate) use crate::names::RESERVE;

/// An open metadata batch: documents in the order written (arrays before their
/// groups, so renames keep that order), each once.
#[derive(Default)]
struct Batch {
    docs: Vec<(PathBuf, PathBuf)>,
    seen: HashSet<PathBuf>,
}

/// Files at least this large are written directly (around the page cache) when their
/// bytes are page-aligned: below it, the synchronous device round trip of a direct
/// write costs more than the copy it saves.
const DIRECT_MIN_BYTES: usize = 256 << 10;

/// More files and directories than this to make durable at once, and one `syncfs` of
/// the store's filesystem replaces the fsync of each (Linux): thousands of fsyncs
/// (a dataset of thousands of positions) took minutes, one `syncfs` takes one journal
/// commit.
const SYNCFS_MIN: usize = 64;

/// Most journals held open at once: with more positions, the least recently opened is
/// closed (it is still synced at the next durability point, by path).
const MAX_OPEN_JOURNALS: usize = 64;

/// A write-only filesystem store (see the module docs).
pub struct DirStore {
    root: PathBuf,
    state: Mutex<State>,
    /// Large chunk files go to the disk directly (`O_DIRECT`) until the filesystem
    /// refuses it once.
    direct: AtomicBool,
}

/// A directory's (device, inode), where the platform has them.
#[cfg_attr(unix, allow(clippy::unnecessary_wraps))]
fn identity(meta: &fs::Metadata) -> Option<(u64, u64)> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some((meta.dev(), meta.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        None
    }
}

fn is_metadata_key(key: &str) -> bool {
    key == "zarr.json" || key.ends_with("/zarr.json")
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

    /// The root is still the directory this store made: not removed, not replaced by
    /// another directory (its device and inode unchanged). Checked at every sync and
    /// before any metadata is renamed into place, so that a foreign directory is never
    /// described as this dataset.
    pub fn check_root(&self) -> Result<(), BackendError> {
        let Some(id) = self.lock().root_id else {
            return Ok(());
        };
        let replaced = |how| BackendError::Replaced {
            path: self.root.clone(),
            how,
        };
        match fs::symlink_metadata(&self.root) {
            Ok(m) if m.is_dir() && identity(&m) == Some(id) => Ok(()),
            Ok(_) => Err(replaced("replaced by another directory")),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(replaced("removed")),
            Err(e) => Err(BackendError::io(&self.root, e)),
        }
    }

    fn ensure_dir(&self, dir: &Path) -> std::io::Result<()> {
        if self.lock().known_dirs.contains(dir) {
            return Ok(());
        }
        // Once made, the root is never made again: if it vanished or was replaced
        // during the acquisition, writing on would leave a dataset whose metadata
        // claims frames that are gone, or write into someone else's directory.
        if let Err(e) = self.check_root() {
            let msg = e.to_string();
            self.keep_error(e);
            return Err(std::io::Error::new(std::io::ErrorKind::NotFound, msg));
        }
        fs::create_dir_all(dir)?;
        let mut st = self.lock();
        if st.root_id.is_none() {
            st.root_id = fs::symlink_metadata(&self.root)
                .ok()
                .as_ref()
                .and_then(identity);
        }
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

    fn keep_error(&self, e: BackendError) {
        let mut st = self.lock();
        if st.last_error.is_none() {
            st.last_error = Some(e);
        }
    }

    fn record_error(&self, path: &Path, e: &std::io::Error) {
        // A file missing its directory: the dataset directory may have been swapped
        // (the typed error says so rather than naming the file).
        if e.kind() == std::io::ErrorKind::NotFound
            && let Err(replaced) = self.check_root()
        {
            self.keep_error(replaced);
            return;
        }
        self.keep_error(BackendError::io(
            path,
            std::io::Error::new(e.kind(), e.to_string()),
        ));
    }

    /// The first failure seen, as a typed error naming the file.
    pub fn take_error(&self) -> Option<BackendError> {
        self.lock().last_error.take()
    }

    /// Append to the journal file at `key` (created on first use), at once: a killed
    /// writer leaves every entry appended (durable at the next [`sync`](Self::sync)).
    pub fn append(&self, key: &str, value: &[u8]) -> Result<(), BackendError> {
        let path = self.root.join(key);
        let mut st = self.lock();
        if !st.journals.contains_key(&path) {
            drop(st);
            let dir = path.parent().unwrap_or(&self.root).to_owned();
            self.ensure_dir(&dir).map_err(|e| {
                self.take_error()
                    .unwrap_or_else(|| BackendError::io(&dir, e))
            })?;
            let f = fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(|e| BackendError::io(&path, e))?;
            st = self.lock();
            if st.journals.len() >= MAX_OPEN_JOURNALS
                && let Some(old) = st.journals.keys().next().cloned()
            {
                st.journals.remove(&old);
            }
            st.dirty_dirs.insert(dir);
            st.journals.insert(path.clone(), f);
        }
        st.journals_dirty.insert(path.clone());
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
        {
            let mut st = self.lock();
            st.journals.remove(&path);
            st.journals_dirty.remove(&path);
        }
        match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(BackendError::io(&path, e)),
            _ => Ok(()),
        }
    }

    /// One `syncfs` of the filesystem holding the root (Linux). `Ok(false)`: the
    /// caller syncs file by file instead: elsewhere, or when `syncfs` reports an error
    /// (it reports the writeback errors of every file on the filesystem, other
    /// programs' included; file by file, only ours count).
    fn sync_filesystem(&self) -> Result<bool, BackendError> {
        #[cfg(target_os = "linux")]
        {
            let root = fs::File::open(&self.root).map_err(|e| BackendError::io(&self.root, e))?;
            Ok(rustix::fs::syncfs(&root).is_ok())
        }
        #[cfg(not(target_os = "linux"))]
        Ok(false)
    }

    /// Make every file written since the last call durable (files and the journals
    /// appended to fsynced, then their directories; or one `syncfs` when there are
    /// many). Fails if the root was removed or replaced.
    pub fn sync(&self) -> Result<(), BackendError> {
        self.sync_files().map_err(|e| self.classify(e))
    }

    /// A file or directory that went missing under a swapped root is the swap, said
    /// as such (the race: the root checked, then swapped, then a path under it used).
    fn classify(&self, e: BackendError) -> BackendError {
        match &e {
            BackendError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                self.check_root().err().unwrap_or(e)
            }
            _ => e,
        }
    }

    fn sync_files(&self) -> Result<(), BackendError> {
        self.check_root()?;
        let (files, dirs) = {
            let mut st = self.lock();
            let mut files = std::mem::take(&mut st.dirty_files);
            files.extend(st.journals_dirty.drain());
            (files, std::mem::take(&mut st.dirty_dirs))
        };
        if files.len() + dirs.len() > SYNCFS_MIN && self.sync_filesystem()? {
            return Ok(());
        }
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

    /// Set `bytes` of disk space aside in the root directory (a file of zeros): the
    /// final metadata of an acquisition that filled the disk is written in the space
    /// [`release_reserve`](Self::release_reserve) frees, so that it can say `failed`.
    pub fn reserve(&self, bytes: usize) -> Result<(), BackendError> {
        self.ensure_dir(&self.root).map_err(|e| {
            self.take_error()
                .unwrap_or_else(|| BackendError::io(&self.root, e))
        })?;
        let path = self.root.join(RESERVE);
        fs::write(&path, vec![0u8; bytes]).map_err(|e| BackendError::io(&path, e))?;
        self.lock().reserve = Some(path);
        Ok(())
    }

    /// Delete the space reserve (at finish, before the final metadata).
    pub fn release_reserve(&self) {
        if let Some(path) = self.lock().reserve.take() {
            let _ = fs::remove_file(path);
        }
    }

    /// Open a metadata batch: every `zarr.json` written until
    /// [`commit_metadata`](Self::commit_metadata) goes to its temporary name, and the
    /// commit makes them all durable and renames them into place together.
    pub fn begin_metadata(&self) {
        self.lock().batch = Some(Batch::default());
    }

    /// Close the batch: make the documents durable (fsync each, or one `syncfs` for
    /// many), rename each into place, make the renames durable. Fails, renaming
    /// nothing, if the root was removed or replaced.
    pub fn commit_metadata(&self) -> Result<(), BackendError> {
        let docs = self.lock().batch.take().unwrap_or_default().docs;
        let result = self.commit(&docs).map_err(|e| self.classify(e));
        if result.is_err() {
            for (tmp, _) in &docs {
                let _ = fs::remove_file(tmp);
            }
        }
        result
    }

    /// Close the batch, removing its documents unrenamed.
    pub fn discard_metadata(&self) {
        let docs = self.lock().batch.take().unwrap_or_default().docs;
        for (tmp, _) in &docs {
            let _ = fs::remove_file(tmp);
        }
    }

    fn commit(&self, docs: &[(PathBuf, PathBuf)]) -> Result<(), BackendError> {
        self.check_root()?;
        let many = docs.len() > SYNCFS_MIN && self.sync_filesystem()?;
        if !many {
            for (tmp, _) in docs {
                fs::File::open(tmp)
                    .and_then(|f| f.sync_all())
                    .map_err(|e| BackendError::io(tmp, e))?;
            }
        }
        self.check_root()?;
        let mut dirs = std::collections::BTreeSet::new();
        for (tmp, path) in docs {
            fs::rename(tmp, path).map_err(|e| BackendError::io(path, e))?;
            dirs.insert(path.parent().unwrap_or(&self.root).to_owned());
        }
        if !(many && self.sync_filesystem()?) {
            for d in &dirs {
                sync_dir(d)?;
            }
        }
        Ok(())
    }

    /// A `zarr.json`: replaced atomically now, or written under its temporary name
    /// for the open batch.
    fn write_metadata_file(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let in_batch = self.lock().batch.is_some();
        if !in_batch {
            return write_atomic(path, bytes).map_err(|e| match e {
                BackendError::Io { source, .. } => source,
                other => std::io::Error::other(other.to_string()),
            });
        }
        let dir = path.parent().unwrap_or(&self.root);
        // The temporary name write_atomic uses too (one name for stale files).
        let tmp = dir.join(hidden(ZARR_JSON, TMP_SUFFIX));
        fs::write(&tmp, bytes)?;
        let mut st = self.lock();
        if let Some(batch) = st.batch.as_mut()
            && batch.seen.insert(tmp.clone())
        {
            batch.docs.push((tmp, path.to_owned()));
        }
        Ok(())
    }

    /// Write a whole file, atomically for `zarr.json`; `direct`: around the page cache
    /// when the file is large, its bytes page-aligned and the filesystem willing.
    fn write_file(&self, key: &str, parts: &[&[u8]], direct: bool) -> std::io::Result<()> {
        let path = self.root.join(key);
        let dir = path.parent().unwrap_or(&self.root).to_owned();
        self.ensure_dir(&dir)?;
        if is_metadata_key(key) {
            return self.write_metadata_file(&path, &parts.concat());
        }
        // Written under a temporary name and renamed: a reader (or a crash) sees the
        // whole chunk or none of it, never a torn one.
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(hidden(&name, PARTIAL_SUFFIX));
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
