//! The stream: frame checks on the caller's thread, a bounded byte budget of pooled
//! buffers, and one writer thread that owns the backend.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use ome_writers_backend::{
    Backend, BackendError, EncoderOptions, FrameBuffer, FrameMetadata, Progress, Summary,
};
use ome_writers_router::FrameRouter;
use ome_writers_schema::{BackendKind, FrameNumber, Pixel, PositionIndex, Schema, StorageIndex};

use crate::StreamError;

/// Most frames queued at once, whatever the byte budget.
pub const MAX_QUEUED_FRAMES: usize = 4096;

/// Tuning of a stream (not part of the schema: the same dataset can be written with
/// other options).
#[derive(Clone, Debug)]
pub struct StreamOptions {
    /// Most bytes of frames queued between the caller and the writer thread
    /// (default 256 MiB). At least one frame is always allowed, and at most
    /// [`MAX_QUEUED_FRAMES`].
    pub queue_bytes: usize,
    /// A durability point every this many frames (default 1000; 0 disables).
    pub flush_every_frames: u64,
    /// A durability point at least this often while frames arrive (default 10 s).
    pub flush_every: Option<Duration>,
    /// How many encoder threads compress, at what priority (backends that compress:
    /// zarr).
    pub encoders: EncoderOptions,
    /// Make the queue's frame buffers when the stream is created (default true): up
    /// to `queue_bytes`, no more than the acquisition has frames. A fresh buffer costs
    /// milliseconds (its pages zeroed and mapped), so a camera thread that finds one
    /// missing while the writer is behind would wait for memory although the queue is
    /// not full. `false`: buffers are made as the queue grows (two at creation, the
    /// rest on an allocator thread, one ahead of need), for less memory when the
    /// writer keeps up.
    pub preallocate: bool,
}

impl Default for StreamOptions {
    fn default() -> Self {
        Self {
            queue_bytes: 256 << 20,
            flush_every_frames: 1000,
            flush_every: Some(Duration::from_secs(10)),
            encoders: EncoderOptions::default(),
            preallocate: true,
        }
    }
}

/// What a finished stream reports.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamSummary {
    /// Where the data went.
    pub paths: Vec<PathBuf>,
    /// Frames written.
    pub frames_written: u64,
    /// Frames skipped.
    pub frames_skipped: u64,
    /// Pixel bytes written.
    pub bytes: u64,
    /// Seconds from stream creation to the end of finish.
    pub seconds: f64,
    /// Final storage-order shape of each position's array.
    pub shape: Vec<u64>,
    /// Whether every declared frame was reached.
    pub complete: bool,
}

enum Msg {
    Frame {
        position: PositionIndex,
        index: StorageIndex,
        buf: FrameBuffer,
        metadata: Option<FrameMetadata>,
    },
    Finish(Progress),
}

type ErrorSlot = Arc<Mutex<Option<StreamError>>>;

/// An acquisition being written. Append frames in acquisition order, then
/// [`finish`](Stream::finish). Dropping it finalizes what was written (errors are
/// printed to stderr, never panicked on).
pub struct Stream {
    schema: Schema,
    router: FrameRouter,
    tx: Option<Sender<Msg>>,
    free: Receiver<FrameBuffer>,
    /// The pool's sending side: buffers handed out carry it, and return when dropped.
    pool: Sender<FrameBuffer>,
    /// Buffers handed back without being sent (a refused append).
    spare: Vec<FrameBuffer>,
    /// Buffers allocated here or asked of the allocator thread (at most `max_buffers`).
    allocated: usize,
    /// Requests to the allocator thread: one more buffer into the pool.
    ahead: Option<Sender<()>>,
    allocator: Option<JoinHandle<()>>,
    /// Buffers the allocator thread has made.
    fresh: Receiver<FrameBuffer>,
    /// Buffers asked of the allocator thread, and received from it.
    requested: usize,
    received: usize,
    max_buffers: usize,
    frame_bytes: usize,
    error: ErrorSlot,
    /// The first writer error, once returned to the caller.
    reported: Option<String>,
    worker: Option<JoinHandle<Option<Summary>>>,
    written: u64,
    skipped: u64,
    started: Instant,
}

