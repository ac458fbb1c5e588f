//! The `omero_local` backend: stage, seal, register, annotate.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use ome_writers_backend::{
    Backend, BackendError, FrameBuffer, FrameMetadata, PlaneReader, Progress, Summary, sync_dir,
};
use ome_writers_schema::{
    BackendKind, FormatSpec, OmeTiffFormat, OmeZarrFormat, OmeroAddress, PositionIndex, Schema,
    StorageIndex,
};
use ome_writers_tiff::TiffBackend;
use ome_writers_zarr::ZarrBackend;

use crate::Container;
use crate::config::{OmeroLocalConfig, OmeroLocalOptions};
use crate::gateway::{Gateway, ImportRequest, Registered, object_ref};
use crate::{CliGateway, OmeroLocalError};

/// Suffix of a staging folder still being written.
pub const PARTIAL_SUFFIX: &str = ".partial";

/// Writes an acquisition into a staging fileset next to an OMERO server and registers it.
///
/// Frames go to the zarr or tiff backend, writing
/// `<staging_dir>/<NAME>.partial/<NAME>.ome.zarr` (or `.ome.tiff`). `finalize` finishes
/// that fileset (durable), renames `<NAME>.partial` to `<NAME>` and syncs the staging
/// directory, and only then registers `<staging_dir>/<NAME>/<NAME>.ome.zarr` through the
/// [`Gateway`] and attaches a provenance MapAnnotation. The summary's `paths` hold the
/// fileset path, then one `omero://image/<id>` (or `omero://plate/<id>`) per new object.
///
/// **Invariants:** registration never sees a `.partial` path, so OMERO never points at
/// data still being written; a failed registration leaves the complete fileset in place
/// and its error carries the command that registers it by hand; a stream that failed (a
/// write or durability point of the staging backend, or [`Progress::failed`]) is sealed
/// with status `failed` and kept but never registered, its errors carrying that command
/// too ([`OmeroLocalError::StagedWrite`], [`OmeroLocalError::NotRegistered`]); nothing is ever written
/// under the data directory (the configuration refuses a staging directory there), and
/// nothing is created before the configuration and the target have been checked.
pub struct OmeroLocalBackend {
    config: OmeroLocalConfig,
    gateway: Box<dyn Gateway>,
    inner: Box<dyn Backend>,
    settings_json: String,
    name: String,
    partial_dir: PathBuf,
    final_dir: PathBuf,
    /// The staged fileset relative to its folder (`NAME.ome.zarr`, or the folder `NAME`
    /// of a multi-file OME-TIFF).
    relative: PathBuf,
    registered: Option<Registered>,
    /// A write or durability point of the staging backend failed: the fileset is kept
    /// but never registered as a complete image.
    inner_failed: bool,
    finalized: bool,
}

impl std::fmt::Debug for OmeroLocalBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OmeroLocalBackend")
            .field("target", &self.config.target())
            .field("partial_dir", &self.partial_dir)
            .field("final_dir", &self.final_dir)
            .field("registered", &self.registered)
            .finish_non_exhaustive()
    }
}

/// Makes the backend that writes the staged fileset, given its schema (an OME-Zarr or
/// OME-TIFF on disk). The facade passes its own factory, so that the stream's options
/// (encoder threads) reach the staging backend.
pub type StagingFactory<'a> = &'a dyn Fn(&Schema) -> Result<Box<dyn Backend>, BackendError>;

/// The staging backend with default options: zarr or tiff, as the staging schema says.
pub fn default_staging(staged: &Schema) -> Result<Box<dyn Backend>, BackendError> {
    match staged.backend() {
        BackendKind::Zarr => ZarrBackend::create(staged).map(|b| Box::new(b) as _),
        BackendKind::Tiff => TiffBackend::create(staged).map(|b| Box::new(b) as _),
        BackendKind::OmeroLocal | BackendKind::Scratch => Err(BackendError::Unsupported {
            backend: "omero_local",
            reason: "a staged fileset is an OME-Zarr or OME-TIFF on disk".to_owned(),
        }),
    }
}

