//! Pooled frame buffers: frames travel from the caller to the backend (and on to its
//! encoder threads) without being copied, and return to their pool when dropped.

use std::sync::Arc;

use ome_writers_schema::{DType, Pixel};

use crate::AlignedBuf;

/// The pixel type of a buffer is not the one asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("frame dtype: expected {expected}, got {got}")]
pub struct DtypeMismatch {
    /// The buffer's pixel type.
    pub expected: DType,
    /// The type asked for.
    pub got: DType,
}

/// One frame's worth of pooled memory (page-aligned, so it can be viewed as any pixel
/// type and written to disk directly, bypassing the page cache). Buffers are reused, so their content is whatever the previous frame left:
/// every pixel must be written. A buffer that belongs to a pool returns to it when
/// dropped, wherever that happens (the writer thread, an encoder thread).
pub struct FrameBuffer {
    data: AlignedBuf,
    dtype: DType,
    home: Option<BufferHome>,
}

/// Where a pooled buffer goes when dropped: a function that takes it back (a stream's
/// pool puts it on its queue of free buffers). It is handed the buffer's memory as a
/// buffer without a home, so a closed pool never recurses.
#[derive(Clone)]
pub struct BufferHome(Arc<dyn Fn(FrameBuffer) + Send + Sync>);

impl BufferHome {
    /// A home that hands returned buffers to `take_back`.
    pub fn new(take_back: impl Fn(FrameBuffer) + Send + Sync + 'static) -> Self {
        Self(Arc::new(take_back))
    }
}

impl std::fmt::Debug for BufferHome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BufferHome")
    }
}

impl FrameBuffer {
    /// A zeroed buffer of `bytes` bytes of `dtype` pixels, belonging to no pool.
    pub fn new(bytes: usize, dtype: DType) -> Self {
        Self {
            data: AlignedBuf::zeroed(bytes),
            dtype,
            home: None,
        }
    }

    /// Make this buffer return to `home` when dropped.
    pub fn set_home(&mut self, home: BufferHome) {
        self.home = Some(home);
    }

    /// The frame's bytes (native byte order).
    pub fn as_bytes(&self) -> &[u8] {
        self.data.as_bytes()
    }

    /// The frame's bytes, to fill.
    pub fn as_bytes_mut(&mut self) -> &mut [u8] {
        self.data.as_bytes_mut()
    }

    /// The frame's pixels, to fill; `T` must be the buffer's pixel type.
    pub fn pixels_mut<T: Pixel>(&mut self) -> Result<&mut [T], DtypeMismatch> {
        if T::DTYPE != self.dtype {
            return Err(DtypeMismatch {
                expected: self.dtype,
                got: T::DTYPE,
            });
        }
        let len = self.data.len() / self.dtype.size();
        // Page-aligned memory is aligned for every pixel type.
        Ok(bytemuck::cast_slice_mut(
            &mut self.data.as_bytes_mut()[..len * self.dtype.size()],
        ))
    }

    /// Length in bytes.
    pub fn len_bytes(&self) -> usize {
        self.data.len()
    }

    /// Pixel type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }
}

impl Drop for FrameBuffer {
    fn drop(&mut self) {
        if let Some(home) = self.home.take() {
            // The memory goes back to the pool as a buffer without a home (the pool
            // gives it one again when it hands it out): no recursion on a closed pool.
            (home.0)(FrameBuffer {
                data: std::mem::take(&mut self.data),
                dtype: self.dtype,
                home: None,
            });
        }
    }
}
