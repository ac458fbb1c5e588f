//! The OME-TIFF [`Backend`]: routes planes into per-position BigTIFF files and keeps
//! their OME-XML in step.

use std::collections::{BTreeMap, VecDeque};
use std::fs;
use std::path::PathBuf;
use std::sync::Arc;

use ome_writers_backend::{
    Backend, BackendError, DatasetStatus, FrameMetadata, GlobalMetadata, OutputLock, PlaneReader,
    Progress, Summary, prepare_output, sync_dir, write_atomic,
};
use ome_writers_schema::{DType, Dim, PositionIndex, Schema, StorageIndex};
use tiff::tags::SampleFormat;

use crate::bigtiff::{PageFormat, TiffWriter};
use crate::error::TiffError;
use crate::image::{ImageWriter, Scratch, settings_json, slot_cap};
use crate::journal::{self, Journal};
use crate::ome::{self, Document, ImageState, PlaneMeta};
use crate::owned::TiffOwnership;
use crate::plan::{Mode, Plan};
use crate::read::View;

/// At most this many files are kept open at once (plates can have thousands of
/// positions); others are reopened when their next plane comes.
const MAX_OPEN_FILES: usize = 64;

/// Above this many positions, redundant OME-XML (quadratic in the positions) is
/// warned about at creation.
const REDUNDANT_WARN_POSITIONS: usize = 100;

/// Writes an acquisition as OME-TIFF: BigTIFF, one IFD per plane in acquisition order,
/// one file per position, OME-XML 2016-06 in the first IFD's `ImageDescription`.
///
/// Until [`finalize`](Backend::finalize) every file carries a provisional, standalone
/// OME-XML describing the largest block of planes it holds completely, so an
/// interrupted acquisition stays readable. `finalize` pads every image with zero planes
/// to the project's partial-acquisition rule and writes the final OME-XML (full,
/// `BinaryOnly` or in a companion file, as the schema's layout says). Dropping the
/// backend without finalizing finalizes it with the extent reached, logging any error.
#[derive(Debug)]
pub struct TiffBackend {
    pub(crate) plan: Plan,
    format: PageFormat,
    pub(crate) files: Vec<PositionFile>,
    /// Positions whose file handle is open, oldest first.
    pub(crate) open: VecDeque<usize>,
    scratch: Scratch,
    /// Data frames stored (pages on disk holding a frame; zero planes not counted).
    frames_written: u64,
    bytes_received: u64,
    pub(crate) finalized: bool,
    dir_synced: bool,
    /// The output's lock, held until finish (one writer per output).
    lock: OutputLock,
    /// A write or flush of this backend returned an error: whatever the stream says,
    /// the dataset can only be recorded as `failed`.
    failed: bool,
    /// Acquisition-level metadata (see `global.rs`).
    pub(crate) global: GlobalMetadata,
    /// What live views read: the strips written and the frames readable.
    view: Arc<View>,
}

#[derive(Debug)]
pub(crate) struct PositionFile {
    /// The file and its provisional OME-XML.
    pub(crate) image: ImageWriter,
    /// Per-frame metadata, journaled beside the file until finish.
    journal: Journal,
    /// Frames written to this position (zero planes not counted).
    frames: u64,
}

fn io_err(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> BackendError + '_ {
    move |e| BackendError::io(path, e)
}

/// Metres per unit, by NGFF name.
fn metres_per(unit: &str) -> Option<f64> {
    Some(match unit {
        "angstrom" => 1e-10,
        "attometer" => 1e-18,
        "centimeter" => 1e-2,
        "decimeter" => 1e-1,
        "exameter" => 1e18,
        "femtometer" => 1e-15,
        "foot" => 0.3048,
        "gigameter" => 1e9,
        "hectometer" => 1e2,
        "inch" => 0.0254,
        "kilometer" => 1e3,
        "megameter" => 1e6,
        "meter" => 1.0,
        "micrometer" => 1e-6,
        "mile" => 1609.344,
        "millimeter" => 1e-3,
        "nanometer" => 1e-9,
        "parsec" => 3.085_677_581_491_367e16,
        "petameter" => 1e15,
        "picometer" => 1e-12,
        "terameter" => 1e12,
        "yard" => 0.9144,
        "yoctometer" => 1e-24,
        "yottameter" => 1e24,
        "zeptometer" => 1e-21,
        "zettameter" => 1e21,
        _ => return None,
    })
}

