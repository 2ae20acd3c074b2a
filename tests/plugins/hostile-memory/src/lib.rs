//! Allocates (and touches) memory until the host's cap stops it.

#[allow(unsafe_code)] // generated ABI glue
mod bindings {
    wit_bindgen::generate!({
        path: ["../../../wit/records", "../../../wit/plugin", "wit"],
        world: "kiroku-test:hostile-memory/hostile-memory",
        generate_all,
    });
    use super::Plugin;
    export!(Plugin);
}

use bindings::exports::kiroku::plugin::handler::{Error, Guest, Operation};

struct Plugin;

impl Guest for Plugin {
    fn describe() -> Vec<Operation> {
        vec![Operation {
            name: "bomb".into(),
            summary: "Allocates without end.".into(),
            writes: false,
        }]
    }

    fn handle(_operation: String, _input: String) -> Result<String, Error> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(vec![0xAB; 1 << 20]);
            if hoard.len() == usize::MAX {
                return Ok(hoard.len().to_string());
            }
        }
    }
}
