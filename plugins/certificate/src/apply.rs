//! A card application from the app or kiosk: the host has verified the My
//! Number card's signature over the data. The applicant must be this
//! tenant's resident, found by My Number, and the card's 4 basic facts
//! must match the resident record (names compared after the host's
//! normalisation of width, kana and spacing). Nothing is stored but what
//! the host keeps for revocation; errors name fields, never values.

use kiroku_rules::normalize;
use serde_json::Value;

use crate::bindings::exports::kiroku::plugin::handler::Error;
use crate::bindings::kiroku::certificates::certificates as certs;
use crate::bindings::kiroku::records::my_number;
use crate::bindings::kiroku::records::residents::{self, ResidentField};
use crate::{host, invalid, issue_for, object};

fn same(a: &str, b: &str) -> bool {
    normalize::name_key(a) == normalize::name_key(b)
}

pub fn apply(input: &str) -> Result<String, Error> {
    let map = object(input, &["pdf"])?;
    let pdf = map.get("pdf").and_then(Value::as_bool).unwrap_or(true);
    let Some(app) = certs::application() else {
        return Err(invalid(
            "apply serves card applications verified by the host (POST /v1/{tenant}/certificate-applications) only",
        ));
    };
    let person = my_number::find(&app.my_number)
        .map_err(host)?
        .ok_or_else(|| {
            Error::NotFound(
                "the card's My Number is not held by a resident of this municipality".into(),
            )
        })?;
    let fields = [
        ResidentField::KanaName,
        ResidentField::KanjiName,
        ResidentField::BirthDate,
        ResidentField::Sex,
        ResidentField::Address,
        ResidentField::Status,
    ];
    let r = residents::get(person, &fields).map_err(host)?;
    let checks = [
        (
            "kana_name",
            same(&app.kana_name, r.kana_name.as_deref().unwrap_or("")),
        ),
        (
            "kanji_name",
            same(&app.kanji_name, r.kanji_name.as_deref().unwrap_or("")),
        ),
        (
            "birth_date",
            app.birth_date == r.birth_date.clone().unwrap_or_default(),
        ),
        ("sex", app.sex == r.sex.clone().unwrap_or_default()),
        (
            "address",
            normalize::clean(&app.address) == normalize::clean(r.address.as_deref().unwrap_or("")),
        ),
    ];
    let mismatched: Vec<&str> = checks
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(f, _)| *f)
        .collect();
    if !mismatched.is_empty() {
        return Err(Error::Conflict(format!(
            "the card's data does not match the resident record: {} (the resident should update the card or the record at the office)",
            mismatched.join(", ")
        )));
    }
    let mut out = issue_for(person, app.kind, pdf)?;
    out["channel"] = Value::String(app.channel);
    Ok(out.to_string())
}
