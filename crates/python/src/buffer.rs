//! `next_buffer()`: a pooled frame buffer as a writable numpy array that borrows its
//! memory (no copy), handed back with `append_buffer()`.

use std::sync::{Mutex, PoisonError};

use numpy::PyArray2;
use numpy::ndarray::ArrayViewMut2;
use ome_writers::{DType, FrameBuffer};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

/// Owns a pooled buffer while Python fills it (the base object of the numpy array
/// `next_buffer()` returns).
#[pyclass(name = "FrameBuffer", module = "ome_writers_rs", frozen)]
pub(crate) struct PyFrameBuffer {
    buf: Mutex<Option<FrameBuffer>>,
}

impl PyFrameBuffer {
    /// Take the buffer out (once).
    pub(crate) fn take(&self) -> PyResult<FrameBuffer> {
        self.buf
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .ok_or_else(|| PyValueError::new_err("this buffer was already appended"))
    }
}

/// The buffer object behind an array from `next_buffer()`.
pub(crate) fn handle_of<'py>(array: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyFrameBuffer>> {
    let base = array.getattr("base")?;
    base.downcast_into::<PyFrameBuffer>()
        .map_err(|_| PyTypeError::new_err("append_buffer takes an array returned by next_buffer()"))
}

/// A numpy array of shape `(height, width)` over the buffer's memory.
pub(crate) fn to_numpy(
    py: Python<'_>,
    mut buf: FrameBuffer,
    shape: [u64; 2],
) -> PyResult<Py<PyAny>> {
    let dims = (shape[0] as usize, shape[1] as usize);
    let dtype = buf.dtype();
    if dims.0 * dims.1 * dtype.size() != buf.len_bytes() {
        return Err(PyValueError::new_err(format!(
            "buffer of {} bytes is not a {dims:?} frame of {}",
            buf.len_bytes(),
            dtype.name()
        )));
    }
    macro_rules! array {
        ($t:ty) => {{
            let ptr = buf
                .pixels_mut::<$t>()
                .map_err(|e| PyValueError::new_err(format!("{e:?}")))?
                .as_mut_ptr();
            // The heap memory stays where it is when the buffer moves into the handle.
            let handle = Bound::new(
                py,
                PyFrameBuffer {
                    buf: Mutex::new(Some(buf)),
                },
            )?;
            // SAFETY: `ptr` points at `dims.0 * dims.1` pixels (checked above), owned
            // by `handle`, which the array keeps alive as its base. After
            // `append_buffer` the array is made read-only.
            let view = unsafe { ArrayViewMut2::from_shape_ptr(dims, ptr) };
            unsafe { PyArray2::<$t>::borrow_from_array(&view, handle.into_any()) }.into_any()
        }};
    }
    let array = match dtype {
        DType::U8 => array!(u8),
        DType::U16 => array!(u16),
        DType::U32 => array!(u32),
        DType::I8 => array!(i8),
        DType::I16 => array!(i16),
        DType::I32 => array!(i32),
        DType::F32 => array!(f32),
        DType::F64 => array!(f64),
    };
    Ok(array.unbind())
}
