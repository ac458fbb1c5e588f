//! `omew repair s3://...`: [`recover_s3`], the zarr recovery of a dataset on object
//! storage. The dataset's objects are copied into a local temporary directory, the
//! same [`recover`](crate::recover) as on disk runs there, and what it changed goes
//! back: a damaged chunk's `.<name>.damaged` copy uploaded and the chunk deleted, the
//! writer's stale temporary objects deleted, then the rewritten `zarr.json` documents,
//! deepest first, once everything before them is acknowledged. Chunks are never
//! rewritten. It needs local space for the whole dataset while it runs.

use std::collections::HashMap;
use std::fs;
use std::path::{Path as FsPath, PathBuf};

use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use object_store::path::Path;
use ome_writers_backend::BackendError;
use ome_writers_schema::S3Url;
use zarrs::storage::{Bytes, StoreKey, WritableStorageTraits};

use super::S3Options;
use super::store::S3Store;
use crate::storage::ZarrStore;
use crate::{OrderOf, RecoveryReport};

/// Recover the dataset at `url` (see the module docs), with the acquisition order
/// `order` gives; a finished dataset is left untouched.
pub fn recover_s3(
    url: &S3Url,
    options: &S3Options,
    order: OrderOf<'_>,
) -> Result<RecoveryReport, BackendError> {
    let store = S3Store::new(url, options)?;
    let scratch = std::env::temp_dir().join(format!(
        ".omew-repair-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    let local = scratch.join(url.name());
    let result = download(&store, &local).and_then(|before| {
        let mut report = crate::recover(&local, order).map_err(|e| BackendError::Backend {
            backend: crate::BACKEND,
            source: Box::new(e),
        })?;
        upload_changes(&store, &local, &before)?;
        report.root = PathBuf::from(url.to_string());
        Ok(report)
    });
    let _ = fs::remove_dir_all(&scratch);
    result
}

/// Every object under the store's prefix, written under `local`; the documents'
/// contents, and every key, kept to find what recovery changed.
fn download(
    store: &S3Store,
    local: &FsPath,
) -> Result<HashMap<String, Option<Bytes>>, BackendError> {
    fs::create_dir_all(local).map_err(|e| BackendError::io(local, e))?;
    let client = store.client.clone();
    let listed = store.block(async move { client.list(None).try_collect::<Vec<_>>().await });
    let metas = listed.map_err(|e| store.failed("list", String::new(), &e))?;
    let mut before = HashMap::new();
    for meta in metas {
        let key = meta.location.as_ref().to_owned();
        let client = store.client.clone();
        let path = meta.location.clone();
        let bytes = store
            .block(async move { client.get(&path).await?.bytes().await })
            .map_err(|e| store.failed("read", key.clone(), &e))?;
        let file = local.join(&key);
        if let Some(dir) = file.parent() {
            fs::create_dir_all(dir).map_err(|e| BackendError::io(dir, e))?;
        }
        fs::write(&file, &bytes).map_err(|e| BackendError::io(&file, e))?;
        let is_doc = key == crate::ZARR_JSON || key.ends_with("/zarr.json");
        before.insert(key, is_doc.then_some(bytes));
    }
    Ok(before)
}

/// The files under `dir`, as keys relative to `root`.
fn files(root: &FsPath, dir: &FsPath, out: &mut Vec<String>) -> Result<(), BackendError> {
    for entry in fs::read_dir(dir).map_err(|e| BackendError::io(dir, e))? {
        let entry = entry.map_err(|e| BackendError::io(dir, e))?;
        let path = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            files(root, &path, out)?;
        } else if let Ok(rel) = path.strip_prefix(root) {
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
    Ok(())
}

/// New objects (damaged chunks set aside) first, then deletions (those chunks, stale
/// temporary objects), then the changed documents as one batch, deepest first.
fn upload_changes(
    store: &S3Store,
    local: &FsPath,
    before: &HashMap<String, Option<Bytes>>,
) -> Result<(), BackendError> {
    let mut after = Vec::new();
    files(local, local, &mut after)?;
    let read = |key: &str| {
        let file = local.join(key);
        fs::read(&file)
            .map(Bytes::from)
            .map_err(|e| BackendError::io(&file, e))
    };
    let storage = |key: &str, e: zarrs::storage::StorageError| {
        BackendError::from(crate::ZarrError::Store {
            key: key.to_owned(),
            source: e,
        })
    };
    let mut docs = Vec::new();
    for key in &after {
        match before.get(key) {
            None => {
                let k = StoreKey::new(key.as_str()).map_err(|e| storage(key, e.into()))?;
                if key.ends_with("zarr.json") {
                    docs.push((k, read(key)?));
                } else {
                    store.set(&k, read(key)?).map_err(|e| storage(key, e))?;
                }
            }
            Some(Some(old)) => {
                let new = read(key)?;
                if new != old {
                    let k = StoreKey::new(key.as_str()).map_err(|e| storage(key, e.into()))?;
                    docs.push((k, new));
                }
            }
            Some(None) => {}
        }
    }
    store.sync()?;
    let gone: Vec<Path> = before
        .keys()
        .filter(|k| !after.contains(k))
        .map(|k| Path::from(k.as_str()))
        .collect();
    if !gone.is_empty() {
        store.remove(gone)?;
    }
    store.begin_metadata();
    for (key, value) in docs {
        store
            .set(&key, value)
            .map_err(|e| storage(key.as_str(), e))?;
    }
    store.commit_metadata()
}
