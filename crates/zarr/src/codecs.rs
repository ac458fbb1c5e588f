//! Codecs from the schema: the zarrs bytes-to-bytes codecs (zstd, blosc, with their
//! levels and blosc options), the codec the encoder threads run themselves
//! ([`ChunkCodec`]: zstd, or blosc through its context API), and the constant index of
//! an uncompressed shard.

use std::sync::Arc;

use ome_writers_backend::{AlignedBuf, BackendError};
use ome_writers_schema::{Compression, Schema};
use zarrs::array::BytesToBytesCodecTraits;
use zarrs::array::codec::{BloscCodec, ZstdCodec};
use zarrs::metadata_ext::codec::blosc::{BloscCompressionLevel, BloscCompressor, BloscShuffleMode};

use crate::BACKEND;
use crate::error::ZarrError;

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

/// A codec encoded here with one reusable context and one page-aligned output buffer
/// per thread: the same bytes zarrs' codec writes (the `bytes` codec is the identity
/// on a little-endian machine), without its per-chunk context and output allocations,
/// and page-aligned so that the store can write them around the page cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FastCodec {
    /// Plain zstd at this level.
    Zstd { level: i32 },
    /// Blosc with byte shuffle and automatic block size, as zarrs' blosc codec is
    /// configured by this backend.
    Blosc {
        compressor: BloscName,
        clevel: u8,
        typesize: usize,
    },
}

/// The blosc compressors this backend writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BloscName {
    Lz4,
    Zstd,
}

impl BloscName {
    /// The compressor's name, as blosc spells it.
    fn name(self) -> &'static str {
        match self {
            Self::Lz4 => "lz4",
            Self::Zstd => "zstd",
        }
    }

    fn c_name(self) -> &'static std::ffi::CStr {
        match self {
            Self::Lz4 => c"lz4",
            Self::Zstd => c"zstd",
        }
    }
}

/// One thread's encoder for a `FastCodec`: its compression context and its
/// page-aligned output buffer are made once and reused for every chunk.
pub struct ChunkCodec {
    codec: FastCodec,
    zstd: Option<zstd::bulk::Compressor<'static>>,
    out: AlignedBuf,
}

impl ChunkCodec {
    pub(crate) fn new(codec: FastCodec) -> Self {
        let zstd = match codec {
            FastCodec::Zstd { level } => zstd::bulk::Compressor::new(level).ok(),
            FastCodec::Blosc { .. } => None,
        };
        Self {
            codec,
            zstd,
            out: AlignedBuf::default(),
        }
    }

    /// The encoder the backend's threads use for `schema`'s chunks, when they encode
    /// chunks themselves (unsharded, compressed, little-endian machine). The
    /// benchmarks measure the codec's single-core speed with it.
    pub fn for_schema(schema: &ome_writers_schema::Schema) -> Option<Self> {
        fast_codec(schema).map(Self::new)
    }

    /// Encode one chunk (its bytes in native order); the encoded bytes stay valid until
    /// the next call.
    pub fn encode(&mut self, chunk: &[u8]) -> Result<&[u8], BackendError> {
        match self.codec {
            FastCodec::Zstd { level } => {
                let Some(zstd) = self.zstd.as_mut() else {
                    return Err(ZarrError::ZstdContext { level }.into());
                };
                self.out
                    .resize(zstd::zstd_safe::compress_bound(chunk.len()));
                let n = zstd
                    .compress_to_buffer(chunk, self.out.as_bytes_mut())
                    .map_err(|source| ZarrError::Zstd { source })?;
                self.out.resize(n);
            }
            FastCodec::Blosc {
                compressor,
                clevel,
                typesize,
            } => blosc_compress(chunk, &mut self.out, compressor, clevel, typesize)?,
        }
        Ok(&self.out)
    }
}

