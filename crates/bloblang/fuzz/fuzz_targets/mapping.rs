#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| bloblang::fuzzing::mapping_and_input(data));
