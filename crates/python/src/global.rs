//! `set_global_metadata`: acquisition-level metadata under a namespace, on the open
//! stream ([`Stream::set_global_metadata`](ome_writers::Stream::set_global_metadata))
//! or, once closed, on the finished dataset ([`ome_writers::set_global_metadata`]).

use ome_writers::StreamError;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use crate::errors::stream_error;
use crate::stream::PyStream;

/// Store `value` under `namespace`.
pub(crate) fn set(
    py: Python<'_>,
    stream: &PyStream,
    namespace: &str,
    value: serde_json::Value,
) -> PyResult<()> {
    let result = stream.with_open(py, |open| match open {
        Some(s) => s.set_global_metadata(namespace, value),
        None => ome_writers::set_global_metadata(stream.schema(), namespace, &value),
    });
    result.map_err(|e| match e {
        StreamError::GlobalNamespace(_) | StreamError::GlobalNotObject { .. } => {
            PyValueError::new_err(ome_writers::error_chain(&e))
        }
        other => stream_error(&other),
    })
}
