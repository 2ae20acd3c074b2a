//! ticket-issuance: issues vaccination tickets to residents by address
//! number, voids and reissues lost ones (with a reason), and tickets a
//! resident who moved in. Ticket numbers are 10 digits with a Luhn check
//! digit, numbered by `kiroku_rules::ticket::for_person`, so they are
//! unique within the tenant whichever plugin issues them.

#[allow(unsafe_code)] // generated ABI glue
mod bindings {
    wit_bindgen::generate!({
        path: ["../../wit/records", "../../wit/health", "../../wit/plugin", "wit"],
        world: "kiroku-plugins:ticket-issuance/ticket-issuance",
        generate_all,
    });
    use super::TicketIssuance;
    export!(TicketIssuance);
}

use bindings::exports::kiroku::plugin::handler::{Error, Guest, Operation};
use bindings::kiroku::health::campaign_tickets::{self, CampaignTicket, CampaignTicketField};
use bindings::kiroku::records::types::Error as HostError;
use bindings::kiroku::records::{context, residents, tickets};
use serde::Deserialize;
use serde_json::{Value, json};

/// Most residents per call.
const MAX_ROWS: usize = 10_000;
/// Why a ticket may be voided and reissued. A closed list: free text could
/// carry personal details into the record.
const REISSUE_REASONS: &[&str] = &[
    "lost",
    "damaged",
    "not-received",
    "address-changed",
    "other",
];

struct TicketIssuance;

fn host_error(row: usize, e: HostError) -> Error {
    match e {
        HostError::AccessDenied(m) => Error::AccessDenied(m),
        HostError::NotFound(m) => Error::NotFound(format!("row {row}: {m}")),
        HostError::Invalid(m) => Error::Invalid(format!("row {row}: {m}")),
        HostError::Conflict(m) => Error::Conflict(format!("row {row}: {m}")),
    }
}

fn host(e: HostError) -> Error {
    match e {
        HostError::AccessDenied(m) => Error::AccessDenied(m),
        HostError::NotFound(m) => Error::NotFound(m),
        HostError::Invalid(m) => Error::Invalid(m),
        HostError::Conflict(m) => Error::Conflict(m),
    }
}

fn parse<T: for<'de> Deserialize<'de>>(input: &str, shape: &str) -> Result<T, Error> {
    serde_json::from_str(input).map_err(|_| Error::Invalid(format!("the input must be {shape}")))
}

/// `issued_on` or today; never in the future.
fn issue_date(given: Option<String>) -> Result<String, Error> {
    let today = context::today();
    let issued_on = given.unwrap_or_else(|| today.clone());
    match kiroku_rules::Date::parse(&issued_on) {
        Ok(d) if d.to_string() <= today => Ok(issued_on),
        _ => Err(Error::Invalid(
            "issued_on must be a date (yyyy-mm-dd) not in the future".into(),
        )),
    }
}

/// The number of a person's next ticket.
fn next_number(person: u64) -> Result<String, Error> {
    let held = campaign_tickets::for_person(person, &[])
        .map_err(host)?
        .len() as u64;
    kiroku_rules::ticket::for_person(person, held).ok_or_else(|| {
        Error::Conflict(format!(
            "the person already holds {held} tickets; no number is left for another"
        ))
    })
}

