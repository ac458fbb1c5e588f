//! The checked configuration of the `omero_local` backend.

use std::path::{Path, PathBuf};

use ome_writers_schema::{
    BackendKind, Container, OmeroAddress, OmeroObject, Registration, Schema, Target,
};

use crate::{DataDir, OmeroLocalError};

/// Default namespace of the provenance MapAnnotation.
pub const PROVENANCE_NAMESPACE: &str = "org.ome-writers-rs/provenance";

/// How the `omero` CLI logs in. Empty fields leave the choice to the CLI (its current
/// session from `omero login`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Session {
    /// `-s`: server host.
    pub server: Option<String>,
    /// `-p`: server port.
    pub port: Option<u16>,
    /// `-k`: session key (UUID of an active session).
    pub key: Option<String>,
    /// `-u`: user name (the CLI reads the password from `OMERO_PASSWORD`).
    pub user: Option<String>,
}

impl Session {
    /// From `OMERO_HOST`, `OMERO_PORT`, `OMERO_SESSION_KEY` and `OMERO_USER` (unset or
    /// empty variables are left out; an unparsable port is an error).
    pub fn from_env() -> Result<Self, OmeroLocalError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let port = match var("OMERO_PORT") {
            Some(p) => Some(
                p.trim()
                    .parse::<u16>()
                    .map_err(|_| OmeroLocalError::Config {
                        field: "session.port",
                        value: p.clone(),
                        reason: "OMERO_PORT must be a TCP port number".to_owned(),
                    })?,
            ),
            None => None,
        };
        Ok(Self {
            server: var("OMERO_HOST"),
            port,
            key: var("OMERO_SESSION_KEY"),
            user: var("OMERO_USER"),
        })
    }

    /// The CLI's login arguments (always quiet: no session chatter on stderr).
    pub fn login_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(s) = &self.server {
            args.extend(["-s".to_owned(), s.clone()]);
        }
        if let Some(p) = self.port {
            args.extend(["-p".to_owned(), p.to_string()]);
        }
        if let Some(k) = &self.key {
            args.extend(["-k".to_owned(), k.clone()]);
        } else if let Some(u) = &self.user {
            args.extend(["-u".to_owned(), u.clone()]);
        }
        args.push("-q".to_owned());
        args
    }

    /// `host:port` for messages.
    pub fn describe(&self) -> String {
        match (&self.server, self.port) {
            (Some(s), Some(p)) => format!("{s}:{p}"),
            (Some(s), None) => s.clone(),
            (None, _) => "(the CLI's current session)".to_owned(),
        }
    }
}

/// Options that are not (yet) part of the settings' format object.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct OmeroLocalOptions {
    /// How the CLI logs in.
    pub session: Session,
    /// Namespace of the provenance MapAnnotation.
    pub namespace: String,
    /// Name of the new image(s) in OMERO; by default the staged file's name.
    pub image_name: Option<String>,
}

impl Default for OmeroLocalOptions {
    fn default() -> Self {
        Self {
            session: Session::default(),
            namespace: PROVENANCE_NAMESPACE.to_owned(),
            image_name: None,
        }
    }
}

impl OmeroLocalOptions {
    /// [`session`](Self::session).
    #[must_use]
    pub fn with_session(mut self, session: Session) -> Self {
        self.session = session;
        self
    }
    /// [`namespace`](Self::namespace).
    #[must_use]
    pub fn with_namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }
    /// [`image_name`](Self::image_name).
    #[must_use]
    pub fn with_image_name(mut self, name: Option<String>) -> Self {
        self.image_name = name;
        self
    }

    /// The options a schema's `omero_local` format object gives (server, port,
    /// annotation namespace, image name), over the environment's session
    /// ([`Session::from_env`]; the session key only ever comes from there).
    pub fn from_format(
        format: &ome_writers_schema::OmeroLocalFormat,
    ) -> Result<Self, OmeroLocalError> {
        let mut options = Self::from_env()?;
        if let Some(server) = &format.server {
            options.session.server = Some(server.clone());
        }
        if let Some(port) = format.port {
            options.session.port = Some(port);
        }
        options.namespace.clone_from(&format.annotation_namespace);
        if format.image_name.is_some() {
            options.image_name.clone_from(&format.image_name);
        }
        Ok(options)
    }

    /// The session from the environment ([`Session::from_env`]), the namespace from
    /// `OMEW_OMERO_NAMESPACE` and the image name from `OMEW_OMERO_IMAGE_NAME` when set.
    pub fn from_env() -> Result<Self, OmeroLocalError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        Ok(Self {
            session: Session::from_env()?,
            namespace: var("OMEW_OMERO_NAMESPACE")
                .unwrap_or_else(|| PROVENANCE_NAMESPACE.to_owned()),
            image_name: var("OMEW_OMERO_IMAGE_NAME"),
        })
    }
}

