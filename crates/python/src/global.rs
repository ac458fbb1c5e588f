//! `set_global_metadata`: acquisition-level metadata under a namespace.
//!
//! The facade does not have it yet (it is landing as `Stream::set_global_metadata`
//! and `ome_writers::set_global_metadata` for finished datasets); until then this
//! raises `NotImplementedError`.

use pyo3::exceptions::PyNotImplementedError;
use pyo3::prelude::*;

use crate::stream::PyStream;

/// Store `value` under `namespace`, on the open stream or, once closed, on the
/// finished dataset.
pub(crate) fn set(
    _py: Python<'_>,
    stream: &PyStream,
    namespace: &str,
    _value: serde_json::Value,
) -> PyResult<()> {
    let _ = stream.schema();
    Err(PyNotImplementedError::new_err(format!(
        "set_global_metadata({namespace:?}): not supported by this build of ome_writers_rs"
    )))
}
