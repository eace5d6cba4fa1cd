//! Fuzz target: see `pvm3::fuzzing::ring`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| pvm3::fuzzing::ring(data));
