//! Index types shared by the router (which produces them) and the backends (which
//! consume them). Separate types keep acquisition order and storage order apart.

use std::fmt;

/// The most non-frame, non-position axes a schema can have.
pub const MAX_INDEX_AXES: usize = 4;

/// The number of a frame in acquisition order (0-based): "frame n".
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FrameNumber(pub u64);

/// Which position (image) a frame belongs to: an index into
/// [`Schema::positions`](crate::Schema::positions).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PositionIndex(pub usize);

/// Where a frame lands inside its position's array: one coordinate per non-frame axis,
/// in **storage order**, without Y and X. Fixed capacity, so routing never allocates.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct StorageIndex {
    coords: [u64; MAX_INDEX_AXES],
    len: u8,
}

impl StorageIndex {
    /// An index from storage-order coordinates; `None` if there are more than
    /// [`MAX_INDEX_AXES`].
    pub fn new(coords: &[u64]) -> Option<Self> {
        if coords.len() > MAX_INDEX_AXES {
            return None;
        }
        let mut out = Self {
            coords: [0; MAX_INDEX_AXES],
            len: coords.len() as u8,
        };
        out.coords[..coords.len()].copy_from_slice(coords);
        Some(out)
    }

    /// The coordinates, in storage order.
    pub fn as_slice(&self) -> &[u64] {
        &self.coords[..usize::from(self.len)]
    }

    /// Number of axes.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// True for a schema without non-frame axes (a single plane per position).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Debug for StorageIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

impl fmt::Display for StorageIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_slice())
    }
}
