//! Encoder threads: complete units are compressed (or assembled into shards) and
//! stored on every core while the writer thread goes on copying frames.
//!
//! Units travel to the encoders through a bounded channel (so at most
//! `2 x threads` units are in flight) and come back, buffers intact, for reuse. A
//! durability point or finish first [`drain`](EncoderPool::drain)s the pool, so
//! metadata is never written ahead of the chunks it describes.

use std::num::NonZeroU64;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};
use ome_writers_backend::{BackendError, EncoderPriority, FrameBuffer};
use zarrs::array::{
    ArrayBytes, ArrayToBytesCodecTraits, CodecChain, CodecOptions, DataType, FillValue,
};
use zarrs::storage::{Bytes, StoreKey};

use crate::ZarrStore;
use crate::codecs::{ChunkCodec, FastCodec};
use crate::error::ZarrError;
use crate::readable::Pending;
use crate::units::Unit;

/// What every encoder needs to encode a unit (identical for all images and units of a
/// regular grid).
pub(crate) struct EncodeSpec {
    pub(crate) store: Arc<dyn ZarrStore>,
    pub(crate) codecs: Arc<CodecChain>,
    pub(crate) shape: Vec<NonZeroU64>,
    pub(crate) data_type: DataType,
    pub(crate) fill_value: FillValue,
    /// Unsharded chunks whose codec is encoded here rather than through zarrs' codec
    /// chain (see [`FastCodec`]).
    pub(crate) fast: Option<FastCodec>,
    /// The units not yet stored, for live views (a stored job gives its token back).
    pub(crate) pending: Arc<Pending>,
}

/// What an encoder encodes: a unit buffer (returned for reuse) or a whole-frame chunk
/// still in the stream's pooled frame buffer (returned to that pool when dropped).
enum Payload {
    Unit(Unit),
    Frame(Arc<FrameBuffer>),
}

impl Payload {
    fn bytes(&self) -> &[u8] {
        match self {
            Self::Unit(u) => &u.data,
            Self::Frame(f) => f.as_bytes(),
        }
    }
}

struct Job {
    key: StoreKey,
    payload: Payload,
    /// The first frame (arrival order) this job stores, if it carries any.
    seq: Option<u64>,
}

/// A finished job: the unit buffer for reuse, the job's first frame and whether the
/// job was stored.
struct Done {
    unit: Option<Unit>,
    seq: Option<u64>,
    stored: bool,
}

type ErrorSlot = Arc<Mutex<Option<BackendError>>>;

/// A pool of encoder threads.
pub(crate) struct EncoderPool {
    jobs: Option<Sender<Job>>,
    done: Receiver<Done>,
    error: ErrorSlot,
    in_flight: usize,
    /// The first frame (arrival order) of a job that was not stored (it failed, or
    /// was skipped after another job failed): no frame from it on is known stored.
    failed_seq: Option<u64>,
    /// Jobs were lost (every encoder thread ended with jobs queued): which frames they
    /// held is unknown.
    lost: bool,
    handles: Vec<JoinHandle<()>>,
}

impl EncoderPool {
    pub(crate) fn new(spec: EncodeSpec, threads: usize, priority: EncoderPriority) -> Self {
        let threads = threads.max(1);
        let (jobs_tx, jobs_rx) = crossbeam_channel::bounded::<Job>(threads);
        let (done_tx, done_rx) = crossbeam_channel::unbounded::<Done>();
        let error: ErrorSlot = Arc::new(Mutex::new(None));
        let spec = Arc::new(spec);
        // Units are encoded one per thread; inner parallelism would oversubscribe.
        let options = CodecOptions::default().with_concurrent_target(1);
        let handles = (0..threads)
            .filter_map(|i| {
                let rx = jobs_rx.clone();
                let tx = done_tx.clone();
                let spec = spec.clone();
                let error = error.clone();
                std::thread::Builder::new()
                    .name(format!("ome-writers-encode-{i}"))
                    .spawn(move || {
                        if priority == EncoderPriority::Background {
                            yield_to_the_application();
                        }
                        let mut fast = spec.fast.map(ChunkCodec::new);
                        for job in rx {
                            let done = run_job(&spec, job, &options, fast.as_mut(), &error);
                            if tx.send(done).is_err() {
                                break;
                            }
                        }
                    })
                    .ok()
            })
            .collect();
        Self {
            jobs: Some(jobs_tx),
            done: done_rx,
            error,
            in_flight: 0,
            failed_seq: None,
            lost: false,
            handles,
        }
    }

    /// Queue a complete unit for encoding (blocks while every encoder is busy and the
    /// queue is full); `seq`: the first frame it stores.
    pub(crate) fn submit(
        &mut self,
        key: StoreKey,
        unit: Unit,
        seq: Option<u64>,
    ) -> Result<(), BackendError> {
        self.send(Job {
            key,
            payload: Payload::Unit(unit),
            seq,
        })
    }

    /// Queue a whole-frame chunk straight from its pooled frame buffer (no copy).
    pub(crate) fn submit_frame(
        &mut self,
        key: StoreKey,
        frame: Arc<FrameBuffer>,
        seq: u64,
    ) -> Result<(), BackendError> {
        self.send(Job {
            key,
            payload: Payload::Frame(frame),
            seq: Some(seq),
        })
    }

