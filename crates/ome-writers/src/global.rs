//! Acquisition-level ("global") metadata: the checks made on the caller's thread
//! before [`Stream::set_global_metadata`](crate::Stream::set_global_metadata) hands it
//! to the writer thread, and [`set_global_metadata`] for a finished dataset.
//!
//! Where it goes (docs/layouts.md, "Global metadata"): OME-Zarr, the root group's
//! `attributes[namespace]`; OME-TIFF, a `MapAnnotation` with `Namespace = namespace`,
//! one `M` entry per top-level key holding its value as JSON, in the file(s) holding
//! the full OME-XML. Setting a namespace again replaces it; namespaces never merge.

use ome_writers_backend::{BackendError, check_namespace};
use ome_writers_schema::{BackendKind, Schema, Target};
use serde_json::Value;

use crate::StreamError;

/// The name of a JSON value's type, for errors.
fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Refuse a reserved, empty or malformed namespace and a value that is not a JSON
/// object (nothing is written).
pub(crate) fn check(namespace: &str, value: &Value) -> Result<(), StreamError> {
    check_namespace(namespace).map_err(StreamError::GlobalNamespace)?;
    if value.is_object() {
        Ok(())
    } else {
        Err(StreamError::GlobalNotObject {
            namespace: namespace.to_owned(),
            found: json_type(value),
        })
    }
}

/// Set (or replace) the global metadata `namespace` of the finished dataset `schema`
/// describes, written at once and atomically under the output's lock (zarr: the root
/// `zarr.json` replaced; OME-TIFF: the new OME-XML appended to each file holding the
/// full metadata and its description repointed, a companion file replaced). Python's
/// `set_global_metadata` after `close()`.
///
/// # Errors
/// [`StreamError::GlobalNamespace`] or [`StreamError::GlobalNotObject`] (nothing
/// written); [`StreamError::GlobalMetadata`] when the dataset is locked by a writer, is
/// not one this library wrote, is not finished (repair it first), cannot be
/// rewritten, or is an `omero_local` target (unsupported once registered).
pub fn set_global_metadata(
    schema: &Schema,
    namespace: &str,
    value: &Value,
) -> Result<(), StreamError> {
    check(namespace, value)?;
    let wrap = |source| StreamError::GlobalMetadata {
        namespace: namespace.to_owned(),
        source,
    };
    let (BackendKind::Zarr | BackendKind::Tiff, Target::Disk { path }) =
        (schema.backend(), schema.target())
    else {
        return Err(wrap(BackendError::Unsupported {
            backend: "omero_local",
            reason: "global metadata cannot be added once the dataset is registered with \
                     OMERO; set it on the stream before finish"
                .to_owned(),
        }));
    };
    match schema.backend() {
        BackendKind::Tiff => ome_writers_tiff::set_global_metadata(path, namespace, value),
        _ => ome_writers_zarr::set_global_metadata(path, namespace, value),
    }
    .map_err(wrap)
}
