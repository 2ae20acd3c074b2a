//! history-list: searches vaccination histories by vaccine, maker, dose
//! number, lot, date range, facility, age band, and done / not done for a
//! campaign; shows the 4 basic facts (name, sex, birth date, address) and
//! the doses, a page at a time, or exports them as CSV.
//!
//! The host narrows the population to persons with a matching dose, birth
//! date range and campaign ticket (cohort facts); the plugin checks the
//! exact age and campaign status, then reads names and addresses of the
//! persons it returns only. It cannot import
//! My Number, so no page or export can contain one.

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
        world: "kiroku-plugins:history-list/history-list",
        generate_all,
    });
    use super::HistoryList;
    export!(HistoryList);
}

mod query;

use bindings::exports::kiroku::plugin::handler::{Error, Guest, Operation};
use bindings::kiroku::health::campaign_tickets::CampaignTicketField;
use bindings::kiroku::population::cohort_facts::{self, Condition, DoseCondition, FactBlock};
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
/// Persons per `cohort-facts.read` call: the host returns only persons
/// the conditions could fit, so the first call asks a little more than the
/// page, later calls double, up to the policy's row limit. Reading no more
/// persons than needed keeps a page fast and its audit trail short.
const FIRST_READ: u32 = 120;
const MAX_READ: u32 = 1_000;
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
    let query: Query = serde_json::from_str(input).map_err(|e| {
        Error::Invalid(format!(
            "the query: {}",
            kiroku_rules::safe_text::serde_message(&e.to_string())
        ))
    })?;
    let limit = query.limit.unwrap_or(most.min(SEARCH_PAGE));
    if limit == 0 || limit > most {
        return Err(Error::Invalid(format!("limit must be 1-{most}")));
    }
    let today = Date::parse(&context::today()).map_err(|_| Error::Internal("today".into()))?;
    let checked = Checked::new(query, today).map_err(Error::Invalid)?;
    Ok((checked, limit))
}

/// What the host may narrow the population to: the dose conditions and
/// the campaign ticket exactly, the age band a little wider.
fn condition(q: &Checked) -> Condition {
    let query = &q.query;
    let day = |d: Option<Date>| d.map(|d| d.days_since_epoch() as i32);
    let (born_from, born_to) = if q.filters_age() {
        kiroku_rules::date::birth_days_for_ages(q.age_on(), query.age_from, query.age_to)
    } else {
        (None, None)
    };
    let clamp = |d: i64| d.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
    Condition {
        born_from: born_from.map(clamp),
        born_to: born_to.map(clamp),
        statuses: Vec::new(),
        dose: q.filters_doses().then(|| DoseCondition {
            vaccine: query.vaccine.clone(),
            // Makers compare through the vocabulary (`pfizer` is `ファイザー`),
            // which the host's exact match does not know: filtered here.
            maker: None,
            lot: query.lot.clone(),
            facility_code: query.facility_code.clone(),
            dose_number: query.dose_number,
            date_from: day(q.date_from()),
            date_to: day(q.date_to()),
        }),
        ticket: query
            .campaign
            .as_ref()
            .map(|c| (c.id.clone(), c.dose_number)),
    }
}

/// The persons of a block that meet the exact conditions, with the doses
/// to show.
fn matches_in(q: &Checked, block: &FactBlock) -> Vec<(u64, Vec<DoseFacts>)> {
    let text = |i: Option<u32>| i.and_then(|i| block.strings.get(i as usize)).cloned();
    let (mut d, mut t) = (0, 0);
    let mut out = Vec::new();
    for (index, person) in block.persons.iter().enumerate() {
        let index = index as u32;
        let mut doses = Vec::new();
        while let Some(x) = block.doses.get(d).filter(|x| x.person == index) {
            doses.push(DoseFacts {
                dose_number: x.dose_number,
                date: x.date.map(|d| Date::from_days_since_epoch(i64::from(d))),
                vaccine: text(x.vaccine),
                maker: text(x.maker),
                lot: text(x.lot),
                facility_code: text(x.facility_code),
            });
            d += 1;
        }
        let mut tickets = Vec::new();
        while let Some(x) = block.tickets.get(t).filter(|x| x.person == index) {
            if x.valid == Some(true)
                && let (Some(c), Some(n)) = (text(x.campaign), x.dose_number)
            {
                tickets.push((c, n));
            }
            t += 1;
        }
        let birth = person
            .birth_date
            .map(|b| Date::from_days_since_epoch(i64::from(b)));
        if !q.age_matches(birth) || !q.campaign_matches(&tickets, &doses) {
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
        out.push((person.id, shown));
    }
    out
}

/// Finds persons after `q.after` until `limit` match or the host returned
/// `q.max_scan()` persons; returns them and the cursor of the next page
/// (none at the end). A page cut short by the budget has fewer rows than
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
    let condition = condition(q);
    let mut matched = Vec::new();
    let mut after = q.query.after;
    let mut batch_size = (limit + limit / 5).clamp(FIRST_READ, MAX_READ);
    let mut read = 0u32;
    let next = loop {
        if read >= q.max_scan() {
            break Some(after);
        }
        let want = batch_size.min(q.max_scan() - read);
        let block = cohort_facts::read(
            after,
            want,
            &condition,
            resident_fields,
            &dose_fields,
            ticket_fields,
        )
        .map_err(host)?;
        batch_size = (batch_size * 2).min(MAX_READ);
        read += block.persons.len() as u32;
        let mut cut = None;
        for (id, doses) in matches_in(q, &block) {
            matched.push((id, doses));
            if matched.len() == limit as usize {
                cut = Some(id);
                break;
            }
        }
        if cut.is_some() {
            break cut;
        }
        after = block.next_after;
        if block.end {
            break None;
        }
    };
    let mut found = Vec::with_capacity(matched.len());
    for (id, doses) in matched {
        let resident = residents::get(
            id,
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
            id,
            resident,
            doses,
        });
    }
    Ok((found, next))
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
