//! Settings JSON parsing and validation: never panics; a schema that validates
//! serializes back to settings that validate to the same schema.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ome_writers_fuzz::settings(data));
