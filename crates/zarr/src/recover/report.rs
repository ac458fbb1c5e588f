//! [`RecoveryReport`]: what [`crate::recover`] found and did, typed; its `Display` is
//! what `omew repair` prints.

use std::fmt;
use std::path::PathBuf;

use ome_writers_backend::DatasetStatus;

/// What [`crate::recover`] found in, and did to, an OME-Zarr dataset.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveryReport {
    /// The dataset root.
    pub root: PathBuf,
    /// Why nothing was changed, when nothing was: then every other field is empty.
    pub nothing_to_repair: Option<NothingToRepair>,
    /// The dataset's status afterwards (`partial`, or `complete` when every declared
    /// frame was counted); `None` when nothing was changed.
    pub status: Option<DatasetStatus>,
    /// Frames counted from the chunks on disk, over every image.
    pub frames_counted: u64,
    /// The growth axis's extent every image got (`None`: no growth axis).
    pub growth_extent: Option<u64>,
    /// One entry per image group, depth first.
    pub images: Vec<ImageRecovery>,
    /// Whether the writer's space reserve (`.ome_writers.reserve`) was removed.
    pub reserve_removed: bool,
}

/// Why [`crate::recover`] left a dataset untouched.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NothingToRepair {
    /// No image's status is `acquiring` or `failed`: finished, or already repaired.
    Finished {
        /// The first image's status, as recorded.
        status: String,
        /// Image groups found.
        images: usize,
    },
    /// A directory without a root `zarr.json` that holds no data (the writer was killed
    /// while creating it; no frame was written).
    NothingWritten,
}

/// What [`crate::recover`] found in, and did to, one image group.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImageRecovery {
    /// The group, relative to the root (`""`: the root is the image).
    pub name: String,
    /// Its status before (`None`: not a status word).
    pub status_before: Option<DatasetStatus>,
    /// Its status after (the dataset's).
    pub status_after: DatasetStatus,
    /// Frames the metadata claimed (`frames_written`; only ever an upper bound).
    pub frames_claimed: Option<u64>,
    /// Frames counted from its chunks on disk.
    pub frames_counted: u64,
    /// The array's shape before.
    pub shape_before: Vec<u64>,
    /// The array's shape after.
    pub shape_after: Vec<u64>,
    /// Chunk (or shard) files on disk and undamaged.
    pub chunks_on_disk: usize,
    /// Chunks inside the shape after that are not on disk (they read as 0).
    pub chunks_missing: MissingChunks,
    /// The first missing chunks' keys (at most 100).
    pub missing_keys: Vec<String>,
    /// Chunks found damaged and set aside as `.<name>.damaged`.
    pub damaged: Vec<DamagedChunk>,
    /// Frame-metadata journal entries folded into `zarr.json`.
    pub journal_entries_folded: usize,
    /// Journal lines that did not parse (a line torn by the kill), dropped.
    pub journal_lines_unreadable: usize,
    /// Stale temporary files (`.*.partial`, `.*.tmp`) removed from the group.
    pub stale_files_removed: usize,
}

/// How many chunks inside an array's shape are not on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MissingChunks {
    /// Counted.
    Counted(u64),
    /// The chunk grid is too large to enumerate.
    NotCounted,
}

/// A chunk set aside as damaged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DamagedChunk {
    /// Its key, relative to the array directory.
    pub key: String,
    /// What is wrong with it.
    pub reason: String,
}

impl RecoveryReport {
    /// Stale temporary files removed, the space reserve included.
    #[must_use]
    pub fn stale_files_removed(&self) -> usize {
        self.images
            .iter()
            .map(|i| i.stale_files_removed)
            .sum::<usize>()
            + usize::from(self.reserve_removed)
    }

    pub(crate) fn unchanged(root: PathBuf, why: NothingToRepair) -> Self {
        Self {
            root,
            nothing_to_repair: Some(why),
            status: None,
            frames_counted: 0,
            growth_extent: None,
            images: Vec::new(),
            reserve_removed: false,
        }
    }
}

impl MissingChunks {
    /// As the `repaired` record holds it: the count, or why there is none.
    pub(crate) fn to_json(self) -> serde_json::Value {
        match self {
            Self::Counted(n) => n.into(),
            Self::NotCounted => "not counted (grid too large)".into(),
        }
    }
}

impl fmt::Display for RecoveryReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let root = self.root.display();
        match &self.nothing_to_repair {
            Some(NothingToRepair::Finished { status, images }) => {
                let status = serde_json::Value::from(status.as_str());
                return write!(
                    f,
                    "nothing to repair: {root} has status {status} ({images} image(s))"
                );
            }
            Some(NothingToRepair::NothingWritten) => {
                return write!(
                    f,
                    "nothing to repair: {root} holds no data and no root zarr.json (the \
                     writer was killed while creating it; no frame was written)"
                );
            }
            None => {}
        }
        for image in &self.images {
            writeln!(f, "{image}")?;
        }
        let status = self.status.map_or("", DatasetStatus::as_str);
        write!(
            f,
            "repaired {root}: status {status}, {} frame(s) counted from the chunks on disk",
            self.frames_counted
        )?;
        match self.stale_files_removed() {
            0 => Ok(()),
            n => write!(f, ", {n} stale temporary file(s) removed"),
        }
    }
}

impl fmt::Display for ImageRecovery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let missing = self.chunks_missing.to_json();
        let claimed = self
            .frames_claimed
            .map_or_else(|| "null".to_owned(), |n| n.to_string());
        write!(
            f,
            "image {:?}: shape {:?} -> {:?}, {} chunk(s) on disk, {missing} missing (read as \
             0), {} damaged (set aside, read as 0), {} frame(s) counted ({claimed} claimed), \
             {} frame metadata entr(ies) folded from the journal",
            self.name,
            self.shape_before,
            self.shape_after,
            self.chunks_on_disk,
            self.damaged.len(),
            self.frames_counted,
            self.journal_entries_folded,
        )
    }
}
