//! `CoordUpdate`: what an event callback receives.

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::convert::coords_dict;

/// Coordinates reached, passed to `stream.on(...)` callbacks.
#[pyclass(name = "CoordUpdate", module = "ome_writers_rs", frozen, get_all)]
pub(crate) struct PyCoordUpdate {
    /// `{dim: range | labels}`: the coordinates reached so far along each dimension.
    max_coords: Py<PyDict>,
    /// `{dim: index}` of the frame this update is for.
    current_indices: Py<PyDict>,
    /// The frame's number in acquisition order.
    frame_number: u64,
    /// True if the frame raised a high-water mark (`max_coords` grew).
    is_high_water_mark: bool,
}

impl PyCoordUpdate {
    pub(crate) fn new(py: Python<'_>, u: &ome_writers::CoordUpdate) -> PyResult<Self> {
        let indices = PyDict::new(py);
        for (name, i) in u.current_indices() {
            indices.set_item(name, i)?;
        }
        Ok(Self {
            max_coords: coords_dict(py, &u.max_coords())?.unbind(),
            current_indices: indices.unbind(),
            frame_number: u.frame_number,
            is_high_water_mark: u.is_high_water_mark,
        })
    }
}

#[pymethods]
impl PyCoordUpdate {
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "CoordUpdate(max_coords={}, current_indices={}, frame_number={}, is_high_water_mark={})",
            self.max_coords.bind(py).repr()?,
            self.current_indices.bind(py).repr()?,
            self.frame_number,
            if self.is_high_water_mark {
                "True"
            } else {
                "False"
            }
        ))
    }
}
