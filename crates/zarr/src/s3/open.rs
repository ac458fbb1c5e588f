//! Opening a dataset's prefix before any frame is accepted: the bucket and the
//! credentials proved by a listing, an existing dataset refused, or (with overwrite)
//! deleted when, and only when, every object under the prefix is one this library
//! writes and a `zarr.json` carries its marker.

use std::path::PathBuf;

use futures::TryStreamExt;
use object_store::{ObjectMeta, ObjectStoreExt};
use ome_writers_backend::BackendError;
use ome_writers_schema::S3Url;

use super::store::S3Store;
use super::{S3Error, S3Options};

/// Largest `zarr.json` read to look for the marker.
const MAX_MARKER_BYTES: u64 = 256 << 20;
/// How deep below the root a marker is looked for (a plate's fields are row/col/field).
const MARKER_DEPTH: usize = 3;

impl S3Store {
    /// The store of `url`, checked before anything is written: refuses a missing
    /// bucket, wrong credentials and an unreachable endpoint (a clear
    /// [`S3Error::Probe`]), an existing dataset unless `overwrite`, and, with
    /// `overwrite`, anything this library did not write. With `overwrite` the old
    /// dataset's objects are deleted here (an object store cannot move a prefix aside).
    pub fn open(url: &S3Url, options: &S3Options, overwrite: bool) -> Result<Self, BackendError> {
        let store = Self::new(url, options)?;
        let existing = store.list_all().map_err(|source| S3Error::Probe {
            url: url.to_string(),
            hint: S3Error::hint(&source, url.bucket(), &endpoint(options)),
            cause: super::error::describe(&source),
        })?;
        if existing.is_empty() {
            return Ok(store);
        }
        let shown = PathBuf::from(url.to_string());
        if !overwrite {
            return Err(BackendError::Exists { path: shown });
        }
        let refuse = |reason: String| BackendError::RefuseOverwrite {
            path: shown.clone(),
            reason,
        };
        if let Some(foreign) = existing
            .iter()
            .find(|m| !crate::is_own_file(std::path::Path::new(m.location.as_ref())))
        {
            return Err(refuse(format!(
                "{:?} is not an object ome-writers writes",
                foreign.location.as_ref()
            )));
        }
        if !store.has_marker(&existing) {
            return Err(refuse(
                "no zarr.json with attributes.ome_writers".to_owned(),
            ));
        }
        let paths = existing.into_iter().map(|m| m.location).collect();
        store.remove(paths)?;
        Ok(store)
    }

    fn list_all(&self) -> Result<Vec<ObjectMeta>, object_store::Error> {
        let client = self.client.clone();
        self.block(async move { client.list(None).try_collect::<Vec<_>>().await })
    }

    /// Whether a `zarr.json` at the root or an image group's carries
    /// `attributes.ome_writers`.
    fn has_marker(&self, existing: &[ObjectMeta]) -> bool {
        let mut docs: Vec<&ObjectMeta> = existing
            .iter()
            .filter(|m| {
                let key = m.location.as_ref();
                (key == crate::ZARR_JSON || key.ends_with("/zarr.json"))
                    && key.matches('/').count() <= MARKER_DEPTH
                    && m.size <= MAX_MARKER_BYTES
            })
            .collect();
        docs.sort_by_key(|m| m.location.as_ref().matches('/').count());
        docs.into_iter().take(8).any(|m| {
            let client = self.client.clone();
            let path = m.location.clone();
            let bytes = self.block(async move { client.get(&path).await?.bytes().await });
            bytes.is_ok_and(|b| {
                serde_json::from_slice::<serde_json::Value>(&b)
                    .is_ok_and(|doc| doc["attributes"]["ome_writers"].is_object())
            })
        })
    }
}

/// The endpoint the options or the environment name, for messages.
pub(crate) fn endpoint(options: &S3Options) -> String {
    options
        .endpoint
        .clone()
        .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
        .or_else(|| std::env::var("AWS_ENDPOINT").ok())
        .unwrap_or_else(|| "AWS S3".to_owned())
}
