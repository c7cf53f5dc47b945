#![no_main]
//! Fuzz target: see wsnative_core::fuzzing::server_stream.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    wsnative_core::fuzzing::server_stream(data);
});
