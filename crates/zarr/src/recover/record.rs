//! The `repaired` record recovery leaves in each image group's
//! `attributes.ome_writers` ([`crate::REPAIRED_KEY`]): its keys are this struct's
//! fields, defined here once.

use serde::Serialize;
use serde_json::Value;

use super::report::ImageRecovery;

/// What the record says of the repair itself.
const NOTE: &str = "the writer stopped before finishing (killed, or after a write error); \
    omew repair set the shape from the chunks on disk (partial-acquisition rule), counted \
    the frames from the chunks present and undamaged, and folded the frame-metadata \
    journal; planes never written, including every plane of a missing or damaged chunk, \
    read as the fill value 0; a damaged chunk is kept beside its key as .<name>.damaged";

/// `attributes.ome_writers.repaired`.
#[derive(Serialize)]
pub(super) struct RepairedRecord<'a> {
    note: &'static str,
    by: &'static str,
    /// The status recorded before, as it was.
    status_before: &'a Value,
    /// `frames_written` before, as it was.
    frames_durable: &'a Value,
    frames_counted: u64,
    shape_before: &'a [u64],
    growth_extent: Option<u64>,
    chunks_on_disk: usize,
    missing_chunk_count: Value,
    missing_chunks: &'a [String],
    damaged_chunks: Vec<DamagedRecord<'a>>,
    frame_metadata_from_journal: usize,
    journal_lines_unreadable: usize,
}

#[derive(Serialize)]
struct DamagedRecord<'a> {
    key: &'a str,
    reason: &'a str,
}

impl<'a> RepairedRecord<'a> {
    pub(super) fn new(
        image: &'a ImageRecovery,
        status_before: &'a Value,
        frames_durable: &'a Value,
        growth_extent: Option<u64>,
    ) -> Self {
        Self {
            note: NOTE,
            by: concat!("omew ", env!("CARGO_PKG_VERSION")),
            status_before,
            frames_durable,
            frames_counted: image.frames_counted,
            shape_before: &image.shape_before,
            growth_extent,
            chunks_on_disk: image.chunks_on_disk,
            missing_chunk_count: image.chunks_missing.to_json(),
            missing_chunks: &image.missing_keys,
            damaged_chunks: image
                .damaged
                .iter()
                .map(|d| DamagedRecord {
                    key: &d.key,
                    reason: &d.reason,
                })
                .collect(),
            frame_metadata_from_journal: image.journal_entries_folded,
            journal_lines_unreadable: image.journal_lines_unreadable,
        }
    }
}
