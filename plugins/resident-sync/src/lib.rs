//! resident-sync: applies the resident registry's change feed (move-in /
//! additions, updates, move-outs, deaths) from JSON or CSV.
//!
//! The whole batch is validated first; any bad row refuses the batch with
//! every problem listed by row and field (never by value), and nothing is
//! stored. Applying is idempotent by address number: re-applying a batch
//! changes nothing and the output says so.

#[allow(unsafe_code)] // generated ABI glue
mod bindings {
    wit_bindgen::generate!({
        path: ["../../wit/records", "../../wit/plugin", "wit"],
        world: "kiroku-plugins:resident-sync/resident-sync",
        generate_all,
    });
    use super::ResidentSync;
    export!(ResidentSync);
}

mod feed;

use bindings::exports::kiroku::plugin::handler::{Error, Guest, Operation};
use bindings::kiroku::records::types::Error as HostError;
use bindings::kiroku::records::{my_number_intake, residents};
use feed::{Op, Record};
use serde_json::json;

struct ResidentSync;

/// Maps a host error to this plugin's error, prefixed with the row.
fn host_error(row: usize, e: HostError) -> Error {
    match e {
        HostError::AccessDenied(m) => Error::AccessDenied(m),
        HostError::NotFound(m) => Error::NotFound(format!("row {row}: {m}")),
        HostError::Invalid(m) => Error::Invalid(format!("row {row}: {m}")),
        HostError::Conflict(m) => Error::Conflict(format!("row {row}: {m}")),
    }
}

#[derive(Default)]
struct Tally {
    created: u32,
    updated: u32,
    unchanged: u32,
    moved_out: u32,
    deceased: u32,
    outcomes: Vec<&'static str>,
}

impl Tally {
    fn note(&mut self, outcome: &'static str) {
        match outcome {
            "created" => self.created += 1,
            "updated" => self.updated += 1,
            "moved-out" => self.moved_out += 1,
            "deceased" => self.deceased += 1,
            _ => self.unchanged += 1,
        }
        self.outcomes.push(outcome);
    }
}

fn resident_fields(r: &Record) -> residents::Resident {
    residents::Resident {
        address_number: Some(r.address_number.clone()),
        kana_name: r.kana_name.clone(),
        kanji_name: r.kanji_name.clone(),
        birth_date: r.birth_date.clone(),
        sex: r.sex.clone(),
        postal_code: r.postal_code.clone(),
        address: r.address.clone(),
        building: r.building.clone(),
        phone: r.phone.clone(),
        status: None,
        status_date: None,
        destination: None,
    }
}

fn apply_record(row: usize, r: &Record) -> Result<&'static str, Error> {
    let existing =
        residents::find_by_address_number(&r.address_number).map_err(|e| host_error(row, e))?;
    let err = |e| host_error(row, e);
    match (r.op, existing) {
        (Op::Add, None) => {
            let mut fields = resident_fields(r);
            fields.status = Some("resident".into());
            let id = residents::create(&fields).map_err(err)?;
            if let Some(n) = &r.my_number {
                my_number_intake::register(id, n).map_err(err)?;
            }
            Ok("created")
        }
        (Op::Add | Op::Update, Some(id)) => {
            let mut changed = residents::update(id, &resident_fields(r)).map_err(err)?;
            if let Some(n) = &r.my_number {
                changed |= my_number_intake::register(id, n).map_err(err)?;
            }
            Ok(if changed { "updated" } else { "unchanged" })
        }
        (Op::Update | Op::MoveOut | Op::Death, None) => Err(Error::NotFound(format!(
            "row {row}: no resident has this address number"
        ))),
        (Op::MoveOut, Some(id)) => {
            let change = residents::Resident {
                status: Some("moved-out".into()),
                status_date: r.date.clone(),
                destination: r.destination.clone(),
                ..empty()
            };
            Ok(if residents::update(id, &change).map_err(err)? {
                "moved-out"
            } else {
                "unchanged"
            })
        }
        (Op::Death, Some(id)) => {
            let change = residents::Resident {
                status: Some("deceased".into()),
                status_date: r.date.clone(),
                ..empty()
            };
            Ok(if residents::update(id, &change).map_err(err)? {
                "deceased"
            } else {
                "unchanged"
            })
        }
    }
}

fn empty() -> residents::Resident {
    residents::Resident {
        address_number: None,
        kana_name: None,
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
    }
}

impl Guest for ResidentSync {
    fn describe() -> Vec<Operation> {
        vec![
            Operation {
                name: "apply".into(),
                summary:
                    "Applies a batch of registry changes (JSON records or CSV); all or nothing."
                        .into(),
                writes: true,
            },
            Operation {
                name: "validate".into(),
                summary: "Checks a batch without applying it and lists every problem by row."
                    .into(),
                writes: false,
            },
        ]
    }

    fn handle(operation: String, input: String) -> Result<String, Error> {
        let today = bindings::kiroku::records::context::today();
        let records = feed::parse(&input, &today)?;
        match operation.as_str() {
            "validate" => Ok(json!({ "valid": true, "rows": records.len() }).to_string()),
            "apply" => {
                let mut tally = Tally::default();
                for (i, r) in records.iter().enumerate() {
                    tally.note(apply_record(i + 1, r)?);
                }
                let changed = tally.created + tally.updated + tally.moved_out + tally.deceased > 0;
                Ok(json!({
                    "rows": records.len(),
                    "changed": changed,
                    "created": tally.created,
                    "updated": tally.updated,
                    "moved_out": tally.moved_out,
                    "deceased": tally.deceased,
                    "unchanged": tally.unchanged,
                    "outcomes": tally.outcomes,
                })
                .to_string())
            }
            other => Err(Error::UnknownOperation(format!(
                "resident-sync has no operation {other}"
            ))),
        }
    }
}
