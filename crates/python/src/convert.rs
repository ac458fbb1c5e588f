//! Python values in and out: settings, frame metadata, numpy frames, coordinates.

use ome_writers::{CoordLabel, Coords, DType, FrameMetadata, Schema};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};

/// `json.dumps(value)`.
fn dumps(value: &Bound<'_, PyAny>) -> PyResult<String> {
    let json = value.py().import("json")?;
    json.call_method1("dumps", (value,))?.extract()
}

/// The settings JSON of an `AcquisitionSettings` (anything with
/// `model_dump(mode="json")`), a mapping, or a JSON string.
fn settings_json(settings: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(s) = settings.downcast::<PyString>() {
        return Ok(s.to_str()?.to_owned());
    }
    if settings.hasattr("model_dump")? {
        let kwargs = PyDict::new(settings.py());
        kwargs.set_item("mode", "json")?;
        let dumped = settings.call_method("model_dump", (), Some(&kwargs))?;
        return dumps(&dumped);
    }
    if settings.downcast::<PyDict>().is_ok() || settings.hasattr("keys")? {
        return dumps(settings);
    }
    Err(PyTypeError::new_err(format!(
        "settings must be an AcquisitionSettings, a dict or a JSON string, got {}",
        settings.get_type().name()?
    )))
}

/// Read and validate the settings (a `ValueError` naming the field when invalid).
pub(crate) fn schema_from(settings: &Bound<'_, PyAny>) -> PyResult<Schema> {
    let json = settings_json(settings)?;
    Schema::from_json(&json).map_err(|e| {
        let root_missing = matches!(&e, ome_writers::SchemaError::Invalid { field, reason, .. }
            if field == "root_path" && reason.contains("required"));
        if root_missing {
            // ome-writers' wording first (its tests match it), then ours.
            PyValueError::new_err(format!("root_path is required for this format ({e})"))
        } else {
            PyValueError::new_err(format!("invalid settings: {e}"))
        }
    })
}

/// Per-frame metadata: a mapping of JSON-serializable values (`None`: none).
pub(crate) fn frame_metadata(value: Option<&Bound<'_, PyAny>>) -> PyResult<Option<FrameMetadata>> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(None);
    };
    if !(value.downcast::<PyDict>().is_ok() || value.hasattr("keys")?) {
        return Err(PyTypeError::new_err(format!(
            "frame_metadata must be a mapping, got {}",
            value.get_type().name()?
        )));
    }
    let dict = PyDict::new(value.py());
    dict.call_method1("update", (value,))?;
    let json = dumps_lenient(dict.as_any())?;
    match serde_json::from_str::<serde_json::Value>(&json) {
        Ok(serde_json::Value::Object(map)) => Ok(Some(map)),
        Ok(other) => Err(PyValueError::new_err(format!(
            "frame_metadata must be a JSON object, got {other}"
        ))),
        Err(e) => Err(PyValueError::new_err(format!("frame_metadata: {e}"))),
    }
}

/// `json.dumps(value, default=str)`: values JSON cannot hold (numpy scalars, dates)
/// are stored as their text, as ome-writers does after a warning.
fn dumps_lenient(value: &Bound<'_, PyAny>) -> PyResult<String> {
    let py = value.py();
    let kwargs = PyDict::new(py);
    let builtins = py.import("builtins")?;
    kwargs.set_item("default", builtins.getattr("str")?)?;
    py.import("json")?
        .call_method("dumps", (value,), Some(&kwargs))?
        .extract()
}

/// A JSON value (a global-metadata mapping) from Python.
pub(crate) fn json_value(value: &Bound<'_, PyAny>) -> PyResult<serde_json::Value> {
    let json = dumps(value)?;
    serde_json::from_str(&json).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// `numpy.dtype(name)`.
pub(crate) fn numpy_dtype(py: Python<'_>, dtype: DType) -> PyResult<Bound<'_, PyAny>> {
    py.import("numpy")?.getattr("dtype")?.call1((dtype.name(),))
}

/// One dimension's coordinates: `range(n)`, or a list of labels.
pub(crate) fn coords_py<'py>(py: Python<'py>, coords: &Coords) -> PyResult<Bound<'py, PyAny>> {
    match coords {
        Coords::Range(n) => py.import("builtins")?.getattr("range")?.call1((*n,)),
        Coords::Labels(labels) => {
            let list = PyList::empty(py);
            for l in labels {
                match l {
                    CoordLabel::Text(s) => list.append(s)?,
                    CoordLabel::Number(x) => list.append(*x)?,
                }
            }
            Ok(list.into_any())
        }
    }
}

/// `{name: coords}` in dimension order.
pub(crate) fn coords_dict<'py>(
    py: Python<'py>,
    coords: &[(&str, Coords)],
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (name, c) in coords {
        dict.set_item(*name, coords_py(py, c)?)?;
    }
    Ok(dict)
}
