//! The arrays themselves, shared by the writer and any number of readers: in memory
//! (one lazily allocated plane at a time) or in files `pos_<i>.dat` written and read
//! with `pwrite`/`pread` (no memory mapping, so no `unsafe`: a mapped file that
//! another process truncates would fault, whatever our lock says, and `flock` is only
//! advisory). A lock guards the layout; it is held for a plane's pointer swap or a
//! file handle's clone, never across the I/O of a plane.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use ome_writers_backend::{BackendError, PlaneReader};
use ome_writers_schema::{DType, Pixel, PositionIndex, StorageIndex};

use crate::ScratchError;
use crate::layout::Layout;
use crate::names::position_file;

/// Where the files are: the caller's directory, or a temporary one (a spill) removed
/// when the last handle on the arrays is dropped.
#[derive(Debug)]
pub(crate) enum Location {
    Kept(PathBuf),
    Temp(tempfile::TempDir),
}

impl Location {
    pub(crate) fn path(&self) -> &Path {
        match self {
            Self::Kept(p) => p,
            Self::Temp(t) => t.path(),
        }
    }
}

/// One plane per slot, allocated when written; `None` reads as zeros.
type Planes = Vec<Option<Box<[u8]>>>;

pub(crate) enum Medium {
    Memory(Vec<Planes>),
    Files {
        location: Location,
        files: Vec<Arc<File>>,
    },
}

pub(crate) struct State {
    pub medium: Medium,
    /// Rows (elements of the first axis) every array holds now: the logical length.
    pub rows: u64,
}

/// What a growth did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Grown {
    Nothing,
    /// The arrays moved from memory to a temporary directory.
    Spilled,
}

/// The arrays, shared between the backend and its readers.
pub(crate) struct Shared {
    pub layout: Layout,
    pub dtype: DType,
    pub max_memory_bytes: u64,
    pub spill_to_disk: bool,
    state: Mutex<State>,
}

impl Shared {
    pub(crate) fn new(layout: Layout, dtype: DType, max: u64, spill: bool, medium: Medium) -> Self {
        let rows = layout.initial_rows();
        Self {
            layout,
            dtype,
            max_memory_bytes: max,
            spill_to_disk: spill,
            state: Mutex::new(State { medium, rows }),
        }
    }

    /// The state; a poisoned lock (a panic elsewhere while it was held) still guards
    /// consistent data: every change under it is a single assignment or a whole spill.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Empty in-memory arrays, or the limit error when they would not fit.
    pub(crate) fn memory(layout: &Layout, max: u64) -> Result<Medium, ScratchError> {
        let rows = layout.initial_rows();
        let needed = layout.memory_bytes(rows);
        if needed > u128::from(max) {
            return Err(ScratchError::MemoryLimit {
                needed,
                max_memory_bytes: max,
            });
        }
        let planes = (rows * layout.planes_per_row()) as usize;
        let mut arrays = Vec::with_capacity(layout.positions);
        for _ in 0..layout.positions {
            let mut p: Planes = Vec::new();
            p.try_reserve_exact(planes)
                .map_err(|_| ScratchError::OutOfMemory { bytes: planes * 16 })?;
            p.resize(planes, None);
            arrays.push(p);
        }
        Ok(Medium::Memory(arrays))
    }

    /// Files `pos_<i>.dat` of `rows` rows each in `location` (created, sparse).
    pub(crate) fn files(
        layout: &Layout,
        location: Location,
        rows: u64,
    ) -> Result<Medium, ScratchError> {
        let mut files = Vec::with_capacity(layout.positions);
        for p in 0..layout.positions {
            let path = location.path().join(position_file(p));
            let f = File::options()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(|e| ScratchError::io(&path, e))?;
            f.set_len(rows * layout.row_bytes())
                .map_err(|e| ScratchError::io(&path, e))?;
            files.push(Arc::new(f));
        }
        Ok(Medium::Files { location, files })
    }

