//! Imports residents (granted: read kana-name only) and asks for more:
//! an ungranted field, an ungranted lookup, an ungranted write. It reports
//! what the host answered so the test can check the fence.

#[allow(unsafe_code)] // generated ABI glue
mod bindings {
    wit_bindgen::generate!({
        path: ["../../../wit/records", "../../../wit/plugin", "wit"],
        world: "kiroku-test:hostile-field/hostile-field",
        generate_all,
    });
    use super::Plugin;
    export!(Plugin);
}

use bindings::exports::kiroku::plugin::handler::{Error, Guest, Operation};
use bindings::kiroku::records::residents::{self, Resident, ResidentField};
use bindings::kiroku::records::types::Error as HostError;

struct Plugin;

fn code(e: &HostError) -> String {
    match e {
        HostError::AccessDenied(m) => format!("access-denied: {m}"),
        HostError::NotFound(m) => format!("not-found: {m}"),
        HostError::Invalid(m) => format!("invalid: {m}"),
        HostError::Conflict(m) => format!("conflict: {m}"),
    }
}

fn answer<T: std::fmt::Debug>(r: Result<T, HostError>) -> String {
    let text = match r {
        Ok(v) => format!("ok: {v:?}"),
        Err(e) => code(&e),
    };
    format!("{:?}", text)
}

impl Guest for Plugin {
    fn describe() -> Vec<Operation> {
        [
            "read-kana",
            "read-address",
            "search-address-number",
            "write-name",
        ]
        .iter()
        .map(|n| Operation {
            name: (*n).into(),
            summary: "Probes the fence.".into(),
            writes: false,
        })
        .collect()
    }

    fn handle(operation: String, input: String) -> Result<String, Error> {
        let person: u64 = input
            .trim()
            .trim_matches(|c| c == '{' || c == '}')
            .rsplit(':')
            .next()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(1);
        Ok(match operation.as_str() {
            "read-kana" => answer(
                residents::get(person, &[ResidentField::KanaName]).map(|r| r.kana_name.is_some()),
            ),
            "read-address" => answer(
                residents::get(person, &[ResidentField::KanaName, ResidentField::Address])
                    .map(|r| r.address),
            ),
            "search-address-number" => answer(residents::find_by_address_number("1000000000")),
            _ => {
                let change = Resident {
                    address_number: None,
                    kana_name: Some("ハッカー".into()),
                    kanji_name: None,
                    birth_date: None,
                    sex: None,
                    postal_code: None,
                    address: None,
                    building: None,
                    phone: None,
                    status: None,
                    status_date: None,
                    destination: None,
                };
                answer(residents::update(person, &change))
            }
        })
    }
}
