//! Checking a chunk (or shard) file against its array's metadata, for `omew repair`:
//! a file of the wrong size for an uncompressed chunk, or one that does not decode,
//! is damaged.

use std::sync::Arc;

use ome_writers_backend::BackendError;
use zarrs::array::{Array, ArrayBytes, ArrayMetadata};
use zarrs::storage::store::MemoryStore;
use zarrs::storage::{Bytes, WritableStorageTraits};

use crate::error::ZarrError;

/// What is wrong with a chunk file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChunkDamage {
    /// An uncompressed chunk (or shard) whose file is not the size its shape gives.
    WrongSize {
        /// Bytes the array's metadata gives for the chunk.
        expected: u64,
        /// Bytes in the file.
        found: u64,
    },
    /// A compressed chunk (or shard) that the array's codecs cannot decode.
    Undecodable {
        /// The decoder's message.
        reason: String,
    },
}

impl std::fmt::Display for ChunkDamage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::WrongSize { expected, found } => write!(
                f,
                "{found} bytes where an uncompressed chunk has {expected} (truncated or padded)"
            ),
            Self::Undecodable { reason } => write!(f, "does not decode: {reason}"),
        }
    }
}

impl std::error::Error for ChunkDamage {}

/// Checks the chunk files of one array (see the module docs).
pub struct ChunkChecker {
    array: Array<MemoryStore>,
    store: Arc<MemoryStore>,
    raw_len: Option<u64>,
}

impl ChunkChecker {
    /// A checker for the array whose `zarr.json` is `array_doc`.
    pub fn new(array_doc: &serde_json::Value) -> Result<Self, BackendError> {
        let metadata: ArrayMetadata = serde_json::from_value(array_doc.clone())?;
        let store = Arc::new(MemoryStore::new());
        let array = Array::new_with_metadata(store.clone(), "/", metadata)
            .map_err(|source| ZarrError::OpenArray { source })?;
        Ok(Self {
            array,
            store,
            raw_len: raw_len(array_doc),
        })
    }

    /// The exact size of every chunk file when the array is stored uncompressed (the
    /// file's size is then the whole check, no read needed); `None` when compressed.
    #[must_use]
    pub fn uncompressed_len(&self) -> Option<u64> {
        self.raw_len
    }

    /// Check the bytes of the chunk at `indices`.
    pub fn check(&self, indices: &[u64], bytes: Vec<u8>) -> Result<(), ChunkDamage> {
        if let Some(expected) = self.raw_len {
            let found = bytes.len() as u64;
            return if found == expected {
                Ok(())
            } else {
                Err(ChunkDamage::WrongSize { expected, found })
            };
        }
        let undecodable = |reason: String| ChunkDamage::Undecodable { reason };
        let key = self.array.chunk_key(indices);
        self.store
            .set(&key, Bytes::from(bytes))
            .map_err(|e| undecodable(e.to_string()))?;
        let decoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.array.retrieve_chunk::<ArrayBytes<'static>>(indices)
        }));
        let _ = self.store.erase(&key);
        match decoded {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(undecodable(e.to_string())),
            Err(_) => Err(undecodable("the decoder panicked".to_owned())),
        }
    }
}

fn dtype_size(name: &str) -> Option<u64> {
    Some(match name {
        "uint8" | "int8" => 1,
        "uint16" | "int16" => 2,
        "uint32" | "int32" | "float32" => 4,
        "uint64" | "int64" | "float64" => 8,
        _ => return None,
    })
}

fn codec_names(codecs: &serde_json::Value) -> Option<Vec<&str>> {
    codecs
        .as_array()?
        .iter()
        .map(|c| c["name"].as_str())
        .collect()
}

fn shape(v: &serde_json::Value) -> Option<Vec<u64>> {
    v.as_array()?
        .iter()
        .map(serde_json::Value::as_u64)
        .collect()
}

/// The size of an uncompressed chunk file: `bytes` alone (a chunk), or a shard of
/// `bytes` inner chunks with a `bytes` + `crc32c` index at the end, every inner chunk
/// present (how this backend writes uncompressed shards).
fn raw_len(doc: &serde_json::Value) -> Option<u64> {
    let item = dtype_size(doc["data_type"].as_str()?)?;
    let outer = shape(&doc["chunk_grid"]["configuration"]["chunk_shape"])?;
    let elems = |s: &[u64]| s.iter().try_fold(1u64, |a, &n| a.checked_mul(n));
    let names = codec_names(&doc["codecs"])?;
    match names.as_slice() {
        ["bytes"] => elems(&outer)?.checked_mul(item),
        ["sharding_indexed"] => {
            let conf = &doc["codecs"][0]["configuration"];
            let inner = shape(&conf["chunk_shape"])?;
            let inner_names = codec_names(&conf["codecs"])?;
            let index_names = codec_names(&conf["index_codecs"])?;
            let at_end = conf["index_location"].as_str().is_none_or(|l| l == "end");
            if inner_names != ["bytes"] || index_names != ["bytes", "crc32c"] || !at_end {
                return None;
            }
            if inner.len() != outer.len() || inner.contains(&0) {
                return None;
            }
            let n = elems(&outer)? / elems(&inner)?;
            let data = n.checked_mul(elems(&inner)?)?.checked_mul(item)?;
            data.checked_add(n.checked_mul(16)?)?.checked_add(4)
        }
        _ => None,
    }
}
