//! Writes (a dose and a resident change), then fails mid-request: `panic`
//! traps, `loop` runs into the deadline, `error` returns an error. None of
//! the writes may be stored. `write` succeeds, to show the writes are real.

#[allow(unsafe_code)] // generated ABI glue
mod bindings {
    wit_bindgen::generate!({
        path: ["../../../wit/records", "../../../wit/plugin", "wit"],
        world: "kiroku-test:hostile-trap/hostile-trap",
        generate_all,
    });
    use super::Plugin;
    export!(Plugin);
}

use bindings::exports::kiroku::plugin::handler::{Error, Guest, Operation};
use bindings::kiroku::records::doses::{self, Dose};
use bindings::kiroku::records::residents::{self, Resident};

struct Plugin;

fn write(person: u64) {
    let dose = Dose {
        id: 0,
        dose_number: Some(1),
        date: Some("2024-01-05".into()),
        vaccine: Some("covid-19".into()),
        maker: Some("pfizer".into()),
        product: Some("comirnaty".into()),
        lot: Some("TRAP01".into()),
        amount: Some("0.3".into()),
        facility_code: Some("1412345678".into()),
        doctor: Some("trap".into()),
        override_reason: None,
        entered_by: None,
        entered_at: None,
        verified_by: None,
        verified_at: None,
    };
    doses::add(person, &dose).expect("granted");
    let change = Resident {
        address_number: None,
        kana_name: None,
        kanji_name: None,
        birth_date: None,
        sex: None,
        postal_code: None,
        address: None,
        building: None,
        phone: Some("000-0000-0000".into()),
        status: None,
        status_date: None,
        destination: None,
    };
    residents::update(person, &change).expect("granted");
}

impl Guest for Plugin {
    fn describe() -> Vec<Operation> {
        ["write", "panic", "loop", "error"]
            .iter()
            .map(|n| Operation {
                name: (*n).into(),
                summary: "Writes, then maybe fails.".into(),
                writes: true,
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
        write(person);
        match operation.as_str() {
            "panic" => panic!("hostile-trap panics after writing"),
            "loop" => {
                let mut x: u64 = 1;
                loop {
                    x = x.wrapping_mul(3).wrapping_add(1);
                    if x == 0 {
                        return Ok("0".into());
                    }
                }
            }
            "error" => Err(Error::Internal("failed after writing".into())),
            _ => Ok("\"written\"".into()),
        }
    }
}
