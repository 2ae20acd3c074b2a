//! target-extraction: finds a campaign's target persons, issues each a
//! campaign ticket with its 18-digit OCR line, and prints the mailing
//! batch. Criteria are data (see `campaign`); `preview` is the dry run.
//!
//! It reads the population's cohort facts (birth date, status, dose dates
//! and vaccines, tickets), narrowed by the host to the campaign's ages and
//! statuses, decides each person itself, and issues tickets a batch per
//! block. Names and addresses are read only in `print-batch`, only for the
//! persons printed.

#[allow(unsafe_code)] // generated ABI glue
mod bindings {
    wit_bindgen::generate!({
        path: [
            "../../wit/records",
            "../../wit/health",
            "../../wit/population",
            "../../wit/plugin",
            "wit"
        ],
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
use bindings::kiroku::health::campaign_tickets::{CampaignTicket, CampaignTicketField};
use bindings::kiroku::health::jobs;
use bindings::kiroku::population::cohort_facts::{self, Condition, FactBlock, Status};
use bindings::kiroku::population::ticket_batches;
use bindings::kiroku::records::context;
use bindings::kiroku::records::doses::DoseField;
use bindings::kiroku::records::residents::ResidentField;
use bindings::kiroku::records::types::Error as HostError;
use campaign::{Criteria, Facts};
use kiroku_rules::Date;
use serde_json::{Value, json};

/// Persons per `cohort-facts.read` call, and so most tickets per
/// `issue-many` call (the policy's row limit allows it).
const FACTS_BATCH: u32 = 20_000;
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
            "unknown field {} (fields: campaign, sample, issued_on)",
            kiroku_rules::safe_text::field_name(key)
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

/// What the host may narrow the population to before the plugin decides:
/// the campaign's statuses and (a little wider) its birth-date range.
fn prefilter(criteria: &Criteria) -> Condition {
    let c = &criteria.campaign;
    let (mut from, mut to) =
        kiroku_rules::date::birth_days_for_ages(criteria.starts_on(), c.min_age, c.max_age);
    let day = |d: &Option<String>| d.as_deref().and_then(|s| Date::parse(s).ok());
    if let Some(b) = day(&c.born_from) {
        from = Some(from.map_or(b.days_since_epoch(), |f| f.max(b.days_since_epoch())));
    }
    if let Some(b) = day(&c.born_to) {
        to = Some(to.map_or(b.days_since_epoch(), |t| t.min(b.days_since_epoch())));
    }
    let clamp = |d: i64| d.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
    Condition {
        born_from: from.map(clamp),
        born_to: to.map(clamp),
        statuses: c
            .statuses
            .iter()
            .map(|s| match s.as_str() {
                "moved-out" => Status::MovedOut,
                "deceased" => Status::Deceased,
                _ => Status::Resident,
            })
            .collect(),
        dose: None,
        ticket: None,
    }
}

fn status_name(s: Status) -> &'static str {
    match s {
        Status::Resident => "resident",
        Status::MovedOut => "moved-out",
        Status::Deceased => "deceased",
    }
}

/// The targets of one block of facts.
fn targets_in(criteria: &Criteria, block: &FactBlock) -> Vec<Target> {
    let vaccine = criteria.campaign.vaccine.as_deref();
    let text = |i: Option<u32>| {
        i.and_then(|i| block.strings.get(i as usize))
            .map(String::as_str)
    };
    let (mut d, mut t) = (0, 0);
    let mut out = Vec::new();
    for (index, person) in block.persons.iter().enumerate() {
        let index = index as u32;
        let mut dose_dates = Vec::new();
        while let Some(dose) = block.doses.get(d).filter(|x| x.person == index) {
            let counts = vaccine.is_none() || text(dose.vaccine) == vaccine;
            if counts && let Some(day) = dose.date {
                dose_dates.push(Date::from_days_since_epoch(i64::from(day)));
            }
            d += 1;
        }
        dose_dates.sort_unstable();
        let first_ticket = t;
        let mut valid_tickets = Vec::new();
        while let Some(ticket) = block.tickets.get(t).filter(|x| x.person == index) {
            if ticket.valid == Some(true)
                && let (Some(campaign), Some(n)) = (text(ticket.campaign), ticket.dose_number)
            {
                valid_tickets.push((campaign, n));
            }
            t += 1;
        }
        let facts = Facts {
            birth_date: person
                .birth_date
                .map(|b| Date::from_days_since_epoch(i64::from(b))),
            status: person.status.map(status_name),
            dose_dates,
            valid_tickets,
        };
        if criteria.targets(&facts) {
            out.push(Target {
                id: person.id,
                age: facts.birth_date.map_or(0, |b| criteria.age(b)),
                doses: facts.dose_dates.len(),
                last_dose: facts.dose_dates.last().copied(),
                tickets_held: (t - first_ticket) as u64,
            });
        }
    }
    out
}

/// Walks the population's facts and hands each block's targets to
/// `found`, reporting progress; stops with an error when staff cancel the
/// job.
fn walk(
    criteria: &Criteria,
    mut found: impl FnMut(Vec<Target>) -> Result<(), Error>,
) -> Result<u64, Error> {
    let total = cohort_facts::count().map_err(host)?;
    let dose_fields: &[DoseField] = if criteria.needs_doses() {
        &[DoseField::Date, DoseField::Vaccine]
    } else {
        &[]
    };
    let condition = prefilter(criteria);
    let (mut after, mut targets) = (0u64, 0u64);
    loop {
        let block = cohort_facts::read(
            after,
            FACTS_BATCH,
            &condition,
            &[ResidentField::BirthDate, ResidentField::Status],
            dose_fields,
            &[
                CampaignTicketField::Campaign,
                CampaignTicketField::DoseNumber,
                CampaignTicketField::Status,
            ],
        )
        .map_err(host)?;
        let block_targets = targets_in(criteria, &block);
        targets += block_targets.len() as u64;
        if !block_targets.is_empty() {
            found(block_targets)?;
        }
        after = block.next_after;
        // Progress by id position: ids are handed out in order, so this
        // follows the share walked closely.
        let done = if block.end { total } else { after.min(total) };
        if jobs::progress(done, total.max(done)) {
            return Err(Error::Conflict(
                "cancelled by staff: no ticket was issued".into(),
            ));
        }
        if block.end {
            break;
        }
    }
    Ok(targets)
}

fn preview(input: &str) -> Result<String, Error> {
    let req = parse_request(input)?;
    let mut sample = Vec::new();
    let count = walk(&req.criteria, |targets| {
        for t in targets.iter().take(req.sample.saturating_sub(sample.len())) {
            sample.push(sample_json(t));
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
    let count = walk(&req.criteria, |targets| {
        let mut batch = Vec::with_capacity(targets.len());
        for t in &targets {
            let number =
                kiroku_rules::ticket::for_person(t.id, t.tickets_held).ok_or_else(|| {
                    Error::Conflict(format!(
                        "person {} holds too many tickets to number another",
                        t.id
                    ))
                })?;
            if sample.len() < req.sample {
                let mut s = sample_json(t);
                s["ticket_number"] = json!(number);
                sample.push(s);
            }
            let ticket = CampaignTicket {
                number: Some(number),
                issued_on: Some(req.issued_on.clone()),
                campaign: Some(c.id.clone()),
                ticket_type: Some(c.ticket_type),
                dose_number: Some(c.dose_number),
                status: None,
                void_reason: None,
                voided_on: None,
            };
            batch.push((t.id, ticket));
        }
        ticket_batches::issue_many(&batch).map_err(host)?;
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
