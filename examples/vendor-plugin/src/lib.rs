//! An example of a vendor's plugin: it prints a person's vaccination
//! history as a text card. Build it with `cargo xtask plugins` (it lands in
//! `target/wasm32-wasip2/release/dose_card.wasm`), check it with
//! `kiroku policy check examples/vendor-plugin/policy.toml <wasm>`, and
//! install it with `kiroku plugin install`.

#[allow(unsafe_code)] // generated ABI glue
mod bindings {
    wit_bindgen::generate!({
        path: ["../../wit/records", "../../wit/plugin", "wit"],
        world: "example-vendor:dose-card/dose-card",
        generate_all,
    });
    use super::DoseCard;
    export!(DoseCard);
}

use bindings::exports::kiroku::plugin::handler::{Error, Guest, Operation};
use bindings::kiroku::records::doses::{self, DoseField};
use bindings::kiroku::records::residents::{self, ResidentField};
use bindings::kiroku::records::types::Error as HostError;

struct DoseCard;

fn host(e: HostError) -> Error {
    match e {
        HostError::AccessDenied(m) => Error::AccessDenied(m),
        HostError::NotFound(m) => Error::NotFound(m),
        HostError::Invalid(m) => Error::Invalid(m),
        HostError::Conflict(m) => Error::Conflict(m),
    }
}

fn card(input: &str) -> Result<String, Error> {
    let input: serde_json::Value =
        serde_json::from_str(input).map_err(|_| Error::Invalid("the input is not JSON".into()))?;
    let person = input["person_id"]
        .as_u64()
        .ok_or_else(|| Error::Invalid("person_id (a number) is required".into()))?;
    let who = residents::get(
        person,
        &[
            ResidentField::KanjiName,
            ResidentField::KanaName,
            ResidentField::BirthDate,
        ],
    )
    .map_err(host)?;
    let fields = [
        DoseField::DoseNumber,
        DoseField::Date,
        DoseField::Maker,
        DoseField::Product,
        DoseField::Lot,
        DoseField::VerifiedBy,
    ];
    let history = doses::for_person(person, &fields).map_err(host)?;
    let mut lines = vec![
        "新型コロナワクチン接種記録 / COVID-19 vaccination record".to_owned(),
        format!(
            "{} ({})",
            who.kanji_name.unwrap_or_default(),
            who.kana_name.unwrap_or_default()
        ),
        format!("生年月日 / born {}", who.birth_date.unwrap_or_default()),
    ];
    for d in &history {
        lines.push(format!(
            "{}回目  {}  {} {}  lot {}{}",
            d.dose_number.unwrap_or_default(),
            d.date.as_deref().unwrap_or(""),
            d.maker.as_deref().unwrap_or(""),
            d.product.as_deref().unwrap_or(""),
            d.lot.as_deref().unwrap_or(""),
            if d.verified_by.is_some() {
                ""
            } else {
                "  (未確認 / not yet verified)"
            },
        ));
    }
    if history.is_empty() {
        lines.push("接種記録なし / no doses recorded".into());
    }
    Ok(serde_json::json!({ "card": lines }).to_string())
}

impl Guest for DoseCard {
    fn describe() -> Vec<Operation> {
        vec![Operation {
            name: "card".into(),
            summary: "Prints a person's vaccination history card.".into(),
            writes: false,
        }]
    }

    fn handle(operation: String, input: String) -> Result<String, Error> {
        match operation.as_str() {
            "card" => card(&input),
            other => Err(Error::UnknownOperation(format!(
                "dose-card has no operation {other}"
            ))),
        }
    }
}
