//! resident-sync's feed reader: any text as the operation's input (JSON
//! records or a CSV in "csv"). It must answer, never panic.
#![no_main]

#[path = "../../plugins/resident-sync/src/feed.rs"]
#[allow(dead_code)]
mod feed;

/// The plugin's WIT error type, as the generated bindings name it.
mod bindings {
    pub mod exports {
        pub mod kiroku {
            pub mod plugin {
                pub mod handler {
                    #[derive(Debug)]
                    #[allow(dead_code)]
                    pub enum Error {
                        Invalid(String),
                        Internal(String),
                    }
                }
            }
        }
    }
}

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = feed::parse(text, "2026-12-01");
    // The same text as the CSV of a JSON input.
    let input = serde_json::json!({ "csv": text }).to_string();
    let _ = feed::parse(&input, "2026-12-01");
});
