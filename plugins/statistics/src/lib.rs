//! statistics: counts of doses by date, age band, dose number, maker and
//! district, as CSV and JSON in the shape of VRS open data
//! (`summary_by_date.csv`), with small-cell suppression (see `tally`).
//! No person-level output: only counts leave the plugin.

#[allow(unsafe_code)] // generated ABI glue
mod bindings {
    wit_bindgen::generate!({
        path: ["../../wit/records", "../../wit/health", "../../wit/plugin", "wit"],
        world: "kiroku-plugins:statistics/statistics",
        generate_all,
    });
    use super::Statistics;
    export!(Statistics);
}

mod tally;

use std::collections::BTreeMap;

use bindings::exports::kiroku::plugin::handler::{Error, Guest, Operation};
use bindings::kiroku::health::{cohort, jobs};
use bindings::kiroku::records::doses::DoseField;
use bindings::kiroku::records::residents::ResidentField;
use bindings::kiroku::records::types::Error as HostError;
use kiroku_rules::Date;
use serde::Deserialize;
use serde_json::{Value, json};
use tally::Counted;

/// Default small-cell threshold: counts below it are suppressed.
const DEFAULT_THRESHOLD: u64 = 10;
/// Lowest threshold a request may ask for: below it, counts of a few
/// people in a district and age band can point at someone.
const MIN_THRESHOLD: u64 = 5;
/// Persons per `cohort.scan` call.
const SCAN_BATCH: u32 = 1_000;
/// What `counts` can group by.
const DIMENSIONS: [&str; 5] = ["date", "age_band", "dose_number", "maker", "district"];

struct Statistics;

