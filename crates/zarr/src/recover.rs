//! Finishing an OME-Zarr dataset whose writer was killed, or stopped by a write error:
//! [`recover`].
//!
//! A killed writer leaves a dataset that already opens (the metadata of its last
//! durability point, see docs/layouts.md), but with the status `acquiring`, a shape that
//! may not cover chunks written after that point, and per-frame metadata still in the
//! journal; a writer stopped by a write error (a full disk) leaves the status `failed`.
//! Recovery writes the final metadata from what is on disk, by the partial-acquisition
//! rule, and never rewrites a chunk:
//!
//! The chunks (or shards) on disk are listed, each checked against the array's metadata
//! (its size when uncompressed, decoding when compressed); a damaged one is set aside as
//! `.<name>.damaged` beside its key (kept, never deleted) and counts as missing. Nothing
//! but a regular file is opened: a FIFO, device or symbolic link where a chunk, a
//! `zarr.json` or the journal is expected is refused (its type read from the directory,
//! never by opening it). The frames are counted from the chunks present: the longest
//! prefix, in acquisition order and at most the declared count, whose every chunk is
//! present and undamaged; where a chunk holds several planes (a durability point may
//! have stored it incomplete) no more than the metadata's `frames_written`, which is
//! otherwise never trusted. Each array's growth axis is set to cover the last chunk on
//! disk (clamped to the declared count; an unbounded axis no further than the growth
//! unit of the first frame not counted), every image getting the same extent as at
//! finish; the journal is folded into `frame_metadata`; `frames_written` becomes the
//! count from disk; the status becomes `partial` (`complete` if every declared frame was
//! counted) with a `repaired` record (the status and claim before, missing and damaged
//! chunks by name). Every `zarr.json` is replaced atomically, array before group. Stale
//! temporary files (`.*.partial`, `.*.tmp`, the writer's `.ome_writers.reserve`) are
//! removed. The settings are read from the root group (or, for datasets of earlier
//! versions, the first image group).
//!
//! A dataset whose status is neither `acquiring` nor `failed` (finished, or already
//! recovered) is left untouched, so recovering twice changes nothing. The caller holds
//! the output's lock ([`ome_writers_backend::lock_output`]).

mod count;
mod error;
mod record;
mod report;
mod scan;

use std::fs;
use std::path::Path;

use ome_writers_backend::DatasetStatus;
use ome_writers_schema::{AcquisitionSettings, FrameOrder, Schema};
use serde_json::{Value, json};

pub use error::RecoverError;
pub use report::{DamagedChunk, ImageRecovery, MissingChunks, NothingToRepair, RecoveryReport};

use crate::JOURNAL;
use crate::names::{REPAIRED_KEY, RESERVE, ZARR_JSON, is_temporary_name};
use record::RepairedRecord;
use scan::{ChunkScan, ImageGroup, KeyEncoding};

type Result<T, E = RecoverError> = std::result::Result<T, E>;

/// Whether [`recover`] is the recovery for `path`: a directory with a root `zarr.json`
/// entry (of any type: recovery refuses one that is not a regular file, unopened), or
/// one that holds no data at all (a writer killed while creating the dataset).
#[must_use]
pub fn recover_applies(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_dir())
        && (fs::symlink_metadata(path.join(ZARR_JSON)).is_ok() || holds_nothing(path))
}

/// Where frames go, for the schema a dataset recorded: recovery counts frames in
/// acquisition order, which only the router knows (`ome_writers::recover_zarr` passes
/// it: `&|schema| Box::new(FrameRouter::new(schema))`).
pub type OrderOf<'a> = &'a dyn Fn(&Schema) -> Box<dyn FrameOrder>;

