//! Where a plane lives in a position's array: storage order, planes row-major, the
//! first axis the only one that grows (validation puts an unbounded axis first).

use ome_writers_schema::{Schema, StorageIndex};

use crate::ScratchError;

/// Bookkeeping bytes counted per plane held in memory (an `Option<Box<[u8]>>`).
pub(crate) const PLANE_OVERHEAD: u128 = 16;

/// The shape of every position's array.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    /// Bytes per plane.
    pub frame_bytes: usize,
    /// Frame height and width.
    pub frame_shape: [u64; 2],
    /// Storage-order lengths of the index axes (`None`: unbounded, axis 0 only).
    pub counts: Vec<Option<u64>>,
    /// Positions (one array each).
    pub positions: usize,
    /// The axis the partial-acquisition rule trims is the first one, so trimming is
    /// cutting the array's tail.
    pub trims_first: bool,
}

impl Layout {
    pub(crate) fn new(schema: &Schema) -> Self {
        Self {
            frame_bytes: schema.frame_bytes(),
            frame_shape: schema.frame_shape(),
            counts: schema
                .storage_dims()
                .map(ome_writers_schema::Dim::count)
                .collect(),
            positions: schema.positions().len(),
            trims_first: schema.growth_axis() == Some(0),
        }
    }

    /// Planes per element of the first axis (all planes when there is no index axis).
    pub(crate) fn planes_per_row(&self) -> u64 {
        self.counts.iter().skip(1).map(|c| c.unwrap_or(1)).product()
    }

    /// Bytes per element of the first axis.
    pub(crate) fn row_bytes(&self) -> u64 {
        self.planes_per_row() * self.frame_bytes as u64
    }

    /// Rows at creation: the declared length of the first axis, 1 when unbounded (as
    /// Python), 1 without index axes.
    pub(crate) fn initial_rows(&self) -> u64 {
        self.counts.first().map_or(1, |c| c.unwrap_or(1))
    }

    /// Whether the first axis is unbounded.
    pub(crate) fn unbounded(&self) -> bool {
        self.counts.first().is_some_and(Option::is_none)
    }

    /// `(row, plane number)` of a storage index: the plane number counts planes from
    /// the start of the array; out of bounds is an error.
    pub(crate) fn locate(&self, index: &StorageIndex) -> Result<(u64, u64), ScratchError> {
        let idx = index.as_slice();
        let bad = || ScratchError::Index {
            index: idx.to_vec(),
            shape: self.counts.clone(),
        };
        if idx.len() != self.counts.len() {
            return Err(bad());
        }
        let mut plane = 0u64;
        for (&i, &c) in idx.iter().zip(&self.counts) {
            if c.is_some_and(|c| i >= c) {
                return Err(bad());
            }
            plane = plane
                .checked_mul(c.unwrap_or(1))
                .and_then(|p| p.checked_add(i))
                .ok_or_else(bad)?;
        }
        // The first axis' length never enters the plane number (it only grows).
        Ok((idx.first().copied().unwrap_or(0), plane))
    }

    /// A position's shape in storage order (Y, X last) with `rows` on the first axis.
    pub(crate) fn shape(&self, rows: u64) -> Vec<u64> {
        let mut shape: Vec<u64> = self.counts.iter().map(|c| c.unwrap_or(1)).collect();
        if let Some(first) = shape.first_mut() {
            *first = rows;
        }
        shape.extend(self.frame_shape);
        shape
    }

    /// Bytes `rows` rows of every position take in memory.
    pub(crate) fn memory_bytes(&self, rows: u64) -> u128 {
        let planes = u128::from(rows) * u128::from(self.planes_per_row()) * self.positions as u128;
        planes * (self.frame_bytes as u128 + PLANE_OVERHEAD)
    }
}
