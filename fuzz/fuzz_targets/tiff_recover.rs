//! `omew repair`'s BigTIFF reader on any file: recovered or refused, never a panic;
//! a recovered file recovers again.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ome_writers_fuzz::tiff_recover(data));
