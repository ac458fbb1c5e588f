//! What the stream shares with its views: the frames a view may need that the backend
//! cannot read back yet, and the counters that say which frames exist.
//!
//! Until the first view is made nothing is kept (the camera thread pays one atomic
//! load per frame). From then on:
//! - the camera thread shares each frame's pooled buffer with this cache (an `Arc`, no
//!   copy; under the lock: a map insert) *before* it counts the frame as reached, so a
//!   view that sees a frame reached finds it here or in the backend;
//! - the writer thread writes from the shared buffer, then asks the backend how many
//!   frames it can read back
//!   ([`Backend::frames_readable`](ome_writers_backend::Backend::frames_readable), a
//!   prefix): those are dropped from the cache; a frame the backend holds in an open
//!   write unit (not readable yet) is copied here (on the writer thread, outside the
//!   lock) so that its pooled buffer returns to the pool: the cache never keeps pool
//!   buffers beyond the queue, so it cannot starve the camera of buffers;
//! - frames appended before the first view were queued before the view's `Enable`
//!   message: the writer makes a durability point when it reaches that message (after
//!   which the backend reads every earlier frame back) and only then lets views read.
//!
//! A view holds the lock only to copy the selected part of cached planes, never across
//! I/O, so it delays an append by at most that memcpy.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};

use ome_writers_backend::{FrameBuffer, PlaneReader};

/// Spare copy buffers kept for reuse.
const SPARE_BUFFERS: usize = 8;

/// A frame kept for views until the backend can read it back.
struct Cached {
    /// Its arrival number among the frames handed to the backend.
    ordinal: u64,
    held: Held,
}

/// Where a cached frame's pixels are.
enum Held {
    /// The stream's pooled buffer, shared with the queue (frames not yet written).
    Pool(Arc<FrameBuffer>),
    /// A copy (frames in the backend's open write units).
    Copy(Box<[u8]>),
}

impl Held {
    fn bytes(&self) -> &[u8] {
        match self {
            Self::Pool(b) => b.as_bytes(),
            Self::Copy(b) => b,
        }
    }
}

#[derive(Default)]
struct Cache {
    /// By frame number (which grows with the arrival number).
    frames: BTreeMap<u64, Cached>,
    spare: Vec<Box<[u8]>>,
    /// Frames the backend reads back (arrival order prefix).
    readable: u64,
}

/// Whether views may read yet, and whether the writer is gone.
#[derive(Default)]
struct Gate {
    primed: bool,
    done: bool,
}

pub(crate) struct Live {
    enabled: AtomicBool,
    /// Frames reached (written or skipped): what views and events count from.
    reached: AtomicU64,
    cache: Mutex<Cache>,
    gate: Mutex<Gate>,
    opened: Condvar,
    reader: Option<Arc<dyn PlaneReader>>,
    frame_bytes: usize,
}

impl Live {
    pub(crate) fn new(reader: Option<Arc<dyn PlaneReader>>, frame_bytes: usize) -> Self {
        Self {
            enabled: AtomicBool::new(false),
            reached: AtomicU64::new(0),
            cache: Mutex::new(Cache::default()),
            gate: Mutex::new(Gate::default()),
            opened: Condvar::new(),
            reader,
            frame_bytes,
        }
    }

    /// Start keeping frames for views. Returns true the first time (the caller then
    /// sends the writer its `Enable` message).
    pub(crate) fn enable(&self) -> bool {
        !self.enabled.swap(true, Ordering::SeqCst)
    }

    pub(crate) fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Camera thread: frame `frame` (the `ordinal`-th handed over) was appended in
    /// `buf`, shared with the writer. Call before [`set_reached`](Self::set_reached).
    pub(crate) fn keep(&self, frame: u64, ordinal: u64, buf: Arc<FrameBuffer>) {
        let mut cache = self.lock_cache();
        if ordinal >= cache.readable {
            cache.frames.insert(
                frame,
                Cached {
                    ordinal,
                    held: Held::Pool(buf),
                },
            );
        }
    }

    /// Writer thread: frame `frame`, in `buf`, was handed to the backend, which now
    /// reads back the first `readable` frames. If it cannot read this one yet, the
    /// cache keeps a copy instead of the pooled buffer; `written: false` (the write
    /// failed) drops it.
    pub(crate) fn written(&self, frame: u64, buf: &FrameBuffer, readable: u64, written: bool) {
        let ordinal = self.lock_cache().frames.get(&frame).map(|c| c.ordinal);
        let copy = match ordinal {
            Some(o) if written && o >= readable => {
                let spare = self.lock_cache().spare.pop();
                let mut copy = match spare {
                    Some(b) if b.len() == buf.len_bytes() => b,
                    _ => vec![0u8; buf.len_bytes()].into_boxed_slice(),
                };
                copy.copy_from_slice(buf.as_bytes());
                Some(copy)
            }
            _ => None,
        };
        let mut cache = self.lock_cache();
        match copy {
            Some(copy) => {
                if let Some(c) = cache.frames.get_mut(&frame) {
                    c.held = Held::Copy(copy);
                }
            }
            None if !written => {
                cache.frames.remove(&frame);
            }
            None => {}
        }
        drop(cache);
        self.set_readable(readable);
    }

