//! Fuzz bodies shared by the cargo-fuzz targets and the stable test
//! (crates/cli/tests/fuzz_bodies.rs).

#[path = "bodies.rs"]
mod bodies;

pub use bodies::{ZARR_RECOVER_DOCS, router, settings, tiff_recover, zarr_recover};
