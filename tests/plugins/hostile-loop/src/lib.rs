//! Loops forever: `spin` burns CPU (the epoch deadline must trap it),
//! `spin-host-calls` calls the host in a loop (the host-call budget must
//! stop it first).

#[allow(unsafe_code)] // generated ABI glue
mod bindings {
    wit_bindgen::generate!({
        path: ["../../../wit/records", "../../../wit/plugin", "wit"],
        world: "kiroku-test:hostile-loop/hostile-loop",
        generate_all,
    });
    use super::Plugin;
    export!(Plugin);
}

use bindings::exports::kiroku::plugin::handler::{Error, Guest, Operation};

struct Plugin;

impl Guest for Plugin {
    fn describe() -> Vec<Operation> {
        ["spin", "spin-host-calls"]
            .iter()
            .map(|n| Operation {
                name: (*n).into(),
                summary: "Never returns.".into(),
                writes: false,
            })
            .collect()
    }

    fn handle(operation: String, _input: String) -> Result<String, Error> {
        let mut counter: u64 = 0;
        loop {
            if operation == "spin-host-calls" {
                counter += bindings::kiroku::records::context::today().len() as u64;
            } else {
                counter = counter.wrapping_mul(6364136223846793005).wrapping_add(1);
            }
            if counter == 42 {
                return Ok(counter.to_string());
            }
        }
    }
}
