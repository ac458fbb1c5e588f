//! The acquisition order as a trait, so that code which must not depend on the router
//! (zarr recovery counts frames in acquisition order) is handed it: the router
//! implements it, and stays the only code that knows both orders.

use crate::{FrameNumber, PositionIndex, StorageIndex};

/// Where each frame of an acquisition goes. Implemented by the router's `FrameRouter`.
pub trait FrameOrder {
    /// Total frames, `None` when the first dimension is unbounded.
    fn total(&self) -> Option<u64>;
    /// Where frame `n` goes: its position and storage index; `None` past the end.
    fn place(&self, n: FrameNumber) -> Option<(PositionIndex, StorageIndex)>;
    /// The growth axis's extent once `frames` frames were reached: the highest index
    /// reached along it, plus one.
    fn extent_reached(&self, frames: u64) -> u64;
}
