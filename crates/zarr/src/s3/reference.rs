//! What `omew bench` compares an S3 write with, on the same server in the same run: the
//! sizes of the objects a dataset holds, a plain parallel upload of objects of those
//! sizes (one PUT each, at most `concurrency` at once, nothing else), and removing a
//! prefix afterwards.

use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use ome_writers_backend::BackendError;
use ome_writers_schema::S3Url;
use zarrs::storage::Bytes;

use super::S3Options;
use super::store::S3Store;

impl S3Store {
    /// The sizes of the objects under `url`, in bytes.
    pub fn object_sizes(url: &S3Url, options: &S3Options) -> Result<Vec<u64>, BackendError> {
        let store = Self::new(url, options)?;
        let client = store.client.clone();
        let listed = store.block(async move { client.list(None).try_collect::<Vec<_>>().await });
        let metas = listed.map_err(|e| store.failed("list", String::new(), &e))?;
        Ok(metas.into_iter().map(|m| m.size).collect())
    }

    /// Upload one object of each size under `url` with plain PUTs, `concurrency` at
    /// once, and say how long it took (the bytes are made before the clock starts).
    pub fn plain_parallel_upload(
        url: &S3Url,
        options: &S3Options,
        sizes: &[u64],
    ) -> Result<Duration, BackendError> {
        let store = Self::new(url, options)?;
        let largest = sizes.iter().copied().max().unwrap_or(0);
        let data = Bytes::from(vec![7u8; usize::try_from(largest).unwrap_or(usize::MAX)]);
        let client = store.client.clone();
        let concurrency = options.concurrency.max(1);
        let objects: Vec<(Path, Bytes)> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                let n = usize::try_from(n).unwrap_or(usize::MAX).min(data.len());
                (Path::from(format!("object-{i}")), data.slice(..n))
            })
            .collect();
        let started = Instant::now();
        let done = store.block(async move {
            futures::stream::iter(objects)
                .map(|(path, bytes)| {
                    let client = client.clone();
                    async move { client.put(&path, PutPayload::from_bytes(bytes)).await }
                })
                .buffer_unordered(concurrency)
                .try_collect::<Vec<_>>()
                .await
        });
        done.map_err(|e| store.failed("upload", String::new(), &e))?;
        Ok(started.elapsed())
    }

    /// Delete every object under `url` (a benchmark's scratch prefix).
    pub fn delete_prefix(url: &S3Url, options: &S3Options) -> Result<(), BackendError> {
        let store = Self::new(url, options)?;
        let client = store.client.clone();
        let listed = store.block(async move {
            client
                .list(None)
                .map_ok(|m| m.location)
                .try_collect::<Vec<Path>>()
                .await
        });
        let paths = listed.map_err(|e| store.failed("list", String::new(), &e))?;
        let client = store.client.clone();
        let deleted = store.block(async move {
            let stream = futures::stream::iter(paths.into_iter().map(Ok)).boxed();
            client
                .delete_stream(stream)
                .try_collect::<Vec<Path>>()
                .await
        });
        deleted.map_err(|e| store.failed("delete", String::new(), &e))?;
        Ok(())
    }
}