/// Create the backend a schema selects. The choice comes only from
/// [`Schema::backend`], which validation fixed.
pub fn create_backend(schema: &Schema) -> Result<Box<dyn Backend>, StreamError> {
    create_backend_with(schema, &StreamOptions::default())
}

/// [`create_backend`] with the options that concern backends (the encoder threads).
pub fn create_backend_with(
    schema: &Schema,
    options: &StreamOptions,
) -> Result<Box<dyn Backend>, StreamError> {
    #[cfg(not(feature = "zarr"))]
    let _ = options;
    match schema.backend() {
        #[cfg(feature = "zarr")]
        BackendKind::Zarr => Ok(Box::new(
            ome_writers_zarr::ZarrBackend::create_with(schema, &options.encoders)
                .map_err(StreamError::Create)?,
        )),
        #[cfg(feature = "tiff")]
        BackendKind::Tiff => Ok(Box::new(
            ome_writers_tiff::TiffBackend::create(schema).map_err(StreamError::Create)?,
        )),
        #[cfg(feature = "omero-local")]
        BackendKind::OmeroLocal => Ok(Box::new(
            ome_writers_omero_local::OmeroLocalBackend::create(schema)
                .map_err(StreamError::Create)?,
        )),
        #[allow(unreachable_patterns)]
        other => Err(StreamError::Create(BackendError::NotAvailable {
            backend: match other {
                BackendKind::Zarr => "zarr",
                BackendKind::Tiff => "tiff",
                BackendKind::OmeroLocal => "omero_local",
            },
            reason: "this build was compiled without that backend's feature".to_owned(),
        })),
    }
}

/// Create a stream with default options.
pub fn create_stream(schema: &Schema) -> Result<Stream, StreamError> {
    create_stream_with(schema, &StreamOptions::default())
}

/// Create a stream with explicit options.
pub fn create_stream_with(schema: &Schema, options: &StreamOptions) -> Result<Stream, StreamError> {
    let backend = create_backend_with(schema, options)?;
    create_stream_with_backend(schema, backend, options)
}

/// Create a stream over a backend of your own (or a test double).
///
/// When the writer thread cannot be started, the backend is finalized as
/// [`failed`](Progress::failed) with no frame (so the dataset never says `acquiring`)
/// and [`StreamError::Spawn`] is returned.
pub fn create_stream_with_backend(
    schema: &Schema,
    backend: Box<dyn Backend>,
    options: &StreamOptions,
) -> Result<Stream, StreamError> {
    let frame_bytes = schema.frame_bytes().max(1);
    // Frames in flight: the byte budget, capped so tiny frames do not make the
    // channels preallocate millions of slots.
    let max_buffers = (options.queue_bytes / frame_bytes).clamp(1, MAX_QUEUED_FRAMES);
    let (tx, rx) = crossbeam_channel::bounded::<Msg>(max_buffers + 1);
    let (free_tx, free_rx) = crossbeam_channel::bounded::<FrameBuffer>(max_buffers);
    let error: ErrorSlot = Arc::new(Mutex::new(None));
    let worker = spawn_writer(backend, rx, &error, options)?;
    // A pool that grows on demand (`preallocate: false`) makes its fresh frame buffers
    // (zeroed, so every page is touched: 5-10 ms for 8 MiB on a small VM) on this
    // thread, one ahead of need, not on the caller's.
    let (ahead, requests) = crossbeam_channel::unbounded::<()>();
    let (made, fresh) = crossbeam_channel::unbounded::<FrameBuffer>();
    let (bytes, dtype) = (schema.frame_bytes(), schema.dtype());
    let allocator = (!options.preallocate)
        .then(|| {
            std::thread::Builder::new()
                .name("ome-writers-alloc".to_owned())
                .spawn(move || {
                    for () in requests {
                        if made.send(FrameBuffer::new(bytes, dtype)).is_err() {
                            break;
                        }
                    }
                })
                .ok()
        })
        .flatten();
    let mut stream = Stream {
        schema: schema.clone(),
        router: FrameRouter::new(schema),
        tx: Some(tx),
        free: free_rx,
        pool: free_tx,
        spare: Vec::new(),
        allocated: 0,
        ahead: allocator.is_some().then_some(ahead),
        allocator,
        fresh,
        requested: 0,
        received: 0,
        max_buffers,
        frame_bytes: schema.frame_bytes(),
        error,
        reported: None,
        worker: Some(worker),
        written: 0,
        skipped: 0,
        started: Instant::now(),
    };
    // Buffers made now, before the acquisition starts: the whole queue, or two (what
    // a writer that keeps up needs: one being filled while one is written), the
    // allocator thread making more only if the writer falls behind.
    let premade = if options.preallocate {
        let frames = schema
            .num_frames()
            .map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
        max_buffers.min(frames.max(1))
    } else {
        PREMADE_BUFFERS.min(max_buffers)
    };
    while stream.allocated < premade {
        stream.allocated += 1;
        stream
            .spare
            .push(FrameBuffer::new(stream.frame_bytes, schema.dtype()));
    }
    Ok(stream)
}

