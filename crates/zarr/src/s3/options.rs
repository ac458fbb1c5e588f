//! [`S3Options`]: how to reach an S3-compatible object store, and the client built
//! from them.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::{BackoffConfig, ClientConfigKey, ObjectStore, RetryConfig};
use ome_writers_schema::S3Url;

use super::S3Error;

/// How to reach an S3-compatible object store (AWS S3, MinIO, Ceph RGW) and how hard to
/// push it. Every connection field left `None` comes from the standard AWS environment:
/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION` (or
/// `AWS_DEFAULT_REGION`), `AWS_ENDPOINT_URL` and `AWS_ALLOW_HTTP`. The secret is never
/// printed (`Debug` redacts it).
#[derive(Clone)]
#[non_exhaustive]
pub struct S3Options {
    /// Access key id (`AWS_ACCESS_KEY_ID`).
    pub access_key_id: Option<String>,
    /// Secret access key (`AWS_SECRET_ACCESS_KEY`).
    pub secret_access_key: Option<String>,
    /// Session token of temporary credentials (`AWS_SESSION_TOKEN`).
    pub session_token: Option<String>,
    /// Region (`AWS_REGION`; `us-east-1` when nothing says).
    pub region: Option<String>,
    /// Endpoint of a server other than AWS, e.g. `http://127.0.0.1:9000`
    /// (`AWS_ENDPOINT_URL`).
    pub endpoint: Option<String>,
    /// Allow plain `http://` endpoints (`AWS_ALLOW_HTTP`; default false).
    pub allow_http: Option<bool>,
    /// Most uploads in flight at once (default 16).
    pub concurrency: usize,
    /// Most bytes in flight at once (default 256 MiB; one object is always allowed).
    pub inflight_bytes: usize,
    /// Objects larger than this are sent as multipart uploads (default 32 MiB).
    pub multipart_threshold: usize,
    /// Part size of a multipart upload (default 16 MiB; S3 needs at least 5 MiB).
    pub part_size: usize,
    /// Retries of a request that failed with a 5xx, a timeout or a lost connection,
    /// with exponential backoff (default 10).
    pub max_retries: usize,
    /// No retry starts later than this after the first attempt (default 60 s).
    pub retry_timeout: Duration,
    /// One request's timeout (default 60 s).
    pub request_timeout: Duration,
}

/// S3's smallest part of a multipart upload (but the last).
pub const MIN_PART_SIZE: usize = 5 << 20;

impl Default for S3Options {
    fn default() -> Self {
        Self {
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
            region: None,
            endpoint: None,
            allow_http: None,
            concurrency: 16,
            inflight_bytes: 256 << 20,
            multipart_threshold: 32 << 20,
            part_size: 16 << 20,
            max_retries: 10,
            retry_timeout: Duration::from_mins(1),
            request_timeout: Duration::from_mins(1),
        }
    }
}

impl fmt::Debug for S3Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redacted = |s: &Option<String>| s.as_ref().map(|_| "<redacted>");
        f.debug_struct("S3Options")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &redacted(&self.secret_access_key))
            .field("session_token", &redacted(&self.session_token))
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("allow_http", &self.allow_http)
            .field("concurrency", &self.concurrency)
            .field("inflight_bytes", &self.inflight_bytes)
            .field("multipart_threshold", &self.multipart_threshold)
            .field("part_size", &self.part_size)
            .field("max_retries", &self.max_retries)
            .field("retry_timeout", &self.retry_timeout)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

