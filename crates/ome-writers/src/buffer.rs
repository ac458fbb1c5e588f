//! Pooled frame buffers, for appending without a copy.

use ome_writers_schema::{DType, Pixel};

use crate::StreamError;

/// One frame's worth of pooled memory. Get one with
/// [`Stream::next_buffer`](crate::Stream::next_buffer), fill it (a camera SDK can write
/// straight into [`pixels_mut`](Self::pixels_mut)), and hand it back with
/// [`Stream::append_buffer`](crate::Stream::append_buffer): the frame then reaches the
/// writer thread without being copied. Buffers are reused, so their content is whatever
/// the previous frame left; every pixel must be written.
pub struct FrameBuffer {
    /// 8-byte words, so that the memory is aligned for every pixel type.
    words: Vec<u64>,
    bytes: usize,
    dtype: DType,
}

impl FrameBuffer {
    pub(crate) fn new(bytes: usize, dtype: DType) -> Self {
        Self {
            words: vec![0u64; bytes.div_ceil(8)],
            bytes,
            dtype,
        }
    }

    /// The frame's bytes (native byte order).
    pub fn as_bytes(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.words)[..self.bytes]
    }

    /// The frame's bytes, to fill.
    pub fn as_bytes_mut(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut(&mut self.words)[..self.bytes]
    }

    /// The frame's pixels, to fill; `T` must be the schema's pixel type.
    pub fn pixels_mut<T: Pixel>(&mut self) -> Result<&mut [T], StreamError> {
        if T::DTYPE != self.dtype {
            return Err(StreamError::FrameDtype {
                expected: self.dtype,
                got: T::DTYPE,
            });
        }
        let len = self.bytes / self.dtype.size();
        // u64 words are aligned for every pixel type and a whole number of pixels long.
        Ok(&mut bytemuck::cast_slice_mut(&mut self.words)[..len])
    }

    pub(crate) fn len_bytes(&self) -> usize {
        self.bytes
    }

    pub(crate) fn dtype(&self) -> DType {
        self.dtype
    }
}
