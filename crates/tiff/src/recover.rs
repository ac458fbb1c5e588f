//! Finishing an OME-TIFF dataset whose writer was killed: [`recover`].
//!
//! A killed writer leaves files that are valid BigTIFFs whose first IFD holds a
//! provisional OME-XML describing the complete block of planes written first (see the
//! crate docs). Pages written after that block are whole but not described. `recover`
//! reads the pages on disk, rebuilds the plan from the settings that the first file's
//! provisional document records, appends zero planes up to the partial-acquisition
//! rule's shape and writes the final OME-XML exactly as `finalize` does, folding in the
//! per-frame metadata journal beside each file. Pages already on disk are never
//! rewritten. A file whose tail was lost (an IFD, its strip or IFD 0's description
//! partly past the end, or zeroed, as a power cut or an interrupted copy leaves it) is
//! cut back to its last whole page first; a torn description is replaced by the
//! provisional one its slot still holds. A dataset whose final metadata says `failed`
//! is finished again from what is on disk. A dataset whose files are all final (and not
//! failed) is left alone, so recovering twice changes nothing.

use std::path::{Path, PathBuf};

use ome_writers_backend::{BackendError, DatasetStatus, GlobalMetadata};
use ome_writers_schema::{AcquisitionSettings, ome_stem_suffix};
use serde::Deserialize;

use crate::backend::TiffBackend;
use crate::bigtiff::TiffWriter;
use crate::ome::global;
use crate::ome::{RECORD_NS, SETTINGS_KEY, STATUS_ACQUIRING, STATUS_KEY};
use crate::plan::{Mode, OME_INT_MAX, Plan};

/// What [`recover`] found in, and did to, one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveredFile {
    /// The file.
    pub path: PathBuf,
    /// Whole pages (IFDs) found in it.
    pub pages_found: u64,
    /// Planes its provisional OME-XML described; `None` when it was already final.
    pub planes_described: Option<u64>,
    /// Zero planes appended to complete the image's shape.
    pub zero_planes_appended: u64,
    /// Bytes cut from its end: a torn tail (an IFD, its strip or the description
    /// partly past the end of the file, as a crash or an interrupted copy leaves it),
    /// cut back to the last whole page.
    pub torn_bytes_cut: u64,
}

/// What [`recover`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovery {
    /// Every file was already final: nothing was changed.
    pub already_final: bool,
    /// No file holds a page (the writer was killed before its first frame): there is
    /// nothing to recover, and nothing was changed.
    pub nothing_written: bool,
    /// One entry per position's file.
    pub files: Vec<RecoveredFile>,
    /// Storage-order shape of the largest image afterwards (Y, X included); empty when
    /// nothing was changed.
    pub shape: Vec<u64>,
}

/// The few parts of an OME-XML document that recovery needs.
#[derive(Deserialize)]
pub(crate) struct OmeIn {
    #[serde(rename = "@UUID", default)]
    uuid: String,
    #[serde(rename = "Image", default)]
    images: Vec<ImageIn>,
    #[serde(rename = "StructuredAnnotations", default)]
    annotations: Option<AnnotationsIn>,
    #[serde(rename = "BinaryOnly", default)]
    pub(crate) binary_only: Option<BinaryOnlyIn>,
}

#[derive(Deserialize)]
pub(crate) struct BinaryOnlyIn {
    #[serde(rename = "@MetadataFile", default)]
    pub(crate) metadata_file: String,
}

#[derive(Deserialize)]
struct ImageIn {
    #[serde(rename = "Pixels")]
    pixels: PixelsIn,
}

#[derive(Deserialize)]
struct PixelsIn {
    #[serde(rename = "TiffData", default)]
    tiff_data: Vec<TiffDataIn>,
}

#[derive(Deserialize)]
struct TiffDataIn {
    #[serde(rename = "@PlaneCount", default)]
    plane_count: u64,
}

#[derive(Deserialize)]
struct AnnotationsIn {
    #[serde(rename = "MapAnnotation", default)]
    maps: Vec<MapIn>,
}

