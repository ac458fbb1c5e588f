//! The router over arbitrary (valid) schemas and frame numbers: never panics, stays in
//! bounds, is one-to-one, and says past-the-end exactly past the end.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ome_writers_fuzz::router(data));
