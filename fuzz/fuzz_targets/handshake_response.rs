#![no_main]
//! Fuzz target: see wsnative_core::fuzzing::handshake_response.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    wsnative_core::fuzzing::handshake_response(data);
});