#[derive(Deserialize)]
struct MapIn {
    #[serde(rename = "@ID", default)]
    id: String,
    #[serde(rename = "@Namespace", default)]
    namespace: String,
    #[serde(rename = "Value")]
    value: MapValueIn,
}

#[derive(Deserialize)]
struct MapValueIn {
    #[serde(rename = "M", default)]
    entries: Vec<EntryIn>,
}

#[derive(Deserialize)]
struct EntryIn {
    #[serde(rename = "@K")]
    key: String,
    #[serde(rename = "$text", default)]
    value: String,
}

impl OmeIn {
    pub(crate) fn record(&self, key: &str) -> Option<&str> {
        self.annotations
            .iter()
            .flat_map(|a| &a.maps)
            .filter(|m| m.namespace == RECORD_NS)
            .flat_map(|m| &m.value.entries)
            .find(|e| e.key == key)
            .map(|e| e.value.as_str())
    }

    /// A value of image `p`'s acquisition record.
    fn image_record(&self, p: usize, key: &str) -> Option<&str> {
        let id = format!("Annotation:{p}:acquisition");
        self.annotations
            .iter()
            .flat_map(|a| &a.maps)
            .filter(|m| m.namespace == RECORD_NS && m.id == id)
            .flat_map(|m| &m.value.entries)
            .find(|e| e.key == key)
            .map(|e| e.value.as_str())
    }

    /// The global metadata this document carries (see `ome/global.rs`).
    fn global(&self) -> GlobalMetadata {
        global::from_annotations(self.annotations.iter().flat_map(|a| &a.maps).map(|m| {
            let entries = m
                .value
                .entries
                .iter()
                .map(|e| (e.key.as_str(), e.value.as_str()))
                .collect();
            (m.id.as_str(), m.namespace.as_str(), entries)
        }))
    }

    fn provisional(&self) -> bool {
        self.record(STATUS_KEY) == Some(STATUS_ACQUIRING)
    }

    /// A document that `recover` must finish: provisional (the writer was killed), or
    /// final with the status `failed` (a write failed; the file holds what was stored).
    pub(crate) fn unfinished(&self) -> bool {
        self.binary_only.is_none()
            && matches!(
                self.record(STATUS_KEY).and_then(DatasetStatus::parse),
                Some(DatasetStatus::Acquiring | DatasetStatus::Failed)
            )
    }
}

/// The document a `BinaryOnly` file names, when it is a separate OME-XML file
/// (companion mode); a master TIFF is among the files read anyway.
fn companion_doc(folder: &Path, docs: &[Option<&OmeIn>]) -> Option<OmeIn> {
    let name = docs
        .iter()
        .flatten()
        .filter_map(|d| d.binary_only.as_ref())
        .map(|b| b.metadata_file.as_str())
        .find(|n| !is_tiff_name(n) && !n.contains(['/', '\\']))?;
    let text = std::fs::read_to_string(folder.join(name)).ok()?;
    quick_xml::de::from_str::<OmeIn>(&text).ok()
}

fn invalid(path: &Path, what: impl Into<String>) -> BackendError {
    BackendError::io(
        path,
        std::io::Error::new(std::io::ErrorKind::InvalidData, what.into()),
    )
}

pub(crate) fn is_tiff_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".ome.tif") || lower.ends_with(".ome.tiff")
}

/// A file of the dataset, reopened, with its first page's OME-XML.
struct Opened {
    path: PathBuf,
    writer: TiffWriter,
    doc: Option<OmeIn>,
}

