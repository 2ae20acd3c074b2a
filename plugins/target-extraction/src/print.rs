//! The print batch for the mailing vendor: one CSV row, or one PDF notice
//! page, per valid ticket of a campaign and dose, with the name and address
//! to print and the OCR line. Never a My Number (this plugin cannot import
//! it). Paged by person id so a whole city's batch never has to fit in one
//! response.

use serde_json::{Value, json};

use crate::bindings::exports::kiroku::plugin::handler::Error;
use crate::bindings::kiroku::health::campaign_tickets::{self, CampaignTicketField};
use crate::bindings::kiroku::health::cohort;
use crate::bindings::kiroku::records::residents::{self, ResidentField};
use crate::notice::{Notice, render};
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
/// Default rows per page.
const DEFAULT_PAGE: u64 = 1_000;
/// Most CSV rows per page.
const MAX_PAGE: u64 = 5_000;
/// Most notices per PDF (a print shop's batch; about 3 KB a page).
const MAX_NOTICES: u64 = 500;
/// Persons per scan call.
const SCAN_BATCH: u32 = 1_000;

struct Page {
    campaign: String,
    dose_number: u32,
    after: u64,
    limit: u64,
}

fn parse(text: &str, most: u64) -> Result<Page, Error> {
    let value: Value = serde_json::from_str(text).map_err(|_| invalid("the input is not JSON"))?;
    let fields = ["campaign", "dose_number", "after", "limit"];
    let Value::Object(map) = value else {
        return Err(invalid("the input must be a JSON object"));
    };
    if let Some(key) = map.keys().find(|k| !fields.contains(&k.as_str())) {
        return Err(invalid(format!(
            "unknown field {} (fields: {})",
            kiroku_rules::safe_text::field_name(key),
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
    let limit = number("limit", DEFAULT_PAGE.min(most))?;
    if limit == 0 || limit > most {
        return Err(invalid(format!("limit must be 1-{most}")));
    }
    Ok(Page {
        campaign,
        dose_number,
        after,
        limit,
    })
}

/// One printed person: what the CSV row and the notice show.
struct Printed {
    resident: residents::Resident,
    ticket_number: String,
    ocr: String,
}

/// The persons holding a valid ticket of the page's campaign and dose,
/// after `page.after`, at most `page.limit`; and the next page's cursor.
fn collect(page: &Page, code: &str) -> Result<(Vec<Printed>, Option<u64>), Error> {
    let (mut after, mut out) = (page.after, Vec::new());
    loop {
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
            return Ok((out, None));
        }
        for m in batch {
            // Person ids are opaque: a page resumes after the last one seen.
            let before = after;
            after = m.id;
            let ticket = m.tickets.iter().find(|t| {
                t.status.as_deref() == Some("valid")
                    && t.campaign.as_deref() == Some(page.campaign.as_str())
                    && t.dose_number == Some(page.dose_number)
            });
            let Some(ticket) = ticket else { continue };
            if out.len() as u64 == page.limit {
                // Resume at this person: the page ended just before them.
                return Ok((out, Some(before)));
            }
            let number = ticket.number.clone().unwrap_or_default();
            let ocr = kiroku_rules::ticket::ocr_line(
                ticket.ticket_type.unwrap_or(1),
                page.dose_number,
                code,
                &number,
            )
            .ok_or_else(|| Error::Internal("a stored ticket does not fit the OCR line".into()))?;
            let resident = residents::get(
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
            out.push(Printed {
                resident,
                ticket_number: number,
                ocr,
            });
        }
    }
}

/// The mailing vendor's CSV, a page at a time.
pub fn print_batch(input: &str) -> Result<String, Error> {
    let page = parse(input, MAX_PAGE)?;
    let code = campaign_tickets::municipality_code();
    let (printed, next) = collect(&page, &code)?;
    let csv_error = |_| Error::Internal("writing the CSV failed".into());
    let mut csv = csv::Writer::from_writer(Vec::new());
    if page.after == 0 {
        csv.write_record(HEADER).map_err(csv_error)?;
    }
    let dose = page.dose_number.to_string();
    for p in &printed {
        let r = &p.resident;
        csv.write_record([
            r.kanji_name.as_deref().unwrap_or(""),
            r.kana_name.as_deref().unwrap_or(""),
            r.postal_code.as_deref().unwrap_or(""),
            r.address.as_deref().unwrap_or(""),
            r.building.as_deref().unwrap_or(""),
            p.ticket_number.as_str(),
            dose.as_str(),
            p.ocr.as_str(),
        ])
        .map_err(csv_error)?;
    }
    let bytes = csv
        .into_inner()
        .map_err(|_| Error::Internal("writing the CSV failed".into()))?;
    Ok(json!({
        "campaign": page.campaign,
        "dose_number": page.dose_number,
        "rows": printed.len(),
        "next_after": next,
        "csv": String::from_utf8_lossy(&bytes),
    })
    .to_string())
}

/// The notices as one PDF (a page per person), a batch at a time.
pub fn print_notices(input: &str) -> Result<String, Error> {
    use base64::Engine as _;
    let page = parse(input, MAX_NOTICES)?;
    let code = campaign_tickets::municipality_code();
    let (printed, next) = collect(&page, &code)?;
    let notices: Vec<Notice> = printed
        .into_iter()
        .map(|p| {
            let r = p.resident;
            Notice {
                postal_code: r.postal_code.unwrap_or_default(),
                address: r.address.unwrap_or_default(),
                building: r.building.unwrap_or_default(),
                name: r.kanji_name.unwrap_or_default(),
                kana: r.kana_name.unwrap_or_default(),
                campaign: page.campaign.clone(),
                dose_number: page.dose_number,
                ticket_number: p.ticket_number,
                ocr: p.ocr,
                municipality: code.clone(),
            }
        })
        .collect();
    let pdf = if notices.is_empty() {
        None
    } else {
        Some(render(&notices).map_err(Error::Internal)?)
    };
    Ok(json!({
        "campaign": page.campaign,
        "dose_number": page.dose_number,
        "pages": notices.len(),
        "next_after": next,
        "pdf_base64": pdf.map(|b| base64::engine::general_purpose::STANDARD.encode(b)),
    })
    .to_string())
}
