//! [`S3Store`]: the zarr backend's store on an S3 bucket. Chunks and shards are uploaded
//! as they are stored, in parallel on a runtime the store owns, within a budget of
//! objects and bytes in flight (the writer waits for room: backpressure); `zarr.json`
//! documents are uploaded only once every upload before them is acknowledged, so a
//! reader never sees metadata that points at a missing chunk; a durability point
//! ([`ZarrStore::sync`]) waits for every upload. The first upload that fails after its
//! retries fails every later store call and is named, with its key, by the next write,
//! durability point or finish.

use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStore;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use ome_writers_backend::BackendError;
use ome_writers_schema::S3Url;
use tokio::runtime::{Handle, Runtime};
use zarrs::storage::{
    AsyncWritableStorageTraits, Bytes, OffsetBytesIterator, StorageError, StoreKey, StorePrefix,
    WritableStorageTraits,
};
use zarrs_object_store::AsyncObjectStore;

use super::uploads::{Budget, Failure, InFlight, put_object};
use super::{S3Error, S3Options};
use crate::storage::ZarrStore;

/// The client of one dataset: every key relative to its root prefix.
pub(crate) type Client = Arc<dyn ObjectStore>;

/// A write-only zarr store on an S3 prefix (see the module docs).
pub struct S3Store {
    url: S3Url,
    pub(crate) client: Client,
    /// The same client as zarrs storage, for `zarr.json` documents.
    docs: Arc<AsyncObjectStore<Client>>,
    /// Shared with the live-view reader, which may outlive the store.
    runtime: Arc<OwnedRuntime>,
    pub(crate) handle: Handle,
    budget: Arc<Budget>,
    batch: Mutex<Option<Vec<(StoreKey, Bytes)>>>,
    threshold: usize,
    part_size: usize,
    concurrency: usize,
}

impl std::fmt::Debug for S3Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Store")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

fn is_document(key: &StoreKey) -> bool {
    let k = key.as_str();
    k == crate::ZARR_JSON || k.ends_with("/zarr.json")
}

impl S3Store {
    /// A store on `url` (nothing checked or written yet: see `S3Store::open`).
    pub(crate) fn new(url: &S3Url, options: &S3Options) -> Result<Self, S3Error> {
        let bucket: Client = options.client(url)?;
        let client: Client = Arc::new(PrefixStore::new(bucket, url.key()));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("ome-writers-s3")
            .enable_all()
            .build()
            .map_err(|source| S3Error::Runtime {
                url: url.to_string(),
                source: Arc::new(source),
            })?;
        Ok(Self {
            url: url.clone(),
            docs: Arc::new(AsyncObjectStore::new(client.clone())),
            client,
            handle: runtime.handle().clone(),
            runtime: Arc::new(OwnedRuntime(Some(runtime))),
            budget: Arc::new(Budget::new(options.concurrency, options.inflight_bytes)),
            batch: Mutex::new(None),
            threshold: options.multipart_threshold,
            part_size: options.part_size,
            concurrency: options.concurrency,
        })
    }

    /// The dataset's address.
    pub fn url(&self) -> &S3Url {
        &self.url
    }

    /// Objects and bytes in flight now.
    pub fn in_flight(&self) -> (usize, usize) {
        self.budget.in_flight()
    }

