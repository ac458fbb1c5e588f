//! `ScratchBackend`: create (memory or files, the limit checked first), write (grow,
//! store, the metadata line), flush (a durability point), finalize (the
//! partial-acquisition rule, the final manifest).

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use ome_writers_backend::{
    Backend, BackendError, DatasetStatus, FrameMetadata, GlobalMetadata, OutputLock, PlaneReader,
    Progress, Summary, prepare_output, sync_dir,
};
use ome_writers_schema::{AcquisitionSettings, PositionIndex, Schema, StorageIndex, Target};
use serde_json::{Map, Value, json};

use crate::ScratchError;
use crate::arrays::{Grown, Location, Medium, ScratchArrays, Shared};
use crate::layout::Layout;
use crate::manifest::{self, Record};
use crate::names::{FRAME_METADATA, INDEX_KEY, POSITION_KEY, ScratchOwnership};

/// The scratch backend: one raw array per position, in storage order (Y, X last).
pub struct ScratchBackend {
    arrays: ScratchArrays,
    settings: AcquisitionSettings,
    axes: Vec<String>,
    /// `frame_metadata.jsonl`, open while the arrays are files; each line is written
    /// as its frame is (so a killed process loses none), synced at durability points.
    journal: Option<File>,
    /// The lines while the arrays are in memory (written out if they spill).
    held_lines: Vec<u8>,
    lock: OutputLock,
    global: GlobalMetadata,
    frames_written: u64,
    bytes_received: u64,
    metadata_lines: u64,
    /// Frames readable from the first (stops at the first failed write).
    readable: u64,
    failed: bool,
    finalized: bool,
}

impl std::fmt::Debug for ScratchBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScratchBackend")
            .field("arrays", &self.arrays)
            .field("frames_written", &self.frames_written)
            .finish_non_exhaustive()
    }
}

impl ScratchBackend {
    /// Create the arrays a scratch schema describes. Without `root_path` they are in
    /// memory if they fit `max_memory_bytes` (else a spill directory, or
    /// [`ScratchError::MemoryLimit`] before anything is allocated); with it, files in
    /// that directory, taken as every backend takes its output (lock, `overwrite` only
    /// of a scratch directory this library wrote).
    pub fn create(schema: &Schema) -> Result<Self, BackendError> {
        let Some(format) = schema.scratch_options() else {
            return Err(BackendError::Unsupported {
                backend: "scratch",
                reason: "the schema does not select the scratch format".to_owned(),
            });
        };
        let layout = Layout::new(schema);
        let (max, spill) = (format.max_memory_bytes, format.spill_to_disk);
        let rows = layout.initial_rows();
        let mut prepared = None;
        let medium = match schema.target() {
            Target::Disk { path } => {
                let taken = prepare_output(path, &ScratchOwnership, schema.overwrite())?;
                std::fs::create_dir(path).map_err(|e| BackendError::io(path, e))?;
                prepared = Some((taken, path.clone()));
                match Shared::files(&layout, Location::Kept(path.clone()), rows) {
                    Ok(medium) => medium,
                    Err(e) => {
                        remove_new(prepared);
                        return Err(e.into());
                    }
                }
            }
            Target::Memory => match Shared::memory(&layout, max) {
                Err(ScratchError::MemoryLimit { needed, .. }) if spill => {
                    let dir = tempfile::Builder::new()
                        .prefix("ome_scratch_")
                        .tempdir()
                        .map_err(|e| BackendError::io(std::env::temp_dir(), e))?;
                    log::warn!(
                        "scratch arrays would need {needed} bytes in memory, over \
                         max_memory_bytes={max}: using disk-backed storage at {}",
                        dir.path().display()
                    );
                    Shared::files(&layout, Location::Temp(dir), rows)?
                }
                other => other?,
            },
            Target::Omero { .. } | Target::S3 { .. } => {
                return Err(BackendError::Unsupported {
                    backend: "scratch",
                    reason: "an OMERO or s3:// address is not a directory".to_owned(),
                });
            }
        };
        let on_disk = matches!(medium, Medium::Files { .. });
        let shared = Shared::new(layout, schema.dtype(), max, spill, medium);
        let mut backend = Self {
            arrays: ScratchArrays {
                shared: Arc::new(shared),
            },
            settings: schema.settings().clone(),
            axes: schema.array_dims().map(|d| d.name().to_owned()).collect(),
            journal: None,
            held_lines: Vec::new(),
            lock: OutputLock::none(),
            global: GlobalMetadata::default(),
            frames_written: 0,
            bytes_received: 0,
            metadata_lines: 0,
            readable: 0,
            failed: false,
            finalized: false,
        };
        if on_disk && let Err(e) = backend.start_files() {
            drop(backend);
            remove_new(prepared);
            return Err(e);
        }
        // The new dataset is in place: an old one moved aside goes now.
        if let Some((taken, _)) = prepared {
            backend.lock = taken.commit();
        }
        Ok(backend)
    }

    /// A handle on the arrays (live, and after finalize).
    pub fn arrays(&self) -> ScratchArrays {
        self.arrays.clone()
    }

    /// Keep a spill directory after the arrays are dropped (it is removed with them
    /// otherwise); its path. `None` while the arrays are in memory.
    pub fn keep_spill_dir(&self) -> Option<PathBuf> {
        self.arrays.shared.keep()
    }