/// Start the writer thread that owns `backend`. If the thread cannot be started,
/// finalize the backend as failed here and say why.
fn spawn_writer(
    backend: Box<dyn Backend>,
    rx: Receiver<Msg>,
    error: &ErrorSlot,
    options: &StreamOptions,
) -> Result<JoinHandle<Option<Summary>>, StreamError> {
    // The backend travels to the thread through a slot, so that it is still here
    // when the spawn fails.
    let slot = Arc::new(Mutex::new(Some(backend)));
    let (theirs, worker_error, opts) = (slot.clone(), error.clone(), options.clone());
    let spawned = std::thread::Builder::new()
        .name("ome-writers".to_owned())
        .spawn(move || {
            let backend = theirs
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()?;
            writer_loop(backend, &rx, &worker_error, &opts)
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

/// Refuse per-frame metadata that would overwrite a key the backends write.
fn check_metadata(metadata: Option<&FrameMetadata>) -> Result<(), StreamError> {
    match metadata.and_then(|m| {
        ome_writers_backend::RESERVED_FRAME_KEYS
            .iter()
            .find(|k| m.contains_key(**k))
    }) {
        Some(key) => Err(StreamError::ReservedMetadataKey {
            key: (*key).to_owned(),
        }),
        None => Ok(()),
    }
}

/// Frame buffers made at stream creation.
const PREMADE_BUFFERS: usize = 2;

fn set_error(slot: &ErrorSlot, e: StreamError) {
    let mut g = slot.lock().unwrap_or_else(PoisonError::into_inner);
    if g.is_none() {
        *g = Some(e);
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
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
            }
            Some(Msg::Frame { .. }) | None => {}
            Some(Msg::Finish(p)) => {
                progress = Some(p);
                break;
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
    guarded(error, || backend.finalize(&progress), StreamError::Finalize)
}

impl Stream {
    /// The schema being written.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Frames written so far (skipped frames excluded).
    pub fn frames_written(&self) -> u64 {
        self.written
    }

    fn check_error(&mut self) -> Result<(), StreamError> {
        if self.reported.is_some() {
            return Ok(());
        }
        let taken = self
            .error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match taken {
            Some(e) => {
                self.reported = Some(ome_writers_backend::error_chain(&e));
                Err(e)
            }
            None => Ok(()),
        }
    }

    fn route_next(&self) -> Result<ome_writers_router::Route, StreamError> {
        let n = self.router.frames_reached();
        self.router.route(FrameNumber(n)).map_err(StreamError::from)
    }

    fn take_buffer(&mut self, block: bool) -> Result<Option<FrameBuffer>, StreamError> {
        let ready = self
            .spare
            .pop()
            .or_else(|| self.free.try_recv().ok())
            .or_else(|| {
                let b = self.fresh.try_recv().ok()?;
                self.received += 1;
                Some(b)
            });
        if let Some(b) = ready {
            self.allocate_ahead();
            return Ok(Some(b));
        }
        if self.requested > self.received {
            // A buffer is being made (sooner done than one started here), and the queue
            // is not full: take the first to arrive, the new one or a used one.
            let b = crossbeam_channel::select! {
                recv(self.fresh) -> b => b.ok().inspect(|_| self.received += 1),
                recv(self.free) -> b => b.ok(),
            };
            if let Some(b) = b {
                self.allocate_ahead();
                return Ok(Some(b));
            }
        }
        if self.allocated < self.max_buffers {
            // No allocator thread: allocate here.
            self.allocated += 1;
            let b = FrameBuffer::new(self.frame_bytes, self.schema.dtype());
            self.allocate_ahead();
            return Ok(Some(b));
        }
        if !block {
            return Ok(None);
        }
        loop {
            match self.free.recv_timeout(Duration::from_millis(100)) {
                Ok(b) => return Ok(Some(b)),
                Err(_) => {
                    // Buffers come back when dropped, also when the writer fails; a
                    // writer thread that has ended while none came back is reported.
                    if self.worker.as_ref().is_none_or(JoinHandle::is_finished) {
                        self.check_error()?;
                        return Err(StreamError::WriterPanicked {
                            message: "the writer thread stopped".to_owned(),
                        });
                    }
                }
            }
        }
    }

    /// When no buffer is left ready and the queue bound allows one more, ask the
    /// allocator thread for it, so that the next frame finds it made.
    fn allocate_ahead(&mut self) {
        if self.allocated < self.max_buffers
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

    fn ready(&mut self) -> Result<ome_writers_router::Route, StreamError> {
        self.check_error()?;
        if self.reported.is_some() {
            // The writer already failed and said so; refuse further frames rather than
            // queue frames that will never be written.
            return Err(StreamError::WriterPanicked {
                message: "the writer failed earlier; no further frames are accepted".to_owned(),
            });
        }
        self.route_next()
    }

    fn send(
        &mut self,
        bytes: &[u8],
        metadata: Option<FrameMetadata>,
        block: bool,
    ) -> Result<(), StreamError> {
        check_metadata(metadata.as_ref())?;
        let route = self.ready()?;
        let Some(mut buf) = self.take_buffer(block)? else {
            return Err(StreamError::QueueFull);
        };
        buf.as_bytes_mut().copy_from_slice(bytes);
        self.send_buffer(route, buf, metadata)
    }

    fn send_buffer(
        &mut self,
        route: ome_writers_router::Route,
        buf: FrameBuffer,
        metadata: Option<FrameMetadata>,
    ) -> Result<(), StreamError> {
        let mut buf = buf;
        buf.set_home(self.pool.clone());
        let msg = Msg::Frame {
            position: route.position,
            index: route.index,
            buf,
            metadata,
        };
        let sent = self.tx.as_ref().map(|tx| tx.send(msg));
        if !matches!(sent, Some(Ok(()))) {
            self.check_error()?;
            return Err(StreamError::WriterPanicked {
                message: "the writer thread stopped".to_owned(),
            });
        }
        // Cannot fail: route_next just answered for this frame number.
        let _ = self.router.skip_frames(1);
        self.written += 1;
        Ok(())
    }

    /// A pooled buffer for the next frame (blocks while the queue is full). Fill it and
    /// pass it to [`append_buffer`](Self::append_buffer): no copy is made.
    pub fn next_buffer(&mut self) -> Result<FrameBuffer, StreamError> {
        self.check_error()?;
        let mut buf = self.take_buffer(true)?.ok_or(StreamError::QueueFull)?;
        // Dropped without being appended, it returns to the pool.
        buf.set_home(self.pool.clone());
        Ok(buf)
    }

    /// Append a buffer from [`next_buffer`](Self::next_buffer), without copying it;
    /// `metadata` as in [`append_with_metadata`](Self::append_with_metadata).
    pub fn append_buffer(
        &mut self,
        buffer: FrameBuffer,
        metadata: Option<serde_json::Value>,
    ) -> Result<(), StreamError> {
        let meta = match metadata {
            None => None,
            Some(serde_json::Value::Object(m)) => {
                if let Err(e) = check_metadata(Some(&m)) {
                    self.spare.push(buffer);
                    return Err(e);
                }
                Some(m)
            }
            Some(other) => {
                self.spare.push(buffer);
                return Err(StreamError::Metadata {
                    got: other.to_string(),
                });
            }
        };
        if buffer.dtype() != self.schema.dtype() {
            return Err(StreamError::FrameDtype {
                expected: self.schema.dtype(),
                got: buffer.dtype(),
            });
        }
        if buffer.len_bytes() != self.frame_bytes {
            return Err(StreamError::FrameShape {
                expected_shape: self.schema.frame_shape(),
                expected: self.frame_bytes,
                got: buffer.len_bytes(),
                unit: "bytes",
            });
        }
        match self.ready() {
            Ok(route) => self.send_buffer(route, buffer, meta),
            Err(e) => {
                self.spare.push(buffer);
                Err(e)
            }
        }
    }

    fn check_pixels<T: Pixel>(&self, len: usize) -> Result<(), StreamError> {
        if T::DTYPE != self.schema.dtype() {
            return Err(StreamError::FrameDtype {
                expected: self.schema.dtype(),
                got: T::DTYPE,
            });
        }
        if len != self.schema.frame_len() {
            return Err(StreamError::FrameShape {
                expected_shape: self.schema.frame_shape(),
                expected: self.schema.frame_len(),
                got: len,
                unit: "pixels",
            });
        }
        Ok(())
    }

    /// Append the next frame (row-major, `height * width` pixels of the schema's type).
    /// Blocks only while the queue is full.
    pub fn append<T: Pixel>(&mut self, frame: &[T]) -> Result<(), StreamError> {
        self.check_pixels::<T>(frame.len())?;
        self.send(bytemuck::cast_slice(frame), None, true)
    }

    /// Append the next frame with its metadata (a JSON object: `delta_t`,
    /// `exposure_time`, `position_x`, ... or anything else).
    pub fn append_with_metadata<T: Pixel>(
        &mut self,
        frame: &[T],
        metadata: serde_json::Value,
    ) -> Result<(), StreamError> {
        self.check_pixels::<T>(frame.len())?;
        let serde_json::Value::Object(map) = metadata else {
            return Err(StreamError::Metadata {
                got: metadata.to_string(),
            });
        };
        self.send(bytemuck::cast_slice(frame), Some(map), true)
    }

    /// Append a 2D array view (any memory layout) of shape `(height, width)`.
    pub fn append_array<T: Pixel>(
        &mut self,
        frame: ndarray::ArrayView2<'_, T>,
    ) -> Result<(), StreamError> {
        let (h, w) = frame.dim();
        let [eh, ew] = self.schema.frame_shape();
        if (h as u64, w as u64) != (eh, ew) {
            return Err(StreamError::FrameShape {
                expected_shape: [eh, ew],
                expected: self.schema.frame_len(),
                got: h * w,
                unit: "pixels",
            });
        }
        if let Some(slice) = frame.as_slice() {
            return self.append(slice);
        }
        // Any other layout: copied element by element straight into a pooled buffer.
        self.check_pixels::<T>(h * w)?;
        let route = self.ready()?;
        let Some(mut buf) = self.take_buffer(true)? else {
            return Err(StreamError::QueueFull);
        };
        for (dst, src) in buf.pixels_mut::<T>()?.iter_mut().zip(frame.iter()) {
            *dst = *src;
        }
        self.send_buffer(route, buf, None)
    }

    /// Like [`append`](Self::append) but never blocks: when the queue is full it returns
    /// [`StreamError::QueueFull`] and the frame is not taken (the caller still owns it).
    pub fn try_append<T: Pixel>(&mut self, frame: &[T]) -> Result<(), StreamError> {
        self.check_pixels::<T>(frame.len())?;
        self.send(bytemuck::cast_slice(frame), None, false)
    }

    /// Append one frame given as raw bytes: row-major, native (little-endian) byte
    /// order, exactly one frame of the schema's dtype.
    pub fn append_bytes(
        &mut self,
        frame: &[u8],
        metadata: Option<FrameMetadata>,
    ) -> Result<(), StreamError> {
        if frame.len() != self.frame_bytes {
            return Err(StreamError::FrameShape {
                expected_shape: self.schema.frame_shape(),
                expected: self.frame_bytes,
                got: frame.len(),
                unit: "bytes",
            });
        }
        self.send(frame, metadata, true)
    }

    /// Advance by `frames` frames without data; they read back as the fill value (0).
    pub fn skip(&mut self, frames: u64) -> Result<(), StreamError> {
        self.check_error()?;
        self.router.skip_frames(frames).map_err(StreamError::from)?;
        self.skipped += frames;
        Ok(())
    }

    fn progress(&self) -> Progress {
        let reached = self.router.frames_reached();
        Progress {
            frames_written: self.written,
            frames_skipped: self.skipped,
            frames_reached: reached,
            growth_extent: self.router.extent_reached(reached),
            complete: self.router.total() == Some(reached),
            failed: false,
        }
    }

    fn shutdown(&mut self) -> Option<Summary> {
        self.ahead = None;
        if let Some(a) = self.allocator.take() {
            let _ = a.join();
        }
        let progress = self.progress();
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(Msg::Finish(progress));
        }
        let worker = self.worker.take()?;
        match worker.join() {
            Ok(summary) => summary,
            Err(p) => {
                set_error(
                    &self.error,
                    StreamError::WriterPanicked {
                        message: panic_message(p.as_ref()),
                    },
                );
                None
            }
        }
    }

    /// Finish the acquisition: write the final metadata (applying the
    /// partial-acquisition rule if it stopped early), make it durable, and report.
    /// Returns the first error the writer met, if any (after finalizing all the same).
    pub fn finish(mut self) -> Result<StreamSummary, StreamError> {
        let progress = self.progress();
        let summary = self.shutdown();
        // Any error left in the slot (a failed finalize, or one not yet reported).
        let pending = self
            .error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(e) = pending {
            return Err(e);
        }
        if let Some(first) = self.reported.take() {
            return Err(StreamError::FailedEarlier { first });
        }
        let summary = summary.ok_or_else(|| {
            // After `append` returned the writer's error, `check_error` stays quiet: a
            // finalize error that followed (the disk still full) is still in the slot.
            self.error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
                .unwrap_or_else(|| StreamError::WriterPanicked {
                    message: "the writer thread ended without a summary".to_owned(),
                })
        })?;
        Ok(StreamSummary {
            paths: summary.paths,
            frames_written: self.written,
            frames_skipped: self.skipped,
            bytes: summary.bytes_received,
            seconds: self.started.elapsed().as_secs_f64(),
            shape: summary.shape,
            complete: progress.complete,
        })
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        if self.worker.is_some() {
            let _ = self.shutdown();
            if let Ok(mut g) = self.error.lock()
                && let Some(e) = g.take()
            {
                eprintln!(
                    "ome-writers: stream dropped without finish(): {}",
                    ome_writers_backend::error_chain(&e)
                );
            }
        }
    }
}
