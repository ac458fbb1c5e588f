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
use ome_writers_backend::{BackendError, FrameBuffer};
use zarrs::array::{
    ArrayBytes, ArrayToBytesCodecTraits, CodecChain, CodecOptions, DataType, FillValue,
};
use zarrs::storage::{Bytes, StoreKey};

use crate::{BACKEND, Unit, ZarrStore};

/// What every encoder needs to encode a unit (identical for all images and units of a
/// regular grid).
pub(crate) struct EncodeSpec {
    pub(crate) store: Arc<dyn ZarrStore>,
    pub(crate) codecs: Arc<CodecChain>,
    pub(crate) shape: Vec<NonZeroU64>,
    pub(crate) data_type: DataType,
    pub(crate) fill_value: FillValue,
    /// Plain zstd at this level (unsharded chunks): encoded here with one reusable
    /// compressor context and output buffer per thread, the same bytes zarrs' zstd codec
    /// writes, without its per-chunk context and buffer allocations.
    pub(crate) zstd_level: Option<i32>,
}

/// What an encoder encodes: a unit buffer (returned for reuse) or a whole-frame chunk
/// still in the stream's pooled frame buffer (returned to that pool when dropped).
enum Payload {
    Unit(Unit),
    Frame(FrameBuffer),
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
}

type ErrorSlot = Arc<Mutex<Option<BackendError>>>;

/// A pool of encoder threads.
pub(crate) struct EncoderPool {
    jobs: Option<Sender<Job>>,
    done: Receiver<Option<Unit>>,
    error: ErrorSlot,
    in_flight: usize,
    handles: Vec<JoinHandle<()>>,
}

impl EncoderPool {
    pub(crate) fn new(spec: EncodeSpec, threads: usize) -> Self {
        let threads = threads.max(1);
        let (jobs_tx, jobs_rx) = crossbeam_channel::bounded::<Job>(threads);
        let (done_tx, done_rx) = crossbeam_channel::unbounded::<Option<Unit>>();
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
                        let mut scratch = Scratch {
                            zstd: spec
                                .zstd_level
                                .and_then(|l| zstd::bulk::Compressor::new(l).ok()),
                            out: Vec::new(),
                        };
                        for job in rx {
                            let failed = error
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .is_some();
                            if !failed {
                                // A panic in a codec or store must not lose the unit: the
                                // writer waits for every unit to come back.
                                let result =
                                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                        encode_and_store(&spec, &job, &options, &mut scratch)
                                    }))
                                    .unwrap_or_else(|_| {
                                        Err(BackendError::Format {
                                            backend: BACKEND,
                                            source: "an encoder thread panicked".into(),
                                        })
                                    });
                                if let Err(e) = result {
                                    let mut slot =
                                        error.lock().unwrap_or_else(PoisonError::into_inner);
                                    if slot.is_none() {
                                        *slot = Some(e);
                                    }
                                }
                            }
                            let back = match job.payload {
                                Payload::Unit(u) => Some(u),
                                Payload::Frame(_) => None,
                            };
                            if tx.send(back).is_err() {
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
            handles,
        }
    }

    /// Queue a complete unit for encoding (blocks while every encoder is busy and the
    /// queue is full).
    pub(crate) fn submit(&mut self, key: StoreKey, unit: Unit) -> Result<(), BackendError> {
        self.send(Job {
            key,
            payload: Payload::Unit(unit),
        })
    }

    /// Queue a whole-frame chunk straight from its pooled frame buffer (no copy).
    pub(crate) fn submit_frame(
        &mut self,
        key: StoreKey,
        frame: FrameBuffer,
    ) -> Result<(), BackendError> {
        self.send(Job {
            key,
            payload: Payload::Frame(frame),
        })
    }

    fn send(&mut self, job: Job) -> Result<(), BackendError> {
        self.check()?;
        let Some(jobs) = &self.jobs else {
            return Err(BackendError::Finalized);
        };
        jobs.send(job).map_err(|_| BackendError::Format {
            backend: BACKEND,
            source: "the encoder threads stopped".into(),
        })?;
        self.in_flight += 1;
        Ok(())
    }

    /// Units whose encoding finished, ready for reuse.
    pub(crate) fn returned(&mut self) -> Option<Unit> {
        loop {
            let back = self.done.try_recv().ok()?;
            self.in_flight -= 1;
            if back.is_some() {
                return back;
            }
        }
    }

    /// Wait for every queued unit; returns the buffers and the first error.
    pub(crate) fn drain(&mut self, pool: &mut Vec<Unit>) -> Result<(), BackendError> {
        while self.in_flight > 0 {
            match self.done.recv() {
                Ok(back) => {
                    self.in_flight -= 1;
                    pool.extend(back);
                }
                Err(_) => break,
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

/// Per-thread encoding state, reused for every unit.
struct Scratch {
    zstd: Option<zstd::bulk::Compressor<'static>>,
    out: Vec<u8>,
}

fn encode_and_store(
    spec: &EncodeSpec,
    job: &Job,
    options: &CodecOptions,
    scratch: &mut Scratch,
) -> Result<(), BackendError> {
    let format = |e: Box<dyn std::error::Error + Send + Sync>| BackendError::Format {
        backend: BACKEND,
        source: e,
    };
    if let Some(zstd) = scratch.zstd.as_mut() {
        let out = &mut scratch.out;
        out.clear();
        out.reserve(zstd::zstd_safe::compress_bound(job.payload.bytes().len()));
        zstd.compress_to_buffer(job.payload.bytes(), out)
            .map_err(|e| format(Box::new(e)))?;
        return spec.store.set_slice(&job.key, out).map_err(|e| {
            spec.store
                .take_error()
                .unwrap_or_else(|| format(Box::new(e)))
        });
    }
    let encoded = spec
        .codecs
        .encode(
            ArrayBytes::new_flen(job.payload.bytes()),
            &spec.shape,
            &spec.data_type,
            &spec.fill_value,
            options,
        )
        .map_err(|e| format(Box::new(e)))?;
    spec.store
        .set(&job.key, Bytes::from(encoded.into_owned()))
        .map_err(|e| {
            spec.store
                .take_error()
                .unwrap_or_else(|| format(Box::new(e)))
        })
}
