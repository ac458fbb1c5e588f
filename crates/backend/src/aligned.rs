//! Page-aligned byte buffers: what direct (page-cache-bypassing) writes need, and
//! aligned for every pixel type.

/// Memory alignment (and size granularity) of an [`AlignedBuf`]: a page, which covers
/// the logical block size every Linux filesystem asks of `O_DIRECT` buffers.
pub const ALIGN: usize = 4096;

#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C, align(4096))]
struct Page([u8; ALIGN]);

/// A growable byte buffer whose start is [`ALIGN`]-aligned and whose capacity is a
/// whole number of pages. Safe code only: it is a `Vec` of page-sized, page-aligned
/// blocks seen as bytes.
#[derive(Default)]
pub struct AlignedBuf {
    pages: Vec<Page>,
    len: usize,
}

impl AlignedBuf {
    /// A zeroed buffer of `len` bytes (fresh pages come from the allocator already
    /// zeroed: no page is touched until used).
    pub fn zeroed(len: usize) -> Self {
        Self {
            pages: bytemuck::zeroed_vec(len.div_ceil(ALIGN)),
            len,
        }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// No bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes available without reallocating.
    pub fn capacity(&self) -> usize {
        self.pages.len() * ALIGN
    }

    /// Set the length to `len` bytes, growing the capacity (zeroed) if needed. Bytes
    /// kept from before keep their values.
    pub fn resize(&mut self, len: usize) {
        let pages = len.div_ceil(ALIGN);
        if pages > self.pages.len() {
            self.pages.resize(pages, Page([0; ALIGN]));
        }
        self.len = len;
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.pages)[..self.len]
    }

    /// The bytes, to fill.
    pub fn as_bytes_mut(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut(&mut self.pages)[..self.len]
    }

    /// The whole capacity, to fill before [`resize`](Self::resize)-ing to what was
    /// written.
    pub fn spare_mut(&mut self) -> &mut [u8] {
        bytemuck::cast_slice_mut(&mut self.pages)
    }
}

impl std::ops::Deref for AlignedBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl std::ops::DerefMut for AlignedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.as_bytes_mut()
    }
}

/// Whether `bytes` starts on an [`ALIGN`] boundary.
pub fn is_aligned(bytes: &[u8]) -> bool {
    (bytes.as_ptr() as usize).is_multiple_of(ALIGN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_and_sized() {
        let mut b = AlignedBuf::zeroed(10);
        assert_eq!(b.len(), 10);
        assert!(is_aligned(&b));
        assert_eq!(b.capacity(), ALIGN);
        b.as_bytes_mut()[9] = 7;
        b.resize(ALIGN * 3 + 1);
        assert!(is_aligned(&b));
        assert_eq!(b[9], 7);
        assert_eq!(b.len(), ALIGN * 3 + 1);
        assert!(b[10..].iter().all(|&x| x == 0));
        b.resize(3);
        assert_eq!(b.as_bytes(), &[0, 0, 0]);
        assert_eq!(b.capacity(), ALIGN * 4);
        assert!(AlignedBuf::default().is_empty());
    }
}
