//! Write units: frames assembled into chunk or shard buffers (a unit is stored once,
//! when its last plane arrives), pooled unit buffers, the open units of each image,
//! their checkpoint at durability points and their storing at finish.

use std::sync::Arc;

use ome_writers_backend::{BackendError, FrameBuffer};

use crate::backend::ZarrBackend;
use crate::encode::EncoderPool;
use crate::error::ZarrError;

/// Most array axes: 4 index axes + Y + X.
pub(crate) const MAX_AXES: usize = 6;
pub(crate) type UnitKey = [u64; MAX_AXES];

/// A frame as the backend receives it: lent, or the stream's pooled buffer (shared
/// with the pyramid's level thread).
pub(crate) enum Frame<'a> {
    Borrowed(&'a [u8]),
    Owned(Arc<FrameBuffer>),
}

impl Frame<'_> {
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Self::Borrowed(b) => b,
            Self::Owned(f) => f.as_bytes(),
        }
    }
}

/// One unit buffer being filled.
pub(crate) struct Unit {
    pub(crate) data: Vec<u8>,
    /// Which planes (index-axis offsets inside the unit, row-major) have been written.
    pub(crate) planes: Vec<bool>,
    pub(crate) filled: u64,
    /// The first frame (arrival order) placed in it since it was last stored.
    pub(crate) pending: Option<u64>,
}

impl ZarrBackend {
    pub(crate) fn is_edge(&self, key: &UnitKey) -> bool {
        self.unit
            .iter()
            .enumerate()
            .any(|(k, &u)| self.declared[k].is_some_and(|count| (key[k] + 1) * u > count))
    }

    pub(crate) fn expected_planes(&self, key: &UnitKey, extent: Option<u64>) -> u64 {
        let n_index = self.unit.len() - 2;
        (0..n_index)
            .map(|k| {
                let u = self.unit[k];
                let limit = if Some(k) == self.growth {
                    extent.or(self.declared[k])
                } else {
                    self.declared[k]
                };
                limit.map_or(u, |c| u.min(c.saturating_sub(key[k] * u)))
            })
            .product()
    }

    /// Store (zero-filled where planes are missing) every open unit of image `p` whose
    /// growth-axis unit index is below `unit`.
    pub(crate) fn close_units_before(
        &mut self,
        p: usize,
        g: usize,
        unit: u64,
    ) -> Result<(), BackendError> {
        let mut keys: Vec<UnitKey> = self.images[p]
            .open
            .keys()
            .filter(|k| k[g] < unit)
            .copied()
            .collect();
        keys.sort_unstable();
        for key in keys {
            if let Some(u) = self.images[p].open.remove(&key) {
                self.store_unit(p, key, u)?;
            }
        }
        Ok(())
    }

    /// Store a copy of every open (incomplete) unit, its missing planes at the fill
    /// value, so that a durability point covers every frame written so far. The units
    /// stay open: when complete they are stored again, whole, replacing the copy. This
    /// is the only case of a unit written twice, once per durability point at most.
    pub(crate) fn checkpoint_open_units(&mut self) -> Result<(), BackendError> {
        // Only the images that may hold open units; those that hold none are dropped.
        self.with_open
            .retain(|&p| self.images.get(p).is_some_and(|img| !img.open.is_empty()));
        let with_open: Vec<usize> = self.with_open.iter().copied().collect();
        for p in with_open {
            let mut keys: Vec<UnitKey> = self.images[p].open.keys().copied().collect();
            keys.sort_unstable();
            for key in keys {
                let mut copy = self.take_unit(false);
                if let Some(open) = self.images[p].open.get_mut(&key) {
                    copy.data.copy_from_slice(&open.data);
                    copy.planes.copy_from_slice(&open.planes);
                    copy.filled = open.filled;
                    // Its frames are stored once the copy is.
                    copy.pending = open.pending.take();
                }
                self.store_unit(p, key, copy)?;
            }
        }
        Ok(())
    }