/// Blosc-compress `src` into `out` (resized to the compressed length) with blosc's
/// context API: no global state, so encoder threads compress concurrently.
fn blosc_compress(
    src: &[u8],
    out: &mut AlignedBuf,
    compressor: BloscName,
    clevel: u8,
    typesize: usize,
) -> Result<(), ZarrError> {
    let capacity = src.len() + blosc_src::BLOSC_MAX_OVERHEAD as usize;
    out.resize(capacity);
    let dest = out.as_bytes_mut();
    // SAFETY: `src` is a live shared slice of `src.len()` bytes, passed as the source
    // and its length; `dest` is a live exclusive slice of exactly `capacity` bytes,
    // passed as the destination and `destsize`. blosc_compress_ctx reads at most
    // `nbytes` bytes of the source and never writes past `destsize` (its documented
    // contract: "Compression is memory safe and guaranteed not to write the dest
    // buffer beyond what is specified in destsize"); the two slices cannot overlap (one
    // borrow is shared, the other exclusive). The compressor name is a static
    // NUL-terminated C string. The `_ctx` variant keeps all state in the call (no
    // global context, no internal threads with `numinternalthreads` = 1), so calls from
    // several threads at once are sound.
    let n = unsafe {
        blosc_src::blosc_compress_ctx(
            i32::from(clevel),
            blosc_src::BLOSC_SHUFFLE as i32,
            typesize.max(1),
            src.len(),
            src.as_ptr().cast(),
            dest.as_mut_ptr().cast(),
            capacity,
            compressor.c_name().as_ptr(),
            0,
            1,
        )
    };
    if n <= 0 {
        out.resize(0);
        return Err(ZarrError::Blosc {
            compressor: compressor.name(),
            clevel,
            typesize,
            bytes: src.len(),
            code: n,
        });
    }
    out.resize(n as usize);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use ome_writers_schema::Schema;
    use zarrs::array::CodecOptions;

    use super::ChunkCodec;

    /// A chunk with structure and noise, its bytes depending on the dtype.
    fn chunk(bytes: usize) -> Vec<u8> {
        let mut state = 0x2545_f491_u32;
        (0..bytes)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                ((i / 7) as u8).wrapping_add((state & 0x3) as u8)
            })
            .collect()
    }

    #[test]
    fn fast_codecs_write_the_bytes_zarrs_writes() {
        let cases = [
            ("zstd", 1, "uint16"),
            ("zstd", 7, "float32"),
            ("blosc-lz4", 1, "uint16"),
            ("blosc-lz4", 5, "uint8"),
            ("blosc-lz4", 9, "float64"),
            ("blosc-zstd", 3, "int32"),
        ];
        for (compression, level, dtype) in cases {
            let schema = Schema::from_json(&format!(
                r#"{{"root_path": "/nonexistent/x.ome.zarr", "dtype": "{dtype}",
                    "compression": "{compression}", "compression_level": {level},
                    "dimensions": [{{"name": "t", "count": 2}},
                                   {{"name": "y", "count": 96}}, {{"name": "x", "count": 80}}]}}"#
            ))
            .unwrap();
            let data = chunk(schema.frame_bytes());
            let mut ours = ChunkCodec::for_schema(&schema).unwrap();
            let codecs = super::bytes_codecs(&schema).unwrap();
            let theirs = codecs[0]
                .encode(Cow::Borrowed(&data), &CodecOptions::default())
                .unwrap();
            // Twice: the reused context and buffer give the same bytes again.
            for _ in 0..2 {
                let encoded = ours.encode(&data).unwrap();
                assert_eq!(encoded, &theirs[..], "{compression} {level} {dtype}");
                assert!(ome_writers_backend::is_aligned(encoded));
            }
        }
    }

    #[test]
    fn sharded_or_uncompressed_schemas_have_no_fast_codec() {
        let schema = |extra: &str| {
            Schema::from_json(&format!(
                r#"{{"root_path": "/nonexistent/x.ome.zarr", "dtype": "uint16", {extra}
                    "dimensions": [{{"name": "t", "count": 4, "shard_size_chunks": 2}},
                                   {{"name": "y", "count": 32}}, {{"name": "x", "count": 32}}]}}"#
            ))
            .unwrap()
        };
        assert!(ChunkCodec::for_schema(&schema(r#""compression": "zstd","#)).is_none());
        assert!(ChunkCodec::for_schema(&schema("")).is_none());
    }
}