/// The checked configuration: every rule below holds, or construction failed.
///
/// - `data_dir` exists and holds `ManagedRepository/` (an OMERO data directory);
/// - `staging_dir` exists, is writable, and lies outside every server-owned folder of
///   the data directory (`ManagedRepository`, `Pixels`, `Files`, ...);
/// - the target is a Dataset (images) or a Screen (a plate);
/// - `zarr-import` is asked only for a single OME-Zarr image (omero-cli-zarr imports no
///   plates and looks for bioformats2raw series by number);
/// - paths are UTF-8 (they are passed to the CLI).
#[derive(Clone, Debug)]
pub struct OmeroLocalConfig {
    data_dir: DataDir,
    staging_dir: PathBuf,
    container: Container,
    registration: Registration,
    target: OmeroAddress,
    executable: PathBuf,
    options: OmeroLocalOptions,
}

impl OmeroLocalConfig {
    /// Check the schema's `omero_local` options and `options`.
    pub fn from_schema(
        schema: &Schema,
        options: &OmeroLocalOptions,
    ) -> Result<Self, OmeroLocalError> {
        let (Some(format), Target::Omero { address }) = (schema.omero_options(), schema.target())
        else {
            return Err(OmeroLocalError::Config {
                field: "name",
                value: format!("{:?}", schema.backend()),
                reason: "the schema does not use the omero_local format with an omero:// \
                         root_path"
                    .to_owned(),
            });
        };
        debug_assert_eq!(schema.backend(), BackendKind::OmeroLocal);
        let (container, registration) = (format.container, format.registration);
        if format.omero_executable.trim().is_empty() {
            return Err(OmeroLocalError::Config {
                field: "omero_executable",
                value: format.omero_executable.clone(),
                reason: "required: the `omero` command of omero-py".to_owned(),
            });
        }
        if options.namespace.trim().is_empty() {
            return Err(OmeroLocalError::Config {
                field: "namespace",
                value: options.namespace.clone(),
                reason: "the provenance annotation needs a namespace".to_owned(),
            });
        }
        let data_dir = DataDir::open(&format.data_dir)?;
        utf8(data_dir.root(), "data_dir")?;
        let staging_dir = check_staging(&data_dir, &format.staging_dir)?;
        check_target(schema, *address, container, registration)?;
        Ok(Self {
            data_dir,
            staging_dir,
            container,
            registration,
            target: *address,
            executable: PathBuf::from(&format.omero_executable),
            options: options.clone(),
        })
    }

    /// The server's data directory.
    pub fn data_dir(&self) -> &DataDir {
        &self.data_dir
    }
    /// The staging directory (canonical).
    pub fn staging_dir(&self) -> &Path {
        &self.staging_dir
    }
    /// The staged container.
    pub fn container(&self) -> Container {
        self.container
    }
    /// The registration method.
    pub fn registration(&self) -> Registration {
        self.registration
    }
    /// The Dataset or Screen the new images or plate go to.
    pub fn target(&self) -> OmeroAddress {
        self.target
    }
    /// The `omero` executable.
    pub fn executable(&self) -> &Path {
        &self.executable
    }
    /// The CLI session.
    pub fn session(&self) -> &Session {
        &self.options.session
    }
    /// The provenance namespace.
    pub fn namespace(&self) -> &str {
        &self.options.namespace
    }
    /// The image name asked for, if any.
    pub fn image_name(&self) -> Option<&str> {
        self.options.image_name.as_deref()
    }
}

