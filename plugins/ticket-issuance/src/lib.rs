//! ticket-issuance: issues vaccination tickets to residents by address
//! number, and reissues lost ones. Ticket numbers are 10 digits with a Luhn
//! check digit, derived from the person's internal id and the ticket's
//! sequence, so they are unique within the tenant.

#[allow(unsafe_code)] // generated ABI glue
mod bindings {
    wit_bindgen::generate!({
        path: ["../../wit/records", "../../wit/plugin", "wit"],
        world: "kiroku-plugins:ticket-issuance/ticket-issuance",
        generate_all,
    });
    use super::TicketIssuance;
    export!(TicketIssuance);
}

use bindings::exports::kiroku::plugin::handler::{Error, Guest, Operation};
use bindings::kiroku::records::types::Error as HostError;
use bindings::kiroku::records::{context, residents, tickets};
use serde::Deserialize;
use serde_json::json;

/// Most residents per call.
const MAX_ROWS: usize = 10_000;
/// Tickets one person may be issued (first issue plus reissues).
const MAX_TICKETS_PER_PERSON: usize = 10;

struct TicketIssuance;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IssueInput {
    address_numbers: Vec<String>,
    #[serde(default)]
    reissue: bool,
    issued_on: Option<String>,
}

fn host_error(row: usize, e: HostError) -> Error {
    match e {
        HostError::AccessDenied(m) => Error::AccessDenied(m),
        HostError::NotFound(m) => Error::NotFound(format!("row {row}: {m}")),
        HostError::Invalid(m) => Error::Invalid(format!("row {row}: {m}")),
        HostError::Conflict(m) => Error::Conflict(format!("row {row}: {m}")),
    }
}

fn issue(input: &str) -> Result<String, Error> {
    let input: IssueInput = serde_json::from_str(input).map_err(|_| {
        Error::Invalid("the input must be {\"address_numbers\": [...], \"reissue\"?: bool, \"issued_on\"?: date}".into())
    })?;
    if input.address_numbers.is_empty() || input.address_numbers.len() > MAX_ROWS {
        return Err(Error::Invalid(format!(
            "give 1 to {MAX_ROWS} address numbers"
        )));
    }
    let today = context::today();
    let issued_on = input.issued_on.unwrap_or_else(|| today.clone());
    match kiroku_rules::Date::parse(&issued_on) {
        Ok(d) if d.to_string() <= today => {}
        _ => {
            return Err(Error::Invalid(
                "issued_on must be a date (yyyy-mm-dd) not in the future".into(),
            ));
        }
    }
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
            .len();
        if held > 0 && !input.reissue {
            already += 1;
            out.push(json!({"row": row, "outcome": "already-issued"}));
            continue;
        }
        if held >= MAX_TICKETS_PER_PERSON {
            return Err(Error::Conflict(format!(
                "row {row}: {MAX_TICKETS_PER_PERSON} tickets were already issued"
            )));
        }
        let ticket =
            kiroku_rules::ticket::from_serial(person * MAX_TICKETS_PER_PERSON as u64 + held as u64);
        tickets::issue(person, &ticket, &issued_on).map_err(|e| host_error(row, e))?;
        issued += 1;
        out.push(json!({"row": row, "outcome": "issued", "ticket_number": ticket}));
    }
    Ok(json!({"issued": issued, "already_issued": already, "tickets": out}).to_string())
}

impl Guest for TicketIssuance {
    fn describe() -> Vec<Operation> {
        vec![Operation {
            name: "issue".into(),
            summary:
                "Issues tickets to residents by address number (reissue: true for lost tickets)."
                    .into(),
            writes: true,
        }]
    }

    fn handle(operation: String, input: String) -> Result<String, Error> {
        match operation.as_str() {
            "issue" => issue(&input),
            other => Err(Error::UnknownOperation(format!(
                "ticket-issuance has no operation {other}"
            ))),
        }
    }
}
