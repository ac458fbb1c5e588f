//! `omew repair PATH`: finish a dataset whose writer was killed.
//!
//! A killed writer leaves a dataset that already opens (the metadata of its last
//! durability point, see docs/layouts.md), but with the status `acquiring`, a shape that
//! may not cover chunks written after that point, and per-frame metadata still in the
//! journal. Repair writes the final metadata from what is on disk, by the
//! partial-acquisition rule, and never rewrites a chunk or a page:
//!
//! - **OME-Zarr**: the chunks (or shards) on disk are listed; each array's growth axis
//!   is set to cover the last one (clamped to the declared count), every image getting
//!   the same extent as at finish; the journal is folded into `frame_metadata`; the
//!   status becomes `partial` (`complete` if every declared frame was durable) with a
//!   `repaired` record naming the chunks missing inside the new shape (they read as 0).
//!   Every `zarr.json` is replaced atomically, array before group. Stale temporary
//!   files (`.*.partial`, `.*.tmp`) are removed.
//! - **OME-TIFF**: [`ome_writers_tiff::recover`]: zero planes are appended up to the
//!   rule's shape and the final OME-XML written as `finalize` writes it, with a record of
//!   the planes that are padding.
//!
//! A dataset whose status is not `acquiring` (finished, or already repaired) is left
//! untouched, so repair is idempotent.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use ome_writers_backend::write_atomic;
use ome_writers_schema::AcquisitionSettings;
use serde_json::{Map, Value, json};

/// Name of the per-frame metadata journal in an image group (see docs/layouts.md).
const JOURNAL: &str = "ome_writers_frames.jsonl";
/// Most missing chunk keys listed by name in the `repaired` record.
const LIST_MISSING: usize = 100;
/// Chunk grids larger than this are not enumerated for missing chunks.
const MAX_ENUMERATED: u128 = 1 << 20;
/// Deepest group nesting searched for image groups (plates are 3 deep).
const MAX_DEPTH: usize = 8;

