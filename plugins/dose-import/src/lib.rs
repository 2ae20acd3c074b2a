//! dose-import: bulk import of dose records from a VRS export or a Kiroku
//! CSV (UTF-8 with or without BOM, or Shift_JIS). Rows are matched to
//! persons by ticket number (a voided ticket is refused) or address
//! number. Importing the same file twice adds nothing the second time:
//! a dose already recorded for the person on that date is skipped.
//!
//! Every row is checked before anything is written: bad rows are reported
//! by line, field and reason (never value); the good rows are applied, or
//! none with `all_or_nothing`.

#[allow(unsafe_code)] // generated ABI glue
mod bindings {
    wit_bindgen::generate!({
        path: ["../../wit/records", "../../wit/health", "../../wit/plugin", "wit"],
        world: "kiroku-plugins:dose-import/dose-import",
        generate_all,
    });
    use super::DoseImport;
    export!(DoseImport);
}

mod file;

use std::collections::HashMap;
use std::rc::Rc;

use base64::Engine as _;
use bindings::exports::kiroku::plugin::handler::{Error, Guest, Operation};
use bindings::kiroku::health::{campaign_tickets, jobs};
use bindings::kiroku::records::doses::{self, Dose, DoseField};
use bindings::kiroku::records::types::Error as HostError;
use bindings::kiroku::records::{context, residents};
use file::{Encoding, Layout, PersonKey, Row, RowError};
use kiroku_rules::Date;
use serde::Deserialize;
use serde_json::{Value, json};

/// Most row errors listed in the report (the total is always given).
const MAX_LISTED_ERRORS: usize = 1_000;
/// Rows between progress reports.
const PROGRESS_EVERY: usize = 1_000;

struct DoseImport;

fn invalid(message: impl Into<String>) -> Error {
    Error::Invalid(message.into())
}

fn host(e: HostError) -> Error {
    match e {
        HostError::AccessDenied(m) => Error::AccessDenied(m),
        HostError::NotFound(m) => Error::NotFound(m),
        HostError::Invalid(m) => Error::Invalid(m),
        HostError::Conflict(m) => Error::Conflict(m),
    }
}

struct Options {
    file: Vec<u8>,
    encoding: Encoding,
    all_or_nothing: bool,
    dry_run: bool,
}

/// A flag given as JSON boolean or (from a query string) as text.
fn flag(v: Option<&Value>, name: &str) -> Result<bool, Error> {
    match v {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s == "true" || s == "1" => Ok(true),
        Some(Value::String(s)) if s == "false" || s == "0" || s.is_empty() => Ok(false),
        Some(_) => Err(invalid(format!("{name} must be true or false"))),
    }
}

/// The input as sent; the file's base64 is borrowed from the input text,
/// not copied, so a large file fits the plugin's memory.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOptions<'a> {
    #[serde(borrow)]
    file_base64: Option<&'a str>,
    encoding: Option<String>,
    all_or_nothing: Option<Value>,
    dry_run: Option<Value>,
}

/// Reads the options and decodes the file, then frees the input.
fn parse_options(input: String) -> Result<Options, Error> {
    let raw: RawOptions<'_> = serde_json::from_str(&input).map_err(|e| {
        invalid(format!(
            "the input: {}",
            kiroku_rules::safe_text::serde_message(&e.to_string())
        ))
    })?;
    let file = raw.file_base64.ok_or_else(|| {
        invalid("send the file as the request body (Content-Type: text/csv), or as file_base64")
    })?;
    let file = base64::engine::general_purpose::STANDARD
        .decode(file)
        .map_err(|_| invalid("file_base64 is not base64"))?;
    let encoding = match raw.encoding.as_deref() {
        None => Encoding::Auto,
        Some(name) => Encoding::parse(name)
            .ok_or_else(|| invalid("encoding must be auto, utf-8 or shift_jis"))?,
    };
    let options = Options {
        file,
        encoding,
        all_or_nothing: flag(raw.all_or_nothing.as_ref(), "all_or_nothing")?,
        dry_run: flag(raw.dry_run.as_ref(), "dry_run")?,
    };
    drop(input);
    Ok(options)
}

