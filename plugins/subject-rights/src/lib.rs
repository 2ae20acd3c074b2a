//! subject-rights: the data subject's requests at the counter. The host
//! assembles the disclosure (everything held about the person and every
//! access to it, My Number masked) and records the enquiry; this plugin
//! returns it as JSON or prints it as a Japanese letter, and passes
//! corrections and suspensions to the host, which keeps the previous value
//! in the person's sealed history and audits each.

#[allow(unsafe_code)] // generated ABI glue
mod bindings {
    wit_bindgen::generate!({
        path: ["../../wit/records", "../../wit/subjects", "../../wit/plugin", "wit"],
        world: "kiroku-plugins:subject-rights/subject-rights",
        generate_all,
    });
    use super::Rights;
    export!(Rights);
}

mod letter;

use base64::Engine as _;
use bindings::exports::kiroku::plugin::handler::{Error, Guest, Operation};
use bindings::kiroku::records::types::Error as HostError;
use bindings::kiroku::subjects::subject_rights as rights;
use serde_json::{Map, Value, json};

struct Rights;

fn host(e: HostError) -> Error {
    match e {
        HostError::AccessDenied(m) => Error::AccessDenied(m),
        HostError::NotFound(m) => Error::NotFound(m),
        HostError::Invalid(m) => Error::Invalid(m),
        HostError::Conflict(m) => Error::Conflict(m),
    }
}

fn input(text: &str, keys: &[&str]) -> Result<(u64, Vec<String>), Error> {
    let shape = || {
        let rest: Vec<String> = keys.iter().map(|k| format!("\"{k}\": \"...\"")).collect();
        Error::Invalid(format!(
            "the input is {{\"person_id\": N, {}}}",
            rest.join(", ")
        ))
    };
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(text) else {
        return Err(shape());
    };
    let map: Map<String, Value> = map;
    let person = map
        .get("person_id")
        .and_then(Value::as_u64)
        .ok_or_else(shape)?;
    let mut values = Vec::new();
    for k in keys {
        values.push(
            map.get(*k)
                .and_then(Value::as_str)
                .ok_or_else(shape)?
                .to_owned(),
        );
    }
    Ok((person, values))
}

fn disclose(text: &str) -> Result<Value, Error> {
    let (person, v) = input(text, &["enquirer"])?;
    let document = rights::disclose(person, &v[0]).map_err(host)?;
    serde_json::from_str(&document)
        .map_err(|_| Error::Internal("the host's disclosure is not JSON".into()))
}

impl Guest for Rights {
    fn describe() -> Vec<Operation> {
        let op = |name: &str, summary: &str, writes| Operation {
            name: name.into(),
            summary: summary.into(),
            writes,
        };
        vec![
            op(
                "disclose",
                "Everything held about a person and every access to it, as JSON (the enquiry is recorded).",
                true,
            ),
            op("disclose-pdf", "The same as a Japanese letter (PDF).", true),
            op(
                "correct",
                "Corrects a resident field with a reason; the previous value is kept.",
                true,
            ),
            op("suspend", "Suspends the use of a person's data.", true),
            op("lift-suspension", "Lifts a suspension of use.", true),
        ]
    }

    fn handle(operation: String, text: String) -> Result<String, Error> {
        match operation.as_str() {
            "disclose" => Ok(disclose(&text)?.to_string()),
            "disclose-pdf" => {
                let document = disclose(&text)?;
                let pdf = letter::render(&document).map_err(Error::Internal)?;
                let encoded = base64::engine::general_purpose::STANDARD.encode(pdf);
                Ok(json!({"person_id": document["person_id"], "pdf_base64": encoded}).to_string())
            }
            "correct" => {
                let (person, v) = input(&text, &["field", "value", "reason"])?;
                rights::correct(person, &v[0], &v[1], &v[2]).map_err(host)?;
                Ok(json!({"person_id": person, "corrected": v[0]}).to_string())
            }
            "suspend" | "lift-suspension" => {
                let (person, v) = input(&text, &["reason"])?;
                if operation == "suspend" {
                    rights::suspend(person, &v[0]).map_err(host)?;
                } else {
                    rights::lift_suspension(person, &v[0]).map_err(host)?;
                }
                Ok(json!({"person_id": person, "suspended": operation == "suspend"}).to_string())
            }
            other => Err(Error::UnknownOperation(other.into())),
        }
    }
}
