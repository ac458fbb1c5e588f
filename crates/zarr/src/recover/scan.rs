//! Reading what a dataset holds on disk, for recovery: its metadata documents (only
//! regular files are ever opened, their type read from the directory), its image
//! groups, the chunk files of each array (checked, a damaged one set aside), stale
//! temporary files and the frame-metadata journal.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use ome_writers_backend::write_atomic;
use ome_writers_schema::limits;
use serde_json::Value;

use super::RecoverError;
use super::report::DamagedChunk;
use crate::names::{DAMAGED_SUFFIX, ZARR_JSON, hidden, is_temporary_name};
use crate::{ChunkChecker, JOURNAL};

/// Largest `zarr.json` read (a root group of a million positions' settings fits).
const MAX_JSON: u64 = 1 << 30;
/// Largest compressed chunk file read for checking.
const MAX_CHUNK_READ: u64 = 4 << 30;
/// Deepest group nesting searched for image groups (plates are 3 deep).
const MAX_DEPTH: usize = 8;

type Result<T, E = RecoverError> = std::result::Result<T, E>;

/// One image group of a zarr dataset, as found on disk.
pub(super) struct ImageGroup {
    /// Group directory.
    pub(super) dir: PathBuf,
    /// The group's `zarr.json`.
    pub(super) doc: Value,
    /// The array's (`<group>/0/zarr.json`).
    pub(super) array: Value,
}

/// Read a `zarr.json`: a regular file (its type checked before it is opened, so a
/// FIFO or device never blocks the recovery), of a sane size.
pub(super) fn read_json(path: &Path) -> Result<Value> {
    let meta = fs::symlink_metadata(path).map_err(RecoverError::io("", path))?;
    if !meta.file_type().is_file() {
        return Err(RecoverError::NotARegularFile {
            path: path.to_owned(),
            kind: file_kind(meta.file_type()),
            expected: "a zarr.json document",
        });
    }
    if meta.len() > MAX_JSON {
        return Err(RecoverError::TooLarge {
            path: path.to_owned(),
            len: meta.len(),
        });
    }
    let bytes = fs::read(path).map_err(RecoverError::io("reading ", path))?;
    serde_json::from_slice(&bytes).map_err(|source| RecoverError::Json {
        path: path.to_owned(),
        source,
    })
}

pub(super) fn write_json(path: &Path, value: &Value) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|source| RecoverError::Json {
        path: path.to_owned(),
        source,
    })?;
    bytes.push(b'\n');
    write_atomic(path, &bytes).map_err(|e| match e {
        ome_writers_backend::BackendError::Io { source, .. } => RecoverError::Io {
            action: "writing ",
            path: path.to_owned(),
            source,
        },
        other => RecoverError::Io {
            action: "writing ",
            path: path.to_owned(),
            source: std::io::Error::other(other),
        },
    })
}

/// What a file that is not a regular file is, for the message refusing it.
fn file_kind(t: fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_dir() {
        "directory"
    } else if t.is_symlink() {
        "symbolic link"
    } else if t.is_fifo() {
        "FIFO"
    } else if t.is_char_device() {
        "character device"
    } else if t.is_block_device() {
        "block device"
    } else if t.is_socket() {
        "socket"
    } else {
        "special file"
    }
}

/// Whether a group document is an image group this library wrote: its
/// `attributes.ome_writers` records a status (a root group that is not an image holds
/// only the version and the settings).
fn is_image_group(doc: &Value) -> bool {
    doc["attributes"]["ome_writers"]["status"].is_string()
}

/// Image groups (groups with `attributes.ome_writers.status`) under `dir`, depth first.
pub(super) fn find_images(dir: &Path, depth: usize, out: &mut Vec<ImageGroup>) -> Result<()> {
    let doc = read_json(&dir.join(ZARR_JSON))?;
    if doc["node_type"] != "group" {
        return Ok(());
    }
    if is_image_group(&doc) {
        let array = read_json(&dir.join("0").join(ZARR_JSON))?;
        out.push(ImageGroup {
            dir: dir.to_owned(),
            doc,
            array,
        });
        return Ok(());
    }
    if depth >= MAX_DEPTH {
        return Ok(());
    }
    let mut subdirs: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(RecoverError::io("listing ", dir))?
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .filter(|p| fs::symlink_metadata(p.join(ZARR_JSON)).is_ok())
        .collect();
    subdirs.sort();
    for sub in subdirs {
        find_images(&sub, depth + 1, out)?;
    }
    Ok(())
}

