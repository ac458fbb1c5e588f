//! `OMEStream`: the facade's [`Stream`] behind a mutex, the GIL released while a frame
//! is handed over, while waiting on backpressure and while finishing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use ome_writers::{CoordEvent, DType, FrameMetadata, Schema, Stream, StreamError, StreamView};
use pyo3::exceptions::{PyNotImplementedError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use crate::buffer;
use crate::convert::{json_value, numpy_dtype};
use crate::errors::stream_error;
use crate::events::PyCoordUpdate;
use crate::view::PyStreamView;

/// How long an append waits on a full queue with the GIL released before it checks
/// for Ctrl-C (and other signals). It waits on the pool (woken when a buffer comes
/// back), not by polling.
const SIGNAL_CHECK: Duration = Duration::from_millis(50);

/// The events thread's name in the facade (a callback must not close the stream).
const EVENTS_THREAD: &str = "ome-writers-events";

/// A stream writing OME-Zarr or OME-TIFF, frames appended in acquisition order.
/// Made by `create_stream()`; use it as a context manager or call `close()`.
#[pyclass(name = "OMEStream", module = "ome_writers_rs", frozen)]
pub(crate) struct PyStream {
    inner: Mutex<Option<Stream>>,
    schema: Schema,
    dtype: DType,
    np_dtype: Py<PyAny>,
    closed: AtomicBool,
    /// Views made just before `close()` finished the stream, one per
    /// `(dynamic_shape, strict)`, for `view()` after close.
    closed_views: Mutex<Vec<((bool, bool), StreamView)>>,
    /// Held by `close()` while it finishes, so a call that needs the finished
    /// dataset (`set_global_metadata` after close) waits for it.
    finishing: Mutex<()>,
}

impl PyStream {
    pub(crate) fn new(py: Python<'_>, stream: Stream) -> PyResult<Self> {
        let schema = stream.schema().clone();
        let dtype = schema.dtype();
        Ok(Self {
            inner: Mutex::new(Some(stream)),
            np_dtype: numpy_dtype(py, dtype)?.unbind(),
            dtype,
            schema,
            closed: AtomicBool::new(false),
            closed_views: Mutex::new(Vec::new()),
            finishing: Mutex::new(()),
        })
    }

    fn guard(&self) -> MutexGuard<'_, Option<Stream>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Run `f` on the open stream with the GIL released.
    fn with<R: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(&mut Stream) -> Result<R, StreamError> + Send,
    ) -> PyResult<R> {
        let r = py.allow_threads(|| self.guard().as_mut().map(f));
        match r {
            None => Err(closed_error()),
            Some(r) => r.map_err(|e| stream_error(&e)),
        }
    }

    /// Hand `bytes` over, waiting on a full queue in slices of [`SIGNAL_CHECK`] with
    /// the GIL released, checking for signals between them.
    fn send(&self, py: Python<'_>, bytes: &[u8], metadata: Option<FrameMetadata>) -> PyResult<()> {
        loop {
            let result = self.with(py, |s| {
                Ok(s.append_bytes_timeout(bytes, metadata.clone(), SIGNAL_CHECK))
            })?;
            match result {
                Err(StreamError::QueueFull) => py.check_signals()?,
                r => return r.map_err(|e| past_end(&e, "append frame", 1)),
            }
        }
    }
}

/// ome-writers' wording for going past the end (its tests match it), then ours.
fn past_end(e: &StreamError, operation: &str, frames: u64) -> PyErr {
    match e {
        StreamError::TooManyFrames { total, .. } => {
            let tried = if frames > 1 {
                format!(" (tried to skip {frames})")
            } else {
                String::new()
            };
            pyo3::exceptions::PyIndexError::new_err(format!(
                "Cannot {operation}: would exceed total of {total} frames{tried} ({}). \
                 If you need to write an unbounded number of frames, set the count of \
                 your first dimension to None.",
                ome_writers::error_chain(e)
            ))
        }
        other => stream_error(other),
    }
}

fn closed_error() -> PyErr {
    PyRuntimeError::new_err("the stream is closed")
}

fn event_of(name: &str) -> PyResult<CoordEvent> {
    match name {
        "coords_expanded" => Ok(CoordEvent::Expanded),
        "coords_changed" => Ok(CoordEvent::Changed),
        other => Err(PyValueError::new_err(format!(
            "unknown event {other:?}; expected 'coords_expanded' or 'coords_changed'"
        ))),
    }
}

