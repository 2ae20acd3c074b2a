//! target-extraction: finds a campaign's target persons, issues each a
//! campaign ticket with its 18-digit OCR line, and prints the mailing
//! batch. Criteria are data (see `campaign`); `preview` is the dry run.
//!
//! It walks the population with `cohort.scan` reading only birth date,
//! status, dose numbers and dates, and tickets; names and addresses are
//! read only in `print-batch`, only for the persons printed.

#[allow(unsafe_code)] // generated ABI glue
mod bindings {
    wit_bindgen::generate!({
        path: ["../../wit/records", "../../wit/health", "../../wit/plugin", "wit"],
        world: "kiroku-plugins:target-extraction/target-extraction",
        generate_all,
    });
    use super::TargetExtraction;
    export!(TargetExtraction);
}

mod campaign;
mod notice;
mod print;

use bindings::exports::kiroku::plugin::handler::{Error, Guest, Operation};
use bindings::kiroku::health::campaign_tickets::{self, CampaignTicket, CampaignTicketField};
use bindings::kiroku::health::{cohort, jobs};
use bindings::kiroku::records::context;
use bindings::kiroku::records::doses::DoseField;
use bindings::kiroku::records::residents::ResidentField;
use bindings::kiroku::records::types::Error as HostError;
use campaign::{Criteria, Facts};
use kiroku_rules::Date;
use serde_json::{Value, json};

/// Persons per `cohort.scan` call (the policy's row limit allows it).
const SCAN_BATCH: u32 = 1_000;
/// Most sample persons a preview or an extraction shows.
const MAX_SAMPLE: usize = 100;

struct TargetExtraction;

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

/// The input of `preview` and `extract`.
struct Request {
    criteria: Criteria,
    sample: usize,
    issued_on: String,
}

