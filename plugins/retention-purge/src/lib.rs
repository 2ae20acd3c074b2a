//! retention-purge: the dry run (`preview`), the purge as a resumable job
//! (`purge`: batches until none is left; each batch is final once the host
//! returns, so a purge stopped midway goes on where it stopped when run
//! again), and legal holds (`set-hold`, `lift-hold`). The host decides who
//! is past retention from the tenant's rules; this plugin never sees a
//! person's values.

#[allow(unsafe_code)] // generated ABI glue
mod bindings {
    wit_bindgen::generate!({
        path: ["../../wit/records", "../../wit/health", "../../wit/subjects", "../../wit/plugin", "wit"],
        world: "kiroku-plugins:retention-purge/retention-purge",
        generate_all,
    });
    use super::Purge;
    export!(Purge);
}

use bindings::exports::kiroku::plugin::handler::{Error, Guest, Operation};
use bindings::kiroku::health::jobs;
use bindings::kiroku::records::types::Error as HostError;
use bindings::kiroku::subjects::retention;
use serde_json::{Map, Value, json};

struct Purge;

/// Persons per batch unless the input names another size.
const DEFAULT_BATCH: u32 = 2_000;

fn host(e: HostError) -> Error {
    match e {
        HostError::AccessDenied(m) => Error::AccessDenied(m),
        HostError::NotFound(m) => Error::NotFound(m),
        HostError::Invalid(m) => Error::Invalid(m),
        HostError::Conflict(m) => Error::Conflict(m),
    }
}

fn object(input: &str, shape: &str) -> Result<Map<String, Value>, Error> {
    match serde_json::from_str::<Value>(input) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(Error::Invalid(format!("the input is {shape}"))),
    }
}

fn preview() -> Result<String, Error> {
    let p = retention::preview().map_err(host)?;
    let rules: Vec<Value> = p
        .rules
        .iter()
        .map(|r| json!({"rule": r.rule, "persons": r.persons, "doses": r.doses, "tickets": r.tickets}))
        .collect();
    Ok(json!({
        "persons": p.persons, "doses": p.doses, "tickets": p.tickets,
        "held": p.held, "rules": rules,
    })
    .to_string())
}

fn purge(input: &str) -> Result<String, Error> {
    let map = object(
        if input.trim().is_empty() { "{}" } else { input },
        "{\"batch\": N (1-5000)}",
    )?;
    let batch = match map.get("batch") {
        None => DEFAULT_BATCH,
        Some(v) => v
            .as_u64()
            .filter(|n| (1..=5_000).contains(n))
            .ok_or_else(|| Error::Invalid("batch is 1 to 5000".into()))? as u32,
    };
    let total = retention::preview().map_err(host)?.persons;
    let mut purged = 0u64;
    loop {
        let step = retention::purge_next(batch).map_err(host)?;
        purged += step.purged;
        let cancelled = jobs::progress(purged, total.max(purged + step.remaining));
        if step.remaining == 0 || step.purged == 0 {
            return Ok(json!({"purged": purged, "remaining": step.remaining}).to_string());
        }
        if cancelled {
            return Err(Error::Conflict(format!(
                "cancelled by staff after {purged} persons (purged batches are final; run the purge again to go on)"
            )));
        }
    }
}

fn hold(input: &str, set: bool) -> Result<String, Error> {
    let shape = "{\"person_id\": N, \"reason\": \"...\"}";
    let map = object(input, shape)?;
    let person = map.get("person_id").and_then(Value::as_u64);
    let reason = map.get("reason").and_then(Value::as_str);
    let (Some(person), Some(reason)) = (person, reason) else {
        return Err(Error::Invalid(format!("the input is {shape}")));
    };
    if set {
        retention::set_hold(person, reason).map_err(host)?;
    } else {
        retention::lift_hold(person, reason).map_err(host)?;
    }
    Ok(json!({"person_id": person, "legal_hold": set}).to_string())
}

impl Guest for Purge {
    fn describe() -> Vec<Operation> {
        let op = |name: &str, summary: &str, writes| Operation {
            name: name.into(),
            summary: summary.into(),
            writes,
        };
        vec![
            op(
                "preview",
                "Counts the persons and records past retention, by rule; changes nothing.",
                false,
            ),
            op(
                "purge",
                "Purges every person past retention (run as a job; batches are final, a rerun resumes).",
                true,
            ),
            op(
                "set-hold",
                "Puts a person on legal hold: no purge touches them.",
                true,
            ),
            op("lift-hold", "Lifts a person's legal hold.", true),
        ]
    }

    fn handle(operation: String, input: String) -> Result<String, Error> {
        match operation.as_str() {
            "preview" => preview(),
            "purge" => purge(&input),
            "set-hold" => hold(&input, true),
            "lift-hold" => hold(&input, false),
            other => Err(Error::UnknownOperation(other.into())),
        }
    }
}
