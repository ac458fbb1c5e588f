//! Reopening a scratch directory: after finish, after a crash (the files hold every
//! plane written; the manifest may lag, so an unbounded first axis is measured from
//! the files), or one Python wrote.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use ome_writers_backend::{DatasetStatus, FrameMetadata};
use ome_writers_schema::{AcquisitionSettings, DType, Pixel};
use serde_json::{Map, Value};

use crate::ScratchError;
use crate::manifest::ADDED_KEYS;
use crate::names::{FRAME_METADATA, MANIFEST, RECORD_KEY, position_file, read_manifest};

/// Longest `frame_metadata.jsonl` line read back.
const MAX_LINE_BYTES: u64 = 1 << 20;

/// A scratch dataset read back from its directory.
#[derive(Clone, Debug)]
pub struct ScratchDataset {
    dir: PathBuf,
    settings: AcquisitionSettings,
    dtype: DType,
    shapes: Vec<Vec<u64>>,
    status: Option<DatasetStatus>,
    frames_written: Option<u64>,
    frame_metadata: Vec<FrameMetadata>,
    torn_lines: usize,
    global_metadata: Map<String, Value>,
    manifest: Value,
}

/// Open the scratch dataset in `dir`: its manifest, its frame metadata and the sizes of
/// its array files are checked; the pixels are read on demand ([`ScratchDataset::array`]).
/// A directory that is not a scratch dataset is refused ([`ScratchError::NotScratch`]).
pub fn open(dir: impl AsRef<Path>) -> Result<ScratchDataset, ScratchError> {
    let dir = dir.as_ref();
    let manifest = read_manifest(dir).map_err(|r| ScratchError::not_scratch(dir, r))?;
    let bad = |reason: String| ScratchError::not_scratch(dir.join(MANIFEST), reason);
    let mut settings_doc = manifest.clone();
    let Some(m) = settings_doc.as_object_mut() else {
        return Err(bad("not a JSON object".into()));
    };
    for k in ADDED_KEYS {
        m.remove(k);
    }
    // Python writes its settings with exclude_unset: `"format": {}` (or none at all)
    // is its ScratchFormat() at defaults.
    match m.get_mut("format") {
        None => {
            m.insert("format".into(), Value::from("scratch"));
        }
        Some(Value::Object(f)) if !f.contains_key("name") => {
            f.insert("name".into(), Value::from("scratch"));
        }
        Some(f) if f["name"] == "scratch" || *f == "scratch" => {}
        Some(f) => return Err(bad(format!("its format is {f}, not scratch"))),
    }
    let settings = AcquisitionSettings::from_json(&settings_doc.to_string())
        .map_err(|e| bad(format!("its settings do not read: {e}")))?;
    let dtype = settings.dtype;
    let mut shapes: Vec<Vec<u64>> = serde_json::from_value(manifest["position_shapes"].clone())
        .map_err(|e| bad(format!("position_shapes: {e}")))?;
    if shapes.is_empty() || shapes.iter().any(|s| s.len() < 2) {
        return Err(bad(
            "position_shapes must list one shape of 2 or more axes per position".into(),
        ));
    }
    let record = &manifest[RECORD_KEY];
    let status = record["status"].as_str().and_then(DatasetStatus::parse);
    // Only a writer that did not finish leaves its manifest behind its files (Python's
    // files may be longer than their shapes: it grows them by half).
    let measure = status == Some(DatasetStatus::Acquiring)
        && settings
            .dimensions
            .first()
            .is_some_and(|d| d.count.is_none())
        && shapes.iter().all(|s| s.len() > 2);
    for (p, shape) in shapes.iter_mut().enumerate() {
        check_file(dir, p, shape, dtype, measure)?;
    }
    let (frame_metadata, torn_lines) = read_frame_metadata(dir)?;
    let global_metadata = manifest["global_metadata"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    Ok(ScratchDataset {
        dir: dir.to_owned(),
        settings,
        dtype,
        shapes,
        status,
        frames_written: record["frames_written"].as_u64(),
        frame_metadata,
        torn_lines,
        global_metadata,
        manifest,
    })
}

/// The file of position `p` holds at least its shape; an unbounded first axis takes
/// every whole row the file holds (a crash leaves the manifest behind the files).
fn check_file(
    dir: &Path,
    p: usize,
    shape: &mut [u64],
    dtype: DType,
    unbounded: bool,
) -> Result<(), ScratchError> {
    let path = dir.join(position_file(p));
    let meta = std::fs::symlink_metadata(&path).map_err(|e| ScratchError::io(&path, e))?;
    if !meta.is_file() {
        return Err(ScratchError::not_scratch(&path, "not a regular file"));
    }
    let elems = shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
    let row: u64 = shape.iter().skip(1).product::<u64>() * dtype.size() as u64;
    let need = elems.and_then(|e| e.checked_mul(dtype.size() as u64));
    match need {
        Some(n) if n <= meta.len() => {
            if unbounded && row > 0 {
                shape[0] = shape[0].max(meta.len() / row);
            }
            Ok(())
        }
        _ => Err(ScratchError::not_scratch(
            &path,
            format!(
                "holds {} bytes, but its shape {shape:?} of {dtype} needs {need:?}",
                meta.len()
            ),
        )),
    }
}

/// Every whole line of the frame metadata (a line cut by a crash is counted, not read).
fn read_frame_metadata(dir: &Path) -> Result<(Vec<FrameMetadata>, usize), ScratchError> {
    let path = dir.join(FRAME_METADATA);
    let f = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(ScratchError::io(&path, e)),
    };
    let mut reader = BufReader::new(f);
    let (mut lines, mut torn) = (Vec::new(), 0);
    loop {
        let mut line = Vec::new();
        let n = std::io::Read::take(&mut reader, MAX_LINE_BYTES)
            .read_until(b'\n', &mut line)
            .map_err(|e| ScratchError::io(&path, e))?;
        if n == 0 {
            break;
        }
        match serde_json::from_slice::<FrameMetadata>(&line) {
            Ok(m) if line.ends_with(b"\n") => lines.push(m),
            _ => torn += 1,
        }
    }
    Ok((lines, torn))
}

