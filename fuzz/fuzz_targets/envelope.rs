//! The wire envelope every peer message arrives in.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| protocol::fuzzing::envelope(data));
