//! Passes the host arguments no honest plugin would: a 50 MiB name or
//! address number, once (`*-once`, answering the host's error) or in a loop
//! until the deadline (`long-name-loop`), and a field list of a million
//! entries (`many-fields-once`, for the person the input names).

#[allow(unsafe_code)] // generated ABI glue
mod bindings {
    wit_bindgen::generate!({
        path: ["../../../wit/records", "../../../wit/plugin", "wit"],
        world: "kiroku-test:hostile-args/hostile-args",
        generate_all,
    });
    use super::Plugin;
    export!(Plugin);
}

use bindings::exports::kiroku::plugin::handler::{Error, Guest, Operation};
use bindings::kiroku::records::residents::{self, ResidentField};
use bindings::kiroku::records::types::Error as HostError;

struct Plugin;

const HUGE: usize = 50 << 20;

fn text(e: HostError) -> String {
    match e {
        HostError::AccessDenied(m) => format!("access-denied: {m}"),
        HostError::NotFound(m) => format!("not-found: {m}"),
        HostError::Invalid(m) => format!("invalid: {m}"),
        HostError::Conflict(m) => format!("conflict: {m}"),
    }
}

fn answer<T>(r: Result<T, HostError>) -> String {
    format!("{:?}", r.map(|_| "ok".to_owned()).unwrap_or_else(text))
}

impl Guest for Plugin {
    fn describe() -> Vec<Operation> {
        [
            "long-name-once",
            "long-name-loop",
            "long-key-once",
            "many-fields-once",
        ]
        .iter()
        .map(|n| Operation {
            name: (*n).into(),
            summary: "Passes a huge argument.".into(),
            writes: false,
        })
        .collect()
    }

    fn handle(operation: String, input: String) -> Result<String, Error> {
        let huge = "ア".repeat(HUGE / 3);
        Ok(match operation.as_str() {
            "long-name-once" => answer(residents::find_by_name(&huge, "1950-01-01")),
            "long-name-loop" => loop {
                let _ = residents::find_by_name(&huge, "1950-01-01");
            },
            "long-key-once" => answer(residents::find_by_address_number(&"1".repeat(HUGE))),
            _ => {
                let person = input
                    .split(|c: char| !c.is_ascii_digit())
                    .find_map(|d| d.parse().ok())
                    .unwrap_or(1);
                let fields = vec![ResidentField::KanaName; 1_000_000];
                answer(residents::get(person, &fields))
            }
        })
    }
}
