//! history-list: searches vaccination histories by vaccine, maker, dose
//! number, lot, date range, facility, age band, and done / not done for a
//! campaign; shows the 4 basic facts (name, sex, birth date, address) and
//! the doses, a page at a time, or exports them as CSV.
//!
//! It walks the population reading only what the conditions need, then
//! reads names and addresses of the persons it returns. It cannot import
//! My Number, so no page or export can contain one.

#[allow(unsafe_code)] // generated ABI glue
mod bindings {
    wit_bindgen::generate!({
        path: ["../../wit/records", "../../wit/health", "../../wit/plugin", "wit"],
        world: "kiroku-plugins:history-list/history-list",
        generate_all,
    });
    use super::HistoryList;
    export!(HistoryList);
}

mod query;

use bindings::exports::kiroku::plugin::handler::{Error, Guest, Operation};
use bindings::kiroku::health::campaign_tickets::CampaignTicketField;
use bindings::kiroku::health::cohort;
use bindings::kiroku::records::context;
use bindings::kiroku::records::doses::DoseField;
use bindings::kiroku::records::residents::{self, ResidentField};
use bindings::kiroku::records::types::Error as HostError;
use kiroku_rules::Date;
use query::{Checked, DoseFacts, Query};
use serde_json::{Value, json};

/// Persons per page shown on screen (default and most).
const SEARCH_PAGE: u32 = 100;
/// Persons per export call (most).
const EXPORT_PAGE: u32 = 5_000;
/// Persons per `cohort.scan` call: the first call reads about twice the
/// page (most searches fill a page from it), later calls double, up to the
/// policy's row limit. Reading no more persons than needed keeps a page
/// fast and its audit trail short.
const FIRST_SCAN: u32 = 200;
const MAX_SCAN: u32 = 1_000;
/// The export's columns, the layout documented in the README.
const EXPORT_HEADER: [&str; 11] = [
    "氏名",
    "フリガナ",
    "性別",
    "生年月日",
    "住所",
    "接種回数",
    "接種日",
    "ワクチン",
    "メーカー",
    "ロット番号",
    "医療機関コード",
];

struct HistoryList;

fn host(e: HostError) -> Error {
    match e {
        HostError::AccessDenied(m) => Error::AccessDenied(m),
        HostError::NotFound(m) => Error::NotFound(m),
        HostError::Invalid(m) => Error::Invalid(m),
        HostError::Conflict(m) => Error::Conflict(m),
    }
}

/// A person on a page: the 4 basic facts and the doses shown.
struct Found {
    id: u64,
    resident: residents::Resident,
    doses: Vec<DoseFacts>,
}

fn parse(input: &str, most: u32) -> Result<(Checked, u32), Error> {
    let query: Query =
        serde_json::from_str(input).map_err(|e| Error::Invalid(format!("the query: {e}")))?;
    let limit = query.limit.unwrap_or(most.min(SEARCH_PAGE));
    if limit == 0 || limit > most {
        return Err(Error::Invalid(format!("limit must be 1-{most}")));
    }
    let today = Date::parse(&context::today()).map_err(|_| Error::Internal("today".into()))?;
    let checked = Checked::new(query, today).map_err(Error::Invalid)?;
    Ok((checked, limit))
}

fn dose_facts(d: &bindings::kiroku::records::doses::Dose) -> DoseFacts {
    DoseFacts {
        dose_number: d.dose_number,
        date: d.date.as_deref().and_then(|s| Date::parse(s).ok()),
        vaccine: d.vaccine.clone(),
        maker: d.maker.clone(),
        lot: d.lot.clone(),
        facility_code: d.facility_code.clone(),
    }
}