/// A callback the events thread calls with the GIL; its exceptions are printed.
pub(crate) fn python_callback(
    callback: Py<PyAny>,
    with_update: bool,
) -> Arc<dyn Fn(&ome_writers::CoordUpdate) + Send + Sync> {
    Arc::new(move |update| {
        Python::with_gil(|py| {
            let result = if with_update {
                PyCoordUpdate::new(py, update)
                    .and_then(|u| callback.call1(py, (u,)))
                    .map(drop)
            } else {
                callback.call0(py).map(drop)
            };
            if let Err(e) = result {
                e.print(py);
            }
        });
    })
}

#[pymethods]
impl PyStream {
    /// Write the next frame in acquisition order.
    ///
    /// `frame`: a 2D array (Y, X) of the stream's dtype (numpy or any buffer-protocol
    /// object, C-contiguous or strided). `frame_metadata`: an optional mapping of
    /// JSON-serializable values (`delta_t`, `exposure_time`, `position_x`, ... and
    /// any others).
    ///
    /// Raises `ValueError` for a frame of the wrong shape or dtype, `IndexError` past
    /// the last frame, `OSError` when writing failed.
    #[pyo3(signature = (frame, *, frame_metadata = None))]
    fn append(
        &self,
        py: Python<'_>,
        frame: &Bound<'_, PyAny>,
        frame_metadata: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let metadata = crate::convert::frame_metadata(frame_metadata)?;
        let checked = crate::frame::frame(
            frame,
            self.dtype,
            self.np_dtype.bind(py),
            self.schema.frame_shape(),
        )?;
        self.send(py, checked.bytes(), metadata)
    }

    /// Advance by `frames` frames without data (they read back as 0).
    #[pyo3(signature = (*, frames = 1))]
    fn skip(&self, py: Python<'_>, frames: i64) -> PyResult<()> {
        let Ok(n) = u64::try_from(frames) else {
            return Err(PyValueError::new_err(format!(
                "frames must be positive, got {frames}"
            )));
        };
        if n == 0 {
            return Err(PyValueError::new_err("frames must be positive, got 0"));
        }
        let r = py.allow_threads(|| self.guard().as_mut().map(|s| s.skip(n)));
        match r {
            None => Err(closed_error()),
            Some(r) => r.map_err(|e| past_end(&e, "skip frames", n)),
        }
    }

    /// A writable numpy array of a pooled frame buffer (blocks while the queue is
    /// full). Fill it in place and hand it over with `append_buffer`; do not touch it
    /// after that.
    fn next_buffer(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let me = slf.get();
        let buf = me.with(py, Stream::next_buffer)?;
        buffer::to_numpy(py, buf, me.schema.frame_shape())
    }

    /// Append an array from `next_buffer` without copying it.
    #[pyo3(signature = (buffer, *, frame_metadata = None))]
    fn append_buffer(
        &self,
        py: Python<'_>,
        buffer: &Bound<'_, PyAny>,
        frame_metadata: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let metadata = crate::convert::frame_metadata(frame_metadata)?;
        let handle = buffer::handle_of(buffer)?;
        let buf = handle.get().take()?;
        // The memory now belongs to the writer: no more writes through this array.
        let _ = buffer
            .getattr("flags")
            .and_then(|f| f.setattr("writeable", false));
        self.with(py, move |s| s.append_buffer(buf, metadata))
    }

    /// A live, read-only, array-like view of the data in acquisition order.
    #[pyo3(signature = (*, dynamic_shape = true, strict = false))]
    fn view(&self, py: Python<'_>, dynamic_shape: bool, strict: bool) -> PyResult<PyStreamView> {
        let open =
            py.allow_threads(|| self.guard().as_mut().map(|s| s.view(dynamic_shape, strict)));
        let Some(view) = open else {
            // Closed: a view made just before it finished (reads the stored data).
            let views = self
                .closed_views
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let view = views
                .iter()
                .find(|(k, _)| *k == (dynamic_shape, strict))
                .map(|(_, v)| v.clone())
                .ok_or_else(closed_error)?;
            return PyStreamView::new(py, view, self.position_name());
        };
        let out = PyStreamView::new(py, view, self.position_name())?;
        if dynamic_shape {
            let emit = out.signal().getattr(py, "emit")?;
            self.with(py, move |s| {
                s.on(CoordEvent::Expanded, python_callback(emit, false))
            })?;
        }
        Ok(out)
    }

    /// Call `callback(update: CoordUpdate)` on a background thread:
    /// `"coords_changed"` after every frame, `"coords_expanded"` when a high-water
    /// mark is reached.
    fn on(&self, py: Python<'_>, event: &str, callback: Py<PyAny>) -> PyResult<()> {
        let event = event_of(event)?;
        self.with(py, move |s| s.on(event, python_callback(callback, true)))
    }

