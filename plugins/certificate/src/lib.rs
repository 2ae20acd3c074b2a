//! certificate: vaccination certificates. At the counter a clerk issues a
//! SMART Health Card (domestic) or a card plus an ICAO VDS-NC (overseas)
//! for a person; the app and kiosk apply with the My Number card, whose
//! signature the host has verified before this plugin runs. The plugin
//! composes the content (FHIR Bundle, VDS-NC message), the host signs it
//! with the tenant's key, and the plugin renders the QR codes and the PDF.

#[allow(unsafe_code)] // generated ABI glue
mod bindings {
    wit_bindgen::generate!({
        path: ["../../wit/records", "../../wit/certificates", "../../wit/plugin", "wit"],
        world: "kiroku-plugins:certificate/certificate",
        generate_all,
    });
    use super::Certificate;
    export!(Certificate);
}

mod apply;
mod content;
mod render;

use bindings::exports::kiroku::plugin::handler::{Error, Guest, Operation};
use bindings::kiroku::certificates::certificates::{self as certs, Kind};
use bindings::kiroku::records::passport::{self, PassportData};
use bindings::kiroku::records::types::Error as HostError;
use serde_json::{Map, Value, json};

struct Certificate;

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

/// The input as an object with only `fields`.
pub(crate) fn object(input: &str, fields: &[&str]) -> Result<Map<String, Value>, Error> {
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
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| invalid(format!("{key} ({what}) is required")))
}

fn kind_of(map: &Map<String, Value>) -> Result<Kind, Error> {
    match map.get("kind").and_then(Value::as_str) {
        Some("domestic") => Ok(Kind::Domestic),
        Some("overseas") => Ok(Kind::Overseas),
        _ => Err(invalid("kind is \"domestic\" or \"overseas\"")),
    }
}

fn person_of(map: &Map<String, Value>) -> Result<u64, Error> {
    map.get("person_id")
        .and_then(Value::as_u64)
        .ok_or_else(|| invalid("person_id (the person's id) is required"))
}

fn issue(input: &str) -> Result<String, Error> {
    let map = object(input, &["person_id", "kind", "pdf"])?;
    let pdf = map.get("pdf").and_then(Value::as_bool).unwrap_or(true);
    let answer = issue_for(person_of(&map)?, kind_of(&map)?, pdf)?;
    Ok(answer.to_string())
}

/// Composes, has signed, and renders a certificate for `person`.
pub(crate) fn issue_for(person: u64, kind: Kind, pdf: bool) -> Result<Value, Error> {
    let card = content::compose(person, kind)?;
    let issued = certs::issue(
        person,
        kind,
        &card.bundle.to_string(),
        card.vds_message.as_ref().map(|m| m.to_string()).as_deref(),
    )
    .map_err(host)?;
    let shc_text = kiroku_cards::qr::shc_text(&issued.jws);
    let code = match kiroku_cards::qr::shc_code(&shc_text) {
        Ok(code) => code,
        Err(_) => return Err(content::too_big(&card, issued.jws.len())),
    };
    let mut out = json!({
        "certificate_id": issued.certificate_id,
        "kind": if kind == Kind::Overseas { "overseas" } else { "domestic" },
        "jws": issued.jws,
        "qr": [shc_text],
        "qr_version": kiroku_cards::qr::version(&code),
        "qr_png_base64": [render::png_base64(&code)],
        "qr_svg": [kiroku_cards::qr::svg(&code)],
        "health_card": {"verifiableCredential": [issued.jws]},
    });
    let mut vds_code = None;
    if let Some(doc) = &issued.vds {
        let doc: Value = serde_json::from_str(doc)
            .map_err(|_| invalid("the host's VDS-NC document is not JSON"))?;
        let vcode = render::vds_code(&doc)?;
        out["vds"] = doc;
        out["vds_qr_png_base64"] = json!(render::png_base64(&vcode));
        vds_code = Some(vcode);
    }
    if pdf {
        out["pdf_base64"] = json!(render::pdf_base64(&card, &out, &code, vds_code.as_ref())?);
    }
    Ok(out)
}