/// A dose as the import compares it: (number, date, vaccine).
type Known = (u32, Date, Rc<str>);

/// What the import found out about each row before writing: the rows to
/// add as (person, dose number, index into the rows), and the rest.
struct Plan {
    add: Vec<(u64, u32, usize)>,
    already: usize,
    errors: Vec<RowError>,
}

fn row_error(row: &Row, field: &'static str, reason: impl Into<String>) -> RowError {
    RowError {
        line: row.line,
        field,
        reason: reason.into(),
    }
}

fn person_field(row: &Row, layout: Layout) -> &'static str {
    match (layout, &row.person) {
        (Layout::Vrs, PersonKey::Ticket(_)) => "接種券番号",
        (Layout::Vrs, PersonKey::Address(_)) => "宛名番号",
        (Layout::Kiroku, PersonKey::Ticket(_)) => "ticket_number",
        (Layout::Kiroku, PersonKey::Address(_)) => "address_number",
    }
}

fn find_person(key: &PersonKey) -> Result<Result<u64, String>, Error> {
    let found = match key {
        PersonKey::Ticket(t) => campaign_tickets::find(t),
        PersonKey::Address(a) => residents::find_by_address_number(a),
    };
    match found {
        Ok(Some(id)) => Ok(Ok(id)),
        Ok(None) => Ok(Err("matches no person of this municipality".into())),
        Err(HostError::Invalid(m)) | Err(HostError::NotFound(m)) => Ok(Err(m)),
        Err(e) => Err(host(e)),
    }
}

fn known_doses(person: u64) -> Result<Vec<Known>, Error> {
    let doses = doses::for_person(
        person,
        &[DoseField::DoseNumber, DoseField::Date, DoseField::Vaccine],
    )
    .map_err(host)?;
    Ok(doses
        .into_iter()
        .filter_map(|d| {
            Some((
                d.dose_number?,
                Date::parse(d.date.as_deref()?).ok()?,
                Rc::from(d.vaccine.unwrap_or_default()),
            ))
        })
        .collect())
}

fn cancelled() -> Error {
    Error::Conflict("cancelled by staff: nothing was imported".into())
}

/// Matches rows to persons and decides, per row, add / skip / error. Each
/// person's rows are taken in date order, so dose numbers follow dates.
fn plan(
    layout: Layout,
    rows: &[Row],
    mut errors: Vec<RowError>,
    total: u64,
) -> Result<Plan, Error> {
    let mut persons: HashMap<&PersonKey, Result<u64, String>> = HashMap::new();
    let mut order: Vec<(u64, usize)> = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        if !persons.contains_key(&row.person) {
            persons.insert(&row.person, find_person(&row.person)?);
        }
        match &persons[&row.person] {
            Ok(id) => order.push((*id, i)),
            Err(reason) => errors.push(row_error(row, person_field(row, layout), reason.clone())),
        }
        if (i + 1) % PROGRESS_EVERY == 0 && jobs::progress(i as u64 + 1, total) {
            return Err(cancelled());
        }
    }
    drop(persons);
    order.sort_by_key(|&(person, i)| (person, rows[i].date, rows[i].line));
    let (mut add, mut already) = (Vec::with_capacity(order.len()), 0);
    let mut k = 0;
    while k < order.len() {
        let person = order[k].0;
        let mut known = known_doses(person)?;
        while k < order.len() && order[k].0 == person {
            let i = order[k].1;
            k += 1;
            let row = &rows[i];
            if known
                .iter()
                .any(|(_, d, v)| *d == row.date && *v == row.vaccine)
            {
                already += 1;
                continue;
            }
            let same_vaccine = known.iter().filter(|(_, _, v)| *v == row.vaccine);
            let number = match row.dose_number {
                Some(n) => {
                    if same_vaccine.clone().any(|(k, _, _)| *k == n) {
                        errors.push(row_error(
                            row,
                            "dose_number",
                            "the person already has this dose on another date",
                        ));
                        continue;
                    }
                    n
                }
                None => {
                    if same_vaccine.clone().any(|(_, d, _)| *d > row.date) {
                        errors.push(row_error(
                            row,
                            "接種日",
                            "a later dose is already recorded, so this dose's number cannot be inferred",
                        ));
                        continue;
                    }
                    same_vaccine.count() as u32 + 1
                }
            };
            known.push((number, row.date, row.vaccine.clone()));
            add.push((person, number, i));
        }
    }
    errors.sort_by_key(|e| e.line);
    Ok(Plan {
        add,
        already,
        errors,
    })
}

