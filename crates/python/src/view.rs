//! `StreamView`: numpy indexing on the facade's live [`StreamView`], and the
//! `coords_changed` signal.

use std::sync::{Mutex, PoisonError};

use numpy::{PyArrayDescrMethods, PyUntypedArray, PyUntypedArrayMethods};
use ome_writers::{Sel, StreamView};
use pyo3::exceptions::{PyIndexError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyEllipsis, PySlice, PyTuple};

use crate::convert::{coords_dict, numpy_dtype};
use crate::errors::view_error;

/// A minimal signal: `connect(cb)`, `disconnect(cb)`, `emit()`; callbacks take no
/// arguments and run on the stream's events thread.
#[pyclass(name = "Signal", module = "ome_writers_rs", frozen)]
pub(crate) struct PySignal {
    slots: Mutex<Vec<Py<PyAny>>>,
}

#[pymethods]
impl PySignal {
    /// Connect `callback` (returned, so this works as a decorator).
    fn connect(&self, py: Python<'_>, callback: Py<PyAny>) -> Py<PyAny> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots.push(callback.clone_ref(py));
        callback
    }

    /// Disconnect a connected `callback` (`ValueError` if it is not connected).
    fn disconnect(&self, py: Python<'_>, callback: &Bound<'_, PyAny>) -> PyResult<()> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let at = slots.iter().position(|s| s.bind(py).is(callback));
        match at {
            Some(i) => {
                slots.remove(i);
                Ok(())
            }
            None => Err(PyValueError::new_err("callback is not connected")),
        }
    }

    /// Call every connected callback.
    fn emit(&self, py: Python<'_>) -> PyResult<()> {
        let slots: Vec<Py<PyAny>> = self
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|s| s.clone_ref(py))
            .collect();
        for s in slots {
            s.call0(py)?;
        }
        Ok(())
    }
}

/// A live, read-only view of a stream in acquisition order (every dimension of the
/// settings, Y and X last). Index it like a numpy array (integers, slices, `...`);
/// planes not written yet read as 0.
#[pyclass(name = "StreamView", module = "ome_writers_rs", frozen)]
pub(crate) struct PyStreamView {
    view: StreamView,
    signal: Py<PySignal>,
    np_dtype: Py<PyAny>,
    /// The position dimension's name, if any (its errors say "Position index").
    position: Option<String>,
}

impl PyStreamView {
    pub(crate) fn new(
        py: Python<'_>,
        view: StreamView,
        position: Option<String>,
    ) -> PyResult<Self> {
        let signal = Py::new(
            py,
            PySignal {
                slots: Mutex::new(Vec::new()),
            },
        )?;
        Ok(Self {
            np_dtype: numpy_dtype(py, view.dtype())?.unbind(),
            view,
            signal,
            position,
        })
    }

    pub(crate) fn signal(&self) -> &Py<PySignal> {
        &self.signal
    }

    /// A view error as a Python exception; an index past the positions says
    /// "Position index" first, as ome-writers does.
    fn error(&self, e: &ome_writers::ViewError) -> PyErr {
        if let ome_writers::ViewError::OutOfBounds { dim, index, size } = e
            && self.position.as_deref() == Some(dim.as_str())
        {
            return PyIndexError::new_err(format!(
                "Position index {index} is out of range for {size} positions ({})",
                ome_writers::error_chain(e)
            ));
        }
        view_error(e)
    }

