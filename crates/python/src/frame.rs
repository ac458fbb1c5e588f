//! A frame from Python (a numpy array or any buffer-protocol object) as the bytes of
//! one C-contiguous frame of the stream's dtype, without a copy when it already is.

use numpy::{PyArrayDescrMethods, PyUntypedArray, PyUntypedArrayMethods};
use ome_writers::DType;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// A checked frame: the array (kept alive) and its bytes.
pub(crate) struct Frame<'py> {
    array: Bound<'py, PyUntypedArray>,
}

impl Frame<'_> {
    /// The frame's bytes, borrowed from the array.
    pub(crate) fn bytes(&self) -> &[u8] {
        let len = self.array.len() * self.array.dtype().itemsize();
        // SAFETY: the array is C-contiguous (checked in `frame`), holds `len` bytes
        // at `data`, and is kept alive by `self.array` for the borrow's lifetime.
        unsafe {
            let data = (*self.array.as_array_ptr()).data.cast::<u8>();
            if len == 0 || data.is_null() {
                return &[];
            }
            std::slice::from_raw_parts(data, len)
        }
    }
}

fn shape_text(shape: &[usize]) -> String {
    let parts: Vec<String> = shape.iter().map(ToString::to_string).collect();
    if parts.len() == 1 {
        format!("({},)", parts[0])
    } else {
        format!("({})", parts.join(", "))
    }
}

/// Check `frame` against the stream's frame shape and dtype (a `ValueError` naming
/// expected and got) and make it C-contiguous in native byte order.
pub(crate) fn frame<'py>(
    frame: &Bound<'py, PyAny>,
    dtype: DType,
    want: &Bound<'py, PyAny>,
    shape: [u64; 2],
) -> PyResult<Frame<'py>> {
    let py = frame.py();
    let np = py.import("numpy")?;
    let array = match frame.downcast::<PyUntypedArray>() {
        Ok(a) => a.clone(),
        Err(_) => np
            .call_method1("asarray", (frame,))?
            .downcast_into::<PyUntypedArray>()?,
    };
    let expected = [shape[0] as usize, shape[1] as usize];
    if array.shape() != expected {
        return Err(PyValueError::new_err(format!(
            "frame shape: expected {}, got {}",
            shape_text(&expected),
            shape_text(array.shape())
        )));
    }
    let got = array.dtype();
    let same_kind: bool =
        got.getattr("kind")?.eq(want.getattr("kind")?)? && got.itemsize() == dtype.size();
    if !same_kind {
        return Err(PyValueError::new_err(format!(
            "frame dtype: expected {}, got {}",
            dtype.name(),
            got.str()?
        )));
    }
    let array = if array.is_c_contiguous() && got.getattr("isnative")?.extract::<bool>()? {
        array
    } else {
        // Strided, or the other byte order: one copy into a C-contiguous native array.
        np.call_method1("ascontiguousarray", (array, want))?
            .downcast_into::<PyUntypedArray>()?
    };
    Ok(Frame { array })
}
