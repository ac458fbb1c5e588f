//! Recognising a dataset this backend wrote, so that `overwrite` removes nothing else.

use std::fs;
use std::io::Read;
use std::path::Path;

use ome_writers_backend::Ownership;

use crate::is_own_file;

/// Largest `zarr.json` read to look for the marker.
const MAX_MARKER_BYTES: u64 = 256 << 20;
/// How deep below the root the marker of an image group is looked for (a plate's
/// field groups are `row/col/field`), for datasets written by versions that kept it
/// in the image groups only.
const MARKER_DEPTH: usize = 3;

/// The zarr backend's [`Ownership`]: a directory whose `zarr.json` carries
/// `attributes.ome_writers`, holding only metadata, chunk files, journals and this
/// backend's temporary files.
pub(crate) struct ZarrOwnership;

impl Ownership for ZarrOwnership {
    fn is_directory(&self) -> bool {
        true
    }

    fn check_marker(&self, path: &Path) -> Result<(), String> {
        if has_marker(&path.join("zarr.json")) || marker_below(path, MARKER_DEPTH) {
            Ok(())
        } else {
            Err("no zarr.json with attributes.ome_writers".to_owned())
        }
    }

    fn is_own_file(&self, relative: &Path) -> bool {
        is_own_file(relative)
    }
}

fn has_marker(zarr_json: &Path) -> bool {
    if !fs::symlink_metadata(zarr_json).is_ok_and(|m| m.is_file()) {
        return false;
    }
    let mut text = Vec::new();
    let read =
        fs::File::open(zarr_json).and_then(|f| f.take(MAX_MARKER_BYTES).read_to_end(&mut text));
    read.is_ok()
        && serde_json::from_slice::<serde_json::Value>(&text)
            .is_ok_and(|doc| doc["attributes"]["ome_writers"].is_object())
}

fn marker_below(dir: &Path, depth: usize) -> bool {
    if depth == 0 {
        return false;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        e.file_type().is_ok_and(|t| t.is_dir())
            && (has_marker(&e.path().join("zarr.json")) || marker_below(&e.path(), depth - 1))
    })
}
