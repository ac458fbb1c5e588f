//! [`S3Error`]: what can go wrong between the zarr backend and an object store, each
//! naming the address or key it concerns.

use std::sync::Arc;

use ome_writers_backend::BackendError;

/// An object_store error in one line: its own message, then its root cause when the
/// message does not already say it (object_store's messages repeat their sources, so
/// the chain is not followed link by link).
pub(crate) fn describe(error: &object_store::Error) -> String {
    let mut text = error.to_string();
    let mut root: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(next) = root.and_then(std::error::Error::source) {
        root = Some(next);
    }
    if let Some(root) = root {
        let cause = root.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

/// An object-storage failure (the typed source of a `BackendError::Backend` from the
/// zarr backend; downcast to read it).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum S3Error {
    /// An option no upload could work with.
    #[error("{url}: S3 option {field} = {value}: {reason}")]
    Options {
        /// The dataset's address.
        url: String,
        /// The option's name.
        field: &'static str,
        /// Its value.
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// The S3 client could not be configured (a bad endpoint URL, region...).
    #[error("{url}: cannot configure the S3 client: {cause}")]
    Client {
        /// The dataset's address.
        url: String,
        /// What object_store said, its root cause once.
        cause: String,
    },
    /// The store refused or could not be reached before any frame was accepted: the
    /// bucket is missing, the credentials are wrong, the endpoint is down.
    #[error("{url}: {hint}: {cause}")]
    Probe {
        /// The dataset's address.
        url: String,
        /// What it most likely means.
        hint: String,
        /// What object_store said, its root cause once.
        cause: String,
    },
    /// An upload (or a delete, or a read) failed after its retries.
    #[error("{url}: {op} of key {key:?} failed: {cause}")]
    Request {
        /// The dataset's address.
        url: String,
        /// `upload`, `delete`, `read`, `list`.
        op: &'static str,
        /// The object's key in the bucket.
        key: String,
        /// What object_store said, its root cause once.
        cause: String,
    },
    /// The runtime that drives the uploads could not start.
    #[error("{url}: cannot start the upload runtime")]
    Runtime {
        /// The dataset's address.
        url: String,
        /// The OS error.
        #[source]
        source: Arc<std::io::Error>,
    },
}

impl S3Error {
    /// What a failure before the first frame most likely means, from S3's error code.
    pub(crate) fn hint(error: &object_store::Error, bucket: &str, endpoint: &str) -> String {
        let text = ome_writers_backend::error_chain(error);
        let has = |code: &str| text.contains(code);
        if has("NoSuchBucket") {
            format!("the bucket {bucket:?} does not exist on {endpoint}")
        } else if has("SignatureDoesNotMatch")
            || has("InvalidAccessKeyId")
            || has("AccessDenied")
            || has("403")
        {
            format!(
                "{endpoint} refused the credentials (check AWS_ACCESS_KEY_ID, \
                 AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN, or the S3 options)"
            )
        } else if matches!(error, object_store::Error::NotFound { .. }) || has("404") {
            format!("the bucket {bucket:?} was not found on {endpoint}")
        } else {
            format!("cannot use the object store at {endpoint}")
        }
    }
}

impl From<S3Error> for BackendError {
    fn from(e: S3Error) -> Self {
        BackendError::Backend {
            backend: crate::BACKEND,
            source: Box::new(e),
        }
    }
}
