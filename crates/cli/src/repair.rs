//! `omew repair PATH`: finish a dataset whose writer was killed, or stopped by a write
//! error.
//!
//! A killed writer leaves a dataset that already opens (the metadata of its last
//! durability point, see docs/layouts.md), but with the status `acquiring`, a shape that
//! may not cover chunks written after that point, and per-frame metadata still in the
//! journal; a writer stopped by a write error (a full disk) leaves the status `failed`.
//! Repair writes the final metadata from what is on disk, by the partial-acquisition
//! rule, and never rewrites a chunk or a page:
//!
//! - **OME-Zarr**: the chunks (or shards) on disk are listed, each checked against the
//!   array's metadata (its size when uncompressed, decoding when compressed); a damaged
//!   one is set aside as `.<name>.damaged` beside its key (kept, never deleted) and
//!   counts as missing. Nothing but a regular file is opened: a FIFO, device or
//!   symbolic link where a chunk, a `zarr.json` or the journal is expected is refused
//!   (its type read from the directory, never by opening it). The frames are counted
//!   from the chunks present: the longest prefix, in acquisition order and at most the
//!   declared count, whose every chunk is present and undamaged; where a chunk holds
//!   several planes (a durability point may have stored it incomplete) no more than
//!   the metadata's `frames_written`, which is otherwise never trusted. Each array's
//!   growth axis is set to cover the last chunk on disk (clamped to the declared count;
//!   an unbounded axis no further than the growth unit of the first frame not counted),
//!   every image getting the same extent as at finish; the journal is folded into
//!   `frame_metadata`; `frames_written` becomes the count from disk; the status becomes
//!   `partial` (`complete` if every declared frame was counted) with a `repaired`
//!   record (the status and claim before, missing and damaged chunks by name). Every
//!   `zarr.json` is replaced atomically, array before group. Stale temporary files
//!   (`.*.partial`, `.*.tmp`, the writer's `.ome_writers.reserve`) are removed. The
//!   settings are read from the root group (or, for datasets of earlier versions, the
//!   first image group).
//! - **OME-TIFF**: [`ome_writers_tiff::recover`]: zero planes are appended up to the
//!   rule's shape and the final OME-XML written as `finalize` writes it, with a record of
//!   the planes that are padding.
//!
//! A dataset whose status is neither `acquiring` nor `failed` (finished, or already
//! repaired) is left untouched, so repair is idempotent.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use ome_writers_backend::{DatasetStatus, write_atomic};
use ome_writers_router::FrameRouter;
use ome_writers_schema::{AcquisitionSettings, FrameNumber, Schema};
use ome_writers_zarr::JOURNAL;
use serde_json::{Value, json};

/// The writer's disk-space reserve in the root directory (removed at finish).
const RESERVE: &str = ".ome_writers.reserve";
/// Most missing chunk keys listed by name in the `repaired` record.
const LIST_MISSING: usize = 100;
/// Chunk grids larger than this are not enumerated for missing chunks.
const MAX_ENUMERATED: u128 = 1 << 20;
/// Deepest group nesting searched for image groups (plates are 3 deep).
const MAX_DEPTH: usize = 8;

