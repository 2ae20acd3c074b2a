//! Request bodies as the host reads them before any plugin runs: the
//! depth-bounded JSON parser.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = kiroku::json_shape::depth_exceeds(data, 64);
    if let Ok(value) = kiroku::json_shape::parse(data) {
        // What parsed re-serialises and parses the same.
        let again = kiroku::json_shape::parse(value.to_string().as_bytes()).unwrap();
        assert_eq!(value, again);
    }
});
