//! `omew repair` of a pyramid: every level rebuilt from level 0 as it is on disk.
//!
//! Repair is the one place that reads level 0 back (offline, the writer gone): each
//! plane inside the final shape, in acquisition order (missing chunks read as the
//! fill value, as they do for every reader), goes through the same reduction and level
//! writers as during acquisition, so every level matches level 0 whatever the writer
//! had stored of it; level chunks past the final shape are left, unreferenced.

use std::path::Path;
use std::sync::Arc;

use ome_writers_backend::{BackendError, EncoderOptions, Progress, ReadDir};
use ome_writers_schema::{FrameNumber, FrameOrder, Schema};
use zarrs::array::{Array, ArrayBytes, ArraySubset};

use super::Levels;
use crate::error::ZarrError;
use crate::names::image_groups;
use crate::read::ReadStore;
use crate::store::DirStore;
use crate::units::{MAX_AXES, UnitKey};

fn read_err(key: String, source: impl std::error::Error + Send + Sync + 'static) -> BackendError {
    ZarrError::Read {
        key,
        source: Box::new(source),
    }
    .into()
}

/// Rebuild every level of the dataset at `root` from level 0, whose growth axis ends
/// at `extent` (`None`: no growth axis cut); `frames` frames were counted on disk.
pub(crate) fn rebuild_levels(
    root: &Path,
    schema: &Schema,
    order: &dyn FrameOrder,
    extent: Option<u64>,
    frames: u64,
) -> Result<(), BackendError> {
    let shape = schema.array_shape(schema.growth_axis().and(extent));
    let dir = Arc::new(ReadDir::open(root)?);
    let mut arrays = Vec::new();
    for group in image_groups(schema) {
        let path = if group.is_empty() {
            "/0".to_owned()
        } else {
            format!("/{group}/0")
        };
        let store = Arc::new(ReadStore::new(dir.clone()));
        let mut array =
            Array::open(store, &path).map_err(|source| ZarrError::OpenArray { source })?;
        array
            .set_shape(shape.clone())
            .map_err(|source| ZarrError::Resize {
                path: path.clone(),
                shape: shape.clone(),
                source,
            })?;
        arrays.push(array);
    }
    let store: Arc<dyn crate::ZarrStore> = Arc::new(DirStore::new(root.to_owned()));
    let Some(mut levels) = Levels::create(schema, &store, &EncoderOptions::default())? else {
        return Ok(());
    };
    let [h, w] = schema.frame_shape();
    let n_index = shape.len().saturating_sub(2);
    let growth = schema.growth_axis();
    let mut reached = 0;
    for n in 0.. {
        let Some((position, index)) = order.place(FrameNumber(n)) else {
            break;
        };
        let idx = index.as_slice();
        if let (Some(g), Some(e)) = (growth, extent)
            && idx.get(g).is_some_and(|&i| i >= e)
        {
            break;
        }
        let Some(array) = arrays.get(position.0) else {
            continue;
        };
        let mut ranges: Vec<std::ops::Range<u64>> = idx.iter().map(|&i| i..i + 1).collect();
        ranges.extend([0..h, 0..w]);
        let array = array.with_storage(Arc::new(ReadStore::new(dir.clone())));
        let key = || format!("{} at {idx:?}", array.path());
        let plane = array
            .retrieve_array_subset::<ArrayBytes<'static>>(&ArraySubset::new_with_ranges(&ranges))
            .map_err(|e| read_err(key(), e))?
            .into_fixed()
            .map_err(|e| read_err(key(), e))?;
        let mut k: UnitKey = [0; MAX_AXES];
        for (slot, &i) in k.iter_mut().zip(idx).take(n_index) {
            *slot = i;
        }
        levels.feed(0, position.0, k, &plane)?;
        reached = n + 1;
    }
    let growth_extent = extent.unwrap_or_else(|| order.extent_reached(reached));
    levels.finish(&Progress {
        frames_written: frames,
        frames_reached: reached,
        growth_extent,
        complete: schema.num_frames() == Some(frames),
        ..Progress::default()
    })
}
