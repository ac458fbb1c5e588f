//! The NGFF `multiscales.datasets` of a pyramid: one dataset per level, scales doubling
//! along the halved axes and the translation that keeps pixel centres aligned.
//!
//! Level k samples the halved axes with a step of `2^k` level-0 pixels, and its pixel
//! `i` covers level-0 pixels `2^k i .. 2^k (i + 1) - 1`, whose centre is at
//! `2^k i + (2^k - 1) / 2`. So level k's scale is `2^k * scale` and its translation
//! `translation + (2^k - 1) / 2 * scale` (ome-zarr-py and acquire-zarr write the same
//! scales; the translation is the NGFF way to say where the centres are).

use ome_writers_schema::Schema;

use crate::ngff::{Dataset, Transform};

/// Array axes (storage order, Y and X last) halved per level.
pub(crate) fn halved_axes(schema: &Schema) -> Vec<bool> {
    let z = schema
        .pyramid()
        .z_dim()
        .and_then(|z| schema.storage_axes().iter().position(|&a| a == z));
    let n_index = schema.storage_axes().len();
    (0..n_index + 2)
        .map(|k| k >= n_index || Some(k) == z)
        .collect()
}

/// Every level's dataset. Level 0 is what a dataset without a pyramid holds: its
/// scale and, only when there is one, its translation.
pub(crate) fn datasets(
    schema: &Schema,
    scale: &[f64],
    translation: Option<&[f64]>,
) -> Vec<Dataset> {
    let halved = halved_axes(schema);
    (0..schema.pyramid().levels())
        .map(|level| {
            let factor = f64::from(1u32 << level.min(31));
            let factor_of = |k: usize| {
                if halved.get(k).copied().unwrap_or(false) {
                    factor
                } else {
                    1.0
                }
            };
            let mut transforms = vec![Transform::Scale {
                scale: scale
                    .iter()
                    .enumerate()
                    .map(|(k, s)| s * factor_of(k))
                    .collect(),
            }];
            if level > 0 || translation.is_some() {
                let base = |k: usize| translation.and_then(|t| t.get(k)).copied().unwrap_or(0.0);
                transforms.push(Transform::Translation {
                    translation: scale
                        .iter()
                        .enumerate()
                        .map(|(k, s)| base(k) + (factor_of(k) - 1.0) / 2.0 * s)
                        .collect(),
                });
            }
            Dataset {
                path: level.to_string(),
                transforms,
            }
        })
        .collect()
}
