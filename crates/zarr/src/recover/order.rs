//! The acquisition order, as recovery needs it: where frame `n` went (position and
//! storage index) and how far the growth axis reached after `n` frames.
//!
//! This is the router's arithmetic (`ome_writers_router::FrameRouter::route` and
//! `extent_reached`), restated because no backend depends on the router; a test holds
//! the two equal on every frame of a set of schemas.

use ome_writers_schema::Schema;

/// Frame `n` -> (position, storage index), for one schema.
pub(super) struct Order {
    /// Counts of the non-frame dimensions in acquisition order (0 for unbounded).
    counts: Vec<u64>,
    /// Frames per step along each non-frame dimension.
    strides: Vec<u64>,
    position_axis: Option<usize>,
    /// For storage axis `k`, the acquisition slot it reads.
    storage_from_acq: Vec<usize>,
    /// Acquisition slot of the growth (outermost non-position) dimension.
    growth: Option<usize>,
    total: Option<u64>,
}

impl Order {
    pub(super) fn new(schema: &Schema) -> Self {
        let n = schema.dims().len().saturating_sub(2);
        let counts: Vec<u64> = schema.dims()[..n]
            .iter()
            .map(|d| d.count().unwrap_or(0))
            .collect();
        let mut strides = vec![1u64; n];
        for i in (0..n.saturating_sub(1)).rev() {
            strides[i] = strides[i + 1].saturating_mul(counts[i + 1]);
        }
        Self {
            counts,
            strides,
            position_axis: schema.position_axis(),
            storage_from_acq: schema.storage_axes().to_vec(),
            growth: schema.index_axes().first().copied(),
            total: schema.num_frames(),
        }
    }

    /// Total frames, `None` when the first dimension is unbounded.
    pub(super) fn total(&self) -> Option<u64> {
        self.total
    }

    /// Where frame `n` goes: its position and storage index (without Y/X); `None`
    /// past the end of a bounded acquisition.
    pub(super) fn route(&self, n: u64) -> Option<(usize, Vec<u64>)> {
        if self.total.is_some_and(|total| n >= total) {
            return None;
        }
        let mut acq = vec![0u64; self.counts.len()];
        let mut rest = n;
        for (i, (&count, &stride)) in self.counts.iter().zip(&self.strides).enumerate() {
            let q = rest / stride;
            rest %= stride;
            acq[i] = if count == 0 { q } else { q % count };
        }
        let index = self
            .storage_from_acq
            .iter()
            .map(|&a| acq.get(a).copied().unwrap_or(0))
            .collect();
        let position = self
            .position_axis
            .and_then(|p| acq.get(p))
            .map_or(0, |&p| usize::try_from(p).unwrap_or(usize::MAX));
        Some((position, index))
    }

    /// The extent of the growth axis once `frames` frames have been reached: the
    /// highest index reached along it, plus one.
    pub(super) fn extent_reached(&self, frames: u64) -> u64 {
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

#[cfg(test)]
mod tests {
    use ome_writers_router::FrameRouter;
    use ome_writers_schema::{FrameNumber, Schema};

    use super::Order;

    fn check(dims: &str) {
        let schema = Schema::from_json(&format!(
            r#"{{"root_path": "a.ome.zarr", "dtype": "uint8", "dimensions": {dims}}}"#
        ))
        .unwrap();
        let order = Order::new(&schema);
        let router = FrameRouter::new(&schema);
        assert_eq!(order.total(), router.total(), "{dims}");
        for n in 0..router.total().unwrap_or(50) + 3 {
            let ours = order.route(n);
            let theirs = router
                .route(FrameNumber(n))
                .ok()
                .map(|r| (r.position.0, r.index.as_slice().to_vec()));
            assert_eq!(ours, theirs, "{dims} frame {n}");
            assert_eq!(
                order.extent_reached(n),
                router.extent_reached(n),
                "{dims} {n}"
            );
        }
    }

    #[test]
    fn the_order_is_the_routers() {
        let yx = r#"{"name": "y", "count": 2}, {"name": "x", "count": 2}"#;
        for outer in [
            "",
            r#"{"name": "t", "count": 3},"#,
            r#"{"name": "t", "count": null},"#,
            r#"{"name": "t", "count": 2}, {"name": "z", "count": 3}, {"name": "c", "count": 2},"#,
            r#"{"name": "t", "count": null, "chunk_size": 2}, {"name": "c", "count": 2},"#,
            r#"{"name": "t", "count": 2}, {"name": "p", "type": "position", "count": 3}, {"name": "z", "count": 2},"#,
            r#"{"name": "p", "type": "position", "count": 2}, {"name": "t", "count": 3},"#,
        ] {
            check(&format!("[{outer} {yx}]"));
        }
    }
}