impl S3Options {
    /// [`access_key_id`](Self::access_key_id) and
    /// [`secret_access_key`](Self::secret_access_key).
    #[must_use]
    pub fn with_credentials(
        mut self,
        key_id: impl Into<String>,
        secret: impl Into<String>,
    ) -> Self {
        self.access_key_id = Some(key_id.into());
        self.secret_access_key = Some(secret.into());
        self
    }
    /// [`session_token`](Self::session_token).
    #[must_use]
    pub fn with_session_token(mut self, token: impl Into<String>) -> Self {
        self.session_token = Some(token.into());
        self
    }
    /// [`region`](Self::region).
    #[must_use]
    pub fn with_region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }
    /// [`endpoint`](Self::endpoint) (a plain `http://` one also sets
    /// [`allow_http`](Self::allow_http) unless it was set).
    #[must_use]
    pub fn with_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        let endpoint = endpoint.into();
        if endpoint.starts_with("http://") && self.allow_http.is_none() {
            self.allow_http = Some(true);
        }
        self.endpoint = Some(endpoint);
        self
    }
    /// [`concurrency`](Self::concurrency).
    #[must_use]
    pub fn with_concurrency(mut self, uploads: usize) -> Self {
        self.concurrency = uploads;
        self
    }
    /// [`inflight_bytes`](Self::inflight_bytes).
    #[must_use]
    pub fn with_inflight_bytes(mut self, bytes: usize) -> Self {
        self.inflight_bytes = bytes;
        self
    }
    /// [`multipart_threshold`](Self::multipart_threshold) and
    /// [`part_size`](Self::part_size).
    #[must_use]
    pub fn with_multipart(mut self, threshold: usize, part_size: usize) -> Self {
        self.multipart_threshold = threshold;
        self.part_size = part_size;
        self
    }
    /// [`max_retries`](Self::max_retries) and [`retry_timeout`](Self::retry_timeout).
    #[must_use]
    pub fn with_retries(mut self, retries: usize, timeout: Duration) -> Self {
        self.max_retries = retries;
        self.retry_timeout = timeout;
        self
    }
    /// [`request_timeout`](Self::request_timeout).
    #[must_use]
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Refuse values no upload could work with, naming the field.
    pub(crate) fn check(&self, url: &S3Url) -> Result<(), S3Error> {
        let bad = |field: &'static str, value: String, reason: &str| S3Error::Options {
            url: url.to_string(),
            field,
            value,
            reason: reason.to_owned(),
        };
        if self.concurrency == 0 {
            return Err(bad(
                "concurrency",
                "0".into(),
                "at least one upload must be allowed",
            ));
        }
        if self.part_size < MIN_PART_SIZE {
            return Err(bad(
                "part_size",
                self.part_size.to_string(),
                "S3 parts are at least 5 MiB (5242880 bytes)",
            ));
        }
        if self.multipart_threshold < self.part_size {
            return Err(bad(
                "multipart_threshold",
                self.multipart_threshold.to_string(),
                "must be at least part_size",
            ));
        }
        Ok(())
    }

    /// The S3 client of `url`'s bucket: the environment, then these options.
    pub(crate) fn client(&self, url: &S3Url) -> Result<Arc<dyn ObjectStore>, S3Error> {
        self.check(url)?;
        let mut b = AmazonS3Builder::from_env().with_bucket_name(url.bucket());
        if let Some(v) = &self.access_key_id {
            b = b.with_access_key_id(v);
        }
        if let Some(v) = &self.secret_access_key {
            b = b.with_secret_access_key(v);
        }
        if let Some(v) = &self.session_token {
            b = b.with_token(v);
        }
        if let Some(v) = &self.region {
            b = b.with_region(v);
        }
        if let Some(v) = &self.endpoint {
            b = b.with_endpoint(v);
        }
        // Client settings by key, so that those the environment gave (AWS_ALLOW_HTTP)
        // stay unless an option overrides them.
        let client = |b: AmazonS3Builder, key: ClientConfigKey, value: String| {
            b.with_config(AmazonS3ConfigKey::Client(key), value)
        };
        if let Some(v) = self.allow_http {
            b = client(b, ClientConfigKey::AllowHttp, v.to_string());
        }
        let secs = |d: Duration| format!("{}ms", d.as_millis().max(1));
        b = client(b, ClientConfigKey::Timeout, secs(self.request_timeout));
        b = client(b, ClientConfigKey::ConnectTimeout, "10s".to_owned());
        b = client(
            b,
            ClientConfigKey::PoolMaxIdlePerHost,
            self.concurrency.max(1).to_string(),
        );
        let retry = RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(5),
                base: 2.0,
            },
            max_retries: self.max_retries,
            retry_timeout: self.retry_timeout,
        };
        let store = b.with_retry(retry).build().map_err(|e| S3Error::Client {
            url: url.to_string(),
            cause: super::error::describe(&e),
        })?;
        Ok(Arc::new(store))
    }
}
