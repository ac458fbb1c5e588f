//! The level thread: the pyramid's levels above 0 are reduced and stored on a thread
//! of their own, from the frame buffers, while the writer thread stores level 0.
//!
//! The thread owns the [`Levels`] (every level's backend and the planes waiting for
//! their Z partner) and takes the frames in arrival order, so pairing, the growth
//! rule and every level backend see exactly what they saw on the writer thread. A
//! frame travels as the stream's pooled buffer, shared with level 0's write (no
//! copy), or, when the caller lent it, as a copy in a reused buffer. The queue holds
//! at most [`QUEUE`] frames: with the one being reduced, the thread holds at most
//! `QUEUE + 1` frame buffers beyond the writer's (pooled buffers count in the
//! stream's pool bound; copies are reused, at most `QUEUE + 2` exist); a slower
//! level thread blocks the writer, never grows.
//!
//! A failure is kept with the first frame it may have lost (see [`run`]) and
//! returned by the writer's next write, durability point or finish (that frame and
//! those after it are then not known stored). A durability point waits until the thread has stored every frame
//! queued before it and flushed every level; finish waits for the levels' finish.

use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use ome_writers_backend::{BackendError, FrameBuffer, Progress};

use super::Levels;
use crate::error::ZarrError;
use crate::units::UnitKey;

/// Frames queued for the level thread beyond the one it reduces.
const QUEUE: usize = 2;

/// A frame's pixels as the level thread gets them.
pub(crate) enum Source {
    /// The stream's pooled buffer, shared with level 0's write.
    Shared(Arc<FrameBuffer>),
    /// A copy of a frame the caller lent (the buffer comes back for reuse).
    Copy(Vec<u8>),
}

impl Source {
    fn bytes(&self) -> &[u8] {
        match self {
            Self::Shared(f) => f.as_bytes(),
            Self::Copy(v) => v,
        }
    }
}

enum Msg {
    Frame {
        p: usize,
        key: UnitKey,
        seq: u64,
        src: Source,
    },
    Flush,
    Finish(Progress),
}

/// The first failure of the thread and the frame (arrival order) it came from.
type Failure = Arc<Mutex<Option<(Option<u64>, BackendError)>>>;

/// The writer's handle on the level thread.
pub(crate) struct LevelThread {
    jobs: Option<Sender<Msg>>,
    /// One answer per flush and finish (their failures go to `failure`).
    replies: Receiver<()>,
    /// Copy buffers the thread is done with.
    copies: Receiver<Vec<u8>>,
    failure: Failure,
    handle: Option<JoinHandle<()>>,
}

fn record(failure: &Failure, seq: Option<u64>, e: BackendError) {
    let mut slot = failure.lock().unwrap_or_else(PoisonError::into_inner);
    if slot.is_none() {
        *slot = Some((seq, e));
    }
}

impl LevelThread {
    /// Start the thread that writes `levels`. It runs at normal priority, as the
    /// writer thread whose work it took over, not under the encoders' `SCHED_IDLE`:
    /// on a machine busy with other programs an idle-priority level thread starved,
    /// and the writer waited on its full queue (docs/benchmarks.md).
    pub(crate) fn spawn(mut levels: Box<Levels>) -> Result<Self, BackendError> {
        let (jobs_tx, jobs) = crossbeam_channel::bounded::<Msg>(QUEUE);
        let (reply_tx, replies) = crossbeam_channel::unbounded::<()>();
        let (copy_tx, copies) = crossbeam_channel::unbounded::<Vec<u8>>();
        let failure: Failure = Arc::new(Mutex::new(None));
        let slot = failure.clone();
        let handle = std::thread::Builder::new()
            .name("ome-writers-levels".to_owned())
            .spawn(move || {
                run(&mut levels, &jobs, &reply_tx, &copy_tx, &slot);
            })
            .map_err(|e| ZarrError::Pyramid {
                level: 1,
                source: Box::new(e),
            })?;
        Ok(Self {
            jobs: Some(jobs_tx),
            replies,
            copies,
            failure,
            handle: Some(handle),
        })
    }

