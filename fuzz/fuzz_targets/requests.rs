//! Fuzz target: see `pvm3::fuzzing::requests`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| pvm3::fuzzing::requests(data));
