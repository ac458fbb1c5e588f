//! Rules on values: the codec and its level for the format, chunk and shard lengths
//! clamped to their dimension.

use crate::error::SchemaError;
use crate::schema::{Schema, limits};
use crate::settings::Compression;

/// Codecs the zarr backend writes.
const ZARR_CODECS: [Compression; 4] = [
    Compression::BloscZstd,
    Compression::BloscLz4,
    Compression::Zstd,
    Compression::None,
];

/// Codecs the TIFF backend writes (Python's OME-TIFF takes `lzw` and `none`; `deflate`
/// is ours).
const TIFF_CODECS: [Compression; 3] = [Compression::Lzw, Compression::Deflate, Compression::None];

/// The codec must be one the container's backend writes, so that `check-settings`
/// refuses what `write` would refuse; the level must be in the codec's range.
pub(crate) fn check_compression(
    compression: Compression,
    level: Option<i32>,
    container_is_zarr: bool,
) -> Result<(), SchemaError> {
    let (format, allowed): (&str, &[Compression]) = if container_is_zarr {
        ("OME-Zarr (format ome-zarr)", &ZARR_CODECS)
    } else {
        ("OME-TIFF (format ome-tiff)", &TIFF_CODECS)
    };
    if !allowed.contains(&compression) {
        return Err(SchemaError::invalid(
            "compression",
            format!("{:?}", compression.as_str()),
            format!(
                "not available for {format}; expected one of {:?}",
                allowed.iter().map(|c| c.as_str()).collect::<Vec<_>>()
            ),
        ));
    }
    let Some(level) = level else {
        return Ok(());
    };
    let range = match compression {
        Compression::Zstd => -7..=22,
        Compression::BloscZstd | Compression::BloscLz4 | Compression::Deflate => 0..=9,
        Compression::Lzw | Compression::None => 0..=0,
    };
    if range.contains(&level) {
        Ok(())
    } else {
        Err(SchemaError::invalid(
            "compression_level",
            level,
            format!("{} takes levels {range:?}", compression.as_str()),
        ))
    }
}

/// The chunk length and shard length (in chunks) actually used along a dimension of
/// `count` elements (`None`: unbounded). A chunk longer than a bounded dimension would
/// be stored whole (chunk 50000 on t=4 writes 12500 times the data), so it is clamped
/// to the count; a shard is clamped to the fewest chunks that cover the dimension.
/// Both are idempotent, so normalized settings validate to the same schema.
pub(crate) fn clamp_chunking(
    count: Option<u64>,
    chunk: u64,
    shard_chunks: Option<u64>,
) -> (u64, Option<u64>) {
    let Some(count) = count else {
        return (chunk, shard_chunks);
    };
    // Validation refused zero counts and chunk lengths before; `max(1)` keeps this
    // total anyway.
    let chunk = chunk.min(count).max(1);
    let covering = count.div_ceil(chunk);
    (chunk, shard_chunks.map(|s| s.min(covering)))
}

/// The zarr write units (shards, else chunks) of one image: at most
/// [`limits::MAX_FILES_PER_IMAGE`] of them, each of at most
/// [`limits::MAX_CHUNK_ELEMENTS`] elements. The error names the dimension at which the
/// running product (in storage order) first passes the limit, and the whole product.
pub(crate) fn check_unit_grid(schema: &Schema) -> Result<(), SchemaError> {
    let dims = schema.dims();
    let n = dims.len();
    let sharded = schema.shard_shape().is_some();
    let axes: Vec<usize> = schema
        .storage_axes()
        .iter()
        .copied()
        .chain([n - 2, n - 1])
        .collect();
    let mut files = Vec::with_capacity(axes.len());
    let mut elements = Vec::with_capacity(axes.len());
    for &i in &axes {
        let d = &dims[i];
        let unit = if sharded { d.shard() } else { d.chunk() }.max(1);
        files.push(u128::from(d.count().unwrap_or(0).div_ceil(unit).max(1)));
        elements.push(u128::from(unit));
    }
    let over = |factors: &[u128], limit: u128| -> Option<(usize, u128)> {
        let total = factors.iter().fold(1u128, |p, f| p.saturating_mul(*f));
        let mut running = 1u128;
        let at = factors.iter().position(|f| {
            running = running.saturating_mul(*f);
            running > limit
        })?;
        Some((at, total))
    };
    if let Some((at, value)) = over(&files, limits::MAX_FILES_PER_IMAGE) {
        return Err(SchemaError::Limit {
            field: format!("dimensions[{}].chunk_size", axes[at]),
            value,
            limit: limits::MAX_FILES_PER_IMAGE,
            what: "chunk files per image",
        });
    }
    if let Some((at, value)) = over(&elements, limits::MAX_CHUNK_ELEMENTS) {
        let i = axes[at];
        let what = if dims[i].shard_chunks().is_some() {
            "shard_size_chunks"
        } else {
            "chunk_size"
        };
        return Err(SchemaError::Limit {
            field: format!("dimensions[{i}].{what}"),
            value,
            limit: limits::MAX_CHUNK_ELEMENTS,
            what: "elements per chunk (or shard)",
        });
    }
    Ok(())
}
