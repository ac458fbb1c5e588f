//! The writer thread: it owns the backend, writes each frame the stream sends, makes
//! durability points, and finalizes at the end (also after a failure, so that what
//! was written stays readable). Backend errors and panics are caught here and kept
//! for the caller.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::Receiver;
use ome_writers_backend::{Backend, BackendError, FrameBuffer, FrameMetadata, Progress, Summary};
use ome_writers_schema::{PositionIndex, StorageIndex};

use crate::live::Live;
use crate::{StreamError, StreamOptions};

/// What the stream sends to the writer thread.
pub(crate) enum Msg {
    Frame {
        position: PositionIndex,
        index: StorageIndex,
        buf: FrameBuffer,
        metadata: Option<FrameMetadata>,
    },
    /// A frame shared with the views (which hold the buffer until it reads back).
    Shared {
        position: PositionIndex,
        index: StorageIndex,
        buf: Arc<FrameBuffer>,
        metadata: Option<FrameMetadata>,
        /// Its acquisition number (the views' key).
        frame: u64,
    },
    /// The first view was made: make every frame queued before it readable.
    EnableView,
    Finish(Progress),
    /// Acquisition-level metadata (already checked on the caller's thread).
    GlobalMetadata {
        namespace: String,
        value: serde_json::Value,
    },
}

pub(crate) type ErrorSlot = Arc<Mutex<Option<StreamError>>>;

pub(crate) fn set_error(slot: &ErrorSlot, e: StreamError) {
    let mut g = slot.lock().unwrap_or_else(PoisonError::into_inner);
    if g.is_none() {
        *g = Some(e);
    }
}

pub(crate) fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

/// Run one backend call, turning an error or a panic into the stream's error.
fn guarded<T>(
    error: &ErrorSlot,
    call: impl FnOnce() -> Result<T, BackendError>,
    wrap: impl FnOnce(BackendError) -> StreamError,
) -> Option<T> {
    match catch_unwind(AssertUnwindSafe(call)) {
        Ok(Ok(v)) => Some(v),
        Ok(Err(e)) => {
            set_error(error, wrap(e));
            None
        }
        Err(p) => {
            set_error(
                error,
                StreamError::WriterPanicked {
                    message: panic_message(p.as_ref()),
                },
            );
            None
        }
    }
}