impl ScratchDataset {
    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// The settings it was written with.
    pub fn settings(&self) -> &AcquisitionSettings {
        &self.settings
    }
    /// The pixel type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }
    /// Number of positions (arrays).
    pub fn positions(&self) -> usize {
        self.shapes.len()
    }
    /// Each position's shape, storage order, Y and X last.
    pub fn shapes(&self) -> &[Vec<u64>] {
        &self.shapes
    }
    /// The recorded status (`acquiring` after a crash); `None` for a dataset Python wrote.
    pub fn status(&self) -> Option<DatasetStatus> {
        self.status
    }
    /// Frames written as of the last manifest (`None`: not recorded, Python's).
    pub fn frames_written(&self) -> Option<u64> {
        self.frames_written
    }
    /// The frame metadata lines, in arrival order (each with `_pos` and `_idx`).
    pub fn frame_metadata(&self) -> &[FrameMetadata] {
        &self.frame_metadata
    }
    /// Lines of the frame metadata that were cut short (by a crash) or not JSON.
    pub fn torn_lines(&self) -> usize {
        self.torn_lines
    }
    /// The global metadata, by namespace.
    pub fn global_metadata(&self) -> &Map<String, Value> {
        &self.global_metadata
    }
    /// The whole manifest as read.
    pub fn manifest(&self) -> &Value {
        &self.manifest
    }

    /// Position `position`'s array, read into memory (an owned `ndarray`).
    pub fn array<T: Pixel>(&self, position: usize) -> Result<ndarray::ArrayD<T>, ScratchError> {
        if T::DTYPE != self.dtype {
            return Err(ScratchError::DType {
                requested: T::DTYPE,
                actual: self.dtype,
            });
        }
        let shape = self.shapes.get(position).ok_or(ScratchError::Position {
            position,
            positions: self.shapes.len(),
        })?;
        let len = shape.iter().product::<u64>() as usize;
        let mut data = vec![T::zeroed(); len];
        let path = self.dir.join(position_file(position));
        let f = File::open(&path).map_err(|e| ScratchError::io(&path, e))?;
        f.read_exact_at(bytemuck::cast_slice_mut(&mut data), 0)
            .map_err(|e| ScratchError::io(&path, e))?;
        let dims: Vec<usize> = shape.iter().map(|&d| d as usize).collect();
        ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&dims), data)
            .map_err(|e| ScratchError::not_scratch(&path, format!("shape {shape:?}: {e}")))
    }
}
