//! [`StreamView`]: a read-only, array-like view of an acquisition while it is written
//! (and after), in acquisition order whatever the storage order.

use std::sync::Arc;

use ome_writers_backend::BackendError;
use ome_writers_router::FrameRouter;
use ome_writers_schema::{DType, FrameNumber, Pixel};

use crate::grid::{Coords, Grid};
use crate::live::{Live, Region};
use crate::select::{Axis, Sel, resolve_slice};

/// A live view of a stream's data: every dimension of the settings in acquisition
/// order (the position axis included, Y and X last). `Send + Sync` and cheap to clone:
/// hand it to a viewer thread. A frame reads back as soon as `append` has returned;
/// planes never written read as 0. See [`Stream::view`](crate::Stream::view).
#[derive(Clone)]
pub struct StreamView {
    live: Arc<Live>,
    grid: Arc<Grid>,
    router: Arc<FrameRouter>,
    dtype: DType,
    dynamic: bool,
    strict: bool,
}

/// Why a view refused a selection or could not read it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ViewError {
    /// More selectors than the view has dimensions.
    #[error("too many indices: the view has {ndim} dimensions, {given} were given")]
    TooManyIndices {
        /// Dimensions of the view.
        ndim: usize,
        /// Selectors given.
        given: usize,
    },
    /// An integer index outside the dimension.
    #[error("index {index} is out of bounds for dimension {dim:?} with size {size}")]
    OutOfBounds {
        /// The dimension's name.
        dim: String,
        /// The index given.
        index: i64,
        /// Its size (the live size with a dynamic shape).
        size: u64,
    },
    /// A slice with step 0.
    #[error("slice step cannot be zero (dimension {dim:?})")]
    ZeroStep {
        /// The dimension's name.
        dim: String,
    },
    /// The pixel type asked for is not the stream's.
    #[error("view dtype: the stream's frames are {expected}, asked for {got}")]
    Dtype {
        /// The stream's dtype.
        expected: DType,
        /// The one asked for.
        got: DType,
    },
    /// An output buffer of the wrong size.
    #[error("output buffer: the selection needs {expected} bytes, got {got}")]
    OutputSize {
        /// Bytes the selection needs.
        expected: usize,
        /// Bytes given.
        got: usize,
    },
    /// The selection is larger than memory can address.
    #[error("the selection is too large ({elements} planes of {plane_bytes} bytes)")]
    TooLarge {
        /// Planes selected.
        elements: u128,
        /// Bytes per selected plane.
        plane_bytes: usize,
    },
    /// Reading a stored plane failed.
    #[error("reading frame {frame} back")]
    Read {
        /// The frame's acquisition number.
        frame: u64,
        /// The backend's error.
        #[source]
        source: BackendError,
    },
}

/// A resolved selection.
struct Plan {
    outer: Vec<Axis>,
    region: Region,
    shape: Vec<usize>,
    planes: usize,
}

impl StreamView {
    pub(crate) fn new(
        live: Arc<Live>,
        grid: Arc<Grid>,
        router: Arc<FrameRouter>,
        dtype: DType,
        dynamic: bool,
        strict: bool,
    ) -> Self {
        Self {
            live,
            grid,
            router,
            dtype,
            dynamic,
            strict,
        }
    }

    /// Dimension names, in acquisition order.
    #[must_use]
    pub fn dims(&self) -> Vec<&str> {
        self.grid.names.iter().map(String::as_str).collect()
    }

    /// Number of dimensions.
    #[must_use]
    pub fn ndim(&self) -> usize {
        self.grid.names.len()
    }

    /// The pixel type.
    #[must_use]
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// Frames reached so far (written or skipped).
    #[must_use]
    pub fn frames_reached(&self) -> u64 {
        self.live.reached()
    }

    /// The shape: with a dynamic shape, the high-water marks of the frames reached
    /// (+1; 0 before the first frame); otherwise the declared shape (an unbounded
    /// first dimension: its extent so far). Y and X are always whole.
    #[must_use]
    pub fn shape(&self) -> Vec<u64> {
        let reached = self.grid.reached_shape(self.live.reached());
        let mut shape: Vec<u64> = if self.dynamic {
            reached
        } else {
            self.grid
                .counts
                .iter()
                .zip(reached)
                .map(|(c, r)| c.unwrap_or(r))
                .collect()
        };
        shape.extend(self.grid.frame);
        shape
    }

