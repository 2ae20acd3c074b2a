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

/// The reference day of the age benchmark.
const SENIOR_DAY: kiroku_rules::Date = kiroku_rules::Date {
    year: 2026,
    month: 4,
    day: 1,
};

impl Guest for Noop {
    fn describe() -> Vec<Operation> {
        vec![
            Operation {
                name: "noop".into(),
                summary: "Does nothing.".into(),
                writes: false,
            },
            Operation {
                name: "name-keys-len".into(),
                summary:
                    "Normalises newline-separated names for lookup; returns the keys' total length."
                        .into(),
                writes: false,
            },
            Operation {
                name: "count-aged-65".into(),
                summary:
                    "Counts birth dates (comma-separated) of persons aged 65 or more on 2026-04-01."
                        .into(),
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
            "name-keys-len" => Ok(kiroku_rules::normalize::name_keys_len(&input).to_string()),
            "count-aged-65" => {
                Ok(kiroku_rules::date::count_aged_at_least(&input, SENIOR_DAY, 65).to_string())
            }
            "count-valid-my-numbers" => {
                Ok(kiroku_rules::my_number::count_valid(&input).to_string())
            }
            other => Err(Error::UnknownOperation(other.into())),
        }
    }
}
