//! dose-entry: the counter function of the health-centre subsystem. Staff
//! find the person (by ticket number, or by name and birth date), record
//! the dose from the form, and a second person verifies the entry against
//! the form (four-eyes check).
//!
//! It never sees a My Number: its world does not import that interface.

#[allow(unsafe_code)] // generated ABI glue
mod bindings {
    wit_bindgen::generate!({
        path: ["../../wit/records", "../../wit/plugin", "wit"],
        world: "kiroku-plugins:dose-entry/dose-entry",
        generate_all,
    });
    use super::DoseEntry;
    export!(DoseEntry);
}

mod input;
mod rules;

use bindings::exports::kiroku::plugin::handler::{Error, Guest, Operation};
use bindings::kiroku::records::doses::{self, Dose, DoseField};
use bindings::kiroku::records::residents::{self, ResidentField};
use bindings::kiroku::records::types::Error as HostError;
use bindings::kiroku::records::{context, tickets};
use input::Input;
use kiroku_rules::Date;
use serde_json::{Value, json};

struct DoseEntry;

fn host(e: HostError) -> Error {
    match e {
        HostError::AccessDenied(m) => Error::AccessDenied(m),
        HostError::NotFound(m) => Error::NotFound(m),
        HostError::Invalid(m) => Error::Invalid(m),
        HostError::Conflict(m) => Error::Conflict(m),
    }
}

fn invalid(message: impl Into<String>) -> Error {
    Error::Invalid(message.into())
}

/// The facts shown to confirm identity at the counter: the 4 basic facts
/// and status. Never the My Number.
const IDENTITY_FIELDS: &[ResidentField] = &[
    ResidentField::KanaName,
    ResidentField::KanjiName,
    ResidentField::BirthDate,
    ResidentField::Sex,
    ResidentField::Address,
    ResidentField::Status,
    ResidentField::StatusDate,
];

const ALL_DOSE_FIELDS: &[DoseField] = &[
    DoseField::DoseNumber,
    DoseField::Date,
    DoseField::Vaccine,
    DoseField::Maker,
    DoseField::Product,
    DoseField::Lot,
    DoseField::Amount,
    DoseField::FacilityCode,
    DoseField::Doctor,
    DoseField::OverrideReason,
    DoseField::EnteredBy,
    DoseField::EnteredAt,
    DoseField::VerifiedBy,
    DoseField::VerifiedAt,
];

fn parse_date(value: &str, field: &str) -> Result<Date, Error> {
    Date::parse(value)
        .map_err(|_| invalid(format!("{field} must be a real date written yyyy-mm-dd")))
}

fn today() -> Date {
    Date::parse(&context::today()).unwrap_or(Date {
        year: 1970,
        month: 1,
        day: 1,
    })
}

/// Resolves `person_id` or `ticket_number` to a person id.
fn person_of(input: &Input) -> Result<u64, Error> {
    match (input.opt_u64("person_id")?, input.opt_str("ticket_number")?) {
        (Some(id), None) => Ok(id),
        (None, Some(ticket)) => {
            kiroku_rules::ticket::validate(&ticket).map_err(|e| invalid(e.to_string()))?;
            tickets::find(&ticket)
                .map_err(host)?
                .ok_or_else(|| Error::NotFound("no person holds this ticket".into()))
        }
        _ => Err(invalid("give either person_id or ticket_number")),
    }
}

fn identity_json(id: u64, r: &residents::Resident, today: Date) -> Value {
    let age = r
        .birth_date
        .as_deref()
        .and_then(|b| Date::parse(b).ok())
        .map(|b| b.age_on(today));
    json!({
        "person_id": id,
        "kana_name": r.kana_name,
        "kanji_name": r.kanji_name,
        "birth_date": r.birth_date,
        "age": age,
        "sex": r.sex,
        "address": r.address,
        "status": r.status,
        "status_date": r.status_date,
    })
}

fn find_person(text: &str) -> Result<String, Error> {
    let input = Input::parse(text, &["ticket_number", "name", "birth_date"])?;
    let today = today();
    let ids = if input.has("ticket_number") {
        if input.has("name") || input.has("birth_date") {
            return Err(invalid(
                "search by ticket_number, or by name and birth_date, not both",
            ));
        }
        vec![person_of(&input)?]
    } else {
        let name = input.str("name")?;
        let birth = input.str("birth_date")?;
        parse_date(&birth, "birth_date")?;
        residents::find_by_name(&name, &birth).map_err(host)?
    };
    let persons: Vec<Value> = ids
        .iter()
        .map(|&id| {
            residents::get(id, IDENTITY_FIELDS)
                .map(|r| identity_json(id, &r, today))
                .map_err(host)
        })
        .collect::<Result<_, _>>()?;
    Ok(json!({ "persons": persons }).to_string())
}

