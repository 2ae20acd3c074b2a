//! A plugin with no imports: `noop` returns at once, `count-valid-my-numbers`
//! runs the same check-digit logic the benchmark also runs natively.

#[allow(unsafe_code)] // generated ABI glue
mod bindings {
    wit_bindgen::generate!({
        path: ["../../../wit/records", "../../../wit/plugin", "wit"],
        world: "kiroku-test:noop/noop",
        generate_all,
    });
    use super::Noop;
    export!(Noop);
}

use bindings::exports::kiroku::plugin::handler::{Error, Guest, Operation};

struct Noop;

impl Guest for Noop {
    fn describe() -> Vec<Operation> {
        vec![
            Operation {
                name: "noop".into(),
                summary: "Does nothing.".into(),
                writes: false,
            },
            Operation {
                name: "count-valid-my-numbers".into(),
                summary: "Counts valid My Numbers in a comma-separated list.".into(),
                writes: false,
            },
        ]
    }

    fn handle(operation: String, input: String) -> Result<String, Error> {
        match operation.as_str() {
            "noop" => Ok("null".into()),
            "count-valid-my-numbers" => {
                Ok(kiroku_rules::my_number::count_valid(&input).to_string())
            }
            other => Err(Error::UnknownOperation(other.into())),
        }
    }
}
