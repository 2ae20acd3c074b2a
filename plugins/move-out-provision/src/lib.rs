//! move-out-provision: answers a move-in query from another municipality
//! with the dose records of the one person the host found (a person who
//! moved out). The host names the person and the allowed items in the
//! input and keeps only those items of the answer, whatever this returns.

#[allow(unsafe_code)] // generated ABI glue
mod bindings {
    wit_bindgen::generate!({
        path: ["../../wit/records", "../../wit/plugin", "wit"],
        world: "kiroku-plugins:move-out-provision/move-out-provision",
        generate_all,
    });
    use super::Provision;
    export!(Provision);
}

use bindings::exports::kiroku::plugin::handler::{Error, Guest, Operation};
use bindings::kiroku::records::doses::{self, Dose, DoseField};
use bindings::kiroku::records::types::Error as HostError;
use serde_json::{Map, Value, json};

struct Provision;

fn host(e: HostError) -> Error {
    match e {
        HostError::AccessDenied(m) => Error::AccessDenied(m),
        HostError::NotFound(m) => Error::NotFound(m),
        HostError::Invalid(m) => Error::Invalid(m),
        HostError::Conflict(m) => Error::Conflict(m),
    }
}

/// The items this plugin can answer, by their policy names.
const ITEMS: &[(&str, DoseField)] = &[
    ("dose-number", DoseField::DoseNumber),
    ("date", DoseField::Date),
    ("vaccine", DoseField::Vaccine),
    ("maker", DoseField::Maker),
    ("product", DoseField::Product),
    ("lot", DoseField::Lot),
    ("amount", DoseField::Amount),
    ("facility-code", DoseField::FacilityCode),
    ("doctor", DoseField::Doctor),
    ("override-reason", DoseField::OverrideReason),
];

fn item_values(dose: &Dose) -> [(&'static str, Option<String>); 10] {
    [
        ("dose-number", dose.dose_number.map(|n| n.to_string())),
        ("date", dose.date.clone()),
        ("vaccine", dose.vaccine.clone()),
        ("maker", dose.maker.clone()),
        ("product", dose.product.clone()),
        ("lot", dose.lot.clone()),
        ("amount", dose.amount.clone()),
        ("facility-code", dose.facility_code.clone()),
        ("doctor", dose.doctor.clone()),
        ("override-reason", dose.override_reason.clone()),
    ]
}

fn provide(input: &str) -> Result<String, Error> {
    let bad = || Error::Invalid("the input is {\"person_id\": N, \"items\": [names]}".into());
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(input) else {
        return Err(bad());
    };
    let person = map
        .get("person_id")
        .and_then(Value::as_u64)
        .ok_or_else(bad)?;
    let names: Vec<&str> = map
        .get("items")
        .and_then(Value::as_array)
        .ok_or_else(bad)?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let fields: Vec<DoseField> = ITEMS
        .iter()
        .filter(|(name, _)| names.contains(name))
        .map(|(_, f)| *f)
        .collect();
    if fields.is_empty() {
        return Ok(json!({ "doses": [] }).to_string());
    }
    let recorded = doses::for_person(person, &fields).map_err(host)?;
    let answered: Vec<Value> = recorded
        .iter()
        .map(|dose| {
            let mut out = Map::new();
            for (name, value) in item_values(dose) {
                if let (true, Some(v)) = (names.contains(&name), value) {
                    out.insert(name.into(), Value::String(v));
                }
            }
            Value::Object(out)
        })
        .collect();
    Ok(json!({ "doses": answered }).to_string())
}

impl Guest for Provision {
    fn describe() -> Vec<Operation> {
        vec![Operation {
            name: "provide".into(),
            summary: "Answers a checked move-in query with one person's allowed dose items.".into(),
            writes: false,
        }]
    }

    fn handle(operation: String, input: String) -> Result<String, Error> {
        match operation.as_str() {
            "provide" => provide(&input),
            other => Err(Error::UnknownOperation(other.into())),
        }
    }
}
