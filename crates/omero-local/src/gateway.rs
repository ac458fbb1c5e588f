//! The gateway: everything this crate asks of an OMERO server.

use std::path::{Path, PathBuf};

use ome_writers_schema::{OmeroAddress, OmeroObject};

use crate::Registration;
use crate::{OmeroLocalError, Sizes};

/// A request to register a staged, complete fileset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportRequest {
    /// The fileset: a `.ome.zarr` directory, an `.ome.tiff` file, or a folder of
    /// OME-TIFF files. Never a `.partial` path.
    pub path: PathBuf,
    /// The Dataset (images) or Screen (plate).
    pub target: OmeroAddress,
    /// The name of the new image or plate.
    pub name: String,
    /// How to register it.
    pub method: Registration,
}

impl ImportRequest {
    /// The CLI arguments (after the executable, before login arguments are added) that
    /// register this fileset; also what a user runs by hand when registration failed.
    pub fn manual_command(&self, executable: &Path) -> String {
        let exe = shell_quote(&executable.to_string_lossy());
        let path = shell_quote(&self.path.to_string_lossy());
        let name = shell_quote(&self.name);
        match self.method {
            Registration::InPlaceImport => {
                let flag = if self.target.object == OmeroObject::Screen {
                    "-r"
                } else {
                    "-d"
                };
                format!(
                    "{exe} import {flag} {} -n {name} --transfer=ln_s {path}",
                    self.target.id
                )
            }
            Registration::ZarrImport => format!(
                "{exe} zarr import {path} --target {} --name {name}",
                object_ref(self.target)
            ),
        }
    }
}

/// What a registration created.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Registered {
    /// The Fileset, when the registration made one (in-place import).
    pub fileset: Option<u64>,
    /// The new images.
    pub images: Vec<u64>,
    /// The new plates.
    pub plates: Vec<u64>,
}

impl Registered {
    /// The objects to annotate: the plates if any, else the images.
    pub fn annotated_objects(&self) -> Vec<OmeroAddress> {
        if self.plates.is_empty() {
            self.images
                .iter()
                .map(|&id| OmeroAddress {
                    object: OmeroObject::Image,
                    id,
                })
                .collect()
        } else {
            self.plates
                .iter()
                .map(|&id| OmeroAddress {
                    object: OmeroObject::Plate,
                    id,
                })
                .collect()
        }
    }
}

/// An image's ExternalInfo (set by `omero zarr import`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalInfo {
    /// `com.glencoesoftware.ngff:multiscales` for OME-Zarr.
    pub entity_type: String,
    /// Where the data is: a local path or an `s3://` URI.
    pub lsid: String,
}

/// The entity type omero-cli-zarr gives images backed by OME-Zarr.
pub const NGFF_ENTITY_TYPE: &str = "com.glencoesoftware.ngff:multiscales";

/// One file of an image's fileset, as OMERO records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilesetFile {
    /// `OriginalFile.path`: the folder, relative to the managed repository.
    pub path: String,
    /// `OriginalFile.name`.
    pub name: String,
}

/// What the reader needs to know about an image to find its pixels on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageInfo {
    /// The image id.
    pub image: u64,
    /// Its Pixels id (names the ROMIO file).
    pub pixels: u64,
    /// Its dimensions.
    pub sizes: Sizes,
    /// The OMERO pixel type name (`uint16`, `float`).
    pub pixel_type: String,
    /// `XYZCT` etc.
    pub dimension_order: String,
    /// `Image.series`: which image of its fileset.
    pub series: u64,
    /// Its ExternalInfo, if any.
    pub external: Option<ExternalInfo>,
    /// Its fileset's files, in fileset order (empty: no fileset).
    pub files: Vec<FilesetFile>,
}

/// Everything this crate asks of an OMERO server. The real implementation runs the
/// `omero` CLI ([`CliGateway`](crate::CliGateway)); tests use a fake.
pub trait Gateway: Send {
    /// Check that `target` exists and is visible to the session.
    fn check_target(&mut self, target: OmeroAddress) -> Result<(), OmeroLocalError>;

    /// Register a complete fileset; returns what was created.
    fn import(&mut self, request: &ImportRequest) -> Result<Registered, OmeroLocalError>;

    /// Create a MapAnnotation in `namespace` holding `pairs` and link it to each of
    /// `objects`; returns the annotation id.
    fn annotate(
        &mut self,
        objects: &[OmeroAddress],
        namespace: &str,
        pairs: &[(String, String)],
    ) -> Result<u64, OmeroLocalError>;

    /// The images of a Dataset, by id.
    fn list_images(&mut self, dataset: u64) -> Result<Vec<u64>, OmeroLocalError>;

    /// Where an image's pixels are.
    fn image_info(&mut self, image: u64) -> Result<ImageInfo, OmeroLocalError>;
}

/// `Dataset:7`, the CLI's object reference.
pub fn object_ref(address: OmeroAddress) -> String {
    let kind = match address.object {
        OmeroObject::Dataset => "Dataset",
        OmeroObject::Screen => "Screen",
        OmeroObject::Image => "Image",
        OmeroObject::Plate => "Plate",
    };
    format!("{kind}:{}", address.id)
}

/// Quote `text` for a POSIX shell (and Python's `shlex.split`).
pub fn shell_quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:=@%+,".contains(c));
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_commands_are_shell_ready() {
        let r = ImportRequest {
            path: PathBuf::from("/srv/stage/run 1/run 1.ome.zarr"),
            target: OmeroAddress {
                object: OmeroObject::Dataset,
                id: 7,
            },
            name: "it's".to_owned(),
            method: Registration::InPlaceImport,
        };
        assert_eq!(
            r.manual_command(Path::new("omero")),
            "omero import -d 7 -n 'it'\\''s' --transfer=ln_s '/srv/stage/run 1/run 1.ome.zarr'"
        );
        let z = ImportRequest {
            method: Registration::ZarrImport,
            name: "a".to_owned(),
            path: PathBuf::from("/s/a.ome.zarr"),
            ..r
        };
        assert_eq!(
            z.manual_command(Path::new("/opt/omero/bin/omero")),
            "/opt/omero/bin/omero zarr import /s/a.ome.zarr --target Dataset:7 --name a"
        );
    }
}