fn verify(input: &str) -> Result<String, Error> {
    let map = object(input, &["qr", "jws", "health_card", "vds"])?;
    if map.len() != 1 {
        return Err(invalid("give exactly one of qr, jws, health_card, vds"));
    }
    let (key, value) = map.iter().next().expect("one entry");
    let jws = match (key.as_str(), value) {
        ("vds", doc) => return certs::verify_vds(&doc.to_string()).map_err(host),
        ("jws", Value::String(s)) => s.clone(),
        ("qr", Value::String(s)) => {
            kiroku_cards::qr::jws_from_texts(&[s]).map_err(|e| invalid(e.0))?
        }
        ("qr", Value::Array(items)) => {
            let texts: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
            kiroku_cards::qr::jws_from_texts(&texts).map_err(|e| invalid(e.0))?
        }
        ("health_card", file) => {
            let mut list = kiroku_cards::shc::file_credentials(file).map_err(|e| invalid(e.0))?;
            if list.len() != 1 {
                return Err(invalid("verify one card at a time"));
            }
            list.remove(0)
        }
        _ => return Err(invalid(format!("{key} has the wrong type"))),
    };
    certs::verify_health_card(&jws).map_err(host)
}

/// Reason codes a certificate may be revoked for: a closed list, so free
/// text cannot carry personal details into the record.
const REVOKE_REASONS: &[&str] = &[
    "issued-in-error",
    "data-corrected",
    "superseded",
    "withdrawn",
    "other",
];

fn revoke(input: &str) -> Result<String, Error> {
    let map = object(input, &["certificate_id", "reason"])?;
    let id = text(&map, "certificate_id", "the issued certificate's id")?;
    let reason = text(&map, "reason", "why")?;
    if !REVOKE_REASONS.contains(&reason) {
        return Err(invalid(format!(
            "reason is one of: {}",
            REVOKE_REASONS.join(", ")
        )));
    }
    certs::revoke(id, reason).map_err(host)?;
    Ok(json!({"certificate_id": id, "revoked": true, "reason": reason}).to_string())
}

fn register_passport(input: &str) -> Result<String, Error> {
    let map = object(
        input,
        &[
            "person_id",
            "romanised_name",
            "passport_number",
            "nationality",
        ],
    )?;
    let person = person_of(&map)?;
    let name = text(&map, "romanised_name", "the name as in the passport")?
        .trim()
        .to_ascii_uppercase();
    let number = text(&map, "passport_number", "the passport's number")?
        .trim()
        .to_ascii_uppercase();
    let nationality = text(&map, "nationality", "ISO 3166-1 alpha-3")?
        .trim()
        .to_ascii_uppercase();
    if name.len() > 39 || !name.bytes().all(|b| b.is_ascii_uppercase() || b == b' ') {
        return Err(invalid(
            "romanised_name is Latin letters and spaces, at most 39, as in the passport's machine-readable zone",
        ));
    }
    if !(6..=9).contains(&number.len()) || !number.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(invalid("passport_number is 6 to 9 letters and digits"));
    }
    if nationality.len() != 3 || !nationality.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(invalid(
            "nationality is an ISO 3166-1 alpha-3 code such as JPN",
        ));
    }
    let data = PassportData {
        former_name: None,
        romanized_name: Some(name),
        nationality: Some(nationality),
        passport_number: Some(number),
    };
    passport::set(person, &data).map_err(host)?;
    Ok(json!({"person_id": person, "registered": ["romanised_name", "passport_number", "nationality"]}).to_string())
}

impl Guest for Certificate {
    fn describe() -> Vec<Operation> {
        let op = |name: &str, summary: &str, writes| Operation {
            name: name.into(),
            summary: summary.into(),
            writes,
        };
        vec![
            op(
                "issue",
                "Issues a certificate for a person: a SMART Health Card, plus an ICAO VDS-NC for overseas use, with QR codes and a PDF.",
                true,
            ),
            op(
                "verify",
                "Verifies a certificate (QR text, JWS, .smart-health-card or VDS-NC): signature, key, time, revocation and structure.",
                false,
            ),
            op(
                "revoke",
                "Revokes an issued certificate with a reason; it appears in the revocation list.",
                true,
            ),
            op(
                "register-passport",
                "Registers a person's passport data (romanised name, number, nationality) for overseas certificates.",
                true,
            ),
            op(
                "apply",
                "Issues a certificate for a card application from the app or kiosk (verified by the host); stores nothing of it.",
                true,
            ),
        ]
    }

    fn handle(operation: String, input: String) -> Result<String, Error> {
        match operation.as_str() {
            "issue" => issue(&input),
            "verify" => verify(&input),
            "revoke" => revoke(&input),
            "register-passport" => register_passport(&input),
            "apply" => apply::apply(&input),
            other => Err(Error::UnknownOperation(format!(
                "certificate has no operation {other}"
            ))),
        }
    }
}
