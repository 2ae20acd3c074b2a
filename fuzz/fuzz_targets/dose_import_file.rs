//! dose-import's file reader: any bytes, in every encoding, as VRS or
//! Kiroku CSV. It must answer (rows or errors), never panic.
#![no_main]

#[path = "../../plugins/dose-import/src/file.rs"]
#[allow(dead_code)]
mod file;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let today = kiroku_rules::Date::parse("2026-12-01").unwrap();
    for encoding in [file::Encoding::Auto, file::Encoding::Utf8, file::Encoding::ShiftJis] {
        if let Ok(text) = file::decode(data.to_vec(), encoding) {
            let _ = file::parse(&text, "142051", today);
        }
    }
});