/// Pixels per centimetre of a frame axis as a TIFF rational, from its scale and unit
/// (micrometres when the unit is not given).
fn pixels_per_cm(dim: &Dim) -> Option<(u32, u32)> {
    let scale = dim.scale()?;
    let metres = metres_per(dim.unit().map_or("micrometer", |u| u.ngff_name()))?;
    let per_cm = 0.01 / (scale * metres);
    if !per_cm.is_finite() || per_cm <= 0.0 {
        return None;
    }
    let mut den: u32 = 1_000_000;
    while den > 1 && per_cm * f64::from(den) > f64::from(u32::MAX) {
        den /= 10;
    }
    let num = (per_cm * f64::from(den)).round();
    (num >= 1.0 && num <= f64::from(u32::MAX)).then_some((num as u32, den))
}

pub(crate) fn page_format(plan: &Plan) -> PageFormat {
    let (bits, sample_format) = match plan.dtype {
        DType::U8 => (8, SampleFormat::Uint),
        DType::U16 => (16, SampleFormat::Uint),
        DType::U32 => (32, SampleFormat::Uint),
        DType::I8 => (8, SampleFormat::Int),
        DType::I16 => (16, SampleFormat::Int),
        DType::I32 => (32, SampleFormat::Int),
        DType::F32 => (32, SampleFormat::IEEEFP),
        DType::F64 => (64, SampleFormat::IEEEFP),
    };
    let frame = plan.schema.frame_dims();
    let resolution = match (
        frame.get(1).and_then(pixels_per_cm),
        frame.first().and_then(pixels_per_cm),
    ) {
        (Some(x), Some(y)) => Some([x, y]),
        _ => None,
    };
    PageFormat {
        width: plan.width,
        height: plan.height,
        bits,
        sample_format,
        codec: plan.codec,
        resolution,
        reduced: false,
        tile: None,
    }
}

/// Make sure file `p` counts among the open handles, closing the oldest if needed.
pub(crate) fn touch(files: &mut [PositionFile], open: &mut VecDeque<usize>, p: usize) {
    if files[p].image.writer.is_open() {
        return;
    }
    while open.len() >= MAX_OPEN_FILES {
        match open.pop_front() {
            Some(q) => {
                files[q].image.writer.close();
                files[q].journal.close();
            }
            None => break,
        }
    }
    open.push_back(p);
}

impl TiffBackend {
    /// Check that the schema can be written as OME-TIFF, prepare the output (refusing
    /// or replacing an existing one as `overwrite` says) and create one file per
    /// position. Nothing is created when the schema is refused.
    pub fn create(schema: &Schema) -> Result<Self, BackendError> {
        let plan = Plan::new(schema)?;
        let format = page_format(&plan);
        // Slot size for provisional descriptions: the document with every number at
        // its widest.
        let mut caps = Vec::with_capacity(plan.files.len());
        for p in 0..plan.files.len() {
            caps.push(slot_cap(&plan, p)?);
        }

        if plan.mode == Mode::Redundant && plan.files.len() > REDUNDANT_WARN_POSITIONS {
            let n = plan.files.len();
            log::warn!(
                "{n} positions with redundant OME-XML: every one of the {n} files repeats the \
                 metadata of all {n} images (about 800 bytes each), so the dataset holds {n}^2 \
                 image descriptions; multi_file_metadata \"companion-file\" writes them once"
            );
        }
        let multi = plan.mode != Mode::Single;
        let owner = TiffOwnership {
            folder: multi,
            root: plan.output.clone(),
        };
        let prepared = prepare_output(&plan.output, &owner, schema.overwrite())?;
        if multi {
            fs::create_dir(&plan.folder).map_err(io_err(&plan.folder))?;
        } else {
            // A journal left beside a file that is gone (removed, or just replaced by
            // `overwrite`) belongs to no file: it must not mix with the new one's.
            let stale = journal::journal_path(&plan.output);
            journal::remove_if_present(&stale).map_err(io_err(&stale))?;
        }

        let mut files = Vec::with_capacity(plan.files.len());
        let mut open = VecDeque::new();
        let view = View::new(plan.files.len());
        for (p, (f, cap)) in plan.files.iter().zip(caps).enumerate() {
            let mut writer = match TiffWriter::create(&f.path, cap) {
                Ok(w) => w,
                Err(e) => {
                    // Leave nothing half-made behind.
                    for pf in &files {
                        let pf: &PositionFile = pf;
                        let _ = fs::remove_file(pf.image.writer.path());
                    }
                    if multi {
                        let _ = fs::remove_dir(&plan.folder);
                    }
                    return Err(BackendError::io(&f.path, e));
                }
            };
            if open.len() < MAX_OPEN_FILES {
                open.push_back(p);
            } else {
                writer.close();
            }
            let mut image = ImageWriter::new(writer, Vec::new(), f.path.clone());
            image.strips = view.strips.get(p).cloned();
            files.push(PositionFile {
                journal: Journal::new(&f.path),
                image,
                frames: 0,
            });
        }
        Ok(Self {
            plan,
            format,
            files,
            open,
            scratch: Scratch::default(),
            frames_written: 0,
            bytes_received: 0,
            finalized: false,
            dir_synced: false,
            lock: prepared.commit(),
            failed: false,
            global: GlobalMetadata::default(),
            view,
        })
    }