fn parse_request(text: &str) -> Result<Request, Error> {
    let value: Value = serde_json::from_str(text).map_err(|_| invalid("the input is not JSON"))?;
    let Value::Object(map) = value else {
        return Err(invalid("the input must be a JSON object"));
    };
    if let Some(key) = map
        .keys()
        .find(|k| !["campaign", "sample", "issued_on"].contains(&k.as_str()))
    {
        return Err(invalid(format!(
            "unknown field {key:?} (fields: campaign, sample, issued_on)"
        )));
    }
    let criteria = Criteria::from_json(
        map.get("campaign")
            .ok_or_else(|| invalid("campaign is required (a JSON object or TOML text)"))?,
    )?;
    let sample = match map.get("sample") {
        None | Some(Value::Null) => 10,
        Some(v) => v
            .as_u64()
            .filter(|&n| n as usize <= MAX_SAMPLE)
            .ok_or_else(|| invalid(format!("sample must be 0-{MAX_SAMPLE}")))?
            as usize,
    };
    let today = context::today();
    let issued_on = match map.get("issued_on") {
        None | Some(Value::Null) => today.clone(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(invalid("issued_on must be a date (yyyy-mm-dd)")),
    };
    match Date::parse(&issued_on) {
        Ok(d) if d.to_string() <= today => {}
        _ => {
            return Err(invalid(
                "issued_on must be a date (yyyy-mm-dd) not in the future",
            ));
        }
    }
    Ok(Request {
        criteria,
        sample,
        issued_on,
    })
}

/// A person the campaign targets.
struct Target {
    id: u64,
    age: i32,
    doses: usize,
    last_dose: Option<Date>,
    tickets_held: u64,
}

fn sample_json(t: &Target) -> Value {
    json!({
        "person_id": t.id,
        "age": t.age,
        "doses_received": t.doses,
        "last_dose": t.last_dose.map(|d| d.to_string()),
    })
}

/// Walks the population and calls `found` for each target, reporting
/// progress; stops with an error when staff cancel the job.
fn walk(
    criteria: &Criteria,
    mut found: impl FnMut(Target) -> Result<(), Error>,
) -> Result<u64, Error> {
    let total = cohort::count().map_err(host)?;
    let dose_fields: &[DoseField] = if criteria.needs_doses() {
        &[DoseField::Date, DoseField::Vaccine]
    } else {
        &[]
    };
    let vaccine = criteria.campaign.vaccine.as_deref();
    let (mut after, mut done, mut targets) = (0u64, 0u64, 0u64);
    loop {
        let batch = cohort::scan(
            after,
            SCAN_BATCH,
            &[ResidentField::BirthDate, ResidentField::Status],
            dose_fields,
            &[
                CampaignTicketField::Campaign,
                CampaignTicketField::DoseNumber,
                CampaignTicketField::Status,
            ],
        )
        .map_err(host)?;
        let Some(last) = batch.last() else { break };
        after = last.id;
        for m in &batch {
            let mut dose_dates: Vec<Date> = m
                .doses
                .iter()
                .filter(|d| vaccine.is_none() || d.vaccine.as_deref() == vaccine)
                .filter_map(|d| d.date.as_deref().and_then(|s| Date::parse(s).ok()))
                .collect();
            dose_dates.sort_unstable();
            let facts = Facts {
                birth_date: m
                    .resident
                    .birth_date
                    .as_deref()
                    .and_then(|b| Date::parse(b).ok()),
                status: m.resident.status.as_deref(),
                valid_tickets: m
                    .tickets
                    .iter()
                    .filter(|t| t.status.as_deref() == Some("valid"))
                    .filter_map(|t| Some((t.campaign.as_deref()?, t.dose_number?)))
                    .collect(),
                dose_dates,
            };
            if criteria.targets(&facts) {
                targets += 1;
                found(Target {
                    id: m.id,
                    age: facts.birth_date.map_or(0, |b| criteria.age(b)),
                    doses: facts.dose_dates.len(),
                    last_dose: facts.dose_dates.last().copied(),
                    tickets_held: m.tickets.len() as u64,
                })?;
            }
        }
        done += batch.len() as u64;
        if jobs::progress(done, total.max(done)) {
            return Err(Error::Conflict(
                "cancelled by staff: no ticket was issued".into(),
            ));
        }
    }
    Ok(targets)
}

fn preview(input: &str) -> Result<String, Error> {
    let req = parse_request(input)?;
    let mut sample = Vec::new();
    let count = walk(&req.criteria, |t| {
        if sample.len() < req.sample {
            sample.push(sample_json(&t));
        }
        Ok(())
    })?;
    Ok(json!({
        "dry_run": true,
        "campaign": req.criteria.campaign.id,
        "dose_number": req.criteria.campaign.dose_number,
        "targets": count,
        "sample": sample,
    })
    .to_string())
}

fn extract(input: &str) -> Result<String, Error> {
    let req = parse_request(input)?;
    let c = &req.criteria.campaign;
    let mut sample = Vec::new();
    let count = walk(&req.criteria, |t| {
        let number = kiroku_rules::ticket::for_person(t.id, t.tickets_held).ok_or_else(|| {
            Error::Conflict(format!(
                "person {} holds too many tickets to number another",
                t.id
            ))
        })?;
        campaign_tickets::issue(
            t.id,
            &CampaignTicket {
                number: Some(number.clone()),
                issued_on: Some(req.issued_on.clone()),
                campaign: Some(c.id.clone()),
                ticket_type: Some(c.ticket_type),
                dose_number: Some(c.dose_number),
                status: None,
                void_reason: None,
                voided_on: None,
            },
        )
        .map_err(host)?;
        if sample.len() < req.sample {
            let mut s = sample_json(&t);
            s["ticket_number"] = json!(number);
            sample.push(s);
        }
        Ok(())
    })?;
    Ok(json!({
        "dry_run": false,
        "campaign": c.id,
        "dose_number": c.dose_number,
        "issued": count,
        "issued_on": req.issued_on,
        "sample": sample,
    })
    .to_string())
}

impl Guest for TargetExtraction {
    fn describe() -> Vec<Operation> {
        vec![
            Operation {
                name: "preview".into(),
                summary: "Dry run: counts a campaign's targets and shows a sample; issues nothing."
                    .into(),
                writes: false,
            },
            Operation {
                name: "extract".into(),
                summary: "Issues a campaign ticket to every target not yet ticketed for it.".into(),
                writes: true,
            },
            Operation {
                name: "print-batch".into(),
                summary: "The mailing vendor's CSV of a campaign's valid tickets, page by page."
                    .into(),
                writes: false,
            },
            Operation {
                name: "print-notices".into(),
                summary:
                    "PDF notices (a page per person, with the ticket's QR code), batch by batch."
                        .into(),
                writes: false,
            },
        ]
    }

    fn handle(operation: String, input: String) -> Result<String, Error> {
        match operation.as_str() {
            "preview" => preview(&input),
            "extract" => extract(&input),
            "print-batch" => print::print_batch(&input),
            "print-notices" => print::print_notices(&input),
            other => Err(Error::UnknownOperation(format!(
                "target-extraction has no operation {other}"
            ))),
        }
    }
}
