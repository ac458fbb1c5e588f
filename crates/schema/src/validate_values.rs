//! Rules on values: the codec and its level for the format, chunk and shard lengths
//! clamped to their dimension.

use crate::error::SchemaError;
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