fn utf8<'a>(path: &'a Path, field: &'static str) -> Result<&'a str, OmeroLocalError> {
    path.to_str().ok_or_else(|| OmeroLocalError::Config {
        field,
        value: path.to_string_lossy().into_owned(),
        reason: "the path must be valid UTF-8 (it is passed to the omero CLI)".to_owned(),
    })
}

fn check_staging(data_dir: &DataDir, staging: &str) -> Result<PathBuf, OmeroLocalError> {
    if staging.trim().is_empty() {
        return Err(OmeroLocalError::Config {
            field: "staging_dir",
            value: staging.to_owned(),
            reason: "required: a writable directory outside the server's ManagedRepository, \
                     on a filesystem the server can read"
                .to_owned(),
        });
    }
    let given = Path::new(staging);
    let meta = std::fs::metadata(given).map_err(|e| OmeroLocalError::Staging {
        path: given.to_owned(),
        reason: format!("cannot be used ({e}); create it first"),
    })?;
    if !meta.is_dir() {
        return Err(OmeroLocalError::Staging {
            path: given.to_owned(),
            reason: "it is not a directory".to_owned(),
        });
    }
    let dir = given
        .canonicalize()
        .map_err(|e| OmeroLocalError::io(given, e))?;
    utf8(&dir, "staging_dir")?;
    if let Some(folder) = data_dir.server_folder_of(&dir) {
        return Err(OmeroLocalError::Staging {
            path: dir,
            reason: format!(
                "it lies in {}, which the OMERO server owns; stage outside ManagedRepository, \
                 Pixels and Files (e.g. a sibling of the data directory)",
                folder.display()
            ),
        });
    }
    // Writable: create and remove a probe file.
    let probe = dir.join(format!(".omew-probe-{}", uuid::Uuid::new_v4().simple()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(|e| OmeroLocalError::Staging {
            path: dir.clone(),
            reason: format!("it is not writable: {e}"),
        })?;
    std::fs::remove_file(&probe).map_err(|e| OmeroLocalError::io(&probe, e))?;
    Ok(dir)
}

fn check_target(
    schema: &Schema,
    target: OmeroAddress,
    container: Container,
    registration: Registration,
) -> Result<(), OmeroLocalError> {
    let refuse = |reason: &str| {
        Err(OmeroLocalError::Target {
            target,
            reason: reason.to_owned(),
        })
    };
    match (target.object, schema.plate().is_some()) {
        (OmeroObject::Dataset, false) | (OmeroObject::Screen, true) => {}
        (OmeroObject::Dataset, true) => {
            return refuse("a plate is imported into a Screen: use omero://screen/<id>");
        }
        (OmeroObject::Screen, false) => {
            return refuse("images are imported into a Dataset: use omero://dataset/<id>");
        }
        (OmeroObject::Image | OmeroObject::Plate, _) => {
            return refuse(
                "new data cannot be imported into an existing Image or Plate: target a \
                 Dataset (omero://dataset/<id>) or a Screen (omero://screen/<id>)",
            );
        }
    }
    if registration == Registration::ZarrImport {
        let unsupported = |reason: &str| {
            Err(OmeroLocalError::Unsupported {
                what: "register this acquisition with zarr-import".to_owned(),
                reason: reason.to_owned(),
            })
        };
        if container != Container::OmeZarr {
            return unsupported("zarr-import registers OME-Zarr only: set container to ome-zarr");
        }
        if schema.plate().is_some() {
            return unsupported("omero-cli-zarr does not import plates yet: use in-place-import");
        }
        if schema.positions().len() > 1 {
            return unsupported(
                "omero-cli-zarr finds bioformats2raw series by number (0, 1, ...) while \
                 positions are stored under their names: use in-place-import, or one \
                 acquisition per position",
            );
        }
    }
    Ok(())
}
