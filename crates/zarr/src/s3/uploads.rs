//! Uploads in flight: a budget of objects and bytes the writer waits on (backpressure),
//! the first failure (sticky, naming its key), and one object's upload (multipart above
//! the threshold).

use std::sync::{Arc, Condvar, Mutex, PoisonError};

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};
use zarrs::storage::Bytes;

/// The first upload that failed after its retries: its key and the error.
#[derive(Clone, Debug)]
pub(crate) struct Failure {
    pub(crate) key: String,
    pub(crate) op: &'static str,
    /// What the store said, in one line.
    pub(crate) cause: String,
}

#[derive(Default)]
struct Counts {
    objects: usize,
    bytes: usize,
    failure: Option<Failure>,
}

/// What is in flight, bounded by a count and a byte total (one object is always
/// allowed, however large).
pub(crate) struct Budget {
    max_objects: usize,
    max_bytes: usize,
    counts: Mutex<Counts>,
    changed: Condvar,
}

impl Budget {
    pub(crate) fn new(max_objects: usize, max_bytes: usize) -> Self {
        Self {
            max_objects: max_objects.max(1),
            max_bytes,
            counts: Mutex::new(Counts::default()),
            changed: Condvar::new(),
        }
    }

    /// Wait for room for an object of `bytes`, then count it in flight.
    pub(crate) fn acquire(&self, bytes: usize) {
        let mut c = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        while c.objects >= self.max_objects
            || (c.objects > 0 && c.bytes.saturating_add(bytes) > self.max_bytes)
        {
            c = self.changed.wait(c).unwrap_or_else(PoisonError::into_inner);
        }
        c.objects += 1;
        c.bytes = c.bytes.saturating_add(bytes);
    }

    /// An object of `bytes` is done (`failure`: it failed after its retries).
    pub(crate) fn release(&self, bytes: usize, failure: Option<Failure>) {
        let mut c = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        c.objects = c.objects.saturating_sub(1);
        c.bytes = c.bytes.saturating_sub(bytes);
        if c.failure.is_none() {
            c.failure = failure;
        }
        drop(c);
        self.changed.notify_all();
    }

    /// Record a failure of a request made outside the budget (metadata, deletes).
    pub(crate) fn fail(&self, failure: Failure) {
        let mut c = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if c.failure.is_none() {
            c.failure = Some(failure);
        }
    }

    /// Wait until nothing is in flight; then the first failure, if any.
    pub(crate) fn wait_idle(&self) -> Option<Failure> {
        let mut c = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        while c.objects > 0 {
            c = self.changed.wait(c).unwrap_or_else(PoisonError::into_inner);
        }
        c.failure.clone()
    }

    /// The first failure so far (without waiting).
    pub(crate) fn failure(&self) -> Option<Failure> {
        self.counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .failure
            .clone()
    }

    /// Objects and bytes in flight now.
    pub(crate) fn in_flight(&self) -> (usize, usize) {
        let c = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        (c.objects, c.bytes)
    }
}

/// Releases an object's budget when its upload task ends, whatever way it ends.
pub(crate) struct InFlight {
    pub(crate) budget: Arc<Budget>,
    pub(crate) bytes: usize,
    pub(crate) failure: Option<Failure>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.budget.release(self.bytes, self.failure.take());
    }
}

/// Store one object: a single PUT up to `threshold` bytes, a multipart upload of
/// `part_size` parts (at most `concurrency` in flight) above it, aborted on failure.
/// object_store retries each request (5xx, timeouts, lost connections) with backoff.
pub(crate) async fn put_object(
    client: &dyn ObjectStore,
    path: &Path,
    value: Bytes,
    threshold: usize,
    part_size: usize,
    concurrency: usize,
) -> Result<(), object_store::Error> {
    if value.len() <= threshold {
        client.put(path, PutPayload::from_bytes(value)).await?;
        return Ok(());
    }
    let upload = client.put_multipart(path).await?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, part_size);
    let mut offset = 0;
    while offset < value.len() {
        let end = value.len().min(offset + part_size);
        if let Err(e) = writer.wait_for_capacity(concurrency.max(1)).await {
            let _ = writer.abort().await;
            return Err(e);
        }
        writer.put(value.slice(offset..end));
        offset = end;
    }
    match writer.finish().await {
        Ok(_) => Ok(()),
        Err(e) => Err(e),
    }
}
