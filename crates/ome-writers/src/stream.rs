//! The stream: frame checks on the caller's thread, a bounded byte budget of pooled
//! buffers, and one writer thread that owns the backend.

use std::sync::{Arc, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;
use ome_writers_backend::{Backend, Checked, FrameBuffer, FrameMetadata, Progress, Summary};
use ome_writers_router::FrameRouter;
use ome_writers_schema::{FrameNumber, Pixel, Schema};

use crate::error::EarlierError;
use crate::events::{CoordEvent, CoordUpdate, Events};
use crate::grid::Grid;
use crate::live::Live;
use crate::pool::{Pool, Wait};
use crate::view::StreamView;
use crate::writer::{ErrorSlot, Msg, panic_message, set_error, spawn_writer};
use crate::{MAX_QUEUED_FRAMES, StreamError, StreamOptions, StreamSummary};

/// An acquisition being written. Append frames in acquisition order, then
/// [`finish`](Stream::finish). Dropping it finalizes what was written (errors are
/// printed to stderr, never panicked on).
pub struct Stream {
    schema: Schema,
    router: FrameRouter,
    tx: Option<Sender<Msg>>,
    pool: Pool,
    frame_bytes: usize,
    error: ErrorSlot,
    /// The first writer error, once returned to the caller.
    reported: Option<EarlierError>,
    worker: Option<JoinHandle<Option<Summary>>>,
    written: u64,
    skipped: u64,
    started: Instant,
    /// What views share with the stream (nothing is kept until the first view).
    live: Arc<Live>,
    grid: Arc<Grid>,
    events: Events,
}

/// Create a stream with default options.
pub fn create_stream(schema: &Schema) -> Result<Stream, StreamError> {
    create_stream_with(schema, &StreamOptions::default())
}

/// Create a stream with explicit options.
pub fn create_stream_with(schema: &Schema, options: &StreamOptions) -> Result<Stream, StreamError> {
    let backend = crate::factory::create_unchecked(schema, options)?;
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
    let error: ErrorSlot = std::sync::Arc::new(std::sync::Mutex::new(None));
    // Every backend runs behind the contract checks.
    let backend: Box<dyn Backend> = Box::new(Checked::new(schema, backend));
    let live = Arc::new(Live::new(backend.reader(), schema.frame_bytes()));
    let worker = spawn_writer(backend, rx, &error, options, &live)?;
    let grid = Arc::new(Grid::new(schema));
    let pool = Pool::new(
        schema.frame_bytes(),
        schema.dtype(),
        max_buffers,
        options.preallocate,
        schema.num_frames(),
    );
    let stream = Stream {
        schema: schema.clone(),
        router: FrameRouter::new(schema),
        tx: Some(tx),
        pool,
        frame_bytes: schema.frame_bytes(),
        error,
        reported: None,
        worker: Some(worker),
        written: 0,
        skipped: 0,
        started: Instant::now(),
        live,
        events: Events::new(grid.clone()),
        grid,
    };
    Ok(stream)
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
                self.reported = Some(EarlierError::of(&e));
                Err(e)
            }
            None => Ok(()),
        }
    }

    fn route_next(&self) -> Result<ome_writers_router::Route, StreamError> {
        let n = self.router.frames_reached();
        self.router.route(FrameNumber(n)).map_err(StreamError::from)
    }

    fn take_buffer(&mut self, wait: Wait) -> Result<Option<FrameBuffer>, StreamError> {
        let worker = self.worker.as_ref();
        let alive = || worker.is_some_and(|w| !w.is_finished());
        match self.pool.take(wait, alive) {
            Ok(b) => Ok(b),
            // Buffers come back when dropped, also when the writer fails; a writer
            // thread that has ended while none came back is reported.
            Err(crate::pool::WriterGone) => {
                self.check_error()?;
                Err(StreamError::WriterStopped)
            }
        }
    }

    fn ready(&mut self) -> Result<ome_writers_router::Route, StreamError> {
        self.check_error()?;
        if let Some(first) = &self.reported {
            // The writer already failed and said so; refuse further frames rather than
            // queue frames that will never be written.
            return Err(StreamError::FailedEarlier {
                first: first.clone(),
            });
        }
        self.route_next()
    }

    fn send(
        &mut self,
        bytes: &[u8],
        metadata: Option<FrameMetadata>,
        wait: Wait,
    ) -> Result<(), StreamError> {
        check_metadata(metadata.as_ref())?;
        let route = self.ready()?;
        let Some(mut buf) = self.take_buffer(wait)? else {
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
        buf.set_home(self.pool.home());
        let reached = self.router.frames_reached();
        let msg = if self.live.enabled() {
            // Shared with the views until the backend reads it back (kept before it
            // counts as reached, so a view never misses it).
            let buf = Arc::new(buf);
            self.live.keep(reached, self.written, buf.clone());
            Msg::Shared {
                position: route.position,
                index: route.index,
                buf,
                metadata,
                frame: reached,
            }
        } else {
            Msg::Frame {
                position: route.position,
                index: route.index,
                buf,
                metadata,
            }
        };
        let sent = self.tx.as_ref().map(|tx| tx.send(msg));
        if !matches!(sent, Some(Ok(()))) {
            self.check_error()?;
            return Err(StreamError::WriterStopped);
        }
        // Cannot fail: route_next just answered for this frame number.
        let _ = self.router.skip_frames(1);
        self.written += 1;
        self.reached(reached);
        Ok(())
    }

    /// Frames reached moved on from `before`: views and events learn it.
    fn reached(&mut self, before: u64) {
        let now = self.router.frames_reached();
        self.live.set_reached(now);
        self.events.reached(before, now);
    }

    /// A pooled buffer for the next frame (blocks while the queue is full). Fill it and
    /// pass it to [`append_buffer`](Self::append_buffer): no copy is made.
    pub fn next_buffer(&mut self) -> Result<FrameBuffer, StreamError> {
        self.check_error()?;
        let mut buf = self
            .take_buffer(Wait::Forever)?
            .ok_or(StreamError::QueueFull)?;
        // Dropped without being appended, it returns to the pool.
        buf.set_home(self.pool.home());
        Ok(buf)
    }

    /// Append a buffer from [`next_buffer`](Self::next_buffer), without copying it;
    /// `metadata` as in [`append_with_metadata`](Self::append_with_metadata).
    pub fn append_buffer(
        &mut self,
        buffer: FrameBuffer,
        metadata: Option<FrameMetadata>,
    ) -> Result<(), StreamError> {
        if let Err(e) = check_metadata(metadata.as_ref()) {
            self.pool.give_back(buffer);
            return Err(e);
        }
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
            Ok(route) => self.send_buffer(route, buffer, metadata),
            Err(e) => {
                self.pool.give_back(buffer);
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
        self.send(bytemuck::cast_slice(frame), None, Wait::Forever)
    }

    /// Append the next frame with its metadata (`delta_t`, `exposure_time`,
    /// `position_x`, ... or anything else; [`frame_metadata`](crate::frame_metadata)
    /// turns a `json!({...})` into one).
    pub fn append_with_metadata<T: Pixel>(
        &mut self,
        frame: &[T],
        metadata: FrameMetadata,
    ) -> Result<(), StreamError> {
        self.check_pixels::<T>(frame.len())?;
        self.send(bytemuck::cast_slice(frame), Some(metadata), Wait::Forever)
    }

    /// Append a 2D array view (any memory layout) of shape `(height, width)`.
    pub fn append_array<T: Pixel>(
        &mut self,
        frame: ndarray::ArrayView2<'_, T>,
    ) -> Result<(), StreamError> {
        self.send_array(frame, None)
    }

    /// [`append_array`](Self::append_array) with the frame's metadata.
    pub fn append_array_with_metadata<T: Pixel>(
        &mut self,
        frame: ndarray::ArrayView2<'_, T>,
        metadata: FrameMetadata,
    ) -> Result<(), StreamError> {
        self.send_array(frame, Some(metadata))
    }

    fn send_array<T: Pixel>(
        &mut self,
        frame: ndarray::ArrayView2<'_, T>,
        metadata: Option<FrameMetadata>,
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
        self.check_pixels::<T>(h * w)?;
        if let Some(slice) = frame.as_slice() {
            return self.send(bytemuck::cast_slice(slice), metadata, Wait::Forever);
        }
        // Any other layout: copied element by element straight into a pooled buffer.
        check_metadata(metadata.as_ref())?;
        let route = self.ready()?;
        let Some(mut buf) = self.take_buffer(Wait::Forever)? else {
            return Err(StreamError::QueueFull);
        };
        for (dst, src) in buf.pixels_mut::<T>()?.iter_mut().zip(frame.iter()) {
            *dst = *src;
        }
        self.send_buffer(route, buf, metadata)
    }

    /// Like [`append`](Self::append) but never blocks: when the queue is full it returns
    /// [`StreamError::QueueFull`] and the frame is not taken (the caller still owns it).
    pub fn try_append<T: Pixel>(&mut self, frame: &[T]) -> Result<(), StreamError> {
        self.check_pixels::<T>(frame.len())?;
        self.send(bytemuck::cast_slice(frame), None, Wait::No)
    }

    /// [`try_append`](Self::try_append) with the frame's metadata.
    pub fn try_append_with_metadata<T: Pixel>(
        &mut self,
        frame: &[T],
        metadata: FrameMetadata,
    ) -> Result<(), StreamError> {
        self.check_pixels::<T>(frame.len())?;
        self.send(bytemuck::cast_slice(frame), Some(metadata), Wait::No)
    }

    /// Append one frame given as raw bytes: row-major, native (little-endian) byte
    /// order, exactly one frame of the schema's dtype.
    pub fn append_bytes(
        &mut self,
        frame: &[u8],
        metadata: Option<FrameMetadata>,
    ) -> Result<(), StreamError> {
        self.check_bytes(frame.len())?;
        self.send(frame, metadata, Wait::Forever)
    }

    /// [`append_bytes`](Self::append_bytes) that waits at most `timeout` for room in
    /// the queue: then [`StreamError::QueueFull`], and the frame is not taken. For a
    /// caller that must look up now and then while it waits (a binding checking for
    /// Ctrl-C), without polling.
    pub fn append_bytes_timeout(
        &mut self,
        frame: &[u8],
        metadata: Option<FrameMetadata>,
        timeout: Duration,
    ) -> Result<(), StreamError> {
        self.check_bytes(frame.len())?;
        // A timeout too long for the clock waits as long as it takes.
        let wait = Instant::now()
            .checked_add(timeout)
            .map_or(Wait::Forever, Wait::Until);
        self.send(frame, metadata, wait)
    }

    /// Refuse raw bytes that are not exactly one frame.
    fn check_bytes(&self, len: usize) -> Result<(), StreamError> {
        if len == self.frame_bytes {
            return Ok(());
        }
        Err(StreamError::FrameShape {
            expected_shape: self.schema.frame_shape(),
            expected: self.frame_bytes,
            got: len,
            unit: "bytes",
        })
    }

    /// Advance by `frames` frames without data; they read back as the fill value (0).
    pub fn skip(&mut self, frames: u64) -> Result<(), StreamError> {
        self.check_error()?;
        let before = self.router.frames_reached();
        self.router.skip_frames(frames).map_err(StreamError::from)?;
        self.skipped += frames;
        self.reached(before);
        Ok(())
    }

    /// A live, read-only view of the data, in acquisition order (every dimension of
    /// the settings, the position axis included), whatever the storage order; usable
    /// from any thread while frames are appended, and after finish.
    ///
    /// - `dynamic_shape`: the shape grows with the high-water marks of the frames
    ///   reached (0 before the first frame); otherwise it is the declared shape (an
    ///   unbounded first dimension: its extent so far).
    /// - `strict`: an integer index past the live shape is an error; otherwise it
    ///   reads zeros (inside the declared shape). Slices are clipped.
    ///
    /// A frame reads back as soon as `append` has returned (from memory until the
    /// backend can read it back, then from the backend). Until the first view exists
    /// nothing is kept; frames appended before it read back once the writer thread has
    /// reached them (a view's first read waits for that).
    pub fn view(&self, dynamic_shape: bool, strict: bool) -> StreamView {
        if self.live.enable() {
            let sent = self.tx.as_ref().map(|tx| tx.send(Msg::EnableView));
            if !matches!(sent, Some(Ok(()))) {
                self.live.writer_done();
            }
        }
        StreamView::new(
            self.live.clone(),
            self.grid.clone(),
            Arc::new(self.router.clone()),
            self.schema.dtype(),
            dynamic_shape,
            strict,
        )
    }

    /// Call `callback` on a background thread each time a frame (or a skip) raises a
    /// high-water mark: the acquisition reached a new index along some dimension.
    /// Updates arrive in frame order; see [`EVENT_QUEUE`](crate::EVENT_QUEUE) for a
    /// callback slower than the frames.
    ///
    /// # Errors
    /// [`StreamError::Spawn`] if the event thread cannot be started.
    pub fn on_coords_expanded(
        &mut self,
        callback: impl Fn(&CoordUpdate) + Send + Sync + 'static,
    ) -> Result<(), StreamError> {
        self.on(CoordEvent::Expanded, Arc::new(callback))
    }

    /// Call `callback` on a background thread after every frame appended (and every
    /// skip), in frame order.
    ///
    /// # Errors
    /// [`StreamError::Spawn`] if the event thread cannot be started.
    pub fn on_coords_changed(
        &mut self,
        callback: impl Fn(&CoordUpdate) + Send + Sync + 'static,
    ) -> Result<(), StreamError> {
        self.on(CoordEvent::Changed, Arc::new(callback))
    }

    /// Register a callback for `event` (for bindings that choose the event at run time).
    ///
    /// # Errors
    /// [`StreamError::Spawn`] if the event thread cannot be started.
    pub fn on(
        &mut self,
        event: CoordEvent,
        callback: Arc<dyn Fn(&CoordUpdate) + Send + Sync>,
    ) -> Result<(), StreamError> {
        self.events
            .on(event, callback)
            .map_err(|source| StreamError::Spawn {
                thread: "ome-writers-events",
                source,
            })
    }

    /// Wait until every coordinate event of the frames appended so far was delivered.
    pub fn wait_for_events(&self) {
        self.events.wait();
    }

    /// A handle that waits like [`wait_for_events`](Self::wait_for_events) without
    /// borrowing the stream.
    pub fn event_waiter(&self) -> crate::EventWaiter {
        self.events.waiter()
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
        self.pool.stop();
        self.events.stop();
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
                .unwrap_or(StreamError::WriterStopped)
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

    /// Set (or replace) acquisition-level metadata under `namespace` (a JSON object),
    /// written at the next durability point and at finish: OME-Zarr root attribute
    /// `namespace`, OME-TIFF `MapAnnotation` (see docs/layouts.md). The namespace and
    /// value are checked here (nothing is queued when refused); a backend error fails
    /// the stream like a write error. After finish: [`crate::set_global_metadata`].
    pub fn set_global_metadata(
        &mut self,
        namespace: &str,
        value: serde_json::Value,
    ) -> Result<(), StreamError> {
        crate::global::check(namespace, &value)?;
        self.ready_for_metadata()?;
        let msg = Msg::GlobalMetadata {
            namespace: namespace.to_owned(),
            value,
        };
        if !matches!(self.tx.as_ref().map(|tx| tx.send(msg)), Some(Ok(()))) {
            self.check_error()?;
            return Err(StreamError::WriterStopped);
        }
        Ok(())
    }

    fn ready_for_metadata(&mut self) -> Result<(), StreamError> {
        self.check_error()?;
        match &self.reported {
            Some(first) => Err(StreamError::FailedEarlier {
                first: first.clone(),
            }),
            None => Ok(()),
        }
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
