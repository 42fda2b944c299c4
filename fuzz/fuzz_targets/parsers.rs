//! One libFuzzer target for every parser: the first input byte picks the parser
//! (`nodex_fuzz::PARSERS[byte % len]`), the rest is the file content it is given.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nodex_fuzz::fuzz_one(data));