fn ticket_json(ticket: &CampaignTicket) -> Value {
    let code = campaign_tickets::municipality_code();
    let ocr = match (ticket.ticket_type, ticket.dose_number, &ticket.number) {
        (Some(t), Some(d), Some(n)) => kiroku_rules::ticket::ocr_line(t, d, &code, n),
        _ => None,
    };
    json!({
        "ticket_number": ticket.number,
        "campaign": ticket.campaign,
        "dose_number": ticket.dose_number,
        "issued_on": ticket.issued_on,
        "ocr_line": ocr,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IssueInput {
    address_numbers: Vec<String>,
    issued_on: Option<String>,
}

/// First (plain) tickets for residents who hold none.
fn issue(input: &str) -> Result<String, Error> {
    let input: IssueInput = parse(input, "{\"address_numbers\": [...], \"issued_on\"?: date}")?;
    if input.address_numbers.is_empty() || input.address_numbers.len() > MAX_ROWS {
        return Err(Error::Invalid(format!(
            "give 1 to {MAX_ROWS} address numbers"
        )));
    }
    let issued_on = issue_date(input.issued_on)?;
    let mut out = Vec::with_capacity(input.address_numbers.len());
    let (mut issued, mut already) = (0, 0);
    for (i, number) in input.address_numbers.iter().enumerate() {
        let row = i + 1;
        let person = residents::find_by_address_number(number.trim())
            .map_err(|e| host_error(row, e))?
            .ok_or_else(|| {
                Error::NotFound(format!("row {row}: no resident has this address number"))
            })?;
        let held = tickets::for_person(person, &[])
            .map_err(|e| host_error(row, e))?
            .len() as u64;
        if held > 0 {
            already += 1;
            out.push(json!({"row": row, "outcome": "already-issued"}));
            continue;
        }
        let ticket = kiroku_rules::ticket::for_person(person, held).ok_or_else(|| {
            Error::Conflict(format!(
                "row {row}: no ticket number is left for this person"
            ))
        })?;
        tickets::issue(person, &ticket, &issued_on).map_err(|e| host_error(row, e))?;
        issued += 1;
        out.push(json!({"row": row, "outcome": "issued", "ticket_number": ticket}));
    }
    Ok(json!({"issued": issued, "already_issued": already, "tickets": out}).to_string())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReissueInput {
    ticket_number: String,
    reason: String,
    issued_on: Option<String>,
}

/// Voids a lost (or damaged, ...) ticket and issues its replacement for the
/// same campaign and dose.
fn reissue(input: &str) -> Result<String, Error> {
    let input: ReissueInput = parse(
        input,
        "{\"ticket_number\": \"...\", \"reason\": \"lost\", \"issued_on\"?: date}",
    )?;
    if !REISSUE_REASONS.contains(&input.reason.as_str()) {
        return Err(Error::Invalid(format!(
            "reason must be one of {}",
            REISSUE_REASONS.join(", ")
        )));
    }
    let issued_on = issue_date(input.issued_on)?;
    let old_number = input.ticket_number.trim();
    kiroku_rules::ticket::validate(old_number).map_err(|e| Error::Invalid(e.to_string()))?;
    let person = campaign_tickets::find(old_number)
        .map_err(host)?
        .ok_or_else(|| Error::NotFound("no ticket has this number".into()))?;
    let all = campaign_tickets::for_person(
        person,
        &[
            CampaignTicketField::Number,
            CampaignTicketField::Campaign,
            CampaignTicketField::TicketType,
            CampaignTicketField::DoseNumber,
        ],
    )
    .map_err(host)?;
    let old = all
        .into_iter()
        .find(|t| t.number.as_deref() == Some(old_number))
        .ok_or_else(|| Error::NotFound("no ticket has this number".into()))?;
    let new_number = next_number(person)?;
    campaign_tickets::void(old_number, &input.reason).map_err(host)?;
    let new = CampaignTicket {
        number: Some(new_number.clone()),
        issued_on: Some(issued_on.clone()),
        ..old.clone()
    };
    if old.campaign.is_some() {
        campaign_tickets::issue(person, &new).map_err(host)?;
    } else {
        tickets::issue(person, &new_number, &issued_on).map_err(host)?;
    }
    Ok(json!({
        "voided": old_number,
        "reason": input.reason,
        "ticket": ticket_json(&new),
    })
    .to_string())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MoveInInput {
    address_number: String,
    campaign: String,
    dose_number: u32,
    #[serde(default = "default_ticket_type")]
    ticket_type: u8,
    issued_on: Option<String>,
}

fn default_ticket_type() -> u8 {
    1
}

/// A ticket for a resident who moved in after the campaign's extraction.
fn issue_move_in(input: &str) -> Result<String, Error> {
    let input: MoveInInput = parse(
        input,
        "{\"address_number\": \"...\", \"campaign\": \"...\", \"dose_number\": n, \"ticket_type\"?: n, \"issued_on\"?: date}",
    )?;
    let issued_on = issue_date(input.issued_on)?;
    let person = residents::find_by_address_number(input.address_number.trim())
        .map_err(host)?
        .ok_or_else(|| Error::NotFound("no resident has this address number".into()))?;
    let status = residents::get(person, &[residents::ResidentField::Status])
        .map_err(host)?
        .status;
    if status.as_deref() != Some("resident") {
        return Err(Error::Conflict(
            "the person is not a current resident (moved out or deceased)".into(),
        ));
    }
    let held = campaign_tickets::for_person(
        person,
        &[
            CampaignTicketField::Campaign,
            CampaignTicketField::DoseNumber,
            CampaignTicketField::Status,
        ],
    )
    .map_err(host)?;
    if held.iter().any(|t| {
        t.status.as_deref() == Some("valid")
            && t.campaign.as_deref() == Some(input.campaign.as_str())
            && t.dose_number == Some(input.dose_number)
    }) {
        return Err(Error::Conflict(
            "the person already holds a valid ticket for this campaign and dose".into(),
        ));
    }
    let ticket = CampaignTicket {
        number: Some(next_number(person)?),
        issued_on: Some(issued_on),
        campaign: Some(input.campaign),
        ticket_type: Some(input.ticket_type),
        dose_number: Some(input.dose_number),
        status: None,
        void_reason: None,
        voided_on: None,
    };
    campaign_tickets::issue(person, &ticket).map_err(host)?;
    Ok(json!({ "ticket": ticket_json(&ticket) }).to_string())
}

impl Guest for TicketIssuance {
    fn describe() -> Vec<Operation> {
        vec![
            Operation {
                name: "issue".into(),
                summary: "Issues a first ticket to residents by address number.".into(),
                writes: true,
            },
            Operation {
                name: "reissue".into(),
                summary:
                    "Voids a lost or damaged ticket (with a reason) and issues its replacement."
                        .into(),
                writes: true,
            },
            Operation {
                name: "issue-move-in".into(),
                summary: "Issues a campaign ticket to a resident who moved in.".into(),
                writes: true,
            },
        ]
    }

    fn handle(operation: String, input: String) -> Result<String, Error> {
        match operation.as_str() {
            "issue" => issue(&input),
            "reissue" => reissue(&input),
            "issue-move-in" => issue_move_in(&input),
            other => Err(Error::UnknownOperation(format!(
                "ticket-issuance has no operation {other}"
            ))),
        }
    }
}
