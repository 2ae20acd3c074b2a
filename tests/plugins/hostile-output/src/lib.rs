//! Returns 8 MiB of JSON (`flood`), or text that is not JSON (`garbage`).

#[allow(unsafe_code)] // generated ABI glue
mod bindings {
    wit_bindgen::generate!({
        path: ["../../../wit/records", "../../../wit/plugin", "wit"],
        world: "kiroku-test:hostile-output/hostile-output",
        generate_all,
    });
    use super::Plugin;
    export!(Plugin);
}

use bindings::exports::kiroku::plugin::handler::{Error, Guest, Operation};

struct Plugin;

impl Guest for Plugin {
    fn describe() -> Vec<Operation> {
        vec![
            Operation {
                name: "flood".into(),
                summary: "Returns 8 MiB.".into(),
                writes: false,
            },
            Operation {
                name: "garbage".into(),
                summary: "Returns non-JSON.".into(),
                writes: false,
            },
            Operation {
                name: "deep".into(),
                summary: "Returns a 1,000,000-deep array (2 MB).".into(),
                writes: false,
            },
        ]
    }

    fn handle(operation: String, _input: String) -> Result<String, Error> {
        if operation == "garbage" {
            return Ok("<html>not json</html>".into());
        }
        if operation == "deep" {
            return Ok("[".repeat(1_000_000) + &"]".repeat(1_000_000));
        }
        Ok(format!("\"{}\"", "x".repeat(8 << 20)))
    }
}
