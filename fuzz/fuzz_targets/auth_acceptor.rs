//! Fuzz target: see `pvm3::fuzzing::auth_acceptor`.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| pvm3::fuzzing::auth_acceptor(data));
