//! Rust errors as the Python exceptions ome-writers raises: `ValueError` for bad
//! settings and bad frames, `IndexError` past the end, `OSError` (with errno and
//! filename, so `FileExistsError` etc.) for I/O.

use std::path::Path;

use ome_writers::{BackendError, StreamError, ViewError, error_chain};
use pyo3::PyErr;
use pyo3::exceptions::{
    PyIndexError, PyNotImplementedError, PyOSError, PyRuntimeError, PyValueError,
};

/// errno of an I/O error (the OS's own, or the closest one for its kind).
fn errno_of(e: &std::io::Error) -> i32 {
    use std::io::ErrorKind as K;
    e.raw_os_error().unwrap_or(match e.kind() {
        K::NotFound => 2,
        K::PermissionDenied => 13,
        K::AlreadyExists => 17,
        K::StorageFull => 28,
        K::ReadOnlyFilesystem => 30,
        _ => 5,
    })
}

/// `OSError(errno, message, filename)`: Python picks the subclass from errno.
fn os_error(errno: i32, message: String, path: &Path) -> PyErr {
    PyOSError::new_err((errno, message, path.to_string_lossy().into_owned()))
}

/// The first `std::io::Error` in a chain of sources.
fn find_io<'a>(mut e: &'a (dyn std::error::Error + 'static)) -> Option<&'a std::io::Error> {
    loop {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        e = e.source()?;
    }
}

/// A backend error, `message` being the whole chain from the outermost error.
fn backend_error(e: &BackendError, message: String) -> PyErr {
    match e {
        BackendError::Exists { path } => os_error(17, message, path),
        BackendError::Locked { path, .. } => os_error(16, message, path),
        BackendError::RefuseOverwrite { path, .. } | BackendError::Replaced { path, .. } => {
            os_error(5, message, path)
        }
        BackendError::Io { path, source } => os_error(errno_of(source), message, path),
        BackendError::Unsupported { .. } => PyNotImplementedError::new_err(message),
        BackendError::NotAvailable { .. } => PyValueError::new_err(message),
        other => match find_io(other) {
            Some(io) => PyOSError::new_err((errno_of(io), message)),
            None => PyRuntimeError::new_err(message),
        },
    }
}

/// A stream error as a Python exception.
pub(crate) fn stream_error(e: &StreamError) -> PyErr {
    let message = error_chain(e);
    match e {
        StreamError::Schema(_)
        | StreamError::FrameDtype { .. }
        | StreamError::FrameShape { .. }
        | StreamError::ReservedMetadataKey { .. }
        | StreamError::Metadata { .. } => PyValueError::new_err(message),
        StreamError::TooManyFrames { .. } => PyIndexError::new_err(message),
        StreamError::Create(b)
        | StreamError::Flush(b)
        | StreamError::Finalize(b)
        | StreamError::Write { source: b, .. } => backend_error(b, message),
        StreamError::FailedEarlier { .. } => PyOSError::new_err(message),
        StreamError::GlobalNamespace(_) | StreamError::GlobalNotObject { .. } => {
            PyValueError::new_err(message)
        }
        StreamError::GlobalMetadata { source, .. } => backend_error(source, message),
        _ => PyRuntimeError::new_err(message),
    }
}

/// A view error as a Python exception.
pub(crate) fn view_error(e: &ViewError) -> PyErr {
    let message = error_chain(e);
    match e {
        ViewError::TooManyIndices { .. } | ViewError::OutOfBounds { .. } => {
            PyIndexError::new_err(message)
        }
        ViewError::ZeroStep { .. } | ViewError::Dtype { .. } | ViewError::OutputSize { .. } => {
            PyValueError::new_err(message)
        }
        ViewError::Read { source, .. } => backend_error(source, message),
        _ => pyo3::exceptions::PyMemoryError::new_err(message),
    }
}
