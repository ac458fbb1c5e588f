//! Multiscale pyramids written during acquisition (`multiscale`, our settings
//! extension): each image group holds the arrays `0` (the frames), `1`, `2`, ...
//!
//! Level k (k >= 1) is a dataset of its own, written by a [`ZarrBackend`] of the level's
//! schema ([`Schema::level_schema`]: Y and X, and Z with `downsample_z`, halved k times,
//! the same chunk, shard and codec rules) over the same store; it writes its arrays
//! only, level 0 writing every group document. The levels are reduced and stored on
//! the level thread ([`LevelThread`], `worker.rs`), not the writer thread: it takes
//! each frame in arrival order, as the stream's pooled buffer shared with level 0's
//! write (a lent frame is copied once), and reduces a level-(k+1) plane from the
//! level-k plane in memory as soon as that plane exists (the frame itself for level
//! 1): nothing is read back from disk. Errors surface on the writer's next write,
//! durability point or finish.
//!
//! Without `downsample_z` each frame's planes of every level come from that frame
//! alone. With it, planes `z = 2i` and `2i + 1` of the same other coordinates make one
//! plane of the next level, whatever the acquisition order: the first of the two to
//! arrive waits in memory (one plane per level per open coordinate, the bound
//! docs/benchmarks.md states). A waiting plane whose partner can no longer come (the
//! image's growth coordinate moved past it: the partner was skipped) is reduced with
//! a plane of the fill value, as level 0 reads the skipped plane; so are those left at
//! finish, unless the partner lies outside the final array (an odd Z, or a Z growth
//! axis cut by the partial-acquisition rule), then the plane is reduced alone.
//!
//! Durability: a durability point waits for the level thread to store every frame
//! handed to it and flush every level before level 0's documents are replaced, so a
//! level plane whose sources are all written is durable with them. A plane still waiting
//! for its Z partner is not in its level yet (the level reads the fill value there
//! until the partner arrives or the acquisition finishes).

pub(crate) mod ngff;
mod rebuild;
mod worker;

pub(crate) use ngff::datasets;
pub(crate) use rebuild::rebuild_levels;

use std::collections::BTreeMap;
use std::num::NonZeroUsize;
use std::sync::Arc;

use ome_writers_backend::{Backend, BackendError, EncoderOptions, Progress, reduce_plane, reduced};
use ome_writers_schema::{DType, PositionIndex, Pyramid, ReduceMethod, Schema, StorageIndex};

use crate::ZarrStore;
use crate::backend::ZarrBackend;
use crate::error::ZarrError;
use crate::units::{Frame, MAX_AXES, UnitKey};
pub(crate) use worker::LevelThread;
use worker::Source;

/// A plane waiting for its Z partner: the image and the index of the plane they make.
type PendingKey = (usize, UnitKey);

/// The levels above 0 of one stream.
pub(crate) struct Levels {
    /// Level k's backend at `backends[k - 1]`.
    backends: Vec<ZarrBackend>,
    dtype: DType,
    method: ReduceMethod,
    /// Frame rows and columns of every level, 0 included.
    frames: Vec<(usize, usize)>,
    /// Index axes (storage order, Y and X excluded).
    n_index: usize,
    /// The storage axis of Z when Z is halved.
    z: Option<usize>,
    /// Z length at level 0 as declared.
    z_count: u64,
    /// The storage axis of the growth axis.
    growth: Option<usize>,
    /// `pending[k]`: level-k planes waiting for their Z partner, with their z parity.
    pending: Vec<BTreeMap<PendingKey, (u64, Vec<u8>)>>,
    /// Spare plane buffers of each level (no allocation per frame once warm).
    spare: Vec<Vec<Vec<u8>>>,
}

fn level_err(level: u32, source: impl std::error::Error + Send + Sync + 'static) -> BackendError {
    ZarrError::Pyramid {
        level,
        source: Box::new(source),
    }
    .into()
}

impl Levels {
    /// The level backends of `schema`, their arrays' documents written; `None`
    /// without a pyramid.
    pub(crate) fn create(
        schema: &Schema,
        store: &Arc<dyn ZarrStore>,
        encoders: &EncoderOptions,
    ) -> Result<Option<Box<Self>>, BackendError> {
        let pyramid = schema.pyramid();
        if !pyramid.is_pyramid() {
            return Ok(None);
        }
        let mut backends = Vec::new();
        let [h, w] = schema.frame_shape();
        let mut frames = vec![(h as usize, w as usize)];
        for level in 1..pyramid.levels() {
            let ls = schema
                .level_schema(level)
                .map_err(|e| level_err(level, e))?;
            // Level k holds 4^-k of the pixels: a thread or two of its own suffices.
            let mut enc = *encoders;
            enc.threads = NonZeroUsize::new(if level == 1 { 2 } else { 1 });
            let mut backend = ZarrBackend::build(&ls, store.clone(), &enc, level)?;
            backend.write_initial()?;
            backends.push(backend);
            let [lh, lw] = ls.frame_shape();
            frames.push((lh as usize, lw as usize));
        }
        let z = pyramid
            .z_dim()
            .and_then(|z| schema.storage_axes().iter().position(|&a| a == z));
        let z_count = pyramid
            .z_dim()
            .and_then(|z| schema.dims().get(z))
            .and_then(ome_writers_schema::Dim::count)
            .unwrap_or(1);
        let levels = pyramid.levels() as usize;
        Ok(Some(Box::new(Self {
            backends,
            dtype: schema.dtype(),
            method: pyramid.method(),
            frames,
            n_index: schema.storage_axes().len(),
            z,
            z_count,
            growth: schema.growth_axis(),
            pending: (0..levels).map(|_| BTreeMap::new()).collect(),
            spare: (0..levels).map(|_| Vec::new()).collect(),
        })))
    }

