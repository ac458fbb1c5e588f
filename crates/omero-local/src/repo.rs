//! The layout of an OMERO binary repository (`omero.data.dir`).
//!
//! `Pixels/`, `Files/` and `Thumbnails/` name a file by its numeric id inside `Dir-NNN`
//! folders (the id divided by 1000 repeatedly, as `ome.io.nio.AbstractFileSystemService`
//! does); `ManagedRepository/` holds imported filesets at paths relative to its root
//! (`OriginalFile.path` + `OriginalFile.name`).

use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};

use crate::OmeroLocalError;

/// The managed repository folder: imported filesets.
pub const MANAGED_REPOSITORY: &str = "ManagedRepository";
/// Suffix of a ROMIO pyramid file (`<pixels id>_pyramid`, a tiled JPEG-2000 TIFF).
pub const PYRAMID_SUFFIX: &str = "_pyramid";

/// Folders the server owns: nothing of ours is ever written under them.
pub const SERVER_FOLDERS: [&str; 7] = [
    MANAGED_REPOSITORY,
    "Pixels",
    "Files",
    "Thumbnails",
    "FullText",
    "BioFormatsCache",
    "DropBox",
];

/// The id-named stores of the binary repository.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Store {
    /// `Pixels/`: ROMIO pixel files and `_pyramid` files.
    Pixels,
    /// `Files/`: original files uploaded before OMERO.fs.
    Files,
    /// `Thumbnails/`.
    Thumbnails,
}

impl Store {
    /// The folder name.
    pub fn folder(self) -> &'static str {
        match self {
            Self::Pixels => "Pixels",
            Self::Files => "Files",
            Self::Thumbnails => "Thumbnails",
        }
    }
}

/// The path of object `id` in `store`, relative to the data directory, with `/`
/// separators: `Pixels/Dir-001/1001`, `Pixels/Dir-001/Dir-000/1000001`.
///
/// ```
/// use ome_writers_omero_local::{Store, repository_path};
/// assert_eq!(repository_path(Store::Pixels, 999), "Pixels/999");
/// assert_eq!(repository_path(Store::Pixels, 1001), "Pixels/Dir-001/1001");
/// ```
pub fn repository_path(store: Store, id: u64) -> String {
    // Each division by 1000 that leaves a non-zero quotient adds an outer folder.
    let mut dirs = Vec::new();
    let mut remaining = id;
    while remaining > 999 {
        remaining /= 1000;
        dirs.push(remaining % 1000);
    }
    let mut out = String::from(store.folder());
    out.push('/');
    for d in dirs.iter().rev() {
        let _ = write!(out, "Dir-{d:03}/");
    }
    let _ = write!(out, "{id}");
    out
}

