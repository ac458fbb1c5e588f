//! Recognising OME-TIFF files this backend wrote (their OME-XML `Creator`), so that
//! `overwrite` removes nothing else.

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use ome_writers_backend::Ownership;

use crate::journal::JOURNAL_SUFFIX;

/// What every document this backend writes carries in its root element.
const CREATOR_MARK: &[u8] = b"Creator=\"ome-writers-rs";
/// How much of an OME-XML document is searched for the mark (it is in the root
/// element, at the start).
const HEAD_BYTES: u64 = 64 << 10;
/// Most entries accepted in the first IFD.
const MAX_IFD_ENTRIES: u64 = 4096;
/// The TIFF tag ImageDescription.
const IMAGE_DESCRIPTION: u16 = 270;

/// The TIFF backend's [`Ownership`]: a single file, or a folder of files, each
/// carrying our `Creator`.
pub(crate) struct TiffOwnership {
    /// A folder of files (multi-file modes) rather than one file.
    pub(crate) folder: bool,
    /// The output, to read the files whose names [`Ownership::is_own_file`] gets.
    pub(crate) root: PathBuf,
}

impl Ownership for TiffOwnership {
    fn is_directory(&self) -> bool {
        self.folder
    }

    fn check_marker(&self, path: &Path) -> Result<(), String> {
        if self.folder {
            // Each file is checked by `is_own_file`; one of ours must be there.
            let ours = fs::read_dir(path)
                .map_err(|e| e.to_string())?
                .flatten()
                .any(|e| is_written_by_us(&e.path()));
            return ours
                .then_some(())
                .ok_or_else(|| "no file in it has Creator=\"ome-writers-rs\"".to_owned());
        }
        is_written_by_us(path)
            .then_some(())
            .ok_or_else(|| "its OME-XML has no Creator=\"ome-writers-rs\"".to_owned())
    }

    fn is_own_file(&self, relative: &Path) -> bool {
        let Some(name) = relative.file_name().and_then(|n| n.to_str()) else {
            return false;
        };
        // The folder is flat.
        if relative.parent().is_some_and(|p| !p.as_os_str().is_empty()) {
            return false;
        }
        let temp = name.starts_with('.') && name.ends_with(".tmp");
        temp || name.ends_with(JOURNAL_SUFFIX) || is_written_by_us(&self.root.join(relative))
    }
}

/// Whether `path` is a regular file whose OME-XML (a TIFF's first ImageDescription,
/// or an XML file's head) carries this backend's `Creator`.
pub(crate) fn is_written_by_us(path: &Path) -> bool {
    if !fs::symlink_metadata(path).is_ok_and(|m| m.is_file()) {
        return false;
    }
    let Ok(mut file) = fs::File::open(path) else {
        return false;
    };
    let mut magic = [0u8; 4];
    if file.read_exact(&mut magic).is_err() {
        return false;
    }
    let head = if magic == *b"II+\0" {
        first_description(&mut file)
    } else {
        let mut text = magic.to_vec();
        file.take(HEAD_BYTES)
            .read_to_end(&mut text)
            .ok()
            .map(|_| text)
    };
    head.is_some_and(|h| h.windows(CREATOR_MARK.len()).any(|w| w == CREATOR_MARK))
}

fn read_u64(file: &mut fs::File) -> Option<u64> {
    let mut b = [0u8; 8];
    file.read_exact(&mut b).ok()?;
    Some(u64::from_le_bytes(b))
}

/// The head of the first IFD's ImageDescription of a little-endian BigTIFF.
fn first_description(file: &mut fs::File) -> Option<Vec<u8>> {
    file.seek(SeekFrom::Start(8)).ok()?;
    let ifd = read_u64(file)?;
    file.seek(SeekFrom::Start(ifd)).ok()?;
    let entries = read_u64(file)?;
    if entries > MAX_IFD_ENTRIES {
        return None;
    }
    for _ in 0..entries {
        let mut e = [0u8; 20];
        file.read_exact(&mut e).ok()?;
        let tag = u16::from_le_bytes([e[0], e[1]]);
        if tag != IMAGE_DESCRIPTION {
            continue;
        }
        let count = u64::from_le_bytes(e[4..12].try_into().ok()?);
        let inline = e[12..20].to_vec();
        if count <= 8 {
            return Some(inline);
        }
        let offset = u64::from_le_bytes(e[12..20].try_into().ok()?);
        file.seek(SeekFrom::Start(offset)).ok()?;
        let mut text = Vec::new();
        file.take(count.min(HEAD_BYTES))
            .read_to_end(&mut text)
            .ok()?;
        return Some(text);
    }
    None
}