    /// Encode and store one unit, growing the array first if the unit lies past its
    /// current shape (unbounded growth axis).
    pub(crate) fn store_unit(
        &mut self,
        image: usize,
        key: UnitKey,
        mut unit: Unit,
    ) -> Result<(), BackendError> {
        let ndim = self.unit.len();
        // Zero the planes never written (early stop, skipped frames).
        if unit.filled < self.planes_per_unit as u64 {
            if self.raw_shards {
                // Planes are spread over inner chunks: copy a zero frame into each.
                if self.zero_frame.is_empty() {
                    self.zero_frame = vec![0u8; self.schema.frame_bytes()];
                }
                let n = ndim - 2;
                for (p, written) in unit.planes.iter().enumerate() {
                    if !written {
                        let o = self.layout.plane_offsets(p as u64);
                        self.layout
                            .copy(&mut unit.data, &o, key[n], key[n + 1], &self.zero_frame);
                    }
                }
            } else {
                let plane_bytes = self.unit_bytes / self.planes_per_unit;
                for (p, written) in unit.planes.iter().enumerate() {
                    if !written {
                        unit.data[p * plane_bytes..(p + 1) * plane_bytes].fill(0);
                    }
                }
            }
        }
        let pending = unit.pending.take();
        if let Err(e) = self.grow_to(image, &key) {
            self.stored.failed(pending);
            return Err(e);
        }
        let chunk_key = self.images[image].array.chunk_key(&key[..ndim]);
        if let Some(enc) = self.encoder.as_mut() {
            unit.planes.fill(false);
            unit.filled = 0;
            let submitted = enc.submit(chunk_key, unit, pending);
            if submitted.is_err() {
                self.stored.failed(pending);
            }
            return submitted;
        }
        // Uncompressed, unsharded, little-endian (the only case without encoders):
        // the encoded chunk is the buffer itself.
        let result = if self.raw_shards {
            self.store
                .set_parts(&chunk_key, &[&unit.data, &self.shard_index])
        } else {
            self.store.set_slice(&chunk_key, &unit.data)
        };
        self.recycle(unit);
        if result.is_err() {
            self.stored.failed(pending);
        } else {
            self.pending.give_back(pending);
        }
        result.map_err(|e| self.store_err(&chunk_key, e))
    }

    /// Copy a frame into the unit buffers it overlaps; store each unit it completes.
    pub(crate) fn write_into_units(
        &mut self,
        p: usize,
        key: &UnitKey,
        (plane, seq): (usize, u64),
        frame: &[u8],
    ) -> Result<(), BackendError> {
        let n_index = self.unit.len() - 2;
        let (ny, nx) = self.layout.columns();
        let offsets = self.layout.plane_offsets(plane as u64);
        let layout = self.layout;
        let mut key = *key;
        for by in 0..ny {
            for bx in 0..nx {
                key[n_index] = by;
                key[n_index + 1] = bx;
                if !self.images[p].open.contains_key(&key) {
                    let zero = self.is_edge(&key);
                    let unit = self.take_unit(zero);
                    self.images[p].open.insert(key, unit);
                    self.with_open.insert(p);
                }
                let Some(unit) = self.images[p].open.get_mut(&key) else {
                    continue;
                };
                layout.copy(&mut unit.data, &offsets, by, bx, frame);
                if unit.pending.is_none() {
                    unit.pending = Some(seq);
                    self.pending.take(seq);
                }
                if !unit.planes[plane] {
                    unit.planes[plane] = true;
                    unit.filled += 1;
                }
                let filled = unit.filled;
                if filled >= self.expected_planes(&key, None)
                    && let Some(unit) = self.images[p].open.remove(&key)
                {
                    self.store_unit(p, key, unit)?;
                }
            }
        }
        Ok(())
    }

    /// Put frame `seq` into its unit(s), storing the units it completes.
    pub(crate) fn place_frame(
        &mut self,
        p: usize,
        idx: &[u64],
        frame: Frame<'_>,
        seq: u64,
    ) -> Result<(), BackendError> {
        let mut key: UnitKey = [0; MAX_AXES];
        let mut plane = 0u64;
        for (k, &i) in idx.iter().enumerate() {
            key[k] = i / self.unit[k];
            plane = plane * self.unit[k] + i % self.unit[k];
        }
        let plane = plane as usize;
        if let Some(g) = self.growth {
            let img = &mut self.images[p];
            img.growth_reached = img.growth_reached.max(idx[g] + 1);
            // Within one image the growth coordinate never decreases: once a frame lies
            // in a later growth unit, the units before it can receive nothing more
            // (their missing planes were skipped), so they are stored now rather than
            // held until finish.
            let unit = idx[g] / self.unit[g];
            if unit > img.growth_unit {
                img.growth_unit = unit;
                self.close_units_before(p, g, unit)?;
            }
        }
        match frame {
            // A whole-frame chunk to compress: the encoder threads take the pooled frame
            // buffer itself, no copy.
            Frame::Owned(buf) if self.frame_units && self.encoder.is_some() => {
                self.pending.take(seq);
                self.grow_to(p, &key)?;
                let chunk_key = self.images[p].array.chunk_key(&key[..self.unit.len()]);
                if let Some(enc) = self.encoder.as_mut() {
                    enc.submit_frame(chunk_key, buf, seq)?;
                }
                Ok(())
            }
            frame => {
                if self.frame_units && self.raw_chunks {
                    self.store_frame(p, &key, frame.bytes())
                } else {
                    self.write_into_units(p, &key, (plane, seq), frame.bytes())
                }
            }
        }
    }

