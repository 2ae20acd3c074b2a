//! target-extraction's campaign definitions: TOML text and JSON objects.
#![no_main]

#[path = "../../plugins/target-extraction/src/campaign.rs"]
#[allow(dead_code)]
mod campaign;

/// The plugin's WIT error type.
#[derive(Debug)]
#[allow(dead_code)]
pub enum Error {
    Invalid(String),
    Internal(String),
}

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = campaign::Criteria::from_json(&serde_json::Value::String(text.to_owned()));
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
        let _ = campaign::Criteria::from_json(&value);
    }
});
