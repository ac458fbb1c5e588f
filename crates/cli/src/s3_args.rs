//! `--s3-*`: how `omew write` and `omew bench` reach an `s3://` output, over the standard
//! AWS environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
//! `AWS_REGION`, `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`), which they override.

use ome_writers::S3Options;

/// The S3 flags (named `--s3-*` on the command line, hence the fields' prefix).
#[derive(clap::Args, Clone, Debug, Default)]
#[allow(clippy::struct_field_names)]
pub(crate) struct S3Args {
    /// S3 endpoint of a server other than AWS, e.g. http://127.0.0.1:9000
    /// (default: AWS_ENDPOINT_URL); a plain http:// one is allowed.
    #[arg(long, value_name = "URL")]
    pub(crate) s3_endpoint: Option<String>,
    /// S3 region (default: AWS_REGION, else us-east-1).
    #[arg(long, value_name = "REGION")]
    pub(crate) s3_region: Option<String>,
    /// Access key id (default: AWS_ACCESS_KEY_ID; the secret only from the environment,
    /// AWS_SECRET_ACCESS_KEY, so that it never shows in a process list).
    #[arg(long, value_name = "ID")]
    pub(crate) s3_access_key_id: Option<String>,
    /// Most uploads in flight at once (default 16).
    #[arg(long, value_name = "N")]
    pub(crate) s3_concurrency: Option<std::num::NonZeroUsize>,
    /// Objects larger than this many MiB go as multipart uploads of 16 MiB parts
    /// (default 32).
    #[arg(long, value_name = "MIB")]
    pub(crate) s3_multipart_mib: Option<usize>,
}

impl S3Args {
    /// The options these flags set, over the defaults.
    pub(crate) fn options(&self) -> S3Options {
        let mut s3 = S3Options::default();
        if let Some(endpoint) = &self.s3_endpoint {
            s3 = s3.with_endpoint(endpoint);
        }
        if let Some(region) = &self.s3_region {
            s3 = s3.with_region(region);
        }
        if let Some(id) = &self.s3_access_key_id {
            s3.access_key_id = Some(id.clone());
        }
        if let Some(n) = self.s3_concurrency {
            s3 = s3.with_concurrency(n.get());
        }
        if let Some(mib) = self.s3_multipart_mib {
            let threshold = mib.saturating_mul(1 << 20);
            let part = s3.part_size.min(threshold);
            s3 = s3.with_multipart(threshold, part);
        }
        s3
    }
}