fn dose_json(d: &Dose) -> Value {
    json!({
        "dose_id": d.id,
        "dose_number": d.dose_number,
        "date": d.date,
        "vaccine": d.vaccine,
        "maker": d.maker,
        "product": d.product,
        "lot": d.lot,
        "amount": d.amount,
        "facility_code": d.facility_code,
        "doctor": d.doctor,
        "override_reason": d.override_reason,
        "entered_by": d.entered_by,
        "entered_at": d.entered_at,
        "verified_by": d.verified_by,
        "verified_at": d.verified_at,
    })
}

const RECORD_FIELDS: &[&str] = &[
    "person_id",
    "ticket_number",
    "dose_number",
    "date",
    "vaccine",
    "maker",
    "product",
    "lot",
    "amount",
    "facility_code",
    "doctor",
    "override_reason",
];

fn record_dose(text: &str) -> Result<String, Error> {
    let input = Input::parse(text, RECORD_FIELDS)?;
    let person = person_of(&input)?;
    let dose_number = input.u64("dose_number")?;
    if !(1..=rules::MAX_DOSE_NUMBER).contains(&dose_number) {
        return Err(invalid(format!(
            "dose_number must be 1 to {}",
            rules::MAX_DOSE_NUMBER
        )));
    }
    let date = parse_date(&input.str("date")?, "date")?;
    let vaccine = input
        .opt_str("vaccine")?
        .unwrap_or_else(|| "covid-19".into())
        .to_ascii_lowercase();
    if !rules::VACCINES.contains(&vaccine.as_str()) {
        return Err(invalid(format!(
            "vaccine must be one of {}",
            rules::VACCINES.join(", ")
        )));
    }
    let maker = rules::maker(&input.str("maker")?)?;
    let product = rules::product(maker, &input.str("product")?)?;
    let lot = rules::lot(&input.str("lot")?)?;
    let amount = rules::amount(&input.str("amount")?)?;
    let facility_code = rules::facility_code(&input.str("facility_code")?)?;
    let doctor = rules::doctor(&input.str("doctor")?)?;
    let reason = input.opt_str("override_reason")?;
    if reason
        .as_deref()
        .is_some_and(|r| r.chars().count() < rules::MIN_REASON_CHARS)
    {
        return Err(invalid(format!(
            "override_reason must say why in at least {} characters",
            rules::MIN_REASON_CHARS
        )));
    }

    let today = today();
    if date > today {
        return Err(invalid("date is in the future"));
    }
    let resident =
        residents::get(person, &[ResidentField::BirthDate, ResidentField::Status]).map_err(host)?;
    let birth = resident
        .birth_date
        .as_deref()
        .and_then(|b| Date::parse(b).ok());
    if birth.is_some_and(|birth| date < birth) {
        return Err(invalid("date is before the person's birth date"));
    }
    // Rules an override reason may set aside, each named in the error.
    let mut needs_override = Vec::new();
    match resident.status.as_deref() {
        Some("moved-out") => needs_override.push("the person has moved out".to_owned()),
        Some("deceased") => needs_override.push("the person is recorded as deceased".to_owned()),
        _ => {}
    }
    // Dose numbers count per vaccine (a legacy dose without one is COVID-19).
    let earlier: Vec<_> = doses::for_person(
        person,
        &[DoseField::DoseNumber, DoseField::Date, DoseField::Vaccine],
    )
    .map_err(host)?
    .into_iter()
    .filter(|d| d.vaccine.as_deref().unwrap_or("covid-19") == vaccine)
    .collect();
    // A number recorded already is never recorded twice, override or not:
    // a retried form must not double a dose.
    if earlier
        .iter()
        .any(|d| d.dose_number.map(u64::from) == Some(dose_number))
    {
        return Err(Error::Conflict(format!(
            "the person already has dose {dose_number} of this vaccine"
        )));
    }
    let last_number = earlier
        .iter()
        .filter_map(|d| d.dose_number)
        .max()
        .unwrap_or(0);
    if dose_number != u64::from(last_number) + 1 {
        needs_override.push(format!(
            "dose_number should be {} (the next after dose {last_number})",
            last_number + 1
        ));
    }
    let last_date = earlier
        .iter()
        .filter_map(|d| d.date.as_deref().and_then(|d| Date::parse(d).ok()))
        .max();
    if last_date.is_some_and(|last| date < last) {
        needs_override.push("date is earlier than a dose already recorded".to_owned());
    }
    if !needs_override.is_empty() && reason.is_none() {
        return Err(invalid(format!(
            "{}; give override_reason to record it anyway",
            needs_override.join("; ")
        )));
    }

    let dose = Dose {
        id: 0,
        dose_number: Some(dose_number as u32),
        date: Some(date.to_string()),
        vaccine: Some(vaccine),
        maker: Some(maker.to_owned()),
        product: Some(product),
        lot: Some(lot),
        amount: Some(amount),
        facility_code: Some(facility_code),
        doctor: Some(doctor),
        override_reason: if needs_override.is_empty() {
            None
        } else {
            reason
        },
        entered_by: None,
        entered_at: None,
        verified_by: None,
        verified_at: None,
    };
    let id = doses::add(person, &dose).map_err(host)?;
    Ok(json!({
        "person_id": person,
        "dose_id": id,
        "dose_number": dose_number,
        "verified": false,
        "overridden": needs_override,
    })
    .to_string())
}