/// Repair the dataset at `path` and print what was done.
pub(crate) fn run(path: &Path) -> Result<()> {
    let meta = fs::metadata(path).with_context(|| format!("{}", path.display()))?;
    // Never beside a writer that is still running (or another repair).
    let _lock = ome_writers_backend::lock_output(path)?;
    // Any entry named zarr.json (a FIFO included: repair_zarr refuses it unopened).
    let zarr_json = fs::symlink_metadata(path.join("zarr.json")).is_ok();
    if meta.is_dir() && zarr_json {
        let report = repair_zarr(path)?;
        println!("{report}");
        return Ok(());
    }
    if meta.is_dir() && !zarr_json && holds_nothing(path) {
        println!(
            "nothing to repair: {} holds no data and no root zarr.json (the writer was \
             killed while creating it; no frame was written)",
            path.display()
        );
        return Ok(());
    }
    let recovery = ome_writers_tiff::recover(path).with_context(|| {
        format!(
            "{} is not an OME-Zarr or OME-TIFF dataset we can repair",
            path.display()
        )
    })?;
    if recovery.nothing_written {
        println!(
            "nothing to repair: {} holds no page (the writer was killed before its first \
             frame; no frame was written)",
            path.display()
        );
        return Ok(());
    }
    if recovery.already_final {
        println!(
            "nothing to repair: {} is final ({} file(s))",
            path.display(),
            recovery.files.len()
        );
        return Ok(());
    }
    for f in &recovery.files {
        println!(
            "{}: {} pages found, {} described before, {} zero planes appended{}",
            f.path.display(),
            f.pages_found,
            f.planes_described
                .map_or_else(|| "final".to_owned(), |n| n.to_string()),
            f.zero_planes_appended,
            if f.torn_bytes_cut > 0 {
                format!(", torn tail of {} bytes cut", f.torn_bytes_cut)
            } else {
                String::new()
            }
        );
    }
    println!(
        "repaired {}: shape {:?}, final OME-XML written",
        path.display(),
        recovery.shape
    );
    Ok(())
}

/// Whether a directory holds no data: no file but stale temporaries (`.*.tmp`,
/// `.*.partial`) and metadata (`zarr.json`: a writer killed while creating the
/// dataset, before its root `zarr.json`), in any subdirectory.
fn holds_nothing(dir: &Path) -> bool {
    let Ok(entries) = fs::read_dir(dir) else {
        return false;
    };
    entries.filter_map(Result::ok).all(|e| {
        let name = e.file_name().to_string_lossy().into_owned();
        match e.file_type() {
            Ok(t) if t.is_dir() => holds_nothing(&e.path()),
            Ok(_) => {
                name == "zarr.json"
                    || name == RESERVE
                    || (name.starts_with('.')
                        && (name.ends_with(".tmp") || name.ends_with(".partial")))
            }
            Err(_) => false,
        }
    })
}

/// One image group of a zarr dataset, as found on disk.
struct ImageGroup {
    /// Group directory.
    dir: PathBuf,
    /// The group's `zarr.json`.
    doc: Value,
    /// The array's (`<group>/0/zarr.json`).
    array: Value,
}

/// Largest `zarr.json` read (a root group of a million positions' settings fits).
const MAX_JSON: u64 = 1 << 30;

/// Read a `zarr.json`: a regular file (its type checked before it is opened, so a
/// FIFO or device never blocks the repair), of a sane size.
fn read_json(path: &Path) -> Result<Value> {
    let meta = fs::symlink_metadata(path).with_context(|| format!("{}", path.display()))?;
    if !meta.file_type().is_file() {
        bail!(
            "{}: a {} where a zarr.json document is expected; refusing to read it",
            path.display(),
            file_kind(meta.file_type())
        );
    }
    if meta.len() > MAX_JSON {
        bail!(
            "{}: {} bytes is not a zarr.json we wrote",
            path.display(),
            meta.len()
        );
    }
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("{} is not valid JSON", path.display()))
}

fn write_json(path: &Path, value: &Value) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value)?;
    bytes.push(b'\n');
    write_atomic(path, &bytes).with_context(|| format!("writing {}", path.display()))
}

/// Whether a group document is an image group this library wrote: its
/// `attributes.ome_writers` records a status (a root group that is not an image holds
/// only the version and the settings).
fn is_image_group(doc: &Value) -> bool {
    doc["attributes"]["ome_writers"]["status"].is_string()
}

