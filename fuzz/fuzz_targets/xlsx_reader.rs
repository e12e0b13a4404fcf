#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    jingkang_core::fuzzing::contain_upstream_panics();
    jingkang_core::fuzzing::xlsx_reader(data);
});