fn writer_loop(
    mut backend: Box<dyn Backend>,
    rx: &Receiver<Msg>,
    error: &ErrorSlot,
    opts: &StreamOptions,
    live: &Live,
) -> Option<Summary> {
    let mut failed = false;
    // Frames the backend accepted (after a failure, later frames are dropped).
    let mut written = 0u64;
    let mut since_flush = 0u64;
    let mut last_flush = Instant::now();
    let mut progress = None;
    loop {
        // Wait for a frame, but no longer than the next time-based durability point
        // (so a burst followed by a pause is made durable during the pause).
        let msg = match opts.flush_every.filter(|_| since_flush > 0 && !failed) {
            Some(every) => {
                let wait = every.saturating_sub(last_flush.elapsed());
                match rx.recv_timeout(wait) {
                    Ok(m) => Some(m),
                    Err(crossbeam_channel::RecvTimeoutError::Timeout) => None,
                    Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
                }
            }
            None => match rx.recv() {
                Ok(m) => Some(m),
                Err(_) => break,
            },
        };
        match msg {
            // The buffer goes to the backend; after a failure it is dropped here. Either
            // way it returns to the pool when dropped.
            Some(Msg::Frame {
                position,
                index,
                buf,
                metadata,
            }) if !failed => {
                let ok = guarded(
                    error,
                    || backend.write_owned(position, &index, buf, metadata.as_ref()),
                    |source| StreamError::Write {
                        position: position.0,
                        index,
                        source,
                    },
                );
                failed |= ok.is_none();
                written += u64::from(ok.is_some());
                since_flush += 1;
                if live.enabled() {
                    live.set_readable(backend.frames_readable());
                }
            }
            Some(Msg::Shared {
                position,
                index,
                buf,
                metadata,
                frame,
            }) => {
                let ok = !failed
                    && guarded(
                        error,
                        || backend.write(position, &index, buf.as_bytes(), metadata.as_ref()),
                        |source| StreamError::Write {
                            position: position.0,
                            index,
                            source,
                        },
                    )
                    .is_some();
                failed |= !ok;
                written += u64::from(ok);
                since_flush += u64::from(ok);
                live.written(frame, &buf, backend.frames_readable(), ok);
            }
            Some(Msg::EnableView) => {
                // A durability point: the backend reads back every frame before it.
                if !failed && since_flush > 0 {
                    failed |= guarded(error, || backend.flush(), StreamError::Flush).is_none();
                    since_flush = 0;
                    last_flush = Instant::now();
                }
                live.set_readable(backend.frames_readable());
                live.prime();
            }
            Some(Msg::Frame { .. }) | None => {}
            Some(Msg::Finish(p)) => {
                progress = Some(p);
                break;
            }
            // Like a frame: an error fails the stream; durable at the next point.
            Some(Msg::GlobalMetadata { namespace, value }) => {
                failed |= !failed
                    && guarded(
                        error,
                        || backend.set_global_metadata(&namespace, &value),
                        |source| StreamError::GlobalMetadata {
                            namespace: namespace.clone(),
                            source,
                        },
                    )
                    .is_none();
                since_flush = since_flush.max(1);
            }
        }
        let due = (opts.flush_every_frames > 0 && since_flush >= opts.flush_every_frames)
            || opts
                .flush_every
                .is_some_and(|d| since_flush > 0 && last_flush.elapsed() >= d);
        if !failed && due {
            failed |= guarded(error, || backend.flush(), StreamError::Flush).is_none();
            since_flush = 0;
            last_flush = Instant::now();
            live.set_readable(backend.frames_readable());
        }
    }
    // Finalize even after a failure or a vanished stream, so that what was written
    // stays readable. The backend is told the frames it actually accepted.
    let mut progress = progress.unwrap_or_default();
    progress.frames_written = written;
    if failed {
        progress.failed = true;
        progress.complete = false;
    }
    let summary = guarded(error, || backend.finalize(&progress), StreamError::Finalize);
    live.set_readable(backend.frames_readable());
    summary
}

/// Tells the views the writer has ended when dropped (also by a panic).
struct WriterDone<'a>(&'a Live);

impl Drop for WriterDone<'_> {
    fn drop(&mut self) {
        self.0.writer_done();
    }
}

/// Start the writer thread that owns `backend`. If the thread cannot be started,
/// finalize the backend as failed here and say why.
pub(crate) fn spawn_writer(
    backend: Box<dyn Backend>,
    rx: Receiver<Msg>,
    error: &ErrorSlot,
    options: &StreamOptions,
    live: &Arc<Live>,
) -> Result<JoinHandle<Option<Summary>>, StreamError> {
    // The backend travels to the thread through a slot, so that it is still here
    // when the spawn fails.
    let slot = Arc::new(Mutex::new(Some(backend)));
    let (theirs, worker_error, opts) = (slot.clone(), error.clone(), options.clone());
    let live = live.clone();
    let spawned = std::thread::Builder::new()
        .name("ome-writers".to_owned())
        .spawn(move || {
            let backend = theirs
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()?;
            // Views never wait on a writer that is gone, however it ended.
            let done = WriterDone(&live);
            writer_loop(backend, &rx, &worker_error, &opts, done.0)
        });
    spawned.map_err(|source| {
        let backend = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(mut backend) = backend {
            let failed = Progress {
                failed: true,
                ..Progress::default()
            };
            if let Err(e) = backend.finalize(&failed) {
                log::error!(
                    "finalizing after the writer thread failed to start: {}",
                    ome_writers_backend::error_chain(&e)
                );
            }
        }
        StreamError::Spawn {
            thread: "ome-writers",
            source,
        }
    })
}