impl OmeroLocalBackend {
    /// Create the backend the facade uses: options from the schema's format object and
    /// the environment ([`OmeroLocalOptions::from_format`]) and the `omero` CLI as
    /// gateway.
    pub fn create(schema: &Schema) -> Result<Self, BackendError> {
        Self::create_using(schema, &default_staging)
    }

    /// [`create`](Self::create), the staged fileset written by `staging`'s backend.
    pub fn create_using(
        schema: &Schema,
        staging: StagingFactory<'_>,
    ) -> Result<Self, BackendError> {
        let options = match schema.omero_options() {
            Some(format) => OmeroLocalOptions::from_format(format)?,
            None => OmeroLocalOptions::from_env()?,
        };
        let config = OmeroLocalConfig::from_schema(schema, &options)?;
        let gateway = Box::new(CliGateway::from_config(&config));
        Ok(Self::create_with_staging(
            schema, &options, gateway, staging,
        )?)
    }

    /// Create with explicit options and gateway: checks the configuration, asks the
    /// gateway whether the target exists, then creates the staging fileset.
    pub fn create_with(
        schema: &Schema,
        options: &OmeroLocalOptions,
        gateway: Box<dyn Gateway>,
    ) -> Result<Self, OmeroLocalError> {
        Self::create_with_staging(schema, options, gateway, &default_staging)
    }

    /// [`create_with`](Self::create_with), the staged fileset written by `staging`'s
    /// backend.
    pub fn create_with_staging(
        schema: &Schema,
        options: &OmeroLocalOptions,
        mut gateway: Box<dyn Gateway>,
        staging: StagingFactory<'_>,
    ) -> Result<Self, OmeroLocalError> {
        let config = OmeroLocalConfig::from_schema(schema, options)?;
        let stamp = compact_timestamp(SystemTime::now());
        let base = options
            .image_name
            .as_deref()
            .map_or_else(|| format!("omew-{stamp}"), file_safe);
        let short = uuid::Uuid::new_v4().simple().to_string();
        let name = format!("{base}-{}", &short[..8]);
        let partial_dir = config.staging_dir().join(format!("{name}{PARTIAL_SUFFIX}"));
        let final_dir = config.staging_dir().join(&name);
        let staged = staging_schema(
            schema,
            config.container(),
            &partial_dir.join(format!("{name}{}", config.container().suffix())),
        )?;
        let relative = staged
            .output_path()
            .and_then(|p| p.strip_prefix(&partial_dir).ok())
            .map(Path::to_path_buf)
            .ok_or_else(|| OmeroLocalError::Staging {
                path: partial_dir.clone(),
                reason: "the staged dataset would not lie inside its staging folder".to_owned(),
            })?;
        gateway.check_target(config.target())?;
        if final_dir.exists() {
            return Err(OmeroLocalError::Staging {
                path: final_dir,
                reason: "a fileset of this name is already staged".to_owned(),
            });
        }
        fs::create_dir(&partial_dir).map_err(|e| OmeroLocalError::io(&partial_dir, e))?;
        let inner = match staging(&staged) {
            Ok(b) => b,
            Err(e) => {
                // Refused up front: leave nothing behind.
                let _ = fs::remove_dir_all(&partial_dir);
                return Err(e.into());
            }
        };
        let settings_json = serde_json::to_string(schema.settings()).map_err(BackendError::from)?;
        Ok(Self {
            config,
            gateway,
            inner,
            settings_json,
            name: options.image_name.clone().unwrap_or(name),
            partial_dir,
            final_dir,
            relative,
            registered: None,
            inner_failed: false,
            finalized: false,
        })
    }

    /// The folder being written (`<staging_dir>/<NAME>.partial`).
    pub fn partial_dir(&self) -> &Path {
        &self.partial_dir
    }

    /// The fileset as registered, once sealed (`<staging_dir>/<NAME>/<NAME>.ome.zarr`).
    pub fn fileset_path(&self) -> PathBuf {
        self.final_dir.join(&self.relative)
    }

    /// What registration created (after a successful `finalize`).
    pub fn registered(&self) -> Option<&Registered> {
        self.registered.as_ref()
    }

    /// The checked configuration.
    pub fn config(&self) -> &OmeroLocalConfig {
        &self.config
    }