/// A list of non-negative integers from a metadata document (`path`).
pub(super) fn u64_list(v: &Value, what: &str, path: &Path) -> Result<Vec<u64>> {
    v.as_array()
        .and_then(|a| a.iter().map(Value::as_u64).collect::<Option<Vec<u64>>>())
        .ok_or_else(|| {
            RecoverError::metadata(
                path,
                format!("{what} is not a list of non-negative integers: {v}"),
            )
        })
}

/// Refuse an array whose chunks (or shards, or a shard's inner chunks) hold more
/// elements than this library ever writes ([`limits::MAX_CHUNK_ELEMENTS`]): checking a
/// chunk decodes it into memory, and such a size (up to overflowing `u64`) is not ours.
pub(super) fn check_chunk_sizes(array: &Value, path: &Path) -> Result<()> {
    let outer = &array["chunk_grid"]["configuration"]["chunk_shape"];
    let inner = array["codecs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["name"] == "sharding_indexed")
        .map(|c| &c["configuration"]["chunk_shape"]);
    for shape in std::iter::once(outer).chain(inner) {
        let Some(dims) = shape.as_array() else {
            continue;
        };
        let elements = dims
            .iter()
            .map(|d| d.as_u64().map_or(u128::MAX, u128::from))
            .try_fold(1u128, u128::checked_mul);
        if elements.is_none_or(|n| n > limits::MAX_CHUNK_ELEMENTS) {
            return Err(RecoverError::metadata(
                path,
                format!(
                    "chunk shape {shape} holds more than {} elements: not an array this \
                     library wrote",
                    limits::MAX_CHUNK_ELEMENTS
                ),
            ));
        }
    }
    Ok(())
}

/// How chunk keys are spelled (Zarr v3 `chunk_key_encoding`).
pub(super) struct KeyEncoding {
    /// `"c"` for the default encoding, none for v2.
    prefix: Option<&'static str>,
    separator: char,
}

impl KeyEncoding {
    pub(super) fn of(array: &Value, path: &Path) -> Result<Self> {
        let enc = &array["chunk_key_encoding"];
        let separator = match enc["configuration"]["separator"].as_str() {
            Some(".") => '.',
            Some("/") => '/',
            None if enc["name"] == "v2" => '.',
            None => '/',
            Some(other) => {
                return Err(RecoverError::metadata(
                    path,
                    format!("unknown chunk key separator {other:?}"),
                ));
            }
        };
        let prefix = match enc["name"].as_str() {
            Some("default") | None => Some("c"),
            Some("v2") => None,
            Some(other) => {
                return Err(RecoverError::metadata(
                    path,
                    format!("unknown chunk key encoding {other:?}"),
                ));
            }
        };
        Ok(Self { prefix, separator })
    }

    /// The chunk indices of a path relative to the array directory (`/`-separated).
    fn parse(&self, rel: &str, ndim: usize) -> Option<Vec<u64>> {
        let rest = match self.prefix {
            Some(p) => rel.strip_prefix(p)?.strip_prefix(self.separator)?,
            None => rel,
        };
        let rest = if self.separator == '/' {
            rest.to_owned()
        } else {
            // Flat keys live in the array directory itself.
            if rest.contains('/') {
                return None;
            }
            rest.replace(self.separator, "/")
        };
        let idx: Option<Vec<u64>> = rest.split('/').map(|s| s.parse().ok()).collect();
        idx.filter(|i| i.len() == ndim)
    }

    pub(super) fn key(&self, idx: &[u64]) -> String {
        let sep = self.separator.to_string();
        let joined: Vec<String> = idx.iter().map(u64::to_string).collect();
        match self.prefix {
            Some(p) => format!("{p}{sep}{}", joined.join(&sep)),
            None => joined.join(&sep),
        }
    }
}

/// What the array directory holds: chunk files found (indices, path, size), and stale
/// temporary files.
pub(super) struct ChunkScan {
    pub(super) chunks: BTreeMap<Vec<u64>, (PathBuf, u64)>,
    pub(super) stale: Vec<PathBuf>,
}

pub(super) fn scan_chunks(array_dir: &Path, enc: &KeyEncoding, ndim: usize) -> Result<ChunkScan> {
    let mut scan = ChunkScan {
        chunks: BTreeMap::new(),
        stale: Vec::new(),
    };
    let mut stack = vec![(array_dir.to_owned(), String::new(), 0usize)];
    while let Some((dir, rel, depth)) = stack.pop() {
        let entries = fs::read_dir(&dir).map_err(RecoverError::io("listing ", &dir))?;
        for entry in entries {
            let entry = entry.map_err(RecoverError::io("listing ", &dir))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let child = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            // The type from the directory entry (never following a link): nothing
            // but a regular file is ever opened.
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                if depth <= ndim + 1 {
                    stack.push((entry.path(), child, depth + 1));
                }
            } else if is_temporary_name(&name) {
                if kind.is_file() {
                    scan.stale.push(entry.path());
                }
            } else if let Some(idx) = enc.parse(&child, ndim) {
                if !kind.is_file() {
                    return Err(RecoverError::NotARegularFile {
                        path: entry.path(),
                        kind: file_kind(kind),
                        expected: "a chunk file",
                    });
                }
                let len = entry
                    .metadata()
                    .map_err(RecoverError::io("", entry.path()))?
                    .len();
                scan.chunks.insert(idx, (entry.path(), len));
            }
        }
    }
    Ok(scan)
}

