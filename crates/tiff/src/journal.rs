//! The per-frame metadata journal beside each TIFF file (`<file>`[`JOURNAL_SUFFIX`]):
//! one JSON line per frame that has metadata, `{"plane": n, "metadata": {...}}`,
//! appended as frames arrive and synced at every durability point, so the metadata of
//! every durable frame survives a crash. `finish` (and so `recover`) folds it into the
//! final OME-XML's `Plane` elements, then removes it. A torn last line (a crash during
//! an append) is skipped and counted.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use ome_writers_backend::FrameMetadata;
use serde::{Deserialize, Serialize};

use crate::ome::PlaneMeta;

/// Suffix of the per-frame metadata journal kept beside a TIFF file during the
/// acquisition (`run.ome.tiff.omew-journal`); it is removed when the file is final.
pub const JOURNAL_SUFFIX: &str = ".omew-journal";

/// The journal of the TIFF file at `tiff`.
pub(crate) fn journal_path(tiff: &Path) -> PathBuf {
    let mut name = tiff.as_os_str().to_owned();
    name.push(JOURNAL_SUFFIX);
    PathBuf::from(name)
}

#[derive(Serialize)]
struct LineOut<'a> {
    plane: u64,
    metadata: &'a FrameMetadata,
}

#[derive(Deserialize)]
struct LineIn {
    plane: u64,
    metadata: FrameMetadata,
}

/// One TIFF file's journal, opened on its first line.
#[derive(Debug)]
pub(crate) struct Journal {
    path: PathBuf,
    file: Option<File>,
    /// Appended since the last sync.
    dirty: bool,
    line: Vec<u8>,
}

impl Journal {
    /// The journal of the TIFF file at `tiff` (nothing is created yet).
    pub(crate) fn new(tiff: &Path) -> Self {
        Self {
            path: journal_path(tiff),
            file: None,
            dirty: false,
            line: Vec::new(),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Append the metadata of `plane`. Returns whether the file was created (its
    /// directory entry then needs a sync).
    pub(crate) fn append(&mut self, plane: u64, metadata: &FrameMetadata) -> io::Result<bool> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, &LineOut { plane, metadata })?;
        self.line.push(b'\n');
        let mut created = false;
        let file = match &mut self.file {
            Some(f) => f,
            None => {
                created = !self.path.exists();
                self.file.insert(
                    OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&self.path)?,
                )
            }
        };
        file.write_all(&self.line)?;
        self.dirty = true;
        Ok(created)
    }

    /// Close the handle (reopened by the next append or sync; nothing is lost).
    pub(crate) fn close(&mut self) {
        self.file = None;
    }

    /// Make every line appended durable.
    pub(crate) fn sync(&mut self) -> io::Result<()> {
        if !self.dirty {
            return Ok(());
        }
        match &self.file {
            Some(f) => f.sync_data()?,
            None => OpenOptions::new()
                .append(true)
                .open(&self.path)?
                .sync_data()?,
        }
        self.dirty = false;
        Ok(())
    }

    /// Remove the journal (its content is in the final OME-XML).
    pub(crate) fn remove(&mut self) -> io::Result<()> {
        self.file = None;
        remove_if_present(&self.path)
    }
}

/// Remove a file, if it is there.
pub(crate) fn remove_if_present(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The per-plane metadata a journal holds (none if it does not exist), and the number
/// of lines that could not be read (a torn last line).
pub(crate) fn read(path: &Path) -> io::Result<(BTreeMap<u64, PlaneMeta>, u64)> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((BTreeMap::new(), 0)),
        Err(e) => return Err(e),
    };
    let mut planes = BTreeMap::new();
    let mut unreadable = 0;
    for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        match serde_json::from_slice::<LineIn>(line) {
            Ok(l) => {
                if let Some(meta) = PlaneMeta::from_frame(&l.metadata) {
                    planes.insert(l.plane, meta);
                }
            }
            Err(_) => unreadable += 1,
        }
    }
    Ok((planes, unreadable))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_back_and_a_torn_one_is_counted() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let tiff = dir.path().join("a.ome.tiff");
        let mut j = Journal::new(&tiff);
        assert_eq!(j.path(), dir.path().join("a.ome.tiff.omew-journal"));
        let meta: FrameMetadata =
            serde_json::from_str(r#"{"delta_t": 1.5, "note": "x"}"#).unwrap_or_default();
        assert!(j.append(3, &meta).unwrap_or_else(|e| panic!("{e}")));
        j.close();
        assert!(!j.append(4, &meta).unwrap_or_else(|e| panic!("{e}")));
        j.sync().unwrap_or_else(|e| panic!("{e}"));
        let mut f = OpenOptions::new()
            .append(true)
            .open(j.path())
            .unwrap_or_else(|e| panic!("{e}"));
        f.write_all(b"{\"plane\": 5, \"meta")
            .unwrap_or_else(|e| panic!("{e}"));
        let (planes, unreadable) = read(j.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(planes.keys().copied().collect::<Vec<_>>(), [3, 4]);
        assert_eq!(unreadable, 1);
        j.remove().unwrap_or_else(|e| panic!("{e}"));
        assert!(!j.path().exists());
        assert_eq!(read(j.path()).map(|r| r.1).ok(), Some(0));
    }
}