    /// Make room for `rows` rows: files grow (never shrink while writing), memory
    /// grows within the limit, or spills, or refuses.
    pub(crate) fn grow(&self, rows: u64) -> Result<Grown, ScratchError> {
        let mut st = self.lock();
        if rows <= st.rows {
            return Ok(Grown::Nothing);
        }
        let layout = &self.layout;
        match &mut st.medium {
            Medium::Files { location, files } => {
                for (p, f) in files.iter().enumerate() {
                    f.set_len(rows * layout.row_bytes())
                        .map_err(|e| ScratchError::io(location.path().join(position_file(p)), e))?;
                }
            }
            Medium::Memory(arrays) => {
                let needed = layout.memory_bytes(rows);
                if needed > u128::from(self.max_memory_bytes) {
                    if !self.spill_to_disk {
                        return Err(ScratchError::MemoryLimit {
                            needed,
                            max_memory_bytes: self.max_memory_bytes,
                        });
                    }
                    let medium = spill(layout, arrays, rows, self.max_memory_bytes)?;
                    st.medium = medium;
                    st.rows = rows;
                    return Ok(Grown::Spilled);
                }
                let planes = (rows * layout.planes_per_row()) as usize;
                for a in arrays.iter_mut() {
                    a.try_reserve(planes.saturating_sub(a.len()))
                        .map_err(|_| ScratchError::OutOfMemory { bytes: planes * 16 })?;
                    a.resize(planes, None);
                }
            }
        }
        st.rows = rows;
        Ok(Grown::Nothing)
    }

    /// Cut (or extend) every array to `rows` rows at finish (the partial-acquisition
    /// rule); the tail cut holds no written plane.
    pub(crate) fn set_rows(&self, rows: u64) -> Result<(), ScratchError> {
        let mut st = self.lock();
        let layout = &self.layout;
        match &mut st.medium {
            Medium::Files { location, files } => {
                for (p, f) in files.iter().enumerate() {
                    f.set_len(rows * layout.row_bytes())
                        .map_err(|e| ScratchError::io(location.path().join(position_file(p)), e))?;
                }
            }
            Medium::Memory(arrays) => {
                let planes = (rows * layout.planes_per_row()) as usize;
                for a in arrays.iter_mut() {
                    // Planes past the end read as zeros: extending costs nothing.
                    a.truncate(planes);
                }
            }
        }
        st.rows = rows;
        Ok(())
    }

    /// Store one plane (the array must already hold its row).
    pub(crate) fn write(
        &self,
        position: usize,
        plane: u64,
        frame: &[u8],
    ) -> Result<(), ScratchError> {
        let file = {
            let st = self.lock();
            match &st.medium {
                Medium::Files { location, files } => files
                    .get(position)
                    .map(|f| (Arc::clone(f), location.path().join(position_file(position)))),
                Medium::Memory(_) => None,
            }
        };
        if let Some((f, path)) = file {
            return f
                .write_all_at(frame, plane * self.layout.frame_bytes as u64)
                .map_err(|e| ScratchError::io(path, e));
        }
        // Copied before the lock is taken: under it only the pointer is swapped.
        let mut copy = Vec::new();
        copy.try_reserve_exact(frame.len())
            .map_err(|_| ScratchError::OutOfMemory { bytes: frame.len() })?;
        copy.extend_from_slice(frame);
        let copy = copy.into_boxed_slice();
        let mut st = self.lock();
        let slot = match &mut st.medium {
            Medium::Memory(arrays) => arrays
                .get_mut(position)
                .and_then(|a| a.get_mut(plane as usize)),
            Medium::Files { .. } => None,
        };
        let positions = self.layout.positions;
        let Some(slot) = slot else {
            return Err(ScratchError::Position {
                position,
                positions,
            });
        };
        let old = slot.replace(copy);
        drop(st);
        drop(old);
        Ok(())
    }

    /// Read one plane into `out`; `false` when nothing is stored there.
    pub(crate) fn read(
        &self,
        position: usize,
        row: u64,
        plane: u64,
        out: &mut [u8],
    ) -> Result<bool, ScratchError> {
        let positions = self.layout.positions;
        if position >= positions {
            return Err(ScratchError::Position {
                position,
                positions,
            });
        }
        let st = self.lock();
        if row >= st.rows {
            return Ok(false);
        }
        match &st.medium {
            Medium::Memory(arrays) => {
                match arrays.get(position).and_then(|a| a.get(plane as usize)) {
                    Some(Some(p)) if p.len() == out.len() => {
                        out.copy_from_slice(p);
                        Ok(true)
                    }
                    _ => Ok(false),
                }
            }
            Medium::Files { location, files } => {
                let Some(f) = files.get(position).map(Arc::clone) else {
                    return Ok(false);
                };
                let path = location.path().join(position_file(position));
                drop(st);
                f.read_exact_at(out, plane * self.layout.frame_bytes as u64)
                    .map_err(|e| ScratchError::io(path, e))?;
                Ok(true)
            }
        }
    }

    /// The directory of the files, if the arrays are on disk.
    pub(crate) fn dir(&self) -> Option<PathBuf> {
        match &self.lock().medium {
            Medium::Files { location, .. } => Some(location.path().to_owned()),
            Medium::Memory(_) => None,
        }
    }