    /// A backend over the files a killed writer left (for `recover`): `writers[p]` is
    /// position `p`'s file, reopened, and `frames[p]` the frames it holds when its
    /// metadata recorded them (else every page counts). Nothing is written until
    /// [`finish`](Self::finish).
    pub(crate) fn reopened(plan: Plan, writers: Vec<TiffWriter>, frames: &[Option<u64>]) -> Self {
        let format = page_format(&plan);
        let mut open = VecDeque::new();
        let mut files = Vec::with_capacity(writers.len());
        for (p, mut writer) in writers.into_iter().enumerate() {
            if open.len() < MAX_OPEN_FILES {
                open.push_back(p);
            } else {
                writer.close();
            }
            let pages = writer.pages();
            let described = if pages > 0 {
                plan.prefix_box(pages)
            } else {
                Vec::new()
            };
            let path = writer.path().to_owned();
            files.push(PositionFile {
                journal: Journal::new(&path),
                image: ImageWriter::new(writer, described, path),
                frames: frames.get(p).copied().flatten().unwrap_or(pages).min(pages),
            });
        }
        let frames_written = files.iter().map(|f| f.frames).sum();
        Self {
            plan,
            format,
            files,
            open,
            scratch: Scratch::default(),
            frames_written,
            bytes_received: 0,
            finalized: false,
            dir_synced: true,
            lock: OutputLock::none(),
            failed: false,
            global: GlobalMetadata::default(),
            // Recovery only finishes: no live view.
            view: View::new(0),
        }
    }

    /// Make sure file `p` counts among the open handles, closing the oldest if needed.
    fn touch(&mut self, p: usize) {
        touch(&mut self.files, &mut self.open, p);
    }

    /// Bring file `p`'s provisional OME-XML up to date with its pages.
    fn describe(&mut self, p: usize) -> Result<(), BackendError> {
        self.files[p].image.describe(&self.plan, p)
    }

    /// Extent of the growth axis that the pages on disk reach, over every file.
    fn disk_extent(&self) -> u64 {
        (0..self.files.len())
            .map(|p| self.reached(p))
            .max()
            .unwrap_or(0)
    }

    /// Extent of the growth axis that position `p`'s planes reach.
    fn reached(&self, p: usize) -> u64 {
        self.files[p].image.reached(&self.plan)
    }

    /// Pad every image with zero planes to `growth_extent` steps of its growth axis
    /// (or more if it holds planes beyond them); returns each image's extent.
    fn pad(&mut self, growth_extent: u64) -> Result<Vec<u64>, BackendError> {
        let mut extents = Vec::with_capacity(self.files.len());
        for p in 0..self.files.len() {
            self.touch(p);
            let image = &mut self.files[p].image;
            extents.push(image.pad(
                &self.plan,
                &self.format,
                p,
                &mut self.scratch,
                growth_extent,
            )?);
        }
        Ok(extents)
    }

