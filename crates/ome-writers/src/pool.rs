//! The stream's frame buffers: a bounded pool, made up front or grown on demand by an
//! allocator thread, each buffer returning to the pool when dropped.

use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use ome_writers_backend::{BufferHome, FrameBuffer};
use ome_writers_schema::DType;

/// Frame buffers made at stream creation when the pool grows on demand.
const PREMADE_BUFFERS: usize = 2;

/// The writer thread ended while the caller waited for a buffer.
pub(crate) struct WriterGone;

/// How long [`Pool::take`] may wait for a buffer to come back when none is ready.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Wait {
    /// Not at all.
    No,
    /// Until this instant.
    Until(Instant),
    /// As long as it takes.
    Forever,
}

/// How often a waiting [`Pool::take`] checks that the writer thread is still there.
const ALIVE_CHECK: Duration = Duration::from_millis(100);

/// At most `max` buffers exist at once, wherever they are (here, queued, at the
/// writer, on an encoder thread, in the caller's hands).
pub(crate) struct Pool {
    /// Buffers dropped anywhere come back here.
    free: Receiver<FrameBuffer>,
    /// What buffers handed out carry home: a send on `free`'s channel.
    home_fn: BufferHome,
    /// Buffers ready here (made at creation, or handed back after a refused append).
    spare: Vec<FrameBuffer>,
    /// Buffers made here or asked of the allocator thread (at most `max`).
    allocated: usize,
    /// Requests to the allocator thread: one more buffer into the pool.
    ahead: Option<Sender<()>>,
    allocator: Option<JoinHandle<()>>,
    /// Buffers the allocator thread has made.
    fresh: Receiver<FrameBuffer>,
    /// Buffers asked of the allocator thread, and received from it.
    requested: usize,
    received: usize,
    max: usize,
    frame_bytes: usize,
    dtype: DType,
}

impl Pool {
    /// A pool of at most `max` buffers of `frame_bytes`. With `preallocate`, the whole
    /// pool (no more than `frames`, the acquisition's length) is made now; otherwise
    /// two buffers, and an allocator thread makes each further one as soon as no spare
    /// is left.
    pub(crate) fn new(
        frame_bytes: usize,
        dtype: DType,
        max: usize,
        preallocate: bool,
        frames: Option<u64>,
    ) -> Self {
        let (home, free) = crossbeam_channel::bounded::<FrameBuffer>(max);
        // A closed pool (the stream gone) just lets the memory go.
        let home_fn = BufferHome::new(move |b| {
            let _ = home.try_send(b);
        });
        // Fresh buffers are zeroed, so every page is touched (5-10 ms for 8 MiB on a
        // small VM): made on the allocator thread, one ahead of need, not the caller's.
        let (ahead, requests) = crossbeam_channel::unbounded::<()>();
        let (made, fresh) = crossbeam_channel::unbounded::<FrameBuffer>();
        let allocator = (!preallocate)
            .then(|| {
                std::thread::Builder::new()
                    .name("ome-writers-alloc".to_owned())
                    .spawn(move || {
                        for () in requests {
                            if made.send(FrameBuffer::new(frame_bytes, dtype)).is_err() {
                                break;
                            }
                        }
                    })
                    .ok()
            })
            .flatten();
        let mut pool = Self {
            free,
            home_fn,
            spare: Vec::new(),
            allocated: 0,
            ahead: allocator.is_some().then_some(ahead),
            allocator,
            fresh,
            requested: 0,
            received: 0,
            max,
            frame_bytes,
            dtype,
        };
        let premade = if preallocate {
            let frames = frames.map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
            max.min(frames.max(1))
        } else {
            PREMADE_BUFFERS.min(max)
        };
        while pool.allocated < premade {
            pool.allocated += 1;
            pool.spare.push(FrameBuffer::new(frame_bytes, dtype));
        }
        pool
    }

    /// Where buffers handed out return when dropped.
    pub(crate) fn home(&self) -> BufferHome {
        self.home_fn.clone()
    }

    /// A buffer handed back unused (a refused append).
    pub(crate) fn give_back(&mut self, buf: FrameBuffer) {
        self.spare.push(buf);
    }

    /// A buffer for the next frame: a ready one, one being made, a new one within the
    /// bound, or the next to come back within `wait`. `Ok(None)`: none came back in
    /// time. `writer_alive` is asked while waiting, so a writer that has ended without
    /// returning buffers is reported instead of waited for forever.
    pub(crate) fn take(
        &mut self,
        wait: Wait,
        writer_alive: impl Fn() -> bool,
    ) -> Result<Option<FrameBuffer>, WriterGone> {
        if let Some(b) = self
            .ready()
            .or_else(|| self.being_made())
            .or_else(|| self.made_here())
        {
            self.allocate_ahead();
            return Ok(Some(b));
        }
        loop {
            let slice = match wait {
                Wait::No => return Ok(None),
                Wait::Forever => ALIVE_CHECK,
                Wait::Until(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(None);
                    }
                    left.min(ALIVE_CHECK)
                }
            };
            match self.free.recv_timeout(slice) {
                Ok(b) => return Ok(Some(b)),
                Err(_) if !writer_alive() => return Err(WriterGone),
                Err(_) => {}
            }
        }
    }

    fn ready(&mut self) -> Option<FrameBuffer> {
        self.spare
            .pop()
            .or_else(|| self.free.try_recv().ok())
            .or_else(|| {
                let b = self.fresh.try_recv().ok()?;
                self.received += 1;
                Some(b)
            })
    }

    /// A buffer is being made (sooner done than one started here), and the queue is
    /// not full: the first to arrive, the new one or a used one.
    fn being_made(&mut self) -> Option<FrameBuffer> {
        if self.requested <= self.received {
            return None;
        }
        crossbeam_channel::select! {
            recv(self.fresh) -> b => b.ok().inspect(|_| self.received += 1),
            recv(self.free) -> b => b.ok(),
        }
    }

    /// No allocator thread: a new buffer made here, within the bound.
    fn made_here(&mut self) -> Option<FrameBuffer> {
        (self.allocated < self.max).then(|| {
            self.allocated += 1;
            FrameBuffer::new(self.frame_bytes, self.dtype)
        })
    }

    /// When no buffer is left ready and the bound allows one more, ask the allocator
    /// thread for it, so that the next frame finds it made.
    fn allocate_ahead(&mut self) {
        if self.allocated < self.max
            && self.spare.is_empty()
            && self.free.is_empty()
            && self.fresh.is_empty()
            && let Some(ahead) = &self.ahead
            && ahead.send(()).is_ok()
        {
            self.allocated += 1;
            self.requested += 1;
        }
    }

    /// Stop the allocator thread (at finish).
    pub(crate) fn stop(&mut self) {
        self.ahead = None;
        if let Some(a) = self.allocator.take() {
            let _ = a.join();
        }
    }
}