    /// The first frame of a job that was not stored, among the jobs finished so far.
    pub(crate) fn failed_seq(&self) -> Option<u64> {
        self.failed_seq
    }

    /// Whether jobs were lost (see [`drain`](Self::drain)).
    pub(crate) fn lost(&self) -> bool {
        self.lost
    }

    fn finished(&mut self, done: Done) -> Option<Unit> {
        self.in_flight -= 1;
        if !done.stored
            && let Some(seq) = done.seq
        {
            self.failed_seq = Some(self.failed_seq.map_or(seq, |f| f.min(seq)));
        }
        done.unit
    }

    fn send(&mut self, job: Job) -> Result<(), BackendError> {
        self.check()?;
        let Some(jobs) = &self.jobs else {
            return Err(BackendError::Finalized);
        };
        jobs.send(job).map_err(|_| ZarrError::EncodersStopped)?;
        self.in_flight += 1;
        Ok(())
    }

    /// Units whose encoding finished, ready for reuse.
    pub(crate) fn returned(&mut self) -> Option<Unit> {
        loop {
            let done = self.done.try_recv().ok()?;
            if let Some(unit) = self.finished(done) {
                return Some(unit);
            }
        }
    }

    /// Wait for every queued unit; returns the buffers and the first error.
    pub(crate) fn drain(&mut self, pool: &mut Vec<Unit>) -> Result<(), BackendError> {
        while self.in_flight > 0 {
            match self.done.recv() {
                Ok(done) => {
                    let unit = self.finished(done);
                    pool.extend(unit);
                }
                Err(_) => {
                    // Every encoder thread is gone: the jobs still out are lost.
                    self.lost = true;
                    break;
                }
            }
        }
        self.check()
    }

    fn check(&self) -> Result<(), BackendError> {
        match self
            .error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl Drop for EncoderPool {
    fn drop(&mut self) {
        self.jobs = None;
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

/// Encode and store one job. Every job is attempted, even after another failed (a
/// unit that can be stored is never dropped); the first error goes to `error`. A panic
/// in a codec or store must not lose the unit: the writer waits for every unit to come
/// back.
fn run_job(
    spec: &EncodeSpec,
    job: Job,
    options: &CodecOptions,
    fast: Option<&mut ChunkCodec>,
    error: &ErrorSlot,
) -> Done {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        encode_and_store(spec, &job, options, fast)
    }))
    .unwrap_or_else(|_| Err(ZarrError::EncoderPanicked.into()));
    let stored = match result {
        Ok(()) => {
            spec.pending.give_back(job.seq);
            true
        }
        Err(e) => {
            let mut slot = error.lock().unwrap_or_else(PoisonError::into_inner);
            if slot.is_none() {
                *slot = Some(e);
            }
            false
        }
    };
    let unit = match job.payload {
        Payload::Unit(u) => Some(u),
        Payload::Frame(_) => None,
    };
    Done {
        unit,
        seq: job.seq,
        stored,
    }
}

/// Encoder threads are many (more than the cores) and always runnable while frames
/// wait, so by default ([`EncoderPriority::Background`]) they run under Linux's
/// `SCHED_IDLE` policy: they get every cycle the
/// application leaves, and the application's threads (the camera thread appending
/// frames above all) get a core the moment they want one. At normal priority, even
/// 10 nice levels down, the camera thread waited up to a scheduler slice (3-5 ms) for
/// a core after each hand-over while zstd kept both cores busy; under `SCHED_IDLE`
/// its p99 stays under 0.1 ms (docs/benchmarks.md). If refused: nice +10. Linux only.
/// Advisory: failures are ignored.
fn yield_to_the_application() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: sched_setscheduler only reads `param`, a live, initialized
        // `sched_param` borrowed for the duration of the call; pid 0 means the calling
        // thread. SCHED_IDLE with priority 0 is always permitted (it only lowers the
        // thread's priority) and changes nothing else about the thread or memory.
        let idle = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &raw const param) };
        if idle == 0 {
            return;
        }
        let me = Some(rustix::thread::gettid());
        if let Ok(nice) = rustix::process::getpriority_process(me) {
            let _ = rustix::process::setpriority_process(me, (nice + 10).min(19));
        }
    }
}

fn encode_and_store(
    spec: &EncodeSpec,
    job: &Job,
    options: &CodecOptions,
    fast: Option<&mut ChunkCodec>,
) -> Result<(), BackendError> {
    let src = job.payload.bytes();
    // The store's own I/O error (with its path) if it kept one.
    let store_err = |source: zarrs::storage::StorageError| {
        spec.store.take_error().unwrap_or_else(|| {
            ZarrError::Store {
                key: job.key.to_string(),
                source,
            }
            .into()
        })
    };
    if let Some(codec) = fast {
        let encoded = codec.encode(src)?;
        return spec
            .store
            .set_parts_direct(&job.key, &[encoded])
            .map_err(store_err);
    }
    let encoded = spec
        .codecs
        .encode(
            ArrayBytes::new_flen(src),
            &spec.shape,
            &spec.data_type,
            &spec.fill_value,
            options,
        )
        .map_err(|source| ZarrError::Encode {
            key: job.key.to_string(),
            source,
        })?;
    spec.store
        .set(&job.key, Bytes::from(encoded.into_owned()))
        .map_err(store_err)
}
