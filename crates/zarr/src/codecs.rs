//! Codecs from the schema: the zarrs bytes-to-bytes codecs (zstd, blosc), the codec the
//! encoder threads run themselves, compression levels, and the constant index of an
//! uncompressed shard.

use std::sync::Arc;

use ome_writers_backend::BackendError;
use ome_writers_schema::{Compression, Schema};
use zarrs::array::BytesToBytesCodecTraits;
use zarrs::array::codec::{BloscCodec, ZstdCodec};
use zarrs::metadata_ext::codec::blosc::{BloscCompressionLevel, BloscCompressor, BloscShuffleMode};

use crate::BACKEND;
use crate::encode::{BloscName, FastCodec};

/// The index of a raw shard whose every inner chunk is present, at `block_bytes`
/// each, back to back from offset 0: `(offset, nbytes)` as little-endian u64 pairs in
/// C order, then the crc32c of those bytes (the `index_codecs` zarrs writes: bytes
/// little-endian + crc32c; `index_location` end).
pub(crate) fn raw_shard_index(blocks: usize, block_bytes: usize) -> Vec<u8> {
    let mut index = Vec::with_capacity(blocks * 16 + 4);
    for b in 0..blocks {
        index.extend_from_slice(&((b * block_bytes) as u64).to_le_bytes());
        index.extend_from_slice(&(block_bytes as u64).to_le_bytes());
    }
    let crc = crc32c::crc32c(&index);
    index.extend_from_slice(&crc.to_le_bytes());
    index
}

/// The compression codecs of a schema (checked before anything is written).
pub(crate) fn bytes_codecs(
    schema: &Schema,
) -> Result<Vec<Arc<dyn BytesToBytesCodecTraits>>, BackendError> {
    let unsupported = |reason: String| BackendError::Unsupported {
        backend: BACKEND,
        reason,
    };
    let typesize = schema.dtype().size();
    let level = compression_level(schema);
    let blosc = |cname| -> Result<BloscCodec, BackendError> {
        let clevel = u8::try_from(level)
            .ok()
            .and_then(|l| BloscCompressionLevel::try_from(l).ok())
            .ok_or_else(|| {
                unsupported(format!("blosc compression level {level} is outside 0..=9"))
            })?;
        BloscCodec::new(
            cname,
            clevel,
            None,
            BloscShuffleMode::Shuffle,
            Some(typesize),
        )
        .map_err(|e| unsupported(e.to_string()))
    };
    Ok(match schema.compression() {
        Compression::Zstd => vec![Arc::new(ZstdCodec::new(level, false))],
        Compression::BloscZstd => vec![Arc::new(blosc(BloscCompressor::Zstd)?)],
        Compression::BloscLz4 => vec![Arc::new(blosc(BloscCompressor::LZ4)?)],
        _ => Vec::new(),
    })
}

/// The codec the encoder threads run themselves, for unsharded chunks on a
/// little-endian machine (parameters as in [`bytes_codecs`]).
pub(crate) fn fast_codec(schema: &Schema) -> Option<FastCodec> {
    if schema.shard_shape().is_some() || !cfg!(target_endian = "little") {
        return None;
    }
    let level = compression_level(schema);
    let blosc = |compressor| {
        Some(FastCodec::Blosc {
            compressor,
            clevel: u8::try_from(level).ok()?,
            typesize: schema.dtype().size(),
        })
    };
    match schema.compression() {
        Compression::Zstd => Some(FastCodec::Zstd { level }),
        Compression::BloscLz4 => blosc(BloscName::Lz4),
        Compression::BloscZstd => blosc(BloscName::Zstd),
        _ => None,
    }
}

/// The schema's compression level, or the codec's default (zstd 3, blosc-zstd 3,
/// blosc-lz4 5): one place for both the zarrs codecs and the encoders' own.
pub(crate) fn compression_level(schema: &Schema) -> i32 {
    schema
        .compression_level()
        .unwrap_or(match schema.compression() {
            Compression::BloscLz4 => 5,
            _ => 3,
        })
}
