//! The print batch for the mailing vendor: one CSV row per valid ticket of
//! a campaign and dose, with the name and address to print and the OCR
//! line. Never a My Number (this plugin cannot import it). Paged by person
//! id so a whole city's batch never has to fit in one response.

use serde_json::{Value, json};

use crate::bindings::exports::kiroku::plugin::handler::Error;
use crate::bindings::kiroku::health::campaign_tickets::{self, CampaignTicketField};
use crate::bindings::kiroku::health::cohort;
use crate::bindings::kiroku::records::residents::{self, ResidentField};
use crate::{host, invalid};

/// The CSV header, the layout documented in the README.
pub const HEADER: [&str; 8] = [
    "氏名",
    "フリガナ",
    "郵便番号",
    "住所",
    "方書",
    "接種券番号",
    "接種回数",
    "OCR",
];
/// Default and largest page.
const DEFAULT_PAGE: u64 = 1_000;
const MAX_PAGE: u64 = 5_000;
/// Persons per scan call.
const SCAN_BATCH: u32 = 1_000;

struct Page {
    campaign: String,
    dose_number: u32,
    after: u64,
    limit: u64,
}

fn parse(text: &str) -> Result<Page, Error> {
    let value: Value = serde_json::from_str(text).map_err(|_| invalid("the input is not JSON"))?;
    let fields = ["campaign", "dose_number", "after", "limit"];
    let Value::Object(map) = value else {
        return Err(invalid("the input must be a JSON object"));
    };
    if let Some(key) = map.keys().find(|k| !fields.contains(&k.as_str())) {
        return Err(invalid(format!(
            "unknown field {key:?} (fields: {})",
            fields.join(", ")
        )));
    }
    let campaign = map
        .get("campaign")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| invalid("campaign (the campaign id) is required"))?
        .to_owned();
    let dose_number = map
        .get("dose_number")
        .and_then(Value::as_u64)
        .filter(|n| (1..=9).contains(n))
        .ok_or_else(|| invalid("dose_number must be 1-9"))? as u32;
    let number = |key: &str, default: u64| match map.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_u64()
            .ok_or_else(|| invalid(format!("{key} must be a whole number"))),
    };
    let after = number("after", 0)?;
    let limit = number("limit", DEFAULT_PAGE)?;
    if limit == 0 || limit > MAX_PAGE {
        return Err(invalid(format!("limit must be 1-{MAX_PAGE}")));
    }
    Ok(Page {
        campaign,
        dose_number,
        after,
        limit,
    })
}

/// See the module docs.
pub fn print_batch(input: &str) -> Result<String, Error> {
    let page = parse(input)?;
    let code = campaign_tickets::municipality_code();
    let mut csv = csv::Writer::from_writer(Vec::new());
    if page.after == 0 {
        csv.write_record(HEADER)
            .map_err(|_| Error::Internal("CSV".into()))?;
    }
    let (mut after, mut rows, mut next) = (page.after, 0u64, None);
    'scan: loop {
        let batch = cohort::scan(
            after,
            SCAN_BATCH,
            &[],
            &[],
            &[
                CampaignTicketField::Number,
                CampaignTicketField::Campaign,
                CampaignTicketField::TicketType,
                CampaignTicketField::DoseNumber,
                CampaignTicketField::Status,
            ],
        )
        .map_err(host)?;
        if batch.is_empty() {
            break;
        }
        for m in batch {
            after = m.id;
            let ticket = m.tickets.iter().find(|t| {
                t.status.as_deref() == Some("valid")
                    && t.campaign.as_deref() == Some(page.campaign.as_str())
                    && t.dose_number == Some(page.dose_number)
            });
            let Some(ticket) = ticket else { continue };
            if rows == page.limit {
                next = Some(rows_end(after));
                break 'scan;
            }
            let number = ticket.number.clone().unwrap_or_default();
            let ocr = kiroku_rules::ticket::ocr_line(
                ticket.ticket_type.unwrap_or(1),
                page.dose_number,
                &code,
                &number,
            )
            .ok_or_else(|| Error::Internal("a stored ticket does not fit the OCR line".into()))?;
            let r = residents::get(
                m.id,
                &[
                    ResidentField::KanjiName,
                    ResidentField::KanaName,
                    ResidentField::PostalCode,
                    ResidentField::Address,
                    ResidentField::Building,
                ],
            )
            .map_err(host)?;
            let dose = page.dose_number.to_string();
            csv.write_record([
                r.kanji_name.as_deref().unwrap_or(""),
                r.kana_name.as_deref().unwrap_or(""),
                r.postal_code.as_deref().unwrap_or(""),
                r.address.as_deref().unwrap_or(""),
                r.building.as_deref().unwrap_or(""),
                number.as_str(),
                dose.as_str(),
                ocr.as_str(),
            ])
            .map_err(|_| Error::Internal("CSV".into()))?;
            rows += 1;
        }
    }
    let bytes = csv
        .into_inner()
        .map_err(|_| Error::Internal("CSV".into()))?;
    Ok(json!({
        "campaign": page.campaign,
        "dose_number": page.dose_number,
        "rows": rows,
        "next_after": next,
        "csv": String::from_utf8_lossy(&bytes),
    })
    .to_string())
}

/// The cursor that resumes at the person whose row did not fit: the page
/// ended just before `id`.
fn rows_end(id: u64) -> u64 {
    id - 1
}
