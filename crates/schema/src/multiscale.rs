//! Multiscale pyramids (`"multiscale"`, our extension: Python's model has no such key).
//!
//! `{"levels": 3 | "auto", "method": "mean", "downsample_z": false}`: `levels` counts
//! level 0 (the frames as acquired); level k+1 halves Y and X of level k (and Z with
//! `downsample_z`), odd sizes rounded up. Absent, or `levels: 1`, writes exactly what
//! a dataset without the key holds.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::SchemaError;
use crate::options::ReduceMethod;
use crate::schema::{BackendKind, Dim};
use crate::settings::DimensionType;

/// The frame size `levels: "auto"` stops at: the longer side at most this many pixels.
pub const AUTO_MAX_SIDE: u64 = 512;

/// The `multiscale` object of a settings file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Multiscale {
    /// Number of levels, level 0 included, or `auto`.
    #[serde(default)]
    pub levels: Levels,
    /// How a reduced pixel is computed.
    #[serde(default)]
    pub method: ReduceMethod,
    /// Halve the Z dimension too (pairs of planes z = 2i, 2i+1).
    #[serde(default)]
    pub downsample_z: bool,
}

/// `multiscale.levels`: a count (level 0 included) or `auto`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Levels {
    /// This many levels.
    Count(u64),
    /// Halve until the frame's longer side is at most [`AUTO_MAX_SIDE`] pixels or the
    /// frame fits in one chunk.
    Auto,
}

impl Default for Levels {
    fn default() -> Self {
        Self::Count(1)
    }
}

impl Serialize for Levels {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Count(n) => s.serialize_u64(*n),
            Self::Auto => s.serialize_str("auto"),
        }
    }
}

impl<'de> Deserialize<'de> for Levels {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Levels;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a positive integer or \"auto\"")
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> Result<Levels, E> {
                Ok(Levels::Count(n))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> Result<Levels, E> {
                u64::try_from(n).map(Levels::Count).map_err(|_| {
                    E::custom(format!("expected a positive integer or \"auto\", got {n}"))
                })
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Levels, E> {
                if s == "auto" {
                    Ok(Levels::Auto)
                } else {
                    Err(E::custom(format!(
                        "expected a positive integer or \"auto\", got {s:?}"
                    )))
                }
            }
        }
        d.deserialize_any(V)
    }
}

/// The checked pyramid of a [`Schema`](crate::Schema): one level (no pyramid) unless
/// the settings asked for more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pyramid {
    levels: u32,
    method: ReduceMethod,
    z_dim: Option<usize>,
}

impl Default for Pyramid {
    fn default() -> Self {
        Self {
            levels: 1,
            method: ReduceMethod::Mean,
            z_dim: None,
        }
    }
}

impl Pyramid {
    /// Number of levels, level 0 included (1: no pyramid).
    pub fn levels(&self) -> u32 {
        self.levels
    }
    /// Whether there is more than level 0.
    pub fn is_pyramid(&self) -> bool {
        self.levels > 1
    }
    /// The reduction.
    pub fn method(&self) -> ReduceMethod {
        self.method
    }
    /// The dimension (an index into `Schema::dims`, acquisition order) halved with Y
    /// and X when `downsample_z` is set.
    pub fn z_dim(&self) -> Option<usize> {
        self.z_dim
    }
    /// Length of a side of `n` elements at `level` (halved per level, rounded up).
    pub fn side(n: u64, level: u32) -> u64 {
        let mut n = n;
        for _ in 0..level {
            n = n.div_ceil(2);
        }
        n
    }
}

fn bad(field: &str, value: impl fmt::Display, reason: &str) -> SchemaError {
    SchemaError::invalid(format!("multiscale.{field}"), value, reason)
}

/// Levels until a frame of `h` x `w` pixels has been reduced to 1 x 1 (level 0 counted).
fn max_levels(h: u64, w: u64) -> u64 {
    let mut levels = 1;
    let (mut h, mut w) = (h, w);
    while h > 1 || w > 1 {
        h = h.div_ceil(2);
        w = w.div_ceil(2);
        levels += 1;
    }
    levels
}

/// Levels `auto` chooses for a frame of `h` x `w` pixels in chunks of `ch` x `cw`.
fn auto_levels(h: u64, w: u64, ch: u64, cw: u64) -> u64 {
    let mut levels = 1;
    let (mut h, mut w) = (h, w);
    while h.max(w) > AUTO_MAX_SIDE && !(h <= ch && w <= cw) {
        h = h.div_ceil(2);
        w = w.div_ceil(2);
        levels += 1;
    }
    levels
}

