//! Proposals (with what they ask to sign), votes, aborts and transfer notices.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| protocol::fuzzing::control(data));