    /// Seal the finished fileset: sync its folder, rename `NAME.partial` to `NAME`, sync
    /// the staging directory.
    fn seal(&self) -> Result<PathBuf, OmeroLocalError> {
        sync_dir(&self.partial_dir)?;
        if self.final_dir.exists() {
            return Err(OmeroLocalError::Staging {
                path: self.final_dir.clone(),
                reason: format!(
                    "exists already; the finished fileset stays at {}",
                    self.partial_dir.display()
                ),
            });
        }
        fs::rename(&self.partial_dir, &self.final_dir)
            .map_err(|e| OmeroLocalError::io(&self.partial_dir, e))?;
        sync_dir(self.config.staging_dir())?;
        Ok(self.fileset_path())
    }

    fn provenance(&self, progress: &Progress, fileset: &Path) -> Vec<(String, String)> {
        let pair = |k: &str, v: String| (k.to_owned(), v);
        vec![
            pair("writer", "ome-writers-rs".to_owned()),
            pair("writer_version", env!("CARGO_PKG_VERSION").to_owned()),
            pair("timestamp", rfc3339(SystemTime::now())),
            pair("fileset", fileset.to_string_lossy().into_owned()),
            pair("frames_written", progress.frames_written.to_string()),
            pair(
                "status",
                progress.status(self.inner_failed).as_str().to_owned(),
            ),
            pair("schema", self.settings_json.clone()),
        ]
    }

    /// The request that registers the sealed fileset.
    fn request(&self) -> ImportRequest {
        ImportRequest {
            path: self.fileset_path(),
            target: self.config.target(),
            name: self.name.clone(),
            method: self.config.registration(),
        }
    }

    /// Mark the staging backend failed; its error says what becomes of the fileset.
    fn inner_error(&mut self, source: BackendError) -> BackendError {
        let first = !self.inner_failed;
        self.inner_failed = true;
        if !first {
            return source;
        }
        OmeroLocalError::StagedWrite {
            path: self.fileset_path(),
            manual: self.request().manual_command(self.config.executable()),
            source: Box::new(source),
        }
        .into()
    }

    fn register(&mut self, progress: &Progress) -> Result<Registered, OmeroLocalError> {
        let fileset = self.seal()?;
        let request = self.request();
        let registration_failed = |source: OmeroLocalError| OmeroLocalError::Registration {
            path: fileset.clone(),
            manual: request.manual_command(self.config.executable()),
            cause: Box::new(source),
        };
        let registered = self.gateway.import(&request).map_err(registration_failed)?;
        if registered.images.is_empty() {
            return Err(registration_failed(OmeroLocalError::Omero {
                command: "import".to_owned(),
                exit_code: 0,
                message: "the import reported no image".to_owned(),
            }));
        }
        self.registered = Some(registered.clone());
        let objects = registered.annotated_objects();
        let pairs = self.provenance(progress, &fileset);
        self.gateway
            .annotate(&objects, self.config.namespace(), &pairs)
            .map_err(|source| OmeroLocalError::Provenance {
                path: fileset.clone(),
                objects: objects.iter().map(|o| object_ref(*o)).collect(),
                cause: Box::new(source),
            })?;
        Ok(registered)
    }
}

impl Backend for OmeroLocalBackend {
    fn write(
        &mut self,
        position: PositionIndex,
        index: &StorageIndex,
        frame: &[u8],
        metadata: Option<&FrameMetadata>,
    ) -> Result<(), BackendError> {
        self.inner
            .write(position, index, frame, metadata)
            .map_err(|e| self.inner_error(e))
    }

    /// Forwarded, so the staging backend's zero-copy path is kept.
    fn write_owned(
        &mut self,
        position: PositionIndex,
        index: &StorageIndex,
        frame: FrameBuffer,
        metadata: Option<&FrameMetadata>,
    ) -> Result<(), BackendError> {
        self.inner
            .write_owned(position, index, frame, metadata)
            .map_err(|e| self.inner_error(e))
    }

    fn flush(&mut self) -> Result<(), BackendError> {
        self.inner.flush().map_err(|e| self.inner_error(e))
    }

