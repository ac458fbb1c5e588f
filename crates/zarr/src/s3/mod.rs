//! OME-Zarr on S3-compatible object storage (feature `s3`): [`S3Store`], a
//! [`ZarrStore`](crate::ZarrStore) over zarrs' object_store support
//! (`zarrs_object_store`) and the `object_store` crate's S3 client, driven by a tokio
//! runtime the store owns; [`S3Options`] (credentials, endpoint, concurrency,
//! multipart, retries); [`S3Error`]. See docs/object-storage.md.

mod error;
mod open;
mod options;
mod reference;
mod repair;
mod store;
mod uploads;

pub use error::S3Error;
pub use options::{MIN_PART_SIZE, S3Options};
pub use repair::recover_s3;
pub use store::S3Store;