fn host(e: HostError) -> Error {
    match e {
        HostError::AccessDenied(m) => Error::AccessDenied(m),
        HostError::NotFound(m) => Error::NotFound(m),
        HostError::Invalid(m) => Error::Invalid(m),
        HostError::Conflict(m) => Error::Conflict(m),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Request {
    /// Doses on or after.
    from: Option<String>,
    /// Doses on or before.
    to: Option<String>,
    /// Only this vaccine (default: all).
    vaccine: Option<String>,
    /// Small-cell threshold.
    threshold: Option<u64>,
    /// `counts`: the dimensions to group by.
    #[serde(default)]
    group_by: Vec<String>,
}

struct Checked {
    from: Option<Date>,
    to: Option<Date>,
    vaccine: Option<String>,
    threshold: u64,
    group_by: Vec<String>,
}

fn check(input: &str) -> Result<Checked, Error> {
    let r: Request = if input.trim().is_empty() {
        Request::default()
    } else {
        serde_json::from_str(input).map_err(|e| {
            Error::Invalid(format!(
                "the request: {}",
                kiroku_rules::safe_text::serde_message(&e.to_string())
            ))
        })?
    };
    let date = |field: &str, v: &Option<String>| {
        v.as_deref()
            .map(|s| {
                Date::parse(s)
                    .map_err(|_| Error::Invalid(format!("{field} must be a date (yyyy-mm-dd)")))
            })
            .transpose()
    };
    let threshold = r.threshold.unwrap_or(DEFAULT_THRESHOLD);
    if threshold < MIN_THRESHOLD {
        return Err(Error::Invalid(format!(
            "threshold must be at least {MIN_THRESHOLD}"
        )));
    }
    for d in &r.group_by {
        if !DIMENSIONS.contains(&d.as_str()) {
            return Err(Error::Invalid(format!(
                "group_by: no dimension {} (dimensions: {})",
                kiroku_rules::safe_text::field_name(d),
                DIMENSIONS.join(", ")
            )));
        }
    }
    Ok(Checked {
        from: date("from", &r.from)?,
        to: date("to", &r.to)?,
        vaccine: r.vaccine,
        threshold,
        group_by: r.group_by,
    })
}

/// Every dose in range, with the person's age on its date and district.
fn collect(c: &Checked) -> Result<Vec<Counted>, Error> {
    let total = cohort::count().map_err(host)?;
    let (mut after, mut done, mut out) = (0u64, 0u64, Vec::new());
    loop {
        let batch = cohort::scan(
            after,
            SCAN_BATCH,
            &[ResidentField::BirthDate, ResidentField::Address],
            &[
                DoseField::DoseNumber,
                DoseField::Date,
                DoseField::Vaccine,
                DoseField::Maker,
            ],
            &[],
        )
        .map_err(host)?;
        let Some(last) = batch.last() else { break };
        after = last.id;
        done += batch.len() as u64;
        for m in batch {
            let Some(birth) = m
                .resident
                .birth_date
                .as_deref()
                .and_then(|b| Date::parse(b).ok())
            else {
                continue;
            };
            let district = tally::district(m.resident.address.as_deref().unwrap_or(""));
            for d in m.doses {
                let (Some(n), Some(date)) = (
                    d.dose_number,
                    d.date.as_deref().and_then(|s| Date::parse(s).ok()),
                ) else {
                    continue;
                };
                let in_range = c.from.is_none_or(|f| date >= f) && c.to.is_none_or(|t| date <= t);
                let vaccine_ok = c
                    .vaccine
                    .as_ref()
                    .is_none_or(|v| d.vaccine.as_ref() == Some(v));
                if in_range && vaccine_ok {
                    out.push(Counted {
                        date,
                        dose_number: n,
                        age: birth.age_on(date),
                        maker: d.maker.unwrap_or_default(),
                        district: district.clone(),
                    });
                }
            }
        }
        if jobs::progress(done, total.max(done)) {
            return Err(Error::Conflict("cancelled by staff".into()));
        }
    }
    Ok(out)
}

fn summary_by_date(input: &str) -> Result<String, Error> {
    let c = check(input)?;
    if !c.group_by.is_empty() {
        return Err(Error::Invalid(
            "summary-by-date has a fixed shape; use counts to group".into(),
        ));
    }
    let doses = collect(&c)?;
    let csv = tally::summary_by_date(&doses, c.threshold);
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
    let rows: Vec<Value> = lines
        .map(|line| {
            let mut row = serde_json::Map::new();
            for (name, cell) in header.iter().zip(line.split(',')) {
                let value = match (name, cell.parse::<u64>()) {
                    (&"date", _) => json!(cell),
                    (_, Ok(n)) => json!(n),
                    _ => json!("suppressed"),
                };
                row.insert((*name).to_owned(), value);
            }
            Value::Object(row)
        })
        .collect();
    Ok(json!({
        "threshold": c.threshold,
        "file": "summary_by_date.csv",
        "csv": csv,
        "rows": rows,
    })
    .to_string())
}

fn key_of(d: &Counted, dims: &[String]) -> String {
    dims.iter()
        .map(|dim| match dim.as_str() {
            "date" => d.date.to_string(),
            "age_band" => tally::age_band(d.age),
            "dose_number" => d.dose_number.to_string(),
            // One group per maker, however each dose spelled it.
            "maker" => kiroku_rules::vaccine::maker_key(&d.maker).to_owned(),
            _ => d.district.clone(),
        })
        .collect::<Vec<_>>()
        .join("|")
}

fn counts(input: &str) -> Result<String, Error> {
    let c = check(input)?;
    if c.group_by.is_empty() {
        return Err(Error::Invalid(format!(
            "group_by is required (dimensions: {})",
            DIMENSIONS.join(", ")
        )));
    }
    let doses = collect(&c)?;
    let mut raw: BTreeMap<String, u64> = BTreeMap::new();
    for d in &doses {
        *raw.entry(key_of(d, &c.group_by)).or_default() += 1;
    }
    let table = tally::suppress(&raw, c.threshold);
    let cells: Vec<Value> = table
        .cells
        .iter()
        .map(|(key, cell)| {
            let mut row = serde_json::Map::new();
            for (dim, part) in c.group_by.iter().zip(key.split('|')) {
                row.insert(dim.clone(), json!(part));
            }
            row.insert("count".into(), cell.json());
            Value::Object(row)
        })
        .collect();
    let mut csv = c.group_by.join(",");
    csv.push_str(",count\n");
    for (key, cell) in &table.cells {
        csv.push_str(&key.replace('|', ","));
        csv.push(',');
        csv.push_str(&cell.text());
        csv.push('\n');
    }
    csv.push_str(&format!(
        "{}total,{}\n",
        ",".repeat(c.group_by.len() - 1),
        table.total.text()
    ));
    Ok(json!({
        "threshold": c.threshold,
        "group_by": c.group_by,
        "cells": cells,
        "total": table.total.json(),
        "csv": csv,
    })
    .to_string())
}

impl Guest for Statistics {
    fn describe() -> Vec<Operation> {
        vec![
            Operation {
                name: "summary-by-date".into(),
                summary: "Doses per day by shot and age group, as VRS open data's summary_by_date.csv."
                    .into(),
                writes: false,
            },
            Operation {
                name: "counts".into(),
                summary: "Doses grouped by date, age band, dose number, maker or district, small cells suppressed."
                    .into(),
                writes: false,
            },
        ]
    }

    fn handle(operation: String, input: String) -> Result<String, Error> {
        match operation.as_str() {
            "summary-by-date" => summary_by_date(&input),
            "counts" => counts(&input),
            other => Err(Error::UnknownOperation(format!(
                "statistics has no operation {other}"
            ))),
        }
    }
}