/// Repair the dataset at `path` and print what was done.
pub(crate) fn run(path: &Path) -> Result<()> {
    let meta = fs::metadata(path).with_context(|| format!("{}", path.display()))?;
    if meta.is_dir() && path.join("zarr.json").is_file() {
        let report = repair_zarr(path)?;
        println!("{report}");
        return Ok(());
    }
    if meta.is_dir() && !path.join("zarr.json").exists() && holds_nothing(path) {
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
            "{}: {} pages found, {} described before, {} zero planes appended",
            f.path.display(),
            f.pages_found,
            f.planes_described
                .map_or_else(|| "final".to_owned(), |n| n.to_string()),
            f.zero_planes_appended
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

fn read_json(path: &Path) -> Result<Value> {
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
        .filter(|p| p.join("zarr.json").is_file())
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

/// What the array directory holds: chunk indices found, and stale temporary files.
struct ChunkScan {
    chunks: BTreeSet<Vec<u64>>,
    stale: Vec<PathBuf>,
}

fn scan_chunks(array_dir: &Path, enc: &KeyEncoding, ndim: usize) -> Result<ChunkScan> {
    let mut scan = ChunkScan {
        chunks: BTreeSet::new(),
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
                scan.stale.push(entry.path());
            } else if let Some(idx) = enc.parse(&child, ndim) {
                scan.chunks.insert(idx);
            }
        }
    }
    Ok(scan)
}

/// Stale temporary files directly in a group directory (`.zarr.json.tmp`).
fn stale_in(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    n.starts_with('.') && (n.ends_with(".tmp") || n.ends_with(".partial"))
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
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
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
    let acquiring = images
        .iter()
        .any(|img| img.doc["attributes"]["ome_writers"]["status"] == "acquiring");
    if !acquiring {
        let status = images[0].doc["attributes"]["ome_writers"]["status"].clone();
        return Ok(format!(
            "nothing to repair: {} has status {status} ({} image(s))",
            root.display(),
            images.len()
        ));
    }
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
    let schema = settings
        .validate()
        .context("the recorded settings (attributes.ome_writers.settings) are not valid")?;
    let growth = schema.growth_axis();
    let declared = schema.array_shape(None);
    let unbounded = growth.is_some_and(|g| {
        schema
            .array_dims()
            .nth(g)
            .is_some_and(|d| d.count().is_none())
    });

    // What is on disk, per image.
    let mut found = Vec::with_capacity(images.len());
    let mut extent = 0u64;
    for img in &images {
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
        let scan = scan_chunks(&img.dir.join("0"), &enc, shape.len())?;
        let (journal, torn_lines) = read_journal(&img.dir)?;
        if let Some(g) = growth {
            for idx in &scan.chunks {
                extent = extent.max((idx[g] + 1).saturating_mul(chunk_shape[g]));
            }
            for entry in &journal {
                if let Some(i) = entry["storage_index"].get(g).and_then(Value::as_u64) {
                    extent = extent.max(i + 1);
                }
            }
        }
        found.push(Found {
            scan,
            enc,
            chunk_shape,
            journal,
            torn_lines,
        });
    }
    if let Some(g) = growth
        && !unbounded
    {
        extent = extent.min(declared[g]);
    }

    let frames_durable: u64 = images
        .iter()
        .map(|img| {
            img.doc["attributes"]["ome_writers"]["frames_written"]
                .as_u64()
                .unwrap_or(0)
        })
        .sum();
    let complete = schema.num_frames().is_some_and(|n| frames_durable >= n);
    let status = if complete { "complete" } else { "partial" };
    let mut lines = Vec::new();
    let mut stale_removed = 0usize;
    for (img, f) in images.iter_mut().zip(found) {
        let old_shape = u64_list(&img.array["shape"], "array shape")?;
        let mut shape = old_shape.clone();
        if let Some(g) = growth {
            shape[g] = extent;
        }
        // Chunks inside the new shape that are not on disk read as the fill value.
        let grid: Vec<u64> = shape
            .iter()
            .zip(&f.chunk_shape)
            .map(|(s, c)| s.div_ceil(*c))
            .collect();
        let cells: u128 = grid.iter().map(|&n| u128::from(n)).product();
        let (missing_count, missing): (Value, Vec<String>) = if cells <= MAX_ENUMERATED {
            let mut missing = Vec::new();
            let mut count = 0u64;
            let mut idx = vec![0u64; grid.len()];
            if cells > 0 {
                loop {
                    if !f.scan.chunks.contains(&idx) {
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
        } else {
            (json!("not counted (grid too large)"), Vec::new())
        };

        if shape != old_shape {
            img.array["shape"] = json!(shape);
            write_json(&img.dir.join("0").join("zarr.json"), &img.array)?;
        }
        let ow = &mut img.doc["attributes"]["ome_writers"];
        let frames_written = ow["frames_written"].as_u64().unwrap_or(0);
        let mut metadata: Vec<Value> = ow["frame_metadata"].as_array().cloned().unwrap_or_default();
        let from_journal = f.journal.len();
        metadata.extend(f.journal);
        let Some(obj) = ow.as_object_mut() else {
            bail!(
                "{}: attributes.ome_writers is not an object",
                img.dir.display()
            );
        };
        obj.insert("status".to_owned(), json!(status));
        obj.insert("frame_metadata_count".to_owned(), json!(metadata.len()));
        obj.insert("frame_metadata".to_owned(), Value::Array(metadata));
        obj.remove("frame_metadata_journal");
        let mut record = Map::new();
        record.insert(
            "note".to_owned(),
            json!(
                "the writer stopped before finishing; omew repair set the shape from the \
                 chunks on disk (partial-acquisition rule) and folded the frame-metadata \
                 journal; planes never written, including every plane of a missing chunk, \
                 read as the fill value 0"
            ),
        );
        record.insert(
            "by".to_owned(),
            json!(concat!("omew ", env!("CARGO_PKG_VERSION"))),
        );
        record.insert("frames_durable".to_owned(), json!(frames_written));
        record.insert("shape_before".to_owned(), json!(old_shape));
        record.insert("growth_extent".to_owned(), json!(growth.map(|_| extent)));
        record.insert("chunks_on_disk".to_owned(), json!(f.scan.chunks.len()));
        record.insert("missing_chunk_count".to_owned(), missing_count.clone());
        record.insert("missing_chunks".to_owned(), json!(missing));
        record.insert(
            "frame_metadata_from_journal".to_owned(),
            json!(from_journal),
        );
        record.insert("journal_lines_unreadable".to_owned(), json!(f.torn_lines));
        obj.insert("repaired".to_owned(), Value::Object(record));
        write_json(&img.dir.join("zarr.json"), &img.doc)?;

        // The journal is folded in; temporary files never were part of the dataset.
        let journal = img.dir.join(JOURNAL);
        if journal.exists() {
            fs::remove_file(&journal).with_context(|| format!("removing {}", journal.display()))?;
        }
        for stale in f.scan.stale.iter().chain(&stale_in(&img.dir)) {
            if fs::remove_file(stale).is_ok() {
                stale_removed += 1;
            }
        }
        let name = img.dir.strip_prefix(root).map_or_else(
            |_| img.dir.display().to_string(),
            |p| p.display().to_string(),
        );
        lines.push(format!(
            "image {:?}: shape {old_shape:?} -> {shape:?}, {} chunk(s) on disk, {missing_count} \
             missing (read as 0), {frames_written} frame(s) durable, {from_journal} frame \
             metadata entr(ies) folded from the journal",
            name,
            f.scan.chunks.len(),
        ));
    }
    lines.push(format!(
        "repaired {}: status {status}{}",
        root.display(),
        if stale_removed > 0 {
            format!(", {stale_removed} stale temporary file(s) removed")
        } else {
            String::new()
        }
    ));
    Ok(lines.join("\n"))
}
