//! `ome_writers_rs`: the Python package on the Rust ome-writers facade (PyO3).
//!
//! A drop-in for `ome_writers.create_stream`: it takes the same settings (an
//! `ome_writers.AcquisitionSettings`, a dict or a JSON string) and returns a stream
//! with the OMEStream API. Nothing is implemented twice: every call goes to
//! [`ome_writers::Stream`] / [`ome_writers::StreamView`]. See docs/python.md.

mod buffer;
mod convert;
mod errors;
mod events;
mod frame;
mod global;
mod stream;
mod view;

use pyo3::prelude::*;

/// Create a stream writing the acquisition `settings` describe.
///
/// `settings`: an `ome_writers.AcquisitionSettings` (anything with
/// `model_dump(mode="json")`), a dict, or a JSON string. Invalid settings raise
/// `ValueError` naming the field; an existing output without `overwrite` raises
/// `FileExistsError`. `queue_bytes`: the frame queue's byte budget (default 256 MiB;
/// an append waits while that many bytes are queued).
#[pyfunction]
#[pyo3(signature = (settings, *, queue_bytes = None))]
fn create_stream(
    py: Python<'_>,
    settings: &Bound<'_, PyAny>,
    queue_bytes: Option<usize>,
) -> PyResult<stream::PyStream> {
    let schema = convert::schema_from(settings)?;
    let mut options = ome_writers::StreamOptions::default();
    if let Some(bytes) = queue_bytes {
        options = options.with_queue_bytes(bytes);
    }
    let s = py
        .allow_threads(|| ome_writers::create_stream_with(&schema, &options))
        .map_err(|e| errors::stream_error(&e))?;
    stream::PyStream::new(py, s)
}

/// The native module (`ome_writers_rs._native`).
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(create_stream, m)?)?;
    m.add_class::<stream::PyStream>()?;
    m.add_class::<view::PyStreamView>()?;
    m.add_class::<view::PySignal>()?;
    m.add_class::<events::PyCoordUpdate>()?;
    m.add_class::<buffer::PyFrameBuffer>()?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
