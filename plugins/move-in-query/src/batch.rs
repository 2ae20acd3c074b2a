//! The nightly batch: a CSV of `address_number,previous` (a header line
//! naming them is optional) run as one job. Rows are asked in chunks, each
//! chunk concurrently by the host; the report has one line per row:
//! found, no-record, refused, pending, or error with why.

use base64::Engine;
use serde_json::{Map, Value, json};

use super::bindings::exports::kiroku::plugin::handler::Error;
use super::bindings::kiroku::federation::federation::{self as fed, Outcome, QueryItem};
use super::bindings::kiroku::health::jobs;
use super::{PURPOSE, answer_json, basis_of, invalid, outcome_name, person_and_number};

/// Most rows a batch may have.
pub const MAX_ROWS: usize = 100_000;
/// Rows sent in one host call.
const CHUNK: usize = 200;

struct Row {
    line: usize,
    address: String,
    previous: String,
}

fn rows(text: &str) -> Result<Vec<Row>, Error> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut out = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|_| invalid(format!("line {}: not valid CSV", i + 1)))?;
        let cells: Vec<&str> = record.iter().map(str::trim).collect();
        if cells.iter().all(|c| c.is_empty()) {
            continue;
        }
        if i == 0 && cells.first() == Some(&"address_number") {
            continue;
        }
        if cells.len() != 2 {
            return Err(invalid(format!(
                "line {}: expected 2 columns (address_number,previous)",
                i + 1
            )));
        }
        out.push(Row {
            line: i + 1,
            address: cells[0].to_owned(),
            previous: cells[1].to_owned(),
        });
        if out.len() > MAX_ROWS {
            return Err(invalid(format!("a batch has at most {MAX_ROWS} rows")));
        }
    }
    Ok(out)
}

fn error_line(line: usize, e: &Error) -> Value {
    let reason = match e {
        Error::Invalid(m)
        | Error::NotFound(m)
        | Error::AccessDenied(m)
        | Error::Conflict(m)
        | Error::UnknownOperation(m)
        | Error::Internal(m) => m.clone(),
    };
    json!({ "line": line, "result": "error", "reason": reason })
}

/// Runs the batch.
pub fn run(input: &str) -> Result<String, Error> {
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(input) else {
        return Err(invalid("the input must be a JSON object"));
    };
    let options: &Map<String, Value> = &map;
    let file = options
        .get("file_base64")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("send the CSV as the request body (Content-Type: text/csv)"))?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(file)
        .map_err(|_| invalid("file_base64 is not base64"))?;
    let text = String::from_utf8(bytes).map_err(|_| invalid("the file is not UTF-8"))?;
    let basis = basis_of(options)?;
    let take_up = matches!(options.get("take_up").and_then(Value::as_str), Some("true"));
    let rows = rows(&text)?;
    let total = rows.len() as u64;
    let mut report = Vec::with_capacity(rows.len());
    let mut counts = [0u64; 5];
    for (c, chunk) in rows.chunks(CHUNK).enumerate() {
        let mut asked = Vec::new();
        let mut lines = Vec::new();
        for row in chunk {
            match person_and_number(&row.address) {
                Ok((_, number)) => {
                    asked.push(QueryItem {
                        previous: row.previous.clone(),
                        my_number: number,
                    });
                    lines.push(row.line);
                }
                Err(e) => {
                    counts[4] += 1;
                    report.push(error_line(row.line, &e));
                }
            }
        }
        let answers = fed::query_many(&asked, PURPOSE, &basis).map_err(super::host)?;
        for (line, answer) in lines.into_iter().zip(answers) {
            let answer = match answer {
                Ok(a) => a,
                Err(e) => {
                    counts[4] += 1;
                    report.push(error_line(line, &super::host(e)));
                    continue;
                }
            };
            let mut out = answer_json(&answer);
            out["line"] = json!(line);
            out["result"] = json!(outcome_name(answer.outcome));
            if take_up && answer.outcome == Outcome::Found {
                let id = answer.query_id.clone().unwrap_or_default();
                out["dose_ids"] = json!(fed::take_up(&id).map_err(super::host)?);
                out.as_object_mut().expect("an object").remove("query_id");
            }
            out.as_object_mut().expect("an object").remove("doses");
            out["doses"] = json!(answer.doses.len());
            counts[answer.outcome as usize] += 1;
            report.push(out);
        }
        let done = ((c + 1) * CHUNK).min(rows.len()) as u64;
        if jobs::progress(done, total) {
            return Err(invalid("cancelled"));
        }
    }
    Ok(json!({
        "rows": total,
        "found": counts[0],
        "no_record": counts[1],
        "refused": counts[2],
        "pending": counts[3],
        "errors": counts[4],
        "report": report,
    })
    .to_string())
}
