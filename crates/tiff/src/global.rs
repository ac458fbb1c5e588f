//! Acquisition-level ("global") metadata for OME-TIFF (the XML itself is in
//! `ome/global.rs`): which files carry it (the file holding the full OME-XML: the only
//! file, the master TIFF, the companion file; every file in redundant mode), setting it
//! during acquisition (written into the provisional OME-XML of the carrying position
//! files at the next durability point, and into the final documents), and
//! [`set_global_metadata`] for a finished dataset.

use std::path::Path;
use std::sync::Arc;

use ome_writers_backend::{BackendError, check_namespace, lock_output, write_atomic};
use serde_json::Value;

use crate::backend::{TiffBackend, touch};
use crate::bigtiff::TiffWriter;
use crate::error::TiffError;
use crate::ome::STATUS_KEY;
use crate::ome::global::{check_object, set_in_xml};
use crate::plan::{Mode, Plan};
use crate::recover::{OmeIn, dataset_files, is_tiff_name};

/// Whether position `p`'s provisional OME-XML carries the global metadata: every file
/// in redundant mode, else the first (the one that also records the settings, and
/// that repair reads first).
pub(crate) fn carries_global(plan: &Plan, p: usize) -> bool {
    plan.mode == Mode::Redundant || p == 0
}

impl TiffBackend {
    /// Set `namespace` (see [`Backend::set_global_metadata`](ome_writers_backend::Backend::set_global_metadata)):
    /// into the carrying files' provisional OME-XML at the next durability point, and
    /// into the final documents.
    pub(crate) fn set_global(
        &mut self,
        namespace: &str,
        value: &Value,
    ) -> Result<(), BackendError> {
        check_namespace(namespace)?;
        check_object(namespace, value)?;
        if self.finalized {
            return Err(BackendError::Finalized);
        }
        self.global.set(namespace, value.clone());
        let shared = Arc::new(self.global.clone());
        for p in (0..self.files.len()).filter(|&p| carries_global(&self.plan, p)) {
            self.files[p]
                .image
                .set_global(&self.plan, p, shared.clone())?;
        }
        Ok(())
    }

    /// At a durability point: the provisional OME-XML of every carrying file that is
    /// out of date (before the files are synced).
    pub(crate) fn describe_stale(&mut self) -> Result<(), BackendError> {
        if self.global.is_empty() {
            return Ok(());
        }
        for p in (0..self.files.len()).filter(|&p| carries_global(&self.plan, p)) {
            touch(&mut self.files, &mut self.open, p);
            self.files[p].image.describe_now(&self.plan, p)?;
        }
        Ok(())
    }
}

fn refused(path: &Path, reason: impl Into<String>) -> BackendError {
    TiffError::NotFinishedOurs {
        path: path.to_owned(),
        reason: reason.into(),
    }
    .into()
}

/// A file of the dataset whose OME-XML is full (not `BinaryOnly`).
struct Carrier {
    writer: TiffWriter,
    xml: String,
}

/// Set the global metadata `namespace` to `value` (a JSON object) in the finished
/// OME-TIFF dataset at `path` (a `.ome.tiff` file, or the folder of a multi-file
/// dataset), under the output's lock: in every file holding the full OME-XML, the new
/// document is appended and the first page's `ImageDescription` repointed to it, each
/// step fsynced, so a crash leaves the old or the new description; a companion file is
/// replaced atomically.
///
/// # Errors
/// A reserved or empty namespace, a value that is not an object, a locked output, a
/// dataset this library did not write or that is not finished (repair it first), or
/// an I/O error.
pub fn set_global_metadata(
    path: &Path,
    namespace: &str,
    value: &Value,
) -> Result<(), BackendError> {
    check_namespace(namespace)?;
    check_object(namespace, value)?;
    let _lock = lock_output(path)?;
    let is_dir = std::fs::metadata(path)
        .map_err(|e| BackendError::io(path, e))?
        .is_dir();
    let folder = if is_dir {
        path
    } else {
        path.parent().unwrap_or(Path::new("."))
    };
    let mut carriers = Vec::new();
    let mut companion: Option<String> = None;
    for f in dataset_files(path, is_dir)? {
        let reopened = TiffWriter::reopen(&f).map_err(|e| BackendError::io(&f, e))?;
        let (Some(text), 0) = (reopened.descriptions.first(), reopened.writer.torn_bytes()) else {
            return Err(refused(
                &f,
                "no whole OME-XML description: repair the dataset first",
            ));
        };
        let xml =
            String::from_utf8(text.clone()).map_err(|_| refused(&f, "its OME-XML is not UTF-8"))?;
        let doc: OmeIn = quick_xml::de::from_str(&xml)
            .map_err(|e| refused(&f, format!("its OME-XML cannot be read: {e}")))?;
        if let Some(b) = &doc.binary_only {
            let name = b.metadata_file.as_str();
            if !is_tiff_name(name) && !name.contains(['/', '\\']) && !name.is_empty() {
                companion = Some(name.to_owned());
            }
            continue;
        }
        check_finished_ours(&f, &doc)?;
        carriers.push(Carrier {
            writer: reopened.writer,
            xml,
        });
    }
    let companion = match companion {
        Some(name) => {
            let cpath = folder.join(name);
            let xml = read_companion(&cpath)?;
            let xml = set_in_xml(&cpath, &xml, namespace, value)?;
            Some((cpath, xml))
        }
        None => None,
    };
    if carriers.is_empty() && companion.is_none() {
        return Err(refused(path, "no file holds the full OME-XML"));
    }
    for mut c in carriers {
        let path = c.writer.path().to_owned();
        let xml = set_in_xml(&path, &c.xml, namespace, value)?;
        c.writer
            .set_final(xml.as_bytes())
            .map_err(|e| BackendError::io(&path, e))?;
    }
    if let Some((cpath, xml)) = companion {
        write_atomic(&cpath, xml.as_bytes())?;
    }
    Ok(())
}

/// A final document of ours: it has our acquisition record with a final status.
fn check_finished_ours(path: &Path, doc: &OmeIn) -> Result<(), BackendError> {
    match doc.record(STATUS_KEY) {
        None => Err(refused(
            path,
            "not an OME-TIFF written by ome-writers (no acquisition record)",
        )),
        Some(_) if doc.unfinished() => Err(refused(
            path,
            "the acquisition is not finished (its writer was killed or failed): run \
             omew repair first",
        )),
        Some(_) => Ok(()),
    }
}

/// The companion file's OME-XML (a regular file of ours, finished).
fn read_companion(path: &Path) -> Result<String, BackendError> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_file() => {}
        Ok(_) => return Err(refused(path, "the companion file is not a regular file")),
        Err(e) => return Err(BackendError::io(path, e)),
    }
    let xml = std::fs::read_to_string(path).map_err(|e| BackendError::io(path, e))?;
    let doc: OmeIn = quick_xml::de::from_str(&xml)
        .map_err(|e| refused(path, format!("its OME-XML cannot be read: {e}")))?;
    check_finished_ours(path, &doc)?;
    Ok(xml)
}
