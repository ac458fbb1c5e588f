//! Acquisition-level ("global") metadata: one attribute of the root group per namespace
//! (`attributes[namespace] = value`; the root is the image group for one position, the
//! bioformats2raw or plate group otherwise), beside `ome` and `ome_writers`, which it
//! never replaces. During acquisition it is kept in memory and written with the
//! documents of the next durability point (the root `zarr.json` replaced in that batch,
//! after the chunks are durable) and at finish; [`set_global_metadata`] writes it into
//! a finished dataset. Recovery rewrites image documents in place, so it keeps these
//! attributes.

use std::fs;
use std::io::Read;
use std::path::Path;

use ome_writers_backend::{
    BackendError, GlobalMetadata, RESERVED_NAMESPACES, check_namespace, lock_output, write_atomic,
};
use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::backend::ZarrBackend;
use crate::error::ZarrError;
use crate::names::ZARR_JSON;
use crate::ngff::{GroupDoc, RootAttrs};

/// Largest root `zarr.json` read by [`set_global_metadata`].
const MAX_ROOT_DOC_BYTES: u64 = 256 << 20;

/// The global metadata as extra attributes of a group document (flattened beside `ome`
/// and `ome_writers`; a reserved namespace is never written). `None`: a group that is
/// not the root.
pub(crate) struct GlobalAttrs<'a>(pub(crate) Option<&'a GlobalMetadata>);

impl Serialize for GlobalAttrs<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (namespace, value) in self.0.into_iter().flat_map(GlobalMetadata::iter) {
            if !RESERVED_NAMESPACES.contains(&namespace) {
                map.serialize_entry(namespace, value)?;
            }
        }
        map.end()
    }
}

impl ZarrBackend {
    /// The root group's document when it is not an image (bioformats2raw, plate).
    pub(crate) fn put_root_doc(&self) -> Result<(), BackendError> {
        let Some(ome) = &self.root_ome else {
            return Ok(());
        };
        self.put_json(
            ZARR_JSON,
            &GroupDoc::new(RootAttrs {
                ome,
                ome_writers: self.root_writer_attrs(),
                global: GlobalAttrs(Some(&self.global)),
            }),
        )
    }

    /// Set `namespace` (see [`Backend::set_global_metadata`]): the root document is out
    /// of date until the next durability point.
    ///
    /// [`Backend::set_global_metadata`]: ome_writers_backend::Backend::set_global_metadata
    pub(crate) fn set_global(
        &mut self,
        namespace: &str,
        value: &serde_json::Value,
    ) -> Result<(), BackendError> {
        check_namespace(namespace)?;
        if self.finalized {
            return Err(BackendError::Finalized);
        }
        self.global.set(namespace, value.clone());
        self.global_dirty = true;
        if self.root_ome.is_none() {
            // The single image is the root group.
            self.touch(0);
        }
        Ok(())
    }
}

/// Set `attributes[namespace] = value` in the root `zarr.json` of the finished OME-Zarr
/// dataset at `path` (replacing that namespace's value, keeping every other
/// attribute), atomically and durably, under the output's lock.
///
/// # Errors
/// A reserved or empty namespace ([`BackendError::Usage`]); the output is locked by a
/// writer; the root document is not a regular file of this library's
/// ([`ZarrError::NotOurDataset`]); it cannot be replaced.
pub fn set_global_metadata(
    path: &Path,
    namespace: &str,
    value: &serde_json::Value,
) -> Result<(), BackendError> {
    check_namespace(namespace)?;
    let _lock = lock_output(path)?;
    let doc_path = path.join(ZARR_JSON);
    let mut doc = read_own_root(&doc_path)?;
    let Some(attributes) = doc
        .get_mut("attributes")
        .and_then(serde_json::Value::as_object_mut)
    else {
        return Err(not_ours(&doc_path, "no attributes object"));
    };
    attributes.insert(namespace.to_owned(), value.clone());
    let bytes = serde_json::to_vec_pretty(&doc)?;
    write_atomic(&doc_path, &bytes)
}

fn not_ours(path: &Path, reason: impl Into<String>) -> BackendError {
    ZarrError::NotOurDataset {
        path: path.to_owned(),
        reason: reason.into(),
    }
    .into()
}

/// The root document, when it is a regular file carrying our marker
/// (`attributes.ome_writers.version`).
fn read_own_root(path: &Path) -> Result<serde_json::Value, BackendError> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_file() => {}
        Ok(_) => return Err(not_ours(path, "not a regular file")),
        Err(e) => return Err(BackendError::io(path, e)),
    }
    let mut text = Vec::new();
    fs::File::open(path)
        .and_then(|f| f.take(MAX_ROOT_DOC_BYTES + 1).read_to_end(&mut text))
        .map_err(|e| BackendError::io(path, e))?;
    if text.len() as u64 > MAX_ROOT_DOC_BYTES {
        return Err(not_ours(path, "larger than 256 MiB"));
    }
    let doc: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| not_ours(path, format!("not JSON: {e}")))?;
    if !doc["attributes"]["ome_writers"]["version"].is_string() {
        return Err(not_ours(
            path,
            "no attributes.ome_writers.version (not written by this library)",
        ));
    }
    Ok(doc)
}