    /// The arrays just became files: open the journal, write the first manifest.
    fn start_files(&mut self) -> Result<(), BackendError> {
        let Some(dir) = self.arrays.dir() else {
            return Ok(());
        };
        let path = dir.join(FRAME_METADATA);
        let mut f = File::options()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| BackendError::io(&path, e))?;
        f.write_all(&std::mem::take(&mut self.held_lines))
            .map_err(|e| BackendError::io(&path, e))?;
        self.journal = Some(f);
        self.write_manifest(DatasetStatus::Acquiring, None)?;
        sync_dir(&dir)
    }

    fn write_manifest(
        &self,
        status: DatasetStatus,
        repaired: Option<Value>,
    ) -> Result<(), BackendError> {
        let Some(dir) = self.arrays.dir() else {
            return Ok(());
        };
        let shape = self.arrays.shape();
        let record = Record {
            shapes: vec![shape; self.arrays.positions()],
            axes: self.axes.clone(),
            global: &self.global,
            status,
            frames_written: self.frames_written,
            frame_metadata_count: self.metadata_lines,
            repaired,
        };
        manifest::write(&dir, &manifest::document(&self.settings, &record))
    }

    fn journal_line(
        &mut self,
        position: PositionIndex,
        index: &StorageIndex,
        metadata: &FrameMetadata,
    ) -> Result<(), BackendError> {
        if let Some(key) = [POSITION_KEY, INDEX_KEY]
            .into_iter()
            .find(|k| metadata.contains_key(*k))
        {
            return Err(ScratchError::ReservedKey {
                key: key.to_owned(),
            }
            .into());
        }
        let mut line = Map::new();
        line.insert(POSITION_KEY.into(), json!(position.0));
        line.insert(INDEX_KEY.into(), json!(index.as_slice()));
        line.extend(metadata.iter().map(|(k, v)| (k.clone(), v.clone())));
        let mut bytes = serde_json::to_vec(&Value::Object(line))?;
        bytes.push(b'\n');
        let path = || self.arrays.dir().unwrap_or_default().join(FRAME_METADATA);
        match self.journal.as_mut() {
            Some(journal) => journal
                .write_all(&bytes)
                .map_err(|e| BackendError::io(path(), e))?,
            None => {
                self.held_lines
                    .try_reserve(bytes.len())
                    .map_err(|_| ScratchError::OutOfMemory { bytes: bytes.len() })?;
                self.held_lines.extend_from_slice(&bytes);
            }
        }
        self.metadata_lines += 1;
        Ok(())
    }

    fn store(
        &mut self,
        position: PositionIndex,
        index: &StorageIndex,
        frame: &[u8],
        metadata: Option<&FrameMetadata>,
    ) -> Result<(), BackendError> {
        let shared = Arc::clone(&self.arrays.shared);
        let (row, plane) = shared.layout.locate(index)?;
        if shared.grow(row + 1)? == Grown::Spilled {
            self.start_files()?;
        }
        if let Some(m) = metadata.filter(|m| !m.is_empty()) {
            self.journal_line(position, index, m)?;
        }
        shared.write(position.0, plane, frame)?;
        self.frames_written += 1;
        self.bytes_received += frame.len() as u64;
        Ok(())
    }

    fn sync_journal(&mut self) -> Result<(), BackendError> {
        let path = self.arrays.dir().unwrap_or_default().join(FRAME_METADATA);
        if let Some(j) = self.journal.as_ref() {
            j.sync_data().map_err(|e| BackendError::io(&path, e))?;
        }
        Ok(())
    }
}

/// Creation failed: remove the directory just created (nothing half-made stays), then
/// let the prepared output put an old dataset moved aside back.
fn remove_new(prepared: Option<(ome_writers_backend::PreparedOutput, PathBuf)>) {
    if let Some((taken, path)) = prepared {
        if let Err(e) = std::fs::remove_dir_all(&path) {
            log::error!(
                "{}: could not remove the half-made scratch directory: {e}",
                path.display()
            );
        }
        drop(taken);
    }
}

impl Backend for ScratchBackend {
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
        match &result {
            Ok(()) if !self.failed => self.readable += 1,
            Ok(()) => {}
            Err(_) => self.failed = true,
        }
        result
    }

    fn flush(&mut self) -> Result<(), BackendError> {
        if self.arrays.dir().is_none() {
            return Ok(());
        }
        self.arrays.shared.sync()?;
        self.sync_journal()?;
        self.write_manifest(DatasetStatus::Acquiring, None)
    }

    fn finalize(&mut self, progress: &Progress) -> Result<Summary, BackendError> {
        if self.finalized {
            return Err(BackendError::Finalized);
        }
        self.finalized = true;
        let shared = Arc::clone(&self.arrays.shared);
        // The partial-acquisition rule: the growth axis keeps growth_extent rows when
        // it is the first axis (the array's tail); otherwise the declared shape stays.
        if shared.layout.trims_first && (shared.layout.unbounded() || !progress.complete) {
            shared.set_rows(progress.growth_extent.max(1))?;
        }
        let status = progress.status(self.failed);
        let mut first = None;
        if let Some(dir) = self.arrays.dir() {
            let steps = [
                shared.sync().map_err(BackendError::from),
                self.sync_journal(),
                self.write_manifest(status, None),
                sync_dir(&dir),
            ];
            first = steps.into_iter().find_map(Result::err);
        }
        self.journal = None;
        drop(std::mem::replace(&mut self.lock, OutputLock::none()));
        if let Some(e) = first {
            return Err(e);
        }
        let paths = match self.settings.root_path.trim() {
            "" => vec![],
            root => vec![PathBuf::from(root)],
        };
        Ok(Summary {
            paths,
            frames_written: self.frames_written,
            bytes_received: self.bytes_received,
            shape: self.arrays.shape(),
        })
    }

    fn reader(&self) -> Option<Arc<dyn PlaneReader>> {
        Some(Arc::new(self.arrays.clone()))
    }

    fn frames_readable(&self) -> u64 {
        self.readable
    }

    fn set_global_metadata(&mut self, namespace: &str, value: &Value) -> Result<(), BackendError> {
        self.global.set(namespace, value.clone());
        Ok(())
    }
}