/// The `.ome.tif(f)` files of the dataset at `path`, sorted.
pub(crate) fn dataset_files(path: &Path, is_dir: bool) -> Result<Vec<PathBuf>, BackendError> {
    if !is_dir {
        return Ok(vec![path.to_owned()]);
    }
    let mut names = Vec::new();
    for entry in std::fs::read_dir(path).map_err(|e| BackendError::io(path, e))? {
        let entry = entry.map_err(|e| BackendError::io(path, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if is_tiff_name(&name) && entry.file_type().is_ok_and(|t| t.is_file()) {
            names.push(entry.path());
        }
    }
    names.sort();
    if names.is_empty() {
        return Err(invalid(path, "no .ome.tif(f) files in this folder"));
    }
    Ok(names)
}

/// Planes a document's `TiffData` elements describe.
fn planes_described(doc: &OmeIn) -> u64 {
    doc.images
        .iter()
        .flat_map(|i| &i.pixels.tiff_data)
        .map(|t| t.plane_count)
        .sum()
}

/// The OME-XML of a reopened file: IFD 0's description, or, when it is torn, the
/// readable description slot that describes the most planes.
fn first_doc(path: &Path, descriptions: &[Vec<u8>]) -> Result<Option<OmeIn>, BackendError> {
    let parse = |text: &[u8]| quick_xml::de::from_str::<OmeIn>(&String::from_utf8_lossy(text));
    match descriptions {
        [] => Ok(None),
        [text] => parse(text).map(Some).map_err(|e| {
            invalid(
                path,
                format!("the first page's OME-XML cannot be read: {e}"),
            )
        }),
        slots => slots
            .iter()
            .filter_map(|t| parse(t).ok())
            .max_by_key(planes_described)
            .map(Some)
            .ok_or_else(|| {
                invalid(
                    path,
                    "the first page's OME-XML is torn and no description slot holds a \
                     readable one",
                )
            }),
    }
}

/// Reopen every file and read its first description.
fn open_files(found: &[PathBuf]) -> Result<Vec<Opened>, BackendError> {
    let mut opened = Vec::with_capacity(found.len());
    for f in found {
        let reopened = TiffWriter::reopen(f).map_err(|e| BackendError::io(f, e))?;
        let doc = first_doc(f, &reopened.descriptions)?;
        opened.push(Opened {
            path: f.clone(),
            writer: reopened.writer,
            doc,
        });
    }
    Ok(opened)
}

/// The plan the recorded settings give for the dataset at `path`.
fn recorded_plan(path: &Path, settings: &str, is_dir: bool) -> Result<Plan, BackendError> {
    let mut settings = AcquisitionSettings::from_json(settings)
        .map_err(|e| invalid(path, format!("the recorded settings do not parse: {e}")))?;
    settings.root_path = path.to_string_lossy().into_owned();
    let schema = settings
        .validate()
        .map_err(|e| invalid(path, format!("the recorded settings are not valid: {e}")))?;
    let plan = Plan::new(&schema)?;
    if is_dir != (plan.mode != Mode::Single) {
        return Err(invalid(
            path,
            "the recorded settings describe a different layout (single file vs folder)",
        ));
    }
    Ok(plan)
}

/// What was found for one position: its file, and the planes and frames recorded.
struct Matched {
    writer: TiffWriter,
    described: Option<u64>,
    frames: Option<u64>,
}

/// Match files to positions (`..._p000.ome.tiff`; a moved folder keeps the old stem in
/// the file names), taking their names and UUIDs into the plan.
fn match_positions(
    path: &Path,
    plan: &mut Plan,
    mut opened: Vec<Opened>,
    companion: Option<&OmeIn>,
    is_dir: bool,
) -> Result<Vec<Matched>, BackendError> {
    let mut out = Vec::with_capacity(plan.files.len());
    let mut records: Vec<OmeIn> = Vec::new();
    for (p, file) in plan.files.iter_mut().enumerate() {
        let wanted = format!("_p{p:03}");
        let at = if is_dir {
            opened.iter().position(|o| {
                o.path.file_name().is_some_and(|n| {
                    let n = n.to_string_lossy();
                    ome_stem_suffix(&n).0.ends_with(&wanted)
                })
            })
        } else {
            Some(0)
        };
        let Some(at) = at else {
            return Err(invalid(
                path,
                format!("the file of position {p} ({}) is missing", file.name),
            ));
        };
        let o = opened.swap_remove(at);
        file.name = o
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        file.path = o.path;
        if let Some(doc) = &o.doc
            && !doc.uuid.is_empty()
        {
            file.uuid.clone_from(&doc.uuid);
        }
        let described = o
            .doc
            .as_ref()
            .filter(|d| d.provisional())
            .map(planes_described);
        out.push(Matched {
            writer: o.writer,
            described,
            frames: None,
        });
        records.extend(o.doc);
    }
    // Frames each image holds, as a final (failed) document recorded them.
    for (p, m) in out.iter_mut().enumerate() {
        m.frames = records.iter().chain(companion).find_map(|d| {
            d.image_record(p, "image_frames_written")
                .and_then(|v| v.parse().ok())
        });
    }
    Ok(out)
}

/// Finish the OME-TIFF dataset at `path` (a `.ome.tiff` file, or the folder of a
/// multi-file dataset) left by a writer that was killed or whose writes failed: every
/// page on disk is kept, zero planes are appended up to the partial-acquisition rule's
/// shape, and the final OME-XML is written as `finalize` writes it, with an acquisition
/// record saying it was repaired, from which status, and which planes are zero padding.
/// The status becomes `complete` when every declared plane is on disk, else `partial`.
/// A dataset that is already final (and not `failed`) is left untouched
/// (`already_final`), so calling this twice is harmless.
pub fn recover(path: &Path) -> Result<Recovery, BackendError> {
    let meta = std::fs::metadata(path).map_err(|e| BackendError::io(path, e))?;
    let is_dir = meta.is_dir();
    let found = dataset_files(path, is_dir)?;
    // A writer killed between creating its files and writing their headers leaves
    // empty files: no page was written.
    if !found.is_empty()
        && found
            .iter()
            .all(|f| std::fs::symlink_metadata(f).is_ok_and(|m| m.is_file() && m.len() == 0))
    {
        return Ok(Recovery {
            already_final: false,
            nothing_written: true,
            files: found
                .iter()
                .map(|f| RecoveredFile {
                    path: f.clone(),
                    pages_found: 0,
                    planes_described: Some(0),
                    zero_planes_appended: 0,
                    torn_bytes_cut: 0,
                })
                .collect(),
            shape: Vec::new(),
        });
    }
    let opened = open_files(&found)?;
    let folder = if is_dir {
        path
    } else {
        path.parent().unwrap_or(Path::new("."))
    };
    let companion = companion_doc(
        folder,
        &opened.iter().map(|o| o.doc.as_ref()).collect::<Vec<_>>(),
    );
    let unfinished = opened
        .iter()
        .any(|o| o.writer.torn_bytes() > 0 || o.doc.as_ref().is_none_or(OmeIn::unfinished))
        || companion.as_ref().is_some_and(OmeIn::unfinished);
    let summary = |o: &Opened, described| RecoveredFile {
        path: o.path.clone(),
        pages_found: o.writer.pages(),
        planes_described: described,
        zero_planes_appended: 0,
        torn_bytes_cut: 0,
    };
    if !unfinished {
        return Ok(Recovery {
            already_final: true,
            nothing_written: false,
            files: opened.iter().map(|o| summary(o, None)).collect(),
            shape: Vec::new(),
        });
    }
    if opened.iter().all(|o| o.writer.pages() == 0) {
        return Ok(Recovery {
            already_final: false,
            nothing_written: true,
            files: opened.iter().map(|o| summary(o, Some(0))).collect(),
            shape: Vec::new(),
        });
    }
    let failed = opened
        .iter()
        .filter_map(|o| o.doc.as_ref())
        .chain(&companion)
        .any(|d| d.record(STATUS_KEY) == Some(DatasetStatus::Failed.as_str()));
    let Some(settings) = opened
        .iter()
        .filter_map(|o| o.doc.as_ref())
        .chain(&companion)
        .find_map(|d| d.record(SETTINGS_KEY))
        .map(str::to_owned)
    else {
        return Err(invalid(
            path,
            "no file records the acquisition settings (written by an older ome-writers, \
             or the first file is missing): cannot rebuild the final OME-XML",
        ));
    };
    // The global metadata: from the companion file or the first file that has any.
    let global = companion
        .iter()
        .chain(opened.iter().filter_map(|o| o.doc.as_ref()))
        .map(OmeIn::global)
        .find(|g| !g.is_empty())
        .unwrap_or_default();
    let mut plan = recorded_plan(path, &settings, is_dir)?;
    let matched = match_positions(path, &mut plan, opened, companion.as_ref(), is_dir)?;
    finish_recovered(plan, matched, failed, global)
}

/// Pad and finish the matched files; `failed`: a document recorded the status failed;
/// `global`: the global metadata the documents carried, kept in the final ones.
fn finish_recovered(
    plan: Plan,
    mut matched: Vec<Matched>,
    failed: bool,
    global: GlobalMetadata,
) -> Result<Recovery, BackendError> {
    // The shape `finish` will give each image, to record which planes are padding.
    let inner = plan.inner_planes().max(1);
    let reached: Vec<u64> = matched
        .iter()
        .map(|m| m.writer.pages().div_ceil(inner))
        .collect();
    let growth_extent = reached.iter().copied().max().unwrap_or(0);
    let declared = plan.growth_count().map(|n| n.saturating_mul(inner));
    let mut files = Vec::with_capacity(matched.len());
    let mut padding = Vec::new();
    let mut complete = declared.is_some();
    let mut frames_written = 0;
    for (p, m) in matched.iter_mut().enumerate() {
        let torn_bytes_cut = m.writer.torn_bytes();
        m.writer
            .cut_torn_tail()
            .map_err(|e| BackendError::io(m.writer.path(), e))?;
        let w = &m.writer;
        let mut extent = growth_extent.max(reached[p]).max(1);
        if let Some(n) = plan.growth_count() {
            extent = extent.min(n).max(reached[p]);
        }
        let total = extent.saturating_mul(inner).min(OME_INT_MAX);
        let zeros = total.saturating_sub(w.pages());
        if zeros > 0 {
            padding.push(format!("image {p}: planes {}..{total}", w.pages()));
        }
        let frames = m.frames.unwrap_or(w.pages()).min(w.pages());
        complete &= declared == Some(frames) && zeros == 0;
        frames_written += frames;
        files.push(RecoveredFile {
            path: w.path().to_owned(),
            pages_found: w.pages(),
            planes_described: m.described,
            zero_planes_appended: zeros,
            torn_bytes_cut,
        });
    }
    let status = if complete {
        DatasetStatus::Complete
    } else {
        DatasetStatus::Partial
    };
    let previous = if failed {
        DatasetStatus::Failed
    } else {
        DatasetStatus::Acquiring
    };
    let torn: Vec<String> = files
        .iter()
        .enumerate()
        .filter(|(_, f)| f.torn_bytes_cut > 0)
        .map(|(p, f)| format!("image {p}: {} bytes", f.torn_bytes_cut))
        .collect();
    let mut record = vec![
        ("frames_written", frames_written.to_string()),
        ("complete", complete.to_string()),
        ("status", status.as_str().to_owned()),
        (
            "repaired",
            "the writer stopped before finishing; omew repair wrote this final metadata \
             from the pages on disk"
                .to_owned(),
        ),
        ("repaired_from_status", previous.as_str().to_owned()),
        (
            "zero_planes_appended",
            if padding.is_empty() {
                "none".to_owned()
            } else {
                padding.join("; ")
            },
        ),
        ("growth_extent", growth_extent.to_string()),
    ];
    if !torn.is_empty() {
        record.push(("torn_tail_cut", torn.join("; ")));
    }
    let frames: Vec<Option<u64>> = matched.iter().map(|m| m.frames).collect();
    let writers = matched.into_iter().map(|m| m.writer).collect();
    let mut backend = TiffBackend::reopened(plan, writers, &frames);
    backend.global = global;
    let summary = backend.finish(growth_extent, &record, false)?;
    Ok(Recovery {
        already_final: false,
        nothing_written: false,
        files,
        shape: summary.shape,
    })
}
