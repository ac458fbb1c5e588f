//! The names this backend gives what it writes on disk, defined once: the writer
//! ([`crate::DirStore`], the metadata documents) and recovery ([`crate::recover`]) both
//! use them: image group paths, the per-frame metadata journal, temporary and damaged
//! names, and which files of a dataset are its own. The status words are
//! [`ome_writers_backend::DatasetStatus`]'s.

use ome_writers_schema::Schema;

use crate::store;

/// Name of the per-frame metadata journal inside an image group (JSON lines, one
/// entry per frame that came with metadata; folded into `zarr.json` at finish).
pub const JOURNAL: &str = "ome_writers_frames.jsonl";

/// Whether a file at `relative_path` inside a dataset (relative to its root) is one
/// this backend writes: a `zarr.json`, a chunk or shard file under an array's `c/`
/// (`…/0/c/<index>/…/<index>`), the per-frame [`JOURNAL`], or a temporary file of its
/// own (`.<name>.partial` for chunks, `.<name>.tmp` for metadata, `.<name>.damaged`
/// for a chunk `omew repair` set aside, the space reserve `.ome_writers.reserve` at
/// the root). `--overwrite` uses it to delete only what
/// this library wrote. Absolute paths and paths with `..` are never ours.
#[must_use]
pub fn is_own_file(relative_path: &std::path::Path) -> bool {
    use std::path::Component;
    let mut names = Vec::new();
    for c in relative_path.components() {
        match c {
            Component::Normal(n) => match n.to_str() {
                Some(n) => names.push(n),
                None => return false,
            },
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    let Some((&file, dirs)) = names.split_last() else {
        return false;
    };
    let chunk_index = |n: &str| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit());
    // Under an array's chunk directory: `<level>/c/<index>/.../<file>` (level 0, or
    // a pyramid level 1, 2, ...).
    let in_chunks = dirs.iter().enumerate().any(|(k, &d)| {
        d == "c"
            && k >= 1
            && dirs.get(k - 1).is_some_and(|l| chunk_index(l))
            && dirs
                .get(k + 1..)
                .is_some_and(|rest| rest.iter().all(|n| chunk_index(n)))
    });
    let temporary = |suffix: &str| {
        file.strip_prefix('.')
            .and_then(|n| n.strip_suffix(suffix))
            .filter(|n| !n.is_empty())
    };
    if file == ZARR_JSON || file == JOURNAL || temporary(TMP_SUFFIX) == Some(ZARR_JSON) {
        return true;
    }
    if dirs.is_empty() && file == store::RESERVE {
        return true;
    }
    in_chunks
        && (chunk_index(file)
            || temporary(PARTIAL_SUFFIX).is_some_and(chunk_index)
            || temporary(DAMAGED_SUFFIX).is_some_and(chunk_index))
}

pub(crate) fn journal_key(group: &str) -> String {
    if group.is_empty() {
        JOURNAL.to_owned()
    } else {
        format!("{group}/{JOURNAL}")
    }
}

/// Image group path of every position, relative to the dataset root (`""`: the root
/// is the image): the names validation checked (one rule, in the schema crate).
#[must_use]
pub fn image_groups(schema: &Schema) -> Vec<String> {
    ome_writers_schema::zarr_image_groups(schema)
}

/// Name of every Zarr v3 metadata document (group or array).
pub const ZARR_JSON: &str = "zarr.json";

/// Name of the space reserve in the root directory (written at create, removed at
/// finish; see [`crate::DirStore::reserve`]).
pub const RESERVE: &str = ".ome_writers.reserve";

/// Suffix of the temporary name a chunk or shard is written under before its rename
/// (`.<name>.partial`, beside its key).
pub const PARTIAL_SUFFIX: &str = ".partial";

/// Suffix of the temporary name a metadata document is written under before its
/// rename (`.<name>.tmp`, beside it; [`ome_writers_backend::write_atomic`]'s name).
pub const TMP_SUFFIX: &str = ".tmp";

/// Suffix of a chunk that recovery found damaged and set aside (`.<name>.damaged`,
/// beside its key; kept, never deleted).
pub const DAMAGED_SUFFIX: &str = ".damaged";

/// Key, in an image group's `attributes.ome_writers`, of the record recovery leaves
/// of what it did.
pub const REPAIRED_KEY: &str = "repaired";

/// Whether a file name is a stale temporary file of the writer: `.<name>.partial` (a
/// chunk) or `.<name>.tmp` (a metadata document).
#[must_use]
pub fn is_temporary_name(name: &str) -> bool {
    name.starts_with('.') && (name.ends_with(PARTIAL_SUFFIX) || name.ends_with(TMP_SUFFIX))
}

/// The temporary name a file named `name` is written under (`.<name><suffix>`).
pub(crate) fn hidden(name: &str, suffix: &str) -> String {
    format!(".{name}{suffix}")
}