/// Check every chunk file against the array's metadata (size when uncompressed,
/// decoding when compressed); a damaged one is renamed to `.<name>.damaged` beside
/// it (kept, never deleted) and from then on missing: its planes read as 0.
pub(super) fn set_aside_damaged(
    array: &Value,
    array_path: &Path,
    enc: &KeyEncoding,
    scan: &mut ChunkScan,
) -> Result<Vec<DamagedChunk>> {
    let checker = ChunkChecker::new(array).map_err(|source| RecoverError::Array {
        path: array_path.to_owned(),
        source,
    })?;
    let mut damaged = Vec::new();
    let mut bad = Vec::new();
    for (idx, (path, len)) in &scan.chunks {
        let verdict = match checker.uncompressed_len() {
            Some(expected) if *len != expected => Some(format!(
                "{len} bytes where an uncompressed chunk has {expected} (truncated or padded)"
            )),
            Some(_) => None,
            None if *len > MAX_CHUNK_READ => Some(format!("{len} bytes, too large to check")),
            None => {
                let bytes = fs::read(path).map_err(RecoverError::io("reading ", path))?;
                checker.check(idx, bytes).err().map(|d| d.to_string())
            }
        };
        if let Some(reason) = verdict {
            bad.push(idx.clone());
            damaged.push(DamagedChunk {
                key: enc.key(idx),
                reason,
            });
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let aside = path.with_file_name(hidden(&name, DAMAGED_SUFFIX));
            fs::rename(path, &aside).map_err(RecoverError::io("setting aside damaged ", path))?;
        }
    }
    for idx in bad {
        scan.chunks.remove(&idx);
    }
    Ok(damaged)
}

/// Stale temporary files directly in a group directory (`.zarr.json.tmp`).
pub(super) fn stale_in(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| {
                    e.file_type().is_ok_and(|t| t.is_file())
                        && is_temporary_name(&e.file_name().to_string_lossy())
                })
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// The per-frame metadata journal of an image group: entries and unreadable lines
/// (a line torn by the kill).
pub(super) fn read_journal(dir: &Path) -> Result<(Vec<Value>, usize)> {
    let path = dir.join(JOURNAL);
    match fs::symlink_metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(RecoverError::io("", &path)(e)),
        Ok(m) if !m.file_type().is_file() => {
            return Err(RecoverError::NotARegularFile {
                path,
                kind: file_kind(m.file_type()),
                expected: "the frame-metadata journal",
            });
        }
        Ok(_) => {}
    }
    let bytes = fs::read(&path).map_err(RecoverError::io("reading ", &path))?;
    let mut entries = Vec::new();
    let mut bad = 0;
    for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        match serde_json::from_slice::<Value>(line) {
            Ok(v @ Value::Object(_)) => entries.push(v),
            _ => bad += 1,
        }
    }
    Ok((entries, bad))
}
