//! `omew repair`'s OME-Zarr recovery on a tiny killed dataset whose root group, array
//! metadata or frame-metadata journal is the input (its first byte picks which):
//! recovered or refused, never a panic; a recovered dataset has nothing to repair.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ome_writers_fuzz::zarr_recover(data));