/// Finish the OME-Zarr dataset at `path` from what is on disk (see the module docs);
/// a dataset already finished, or a directory that holds no data, is left untouched.
/// `order` gives the acquisition order of the recorded schema.
///
/// # Errors
/// A metadata document, chunk or journal that cannot be read (or is not a regular
/// file), metadata this library did not write, settings that do not validate, or a
/// document that cannot be replaced.
pub fn recover(path: &Path, order: OrderOf<'_>) -> Result<RecoveryReport> {
    if fs::symlink_metadata(path.join(ZARR_JSON)).is_err()
        && fs::metadata(path).is_ok_and(|m| m.is_dir())
        && holds_nothing(path)
    {
        return Ok(RecoveryReport::unchanged(
            path.to_owned(),
            NothingToRepair::NothingWritten,
        ));
    }
    let mut images = Vec::new();
    scan::find_images(path, 0, &mut images)?;
    if images.is_empty() {
        return Err(RecoverError::NoImage {
            path: path.to_owned(),
        });
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
        let status = images[0].doc["attributes"]["ome_writers"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let why = NothingToRepair::Finished {
            status,
            images: images.len(),
        };
        return Ok(RecoveryReport::unchanged(path.to_owned(), why));
    }
    finish(path, images, order)
}

/// Whether a directory holds no data: no file but stale temporaries (`.*.tmp`,
/// `.*.partial`, the reserve) and metadata (`zarr.json`: a writer killed while creating
/// the dataset, before its root `zarr.json`), in any subdirectory.
fn holds_nothing(dir: &Path) -> bool {
    let Ok(entries) = fs::read_dir(dir) else {
        return false;
    };
    entries.filter_map(Result::ok).all(|e| {
        let name = e.file_name().to_string_lossy().into_owned();
        match e.file_type() {
            Ok(t) if t.is_dir() => holds_nothing(&e.path()),
            Ok(_) => name == ZARR_JSON || name == RESERVE || is_temporary_name(&name),
            Err(_) => false,
        }
    })
}

/// What is on disk for one image.
struct Found {
    scan: ChunkScan,
    enc: KeyEncoding,
    shape: Vec<u64>,
    chunk_shape: Vec<u64>,
    journal: Vec<Value>,
    torn_lines: usize,
    damaged: Vec<DamagedChunk>,
}

/// What the recovery decided for the whole dataset.
struct Verdict {
    status: DatasetStatus,
    extent: Option<u64>,
}

/// Recover a dataset with at least one unfinished image.
fn finish(root: &Path, mut images: Vec<ImageGroup>, order: OrderOf<'_>) -> Result<RecoveryReport> {
    let schema = recorded_schema(root, &images)?;
    let order = order(&schema);
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
    let (per_image, frames) =
        count::frames_on_disk(&schema, &*order, &images, &found, root, claimed);
    let complete = schema.num_frames().is_some_and(|n| frames >= n);
    let verdict = Verdict {
        status: if complete {
            DatasetStatus::Complete
        } else {
            DatasetStatus::Partial
        },
        extent: count::growth_extent(&schema, &*order, &found, frames),
    };
    let mut report = RecoveryReport {
        root: root.to_owned(),
        nothing_to_repair: None,
        status: Some(verdict.status),
        frames_counted: frames,
        growth_extent: verdict.extent,
        images: Vec::with_capacity(images.len()),
        reserve_removed: false,
    };
    // The levels first: were this interrupted, the status is still unfinished and a
    // second repair rebuilds them again.
    if schema.pyramid().is_pyramid() {
        crate::pyramid::rebuild_levels(root, &schema, &*order, verdict.extent, frames).map_err(
            |e| RecoverError::Levels {
                path: root.to_owned(),
                source: Box::new(e),
            },
        )?;
    }
    for ((img, f), counted) in images.iter_mut().zip(found).zip(per_image) {
        report
            .images
            .push(finish_image(root, img, f, counted, &schema, &verdict)?);
    }
    let reserve = root.join(RESERVE);
    report.reserve_removed = fs::symlink_metadata(&reserve).is_ok_and(|m| m.file_type().is_file())
        && fs::remove_file(&reserve).is_ok();
    Ok(report)
}

/// The recorded settings, validated, with the dataset's actual path.
fn recorded_schema(root: &Path, images: &[ImageGroup]) -> Result<Schema> {
    // The settings are in the root group (this version), or in every image group
    // (datasets written by earlier versions).
    let top = scan::read_json(&root.join(ZARR_JSON))?;
    let settings_json = [&top, &images[0].doc]
        .into_iter()
        .map(|doc| &doc["attributes"]["ome_writers"]["settings"])
        .find(|s| s.is_object())
        .ok_or_else(|| RecoverError::NoSettings {
            path: root.to_owned(),
            image: images[0].dir.clone(),
        })?;
    let settings_error = |problem| {
        move |source| RecoverError::Settings {
            path: root.to_owned(),
            problem,
            source,
        }
    };
    let mut settings = AcquisitionSettings::from_json(&settings_json.to_string())
        .map_err(settings_error("do not parse"))?;
    settings.root_path = root.to_string_lossy().into_owned();
    settings.validate().map_err(settings_error("are not valid"))
}

/// Scan, check and read what is on disk for one image.
fn find_on_disk(img: &ImageGroup) -> Result<Found> {
    let array_path = img.dir.join("0").join(ZARR_JSON);
    let shape = scan::u64_list(&img.array["shape"], "array shape", &array_path)?;
    let chunk_shape = scan::u64_list(
        &img.array["chunk_grid"]["configuration"]["chunk_shape"],
        "chunk_grid.configuration.chunk_shape",
        &array_path,
    )?;
    if chunk_shape.len() != shape.len() || chunk_shape.contains(&0) {
        return Err(RecoverError::metadata(
            &img.dir,
            format!("chunk shape {chunk_shape:?} does not fit array shape {shape:?}"),
        ));
    }
    scan::check_chunk_sizes(&img.array, &array_path)?;
    let enc = KeyEncoding::of(&img.array, &array_path)?;
    let mut scan = scan::scan_chunks(&img.dir.join("0"), &enc, shape.len())?;
    let damaged = scan::set_aside_damaged(&img.array, &array_path, &enc, &mut scan)?;
    let (journal, torn_lines) = scan::read_journal(&img.dir)?;
    Ok(Found {
        scan,
        enc,
        shape,
        chunk_shape,
        journal,
        torn_lines,
        damaged,
    })
}

/// Write one image's final metadata, fold its journal and remove its stale files.
fn finish_image(
    root: &Path,
    img: &mut ImageGroup,
    f: Found,
    counted: u64,
    schema: &Schema,
    verdict: &Verdict,
) -> Result<ImageRecovery> {
    let old_shape = f.shape.clone();
    let mut shape = old_shape.clone();
    if let (Some(g), Some(extent)) = (schema.growth_axis(), verdict.extent)
        && let Some(s) = shape.get_mut(g)
    {
        *s = extent;
    }
    let (chunks_missing, missing_keys) = count::missing_chunks(&shape, &f);
    if shape != old_shape {
        img.array["shape"] = json!(shape);
        scan::write_json(&img.dir.join("0").join(ZARR_JSON), &img.array)?;
    }
    let group_path = img.dir.join(ZARR_JSON);
    let ow = &mut img.doc["attributes"]["ome_writers"];
    let status_before = ow["status"].clone();
    let claimed = ow["frames_written"].clone();
    let mut metadata: Vec<Value> = ow["frame_metadata"].as_array().cloned().unwrap_or_default();
    let from_journal = f.journal.len();
    metadata.extend(f.journal);
    let Some(obj) = ow.as_object_mut() else {
        return Err(RecoverError::metadata(
            &img.dir,
            "attributes.ome_writers is not an object",
        ));
    };
    let mut image = ImageRecovery {
        name: img.dir.strip_prefix(root).map_or_else(
            |_| img.dir.display().to_string(),
            |p| p.display().to_string(),
        ),
        status_before: status_before.as_str().and_then(DatasetStatus::parse),
        status_after: verdict.status,
        frames_claimed: claimed.as_u64(),
        frames_counted: counted,
        shape_before: old_shape,
        shape_after: shape,
        chunks_on_disk: f.scan.chunks.len(),
        chunks_missing,
        missing_keys,
        damaged: f.damaged,
        journal_entries_folded: from_journal,
        journal_lines_unreadable: f.torn_lines,
        stale_files_removed: 0,
    };
    obj.insert("status".to_owned(), json!(verdict.status.as_str()));
    obj.insert("frames_written".to_owned(), json!(counted));
    obj.insert("frame_metadata_count".to_owned(), json!(metadata.len()));
    obj.insert("frame_metadata".to_owned(), Value::Array(metadata));
    obj.remove("frame_metadata_journal");
    let record = RepairedRecord::new(&image, &status_before, &claimed, verdict.extent);
    let record = serde_json::to_value(record).map_err(|source| RecoverError::Json {
        path: group_path.clone(),
        source,
    })?;
    obj.insert(REPAIRED_KEY.to_owned(), record);
    scan::write_json(&group_path, &img.doc)?;

    // The journal is folded in; temporary files never were part of the dataset.
    let journal = img.dir.join(JOURNAL);
    if journal.exists() {
        fs::remove_file(&journal).map_err(RecoverError::io("removing ", &journal))?;
    }
    for stale in f.scan.stale.iter().chain(&scan::stale_in(&img.dir)) {
        if fs::remove_file(stale).is_ok() {
            image.stale_files_removed += 1;
        }
    }
    Ok(image)
}
