//! The medium a BigTIFF is written to: [`TiffSink`], implemented for files and for
//! in-memory buffers, and [`PathFile`], the file by path that the multi-file backend
//! closes and reopens.

use std::fs::{File, OpenOptions};
use std::io::{self, Cursor, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use ome_writers_backend::start_writeback;

/// Where an OME-TIFF is written: anything that can be written and sought, with two
/// provided hooks for what a file needs beyond that.
///
/// Implemented for [`File`] (durable with `sync_data`, writeback started with
/// `posix_fadvise` on Linux), for `Cursor<Vec<u8>>` and `Cursor<&mut Vec<u8>>` (in
/// memory, where both hooks do nothing beyond `flush`), and easily for any other
/// medium: only [`Write`] and [`Seek`] are required.
pub trait TiffSink: Write + Seek + Send {
    /// Make everything written so far durable; the writer calls it at its durability
    /// points (the final OME-XML is made durable before IFD 0 points at it). Defaults
    /// to [`flush`](Write::flush).
    fn sync(&mut self) -> io::Result<()> {
        self.flush()
    }

    /// A hint that the `len` bytes from `offset` are final and their writeback to
    /// storage may start now. Defaults to nothing.
    fn start_writeback(&mut self, offset: u64, len: u64) {
        let _ = (offset, len);
    }
}

impl TiffSink for File {
    fn sync(&mut self) -> io::Result<()> {
        self.sync_data()
    }

    fn start_writeback(&mut self, offset: u64, len: u64) {
        start_writeback(self, offset, Some(len));
    }
}

impl TiffSink for Cursor<Vec<u8>> {}

impl TiffSink for Cursor<&mut Vec<u8>> {}

impl<S: TiffSink + ?Sized> TiffSink for &mut S {
    fn sync(&mut self) -> io::Result<()> {
        (**self).sync()
    }

    fn start_writeback(&mut self, offset: u64, len: u64) {
        (**self).start_writeback(offset, len);
    }
}

/// A file known by its path, whose handle may be closed (plates have more positions
/// than a process may hold open files) and is reopened, checked to be the same file,
/// on its next use.
#[derive(Debug)]
pub(crate) struct PathFile {
    path: PathBuf,
    file: Option<File>,
    /// The file's identity (device, inode) when it was opened, if the platform has one.
    id: Option<(u64, u64)>,
}

/// A file's identity: (device, inode) on Unix.
#[cfg(unix)]
#[allow(clippy::unnecessary_wraps)] // `None` on other platforms
fn file_id(meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

/// A file's identity: none known on this platform.
#[cfg(not(unix))]
fn file_id(_meta: &std::fs::Metadata) -> Option<(u64, u64)> {
    None
}

/// The error of a file that is no longer at its path.
fn vanished() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        "was removed or replaced during the acquisition",
    )
}

impl PathFile {
    /// Wrap a file just opened at `path`.
    pub(crate) fn new(path: &Path, file: File) -> io::Result<Self> {
        let id = file_id(&file.metadata()?);
        Ok(Self {
            path: path.to_owned(),
            file: Some(file),
            id,
        })
    }

    /// The file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the file handle is open.
    pub(crate) fn is_open(&self) -> bool {
        self.file.is_some()
    }

    /// Close the handle (it reopens on the next use).
    pub(crate) fn close(&mut self) {
        self.file = None;
    }

    /// Whether the file at the path is still the one opened (neither unlinked nor
    /// replaced by another file).
    pub(crate) fn is_in_place(&self) -> bool {
        match std::fs::metadata(&self.path) {
            Ok(meta) => self.id.is_none() || file_id(&meta) == self.id,
            Err(_) => false,
        }
    }

    /// The open handle, reopened by path if it was closed.
    pub(crate) fn handle(&mut self) -> io::Result<&mut File> {
        if self.file.is_none() {
            let file = OpenOptions::new().write(true).open(&self.path)?;
            // Reopened by path: it must still be our file, never a stranger put there.
            if self.id.is_some() && file_id(&file.metadata()?) != self.id {
                return Err(vanished());
            }
            self.file = Some(file);
        }
        // Just set when it was `None`.
        self.file
            .as_mut()
            .ok_or_else(|| io::Error::other("file handle unavailable"))
    }
}

impl Write for PathFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.handle()?.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.handle()?.write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.file {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl Seek for PathFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.handle()?.seek(pos)
    }
}

impl TiffSink for PathFile {
    fn sync(&mut self) -> io::Result<()> {
        self.handle()?.sync_data()
    }

    fn start_writeback(&mut self, offset: u64, len: u64) {
        if let Some(f) = &mut self.file {
            f.start_writeback(offset, len);
        }
    }
}
