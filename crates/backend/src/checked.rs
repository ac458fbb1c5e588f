//! The one checked layer every backend runs behind: it enforces the [`Backend`]
//! contract (frame length, position and index bounds, the finalized state, the
//! [`Progress`] contract) so that a backend's own code may assume it, and misuse is a
//! [`UsageError`], never a panic and never a file.

use std::sync::Arc;

use ome_writers_schema::{PositionIndex, Schema, StorageIndex};

use crate::{
    Backend, BackendError, FrameBuffer, FrameMetadata, PlaneReader, Progress, Summary,
    check_namespace,
};

/// A call that breaks the [`Backend`] contract; nothing was written for it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
    /// The frame does not hold exactly one frame of the schema's dtype.
    #[error("a frame of {got} bytes; the schema's frames have {expected}")]
    FrameLength {
        /// Bytes per frame of the schema.
        expected: usize,
        /// Bytes given.
        got: usize,
    },
    /// A position the schema does not have.
    #[error("position {position} does not exist ({count} positions)")]
    Position {
        /// The position given.
        position: usize,
        /// Positions in the schema.
        count: usize,
    },
    /// A storage index of the wrong length, or past the declared shape.
    #[error(
        "storage index {index:?} is outside the array (storage extents {extents:?}; 0 = unbounded)"
    )]
    Index {
        /// The index given.
        index: Vec<u64>,
        /// The declared storage extents (0 on an unbounded axis).
        extents: Vec<u64>,
    },
    /// A call after `finalize`.
    #[error("the backend was already finalized; no {call} after finalize")]
    Finalized {
        /// `write`, `flush` or `finalize`.
        call: &'static str,
    },
    /// A global-metadata namespace that is empty or reserved.
    #[error("global metadata namespace {namespace:?}: {reason}")]
    Namespace {
        /// The namespace given.
        namespace: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A `Progress` that contradicts itself.
    #[error("inconsistent Progress: {reason}")]
    Progress {
        /// What is inconsistent.
        reason: String,
    },
}

/// A backend behind the contract checks. The facade puts every backend behind one.
///
/// At finalize the [`Progress`] it passes on never trims below what was written: its
/// `growth_extent` is raised to cover the highest growth-axis index written, and
/// `complete` is cleared if `failed` is set.
pub struct Checked<B> {
    inner: B,
    frame_bytes: usize,
    positions: usize,
    /// Declared storage extents without Y/X (0 = unbounded).
    extents: Vec<u64>,
    growth_axis: Option<usize>,
    /// Highest growth-axis index written + 1.
    reached: u64,
    finalized: bool,
}

impl<B: Backend> Checked<B> {
    /// Put `inner`, a backend for `schema`, behind the checks.
    pub fn new(schema: &Schema, inner: B) -> Self {
        let shape = schema.array_shape(None);
        let n_index = shape.len().saturating_sub(2);
        Self {
            inner,
            frame_bytes: schema.frame_bytes(),
            positions: schema.positions().len().max(1),
            extents: shape.into_iter().take(n_index).collect(),
            growth_axis: schema.growth_axis(),
            reached: 0,
            finalized: false,
        }
    }

    /// The backend inside.
    pub fn inner(&self) -> &B {
        &self.inner
    }

    fn check_write(
        &mut self,
        position: PositionIndex,
        index: &StorageIndex,
        len: usize,
    ) -> Result<(), UsageError> {
        if self.finalized {
            return Err(UsageError::Finalized { call: "write" });
        }
        if len != self.frame_bytes {
            return Err(UsageError::FrameLength {
                expected: self.frame_bytes,
                got: len,
            });
        }
        if position.0 >= self.positions {
            return Err(UsageError::Position {
                position: position.0,
                count: self.positions,
            });
        }
        let idx = index.as_slice();
        let outside = idx.len() != self.extents.len()
            || idx
                .iter()
                .zip(&self.extents)
                .enumerate()
                .any(|(k, (&i, &n))| i >= n && !(n == 0 && Some(k) == self.growth_axis));
        if outside {
            return Err(UsageError::Index {
                index: idx.to_vec(),
                extents: self.extents.clone(),
            });
        }
        if let Some(&g) = self.growth_axis.and_then(|g| idx.get(g)) {
            self.reached = self.reached.max(g.saturating_add(1));
        }
        Ok(())
    }