/// Walks persons after `q.after` until `limit` match or `q.max_scan()`
/// persons were read; returns them and the cursor of the next page (none
/// at the end). A page cut short by the scan budget has fewer rows than
/// the limit but a cursor: the search goes on from there.
fn find(q: &Checked, limit: u32) -> Result<(Vec<Found>, Option<u64>), Error> {
    let resident_fields: &[ResidentField] = if q.filters_age() {
        &[ResidentField::BirthDate]
    } else {
        &[]
    };
    let dose_fields = [
        DoseField::DoseNumber,
        DoseField::Date,
        DoseField::Vaccine,
        DoseField::Maker,
        DoseField::Lot,
        DoseField::FacilityCode,
    ];
    let ticket_fields: &[CampaignTicketField] = if q.query.campaign.is_some() {
        &[
            CampaignTicketField::Campaign,
            CampaignTicketField::DoseNumber,
            CampaignTicketField::Status,
        ]
    } else {
        &[]
    };
    let mut found = Vec::new();
    let mut after = q.query.after;
    let mut batch_size = (limit * 2).clamp(FIRST_SCAN, MAX_SCAN).min(q.max_scan());
    let mut scanned = 0u32;
    loop {
        if scanned >= q.max_scan() {
            return Ok((found, Some(after)));
        }
        batch_size = batch_size.min(q.max_scan() - scanned);
        let batch = cohort::scan(
            after,
            batch_size,
            resident_fields,
            &dose_fields,
            ticket_fields,
        )
        .map_err(host)?;
        batch_size = (batch_size * 2).min(MAX_SCAN);
        if batch.is_empty() {
            return Ok((found, None));
        }
        scanned += batch.len() as u32;
        for m in batch {
            after = m.id;
            let birth = m
                .resident
                .birth_date
                .as_deref()
                .and_then(|b| Date::parse(b).ok());
            if !q.age_matches(birth) {
                continue;
            }
            let doses: Vec<DoseFacts> = m.doses.iter().map(dose_facts).collect();
            let tickets: Vec<(String, u32)> = m
                .tickets
                .iter()
                .filter(|t| t.status.as_deref() == Some("valid"))
                .filter_map(|t| Some((t.campaign.clone()?, t.dose_number?)))
                .collect();
            if !q.campaign_matches(&tickets, &doses) {
                continue;
            }
            let shown: Vec<DoseFacts> = if q.filters_doses() {
                doses.into_iter().filter(|d| q.dose_matches(d)).collect()
            } else {
                doses
            };
            if q.filters_doses() && shown.is_empty() {
                continue;
            }
            let resident = residents::get(
                m.id,
                &[
                    ResidentField::KanjiName,
                    ResidentField::KanaName,
                    ResidentField::Sex,
                    ResidentField::BirthDate,
                    ResidentField::Address,
                ],
            )
            .map_err(host)?;
            found.push(Found {
                id: m.id,
                resident,
                doses: shown,
            });
            if found.len() == limit as usize {
                return Ok((found, Some(m.id)));
            }
        }
    }
}

fn dose_json(d: &DoseFacts) -> Value {
    json!({
        "dose_number": d.dose_number,
        "date": d.date.map(|x| x.to_string()),
        "vaccine": d.vaccine,
        "maker": d.maker,
        "lot": d.lot,
        "facility_code": d.facility_code,
    })
}

fn search(input: &str) -> Result<String, Error> {
    let (q, limit) = parse(input, SEARCH_PAGE)?;
    let (found, next) = find(&q, limit)?;
    let persons: Vec<Value> = found
        .iter()
        .map(|f| {
            let r = &f.resident;
            json!({
                "person_id": f.id,
                "kanji_name": r.kanji_name,
                "kana_name": r.kana_name,
                "sex": r.sex,
                "birth_date": r.birth_date,
                "address": r.address,
                "doses": f.doses.iter().map(dose_json).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(json!({"persons": persons, "next_after": next}).to_string())
}

fn export(input: &str) -> Result<String, Error> {
    let (q, limit) = parse(input, EXPORT_PAGE)?;
    let (found, next) = find(&q, limit)?;
    let csv_error = |_| Error::Internal("writing the CSV failed".into());
    let mut csv = csv::Writer::from_writer(Vec::new());
    if q.query.after == 0 {
        csv.write_record(EXPORT_HEADER).map_err(csv_error)?;
    }
    let mut rows = 0;
    for f in &found {
        let r = &f.resident;
        let facts = [
            r.kanji_name.clone().unwrap_or_default(),
            r.kana_name.clone().unwrap_or_default(),
            r.sex.clone().unwrap_or_default(),
            r.birth_date.clone().unwrap_or_default(),
            r.address.clone().unwrap_or_default(),
        ];
        let none = [DoseFacts::default()];
        let doses = if f.doses.is_empty() {
            &none[..]
        } else {
            &f.doses[..]
        };
        for d in doses {
            let mut row = facts.to_vec();
            row.extend([
                d.dose_number.map(|n| n.to_string()).unwrap_or_default(),
                d.date.map(|x| x.to_string()).unwrap_or_default(),
                d.vaccine.clone().unwrap_or_default(),
                d.maker.clone().unwrap_or_default(),
                d.lot.clone().unwrap_or_default(),
                d.facility_code.clone().unwrap_or_default(),
            ]);
            csv.write_record(&row).map_err(csv_error)?;
            rows += 1;
        }
    }
    let bytes = csv
        .into_inner()
        .map_err(|_| Error::Internal("writing the CSV failed".into()))?;
    Ok(json!({
        "persons": found.len(),
        "rows": rows,
        "next_after": next,
        "csv": String::from_utf8_lossy(&bytes),
    })
    .to_string())
}

impl Guest for HistoryList {
    fn describe() -> Vec<Operation> {
        vec![
            Operation {
                name: "search".into(),
                summary: "Finds persons by their doses, age band or campaign status; a page of the 4 basic facts and doses."
                    .into(),
                writes: false,
            },
            Operation {
                name: "export".into(),
                summary: "The same search as CSV, one row per dose, page by page.".into(),
                writes: false,
            },
        ]
    }

    fn handle(operation: String, input: String) -> Result<String, Error> {
        match operation.as_str() {
            "search" => search(&input),
            "export" => export(&input),
            other => Err(Error::UnknownOperation(format!(
                "history-list has no operation {other}"
            ))),
        }
    }
}