    /// The thread's first failure, if any: the frame it came from and the error.
    pub(crate) fn take_failure(&self) -> Option<(Option<u64>, BackendError)> {
        self.failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    /// A copy of a lent frame, in a buffer the thread gave back if there is one.
    pub(crate) fn copy_of(&self, frame: &[u8]) -> Source {
        let mut buf = self.copies.try_recv().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(frame);
        Source::Copy(buf)
    }

    /// Queue a frame (blocks while the queue is full).
    pub(crate) fn submit(
        &self,
        p: usize,
        key: UnitKey,
        seq: u64,
        src: Source,
    ) -> Result<(), BackendError> {
        self.send(Msg::Frame { p, key, seq, src })
    }

    fn send(&self, msg: Msg) -> Result<(), BackendError> {
        let jobs = self.jobs.as_ref().ok_or(BackendError::Finalized)?;
        jobs.send(msg).map_err(|_| stopped())
    }

    /// The thread's answer to a [`begin_flush`](Self::begin_flush) or a finish.
    fn answer(&self) -> Result<(), BackendError> {
        self.replies.recv().map_err(|_| stopped())
    }

    /// Start a durability point of every level, after every frame queued; each
    /// successful call is answered by one [`end_flush`](Self::end_flush).
    pub(crate) fn begin_flush(&self) -> Result<(), BackendError> {
        self.send(Msg::Flush)
    }

    /// Wait for the durability point started by [`begin_flush`](Self::begin_flush).
    pub(crate) fn end_flush(&self) -> Result<(), BackendError> {
        self.answer()
    }

    /// Every level finished (see [`Levels::finish`]); the thread ends.
    pub(crate) fn finish(&mut self, progress: &Progress) -> Result<(), BackendError> {
        let done = self
            .send(Msg::Finish(*progress))
            .and_then(|()| self.answer());
        self.jobs = None;
        if let Some(h) = self.handle.take()
            && h.join().is_err()
        {
            return done.and(Err(stopped()));
        }
        done
    }
}

impl Drop for LevelThread {
    fn drop(&mut self) {
        // The thread drains its queue and ends when the channel closes.
        self.jobs = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// The level thread's loop. A failure is kept with the first frame it may have lost:
/// the frame being reduced when the levels store synchronously; when a level encodes
/// on encoder threads of its own (its error surfaces later), or for a failed flush or
/// finish, the first frame since the last successful durability point of the levels.
fn run(
    levels: &mut Levels,
    jobs: &Receiver<Msg>,
    replies: &Sender<()>,
    copies: &Sender<Vec<u8>>,
    failure: &Failure,
) {
    let deferred = levels.encoded_elsewhere();
    let mut since_flush: Option<u64> = None;
    for msg in jobs {
        let answer = match msg {
            Msg::Frame { p, key, seq, src } => {
                since_flush.get_or_insert(seq);
                if let Err(e) = guarded(|| levels.feed(0, p, key, src.bytes())) {
                    record(failure, if deferred { since_flush } else { Some(seq) }, e);
                }
                if let Source::Copy(v) = src {
                    let _ = copies.send(v);
                }
                continue;
            }
            Msg::Flush => guarded(|| levels.flush()),
            Msg::Finish(progress) => {
                if let Err(e) = guarded(|| levels.finish(&progress)) {
                    record(failure, since_flush, e);
                }
                let _ = replies.send(());
                break;
            }
        };
        match answer {
            Ok(()) => since_flush = None,
            Err(e) => record(failure, since_flush, e),
        }
        if replies.send(()).is_err() {
            break;
        }
    }
}

fn stopped() -> BackendError {
    ZarrError::Pyramid {
        level: 1,
        source: "the level thread stopped".into(),
    }
    .into()
}

/// Run `f`; a panic is an error, not the end of the thread.
fn guarded(f: impl FnOnce() -> Result<(), BackendError>) -> Result<(), BackendError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|_| Err(ZarrError::EncoderPanicked.into()))
}
