//! Typed object-storage addresses: `s3://BUCKET/PREFIX/NAME.ome.zarr`, never a path.

use std::fmt;
use std::str::FromStr;

use crate::SchemaError;
use crate::schema::{Resolved, Target, ome_stem_suffix};
use crate::settings::{AcquisitionSettings, FormatSpec};

/// The scheme prefix of S3 addresses (matched ignoring ASCII case).
pub const S3_SCHEME: &str = "s3://";

/// An OME-Zarr dataset in an S3-compatible bucket: `s3://BUCKET/KEY`, where `KEY` is the
/// dataset's root prefix (`PREFIX/NAME.ome.zarr`, no leading or trailing `/`).
///
/// It has no conversion to a filesystem path: a disk backend cannot be handed one.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct S3Url {
    bucket: String,
    key: String,
}

impl S3Url {
    /// Whether `text` is written as an S3 address (whatever its validity).
    pub fn looks_like(text: &str) -> bool {
        text.trim_start()
            .get(..S3_SCHEME.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(S3_SCHEME))
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The dataset's root key prefix inside the bucket (no leading or trailing `/`).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The dataset's last key component (`NAME.ome.zarr`).
    pub fn name(&self) -> &str {
        self.key.rsplit('/').next().unwrap_or(&self.key)
    }

    /// The same bucket with another key (the validated output name).
    pub(crate) fn with_key(&self, key: String) -> Self {
        Self {
            bucket: self.bucket.clone(),
            key,
        }
    }
}

/// S3's bucket naming rules (3 to 63 characters: lowercase letters, digits, dots and
/// hyphens, starting and ending with a letter or digit), or why not.
fn bucket_problem(bucket: &str) -> Option<&'static str> {
    let bytes = bucket.as_bytes();
    let edge = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !(3..=63).contains(&bytes.len()) {
        Some("a bucket name has 3 to 63 characters")
    } else if !bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'.' || *b == b'-')
    {
        Some("a bucket name has only lowercase letters, digits, dots and hyphens")
    } else if !edge(bytes.first()) || !edge(bytes.last()) {
        Some("a bucket name starts and ends with a letter or a digit")
    } else if bucket.contains("..") {
        Some("a bucket name has no two dots in a row")
    } else {
        None
    }
}

impl FromStr for S3Url {
    type Err = SchemaError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &str| SchemaError::invalid("root_path", format!("{s:?}"), reason);
        let text = s.trim();
        if !Self::looks_like(text) {
            return Err(bad("an S3 address starts with s3://"));
        }
        let rest = text.get(S3_SCHEME.len()..).unwrap_or_default();
        let (bucket, key) = rest
            .split_once('/')
            .ok_or_else(|| bad("expected s3://BUCKET/PREFIX/NAME.ome.zarr"))?;
        if let Some(problem) = bucket_problem(bucket) {
            return Err(bad(problem));
        }
        let key = key.trim_end_matches('/');
        if key.is_empty() {
            return Err(bad(
                "names a bucket, not a dataset: add the dataset's name, e.g. \
                 s3://BUCKET/run.ome.zarr",
            ));
        }
        if key.starts_with('/')
            || key
                .split('/')
                .any(|p| p.is_empty() || p == "." || p == "..")
        {
            return Err(bad(
                "every part of the key between slashes must be a name (not empty, . or ..)",
            ));
        }
        if key.chars().any(|c| c.is_control() || c == '\\') {
            return Err(bad("the key has a control character or a backslash"));
        }
        Ok(Self {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
        })
    }
}

impl fmt::Display for S3Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{S3_SCHEME}{}/{}", self.bucket, self.key)
    }
}

/// The target of an `s3://` `root_path`: OME-Zarr only (OME-TIFF needs a seekable
/// file, `omero_local` and `scratch` write local files), the name given the format's
/// suffix as on disk.
pub(crate) fn s3_target(
    root: &str,
    format: &Resolved,
    normalized: &mut AcquisitionSettings,
) -> Result<Target, SchemaError> {
    let refuse = |what: &str, reason: &str| {
        SchemaError::invalid(
            "format",
            format!("{what:?}"),
            format!("{reason} (root_path {root:?})"),
        )
    };
    let f = match format {
        Resolved::Zarr(f) => f,
        Resolved::Tiff(_) => {
            return Err(refuse(
                "ome_tiff",
                "OME-TIFF cannot be written to object storage: TIFF needs a file it can \
                 seek in; write it to a local path, or write OME-Zarr to s3://",
            ));
        }
        Resolved::Omero(_) => {
            return Err(refuse(
                "omero_local",
                "omero_local writes local files, not s3://",
            ));
        }
        Resolved::Scratch(_) => {
            return Err(refuse(
                "scratch",
                "the scratch format writes local files, not s3://",
            ));
        }
    };
    let url: S3Url = root.parse()?;
    let (stem, _) = ome_stem_suffix(url.key());
    let key = format!("{stem}{}", f.suffix);
    normalized.format = FormatSpec::OmeZarr(f.clone());
    Ok(Target::S3 {
        url: url.with_key(key),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bucket_and_key() -> Result<(), SchemaError> {
        let url: S3Url = "s3://my-bucket/lab/run1.ome.zarr/".parse()?;
        assert_eq!(url.bucket(), "my-bucket");
        assert_eq!(url.key(), "lab/run1.ome.zarr");
        assert_eq!(url.name(), "run1.ome.zarr");
        assert_eq!(url.to_string(), "s3://my-bucket/lab/run1.ome.zarr");
        assert!(S3Url::looks_like("S3://b/x"));
        Ok(())
    }

    #[test]
    fn refuses_bad_addresses() {
        for (text, says) in [
            ("s3://bucket", "expected s3://"),
            ("s3://bucket/", "names a bucket"),
            ("s3://Bucket/run.ome.zarr", "lowercase"),
            ("s3://ab/run.ome.zarr", "3 to 63"),
            ("s3://-ab/run.ome.zarr", "starts and ends"),
            ("s3://bucket//run.ome.zarr", "every part"),
            ("s3://bucket/a/../run.ome.zarr", "every part"),
            ("s3://bucket/a\\b.ome.zarr", "backslash"),
        ] {
            let err = text.parse::<S3Url>().err().map(|e| e.to_string());
            assert!(
                err.as_deref().is_some_and(|e| e.contains(says)),
                "{text}: {err:?}"
            );
        }
    }
}
