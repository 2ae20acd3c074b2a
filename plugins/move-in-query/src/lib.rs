//! move-in-query: when a person moves in, staff ask the previous
//! municipality for their dose records. The plugin finds the resident by
//! address number, reads the My Number and has the host ask (the host
//! confirms the number is this resident's, signs, sends over mutual TLS,
//! audits, and holds what is found). `take-up` stores the held doses as
//! the person's, marked with their source; `collect` asks again about an
//! answer waiting for approval there; `batch` runs a CSV of address
//! numbers as one job with a per-row report.

#[allow(unsafe_code)] // generated ABI glue
mod bindings {
    wit_bindgen::generate!({
        path: [
            "../../wit/records",
            "../../wit/health",
            "../../wit/federation",
            "../../wit/plugin",
            "wit"
        ],
        world: "kiroku-plugins:move-in-query/move-in-query",
        generate_all,
    });
    use super::MoveInQuery;
    export!(MoveInQuery);
}

mod batch;

use bindings::exports::kiroku::plugin::handler::{Error, Guest, Operation};
use bindings::kiroku::federation::federation::{self as fed, Answer, Outcome};
use bindings::kiroku::records::types::Error as HostError;
use bindings::kiroku::records::{my_number, residents};
use serde_json::{Map, Value, json};

struct MoveInQuery;

/// The purpose every query names.
pub(crate) const PURPOSE: &str = "move-in-query";
/// The legal basis when the input names none: My Number Act art. 19 (16).
pub(crate) const DEFAULT_BASIS: &str = "mynumber-act-19-16";

pub(crate) fn host(e: HostError) -> Error {
    match e {
        HostError::AccessDenied(m) => Error::AccessDenied(m),
        HostError::NotFound(m) => Error::NotFound(m),
        HostError::Invalid(m) => Error::Invalid(m),
        HostError::Conflict(m) => Error::Conflict(m),
    }
}

pub(crate) fn invalid(message: impl Into<String>) -> Error {
    Error::Invalid(message.into())
}

fn object(input: &str, fields: &[&str]) -> Result<Map<String, Value>, Error> {
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(input) else {
        return Err(invalid("the input must be a JSON object"));
    };
    if let Some(key) = map.keys().find(|k| !fields.contains(&k.as_str())) {
        return Err(invalid(format!(
            "unknown field {} (fields: {})",
            kiroku_rules::safe_text::field_name(key),
            fields.join(", ")
        )));
    }
    Ok(map)
}

fn text<'m>(map: &'m Map<String, Value>, key: &str, what: &str) -> Result<&'m str, Error> {
    map.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid(format!("{key} ({what}) is required")))
}

/// The basis from the input: `mynumber-act-19-16` by default, or
/// `consent:{record id}`.
pub(crate) fn basis_of(map: &Map<String, Value>) -> Result<String, Error> {
    match map.get("basis") {
        None | Some(Value::Null) => Ok(DEFAULT_BASIS.into()),
        Some(Value::String(s)) => Ok(s.trim().to_owned()),
        Some(_) => Err(invalid("basis is a string")),
    }
}

pub(crate) fn outcome_name(outcome: Outcome) -> &'static str {
    match outcome {
        Outcome::Found => "found",
        Outcome::NoRecord => "no-record",
        Outcome::Refused => "refused",
        Outcome::Pending => "pending",
    }
}

pub(crate) fn answer_json(answer: &Answer) -> Value {
    let doses: Vec<Value> = answer
        .doses
        .iter()
        .map(|d| {
            let mut out = Map::new();
            let mut put = |k: &str, v: Option<String>| {
                if let Some(v) = v {
                    out.insert(k.into(), Value::String(v));
                }
            };
            put("dose_number", d.dose_number.map(|n| n.to_string()));
            put("date", d.date.clone());
            put("vaccine", d.vaccine.clone());
            put("maker", d.maker.clone());
            put("product", d.product.clone());
            put("lot", d.lot.clone());
            put("amount", d.amount.clone());
            put("facility_code", d.facility_code.clone());
            Value::Object(out)
        })
        .collect();
    let mut out = json!({
        "person_id": answer.person,
        "previous": answer.previous,
        "outcome": outcome_name(answer.outcome),
        "doses": doses,
    });
    if let Some(id) = &answer.query_id {
        out["query_id"] = json!(id);
    }
    if let Some(reason) = &answer.reason {
        out["reason"] = json!(reason);
    }
    out
}

/// The resident with this address number and their My Number.
pub(crate) fn person_and_number(address_number: &str) -> Result<(u64, String), Error> {
    let person = residents::find_by_address_number(address_number)
        .map_err(host)?
        .ok_or_else(|| Error::NotFound("no resident has that address number".into()))?;
    let number = my_number::get(person)
        .map_err(host)?
        .ok_or_else(|| Error::Conflict("the resident has no My Number registered".into()))?;
    Ok((person, number))
}

fn query(input: &str) -> Result<String, Error> {
    let map = object(input, &["address_number", "previous", "basis", "take_up"])?;
    let address = text(
        &map,
        "address_number",
        "the moved-in person's address number",
    )?;
    let previous = text(&map, "previous", "the previous municipality's code")?;
    let basis = basis_of(&map)?;
    let take_up = map.get("take_up").and_then(Value::as_bool).unwrap_or(false);
    let (_, number) = person_and_number(address)?;
    let answer = fed::query(previous, &number, PURPOSE, &basis).map_err(host)?;
    let mut out = answer_json(&answer);
    if take_up && answer.outcome == Outcome::Found {
        let id = answer.query_id.as_deref().unwrap_or_default();
        out["dose_ids"] = json!(fed::take_up(id).map_err(host)?);
        out.as_object_mut().expect("an object").remove("query_id");
    }
    Ok(out.to_string())
}

fn collect(input: &str) -> Result<String, Error> {
    let map = object(input, &["query_id"])?;
    let id = text(&map, "query_id", "the id a pending answer gave")?;
    Ok(answer_json(&fed::collect(id).map_err(host)?).to_string())
}

fn take_up(input: &str) -> Result<String, Error> {
    let map = object(input, &["query_id"])?;
    let id = text(&map, "query_id", "the id a found answer gave")?;
    let ids = fed::take_up(id).map_err(host)?;
    Ok(json!({ "query_id": id, "dose_ids": ids, "stored": ids.len() }).to_string())
}

impl Guest for MoveInQuery {
    fn describe() -> Vec<Operation> {
        let op = |name: &str, summary: &str, writes| Operation {
            name: name.into(),
            summary: summary.into(),
            writes,
        };
        vec![
            op(
                "query",
                "Asks the previous municipality for a moved-in resident's dose records.",
                true,
            ),
            op(
                "collect",
                "Asks again about an answer waiting for approval.",
                true,
            ),
            op(
                "take-up",
                "Stores a found answer's doses as the person's, marked with their source.",
                true,
            ),
            op(
                "batch",
                "A CSV of address numbers and previous municipalities as one job, with a per-row report.",
                true,
            ),
        ]
    }

    fn handle(operation: String, input: String) -> Result<String, Error> {
        match operation.as_str() {
            "query" => query(&input),
            "collect" => collect(&input),
            "take-up" => take_up(&input),
            "batch" => batch::run(&input),
            other => Err(Error::UnknownOperation(other.into())),
        }
    }
}
