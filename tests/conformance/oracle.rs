//! Where each frame must land, computed independently of the router: nested loops over
//! the settings' dimensions (an odometer, the last dimension fastest), each frame's
//! coordinates looked up by dimension name in the storage order the schema declares.
//! The harness checks the router against it, so a routing bug cannot hide behind its
//! own answer.

use std::collections::HashMap;

use ome_writers::Schema;

/// The loop coordinates of the first `frames` frames, in acquisition order.
fn odometer(schema: &Schema, frames: u64) -> Vec<Vec<u64>> {
    let dims = schema.settings().dimensions.as_slice();
    let loops = &dims[..dims.len() - 2];
    let mut at = vec![0u64; loops.len()];
    let mut out = Vec::new();
    for _ in 0..frames {
        out.push(at.clone());
        // The last loop turns fastest; the first may be unbounded.
        for k in (0..loops.len()).rev() {
            at[k] += 1;
            if k == 0 || Some(at[k]) != loops[k].count {
                break;
            }
            at[k] = 0;
        }
    }
    out
}

/// `(position, storage index)` of the first `frames` frames.
pub fn placements(schema: &Schema, frames: u64) -> Vec<(usize, Vec<u64>)> {
    let dims = schema.settings().dimensions.as_slice();
    let storage: Vec<String> = schema.storage_dims().map(|d| d.name().to_owned()).collect();
    odometer(schema, frames)
        .into_iter()
        .map(|at| {
            let coords: HashMap<&str, u64> = dims
                .iter()
                .zip(&at)
                .map(|(d, &i)| (d.name.as_str(), i))
                .collect();
            let p = schema.position_axis().map_or(0, |k| at[k]);
            let index = storage.iter().map(|name| coords[name.as_str()]).collect();
            (usize::try_from(p).unwrap(), index)
        })
        .collect()
}

/// The growth axis's extent after `frames` frames (written or skipped): the highest
/// index of the outermost non-position loop reached, plus one.
pub fn extent(schema: &Schema, frames: u64) -> u64 {
    let dims = schema.settings().dimensions.as_slice();
    let Some(outer) = (0..dims.len() - 2).find(|&k| Some(k) != schema.position_axis()) else {
        return 0;
    };
    odometer(schema, frames)
        .iter()
        .map(|at| at[outer] + 1)
        .max()
        .unwrap_or(0)
}