    /// Forwarded to the staging backend (kept in memory there until its next
    /// durability point; a refusal writes nothing, so it does not fail the fileset).
    fn set_global_metadata(
        &mut self,
        namespace: &str,
        value: &serde_json::Value,
    ) -> Result<(), BackendError> {
        self.inner.set_global_metadata(namespace, value)
    }

    /// The staging backend's reader: it holds the staged dataset's directory open, so
    /// it keeps reading after `finalize` renames `NAME.partial` to `NAME`.
    fn reader(&self) -> Option<Arc<dyn PlaneReader>> {
        self.inner.reader()
    }

    fn frames_readable(&self) -> u64 {
        self.inner.frames_readable()
    }

    fn finalize(&mut self, progress: &Progress) -> Result<Summary, BackendError> {
        if self.finalized {
            return Err(BackendError::Finalized);
        }
        self.finalized = true;
        let mut progress = *progress;
        if self.inner_failed {
            progress.failed = true;
        }
        if progress.failed {
            progress.complete = false;
        }
        let inner = self.inner.finalize(&progress)?;
        if progress.failed {
            // The fileset records `failed` and holds the frames stored before the error:
            // sealed and kept, never registered as a complete image.
            let path = self.seal()?;
            return Err(OmeroLocalError::NotRegistered {
                path,
                frames_written: inner.frames_written,
                manual: self.request().manual_command(self.config.executable()),
            }
            .into());
        }
        let registered = self.register(&progress)?;
        let mut paths = vec![self.fileset_path()];
        let addresses = registered
            .images
            .iter()
            .map(|&id| OmeroAddress {
                object: ome_writers_schema::OmeroObject::Image,
                id,
            })
            .chain(registered.plates.iter().map(|&id| OmeroAddress {
                object: ome_writers_schema::OmeroObject::Plate,
                id,
            }));
        paths.extend(addresses.map(|a| PathBuf::from(a.to_string())));
        Ok(Summary {
            paths,
            frames_written: inner.frames_written,
            bytes_received: inner.bytes_received,
            shape: inner.shape,
        })
    }
}

/// The schema the inner backend writes: the same acquisition, as an OME-Zarr or
/// OME-TIFF dataset at `path`.
pub fn staging_schema(
    schema: &Schema,
    container: Container,
    path: &Path,
) -> Result<Schema, OmeroLocalError> {
    let mut settings = schema.settings().clone();
    settings.root_path = path.to_string_lossy().into_owned();
    settings.format = match container {
        Container::OmeZarr => FormatSpec::OmeZarr(OmeZarrFormat::default()),
        Container::OmeTiff => FormatSpec::OmeTiff(OmeTiffFormat::default()),
    };
    settings
        .validate()
        .map_err(|e| OmeroLocalError::Unsupported {
            what: format!("stage this acquisition as {}", container.suffix()),
            reason: e.to_string(),
        })
}

/// Keep `[A-Za-z0-9._-]`, replace the rest with `_` (a file name from an image name).
fn file_safe(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let s = s.trim_start_matches('.').to_owned();
    if s.is_empty() { "image".to_owned() } else { s }
}

/// (year, month, day, hour, minute, second) in UTC.
fn utc_parts(t: SystemTime) -> (i64, u32, u32, u64, u64, u64) {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Days since 1970-01-01 to a civil date (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, rem / 3600, rem % 3600 / 60, rem % 60)
}

/// `2024-05-01T12:34:56Z`.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = utc_parts(t);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// `20240501T123456Z`.
fn compact_timestamp(t: SystemTime) -> String {
    let (y, mo, d, h, mi, s) = utc_parts(t);
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_714_566_896);
        assert_eq!(rfc3339(t), "2024-05-01T12:34:56Z");
        assert_eq!(compact_timestamp(t), "20240501T123456Z");
        assert_eq!(rfc3339(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let leap = SystemTime::UNIX_EPOCH + Duration::from_hours(264_384);
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn file_names() {
        assert_eq!(file_safe("run 1/a"), "run_1_a");
        assert_eq!(file_safe("..x"), "x");
        assert_eq!(file_safe("///"), "___");
        assert_eq!(file_safe(""), "image");
    }
}
