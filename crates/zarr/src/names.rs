//! The names this backend gives to what it puts on disk, defined once: the writer
//! ([`crate::DirStore`], the metadata documents) and recovery ([`crate::recover`]) both
//! use them. The status words are [`ome_writers_backend::DatasetStatus`]'s.

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
