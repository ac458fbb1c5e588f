//! What the backend needs of a store: [`ZarrStore`], write-only zarrs storage plus
//! durability, journals, metadata batches and a space reserve; [`DirStore`] implements it.

use ome_writers_backend::BackendError;
use zarrs::storage::{Bytes, StorageError, StoreKey, WritableStorageTraits};

use crate::store::DirStore;

/// A store the zarr backend can write to: write-only zarrs storage plus a durability
/// hook.
pub trait ZarrStore: WritableStorageTraits + Send + Sync {
    /// Make everything written so far durable.
    fn sync(&self) -> Result<(), BackendError>;
    /// The first I/O error seen, with its path, if the store keeps one.
    fn take_error(&self) -> Option<BackendError> {
        None
    }
    /// A failure of the store's own asynchronous work (an upload that failed after its
    /// retries), checked at every write so that the next append reports it.
    fn failed(&self) -> Result<(), BackendError> {
        Ok(())
    }
    /// Store a borrowed value (stores that write files override this to avoid a copy).
    fn set_slice(&self, key: &StoreKey, value: &[u8]) -> Result<(), StorageError> {
        self.set(key, Bytes::copy_from_slice(value))
    }
    /// Store a value given in parts, back to back.
    fn set_parts(&self, key: &StoreKey, parts: &[&[u8]]) -> Result<(), StorageError> {
        self.set(key, Bytes::from(parts.concat()))
    }
    /// [`set_parts`](Self::set_parts) from an encoder thread: stores that write files
    /// may write around the page cache (the value is page-aligned when it can be).
    fn set_parts_direct(&self, key: &StoreKey, parts: &[&[u8]]) -> Result<(), StorageError> {
        self.set_parts(key, parts)
    }
    /// Append to a journal file (per-frame metadata), made durable by [`sync`](Self::sync).
    /// `Ok(false)`: this store keeps no journals (the caller keeps the data in memory).
    fn append(&self, _key: &str, _value: &[u8]) -> Result<bool, BackendError> {
        Ok(false)
    }
    /// Everything appended to a journal so far.
    fn read_journal(&self, _key: &str) -> Result<Vec<u8>, BackendError> {
        Ok(Vec::new())
    }
    /// Remove a journal once its content is in the metadata.
    fn remove_journal(&self, _key: &str) -> Result<(), BackendError> {
        Ok(())
    }
    /// Start a batch of `zarr.json` documents, put into place together by
    /// [`commit_metadata`](Self::commit_metadata) (stores that write files make them
    /// durable with one filesystem sync rather than one per document).
    fn begin_metadata(&self) {}
    /// Make the batch's documents durable and put them into place.
    fn commit_metadata(&self) -> Result<(), BackendError> {
        Ok(())
    }
    /// End the batch without putting its documents into place.
    fn discard_metadata(&self) {}
    /// Fail if the dataset's root directory is no longer the one the store made
    /// (removed, or replaced by another directory).
    fn check_root(&self) -> Result<(), BackendError> {
        Ok(())
    }
    /// Set disk space aside for the final metadata (stores on a disk that can fill).
    fn reserve(&self, _bytes: usize) -> Result<(), BackendError> {
        Ok(())
    }
    /// Free the space set aside.
    fn release_reserve(&self) {}
}

impl ZarrStore for DirStore {
    fn sync(&self) -> Result<(), BackendError> {
        DirStore::sync(self)
    }
    fn take_error(&self) -> Option<BackendError> {
        DirStore::take_error(self)
    }
    fn set_slice(&self, key: &StoreKey, value: &[u8]) -> Result<(), StorageError> {
        DirStore::set_parts(self, key, &[value])
    }
    fn set_parts(&self, key: &StoreKey, parts: &[&[u8]]) -> Result<(), StorageError> {
        DirStore::set_parts(self, key, parts)
    }
    fn set_parts_direct(&self, key: &StoreKey, parts: &[&[u8]]) -> Result<(), StorageError> {
        DirStore::set_parts_direct(self, key, parts)
    }
    fn append(&self, key: &str, value: &[u8]) -> Result<bool, BackendError> {
        DirStore::append(self, key, value).map(|()| true)
    }
    fn read_journal(&self, key: &str) -> Result<Vec<u8>, BackendError> {
        DirStore::read_journal(self, key)
    }
    fn remove_journal(&self, key: &str) -> Result<(), BackendError> {
        DirStore::remove_journal(self, key)
    }
    fn begin_metadata(&self) {
        DirStore::begin_metadata(self);
    }
    fn commit_metadata(&self) -> Result<(), BackendError> {
        DirStore::commit_metadata(self)
    }
    fn discard_metadata(&self) {
        DirStore::discard_metadata(self);
    }
    fn check_root(&self) -> Result<(), BackendError> {
        DirStore::check_root(self)
    }
    fn reserve(&self, bytes: usize) -> Result<(), BackendError> {
        DirStore::reserve(self, bytes)
    }
    fn release_reserve(&self) {
        DirStore::release_reserve(self);
    }
}
