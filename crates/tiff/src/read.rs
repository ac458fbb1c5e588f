//! Live views of a [`TiffBackend`](crate::TiffBackend): where each page's strip is
//! ([`Strips`], recorded as pages are written) and [`TiffReader`], which reads a
//! plane's strip back with its own read-only handle and decodes it.
//!
//! The writer never reads back; the reader reads on another thread. Pages are
//! written straight to the file (no user-space buffer) and never rewritten, and a
//! strip is recorded only once its page is written, so a recorded strip is whole for
//! any other handle. The record is shared under a lock held only to push or copy two
//! numbers, never across I/O. Files are opened relative to the dataset folder held
//! open ([`ReadDir`]): a plate's files closed and reopened by the writer, or the
//! folder renamed (omero_local's staging folder at finish), do not disturb it.

use std::io::Read;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use ome_writers_backend::{BackendError, PlaneReader, ReadDir, UsageError};
use ome_writers_schema::{PositionIndex, StorageIndex};

use crate::error::TiffError;
use crate::plan::{Codec, Plan};

/// One file's strips, `(offset, byte count)` per IFD number, as written.
#[derive(Debug, Default)]
pub(crate) struct Strips(RwLock<Vec<(u64, u64)>>);

impl Strips {
    pub(crate) fn push(&self, at: u64, len: u64) {
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push((at, len));
    }

    fn get(&self, page: u64) -> Option<(u64, u64)> {
        let pages = self.0.read().unwrap_or_else(PoisonError::into_inner);
        usize::try_from(page)
            .ok()
            .and_then(|k| pages.get(k).copied())
    }
}

/// What a backend shares with its readers: every position's strips and the frames
/// readable (every frame written before the first failed write).
#[derive(Debug, Default)]
pub(crate) struct View {
    pub(crate) strips: Vec<Arc<Strips>>,
    readable: AtomicU64,
    stopped: std::sync::atomic::AtomicBool,
}

impl View {
    pub(crate) fn new(positions: usize) -> Arc<Self> {
        Arc::new(Self {
            strips: (0..positions).map(|_| Arc::default()).collect(),
            ..Self::default()
        })
    }

    /// A frame was handed over; `stored`: its page is in its file.
    pub(crate) fn written(&self, stored: bool) {
        if !stored {
            self.stopped.store(true, Ordering::Relaxed);
        } else if !self.stopped.load(Ordering::Relaxed) {
            self.readable.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Frames readable (none without strips: a backend finishing files it reopened).
    pub(crate) fn readable(&self) -> u64 {
        if self.strips.is_empty() {
            return 0;
        }
        self.readable.load(Ordering::Relaxed)
    }

    /// A reader of the files of `plan`, its folder opened now (`None` for a backend
    /// that records no strips).
    pub(crate) fn reader(self: &Arc<Self>, plan: &Plan) -> Option<Arc<dyn PlaneReader>> {
        if self.strips.len() != plan.files.len() {
            return None;
        }
        let dir = ReadDir::open(&plan.folder).ok()?;
        Some(Arc::new(TiffReader {
            dir,
            names: plan.files.iter().map(|f| f.name.clone()).collect(),
            plan: plan.clone(),
            view: self.clone(),
        }))
    }
}

/// Reads the planes of a [`TiffBackend`](crate::TiffBackend) (see the module docs).
struct TiffReader {
    dir: ReadDir,
    /// Each position's file, relative to the folder.
    names: Vec<String>,
    plan: Plan,
    view: Arc<View>,
}

impl TiffReader {
    fn decode(&self, strip: &[u8], out: &mut [u8]) -> std::io::Result<()> {
        let got = match self.plan.codec {
            Codec::None if strip.len() == out.len() => {
                out.copy_from_slice(strip);
                return Ok(());
            }
            Codec::None => strip.len(),
            Codec::Lzw => {
                let mut decoder =
                    weezl::decode::Decoder::with_tiff_size_switch(weezl::BitOrder::Msb, 8);
                let mut plane = Vec::with_capacity(out.len());
                decoder
                    .into_vec(&mut plane)
                    .decode(strip)
                    .status
                    .map_err(std::io::Error::other)?;
                fill(out, &plane)
            }
            Codec::Deflate(_) => {
                let mut plane = Vec::with_capacity(out.len());
                flate2::read::ZlibDecoder::new(strip)
                    .take(out.len() as u64 + 1)
                    .read_to_end(&mut plane)?;
                fill(out, &plane)
            }
        };
        if got == out.len() {
            return Ok(());
        }
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "the strip holds {got} bytes of pixels, a plane has {}",
                out.len()
            ),
        ))
    }
}

/// Copy a decoded plane into `out` when the lengths agree; returns its length.
fn fill(out: &mut [u8], plane: &[u8]) -> usize {
    if plane.len() == out.len() {
        out.copy_from_slice(plane);
    }
    plane.len()
}

impl PlaneReader for TiffReader {
    fn read_plane(
        &self,
        position: PositionIndex,
        index: &StorageIndex,
        out: &mut [u8],
    ) -> Result<bool, BackendError> {
        let p = position.0;
        let (Some(name), Some(strips)) = (self.names.get(p), self.view.strips.get(p)) else {
            return Err(UsageError::Position {
                position: p,
                count: self.names.len(),
            }
            .into());
        };
        if out.len() != self.plan.frame_bytes {
            return Err(UsageError::FrameLength {
                expected: self.plan.frame_bytes,
                got: out.len(),
            }
            .into());
        }
        let page = self.plan.plane_of(index)?;
        let Some((at, len)) = strips.get(page) else {
            return Ok(false);
        };
        let path = || self.dir.path().join(name);
        let vanished = || TiffError::Vanished { path: path() };
        let file = self
            .dir
            .open_file(name)
            .map_err(|e| BackendError::io(path(), e))?
            .ok_or_else(vanished)?;
        let mut strip = vec![0u8; usize::try_from(len).map_err(|_| vanished())?];
        file.read_exact_at(&mut strip, at)
            .and_then(|()| self.decode(&strip, out))
            .map_err(|e| BackendError::io(path(), e))?;
        Ok(true)
    }
}
