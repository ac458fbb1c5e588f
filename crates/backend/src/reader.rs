//! Reading back what a backend stored, for live views.

use ome_writers_schema::{PositionIndex, StorageIndex};

use crate::BackendError;

/// Reads planes a backend has stored, by storage-order index, from any thread, while
/// the backend writes (and after it finished). Implementations hold no lock across
/// I/O that the writer needs, so a reader never delays the writer for long.
pub trait PlaneReader: Send + Sync {
    /// Read the plane at `(position, index)` into `out` (exactly one frame's bytes,
    /// native byte order, row-major). `Ok(false)`: nothing is stored there yet (the
    /// caller reads it as the fill value 0; `out` may have been written to).
    fn read_plane(
        &self,
        position: PositionIndex,
        index: &StorageIndex,
        out: &mut [u8],
    ) -> Result<bool, BackendError>;
}