/// Check `multiscale` against the dimensions (acquisition order) and the backend.
pub(crate) fn resolve(
    multiscale: Option<&Multiscale>,
    dims: &[Dim],
    backend: BackendKind,
) -> Result<Pyramid, SchemaError> {
    let Some(m) = multiscale else {
        return Ok(Pyramid::default());
    };
    let n = dims.len();
    let (Some(y), Some(x)) = (dims.get(n.wrapping_sub(2)), dims.get(n.wrapping_sub(1))) else {
        return Ok(Pyramid::default());
    };
    let (h, w) = (y.count().unwrap_or(1), x.count().unwrap_or(1));
    let limit = max_levels(h, w);
    let levels = match m.levels {
        Levels::Count(0) => return Err(bad("levels", 0, "at least 1 (level 0, the frames)")),
        Levels::Count(k) if k > limit => {
            return Err(bad(
                "levels",
                k,
                &format!("a {h} x {w} frame allows at most {limit} levels (the last one 1 x 1)"),
            ));
        }
        Levels::Count(k) => k,
        Levels::Auto => auto_levels(h, w, y.chunk(), x.chunk()),
    };
    let z_dim = if m.downsample_z {
        let z = (0..n.saturating_sub(2)).find(|&i| {
            dims.get(i)
                .is_some_and(|d| d.kind() == DimensionType::Space)
        });
        let Some(z) = z else {
            return Err(bad(
                "downsample_z",
                true,
                "the acquisition has no Z dimension (a space dimension besides Y and X)",
            ));
        };
        if dims.get(z).and_then(Dim::count).is_none() {
            return Err(bad("downsample_z", true, "the Z dimension is unbounded"));
        }
        Some(z)
    } else {
        None
    };
    if levels > 1 && !matches!(backend, BackendKind::Zarr | BackendKind::Tiff) {
        return Err(bad(
            "levels",
            levels,
            "only the ome-zarr and ome-tiff formats write pyramids",
        ));
    }
    if levels > 1 && m.downsample_z && backend == BackendKind::Tiff {
        return Err(bad(
            "downsample_z",
            true,
            "OME-TIFF pyramids (SubIFDs of each plane) halve Y and X only",
        ));
    }
    Ok(Pyramid {
        levels: u32::try_from(levels).unwrap_or(u32::MAX),
        method: m.method,
        z_dim,
    })
}

impl crate::Schema {
    /// The schema of pyramid level `level` (0: a copy of this one without the
    /// `multiscale` key): Y and X (and Z with `downsample_z`) halved `level` times,
    /// rounded up, with the same chunk and shard lengths clamped to the level's size
    /// (the rule level 0 follows). The backends write a level as a dataset of its own.
    ///
    /// # Errors
    /// Only if the derived settings break a rule, which validation of this schema rules
    /// out; the error names the field.
    pub fn level_schema(&self, level: u32) -> Result<crate::Schema, SchemaError> {
        let mut settings = self.settings().clone();
        settings.multiscale = None;
        let n = self.dims().len();
        let halved = [
            Some(n.wrapping_sub(2)),
            Some(n.wrapping_sub(1)),
            self.pyramid().z_dim(),
        ];
        for i in halved.into_iter().flatten() {
            let (Some(dim), Some(set)) = (self.dims().get(i), settings.dimensions.get_mut(i))
            else {
                continue;
            };
            set.count = Some(Pyramid::side(dim.count().unwrap_or(1), level));
            set.kind = Some(dim.kind());
            set.coords = None;
            set.chunk_size = Some(dim.chunk());
            set.shard_size_chunks = dim.shard_chunks();
        }
        settings.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_and_auto_levels() {
        assert_eq!(max_levels(1, 1), 1);
        assert_eq!(max_levels(2, 1), 2);
        assert_eq!(max_levels(5, 3), 4); // 5x3, 3x2, 2x1, 1x1
        assert_eq!(auto_levels(512, 512, 512, 512), 1);
        assert_eq!(auto_levels(2048, 2048, 512, 512), 3);
        assert_eq!(auto_levels(2048, 1000, 2048, 2048), 1);
        assert_eq!(auto_levels(2049, 100, 64, 64), 4); // 2049, 1025, 513, 257
    }

    #[test]
    fn side_rounds_up() {
        assert_eq!(Pyramid::side(5, 0), 5);
        assert_eq!(Pyramid::side(5, 1), 3);
        assert_eq!(Pyramid::side(5, 2), 2);
        assert_eq!(Pyramid::side(5, 3), 1);
    }
}