/// A checked OMERO data directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// Open the data directory of a server: it must exist and hold `ManagedRepository/`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, OmeroLocalError> {
        let root = Self::existing(path.as_ref())?;
        let managed = root.join(MANAGED_REPOSITORY);
        if !managed.is_dir() {
            let found: Vec<&str> = SERVER_FOLDERS
                .iter()
                .copied()
                .filter(|f| root.join(f).is_dir())
                .collect();
            return Err(OmeroLocalError::NotDataDir {
                path: root,
                reason: format!(
                    "it has no {MANAGED_REPOSITORY}/ folder (found {found:?}); give the \
                     server's omero.data.dir (`omero config get omero.data.dir`)"
                ),
            });
        }
        Ok(Self { root })
    }

    /// Open a data directory (or a copy of one) only to read ROMIO pixel files: it must
    /// exist and hold `Pixels/`.
    pub fn open_for_pixels(path: impl AsRef<Path>) -> Result<Self, OmeroLocalError> {
        let root = Self::existing(path.as_ref())?;
        if !root.join(Store::Pixels.folder()).is_dir() {
            return Err(OmeroLocalError::NotDataDir {
                path: root,
                reason: "it has no Pixels/ folder".to_owned(),
            });
        }
        Ok(Self { root })
    }

    fn existing(path: &Path) -> Result<PathBuf, OmeroLocalError> {
        if path.as_os_str().is_empty() {
            return Err(OmeroLocalError::Config {
                field: "data_dir",
                value: String::new(),
                reason: "required: the server's omero.data.dir (e.g. /OMERO)".to_owned(),
            });
        }
        let meta = std::fs::metadata(path).map_err(|e| OmeroLocalError::NotDataDir {
            path: path.to_owned(),
            reason: format!("cannot be read: {e}"),
        })?;
        if !meta.is_dir() {
            return Err(OmeroLocalError::NotDataDir {
                path: path.to_owned(),
                reason: "it is not a directory".to_owned(),
            });
        }
        path.canonicalize()
            .map_err(|e| OmeroLocalError::io(path, e))
    }

    /// The directory (canonical).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where object `id` of `store` lives.
    pub fn path(&self, store: Store, id: u64) -> PathBuf {
        let mut p = self.root.clone();
        for part in repository_path(store, id).split('/') {
            p.push(part);
        }
        p
    }

    /// The ROMIO pixel file of pixels `id`.
    pub fn pixels_path(&self, id: u64) -> PathBuf {
        self.path(Store::Pixels, id)
    }

    /// The pyramid file of pixels `id` (`<id>_pyramid`).
    pub fn pyramid_path(&self, id: u64) -> PathBuf {
        let mut p = self.pixels_path(id);
        p.set_file_name(format!("{id}{PYRAMID_SUFFIX}"));
        p
    }

    /// `ManagedRepository/`.
    pub fn managed_repository(&self) -> PathBuf {
        self.root.join(MANAGED_REPOSITORY)
    }

    /// The file of a fileset entry: `OriginalFile.path` joined with `OriginalFile.name`
    /// under `ManagedRepository/`. Absolute paths and `..` are refused (they would leave
    /// the repository).
    pub fn managed_file(&self, path: &str, name: &str) -> Result<PathBuf, OmeroLocalError> {
        let mut out = self.managed_repository();
        let rel = Path::new(path).join(name);
        for c in rel.components() {
            match c {
                Component::Normal(part) => out.push(part),
                Component::CurDir => {}
                _ => {
                    return Err(OmeroLocalError::Unsupported {
                        what: format!("resolve the fileset file {path:?} + {name:?}"),
                        reason: "it is not a path inside the managed repository".to_owned(),
                    });
                }
            }
        }
        Ok(out)
    }

    /// The server-owned folder that `path` lies in (or the data directory itself), if any.
    /// `path` should be canonical.
    pub fn server_folder_of(&self, path: &Path) -> Option<PathBuf> {
        if path == self.root {
            return Some(self.root.clone());
        }
        SERVER_FOLDERS
            .iter()
            .map(|f| self.root.join(f))
            .find(|f| path.starts_with(f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(store: Store, id: u64, expected: &str) {
        assert_eq!(repository_path(store, id), expected, "id {id}");
    }

    /// The vectors of omero-romio's HelperUnitTest.
    #[test]
    fn golden_vectors() {
        check(Store::Pixels, 1, "Pixels/1");
        check(Store::Files, 1, "Files/1");
        check(Store::Pixels, 999, "Pixels/999");
        check(Store::Files, 999, "Files/999");
        check(Store::Pixels, 1000, "Pixels/Dir-001/1000");
        check(Store::Pixels, 1001, "Pixels/Dir-001/1001");
        check(Store::Files, 1001, "Files/Dir-001/1001");
        check(Store::Pixels, 999_999, "Pixels/Dir-999/999999");
        check(Store::Files, 999_999, "Files/Dir-999/999999");
        check(Store::Pixels, 1_000_001, "Pixels/Dir-001/Dir-000/1000001");
        check(Store::Files, 1_000_001, "Files/Dir-001/Dir-000/1000001");
        check(
            Store::Pixels,
            999_999_999,
            "Pixels/Dir-999/Dir-999/999999999",
        );
        check(
            Store::Pixels,
            1_000_000_001,
            "Pixels/Dir-001/Dir-000/Dir-000/1000000001",
        );
        check(
            Store::Files,
            1_000_000_001,
            "Files/Dir-001/Dir-000/Dir-000/1000000001",
        );
        check(
            Store::Pixels,
            2_147_483_647,
            "Pixels/Dir-002/Dir-147/Dir-483/2147483647",
        );
        check(Store::Thumbnails, 1001, "Thumbnails/Dir-001/1001");
    }

    #[test]
    fn managed_files_stay_inside_the_repository() {
        let d = DataDir {
            root: PathBuf::from("/OMERO"),
        };
        assert_eq!(
            d.managed_file("user_3/2014-07/22/16-41-04.244/", "a.ome.tiff")
                .unwrap(),
            PathBuf::from("/OMERO/ManagedRepository/user_3/2014-07/22/16-41-04.244/a.ome.tiff")
        );
        assert!(d.managed_file("../Pixels", "1").is_err());
        assert!(d.managed_file("/etc", "passwd").is_err());
        assert_eq!(
            d.pyramid_path(1001),
            PathBuf::from("/OMERO/Pixels/Dir-001/1001_pyramid")
        );
    }
}
