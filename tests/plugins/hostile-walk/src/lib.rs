//! Tries to walk the town without a lookup or the population grant:
//! `read-guessed` reads persons 1..=150 and every id (serial or guessed
//! tag) around them; `write-guessed` sets their phone; `read-named` reads
//! the ids its request names. Each answers how many calls succeeded and
//! the distinct errors it saw.

#[allow(unsafe_code)] // generated ABI glue
mod bindings {
    wit_bindgen::generate!({
        path: ["../../../wit/records", "../../../wit/plugin", "wit"],
        world: "kiroku-test:hostile-walk/hostile-walk",
        generate_all,
    });
    use super::Plugin;
    export!(Plugin);
}

use std::collections::BTreeSet;

use bindings::exports::kiroku::plugin::handler::{Error, Guest, Operation};
use bindings::kiroku::records::residents::{self, Resident, ResidentField};
use bindings::kiroku::records::types::Error as HostError;

struct Plugin;

fn text(e: &HostError) -> String {
    match e {
        HostError::AccessDenied(m) => format!("access-denied: {m}"),
        HostError::NotFound(m) => format!("not-found: {m}"),
        HostError::Invalid(m) => format!("invalid: {m}"),
        HostError::Conflict(m) => format!("conflict: {m}"),
    }
}

fn phone(p: &str) -> Resident {
    Resident {
        address_number: None,
        kana_name: None,
        kanji_name: None,
        birth_date: None,
        sex: None,
        postal_code: None,
        address: None,
        building: None,
        phone: Some(p.into()),
        status: None,
        status_date: None,
        destination: None,
    }
}

/// Serials 1..=150, and for each a few ids with a tag above it.
fn guesses() -> Vec<u64> {
    let mut out = Vec::new();
    for serial in 1..=150u64 {
        out.push(serial);
        for tag in [1u64, 7, 12_345, (1 << 27) - 1] {
            out.push((tag << 26) | serial);
        }
    }
    out
}

fn numbers(input: &str) -> Vec<u64> {
    input
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|d| d.parse().ok())
        .collect()
}

impl Guest for Plugin {
    fn describe() -> Vec<Operation> {
        ["read-guessed", "write-guessed", "read-named"]
            .iter()
            .map(|n| Operation {
                name: (*n).into(),
                summary: "Walks the town.".into(),
                writes: *n == "write-guessed",
            })
            .collect()
    }

    fn handle(operation: String, input: String) -> Result<String, Error> {
        let ids = match operation.as_str() {
            "read-named" => numbers(&input),
            _ => guesses(),
        };
        let (mut ok, mut errors) = (0, BTreeSet::new());
        for id in ids {
            let result = if operation == "write-guessed" {
                residents::update(id, &phone("0466-00-0000")).map(|_| ())
            } else {
                residents::get(id, &[ResidentField::KanaName]).map(|_| ())
            };
            match result {
                Ok(()) => ok += 1,
                Err(e) => {
                    errors.insert(text(&e));
                }
            }
        }
        let errors: Vec<String> = errors.into_iter().map(|e| format!("{e:?}")).collect();
        Ok(format!(
            "{{\"ok\": {ok}, \"errors\": [{}]}}",
            errors.join(",")
        ))
    }
}