    /// Run `future` to completion on the store's runtime from any thread (on a thread
    /// of its own when the caller is itself inside a runtime, where blocking is refused).
    pub(crate) fn block<F>(&self, future: F) -> F::Output
    where
        F: Future + Send,
        F::Output: Send,
    {
        if Handle::try_current().is_err() {
            return self.handle.block_on(future);
        }
        std::thread::scope(|s| {
            s.spawn(|| self.handle.block_on(future))
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// The typed error of a failed request.
    pub(crate) fn request_error(&self, f: &Failure) -> S3Error {
        S3Error::Request {
            url: self.url.to_string(),
            op: f.op,
            key: format!("{}/{}", self.url.key(), f.key),
            cause: f.cause.clone(),
        }
    }

    fn storage_error(&self, f: &Failure) -> StorageError {
        StorageError::Other(ome_writers_backend::error_chain(&self.request_error(f)))
    }

    /// Start uploading a chunk or shard: wait for room in the budget, then hand it to
    /// the runtime.
    fn upload(&self, key: &StoreKey, value: Bytes) -> Result<(), StorageError> {
        if let Some(f) = self.budget.failure() {
            return Err(self.storage_error(&f));
        }
        self.budget.acquire(value.len());
        let guard = InFlight {
            budget: self.budget.clone(),
            bytes: value.len(),
            failure: None,
        };
        let client = self.client.clone();
        let key = key.as_str().to_owned();
        let (threshold, part, concurrency) = (self.threshold, self.part_size, self.concurrency);
        self.handle.spawn(async move {
            let mut guard = guard;
            let path = Path::from(key.as_str());
            let put = put_object(client.as_ref(), &path, value, threshold, part, concurrency);
            if let Err(e) = put.await {
                guard.failure = Some(Failure {
                    key,
                    op: "upload",
                    cause: super::error::describe(&e),
                });
            }
            // The budget is released here (or when the runtime drops the task).
            drop(guard);
        });
        Ok(())
    }

    /// Upload `zarr.json` documents once everything before them is acknowledged:
    /// deepest first (arrays before the groups that name them), each depth in parallel.
    fn put_documents(&self, mut docs: Vec<(StoreKey, Bytes)>) -> Result<(), StorageError> {
        if let Some(f) = self.budget.wait_idle() {
            return Err(self.storage_error(&f));
        }
        let depth = |k: &StoreKey| k.as_str().matches('/').count();
        docs.sort_by_key(|(k, _)| std::cmp::Reverse(depth(k)));
        let mut rest = docs.as_slice();
        while let Some((first, _)) = rest.first() {
            let d = depth(first);
            let n = rest.iter().take_while(|(k, _)| depth(k) == d).count();
            let (wave, later) = rest.split_at(n);
            rest = later;
            let store = self.docs.clone();
            let result = self.block(async move {
                futures::stream::iter(wave.iter().cloned())
                    .map(|(key, value)| {
                        let store = store.clone();
                        async move { store.set(&key, value).await.map_err(|e| (key, e)) }
                    })
                    .buffer_unordered(32)
                    .try_collect::<Vec<()>>()
                    .await
            });
            if let Err((key, e)) = result {
                let failure = Failure {
                    key: key.as_str().to_owned(),
                    op: "upload",
                    cause: e.to_string(),
                };
                self.budget.fail(failure.clone());
                return Err(self.storage_error(&failure));
            }
        }
        Ok(())
    }

    /// The typed error of a request that failed outright (`key` relative to the root).
    pub(crate) fn failed(
        &self,
        op: &'static str,
        key: String,
        e: &object_store::Error,
    ) -> BackendError {
        let failure = Failure {
            key,
            op,
            cause: super::error::describe(e),
        };
        self.request_error(&failure).into()
    }

    /// Delete these objects (relative to the root).
    pub(crate) fn remove(&self, paths: Vec<Path>) -> Result<(), BackendError> {
        self.delete(paths)
            .map_err(|f| self.request_error(&f).into())
    }

    fn delete(&self, paths: Vec<Path>) -> Result<(), Failure> {
        let client = self.client.clone();
        self.block(async move {
            let stream = futures::stream::iter(paths.into_iter().map(Ok)).boxed();
            client
                .delete_stream(stream)
                .try_collect::<Vec<Path>>()
                .await
                .map(|_| ())
        })
        .map_err(|e| Failure {
            key: String::new(),
            op: "delete",
            cause: super::error::describe(&e),
        })
    }
}

/// The store's runtime, shut down (without blocking) when its last holder goes.
pub(crate) struct OwnedRuntime(Option<Runtime>);

impl Drop for OwnedRuntime {
    fn drop(&mut self) {
        // Whatever is still in flight was not asked for durably (no sync); never block
        // a caller that may itself be inside a runtime.
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// Runs the reader's requests on the store's runtime (from a thread outside any
/// runtime: zarrs' adapter refuses to be called from async code).
pub(crate) struct BlockOn {
    _runtime: Arc<OwnedRuntime>,
    handle: Handle,
}

impl zarrs::storage::storage_adapter::async_to_sync::AsyncToSyncBlockOn for BlockOn {
    fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.handle.block_on(future)
    }
}

impl S3Store {
    /// A read-only zarrs store of the same objects for the live view
    /// (`zarrs_object_store` through zarrs' async-to-sync adapter), keeping the runtime
    /// alive while it exists.
    pub(crate) fn read_store(&self) -> Arc<dyn zarrs::storage::ReadableStorageTraits> {
        let block_on = BlockOn {
            _runtime: self.runtime.clone(),
            handle: self.handle.clone(),
        };
        Arc::new(
            zarrs::storage::storage_adapter::async_to_sync::AsyncToSyncStorageAdapter::new(
                self.docs.clone(),
                block_on,
            ),
        )
    }
}

impl WritableStorageTraits for S3Store {
    fn set(&self, key: &StoreKey, value: Bytes) -> Result<(), StorageError> {
        if !is_document(key) {
            return self.upload(key, value);
        }
        let mut batch = self.batch.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(docs) = batch.as_mut() {
            docs.retain(|(k, _)| k != key);
            docs.push((key.clone(), value));
            return Ok(());
        }
        drop(batch);
        self.put_documents(vec![(key.clone(), value)])
    }

    fn set_partial_many(
        &self,
        key: &StoreKey,
        _offset_values: OffsetBytesIterator,
    ) -> Result<(), StorageError> {
        Err(StorageError::Unsupported(format!(
            "partial writes to {key} (objects are written whole)"
        )))
    }

    fn erase(&self, key: &StoreKey) -> Result<(), StorageError> {
        self.delete(vec![Path::from(key.as_str())])
            .map_err(|f| self.storage_error(&f))
    }

    fn erase_prefix(&self, prefix: &StorePrefix) -> Result<(), StorageError> {
        let client = self.client.clone();
        let under = Path::from(prefix.as_str().trim_end_matches('/'));
        let listed = self.block(async move {
            client
                .list(Some(&under))
                .map_ok(|m| m.location)
                .try_collect::<Vec<Path>>()
                .await
        });
        let paths = listed.map_err(|e| StorageError::Other(e.to_string()))?;
        self.delete(paths).map_err(|f| self.storage_error(&f))
    }

    fn supports_set_partial(&self) -> bool {
        false
    }
}

impl ZarrStore for S3Store {
    fn sync(&self) -> Result<(), BackendError> {
        match self.budget.wait_idle() {
            Some(f) => Err(self.request_error(&f).into()),
            None => Ok(()),
        }
    }
    fn take_error(&self) -> Option<BackendError> {
        self.budget.failure().map(|f| self.request_error(&f).into())
    }
    fn failed(&self) -> Result<(), BackendError> {
        match self.budget.failure() {
            Some(f) => Err(self.request_error(&f).into()),
            None => Ok(()),
        }
    }
    fn set_slice(&self, key: &StoreKey, value: &[u8]) -> Result<(), StorageError> {
        self.set(key, Bytes::copy_from_slice(value))
    }
    fn begin_metadata(&self) {
        *self.batch.lock().unwrap_or_else(PoisonError::into_inner) = Some(Vec::new());
    }
    fn commit_metadata(&self) -> Result<(), BackendError> {
        let docs = self
            .batch
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .unwrap_or_default();
        self.put_documents(docs).map_err(|e| {
            self.take_error().unwrap_or_else(|| {
                crate::ZarrError::Store {
                    key: crate::ZARR_JSON.to_owned(),
                    source: e,
                }
                .into()
            })
        })
    }
    fn discard_metadata(&self) {
        *self.batch.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}