    /// Pad, write the final OME-XML, sync. `record` goes into every image's
    /// acquisition annotation; with `settings`, image 0's also records the settings
    /// (so that `recover` can finish a dataset recorded as failed).
    pub(crate) fn finish(
        &mut self,
        growth_extent: u64,
        record: &[(&'static str, String)],
        settings: bool,
    ) -> Result<Summary, BackendError> {
        self.finalized = true;
        self.check_files()?;
        let written: Vec<u64> = self.files.iter().map(|f| f.frames).collect();
        let extents = self.pad(growth_extent)?;
        let mut metas: Vec<BTreeMap<u64, PlaneMeta>> = Vec::with_capacity(self.files.len());
        let mut unreadable = Vec::with_capacity(self.files.len());
        for pf in &mut self.files {
            pf.journal.sync().map_err(io_err(pf.journal.path()))?;
            let (planes, torn) =
                journal::read(pf.journal.path()).map_err(io_err(pf.journal.path()))?;
            metas.push(planes);
            unreadable.push(torn);
        }
        let boxes: Vec<Vec<u64>> = extents.iter().map(|&e| self.plan.full_box(e)).collect();
        let images: Vec<ImageState<'_>> = boxes
            .iter()
            .zip(&metas)
            .enumerate()
            .map(|(p, (sizes, planes))| ImageState {
                position: p,
                sizes,
                planes: Some(planes),
                record: image_record(&self.plan, p, written[p], record, unreadable[p], settings),
            })
            .collect();
        let global = (!self.global.is_empty()).then_some(&self.global);
        let xmls = final_documents(&self.plan, &images, global)?;
        // Last file first: the first file's provisional document holds the settings,
        // so as long as any file is provisional, `recover` can finish the dataset.
        for (p, xml) in xmls.iter().enumerate().rev() {
            touch(&mut self.files, &mut self.open, p);
            self.files[p].image.set_final(xml)?;
        }
        let mut paths: Vec<PathBuf> = self.plan.files.iter().map(|f| f.path.clone()).collect();
        if let Some(c) = &self.plan.companion {
            paths.push(c.path.clone());
        }
        sync_dir(&self.plan.folder)?;
        self.check_files()?;
        self.remove_journals();
        // Finished: another writer (or `omew repair`) may take the output now.
        drop(std::mem::replace(&mut self.lock, OutputLock::none()));
        let max_extent = extents.iter().copied().max().unwrap_or(1);
        Ok(Summary {
            paths,
            frames_written: self.frames_written,
            bytes_received: self.bytes_received,
            shape: self.plan.schema.array_shape(Some(max_extent)),
        })
    }

    /// Remove the journals, whose content is now in the final OME-XML. A journal that
    /// cannot be removed is only logged: the dataset is final and complete without it.
    fn remove_journals(&mut self) {
        let mut removed = false;
        for pf in &mut self.files {
            let path = pf.journal.path().to_owned();
            if path.exists() {
                match pf.journal.remove() {
                    Ok(()) => removed = true,
                    Err(e) => log::warn!("{}: cannot remove the journal: {e}", path.display()),
                }
            }
        }
        if removed && let Err(e) = sync_dir(&self.plan.folder) {
            log::warn!("{e}");
        }
    }

    /// Every file must still be the one this backend created: an error naming the
    /// first that was removed or replaced.
    fn check_files(&self) -> Result<(), BackendError> {
        for pf in &self.files {
            if !pf.image.writer.is_in_place() {
                return Err(TiffError::Vanished {
                    path: pf.image.writer.path().to_owned(),
                }
                .into());
            }
        }
        Ok(())
    }

    /// Check, count and store one frame (see [`Backend::write`]).
    fn store(
        &mut self,
        position: PositionIndex,
        index: &StorageIndex,
        frame: &[u8],
        metadata: Option<&FrameMetadata>,
    ) -> Result<(), BackendError> {
        let p = position.0;
        if p >= self.files.len() {
            return Err(TiffError::NoSuchPosition {
                position: p,
                count: self.files.len(),
            }
            .into());
        }
        self.touch(p);
        let image = &mut self.files[p].image;
        let plane = image.write_frame(
            (&self.plan, &self.format),
            p,
            &mut self.scratch,
            index,
            frame,
        )?;
        // The page is on disk: it counts, whatever fails next.
        let pf = &mut self.files[p];
        pf.frames += 1;
        self.frames_written += 1;
        self.bytes_received += frame.len() as u64;
        if let Some(meta) = metadata.filter(|m| !m.is_empty()) {
            let created = pf
                .journal
                .append(plane, meta)
                .map_err(io_err(pf.journal.path()))?;
            // A new directory entry, durable at the next durability point.
            self.dir_synced &= !created;
        }
        self.describe(p)
    }

    /// Sync every file written since the last durability point (see [`Backend::flush`]).
    fn sync_all(&mut self) -> Result<(), BackendError> {
        self.check_files()?;
        self.describe_stale()?;
        for p in 0..self.files.len() {
            if !self.files[p].image.writer.is_dirty() {
                continue;
            }
            self.touch(p);
            let image = &mut self.files[p].image;
            let result = image.writer.sync();
            result.map_err(|e| image.io_err(e))?;
        }
        for pf in &mut self.files {
            pf.journal.sync().map_err(io_err(pf.journal.path()))?;
        }
        if !self.dir_synced {
            sync_dir(&self.plan.folder)?;
            if let Some(parent) = self
                .plan
                .folder
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
            {
                sync_dir(parent)?;
            }
            self.dir_synced = true;
        }
        Ok(())
    }
}

/// The final OME-XML of every position file, in file order (the companion file, in
/// companion mode, is written here).
pub(crate) fn final_documents(
    plan: &Plan,
    images: &[ImageState<'_>],
    global: Option<&GlobalMetadata>,
) -> Result<Vec<String>, BackendError> {
    let full = |uuid: &str, file_uuids: bool| {
        ome::full_xml(
            plan,
            &Document {
                uuid,
                images,
                file_uuids,
                plate: true,
                provisional: false,
                global,
            },
        )
    };
    // The full document is rendered once; files that carry it differ only in the
    // root UUID (the only `UUID="..."` attribute holding that value).
    let (full_xml, full_uuid) = match plan.mode {
        Mode::Single => (Some(full(&plan.files[0].uuid, false)?), &plan.files[0].uuid),
        Mode::Redundant | Mode::MasterTiff => {
            (Some(full(&plan.files[0].uuid, true)?), &plan.files[0].uuid)
        }
        Mode::Companion => match &plan.companion {
            Some(c) => {
                write_atomic(&c.path, full(&c.uuid, true)?.as_bytes())?;
                (None, &c.uuid)
            }
            None => (None, &plan.files[0].uuid),
        },
    };
    let mut out = Vec::with_capacity(plan.files.len());
    for (p, f) in plan.files.iter().enumerate() {
        out.push(match (plan.mode, &full_xml) {
            (Mode::Single | Mode::MasterTiff, Some(xml)) if p == 0 => xml.clone(),
            (Mode::Redundant, Some(xml)) => xml.replacen(
                &format!("UUID=\"{full_uuid}\""),
                &format!("UUID=\"{}\"", f.uuid),
                1,
            ),
            (Mode::MasterTiff, _) => ome::binary_only_xml(&f.uuid, &plan.files[0])?,
            _ => match &plan.companion {
                Some(c) => ome::binary_only_xml(&f.uuid, c)?,
                None => full(&f.uuid, true)?,
            },
        });
    }
    Ok(out)
}

/// What an image's acquisition annotation records of the stream at finish.
pub(crate) fn stream_record(
    frames_written: u64,
    progress: &Progress,
    status: DatasetStatus,
    extent: u64,
) -> Vec<(&'static str, String)> {
    let mut record = vec![
        ("frames_written", frames_written.to_string()),
        ("frames_skipped", progress.frames_skipped.to_string()),
        ("frames_reached", progress.frames_reached.to_string()),
        ("growth_extent", extent.to_string()),
        ("complete", (status == DatasetStatus::Complete).to_string()),
        ("status", status.as_str().to_owned()),
    ];
    if status == DatasetStatus::Failed {
        record.push(("frames_handed", progress.frames_written.to_string()));
    }
    record
}

/// Image `p`'s acquisition annotation: the frames written to it, then `record`; with
/// `settings`, image 0's also records the settings.
pub(crate) fn image_record(
    plan: &Plan,
    p: usize,
    written: u64,
    record: &[(&'static str, String)],
    unreadable: u64,
    settings: bool,
) -> Vec<(&'static str, String)> {
    let mut image_record = vec![("image_frames_written", written.to_string())];
    image_record.extend(record.iter().cloned());
    if unreadable > 0 {
        image_record.push(("frame_metadata_lines_unreadable", unreadable.to_string()));
    }
    if settings && p == 0 {
        image_record.push((ome::SETTINGS_KEY, settings_json(plan)));
    }
    image_record
}

impl Backend for TiffBackend {
    fn write(
        &mut self,
        position: PositionIndex,
        index: &StorageIndex,
        frame: &[u8],
        metadata: Option<&FrameMetadata>,
    ) -> Result<(), BackendError> {
        if self.finalized {
            return Err(BackendError::Finalized);
        }
        let result = self.store(position, index, frame, metadata);
        self.failed |= result.is_err();
        self.view.written(result.is_ok());
        result
    }

    fn reader(&self) -> Option<Arc<dyn PlaneReader>> {
        self.view.reader(&self.plan)
    }

    fn frames_readable(&self) -> u64 {
        self.view.readable()
    }

    fn flush(&mut self) -> Result<(), BackendError> {
        if self.finalized {
            return Err(BackendError::Finalized);
        }
        let result = self.sync_all();
        self.failed |= result.is_err();
        result
    }

    fn finalize(&mut self, progress: &Progress) -> Result<Summary, BackendError> {
        if self.finalized {
            return Err(BackendError::Finalized);
        }
        let status = progress.status(self.failed);
        let failed = status == DatasetStatus::Failed;
        // A failed acquisition keeps what is on disk: no zero planes for frames that
        // were never stored beyond the last step its pages reach.
        let extent = if failed {
            self.disk_extent()
        } else {
            progress.growth_extent
        };
        let record = stream_record(self.frames_written, progress, status, extent);
        self.finish(extent, &record, failed)
    }

    fn set_global_metadata(
        &mut self,
        namespace: &str,
        value: &serde_json::Value,
    ) -> Result<(), BackendError> {
        self.set_global(namespace, value)
    }
}

impl Drop for TiffBackend {
    fn drop(&mut self) {
        if self.finalized {
            return;
        }
        let extent = self.disk_extent();
        let status = if self.failed {
            DatasetStatus::Failed
        } else {
            DatasetStatus::Partial
        };
        let record = [
            ("frames_written", self.frames_written.to_string()),
            ("complete", "false".to_owned()),
            ("status", status.as_str().to_owned()),
            ("finalized_on_drop", "true".to_owned()),
        ];
        if let Err(e) = self.finish(extent, &record, self.failed) {
            log::error!(
                "OME-TIFF {}: finalizing on drop failed: {}",
                self.plan.output.display(),
                ome_writers_backend::error_chain(&e)
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(dir: &std::path::Path) -> TiffBackend {
        let schema = Schema::from_json(&format!(
            r#"{{"root_path": {:?}, "dtype": "uint8", "dimensions": [
                {{"name": "t", "count": 4}}, {{"name": "y", "count": 2}}, {{"name": "x", "count": 2}}]}}"#,
            dir.join("s.ome.tiff")
        ))
        .unwrap_or_else(|e| panic!("{e}"));
        TiffBackend::create(&schema).unwrap_or_else(|e| panic!("{e}"))
    }

    fn description(dir: &std::path::Path) -> String {
        let file = fs::File::open(dir.join("s.ome.tiff")).unwrap_or_else(|e| panic!("{e}"));
        let mut d = tiff::decoder::Decoder::new(std::io::BufReader::new(file))
            .unwrap_or_else(|e| panic!("{e}"));
        d.get_tag_ascii_string(tiff::tags::Tag::ImageDescription)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn write(tiff: &mut TiffBackend, t: u64) -> Result<(), BackendError> {
        let index = StorageIndex::new(&[t]).unwrap_or_default();
        tiff.write(PositionIndex(0), &index, &[1; 4], None)
    }

    #[test]
    fn a_failed_stream_is_recorded_as_failed_never_complete() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut tiff = backend(dir.path());
        for t in 0..2 {
            write(&mut tiff, t).unwrap_or_else(|e| panic!("{e}"));
        }
        let progress = Progress {
            frames_written: 3,
            frames_reached: 4,
            growth_extent: 4,
            complete: true,
            failed: true,
            ..Progress::default()
        };
        assert_eq!(progress.status(false), DatasetStatus::Failed);
        let summary = tiff.finalize(&progress).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(summary.frames_written, 2);
        let xml = description(dir.path());
        assert!(xml.contains(r#"<M K="status">failed</M>"#), "{xml}");
        assert!(xml.contains(r#"<M K="complete">false</M>"#), "{xml}");
        assert!(xml.contains(r#"<M K="frames_written">2</M>"#), "{xml}");
        // Only the planes on disk are described: no padding to the stream's extent.
        assert!(xml.contains(r#"SizeT="2""#), "{xml}");
        assert!(xml.contains(r#"<M K="settings">"#), "{xml}");
    }

    #[test]
    fn the_backends_own_failure_makes_the_status_failed() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut tiff = backend(dir.path());
        write(&mut tiff, 1).unwrap_or_else(|e| panic!("{e}"));
        // Refused (plane 0 is behind the written ones): a write that returned an error.
        assert!(write(&mut tiff, 0).is_err());
        let progress = Progress {
            growth_extent: 2,
            complete: true,
            ..Progress::default()
        };
        tiff.finalize(&progress).unwrap_or_else(|e| panic!("{e}"));
        let xml = description(dir.path());
        assert!(xml.contains(r#"<M K="status">failed</M>"#), "{xml}");
    }
}
