//! The on-disk names, defined once for the writer, the reader and repair, and the
//! [`Ownership`] that lets `overwrite` replace only a scratch directory we wrote.

use std::io::Read;
use std::path::Path;

use ome_writers_backend::Ownership;

/// The manifest: settings, dtype, shapes, status, global metadata.
pub const MANIFEST: &str = "manifest.json";
/// Per-frame metadata, one JSON object a line.
pub const FRAME_METADATA: &str = "frame_metadata.jsonl";
/// The manifest's temporary name while it is replaced.
pub(crate) const MANIFEST_TMP: &str = ".manifest.json.tmp";
/// The key of our own record in the manifest.
pub const RECORD_KEY: &str = "ome_writers";
/// The writer named in our record.
pub(crate) const WRITER: &str = "ome-writers-rs";
/// Keys the frame metadata lines begin with (Python's names).
pub const POSITION_KEY: &str = "_pos";
/// The storage index of a frame metadata line.
pub const INDEX_KEY: &str = "_idx";
/// Largest manifest read back.
pub(crate) const MAX_MANIFEST_BYTES: u64 = 64 << 20;

/// The raw array of position `p`: `pos_<p>.dat`.
pub fn position_file(p: usize) -> String {
    format!("pos_{p}.dat")
}

/// Whether a file at `relative` inside a scratch directory is one this backend writes.
pub fn is_own_file(relative: &Path) -> bool {
    let Some(name) = relative.to_str() else {
        return false;
    };
    if [MANIFEST, FRAME_METADATA, MANIFEST_TMP].contains(&name) {
        return true;
    }
    name.strip_prefix("pos_")
        .and_then(|r| r.strip_suffix(".dat"))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Read a manifest, bounded in size, as JSON.
pub(crate) fn read_manifest(dir: &Path) -> Result<serde_json::Value, String> {
    let path = dir.join(MANIFEST);
    let meta = std::fs::symlink_metadata(&path).map_err(|e| format!("no {MANIFEST} ({e})"))?;
    if !meta.is_file() {
        return Err(format!("{MANIFEST} is not a regular file"));
    }
    let mut text = Vec::new();
    std::fs::File::open(&path)
        .and_then(|f| f.take(MAX_MANIFEST_BYTES).read_to_end(&mut text))
        .map_err(|e| format!("{MANIFEST} cannot be read ({e})"))?;
    serde_json::from_slice(&text).map_err(|e| format!("{MANIFEST} is not JSON ({e})"))
}

/// The scratch backend's [`Ownership`]: a directory whose manifest carries our record,
/// holding only the manifest, the frame metadata and `pos_<i>.dat` files.
pub(crate) struct ScratchOwnership;

impl Ownership for ScratchOwnership {
    fn is_directory(&self) -> bool {
        true
    }

    fn check_marker(&self, path: &Path) -> Result<(), String> {
        let doc = read_manifest(path)?;
        if doc[RECORD_KEY]["writer"] == WRITER {
            Ok(())
        } else {
            Err(format!(
                "{MANIFEST} has no {RECORD_KEY}.writer = {WRITER:?}"
            ))
        }
    }

    fn is_own_file(&self, relative: &Path) -> bool {
        is_own_file(relative)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_files_are_exactly_the_ones_written() {
        for ours in [
            "manifest.json",
            "frame_metadata.jsonl",
            "pos_0.dat",
            "pos_12.dat",
        ] {
            assert!(is_own_file(Path::new(ours)), "{ours}");
        }
        for theirs in [
            "pos_.dat",
            "pos_a.dat",
            "pos_1.dat.bak",
            "sub/pos_1.dat",
            "notes.txt",
        ] {
            assert!(!is_own_file(Path::new(theirs)), "{theirs}");
        }
    }
}
