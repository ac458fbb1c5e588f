//! Counting from what is on disk, by the partial-acquisition rule: the frames whose
//! chunks are present, the growth axis's extent, and the chunks missing inside a shape.

use std::collections::HashMap;
use std::path::Path;

use ome_writers_schema::Schema;
use serde_json::Value;

use super::Found;
use super::report::MissingChunks;
use super::scan::ImageGroup;
use ome_writers_schema::{FrameNumber, FrameOrder};

/// Most missing chunk keys listed by name in the `repaired` record.
const LIST_MISSING: usize = 100;
/// Chunk grids larger than this are not enumerated for missing chunks.
const MAX_ENUMERATED: u128 = 1 << 20;

/// Frames counted from the chunk files present: the longest prefix of frames (in
/// acquisition order, at most the declared count) whose every chunk is on disk and
/// undamaged; when a chunk holds several planes (a present chunk may be the copy a
/// durability point stored, its later planes still 0) no more than the metadata
/// claims. Returns the count per image (in `images` order) and the total.
pub(super) fn frames_on_disk(
    schema: &Schema,
    order: &dyn FrameOrder,
    images: &[ImageGroup],
    found: &[Found],
    root: &Path,
    claimed: u64,
) -> (Vec<u64>, u64) {
    // Position index -> image (in `images` order), through a map: O(positions).
    let by_path: HashMap<&Path, usize> = images
        .iter()
        .enumerate()
        .filter_map(|(i, img)| img.dir.strip_prefix(root).ok().map(|r| (r, i)))
        .collect();
    let image_of: Vec<Option<usize>> = crate::image_groups(schema)
        .iter()
        .map(|g| by_path.get(Path::new(g)).copied())
        .collect();
    let limit = order.total().unwrap_or(u64::MAX);
    let single_plane = found.first().is_some_and(|f| {
        let n = f.chunk_shape.len().saturating_sub(2);
        f.chunk_shape.iter().take(n).all(|&c| c == 1)
    });
    let limit = if single_plane {
        limit
    } else {
        limit.min(claimed)
    };
    let mut per_image = vec![0u64; images.len()];
    let mut n = 0u64;
    while n < limit {
        let Some((position, index)) = order.place(FrameNumber(n)) else {
            break;
        };
        let Some(Some(i)) = image_of.get(position.0) else {
            break;
        };
        let Some(f) = found.get(*i) else {
            break;
        };
        if !frame_chunks_present(f, index.as_slice()) {
            break;
        }
        per_image[*i] += 1;
        n += 1;
    }
    (per_image, n)
}

/// Whether every chunk holding the frame at storage index `idx` is present.
fn frame_chunks_present(f: &Found, idx: &[u64]) -> bool {
    let ndim = f.chunk_shape.len();
    if idx.len() + 2 != ndim {
        return false;
    }
    let (Some(&ny), Some(&nx)) = (f.shape.get(ndim - 2), f.shape.get(ndim - 1)) else {
        return false;
    };
    let (cy, cx) = (f.chunk_shape[ndim - 2], f.chunk_shape[ndim - 1]);
    let mut key: Vec<u64> = idx.iter().zip(&f.chunk_shape).map(|(i, c)| i / c).collect();
    key.extend([0, 0]);
    for by in 0..ny.div_ceil(cy) {
        for bx in 0..nx.div_ceil(cx) {
            key[ndim - 2] = by;
            key[ndim - 1] = bx;
            if !f.scan.chunks.contains_key(&key) {
                return false;
            }
        }
    }
    true
}

/// The growth-axis extent every image gets: covering the last chunk on disk (clamped
/// to the declared count), and for an unbounded axis no further than the growth unit
/// of the first frame not counted (a crafted far chunk cannot make it absurd).
pub(super) fn growth_extent(
    schema: &Schema,
    order: &dyn FrameOrder,
    found: &[Found],
    frames: u64,
) -> Option<u64> {
    let g = schema.growth_axis()?;
    let declared = schema.array_shape(None);
    let unbounded = schema
        .array_dims()
        .nth(g)
        .is_some_and(|d| d.count().is_none());
    let mut extent = 0u64;
    for f in found {
        let c = f.chunk_shape.get(g).copied().unwrap_or(1);
        for idx in f.scan.chunks.keys() {
            if let Some(&i) = idx.get(g) {
                extent = extent.max(i.saturating_add(1).saturating_mul(c));
            }
        }
        for entry in &f.journal {
            if let Some(i) = entry["storage_index"].get(g).and_then(Value::as_u64) {
                extent = extent.max(i.saturating_add(1));
            }
        }
    }
    if unbounded {
        let c = found
            .first()
            .and_then(|f| f.chunk_shape.get(g).copied())
            .unwrap_or(1);
        let next_unit = order
            .place(FrameNumber(frames))
            .and_then(|(_, index)| index.as_slice().get(g).copied())
            .map_or(u64::MAX, |i| (i / c + 1).saturating_mul(c));
        extent = extent.min(next_unit).max(order.extent_reached(frames));
    } else {
        extent = extent.min(declared[g]);
    }
    Some(extent)
}

/// Chunks inside `shape` that are not on disk: how many (or that the grid is too
/// large to count), and the first [`LIST_MISSING`] keys.
pub(super) fn missing_chunks(shape: &[u64], f: &Found) -> (MissingChunks, Vec<String>) {
    let grid: Vec<u64> = shape
        .iter()
        .zip(&f.chunk_shape)
        .map(|(s, c)| s.div_ceil(*c))
        .collect();
    let cells: u128 = grid.iter().map(|&n| u128::from(n)).product();
    if cells > MAX_ENUMERATED {
        return (MissingChunks::NotCounted, Vec::new());
    }
    let mut missing = Vec::new();
    let mut count = 0u64;
    let mut idx = vec![0u64; grid.len()];
    if cells > 0 {
        loop {
            if !f.scan.chunks.contains_key(&idx) {
                count += 1;
                if missing.len() < LIST_MISSING {
                    missing.push(f.enc.key(&idx));
                }
            }
            // Next index, last axis fastest.
            let mut k = grid.len();
            loop {
                if k == 0 {
                    break;
                }
                k -= 1;
                idx[k] += 1;
                if idx[k] < grid[k] {
                    break;
                }
                idx[k] = 0;
            }
            if idx.iter().all(|&i| i == 0) {
                break;
            }
        }
    }
    (MissingChunks::Counted(count), missing)
}
