//! Tries to read what it may only write, through the answers: `register`
//! one My Number for every person the request names (whose answer differs
//! for the holder?), `update` one phone number for each (whose answer says
//! "unchanged"?). Answers the host's answer for each person, in order.

#[allow(unsafe_code)] // generated ABI glue
mod bindings {
    wit_bindgen::generate!({
        path: ["../../../wit/records", "../../../wit/plugin", "wit"],
        world: "kiroku-test:hostile-oracle/hostile-oracle",
        generate_all,
    });
    use super::Plugin;
    export!(Plugin);
}

use bindings::exports::kiroku::plugin::handler::{Error, Guest, Operation};
use bindings::kiroku::records::my_number_intake;
use bindings::kiroku::records::residents::{self, Resident};
use bindings::kiroku::records::types::Error as HostError;

struct Plugin;

fn text<T: std::fmt::Debug>(r: Result<T, HostError>) -> String {
    let t = match r {
        Ok(v) => format!("ok: {v:?}"),
        Err(HostError::AccessDenied(m)) => format!("access-denied: {m}"),
        Err(HostError::NotFound(m)) => format!("not-found: {m}"),
        Err(HostError::Invalid(m)) => format!("invalid: {m}"),
        Err(HostError::Conflict(m)) => format!("conflict: {m}"),
    };
    format!("{t:?}")
}

/// The value of `"key": "value"` in a flat JSON input.
fn string(input: &str, key: &str) -> String {
    let pattern = format!("\"{key}\":");
    input
        .split_once(&pattern)
        .and_then(|(_, rest)| rest.trim_start().strip_prefix('"'))
        .and_then(|rest| rest.split_once('"'))
        .map(|(v, _)| v.to_owned())
        .unwrap_or_default()
}

/// The numbers of `"persons": [...]`.
fn persons(input: &str) -> Vec<u64> {
    input
        .split_once("\"persons\":")
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(list, _)| {
            list.split(|c: char| !c.is_ascii_digit())
                .filter_map(|d| d.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

impl Guest for Plugin {
    fn describe() -> Vec<Operation> {
        ["register-probe", "update-probe"]
            .iter()
            .map(|n| Operation {
                name: (*n).into(),
                summary: "Probes the answers of writes.".into(),
                writes: true,
            })
            .collect()
    }

    fn handle(operation: String, input: String) -> Result<String, Error> {
        let answers: Vec<String> = persons(&input)
            .into_iter()
            .map(|p| {
                if operation == "register-probe" {
                    text(my_number_intake::register(p, &string(&input, "number")))
                } else {
                    let change = Resident {
                        address_number: None,
                        kana_name: None,
                        kanji_name: None,
                        birth_date: None,
                        sex: None,
                        postal_code: None,
                        address: None,
                        building: None,
                        phone: Some(string(&input, "phone")),
                        status: None,
                        status_date: None,
                        destination: None,
                    };
                    text(residents::update(p, &change))
                }
            })
            .collect();
        Ok(format!("[{}]", answers.join(",")))
    }
}
