//! The frame router: the only code that knows both the acquisition order and the
//! storage order.
//!
//! Frames arrive as nested loops over the non-frame dimensions, the rightmost varying
//! fastest. [`FrameRouter::route`] maps frame `n` to the position it belongs to and its
//! index in that position's array, in storage order (position and Y/X left out).
//!
//! **Invariant:** no I/O and no state beyond a frame counter; `route(n)` answers for any
//! `n` and never panics. Routing every frame of a bounded schema is a bijection onto
//! positions x storage grid.
//!
//! ```
//! use ome_writers_router::FrameRouter;
//! use ome_writers_schema::{AcquisitionSettings, DType, Dimension, FrameNumber};
//!
//! // Acquired T, Z, C; stored T, C, Z (the OME-Zarr order).
//! let dims = ["t", "z", "c", "y", "x"]
//!     .iter()
//!     .zip([2, 3, 2, 4, 4])
//!     .map(|(n, c)| Dimension::new(*n, Some(c)))
//!     .collect();
//! let schema = AcquisitionSettings::new("a.ome.zarr", dims, DType::U8).validate()?;
//! let router = FrameRouter::new(&schema);
//! let route = router.route(FrameNumber(7))?; // t=1, z=0, c=1
//! assert_eq!(route.index.as_slice(), &[1, 1, 0]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use ome_writers_schema::{FrameNumber, MAX_INDEX_AXES, PositionIndex, Schema, StorageIndex};

/// Where a frame goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// The frame's acquisition number.
    pub frame: FrameNumber,
    /// The position (separate image) it belongs to.
    pub position: PositionIndex,
    /// Its index in that position's array, storage order, without Y/X.
    pub index: StorageIndex,
}

/// Routing errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RouteError {
    /// Frame `frame` is past the declared end of the acquisition.
    #[error("too many frames: frame {frame} is past the end of the acquisition ({total} frames)")]
    PastEnd {
        /// The frame asked for.
        frame: u64,
        /// Frames the schema declares.
        total: u64,
    },
}

/// Maps acquisition frame numbers to `(position, storage index)`.
#[derive(Clone, Debug)]
pub struct FrameRouter {
    /// Counts of the non-frame dimensions in acquisition order (0 for unbounded).
    counts: Vec<u64>,
    /// Frames per step along each non-frame dimension.
    strides: Vec<u64>,
    /// Acquisition slot of the position dimension.
    position_axis: Option<usize>,
    /// For storage axis `k`, the acquisition slot it reads.
    storage_from_acq: Vec<usize>,
    /// Acquisition slot of the growth (outermost non-position) dimension.
    growth: Option<usize>,
    total: Option<u64>,
    next: u64,
}

impl FrameRouter {
    /// A router for a validated schema, starting at frame 0.
    pub fn new(schema: &Schema) -> Self {
        let n = schema.dims().len() - 2;
        let counts: Vec<u64> = schema.dims()[..n]
            .iter()
            .map(|d| d.count().unwrap_or(0))
            .collect();
        let mut strides = vec![1u64; n];
        for i in (0..n.saturating_sub(1)).rev() {
            strides[i] = strides[i + 1].saturating_mul(counts[i + 1]);
        }
        debug_assert!(schema.storage_axes().len() <= MAX_INDEX_AXES);
        Self {
            counts,
            strides,
            position_axis: schema.position_axis(),
            storage_from_acq: schema.storage_axes().to_vec(),
            growth: schema.index_axes().first().copied(),
            total: schema.num_frames(),
            next: 0,
        }
    }

    /// Total frames, `None` when the first dimension is unbounded.
    pub fn total(&self) -> Option<u64> {
        self.total
    }

    /// Where frame `n` goes. Errors past the end of a bounded acquisition.
    pub fn route(&self, n: FrameNumber) -> Result<Route, RouteError> {
        if let Some(total) = self.total
            && n.0 >= total
        {
            return Err(RouteError::PastEnd { frame: n.0, total });
        }
        let mut acq = [0u64; MAX_INDEX_AXES + 1];
        let mut rest = n.0;
        for (i, (&count, &stride)) in self.counts.iter().zip(&self.strides).enumerate() {
            let q = rest / stride;
            rest %= stride;
            acq[i] = if count == 0 { q } else { q % count };
        }
        let mut coords = [0u64; MAX_INDEX_AXES];
        for (k, &a) in self.storage_from_acq.iter().enumerate() {
            coords[k] = acq[a];
        }
        let position = self.position_axis.map_or(0, |p| acq[p] as usize);
        Ok(Route {
            frame: n,
            position: PositionIndex(position),
            // `storage_from_acq` has at most MAX_INDEX_AXES entries (schema invariant).
            index: StorageIndex::new(&coords[..self.storage_from_acq.len()]).unwrap_or_default(),
        })
    }

    /// The route of the next frame, advancing the counter.
    pub fn next_route(&mut self) -> Result<Route, RouteError> {
        let route = self.route(FrameNumber(self.next))?;
        self.next += 1;
        Ok(route)
    }

    /// Advance by `k` frames without data (they read back as the fill value).
    /// Refused, without moving, if it would pass the end.
    pub fn skip_frames(&mut self, k: u64) -> Result<(), RouteError> {
        let target = self.next.saturating_add(k);
        if let Some(total) = self.total
            && target > total
        {
            return Err(RouteError::PastEnd {
                frame: target - 1,
                total,
            });
        }
        self.next = target;
        Ok(())
    }

    /// Frames routed or skipped so far.
    pub fn frames_reached(&self) -> u64 {
        self.next
    }

    /// The extent of the growth axis ([`Schema::growth_axis`]) once `frames` frames have
    /// been reached: the highest index reached along it, plus one.
    pub fn extent_reached(&self, frames: u64) -> u64 {
        let Some(g) = self.growth else {
            return u64::from(frames > 0);
        };
        if frames == 0 {
            return 0;
        }
        let stride = self.strides[g];
        let count = self.counts[g];
        if count != 0 && frames >= stride.saturating_mul(count) {
            return count;
        }
        let last = (frames - 1) / stride;
        if count == 0 {
            last + 1
        } else {
            last % count + 1
        }
    }
}

impl Iterator for FrameRouter {
    type Item = Route;

    fn next(&mut self) -> Option<Route> {
        self.next_route().ok()
    }
}

impl ome_writers_schema::FrameOrder for FrameRouter {
    fn total(&self) -> Option<u64> {
        FrameRouter::total(self)
    }
    fn place(&self, n: FrameNumber) -> Option<(PositionIndex, StorageIndex)> {
        self.route(n).ok().map(|r| (r.position, r.index))
    }
    fn extent_reached(&self, frames: u64) -> u64 {
        FrameRouter::extent_reached(self, frames)
    }
}
