#![no_main]
//! Fuzz target: see wsnative_core::fuzzing::proxy_reply.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    wsnative_core::fuzzing::proxy_reply(data);
});
