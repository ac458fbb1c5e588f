//! Finishing an OME-TIFF dataset whose writer was killed: [`recover`].
//!
//! A killed writer leaves files that are valid BigTIFFs whose first IFD holds a
//! provisional OME-XML describing the complete block of planes written first (see the
//! crate docs). Pages written after that block are whole but not described. `recover`
//! reads the pages on disk, rebuilds the plan from the settings that the first file's
//! provisional document records, appends zero planes up to the partial-acquisition
//! rule's shape and writes the final OME-XML exactly as `finalize` does. Pages already
//! on disk are never rewritten. A dataset whose files are all final is left alone, so
//! recovering twice changes nothing.

use std::path::{Path, PathBuf};

use ome_writers_backend::BackendError;
use ome_writers_schema::{AcquisitionSettings, ome_stem_suffix};
use serde::Deserialize;

use crate::backend::TiffBackend;
use crate::bigtiff::TiffWriter;
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
struct OmeIn {
    #[serde(rename = "@UUID", default)]
    uuid: String,
    #[serde(rename = "Image", default)]
    images: Vec<ImageIn>,
    #[serde(rename = "StructuredAnnotations", default)]
    annotations: Option<AnnotationsIn>,
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
    fn record(&self, key: &str) -> Option<&str> {
        self.annotations
            .iter()
            .flat_map(|a| &a.maps)
            .filter(|m| m.namespace == RECORD_NS)
            .flat_map(|m| &m.value.entries)
            .find(|e| e.key == key)
            .map(|e| e.value.as_str())
    }

    fn provisional(&self) -> bool {
        self.record(STATUS_KEY) == Some(STATUS_ACQUIRING)
    }
}

fn invalid(path: &Path, what: impl Into<String>) -> BackendError {
    BackendError::io(
        path,
        std::io::Error::new(std::io::ErrorKind::InvalidData, what.into()),
    )
}

fn is_tiff_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".ome.tif") || lower.ends_with(".ome.tiff")
}

