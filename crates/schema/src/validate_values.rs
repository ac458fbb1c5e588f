//! Rules on values that depend on the format: the codec and its level.

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