    pub(crate) fn set_reached(&self, frames: u64) {
        self.reached.store(frames, Ordering::Release);
    }

    pub(crate) fn reached(&self) -> u64 {
        self.reached.load(Ordering::Acquire)
    }

    /// Writer thread: the backend reads back the first `readable` frames handed over.
    pub(crate) fn set_readable(&self, readable: u64) {
        if !self.enabled() {
            return;
        }
        let mut cache = self.lock_cache();
        if readable <= cache.readable {
            return;
        }
        cache.readable = readable;
        while let Some(entry) = cache.frames.first_entry() {
            if entry.get().ordinal >= readable {
                break;
            }
            let old = entry.remove();
            if let Held::Copy(bytes) = old.held
                && cache.spare.len() < SPARE_BUFFERS
            {
                cache.spare.push(bytes);
            }
        }
    }

    /// Writer thread: every frame before the `Enable` message reads back now.
    pub(crate) fn prime(&self) {
        let mut gate = self.lock_gate();
        gate.primed = true;
        self.opened.notify_all();
    }

    /// Writer thread: it has ended (views read what is stored, never wait).
    pub(crate) fn writer_done(&self) {
        let mut gate = self.lock_gate();
        gate.done = true;
        gate.primed = true;
        self.opened.notify_all();
    }

    /// View: wait until frames from before the first view read back (the writer
    /// reaching the `Enable` message), or the writer is gone.
    pub(crate) fn wait_primed(&self) {
        let mut gate = self.lock_gate();
        while !gate.primed && !gate.done {
            gate = self
                .opened
                .wait(gate)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// View: copy `region` of frame `frame`'s cached plane into `out`, if it is cached.
    pub(crate) fn copy_cached(&self, frame: u64, region: &Region, out: &mut [u8]) -> bool {
        let cache = self.lock_cache();
        match cache.frames.get(&frame) {
            Some(c) => {
                region.copy(c.held.bytes(), out);
                true
            }
            None => false,
        }
    }

    pub(crate) fn reader(&self) -> Option<&Arc<dyn PlaneReader>> {
        self.reader.as_ref()
    }

    pub(crate) fn frame_bytes(&self) -> usize {
        self.frame_bytes
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_gate(&self) -> std::sync::MutexGuard<'_, Gate> {
        self.gate.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A rectangle of a frame, with steps: rows `(start, step, count)`, columns likewise
/// (steps may be negative), copied row by row into a dense output.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Region {
    pub(crate) rows: (i64, i64, usize),
    pub(crate) cols: (i64, i64, usize),
    pub(crate) width: usize,
    pub(crate) px: usize,
}

impl Region {
    /// Bytes of the output.
    pub(crate) fn out_bytes(&self) -> usize {
        self.rows.2 * self.cols.2 * self.px
    }

    fn whole(&self) -> bool {
        self.rows.0 == 0
            && self.rows.1 == 1
            && self.cols.0 == 0
            && self.cols.1 == 1
            && self.cols.2 == self.width
    }

    /// Copy this region of `plane` into `out` (`out_bytes` long). Indices were
    /// resolved inside the frame; anything else copies nothing.
    pub(crate) fn copy(&self, plane: &[u8], out: &mut [u8]) {
        let px = self.px;
        if self.whole() {
            let n = self.out_bytes().min(plane.len()).min(out.len());
            if let (Some(dst), Some(src)) = (out.get_mut(..n), plane.get(..n)) {
                dst.copy_from_slice(src);
            }
            return;
        }
        let row_bytes = self.cols.2 * px;
        for (r, dst_row) in out
            .chunks_exact_mut(row_bytes.max(1))
            .take(self.rows.2)
            .enumerate()
        {
            let y = self.rows.0 + self.rows.1 * r as i64;
            let Ok(y) = usize::try_from(y) else { continue };
            let row_start = y * self.width * px;
            if self.cols.1 == 1 {
                let start = row_start + usize::try_from(self.cols.0).unwrap_or(0) * px;
                if let (Some(src), Some(dst)) =
                    (plane.get(start..start + row_bytes), dst_row.get_mut(..))
                {
                    dst.copy_from_slice(src);
                }
                continue;
            }
            for (c, dst_px) in dst_row.chunks_exact_mut(px).enumerate() {
                let x = self.cols.0 + self.cols.1 * c as i64;
                let Ok(x) = usize::try_from(x) else { continue };
                let at = row_start + x * px;
                if let Some(src) = plane.get(at..at + px) {
                    dst_px.copy_from_slice(src);
                }
            }
        }
    }
}