/// Finish the OME-TIFF dataset at `path` (a `.ome.tiff` file, or the folder of a
/// multi-file dataset) left by a writer that was killed: every page on disk is kept,
/// zero planes are appended up to the partial-acquisition rule's shape, and the final
/// OME-XML is written as `finalize` writes it, with an acquisition record saying it
/// was repaired and which planes are zero padding. A dataset that is already final is
/// left untouched (`already_final`), so calling this twice is harmless.
pub fn recover(path: &Path) -> Result<Recovery, BackendError> {
    let meta = std::fs::metadata(path).map_err(|e| BackendError::io(path, e))?;
    let found: Vec<PathBuf> = if meta.is_dir() {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(path).map_err(|e| BackendError::io(path, e))? {
            let entry = entry.map_err(|e| BackendError::io(path, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if is_tiff_name(&name) && entry.file_type().is_ok_and(|t| t.is_file()) {
                names.push(entry.path());
            }
        }
        names.sort();
        names
    } else {
        vec![path.to_owned()]
    };
    if found.is_empty() {
        return Err(invalid(path, "no .ome.tif(f) files in this folder"));
    }

    // Reopen every file and read its first description.
    let mut opened = Vec::with_capacity(found.len());
    for f in &found {
        let (writer, description) = TiffWriter::reopen(f).map_err(|e| BackendError::io(f, e))?;
        let doc = match description {
            Some(text) => {
                let text = String::from_utf8_lossy(&text).into_owned();
                Some(quick_xml::de::from_str::<OmeIn>(&text).map_err(|e| {
                    invalid(f, format!("the first page's OME-XML cannot be read: {e}"))
                })?)
            }
            None => None,
        };
        opened.push((f.clone(), writer, doc));
    }
    let provisional = |doc: &Option<OmeIn>| doc.as_ref().is_none_or(OmeIn::provisional);
    if !opened.iter().any(|(_, _, doc)| provisional(doc)) {
        return Ok(Recovery {
            already_final: true,
            nothing_written: false,
            files: opened
                .iter()
                .map(|(f, w, _)| RecoveredFile {
                    path: f.clone(),
                    pages_found: w.pages(),
                    planes_described: None,
                    zero_planes_appended: 0,
                })
                .collect(),
            shape: Vec::new(),
        });
    }
    if opened.iter().all(|(_, w, _)| w.pages() == 0) {
        return Ok(Recovery {
            already_final: false,
            nothing_written: true,
            files: opened
                .iter()
                .map(|(f, _, _)| RecoveredFile {
                    path: f.clone(),
                    pages_found: 0,
                    planes_described: Some(0),
                    zero_planes_appended: 0,
                })
                .collect(),
            shape: Vec::new(),
        });
    }
    let Some(settings) = opened
        .iter()
        .find_map(|(_, _, doc)| doc.as_ref().and_then(|d| d.record(SETTINGS_KEY)))
    else {
        return Err(invalid(
            path,
            "no file records the acquisition settings (written by an older ome-writers, \
             or the first file is missing): cannot rebuild the final OME-XML",
        ));
    };
    let mut settings = AcquisitionSettings::from_json(settings)
        .map_err(|e| invalid(path, format!("the recorded settings do not parse: {e}")))?;
    settings.root_path = path.to_string_lossy().into_owned();
    let schema = settings
        .validate()
        .map_err(|e| invalid(path, format!("the recorded settings are not valid: {e}")))?;
    let mut plan = Plan::new(&schema)?;
    if meta.is_dir() != (plan.mode != Mode::Single) {
        return Err(invalid(
            path,
            "the recorded settings describe a different layout (single file vs folder)",
        ));
    }

    // Match files to positions (`..._p000.ome.tiff`; a moved folder keeps the old
    // stem in the file names) and take their UUIDs.
    let mut writers = Vec::with_capacity(plan.files.len());
    let mut described = Vec::with_capacity(plan.files.len());
    for (p, file) in plan.files.iter_mut().enumerate() {
        let wanted = format!("_p{p:03}");
        let at = if meta.is_dir() {
            opened.iter().position(|(f, _, _)| {
                f.file_name().is_some_and(|n| {
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
        let (f, writer, doc) = opened.swap_remove(at);
        file.name = f
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        file.path = f;
        if let Some(doc) = &doc
            && !doc.uuid.is_empty()
        {
            file.uuid.clone_from(&doc.uuid);
        }
        described.push(doc.as_ref().filter(|d| d.provisional()).map(|d| {
            d.images
                .iter()
                .flat_map(|i| &i.pixels.tiff_data)
                .map(|t| t.plane_count)
                .sum::<u64>()
        }));
        writers.push(writer);
    }

    // The shape `finish` will give each image, to record which planes are padding.
    let inner = plan.inner_planes().max(1);
    let reached: Vec<u64> = writers.iter().map(|w| w.pages().div_ceil(inner)).collect();
    let growth_extent = reached.iter().copied().max().unwrap_or(0);
    let mut files = Vec::with_capacity(writers.len());
    let mut padding = Vec::new();
    for (p, w) in writers.iter().enumerate() {
        let mut extent = growth_extent.max(reached[p]).max(1);
        if let Some(n) = plan.growth_count() {
            extent = extent.min(n).max(reached[p]);
        }
        let total = extent.saturating_mul(inner).min(OME_INT_MAX);
        let zeros = total.saturating_sub(w.pages());
        if zeros > 0 {
            padding.push(format!("image {p}: planes {}..{total}", w.pages()));
        }
        files.push(RecoveredFile {
            path: w.path().to_owned(),
            pages_found: w.pages(),
            planes_described: described[p],
            zero_planes_appended: zeros,
        });
    }
    let record = [
        ("complete", "false".to_owned()),
        (
            "repaired",
            "the writer stopped before finishing; omew repair wrote this final metadata \
             from the pages on disk"
                .to_owned(),
        ),
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
    let mut backend = TiffBackend::reopened(plan, writers);
    let summary = backend.finish(growth_extent, &record)?;
    Ok(Recovery {
        already_final: false,
        nothing_written: false,
        files,
        shape: summary.shape,
    })
}
