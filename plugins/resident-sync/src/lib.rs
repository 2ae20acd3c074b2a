//! resident-sync: applies the resident registry's change feed (move-in /
//! additions, updates, move-outs, deaths) from JSON or CSV.
//!
//! The whole batch is validated first; any bad row refuses the batch with
//! every problem listed by row and field (never by value), and nothing is
//! stored. Applying is idempotent by address number: re-applying a batch
//! stores nothing new (the host writes only values that differ). The feed
//! may write residents but not read them back, so the host never tells it
//! whether a stored value differed, and the output counts rows by kind.

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
            _ => self.deceased += 1,
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
            residents::update(id, &resident_fields(r)).map_err(err)?;
            if let Some(n) = &r.my_number {
                my_number_intake::register(id, n).map_err(err)?;
            }
            Ok("updated")
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
            residents::update(id, &change).map_err(err)?;
            Ok("moved-out")
        }
        (Op::Death, Some(id)) => {
            let change = residents::Resident {
                status: Some("deceased".into()),
                status_date: r.date.clone(),
                ..empty()
            };
            residents::update(id, &change).map_err(err)?;
            Ok("deceased")
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
                summary: "Checks a batch as apply would, without applying it (a dry run).".into(),
                writes: false,
            },
        ]
    }

    fn handle(operation: String, input: String) -> Result<String, Error> {
        let today = bindings::kiroku::records::context::today();
        let records = feed::parse(&input, &today)?;
        // `validate` is a dry run of `apply` (the policy says so): it makes
        // the same host calls, so it meets the same checks (field limits,
        // My Number conflicts, text rules), and the host applies nothing.
        let valid = match operation.as_str() {
            "validate" => true,
            "apply" => false,
            other => {
                return Err(Error::UnknownOperation(format!(
                    "resident-sync has no operation {other}"
                )));
            }
        };
        let mut tally = Tally::default();
        for (i, r) in records.iter().enumerate() {
            tally.note(apply_record(i + 1, r)?);
        }
        let mut out = json!({
            "rows": records.len(),
            "created": tally.created,
            "updated": tally.updated,
            "moved_out": tally.moved_out,
            "deceased": tally.deceased,
            "outcomes": tally.outcomes,
        });
        if valid {
            out["valid"] = json!(true);
        }
        Ok(out.to_string())
    }
}
