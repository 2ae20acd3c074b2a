//! The FHIR R4 content of a health card: a `collection` Bundle of one
//! Patient (name, birth date) and an Immunization per dose, in the
//! minimal form the SHC specification asks for (no `id`, `meta`, `text`
//! or `Coding.display`; `fullUrl` and references are `resource:N`).

use serde_json::{Value, json};

use crate::{CardError, err};

/// The CVX code system.
pub const CVX: &str = "http://hl7.org/fhir/sid/cvx";

/// The person on a card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patient {
    /// Family name.
    pub family: String,
    /// Given names.
    pub given: Vec<String>,
    /// `yyyy-mm-dd`.
    pub birth_date: String,
}

/// One dose on a card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Immunization {
    /// `yyyy-mm-dd`.
    pub date: String,
    /// The vaccine's code.
    pub code: String,
    /// The code's system (CVX for the cards Kiroku issues).
    pub system: String,
    /// Lot number.
    pub lot: Option<String>,
    /// Who vaccinated (the facility), as display text.
    pub performer: Option<String>,
}

/// The Bundle for `patient` and `doses`.
pub fn bundle(patient: &Patient, doses: &[Immunization]) -> Value {
    let mut entries = vec![json!({
        "fullUrl": "resource:0",
        "resource": {
            "resourceType": "Patient",
            "name": [{"family": patient.family, "given": patient.given}],
            "birthDate": patient.birth_date,
        }
    })];
    for (i, d) in doses.iter().enumerate() {
        let mut resource = json!({
            "resourceType": "Immunization",
            "status": "completed",
            "vaccineCode": {"coding": [{"system": d.system, "code": d.code}]},
            "patient": {"reference": "resource:0"},
            "occurrenceDateTime": d.date,
        });
        if let Some(p) = &d.performer {
            resource["performer"] = json!([{"actor": {"display": p}}]);
        }
        if let Some(lot) = &d.lot {
            resource["lotNumber"] = json!(lot);
        }
        entries.push(json!({"fullUrl": format!("resource:{}", i + 1), "resource": resource}));
    }
    json!({"resourceType": "Bundle", "type": "collection", "entry": entries})
}

fn text<'v>(v: &'v Value, key: &str, what: &str) -> Result<&'v str, CardError> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| CardError(format!("{what} has no {key}")))
}

/// The patient and doses of a Bundle, checking its structure (a card may
/// hold other resources, e.g. laboratory results, and no Patient).
pub fn read_bundle(bundle: &Value) -> Result<(Option<Patient>, Vec<Immunization>), CardError> {
    if bundle.get("resourceType").and_then(Value::as_str) != Some("Bundle")
        || bundle.get("type").and_then(Value::as_str) != Some("collection")
    {
        return err("fhirBundle is not a Bundle of type collection");
    }
    let entries = bundle
        .get("entry")
        .and_then(Value::as_array)
        .ok_or_else(|| CardError("the Bundle has no entry list".into()))?;
    let mut patient = None;
    let mut doses = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let what = format!("entry {i}");
        if text(entry, "fullUrl", &what)? != format!("resource:{i}") {
            return err(format!("{what}'s fullUrl is not resource:{i}"));
        }
        let r = entry
            .get("resource")
            .ok_or_else(|| CardError(format!("{what} has no resource")))?;
        for banned in ["id", "meta", "text"] {
            if r.get(banned).is_some() {
                return err(format!(
                    "{what} carries {banned}, which a health card leaves out"
                ));
            }
        }
        match text(r, "resourceType", &what)? {
            "Patient" => {
                if patient.is_some() {
                    return err("the Bundle has more than one Patient");
                }
                let name = r
                    .get("name")
                    .and_then(|n| n.get(0))
                    .ok_or_else(|| CardError("the Patient has no name".into()))?;
                let given = name
                    .get("given")
                    .and_then(Value::as_array)
                    .map(|g| {
                        g.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect()
                    })
                    .unwrap_or_default();
                patient = Some(Patient {
                    family: name
                        .get("family")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                    given,
                    birth_date: text(r, "birthDate", "the Patient")?.to_owned(),
                });
            }
            "Immunization" => doses.push(read_immunization(r, &what)?),
            _ => {}
        }
    }
    if entries.is_empty() {
        return err("the Bundle's entry list is empty");
    }
    Ok((patient, doses))
}

fn read_immunization(r: &Value, what: &str) -> Result<Immunization, CardError> {
    if text(r, "status", what)? != "completed" {
        return err(format!("{what}'s status is not completed"));
    }
    let coding = r
        .get("vaccineCode")
        .and_then(|c| c.get("coding"))
        .and_then(|c| c.get(0))
        .ok_or_else(|| CardError(format!("{what} has no vaccineCode coding")))?;
    if coding.get("display").is_some() {
        return err(format!(
            "{what} carries Coding.display, which a health card leaves out"
        ));
    }
    if r.get("patient")
        .and_then(|p| p.get("reference"))
        .and_then(Value::as_str)
        != Some("resource:0")
    {
        return err(format!("{what}'s patient is not resource:0"));
    }
    let date = text(r, "occurrenceDateTime", what)?;
    Ok(Immunization {
        date: date.get(..10).unwrap_or(date).to_owned(),
        code: text(coding, "code", what)?.to_owned(),
        system: text(coding, "system", what)?.to_owned(),
        lot: r
            .get("lotNumber")
            .and_then(Value::as_str)
            .map(str::to_owned),
        performer: r
            .get("performer")
            .and_then(|p| p.get(0))
            .and_then(|p| p.get("actor"))
            .and_then(|a| a.get("display"))
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

/// The JSON a verifier answers for a patient.
pub fn patient_json(p: &Patient) -> Value {
    let mut name = p.given.join(" ");
    if !p.family.is_empty() {
        name = if name.is_empty() {
            p.family.clone()
        } else {
            format!("{} {name}", p.family)
        };
    }
    json!({"name": name, "family": p.family, "given": p.given, "birth_date": p.birth_date})
}

/// The JSON a verifier answers for a dose.
pub fn dose_json(d: &Immunization) -> Value {
    json!({
        "date": d.date, "vaccine_code": d.code, "system": d.system,
        "lot": d.lot, "performer": d.performer,
    })
}
