//! Where the pixels of a frame go inside a unit buffer.
//!
//! A unit (chunk, or shard) buffer is laid out as a C-order grid of *blocks*, each block
//! C-ordered inside. Normally the block is the whole unit (plain C order, what zarrs'
//! codecs take). For uncompressed shards the block is the inner chunk, so the buffer is
//! already the shard's data section, inner chunks back to back: the shard is written
//! with no re-encoding and no copy.

use crate::units::MAX_AXES;

/// The geometry of unit buffers (storage order, Y and X last).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Layout {
    ndim: usize,
    unit: [u64; MAX_AXES],
    block: [u64; MAX_AXES],
    frame: [u64; 2],
    esz: usize,
}

impl Layout {
    pub(crate) fn new(unit: &[u64], block: &[u64], frame: [u64; 2], esz: usize) -> Self {
        let mut u = [1; MAX_AXES];
        let mut b = [1; MAX_AXES];
        u[..unit.len()].copy_from_slice(unit);
        b[..block.len()].copy_from_slice(block);
        Self {
            ndim: unit.len(),
            unit: u,
            block: b,
            frame,
            esz,
        }
    }

    /// Bytes of one block.
    pub(crate) fn block_bytes(&self) -> usize {
        self.block[..self.ndim].iter().product::<u64>() as usize * self.esz
    }

    /// Blocks per unit.
    pub(crate) fn blocks(&self) -> usize {
        (0..self.ndim)
            .map(|k| (self.unit[k] / self.block[k]) as usize)
            .product()
    }

    /// Copy the part of `frame` that falls in unit column `(by, bx)` to the plane at
    /// unit-local offsets `o` (one per index axis) of `data`.
    pub(crate) fn copy(&self, data: &mut [u8], o: &[u64], by: u64, bx: u64, frame: &[u8]) {
        let n = self.ndim - 2;
        let esz = self.esz;
        let [h, w] = self.frame;
        let (uy, ux) = (self.unit[n], self.unit[n + 1]);
        let (cy, cx) = (self.block[n], self.block[n + 1]);
        let (gy, gx) = (uy / cy, ux / cx);
        // Index-axis part of the block number, and the plane inside the block.
        let mut block_nf = 0u64;
        let mut plane_in_block = 0u64;
        for k in 0..n {
            block_nf = block_nf * (self.unit[k] / self.block[k]) + o[k] / self.block[k];
            plane_in_block = plane_in_block * self.block[k] + o[k] % self.block[k];
        }
        let block_bytes = self.block_bytes();
        let y0 = by * uy;
        let x0 = bx * ux;
        let rows = uy.min(h - y0);
        let cols = ux.min(w - x0);
        if cy == h && cx == w && rows == h && cols == w {
            // The block holds whole frames: one copy.
            let dst = block_nf as usize * block_bytes + (plane_in_block * h * w) as usize * esz;
            data[dst..dst + frame.len()].copy_from_slice(frame);
            return;
        }
        for r in 0..rows {
            let (iy, ry) = (r / cy, r % cy);
            let mut c = 0;
            while c < cols {
                let (ix, rx) = (c / cx, c % cx);
                let run = (cx - rx).min(cols - c);
                let block = (block_nf * gy + iy) * gx + ix;
                let dst = block as usize * block_bytes
                    + (((plane_in_block * cy + ry) * cx + rx) as usize) * esz;
                let src = (((y0 + r) * w + x0 + c) as usize) * esz;
                let len = run as usize * esz;
                data[dst..dst + len].copy_from_slice(&frame[src..src + len]);
                c += run;
            }
        }
    }

    /// Unit-local offsets of plane number `p` (C order over the index axes).
    pub(crate) fn plane_offsets(&self, mut p: u64) -> [u64; MAX_AXES] {
        let n = self.ndim - 2;
        let mut o = [0; MAX_AXES];
        for k in (0..n).rev() {
            o[k] = p % self.unit[k];
            p /= self.unit[k];
        }
        o
    }

    /// Unit columns along Y and X.
    pub(crate) fn columns(&self) -> (u64, u64) {
        let n = self.ndim - 2;
        (
            self.frame[0].div_ceil(self.unit[n]),
            self.frame[1].div_ceil(self.unit[n + 1]),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fill a unit plane by plane and return it.
    fn fill(layout: &Layout, planes: u64, frame_of: impl Fn(u64) -> Vec<u8>) -> Vec<u8> {
        let total = layout.block_bytes() * layout.blocks();
        let mut data = vec![0u8; total];
        for p in 0..planes {
            let o = layout.plane_offsets(p);
            let (ny, nx) = layout.columns();
            assert_eq!((ny, nx), (1, 1));
            layout.copy(&mut data, &o, 0, 0, &frame_of(p));
        }
        data
    }

    #[test]
    fn whole_unit_blocks_are_plain_c_order() {
        let l = Layout::new(&[2, 2, 3], &[2, 2, 3], [2, 3], 1);
        let data = fill(&l, 2, |p| (0..6).map(|i| (p * 10 + i) as u8).collect());
        assert_eq!(data, [0, 1, 2, 3, 4, 5, 10, 11, 12, 13, 14, 15]);
    }

    #[test]
    fn inner_chunk_blocks_are_back_to_back() {
        // unit (2 planes, 2 rows, 4 cols), blocks (1, 2, 2): block order p0L p0R p1L p1R
        let l = Layout::new(&[2, 2, 4], &[1, 2, 2], [2, 4], 1);
        let data = fill(&l, 2, |p| (0..8).map(|i| (p * 10 + i) as u8).collect());
        assert_eq!(
            data,
            [0, 1, 4, 5, 2, 3, 6, 7, 10, 11, 14, 15, 12, 13, 16, 17]
        );
    }
}
