//! Fuzz target: see `pvm3::fuzzing::route_hello`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| pvm3::fuzzing::route_hello(data));