    /// The size of the first dimension.
    #[must_use]
    pub fn len(&self) -> u64 {
        self.shape().first().copied().unwrap_or(0)
    }

    /// True when the first dimension is empty (nothing reached with a dynamic shape).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The coordinates of each dimension, within [`shape`](Self::shape): channel and
    /// position names, the settings' labels, or ranges.
    #[must_use]
    pub fn coords(&self) -> Vec<(&str, Coords)> {
        let shape = self.shape();
        self.grid
            .names
            .iter()
            .zip(&shape)
            .enumerate()
            .map(|(k, (name, &n))| {
                let coords = if k < self.grid.outer() {
                    self.grid.coords(k, n)
                } else {
                    Coords::Range(n)
                };
                (name.as_str(), coords)
            })
            .collect()
    }

    /// The shape of what `selection` reads (integer-indexed axes dropped).
    ///
    /// # Errors
    /// A selection out of bounds ([`ViewError::OutOfBounds`]) or malformed.
    pub fn selection_shape(&self, selection: &[Sel]) -> Result<Vec<usize>, ViewError> {
        Ok(self.plan(selection)?.shape)
    }

    /// Read `selection` as an array of the stream's pixel type `T`.
    ///
    /// # Errors
    /// [`ViewError`]: a bad selection, the wrong `T`, or a failed read of a stored plane.
    pub fn read<T: Pixel>(&self, selection: &[Sel]) -> Result<ndarray::ArrayD<T>, ViewError> {
        if T::DTYPE != self.dtype {
            return Err(ViewError::Dtype {
                expected: self.dtype,
                got: T::DTYPE,
            });
        }
        let plan = self.plan(selection)?;
        let elements: usize = plan.shape.iter().product();
        // A selection larger than memory is an error, never an abort.
        let mut out: Vec<T> = Vec::new();
        out.try_reserve_exact(elements)
            .map_err(|_| ViewError::TooLarge {
                elements: elements as u128,
                plane_bytes: plan.region.out_bytes(),
            })?;
        out.resize(elements, T::zeroed());
        self.fill(&plan, bytemuck::cast_slice_mut(&mut out))?;
        ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&plan.shape), out).map_err(|_| {
            ViewError::TooLarge {
                elements: elements as u128,
                plane_bytes: plan.region.out_bytes(),
            }
        })
    }

    /// Read `selection` into `out` (native byte order, C order, exactly the bytes of
    /// [`selection_shape`](Self::selection_shape) pixels) and return its shape: for
    /// callers that own the memory (a numpy array).
    ///
    /// # Errors
    /// As [`read`](Self::read); [`ViewError::OutputSize`] when `out` has the wrong size.
    pub fn read_into(&self, selection: &[Sel], out: &mut [u8]) -> Result<Vec<usize>, ViewError> {
        let plan = self.plan(selection)?;
        let expected = plan.planes * plan.region.out_bytes();
        if out.len() != expected {
            return Err(ViewError::OutputSize {
                expected,
                got: out.len(),
            });
        }
        out.fill(0);
        self.fill(&plan, out)?;
        Ok(plan.shape)
    }

    fn plan(&self, selection: &[Sel]) -> Result<Plan, ViewError> {
        let ndim = self.ndim();
        if selection.len() > ndim {
            return Err(ViewError::TooManyIndices {
                ndim,
                given: selection.len(),
            });
        }
        let shape = self.shape();
        let mut axes = Vec::with_capacity(ndim);
        for (k, &size) in shape.iter().enumerate() {
            let sel = selection.get(k).copied().unwrap_or_else(Sel::all);
            axes.push(self.resolve(k, sel, size)?);
        }
        let frame_axes = axes.split_off(self.grid.outer());
        let (rows, cols) = match frame_axes.as_slice() {
            [y, x] => (y.span(), x.span()),
            _ => ((0, 1, 0), (0, 1, 0)),
        };
        let region = Region {
            rows,
            cols,
            width: usize::try_from(self.grid.frame[1]).unwrap_or(0),
            px: self.dtype.size(),
        };
        let out_shape: Vec<usize> = axes
            .iter()
            .chain(&frame_axes)
            .filter_map(Axis::kept)
            .collect();
        let planes: u128 = axes.iter().map(|a| a.kept().unwrap_or(1) as u128).product();
        let too_large = || ViewError::TooLarge {
            elements: planes,
            plane_bytes: region.out_bytes(),
        };
        let planes = usize::try_from(planes).map_err(|_| too_large())?;
        planes
            .checked_mul(region.out_bytes())
            .filter(|&b| isize::try_from(b).is_ok())
            .ok_or_else(too_large)?;
        Ok(Plan {
            outer: axes,
            region,
            shape: out_shape,
            planes,
        })
    }

    fn resolve(&self, k: usize, sel: Sel, size: u64) -> Result<Axis, ViewError> {
        let name = || self.grid.names.get(k).cloned().unwrap_or_default();
        match sel {
            Sel::Slice { start, stop, step } => resolve_slice(start, stop, step, size)
                .map_err(|_| ViewError::ZeroStep { dim: name() }),
            Sel::Index(i) => {
                let out = || ViewError::OutOfBounds {
                    dim: name(),
                    index: i,
                    size,
                };
                let size_i = i64::try_from(size).unwrap_or(i64::MAX);
                let r = if i < 0 { i.saturating_add(size_i) } else { i };
                let r = u64::try_from(r).map_err(|_| out())?;
                if r < size {
                    return Ok(Axis::One(r));
                }
                // Past the live shape but inside the declared one (or an unbounded
                // axis): zeros, unless strict. Y, X and declared bounds always hold.
                let declared = self.grid.counts.get(k).copied();
                match declared {
                    Some(count) if !self.strict && count.is_none_or(|c| r < c) => Ok(Axis::One(r)),
                    _ => Err(out()),
                }
            }
        }
    }

    /// Copy every selected plane (or zeros) into `out`, zeroed by the caller.
    fn fill(&self, plan: &Plan, out: &mut [u8]) -> Result<(), ViewError> {
        let plane_out = plan.region.out_bytes();
        if plan.planes == 0 || plane_out == 0 {
            return Ok(());
        }
        self.live.wait_primed();
        let reached = self.live.reached();
        let lists: Vec<Vec<u64>> = plan.outer.iter().map(Axis::indices).collect();
        let mut scratch: Vec<u8> = Vec::new();
        let mut coord = vec![0u64; lists.len()];
        for (p, dst) in out.chunks_exact_mut(plane_out).enumerate() {
            let mut rest = p;
            for (k, list) in lists.iter().enumerate().rev() {
                let n = list.len().max(1);
                coord[k] = list.get(rest % n).copied().unwrap_or(0);
                rest /= n;
            }
            self.fill_plane(&coord, reached, &plan.region, dst, &mut scratch)?;
        }
        Ok(())
    }

    fn fill_plane(
        &self,
        coord: &[u64],
        reached: u64,
        region: &Region,
        dst: &mut [u8],
        scratch: &mut Vec<u8>,
    ) -> Result<(), ViewError> {
        let inside = coord
            .iter()
            .zip(&self.grid.counts)
            .all(|(&c, n)| n.is_none_or(|n| c < n));
        let frame = self.grid.frame_of(coord);
        if !inside || frame >= reached || self.live.copy_cached(frame, region, dst) {
            return Ok(());
        }
        let (Some(reader), Ok(route)) = (self.live.reader(), self.router.route(FrameNumber(frame)))
        else {
            return Ok(());
        };
        scratch.resize(self.live.frame_bytes(), 0);
        let stored = reader
            .read_plane(route.position, &route.index, scratch)
            .map_err(|source| ViewError::Read { frame, source })?;
        if stored {
            region.copy(scratch, dst);
        }
        Ok(())
    }
}

impl std::fmt::Debug for StreamView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamView")
            .field("dims", &self.grid.names)
            .field("shape", &self.shape())
            .field("dtype", &self.dtype)
            .field("dynamic_shape", &self.dynamic)
            .field("strict", &self.strict)
            .finish_non_exhaustive()
    }
}