    /// Wait until every event of the frames appended so far was delivered.
    fn wait_for_events(&self, py: Python<'_>) {
        if std::thread::current().name() == Some(EVENTS_THREAD) {
            return; // a callback waiting for its own delivery would never return
        }
        // Without holding the stream: a callback may call back into it meanwhile.
        let waiter = py.allow_threads(|| self.guard().as_ref().map(Stream::event_waiter));
        if let Some(w) = waiter {
            py.allow_threads(|| w.wait());
        }
    }

    /// Attach acquisition-level metadata under `namespace` (replacing an earlier
    /// value of the same namespace). `"ome"` and `"ome_writers"` are reserved.
    fn set_global_metadata(
        &self,
        py: Python<'_>,
        namespace: &str,
        metadata: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        if namespace.is_empty() {
            return Err(PyValueError::new_err(
                "namespace must be a non-empty string",
            ));
        }
        if namespace == "ome" || namespace == "ome_writers" {
            return Err(PyValueError::new_err(format!(
                "namespace {namespace:?} is reserved by ome-writers"
            )));
        }
        let value = json_value(metadata)?;
        crate::global::set(py, self, namespace, value)
    }

    /// ome-writers returns its backend's metadata objects (yaozarrs models, ome-types
    /// `OME`); this package writes the metadata itself and has none to hand out.
    #[allow(clippy::unused_self)] // a method in Python
    fn get_metadata(&self) -> PyResult<()> {
        Err(PyNotImplementedError::new_err(
            "get_metadata: ome_writers_rs writes the OME metadata itself; use \
             set_global_metadata(namespace, mapping) for acquisition-level metadata",
        ))
    }

    /// See `get_metadata`.
    #[allow(clippy::unused_self)] // a method in Python
    fn update_metadata(&self, _metadata: &Bound<'_, PyAny>) -> PyResult<()> {
        Err(PyNotImplementedError::new_err(
            "update_metadata: ome_writers_rs writes the OME metadata itself; use \
             set_global_metadata(namespace, mapping) for acquisition-level metadata",
        ))
    }

    /// Finish the acquisition: final metadata, durable on disk. Idempotent.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        if std::thread::current().name() == Some(EVENTS_THREAD) {
            return Err(PyRuntimeError::new_err(
                "close() cannot be called from an event callback",
            ));
        }
        let result = py.allow_threads(|| {
            let _finishing = self
                .finishing
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let stream = self.guard().take()?;
            self.closed.store(true, Ordering::SeqCst);
            let mut views = self
                .closed_views
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            for key in [(true, false), (true, true), (false, false), (false, true)] {
                views.push((key, stream.view(key.0, key.1)));
            }
            drop(views);
            Some(stream.finish())
        });
        match result {
            None => Ok(()),
            Some(r) => r.map(drop).map_err(|e| stream_error(&e)),
        }
    }

    /// True once `close()` was called.
    #[getter]
    fn closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Frames appended so far (skipped ones excluded).
    #[getter]
    fn frames_written(&self, py: Python<'_>) -> PyResult<u64> {
        self.with(py, |s| Ok(s.frames_written()))
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, PyTuple>) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    fn __repr__(&self) -> String {
        let path = self
            .schema
            .output_path()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        format!(
            "OMEStream(path={path:?}, dtype={}, closed={})",
            self.dtype.name(),
            self.closed()
        )
    }
}

impl PyStream {
    pub(crate) fn schema(&self) -> &Schema {
        &self.schema
    }

    fn position_name(&self) -> Option<String> {
        let axis = self.schema.position_axis()?;
        self.schema.dims().get(axis).map(|d| d.name().to_owned())
    }

    /// Run `f` on the open stream (`None` once closed), the GIL released.
    pub(crate) fn with_open<R: Send>(
        &self,
        py: Python<'_>,
        f: impl FnOnce(Option<&mut Stream>) -> R + Send,
    ) -> R {
        py.allow_threads(|| {
            let mut guard = self.guard();
            if guard.is_some() || std::thread::current().name() == Some(EVENTS_THREAD) {
                return f(guard.as_mut());
            }
            drop(guard);
            // Closed or closing: wait until `close()` has finished the dataset.
            let _finished = self
                .finishing
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            f(self.guard().as_mut())
        })
    }
}

impl Drop for PyStream {
    fn drop(&mut self) {
        let stream = self.guard().take();
        if let Some(stream) = stream {
            Python::with_gil(|py| {
                if stream.frames_written() > 0 {
                    let warning = py.get_type::<pyo3::exceptions::PyUserWarning>();
                    let _ = PyErr::warn(
                        py,
                        &warning,
                        c"OMEStream was not closed before garbage collection. Please use \
                          `with create_stream(...):` or call `stream.close()`.",
                        1,
                    );
                }
                // Finalize without the GIL: the events thread may be waiting for it.
                py.allow_threads(move || drop(stream));
            });
        }
    }
}