/// Fields of the form a verifier may re-enter to compare.
const EXPECT_FIELDS: &[&str] = &[
    "dose_number",
    "date",
    "vaccine",
    "maker",
    "product",
    "lot",
    "amount",
    "facility_code",
    "doctor",
];

fn normalised(field: &str, value: &str) -> String {
    let cleaned = match field {
        "maker" => rules::maker(value).map(str::to_owned).ok(),
        "lot" => rules::lot(value).ok(),
        "amount" => rules::amount(value).ok(),
        "product" | "vaccine" => Some(value.trim().to_lowercase()),
        _ => None,
    };
    cleaned.unwrap_or_else(|| value.trim().to_owned())
}

fn verify_dose(text: &str) -> Result<String, Error> {
    let input = Input::parse(text, &["person_id", "ticket_number", "dose_id", "expect"])?;
    let person = person_of(&input)?;
    let dose_id = input.u64("dose_id")?;
    let expect = input.opt_object("expect", EXPECT_FIELDS)?;
    let recorded = doses::for_person(person, ALL_DOSE_FIELDS).map_err(host)?;
    let dose = recorded
        .iter()
        .find(|d| d.id == dose_id)
        .ok_or_else(|| Error::NotFound(format!("no dose {dose_id} for this person")))?;
    if let Some(expect) = expect {
        let stored = dose_json(dose);
        let differs: Vec<&str> = EXPECT_FIELDS
            .iter()
            .filter(|f| expect.text(f).is_some())
            .filter(|f| {
                let form = normalised(f, &expect.text(f).unwrap_or_default());
                let entry = match &stored[**f] {
                    Value::String(s) => normalised(f, s),
                    Value::Number(n) => n.to_string(),
                    _ => String::new(),
                };
                form != entry
            })
            .copied()
            .collect();
        if !differs.is_empty() {
            return Err(Error::Conflict(format!(
                "the entry differs from the form in: {}; it was not verified",
                differs.join(", ")
            )));
        }
    }
    doses::verify(person, dose_id).map_err(host)?;
    Ok(json!({ "person_id": person, "dose_id": dose_id, "verified": true, "verified_by": context::actor() }).to_string())
}

fn list_doses(text: &str) -> Result<String, Error> {
    let input = Input::parse(text, &["person_id", "ticket_number"])?;
    let person = person_of(&input)?;
    let recorded = doses::for_person(person, ALL_DOSE_FIELDS).map_err(host)?;
    Ok(
        json!({ "person_id": person, "doses": recorded.iter().map(dose_json).collect::<Vec<_>>() })
            .to_string(),
    )
}

impl Guest for DoseEntry {
    fn describe() -> Vec<Operation> {
        let op = |name: &str, summary: &str, writes| Operation {
            name: name.into(),
            summary: summary.into(),
            writes,
        };
        vec![
            op(
                "find-person",
                "Finds a person by ticket number, or by name and birth date.",
                false,
            ),
            op(
                "record-dose",
                "Records a dose from the form, with validation.",
                true,
            ),
            op(
                "verify-dose",
                "A second staff member re-checks an entered dose against the form.",
                true,
            ),
            op("list-doses", "Lists a person's recorded doses.", false),
        ]
    }

    fn handle(operation: String, input: String) -> Result<String, Error> {
        match operation.as_str() {
            "find-person" => find_person(&input),
            "record-dose" => record_dose(&input),
            "verify-dose" => verify_dose(&input),
            "list-doses" => list_doses(&input),
            other => Err(Error::UnknownOperation(format!(
                "dose-entry has no operation {other}"
            ))),
        }
    }
}
