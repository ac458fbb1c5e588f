//! What a caller tunes about a stream, and what a finished stream reports.

use std::path::PathBuf;
use std::time::Duration;

use ome_writers_backend::EncoderOptions;

/// Most frames queued at once, whatever the byte budget.
pub const MAX_QUEUED_FRAMES: usize = 4096;

/// Tuning of a stream (not part of the schema: the same dataset can be written with
/// other options).
#[derive(Clone, Debug)]
#[non_exhaustive]
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
    /// How to reach an `s3://` output (credentials, endpoint, upload concurrency,
    /// multipart, retries); fields left unset come from the standard AWS environment.
    #[cfg(feature = "s3")]
    pub s3: ome_writers_zarr::S3Options,
}

impl StreamOptions {
    /// [`queue_bytes`](Self::queue_bytes).
    #[must_use]
    pub fn with_queue_bytes(mut self, bytes: usize) -> Self {
        self.queue_bytes = bytes;
        self
    }
    /// [`flush_every_frames`](Self::flush_every_frames).
    #[must_use]
    pub fn with_flush_every_frames(mut self, frames: u64) -> Self {
        self.flush_every_frames = frames;
        self
    }
    /// [`flush_every`](Self::flush_every).
    #[must_use]
    pub fn with_flush_every(mut self, every: Option<Duration>) -> Self {
        self.flush_every = every;
        self
    }
    /// [`encoders`](Self::encoders).
    #[must_use]
    pub fn with_encoders(mut self, encoders: EncoderOptions) -> Self {
        self.encoders = encoders;
        self
    }
    /// [`s3`](Self::s3).
    #[cfg(feature = "s3")]
    #[must_use]
    pub fn with_s3(mut self, s3: ome_writers_zarr::S3Options) -> Self {
        self.s3 = s3;
        self
    }
    /// [`preallocate`](Self::preallocate).
    #[must_use]
    pub fn with_preallocate(mut self, preallocate: bool) -> Self {
        self.preallocate = preallocate;
        self
    }
}

impl Default for StreamOptions {
    fn default() -> Self {
        Self {
            queue_bytes: 256 << 20,
            flush_every_frames: 1000,
            flush_every: Some(Duration::from_secs(10)),
            encoders: EncoderOptions::default(),
            preallocate: true,
            #[cfg(feature = "s3")]
            s3: ome_writers_zarr::S3Options::default(),
        }
    }
}

/// What a finished stream reports: the stream's counts beside what its backend
/// reported ([`Summary`](ome_writers_backend::Summary), which a backend implementor
/// returns from `finalize`).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
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
