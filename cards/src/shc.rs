//! The health card payload: `iss`, `nbf` and the verifiable credential
//! (`vc.type`, `vc.credentialSubject` with FHIR 4.0.1, `vc.rid`).

use serde_json::{Value, json};

use crate::fhir::{Immunization, Patient, read_bundle};
use crate::{CardError, err};

/// The credential type every health card carries.
pub const HEALTH_CARD: &str = "https://smarthealth.cards#health-card";
/// The FHIR version of the credential subject.
pub const FHIR_VERSION: &str = "4.0.1";

/// The minified payload JSON of a card issued by `iss` at `nbf` (seconds).
pub fn payload(iss: &str, nbf: i64, bundle: &Value, rid: &str) -> String {
    json!({
        "iss": iss,
        "nbf": nbf,
        "vc": {
            "type": [HEALTH_CARD],
            "credentialSubject": {"fhirVersion": FHIR_VERSION, "fhirBundle": bundle},
            "rid": rid,
        }
    })
    .to_string()
}

/// What a card says.
#[derive(Debug, Clone)]
pub struct Card {
    /// The issuer's URL.
    pub iss: String,
    /// Not before, seconds since the epoch (fractions allowed).
    pub nbf: f64,
    /// The revocation id, if the issuer gave one.
    pub rid: Option<String>,
    /// The person, when the card names one.
    pub patient: Option<Patient>,
    /// The doses.
    pub doses: Vec<Immunization>,
}

/// Reads an inflated payload, checking the structure the specification
/// requires.
pub fn read(payload: &[u8]) -> Result<Card, CardError> {
    let v: Value =
        serde_json::from_slice(payload).map_err(|_| CardError("the payload is not JSON".into()))?;
    let iss = v
        .get("iss")
        .and_then(Value::as_str)
        .ok_or_else(|| CardError("the payload has no iss".into()))?;
    let nbf = v
        .get("nbf")
        .and_then(Value::as_f64)
        .ok_or_else(|| CardError("the payload has no numeric nbf".into()))?;
    let vc = v
        .get("vc")
        .ok_or_else(|| CardError("the payload has no vc".into()))?;
    let is_card = vc
        .get("type")
        .and_then(Value::as_array)
        .is_some_and(|t| t.iter().any(|t| t.as_str() == Some(HEALTH_CARD)));
    if !is_card {
        return err(format!("vc.type does not include {HEALTH_CARD}"));
    }
    let subject = vc
        .get("credentialSubject")
        .ok_or_else(|| CardError("vc has no credentialSubject".into()))?;
    if subject.get("fhirVersion").and_then(Value::as_str) != Some(FHIR_VERSION) {
        return err(format!(
            "credentialSubject.fhirVersion is not {FHIR_VERSION}"
        ));
    }
    let bundle = subject
        .get("fhirBundle")
        .ok_or_else(|| CardError("credentialSubject has no fhirBundle".into()))?;
    let (patient, doses) = read_bundle(bundle)?;
    Ok(Card {
        iss: iss.to_owned(),
        nbf,
        rid: vc.get("rid").and_then(Value::as_str).map(str::to_owned),
        patient,
        doses,
    })
}

/// The JWS of each card in a `.smart-health-card` file
/// (`{"verifiableCredential": [jws, ...]}`).
pub fn file_credentials(file: &Value) -> Result<Vec<String>, CardError> {
    let list = file
        .get("verifiableCredential")
        .and_then(Value::as_array)
        .ok_or_else(|| CardError("a health card file has a verifiableCredential list".into()))?;
    if list.is_empty() {
        return err("the verifiableCredential list is empty");
    }
    list.iter()
        .map(|j| {
            j.as_str()
                .map(str::to_owned)
                .ok_or_else(|| CardError("verifiableCredential holds JWS strings".into()))
        })
        .collect()
}