    fn checked_progress(&self, progress: &Progress) -> Result<Progress, UsageError> {
        if progress.frames_reached
            < progress
                .frames_written
                .saturating_add(progress.frames_skipped)
        {
            return Err(UsageError::Progress {
                reason: format!(
                    "frames_reached {} is below frames_written {} + frames_skipped {}",
                    progress.frames_reached, progress.frames_written, progress.frames_skipped
                ),
            });
        }
        let mut p = *progress;
        p.growth_extent = p.growth_extent.max(self.reached);
        if p.failed {
            p.complete = false;
        }
        Ok(p)
    }
}

impl<B: Backend> Backend for Checked<B> {
    fn write(
        &mut self,
        position: PositionIndex,
        index: &StorageIndex,
        frame: &[u8],
        metadata: Option<&FrameMetadata>,
    ) -> Result<(), BackendError> {
        self.check_write(position, index, frame.len())?;
        self.inner.write(position, index, frame, metadata)
    }

    fn write_owned(
        &mut self,
        position: PositionIndex,
        index: &StorageIndex,
        frame: FrameBuffer,
        metadata: Option<&FrameMetadata>,
    ) -> Result<(), BackendError> {
        self.check_write(position, index, frame.len_bytes())?;
        self.inner.write_owned(position, index, frame, metadata)
    }

    fn flush(&mut self) -> Result<(), BackendError> {
        if self.finalized {
            return Err(UsageError::Finalized { call: "flush" }.into());
        }
        self.inner.flush()
    }

    fn finalize(&mut self, progress: &Progress) -> Result<Summary, BackendError> {
        if self.finalized {
            return Err(UsageError::Finalized { call: "finalize" }.into());
        }
        let progress = self.checked_progress(progress)?;
        self.finalized = true;
        self.inner.finalize(&progress)
    }

    fn reader(&self) -> Option<Arc<dyn PlaneReader>> {
        self.inner.reader()
    }

    fn frames_readable(&self) -> u64 {
        self.inner.frames_readable()
    }

    fn set_global_metadata(
        &mut self,
        namespace: &str,
        value: &serde_json::Value,
    ) -> Result<(), BackendError> {
        if self.finalized {
            return Err(UsageError::Finalized {
                call: "set_global_metadata",
            }
            .into());
        }
        check_namespace(namespace)?;
        self.inner.set_global_metadata(namespace, value)
    }
}

impl Backend for Box<dyn Backend> {
    fn write(
        &mut self,
        position: PositionIndex,
        index: &StorageIndex,
        frame: &[u8],
        metadata: Option<&FrameMetadata>,
    ) -> Result<(), BackendError> {
        (**self).write(position, index, frame, metadata)
    }

    fn write_owned(
        &mut self,
        position: PositionIndex,
        index: &StorageIndex,
        frame: FrameBuffer,
        metadata: Option<&FrameMetadata>,
    ) -> Result<(), BackendError> {
        (**self).write_owned(position, index, frame, metadata)
    }

    fn flush(&mut self) -> Result<(), BackendError> {
        (**self).flush()
    }

    fn finalize(&mut self, progress: &Progress) -> Result<Summary, BackendError> {
        (**self).finalize(progress)
    }

    fn reader(&self) -> Option<Arc<dyn PlaneReader>> {
        (**self).reader()
    }

    fn frames_readable(&self) -> u64 {
        (**self).frames_readable()
    }

    fn set_global_metadata(
        &mut self,
        namespace: &str,
        value: &serde_json::Value,
    ) -> Result<(), BackendError> {
        (**self).set_global_metadata(namespace, value)
    }
}