    /// A numpy key as selectors, one per dimension.
    fn selection(&self, key: &Bound<'_, PyAny>) -> PyResult<Vec<Sel>> {
        let items: Vec<Bound<'_, PyAny>> = match key.downcast::<PyTuple>() {
            Ok(t) => t.iter().collect(),
            Err(_) => vec![key.clone()],
        };
        let ndim = self.view.ndim();
        let ellipses = items
            .iter()
            .filter(|k| k.is_instance_of::<PyEllipsis>())
            .count();
        if ellipses > 1 {
            return Err(PyIndexError::new_err(
                "an index can only have a single ellipsis ('...')",
            ));
        }
        let given = items.len() - ellipses;
        if given > ndim {
            return Err(PyIndexError::new_err(format!(
                "too many indices for array: array is {ndim}-dimensional, but {given} were indexed"
            )));
        }
        let mut sel = Vec::with_capacity(ndim);
        for k in &items {
            if k.is_instance_of::<PyEllipsis>() {
                sel.extend(std::iter::repeat_n(Sel::all(), ndim - given));
            } else if let Ok(s) = k.downcast::<PySlice>() {
                let part = |name: &str| -> PyResult<Option<i64>> {
                    let v = s.getattr(name)?;
                    if v.is_none() {
                        Ok(None)
                    } else {
                        Ok(Some(index_of(&v)?))
                    }
                };
                let step = part("step")?.unwrap_or(1);
                if step == 0 {
                    return Err(PyValueError::new_err("slice step cannot be zero"));
                }
                sel.push(Sel::Slice {
                    start: part("start")?,
                    stop: part("stop")?,
                    step,
                });
            } else {
                sel.push(Sel::Index(index_of(k)?));
            }
        }
        sel.resize(ndim, Sel::all());
        Ok(sel)
    }

    fn read<'py>(&self, py: Python<'py>, key: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let sel = self.selection(key)?;
        let shape = self
            .view
            .selection_shape(&sel)
            .map_err(|e| self.error(&e))?;
        let np = py.import("numpy")?;
        let out = np
            .call_method1("empty", (shape.clone(), self.np_dtype.bind(py)))?
            .downcast_into::<PyUntypedArray>()?;
        let len = out.len() * out.dtype().itemsize();
        if len > 0 {
            // SAFETY: a fresh C-contiguous array of `len` bytes that only this
            // function references until it returns.
            let bytes = unsafe {
                std::slice::from_raw_parts_mut((*out.as_array_ptr()).data.cast::<u8>(), len)
            };
            let view = &self.view;
            py.allow_threads(|| view.read_into(&sel, bytes))
                .map_err(|e| self.error(&e))?;
        }
        if shape.is_empty() {
            // All integers: a numpy scalar, as numpy indexing gives.
            return out.into_any().get_item(());
        }
        Ok(out.into_any())
    }
}

/// An integer index (anything with `__index__`; floats are refused as numpy does).
fn index_of(k: &Bound<'_, PyAny>) -> PyResult<i64> {
    let op = k.py().import("operator")?;
    op.call_method1("index", (k,))
        .and_then(|i| i.extract::<i64>())
        .map_err(|_| {
            PyTypeError::new_err(format!(
                "only integers, slices and ellipsis (`...`) are valid indices, got {}",
                k.get_type()
                    .name()
                    .map(|n| n.to_string())
                    .unwrap_or_default()
            ))
        })
}

#[pymethods]
impl PyStreamView {
    fn __getitem__<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.read(py, key)
    }

    /// The whole view as a numpy array (a copy).
    #[pyo3(signature = (dtype = None, copy = None))]
    fn __array__<'py>(
        &self,
        py: Python<'py>,
        dtype: Option<&Bound<'py, PyAny>>,
        copy: Option<bool>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if copy == Some(false) {
            return Err(PyValueError::new_err(
                "a StreamView cannot be converted to an array without a copy",
            ));
        }
        let all = pyo3::types::PySlice::full(py);
        let out = self.read(py, all.as_any())?;
        match dtype {
            Some(d) if !d.is_none() => out.call_method1("astype", (d,)),
            _ => Ok(out),
        }
    }

    /// The shape: live (grows with the frames reached) or declared, per `dynamic_shape`.
    #[getter]
    fn shape<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, self.view.shape())
    }

    /// The numpy dtype.
    #[getter]
    fn dtype(&self, py: Python<'_>) -> Py<PyAny> {
        self.np_dtype.clone_ref(py)
    }

    /// Number of dimensions.
    #[getter]
    fn ndim(&self) -> usize {
        self.view.ndim()
    }

    /// Dimension names in acquisition order.
    #[getter]
    fn dims<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyTuple>> {
        PyTuple::new(py, self.view.dims())
    }

    /// `{dim: range | labels}` for the current shape.
    #[getter]
    fn coords<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
        coords_dict(py, &self.view.coords())
    }

    /// Emitted (with no arguments) when the live shape or coords grow
    /// (`dynamic_shape=True`), on the stream's events thread.
    #[getter]
    fn coords_changed(&self, py: Python<'_>) -> Py<PySignal> {
        self.signal.clone_ref(py)
    }

    fn __len__(&self) -> usize {
        self.view.len() as usize
    }

    fn __repr__(&self) -> String {
        format!(
            "StreamView(dims={:?}, shape={:?}, dtype={})",
            self.view.dims(),
            self.view.shape(),
            self.view.dtype().name()
        )
    }
}
