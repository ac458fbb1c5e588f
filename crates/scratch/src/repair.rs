//! `omew repair` for a scratch directory left by a killed writer: the manifest is
//! rewritten from what is on disk; no pixel is touched.

use std::path::{Path, PathBuf};

use ome_writers_backend::{DatasetStatus, GlobalMetadata};
use serde_json::json;

use crate::ScratchError;
use crate::manifest::{self, Record};
use crate::names::{RECORD_KEY, WRITER, position_file};
use crate::open::open;

/// What [`repair`] did.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RepairReport {
    /// The directory.
    pub dir: PathBuf,
    /// The status recorded before.
    pub before: DatasetStatus,
    /// The status recorded now (`partial`, or `failed` kept).
    pub after: DatasetStatus,
    /// Frames recorded: the last manifest's count, or the frame metadata lines when
    /// more (each frame appended with metadata has one).
    pub frames_written: u64,
    /// Each position's shape now.
    pub shapes: Vec<Vec<u64>>,
    /// Frame metadata lines cut by the crash (kept in the file, not counted).
    pub torn_lines: usize,
}

impl std::fmt::Display for RepairReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: scratch dataset {} -> {}, {} frame(s) recorded, shape {:?}",
            self.dir.display(),
            self.before,
            self.after,
            self.frames_written,
            self.shapes.first().cloned().unwrap_or_default()
        )?;
        if self.torn_lines > 0 {
            write!(
                f,
                ", {} torn frame metadata line(s) ignored",
                self.torn_lines
            )?;
        }
        Ok(())
    }
}

/// Finish a scratch dataset a writer left `acquiring` (or `failed`): shapes from the
/// files (an unbounded first axis takes every whole row the longest file holds; the
/// other files are extended to it, their missing planes reading as 0), status `partial` (a
/// `failed` one stays `failed`), and a `repaired` record. The caller holds the
/// output's lock. A finished dataset is left alone ([`ScratchError::Finished`]).
pub fn repair(dir: impl AsRef<Path>) -> Result<RepairReport, ScratchError> {
    let dir = dir.as_ref();
    let ds = open(dir)?;
    if ds.manifest()[RECORD_KEY]["writer"] != WRITER {
        return Err(ScratchError::not_scratch(
            dir,
            "it was not written by ome-writers-rs",
        ));
    }
    let before = ds
        .status()
        .ok_or_else(|| ScratchError::not_scratch(dir, "no status recorded"))?;
    let after = match before {
        DatasetStatus::Acquiring => DatasetStatus::Partial,
        DatasetStatus::Failed => DatasetStatus::Failed,
        other => {
            return Err(ScratchError::Finished {
                path: dir.to_owned(),
                status: other.to_string(),
            });
        }
    };
    // Every position the same shape: the longest first axis.
    let mut shape = ds.shapes().first().cloned().unwrap_or_default();
    let rows = ds
        .shapes()
        .iter()
        .filter_map(|s| s.first().copied())
        .max()
        .unwrap_or(0);
    if shape.len() > 2
        && let Some(first) = shape.first_mut()
    {
        *first = rows;
    }
    let bytes = shape.iter().product::<u64>() * ds.dtype().size() as u64;
    for p in 0..ds.positions() {
        let path = dir.join(position_file(p));
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(|e| ScratchError::io(&path, e))?;
        let len = f.metadata().map_err(|e| ScratchError::io(&path, e))?.len();
        if len < bytes {
            f.set_len(bytes).map_err(|e| ScratchError::io(&path, e))?;
        }
        f.sync_all().map_err(|e| ScratchError::io(&path, e))?;
    }
    let frames_written = ds
        .frames_written()
        .unwrap_or(0)
        .max(ds.frame_metadata().len() as u64);
    let mut global = GlobalMetadata::default();
    for (k, v) in ds.global_metadata() {
        global.set(k, v.clone());
    }
    let axes = ds.manifest()[RECORD_KEY]["storage_axes"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let record = Record {
        shapes: vec![shape; ds.positions()],
        axes,
        global: &global,
        status: after,
        frames_written,
        frame_metadata_count: ds.frame_metadata().len() as u64,
        repaired: Some(json!({"from": before.as_str(), "torn_lines": ds.torn_lines()})),
    };
    manifest::write(dir, &manifest::document(ds.settings(), &record)).map_err(|e| {
        ScratchError::not_scratch(dir, format!("the manifest could not be replaced: {e}"))
    })?;
    Ok(RepairReport {
        dir: dir.to_owned(),
        before,
        after,
        frames_written,
        shapes: record.shapes,
        torn_lines: ds.torn_lines(),
    })
}