fn import(input: String, write: bool) -> Result<String, Error> {
    let options = parse_options(input)?;
    let (all_or_nothing, dry_run) = (options.all_or_nothing, options.dry_run);
    let text = file::decode(options.file, options.encoding).map_err(invalid)?;
    let today = Date::parse(&context::today()).map_err(|_| Error::Internal("today".into()))?;
    let code = campaign_tickets::municipality_code();
    let (layout, parsed) = file::parse(&text, &code, today).map_err(invalid)?;
    drop(text);
    let rows = parsed.rows.len() + parsed.errors.len();
    let total = (rows * 2) as u64;
    let plan = plan(layout, &parsed.rows, parsed.errors, total)?;
    let blocked = all_or_nothing && !plan.errors.is_empty();
    let apply = write && !dry_run && !blocked;
    let mut applied = 0usize;
    if apply {
        let text = |v: &Option<Rc<str>>| v.as_deref().map(str::to_owned);
        for (i, &(person, number, at)) in plan.add.iter().enumerate() {
            let row = &parsed.rows[at];
            let dose = Dose {
                id: 0,
                dose_number: Some(number),
                date: Some(row.date.to_string()),
                vaccine: Some(row.vaccine.to_string()),
                maker: Some(row.maker.to_string()),
                product: text(&row.product),
                lot: Some(row.lot.to_string()),
                amount: text(&row.amount),
                facility_code: text(&row.facility_code),
                doctor: text(&row.doctor),
                override_reason: None,
                entered_by: None,
                entered_at: None,
                verified_by: None,
                verified_at: None,
            };
            doses::add(person, &dose).map_err(|e| match e {
                HostError::Invalid(m) => invalid(format!("line {}: {m}", row.line)),
                other => host(other),
            })?;
            applied += 1;
            if (i + 1) % PROGRESS_EVERY == 0 && jobs::progress((rows + i + 1) as u64, total) {
                return Err(Error::Conflict(
                    "cancelled by staff: nothing was imported".into(),
                ));
            }
        }
    }
    jobs::progress(total, total);
    let listed: Vec<Value> = plan
        .errors
        .iter()
        .take(MAX_LISTED_ERRORS)
        .map(|e| json!({"line": e.line, "field": e.field, "reason": e.reason}))
        .collect();
    Ok(json!({
        "layout": match layout { Layout::Vrs => "vrs", Layout::Kiroku => "kiroku" },
        "rows": rows,
        "applied": applied,
        "to_apply": plan.add.len(),
        "already_recorded": plan.already,
        "error_rows": plan.errors.len(),
        "errors": listed,
        "all_or_nothing": all_or_nothing,
        "dry_run": !write || dry_run,
        "nothing_applied_because_of_errors": blocked,
    })
    .to_string())
}

impl Guest for DoseImport {
    fn describe() -> Vec<Operation> {
        vec![
            Operation {
                name: "import".into(),
                summary: "Imports dose records (VRS export or Kiroku CSV); re-importing adds nothing twice."
                    .into(),
                writes: true,
            },
            Operation {
                name: "check".into(),
                summary: "Checks an import file and reports what it would apply; writes nothing."
                    .into(),
                writes: false,
            },
        ]
    }

    fn handle(operation: String, input: String) -> Result<String, Error> {
        match operation.as_str() {
            "import" => import(input, true),
            "check" => import(input, false),
            other => Err(Error::UnknownOperation(format!(
                "dose-import has no operation {other}"
            ))),
        }
    }
}
