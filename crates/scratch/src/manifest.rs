//! `manifest.json`: Python's keys (`version`, every settings field, `position_shapes`,
//! `global_metadata`) and our record under `ome_writers` (writer, status, frames),
//! always replaced atomically.

use std::path::Path;

use ome_writers_backend::{BackendError, DatasetStatus, GlobalMetadata, write_atomic};
use ome_writers_schema::AcquisitionSettings;
use serde_json::{Map, Value, json};

use crate::names::{MANIFEST, RECORD_KEY, WRITER};

/// The keys the manifest adds to the settings' own.
pub(crate) const ADDED_KEYS: [&str; 4] =
    ["version", "position_shapes", "global_metadata", RECORD_KEY];

/// What a manifest records beyond the settings.
pub(crate) struct Record<'a> {
    pub shapes: Vec<Vec<u64>>,
    pub axes: Vec<String>,
    pub global: &'a GlobalMetadata,
    pub status: DatasetStatus,
    pub frames_written: u64,
    pub frame_metadata_count: u64,
    pub repaired: Option<Value>,
}

/// The manifest document.
pub(crate) fn document(settings: &AcquisitionSettings, r: &Record<'_>) -> Value {
    let mut m = Map::new();
    m.insert("version".into(), json!(env!("CARGO_PKG_VERSION")));
    if let Ok(Value::Object(s)) = serde_json::to_value(settings) {
        m.extend(s);
    }
    m.insert("position_shapes".into(), json!(r.shapes));
    let global: Map<String, Value> = r
        .global
        .iter()
        .map(|(k, v)| (k.to_owned(), v.clone()))
        .collect();
    m.insert("global_metadata".into(), Value::Object(global));
    let mut rec = json!({
        "writer": WRITER,
        "version": env!("CARGO_PKG_VERSION"),
        "status": r.status.as_str(),
        "frames_written": r.frames_written,
        "frame_metadata_count": r.frame_metadata_count,
        "storage_axes": r.axes,
    });
    if let Some(rep) = &r.repaired {
        rec["repaired"] = rep.clone();
    }
    m.insert(RECORD_KEY.into(), rec);
    Value::Object(m)
}

/// Replace `dir/manifest.json` atomically (temporary file, fsync, rename).
pub(crate) fn write(dir: &Path, doc: &Value) -> Result<(), BackendError> {
    let bytes = serde_json::to_vec(doc)?;
    write_atomic(&dir.join(MANIFEST), &bytes)
}