/// Image groups (groups with `attributes.ome_writers.status`) under `dir`, depth first.
fn find_images(dir: &Path, depth: usize, out: &mut Vec<ImageGroup>) -> Result<()> {
    let doc = read_json(&dir.join("zarr.json"))?;
    if doc["node_type"] != "group" {
        return Ok(());
    }
    if is_image_group(&doc) {
        let array_path = dir.join("0").join("zarr.json");
        let array = read_json(&array_path)?;
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
        .with_context(|| format!("listing {}", dir.display()))?
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .filter(|p| fs::symlink_metadata(p.join("zarr.json")).is_ok())
        .collect();
    subdirs.sort();
    for sub in subdirs {
        find_images(&sub, depth + 1, out)?;
    }
    Ok(())
}

fn u64_list(v: &Value, what: &str) -> Result<Vec<u64>> {
    v.as_array()
        .and_then(|a| a.iter().map(Value::as_u64).collect::<Option<Vec<u64>>>())
        .with_context(|| format!("{what} is not a list of non-negative integers: {v}"))
}

/// How chunk keys are spelled (Zarr v3 `chunk_key_encoding`).
struct KeyEncoding {
    /// `"c"` for the default encoding, none for v2.
    prefix: Option<&'static str>,
    separator: char,
}

impl KeyEncoding {
    fn of(array: &Value) -> Result<Self> {
        let enc = &array["chunk_key_encoding"];
        let separator = match enc["configuration"]["separator"].as_str() {
            Some(".") => '.',
            Some("/") => '/',
            None if enc["name"] == "v2" => '.',
            None => '/',
            Some(other) => bail!("unknown chunk key separator {other:?}"),
        };
        let prefix = match enc["name"].as_str() {
            Some("default") | None => Some("c"),
            Some("v2") => None,
            Some(other) => bail!("unknown chunk key encoding {other:?}"),
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

    fn key(&self, idx: &[u64]) -> String {
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
struct ChunkScan {
    chunks: BTreeMap<Vec<u64>, (PathBuf, u64)>,
    stale: Vec<PathBuf>,
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

fn scan_chunks(array_dir: &Path, enc: &KeyEncoding, ndim: usize) -> Result<ChunkScan> {
    let mut scan = ChunkScan {
        chunks: BTreeMap::new(),
        stale: Vec::new(),
    };
    let mut stack = vec![(array_dir.to_owned(), String::new(), 0usize)];
    while let Some((dir, rel, depth)) = stack.pop() {
        let entries = fs::read_dir(&dir).with_context(|| format!("listing {}", dir.display()))?;
        for entry in entries {
            let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
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
            } else if name.starts_with('.')
                && (name.ends_with(".partial") || name.ends_with(".tmp"))
            {
                if kind.is_file() {
                    scan.stale.push(entry.path());
                }
            } else if let Some(idx) = enc.parse(&child, ndim) {
                if !kind.is_file() {
                    bail!(
                        "{}: a {} where a chunk file is expected; refusing to read it",
                        entry.path().display(),
                        file_kind(kind)
                    );
                }
                let len = entry
                    .metadata()
                    .with_context(|| format!("{}", entry.path().display()))?
                    .len();
                scan.chunks.insert(idx, (entry.path(), len));
            }
        }
    }
    Ok(scan)
}

/// A chunk set aside as damaged.
struct Damaged {
    key: String,
    reason: String,
}

/// Largest compressed chunk file read for checking.
const MAX_CHUNK_READ: u64 = 4 << 30;

/// Check every chunk file against the array's metadata (size when uncompressed,
/// decoding when compressed); a damaged one is renamed to `.<name>.damaged` beside
/// it (kept, never deleted) and from then on missing: its planes read as 0.
fn set_aside_damaged(
    array: &Value,
    enc: &KeyEncoding,
    scan: &mut ChunkScan,
) -> Result<Vec<Damaged>> {
    let checker = ome_writers_zarr::ChunkChecker::new(array)
        .context("the array metadata (zarr.json) does not describe a readable array")?;
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
                let bytes =
                    fs::read(path).with_context(|| format!("reading {}", path.display()))?;
                checker.check(idx, bytes).err().map(|d| d.to_string())
            }
        };
        if let Some(reason) = verdict {
            bad.push(idx.clone());
            damaged.push(Damaged {
                key: enc.key(idx),
                reason,
            });
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let aside = path.with_file_name(format!(".{name}.damaged"));
            fs::rename(path, &aside)
                .with_context(|| format!("setting aside damaged {}", path.display()))?;
        }
    }
    for idx in bad {
        scan.chunks.remove(&idx);
    }
    Ok(damaged)
}

/// Stale temporary files directly in a group directory (`.zarr.json.tmp`).
fn stale_in(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    e.file_type().is_ok_and(|t| t.is_file())
                        && n.starts_with('.')
                        && (n.ends_with(".tmp") || n.ends_with(".partial"))
                })
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// The per-frame metadata journal of an image group: entries and unreadable lines
/// (a line torn by the kill).
fn read_journal(dir: &Path) -> Result<(Vec<Value>, usize)> {
    let path = dir.join(JOURNAL);
    match fs::symlink_metadata(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(e).with_context(|| format!("{}", path.display())),
        Ok(m) if !m.file_type().is_file() => bail!(
            "{}: a {} where the frame-metadata journal is expected; refusing to read it",
            path.display(),
            file_kind(m.file_type())
        ),
        Ok(_) => {}
    }
    let bytes = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
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

/// What is on disk for one image.
struct Found {
    scan: ChunkScan,
    enc: KeyEncoding,
    chunk_shape: Vec<u64>,
    journal: Vec<Value>,
    torn_lines: usize,
    damaged: Vec<Damaged>,
}

/// The recorded settings, validated, with the dataset's actual path.
fn recorded_schema(root: &Path, images: &[ImageGroup]) -> Result<Schema> {
    // The settings are in the root group (this version), or in every image group
    // (datasets written by earlier versions).
    let top = read_json(&root.join("zarr.json"))?;
    let settings_json = [&top, &images[0].doc]
        .into_iter()
        .map(|doc| &doc["attributes"]["ome_writers"]["settings"])
        .find(|s| s.is_object())
        .with_context(|| {
            format!(
                "{}: no recorded settings (attributes.ome_writers.settings of the root \
                 group or of {})",
                root.display(),
                images[0].dir.display()
            )
        })?;
    let mut settings = AcquisitionSettings::from_json(&settings_json.to_string())
        .context("the recorded settings (attributes.ome_writers.settings) do not parse")?;
    settings.root_path = root.to_string_lossy().into_owned();
    settings
        .validate()
        .context("the recorded settings (attributes.ome_writers.settings) are not valid")
}

/// Scan, check and read what is on disk for one image.
fn find_on_disk(img: &ImageGroup) -> Result<Found> {
    let shape = u64_list(&img.array["shape"], "array shape")?;
    let chunk_shape = u64_list(
        &img.array["chunk_grid"]["configuration"]["chunk_shape"],
        "chunk_grid.configuration.chunk_shape",
    )?;
    if chunk_shape.len() != shape.len() || chunk_shape.contains(&0) {
        bail!(
            "{}: chunk shape {chunk_shape:?} does not fit array shape {shape:?}",
            img.dir.display()
        );
    }
    let enc = KeyEncoding::of(&img.array)?;
    let mut scan = scan_chunks(&img.dir.join("0"), &enc, shape.len())?;
    let damaged = set_aside_damaged(&img.array, &enc, &mut scan)?;
    let (journal, torn_lines) = read_journal(&img.dir)?;
    Ok(Found {
        scan,
        enc,
        chunk_shape,
        journal,
        torn_lines,
        damaged,
    })
}

/// Frames counted from the chunk files present: the longest prefix of frames (in
/// acquisition order, at most the declared count) whose every chunk is on disk and
/// undamaged; when a chunk holds several planes (a present chunk may be the copy a
/// durability point stored, its later planes still 0) no more than the metadata
/// claims. Returns the count per image (in `images` order) and the total.
fn frames_on_disk(
    schema: &Schema,
    images: &[ImageGroup],
    found: &[Found],
    root: &Path,
    claimed: u64,
) -> (Vec<u64>, u64) {
    // Position index -> image (in `images` order), through a map: O(positions).
    let by_path: std::collections::HashMap<&Path, usize> = images
        .iter()
        .enumerate()
        .filter_map(|(i, img)| img.dir.strip_prefix(root).ok().map(|r| (r, i)))
        .collect();
    let image_of: Vec<Option<usize>> = ome_writers_zarr::image_groups(schema)
        .iter()
        .map(|g| by_path.get(Path::new(g)).copied())
        .collect();
    let router = FrameRouter::new(schema);
    let limit = router.total().unwrap_or(u64::MAX);
    let single_plane = found.first().is_some_and(|f| {
        let n = f.chunk_shape.len().saturating_sub(2);
        f.chunk_shape.iter().take(n).all(|&c| c == 1)
    });
    let limit = if single_plane {
        limit
    } else {
        limit.min(claimed)
    };
    let shapes: Vec<Vec<u64>> = images
        .iter()
        .map(|img| u64_list(&img.array["shape"], "shape").unwrap_or_default())
        .collect();
    let mut per_image = vec![0u64; images.len()];
    let mut n = 0u64;
    while n < limit {
        let Ok(route) = router.route(FrameNumber(n)) else {
            break;
        };
        let Some(Some(i)) = image_of.get(route.position.0) else {
            break;
        };
        let (Some(shape), Some(f)) = (shapes.get(*i), found.get(*i)) else {
            break;
        };
        if !frame_chunks_present(shape, f, route.index.as_slice()) {
            break;
        }
        per_image[*i] += 1;
        n += 1;
    }
    (per_image, n)
}

/// Whether every chunk holding the frame at storage index `idx` is present.
fn frame_chunks_present(shape: &[u64], f: &Found, idx: &[u64]) -> bool {
    let ndim = f.chunk_shape.len();
    if idx.len() + 2 != ndim {
        return false;
    }
    let (Some(&ny), Some(&nx)) = (shape.get(ndim - 2), shape.get(ndim - 1)) else {
        return false;
    };
    let (cy, cx) = (f.chunk_shape[ndim - 2], f.chunk_shape[ndim - 1]);
    let mut key: Vec<u64> = idx.iter().zip(&f.chunk_shape).map(|(i, c)| i / c).collect();
    key.extend([0, 0]);
    for by in 0..ny.div_ceil(cy) {
        for bx in 0..nx.div_ceil(cx) {
            key[ndim - 2] = by;
            key[ndim - 1] = bx;
            if !f.scan.chunks.contains_key(&key) {
                return false;
            }
        }
    }
    true
}

/// The growth-axis extent every image gets: covering the last chunk on disk (clamped
/// to the declared count), and for an unbounded axis no further than the growth unit
/// of the first frame not counted (a crafted far chunk cannot make it absurd).
fn growth_extent(schema: &Schema, found: &[Found], frames: u64) -> Option<u64> {
    let g = schema.growth_axis()?;
    let declared = schema.array_shape(None);
    let unbounded = schema
        .array_dims()
        .nth(g)
        .is_some_and(|d| d.count().is_none());
    let mut extent = 0u64;
    for f in found {
        let c = f.chunk_shape.get(g).copied().unwrap_or(1);
        for idx in f.scan.chunks.keys() {
            if let Some(&i) = idx.get(g) {
                extent = extent.max(i.saturating_add(1).saturating_mul(c));
            }
        }
        for entry in &f.journal {
            if let Some(i) = entry["storage_index"].get(g).and_then(Value::as_u64) {
                extent = extent.max(i.saturating_add(1));
            }
        }
    }
    let router = FrameRouter::new(schema);
    if unbounded {
        let c = found
            .first()
            .and_then(|f| f.chunk_shape.get(g).copied())
            .unwrap_or(1);
        let next_unit = router
            .route(FrameNumber(frames))
            .ok()
            .and_then(|r| r.index.as_slice().get(g).copied())
            .map_or(u64::MAX, |i| (i / c + 1).saturating_mul(c));
        extent = extent.min(next_unit).max(router.extent_reached(frames));
    } else {
        extent = extent.min(declared[g]);
    }
    Some(extent)
}

/// Chunks inside `shape` that are not on disk: how many (or that the grid is too
/// large to count), and the first [`LIST_MISSING`] keys.
fn missing_chunks(shape: &[u64], f: &Found) -> (Value, Vec<String>) {
    let grid: Vec<u64> = shape
        .iter()
        .zip(&f.chunk_shape)
        .map(|(s, c)| s.div_ceil(*c))
        .collect();
    let cells: u128 = grid.iter().map(|&n| u128::from(n)).product();
    if cells > MAX_ENUMERATED {
        return (json!("not counted (grid too large)"), Vec::new());
    }
    let mut missing = Vec::new();
    let mut count = 0u64;
    let mut idx = vec![0u64; grid.len()];
    if cells > 0 {
        loop {
            if !f.scan.chunks.contains_key(&idx) {
                count += 1;
                if missing.len() < LIST_MISSING {
                    missing.push(f.enc.key(&idx));
                }
            }
            // Next index, last axis fastest.
            let mut k = grid.len();
            loop {
                if k == 0 {
                    break;
                }
                k -= 1;
                idx[k] += 1;
                if idx[k] < grid[k] {
                    break;
                }
                idx[k] = 0;
            }
            if idx.iter().all(|&i| i == 0) {
                break;
            }
        }
    }
    (json!(count), missing)
}

/// What the repair decided for the whole dataset.
struct Verdict {
    status: DatasetStatus,
    extent: Option<u64>,
}

/// Repair an OME-Zarr dataset; returns the report to print.
fn repair_zarr(root: &Path) -> Result<String> {
    let mut images = Vec::new();
    find_images(root, 0, &mut images)?;
    if images.is_empty() {
        bail!(
            "{}: no image group written by ome-writers (attributes.ome_writers) found",
            root.display()
        );
    }
    let unfinished = |img: &ImageGroup| {
        matches!(
            img.doc["attributes"]["ome_writers"]["status"]
                .as_str()
                .and_then(DatasetStatus::parse),
            Some(DatasetStatus::Acquiring | DatasetStatus::Failed)
        )
    };
    if !images.iter().any(unfinished) {
        let status = images[0].doc["attributes"]["ome_writers"]["status"].clone();
        return Ok(format!(
            "nothing to repair: {} has status {status} ({} image(s))",
            root.display(),
            images.len()
        ));
    }
    let schema = recorded_schema(root, &images)?;
    let found = images
        .iter()
        .map(find_on_disk)
        .collect::<Result<Vec<Found>>>()?;
    // What the metadata claims, only ever an upper bound on what is counted.
    let claimed = images
        .iter()
        .map(|img| {
            img.doc["attributes"]["ome_writers"]["frames_written"]
                .as_u64()
                .unwrap_or(0)
        })
        .fold(0u64, u64::saturating_add);
    let (per_image, frames) = frames_on_disk(&schema, &images, &found, root, claimed);
    let complete = schema.num_frames().is_some_and(|n| frames >= n);
    let verdict = Verdict {
        status: if complete {
            DatasetStatus::Complete
        } else {
            DatasetStatus::Partial
        },
        extent: growth_extent(&schema, &found, frames),
    };
    let mut lines = Vec::new();
    let mut stale_removed = 0usize;
    for ((img, f), counted) in images.iter_mut().zip(found).zip(per_image) {
        let (line, stale) = repair_image(root, img, f, counted, &schema, &verdict)?;
        lines.push(line);
        stale_removed += stale;
    }
    let reserve = root.join(RESERVE);
    if fs::symlink_metadata(&reserve).is_ok_and(|m| m.file_type().is_file())
        && fs::remove_file(&reserve).is_ok()
    {
        stale_removed += 1;
    }
    lines.push(format!(
        "repaired {}: status {}, {frames} frame(s) counted from the chunks on disk{}",
        root.display(),
        verdict.status,
        if stale_removed > 0 {
            format!(", {stale_removed} stale temporary file(s) removed")
        } else {
            String::new()
        }
    ));
    Ok(lines.join("\n"))
}

/// Write one image's final metadata; returns its report line and the stale files
/// removed.
fn repair_image(
    root: &Path,
    img: &mut ImageGroup,
    f: Found,
    counted: u64,
    schema: &Schema,
    verdict: &Verdict,
) -> Result<(String, usize)> {
    let old_shape = u64_list(&img.array["shape"], "array shape")?;
    let mut shape = old_shape.clone();
    if let (Some(g), Some(extent)) = (schema.growth_axis(), verdict.extent)
        && let Some(s) = shape.get_mut(g)
    {
        *s = extent;
    }
    let (missing_count, missing) = missing_chunks(&shape, &f);
    if shape != old_shape {
        img.array["shape"] = json!(shape);
        write_json(&img.dir.join("0").join("zarr.json"), &img.array)?;
    }
    let ow = &mut img.doc["attributes"]["ome_writers"];
    let status_before = ow["status"].clone();
    let claimed = ow["frames_written"].clone();
    let mut metadata: Vec<Value> = ow["frame_metadata"].as_array().cloned().unwrap_or_default();
    let from_journal = f.journal.len();
    metadata.extend(f.journal);
    let Some(obj) = ow.as_object_mut() else {
        bail!(
            "{}: attributes.ome_writers is not an object",
            img.dir.display()
        );
    };
    obj.insert("status".to_owned(), json!(verdict.status.as_str()));
    obj.insert("frames_written".to_owned(), json!(counted));
    obj.insert("frame_metadata_count".to_owned(), json!(metadata.len()));
    obj.insert("frame_metadata".to_owned(), Value::Array(metadata));
    obj.remove("frame_metadata_journal");
    let damaged: Vec<Value> = f
        .damaged
        .iter()
        .map(|d| json!({"key": d.key, "reason": d.reason}))
        .collect();
    let record = json!({
        "note": "the writer stopped before finishing (killed, or after a write error); omew \
                 repair set the shape from the chunks on disk (partial-acquisition rule), \
                 counted the frames from the chunks present and undamaged, and folded the \
                 frame-metadata journal; planes never written, including every plane of a \
                 missing or damaged chunk, read as the fill value 0; a damaged chunk is kept \
                 beside its key as .<name>.damaged",
        "by": concat!("omew ", env!("CARGO_PKG_VERSION")),
        "status_before": status_before,
        "frames_durable": claimed,
        "frames_counted": counted,
        "shape_before": old_shape,
        "growth_extent": verdict.extent,
        "chunks_on_disk": f.scan.chunks.len(),
        "missing_chunk_count": missing_count.clone(),
        "missing_chunks": missing,
        "damaged_chunks": damaged,
        "frame_metadata_from_journal": from_journal,
        "journal_lines_unreadable": f.torn_lines,
    });
    obj.insert("repaired".to_owned(), record);
    write_json(&img.dir.join("zarr.json"), &img.doc)?;

    // The journal is folded in; temporary files never were part of the dataset.
    let journal = img.dir.join(JOURNAL);
    if journal.exists() {
        fs::remove_file(&journal).with_context(|| format!("removing {}", journal.display()))?;
    }
    let mut stale_removed = 0;
    for stale in f.scan.stale.iter().chain(&stale_in(&img.dir)) {
        if fs::remove_file(stale).is_ok() {
            stale_removed += 1;
        }
    }
    let name = img.dir.strip_prefix(root).map_or_else(
        |_| img.dir.display().to_string(),
        |p| p.display().to_string(),
    );
    let line = format!(
        "image {name:?}: shape {old_shape:?} -> {shape:?}, {} chunk(s) on disk, \
         {missing_count} missing (read as 0), {} damaged (set aside, read as 0), \
         {counted} frame(s) counted ({claimed} claimed), {from_journal} frame metadata \
         entr(ies) folded from the journal",
        f.scan.chunks.len(),
        f.damaged.len(),
    );
    Ok((line, stale_removed))
}