    fn take_buf(&mut self, level: usize) -> Vec<u8> {
        self.spare
            .get_mut(level)
            .and_then(Vec::pop)
            .unwrap_or_default()
    }

    fn give_buf(&mut self, level: usize, buf: Vec<u8>) {
        if let Some(s) = self.spare.get_mut(level) {
            s.push(buf);
        }
    }

    /// The level-(k+1) plane of one or two level-k planes.
    fn reduce(&mut self, k: usize, planes: &[&[u8]]) -> Result<Vec<u8>, BackendError> {
        let level = u32::try_from(k + 1).unwrap_or(u32::MAX);
        let (h, w) = self.frames.get(k).copied().unwrap_or((0, 0));
        let mut out = self.take_buf(k + 1);
        out.resize(reduced(h) * reduced(w) * self.dtype.size(), 0);
        reduce_plane(self.dtype, self.method, planes, h, w, &mut out)
            .map_err(|e| level_err(level, e))?;
        Ok(out)
    }

    /// A level-k plane of image `p` at `idx` exists: make the planes above it.
    fn feed(&mut self, k: usize, p: usize, idx: UnitKey, plane: &[u8]) -> Result<(), BackendError> {
        if k + 1 >= self.frames.len() {
            return Ok(());
        }
        let Some(z) = self.z else {
            let out = self.reduce(k, &[plane])?;
            return self.emit(k + 1, p, idx, out);
        };
        let zi = idx[z];
        let mut up = idx;
        up[z] = zi / 2;
        self.resolve_stale(k, p, &up)?;
        let parity = zi % 2;
        if let Some((_, partner)) = self.pending.get_mut(k).and_then(|m| m.remove(&(p, up))) {
            let planes: [&[u8]; 2] = if parity == 0 {
                [plane, &partner]
            } else {
                [&partner, plane]
            };
            let out = self.reduce(k, &planes);
            self.give_buf(k, partner);
            return self.emit(k + 1, p, up, out?);
        }
        if (zi ^ 1) < Pyramid::side(self.z_count, k as u32) {
            let mut buf = self.take_buf(k);
            buf.clear();
            buf.extend_from_slice(plane);
            if let Some(m) = self.pending.get_mut(k) {
                m.insert((p, up), (parity, buf));
            }
            return Ok(());
        }
        // The last plane of an odd Z: reduced alone.
        let out = self.reduce(k, &[plane])?;
        self.emit(k + 1, p, up, out)
    }

    /// Write a level plane, then make the planes above it.
    fn emit(
        &mut self,
        level: usize,
        p: usize,
        idx: UnitKey,
        plane: Vec<u8>,
    ) -> Result<(), BackendError> {
        let index =
            StorageIndex::new(idx.get(..self.n_index).unwrap_or_default()).unwrap_or_default();
        let written = match self.backends.get_mut(level - 1) {
            Some(b) => b.write(PositionIndex(p), &index, &plane, None),
            None => Ok(()),
        };
        let fed = written.and_then(|()| self.feed(level, p, idx, &plane));
        self.give_buf(level, plane);
        fed
    }

    /// Level-k planes of image `p` waiting for a partner that can no longer come:
    /// the image's growth coordinate (`up`'s) moved past theirs.
    fn resolve_stale(&mut self, k: usize, p: usize, up: &UnitKey) -> Result<(), BackendError> {
        let Some(g) = self.growth else {
            return Ok(());
        };
        let Some(map) = self.pending.get(k) else {
            return Ok(());
        };
        let stale: Vec<PendingKey> = map
            .range((p, [0; MAX_AXES])..(p + 1, [0; MAX_AXES]))
            .filter(|((_, key), _)| key[g] < up[g])
            .map(|(key, _)| *key)
            .collect();
        let z_len = Pyramid::side(self.z_count, k as u32);
        for key in stale {
            self.resolve(k, key, z_len)?;
        }
        Ok(())
    }