    /// Grow an unbounded growth axis so that the unit at `key` lies inside the array.
    pub(crate) fn grow_to(&mut self, image: usize, key: &UnitKey) -> Result<(), BackendError> {
        let Some(g) = self.growth else {
            return Ok(());
        };
        if self.declared[g].is_some() {
            return Ok(());
        }
        let img = &mut self.images[image];
        let needed = img.growth_reached.max(key[g] * self.unit[g] + 1);
        if img.array.shape()[g] < needed {
            let mut new_shape = img.array.shape().to_vec();
            new_shape[g] = needed;
            let path = img.array.path().as_str().to_owned();
            img.array
                .set_shape(new_shape.clone())
                .map_err(|source| ZarrError::Resize {
                    path,
                    shape: new_shape,
                    source,
                })?;
            self.touch(image);
        }
        Ok(())
    }

    /// A frame that is exactly one raw chunk: stored straight from the caller's
    /// buffer, no copy at all.
    pub(crate) fn store_frame(
        &mut self,
        image: usize,
        key: &UnitKey,
        frame: &[u8],
    ) -> Result<(), BackendError> {
        self.grow_to(image, key)?;
        let chunk_key = self.images[image].array.chunk_key(&key[..self.unit.len()]);
        self.store
            .set_slice(&chunk_key, frame)
            .map_err(|e| self.store_err(&chunk_key, e))
    }

    pub(crate) fn recycle(&mut self, mut unit: Unit) {
        unit.planes.fill(false);
        unit.filled = 0;
        unit.pending = None;
        self.pool.push(unit);
    }

    pub(crate) fn take_unit(&mut self, zero: bool) -> Unit {
        if let Some(enc) = self.encoder.as_mut() {
            while let Some(u) = enc.returned() {
                self.pool.push(u);
            }
        }
        match self.pool.pop() {
            Some(mut u) => {
                if zero {
                    u.data.fill(0);
                }
                u.pending = None;
                u
            }
            None => Unit {
                data: vec![0u8; self.unit_bytes],
                planes: vec![false; self.planes_per_unit],
                filled: 0,
                pending: None,
            },
        }
    }

    /// Store every unit still open, padded with the fill value, if it lies inside the
    /// extent; past an error, the others are still stored (not into a replaced
    /// directory). Returns the first error.
    pub(crate) fn store_open_units(
        &mut self,
        extent: u64,
        shape: &[u64],
        replaced: bool,
    ) -> Result<(), BackendError> {
        let mut first = None;
        for p in 0..self.images.len() {
            let mut keys: Vec<UnitKey> = self.images[p].open.keys().copied().collect();
            keys.sort_unstable();
            for key in keys {
                let Some(unit) = self.images[p].open.remove(&key) else {
                    continue;
                };
                let inside = self.growth.is_none_or(|g| key[g] * self.unit[g] < extent);
                let replaced = replaced || matches!(first, Some(BackendError::Replaced { .. }));
                if inside && !replaced {
                    if let Err(e) = self.store_unit(p, key, unit) {
                        first.get_or_insert(e);
                    }
                } else {
                    if inside {
                        self.stored.failed(unit.pending);
                    }
                    self.recycle(unit);
                }
            }
        }
        // store_unit may have grown the shape past the extent; set it back.
        let reset = self.set_shapes(shape);
        first.map_or(reset, Err)
    }

    /// The longest prefix of frames (arrival order) all stored.
    pub(crate) fn stored_prefix(&self) -> u64 {
        let open = self
            .with_open
            .iter()
            .filter_map(|&p| self.images.get(p))
            .flat_map(|img| img.open.values().filter_map(|u| u.pending));
        let encoders = self.encoder.as_ref().and_then(EncoderPool::failed_seq);
        self.stored.prefix(open.chain(encoders))
    }
}