    /// Make every file durable.
    pub(crate) fn sync(&self) -> Result<(), ScratchError> {
        let st = self.lock();
        if let Medium::Files { location, files } = &st.medium {
            for (p, f) in files.iter().enumerate() {
                f.sync_data()
                    .map_err(|e| ScratchError::io(location.path().join(position_file(p)), e))?;
            }
        }
        Ok(())
    }

    /// Keep a spill directory after the arrays are dropped; its path.
    pub(crate) fn keep(&self) -> Option<PathBuf> {
        let mut st = self.lock();
        let Medium::Files { location, .. } = &mut st.medium else {
            return None;
        };
        let kept = std::mem::replace(location, Location::Kept(PathBuf::new()));
        let path = match kept {
            Location::Temp(t) => t.keep(),
            Location::Kept(p) => p,
        };
        *location = Location::Kept(path.clone());
        Some(path)
    }
}

/// Write the in-memory arrays into files of `rows` rows in a new temporary directory.
fn spill(layout: &Layout, arrays: &[Planes], rows: u64, max: u64) -> Result<Medium, ScratchError> {
    let dir = tempfile::Builder::new()
        .prefix("ome_scratch_")
        .tempdir()
        .map_err(|e| ScratchError::io(std::env::temp_dir(), e))?;
    log::warn!(
        "scratch arrays would need {} bytes in memory, over max_memory_bytes={}: using \
         disk-backed storage at {}",
        layout.memory_bytes(rows),
        max,
        dir.path().display()
    );
    let medium = Shared::files(layout, Location::Temp(dir), rows)?;
    if let Medium::Files { location, files } = &medium {
        for (p, (planes, f)) in arrays.iter().zip(files).enumerate() {
            for (k, plane) in planes.iter().enumerate() {
                if let Some(bytes) = plane {
                    f.write_all_at(bytes, k as u64 * layout.frame_bytes as u64)
                        .map_err(|e| ScratchError::io(location.path().join(position_file(p)), e))?;
                }
            }
        }
    }
    Ok(medium)
}

/// A handle on the arrays of a scratch backend, live while it writes and after it
/// finished; the arrays (and a spill directory) live as long as any handle does.
#[derive(Clone)]
pub struct ScratchArrays {
    pub(crate) shared: Arc<Shared>,
}

impl std::fmt::Debug for ScratchArrays {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScratchArrays")
            .field("positions", &self.shared.layout.positions)
            .field("dtype", &self.shared.dtype)
            .finish_non_exhaustive()
    }
}

impl ScratchArrays {
    /// Number of arrays (positions).
    pub fn positions(&self) -> usize {
        self.shared.layout.positions
    }
    /// The pixel type.
    pub fn dtype(&self) -> DType {
        self.shared.dtype
    }
    /// Each array's shape now, storage order, Y and X last.
    pub fn shape(&self) -> Vec<u64> {
        let rows = self.shared.lock().rows;
        self.shared.layout.shape(rows)
    }
    /// The directory of the files (`root_path` or a spill directory), `None` in memory.
    pub fn dir(&self) -> Option<PathBuf> {
        self.shared.dir()
    }
    /// A copy of position `position`'s array as an `ndarray` (planes never written are 0).
    pub fn to_ndarray<T: Pixel>(
        &self,
        position: usize,
    ) -> Result<ndarray::ArrayD<T>, ScratchError> {
        if T::DTYPE != self.shared.dtype {
            return Err(ScratchError::DType {
                requested: T::DTYPE,
                actual: self.shared.dtype,
            });
        }
        let shape = self.shape();
        let layout = &self.shared.layout;
        let planes = shape.iter().rev().skip(2).product::<u64>();
        let plane_len = layout.frame_bytes / T::DTYPE.size();
        let mut data = vec![T::zeroed(); planes as usize * plane_len];
        let per_row = layout.planes_per_row();
        for (k, chunk) in data.chunks_exact_mut(plane_len.max(1)).enumerate() {
            let k = k as u64;
            self.shared
                .read(position, k / per_row, k, bytemuck::cast_slice_mut(chunk))?;
        }
        let dims: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
        ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&dims), data)
            .map_err(|e| ScratchError::not_scratch(PathBuf::new(), format!("shape {shape:?}: {e}")))
    }
}

impl PlaneReader for ScratchArrays {
    fn read_plane(
        &self,
        position: PositionIndex,
        index: &StorageIndex,
        out: &mut [u8],
    ) -> Result<bool, BackendError> {
        let (row, plane) = self.shared.layout.locate(index)?;
        Ok(self.shared.read(position.0, row, plane, out)?)
    }
}
