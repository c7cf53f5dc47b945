#![no_main]
//! Fuzz target: see wsnative_core::fuzzing::url_and_protocols.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    wsnative_core::fuzzing::url_and_protocols(data);
});