    /// Reduce a waiting level-k plane without its partner: with a plane of the fill
    /// value when the partner lies inside the level's `z_len` planes, else alone.
    fn resolve(&mut self, k: usize, key: PendingKey, z_len: u64) -> Result<(), BackendError> {
        let Some((parity, plane)) = self.pending.get_mut(k).and_then(|m| m.remove(&key)) else {
            return Ok(());
        };
        let (p, up) = key;
        let partner = self.z.map_or(u64::MAX, |z| 2 * up[z] + (1 - parity));
        let out = if partner < z_len {
            let zero = vec![0u8; plane.len()];
            let planes: [&[u8]; 2] = if parity == 0 {
                [&plane, &zero]
            } else {
                [&zero, &plane]
            };
            self.reduce(k, &planes)
        } else {
            self.reduce(k, &[&plane])
        };
        self.give_buf(k, plane);
        self.emit(k + 1, p, up, out?)
    }

    /// Whether a level stores on encoder threads of its own (its failures surface
    /// after the write that caused them).
    fn encoded_elsewhere(&self) -> bool {
        self.backends.iter().any(|b| b.encoder.is_some())
    }

    /// A durability point of every level.
    fn flush(&mut self) -> Result<(), BackendError> {
        for backend in &mut self.backends {
            backend.flush()?;
        }
        Ok(())
    }

    /// Every waiting plane reduced (lowest level first: its results may wait one
    /// level up), then every level finalized with the growth extent it has.
    fn finish(&mut self, progress: &Progress) -> Result<(), BackendError> {
        let mut first = None;
        let z_growth = self.growth.is_some() && self.growth == self.z;
        let z_extent = if z_growth {
            progress.growth_extent
        } else {
            self.z_count
        };
        for k in 0..self.pending.len() {
            let keys: Vec<PendingKey> = self
                .pending
                .get(k)
                .map(|m| m.keys().copied().collect())
                .unwrap_or_default();
            let z_len = Pyramid::side(z_extent, k as u32);
            for key in keys {
                if let Err(e) = self.resolve(k, key, z_len) {
                    first.get_or_insert(e);
                }
            }
        }
        for (i, backend) in self.backends.iter_mut().enumerate() {
            let mut level_progress = *progress;
            if z_growth {
                level_progress.growth_extent = Pyramid::side(
                    progress.growth_extent,
                    u32::try_from(i + 1).unwrap_or(u32::MAX),
                );
            }
            if let Err(e) = backend.finalize(&level_progress) {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

impl ZarrBackend {
    /// Hand frame `seq` of image `p` at `idx` (storage order) to the level thread:
    /// the pooled buffer itself, shared with level 0's write, or a copy of a lent
    /// frame. First, the level thread's failure since the last call, if any.
    pub(crate) fn write_levels(
        &mut self,
        p: usize,
        idx: &[u64],
        frame: &Frame<'_>,
        seq: u64,
    ) -> Result<(), BackendError> {
        let Some(levels) = self.pyramid.as_ref() else {
            return Ok(());
        };
        if let Some((failed, e)) = levels.take_failure() {
            self.stored.failed(failed);
            return Err(e);
        }
        let mut key: UnitKey = [0; MAX_AXES];
        for (k, &i) in key.iter_mut().zip(idx) {
            *k = i;
        }
        let src = match frame {
            Frame::Owned(buf) => Source::Shared(buf.clone()),
            Frame::Borrowed(bytes) => levels.copy_of(bytes),
        };
        levels.submit(p, key, seq, src)
    }

    /// Start a durability point of every level: the level thread stores what is
    /// queued and flushes each level; [`end_flush_levels`](Self::end_flush_levels)
    /// waits for it.
    pub(crate) fn begin_flush_levels(&mut self) -> Result<(), BackendError> {
        match self.pyramid.as_ref() {
            Some(levels) => levels.begin_flush(),
            None => Ok(()),
        }
    }

    /// Wait for the durability point [`begin_flush_levels`](Self::begin_flush_levels)
    /// started (`begun`: whether it did); the level thread's first failure, if any,
    /// comes first.
    pub(crate) fn end_flush_levels(&mut self, begun: bool) -> Result<(), BackendError> {
        let Some(levels) = self.pyramid.as_ref() else {
            return Ok(());
        };
        let flushed = if begun { levels.end_flush() } else { Ok(()) };
        if let Some((failed, e)) = levels.take_failure() {
            self.stored.failed(failed);
            return Err(e);
        }
        flushed
    }

    /// Finish every level above 0 (see [`Levels::finish`]) on the level thread, after
    /// every frame queued.
    pub(crate) fn finalize_levels(&mut self, progress: &Progress) -> Result<(), BackendError> {
        let Some(levels) = self.pyramid.as_mut() else {
            return Ok(());
        };
        let finished = levels.finish(progress);
        if let Some((failed, e)) = levels.take_failure() {
            self.stored.failed(failed);
            return Err(e);
        }
        finished
    }
}
