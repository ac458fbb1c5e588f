//! A real S3-compatible server for the object-storage tests: s3s-fs (crates.io), run in
//! the test process on 127.0.0.1, objects kept as files in a directory so that it can
//! be stopped and started again on the same data; SigV4 signatures checked against one
//! key pair; faults injected on request (503 answers to the next N PUTs).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;

/// The access key id the test server accepts.
pub const ACCESS_KEY: &str = "omew-test-access";
/// The secret the test server accepts.
pub const SECRET_KEY: &str = "omew-test-secret-0123456789";
/// The bucket every test server starts with.
pub const BUCKET: &str = "omew-test";

/// A running (or stopped) test server.
pub struct S3Server {
    root: PathBuf,
    addr: SocketAddr,
    runtime: Option<tokio::runtime::Runtime>,
    faults: Arc<AtomicUsize>,
    parts: Arc<AtomicUsize>,
    _dir: Option<tempfile::TempDir>,
}

impl S3Server {
    /// Start a server on a free port of 127.0.0.1 over a new temporary directory, with
    /// the bucket [`BUCKET`].
    pub fn start() -> std::io::Result<Self> {
        let dir = tempfile::Builder::new().prefix("omew-s3-").tempdir()?;
        let root = dir.path().to_path_buf();
        std::fs::create_dir(root.join(BUCKET))?;
        let mut server = Self {
            root,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            runtime: None,
            faults: Arc::new(AtomicUsize::new(0)),
            parts: Arc::new(AtomicUsize::new(0)),
            _dir: Some(dir),
        };
        server.serve()?;
        Ok(server)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The directory holding the buckets (a bucket is a folder, an object a file).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Answer the next `n` PUT requests with `503 Slow Down`.
    pub fn inject_503(&self, n: usize) {
        self.faults.store(n, Ordering::SeqCst);
    }

    /// 503 answers not yet given.
    pub fn faults_left(&self) -> usize {
        self.faults.load(Ordering::SeqCst)
    }

    /// Parts of multipart uploads received so far.
    pub fn parts_received(&self) -> usize {
        self.parts.load(Ordering::SeqCst)
    }

    /// Stop the server at once: the listener and every open connection dropped.
    pub fn stop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }

    /// Start it again on the same port and data.
    pub fn restart(&mut self) -> std::io::Result<()> {
        self.stop();
        self.serve()
    }

    /// The environment a Python reader (s3fs, botocore) needs to reach this server.
    pub fn python_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.to_owned()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.to_owned()),
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ALLOW_HTTP", "true".to_owned()),
            // botocore's checksums by default (1.36+) are more than s3s-fs answers.
            (
                "AWS_RESPONSE_CHECKSUM_VALIDATION",
                "when_required".to_owned(),
            ),
            (
                "AWS_REQUEST_CHECKSUM_CALCULATION",
                "when_required".to_owned(),
            ),
        ]
    }

    fn serve(&mut self) -> std::io::Result<()> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("omew-test-s3")
            .enable_all()
            .build()?;
        let fs = s3s_fs::FileSystem::new(&self.root)
            .map_err(|e| std::io::Error::other(format!("s3s-fs: {e:?}")))?;
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = builder.build();
        let listener = runtime.block_on(tokio::net::TcpListener::bind(self.addr))?;
        self.addr = listener.local_addr()?;
        let (faults, parts) = (self.faults.clone(), self.parts.clone());
        runtime.spawn(async move {
            let http = ConnBuilder::new(TokioExecutor::new());
            while let Ok((socket, _)) = listener.accept().await {
                let (service, faults, parts) = (service.clone(), faults.clone(), parts.clone());
                let handler = hyper::service::service_fn(move |req| {
                    let (service, faults, parts) = (service.clone(), faults.clone(), parts.clone());
                    async move {
                        if req.method() == hyper::Method::PUT && take_fault(&faults) {
                            return Ok(slow_down());
                        }
                        if req.method() == hyper::Method::PUT
                            && req.uri().query().is_some_and(|q| q.contains("partNumber="))
                        {
                            parts.fetch_add(1, Ordering::SeqCst);
                        }
                        hyper::service::Service::call(&service, req).await
                    }
                });
                let conn = http
                    .serve_connection(TokioIo::new(socket), handler)
                    .into_owned();
                tokio::spawn(async move {
                    let _ = conn.await;
                });
            }
        });
        self.runtime = Some(runtime);
        Ok(())
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn take_fault(faults: &AtomicUsize) -> bool {
    faults
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
}

fn slow_down() -> s3s::HttpResponse {
    let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code>\
                <Message>injected by the test server</Message></Error>";
    let mut response = s3s::HttpResponse::new(s3s::Body::from(body.to_owned()));
    *response.status_mut() = hyper::StatusCode::SERVICE_UNAVAILABLE;
    response
}
