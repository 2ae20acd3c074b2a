//! Parsing and validating a feed. Error messages name the row and the
//! field, never the value (they reach logs and screens).

use kiroku_rules::{Date, my_number};
use serde::Deserialize;

use crate::bindings::exports::kiroku::plugin::handler::Error;

/// Most rows one batch may carry; a day's feed of a large city is far less.
pub const MAX_ROWS: usize = 50_000;
/// Most problems listed in one refusal.
const MAX_LISTED_PROBLEMS: usize = 50;

/// What a row does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Op {
    /// A new resident (birth, move-in); an existing address number is updated.
    Add,
    /// Changed facts of an existing resident.
    Update,
    /// Moved out of the municipality on `date` to `destination`.
    MoveOut,
    /// Died on `date`.
    Death,
}

/// One row of the feed, both layouts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// What the row does.
    pub op: Op,
    /// Address number (宛名番号), the key.
    pub address_number: String,
    /// My Number.
    pub my_number: Option<String>,
    /// Name in katakana.
    pub kana_name: Option<String>,
    /// Name in kanji.
    pub kanji_name: Option<String>,
    /// Birth date.
    pub birth_date: Option<String>,
    /// `1` or `2`.
    pub sex: Option<String>,
    /// Postal code.
    pub postal_code: Option<String>,
    /// Address.
    pub address: Option<String>,
    /// Building / room.
    pub building: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Date of a move-out or death.
    pub date: Option<String>,
    /// Move-out destination.
    pub destination: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    records: Option<Vec<serde_json::Value>>,
    csv: Option<String>,
}

/// Full-width digits and hyphens to ASCII, spaces trimmed; empty is absent.
fn ascii_digits(value: &Option<String>) -> Option<String> {
    let v: String = value
        .as_deref()?
        .trim()
        .chars()
        .map(|c| match c {
            '０'..='９' => char::from_u32(c as u32 - '０' as u32 + '0' as u32).unwrap_or(c),
            'ー' | '－' | '‐' => '-',
            c => c,
        })
        .collect();
    (!v.is_empty()).then_some(v)
}

fn trimmed(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

fn is_kana(c: char) -> bool {
    matches!(c, '\u{30A0}'..='\u{30FF}' | '\u{FF65}'..='\u{FF9F}' | ' ' | '　')
}

struct Problems(Vec<String>);

impl Problems {
    fn add(&mut self, row: usize, field: &str, problem: &str) {
        self.0.push(format!("row {row}: {field}: {problem}"));
    }
}

/// Cleans and checks one record in place.
fn check(row: usize, r: &mut Record, today: Date, p: &mut Problems) {
    r.address_number = ascii_digits(&Some(r.address_number.clone())).unwrap_or_default();
    if r.address_number.is_empty()
        || r.address_number.len() > 15
        || !r.address_number.bytes().all(|b| b.is_ascii_digit())
    {
        p.add(row, "address_number", "1 to 15 digits are required");
    }
    r.my_number = ascii_digits(&r.my_number);
    r.birth_date = ascii_digits(&r.birth_date);
    r.date = ascii_digits(&r.date);
    r.postal_code = ascii_digits(&r.postal_code).map(|c| c.replace('-', ""));
    r.phone = ascii_digits(&r.phone);
    for field in [
        &mut r.kana_name,
        &mut r.kanji_name,
        &mut r.sex,
        &mut r.address,
        &mut r.building,
        &mut r.destination,
    ] {
        *field = trimmed(field);
    }
    let past_date = |value: &Option<String>, field: &str, p: &mut Problems| match value
        .as_deref()
        .map(Date::parse)
    {
        Some(Ok(d)) if d > today => p.add(row, field, "is in the future"),
        Some(Ok(d)) if d.year < 1900 => p.add(row, field, "is before 1900"),
        Some(Err(_)) => p.add(row, field, "must be a real date written yyyy-mm-dd"),
        _ => {}
    };
    past_date(&r.birth_date, "birth_date", p);
    past_date(&r.date, "date", p);
    if let Some(Err(e)) = r.my_number.as_deref().map(my_number::validate) {
        p.add(row, "my_number", &e.to_string());
    }
    if r.kana_name
        .as_deref()
        .is_some_and(|k| !k.chars().all(is_kana))
    {
        p.add(row, "kana_name", "must be written in katakana");
    }
    if r.sex.as_deref().is_some_and(|s| s != "1" && s != "2") {
        p.add(row, "sex", "must be 1 (male) or 2 (female)");
    }
    if r.postal_code
        .as_deref()
        .is_some_and(|c| c.len() != 7 || !c.bytes().all(|b| b.is_ascii_digit()))
    {
        p.add(row, "postal_code", "must be 7 digits");
    }
    if r.phone
        .as_deref()
        .is_some_and(|t| t.len() > 15 || !t.bytes().all(|b| b.is_ascii_digit() || b == b'-'))
    {
        p.add(row, "phone", "must be digits and hyphens");
    }
    let required: &[(&str, bool)] = match r.op {
        Op::Add => &[
            ("my_number", r.my_number.is_some()),
            ("kana_name", r.kana_name.is_some()),
            ("kanji_name", r.kanji_name.is_some()),
            ("birth_date", r.birth_date.is_some()),
            ("sex", r.sex.is_some()),
            ("address", r.address.is_some()),
        ],
        Op::MoveOut => &[
            ("date", r.date.is_some()),
            ("destination", r.destination.is_some()),
        ],
        Op::Death => &[("date", r.date.is_some())],
        Op::Update => &[],
    };
    for (field, present) in required {
        if !present {
            p.add(row, field, "is required");
        }
    }
    let status_fields = r.date.is_some() || r.destination.is_some();
    if matches!(r.op, Op::Add | Op::Update) && status_fields {
        p.add(
            row,
            "date/destination",
            "belong to move-out and death rows only",
        );
    }
    if r.op == Op::Death && r.destination.is_some() {
        p.add(row, "destination", "belongs to move-out rows only");
    }
    let has_resident_fields = r.my_number.is_some()
        || r.kana_name.is_some()
        || r.kanji_name.is_some()
        || r.birth_date.is_some()
        || r.sex.is_some()
        || r.postal_code.is_some()
        || r.address.is_some()
        || r.building.is_some()
        || r.phone.is_some();
    if matches!(r.op, Op::MoveOut | Op::Death) && has_resident_fields {
        p.add(
            row,
            "resident fields",
            "send changes of facts as an update row",
        );
    }
    if r.op == Op::Update && !has_resident_fields {
        p.add(row, "update", "changes nothing; give at least one field");
    }
}

fn parse_csv(text: &str) -> Result<Vec<Record>, Error> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|_| Error::Invalid("the CSV header row is unreadable".into()))?
        .clone();
    let known = [
        "op",
        "address_number",
        "my_number",
        "kana_name",
        "kanji_name",
        "birth_date",
        "sex",
        "postal_code",
        "address",
        "building",
        "phone",
        "date",
        "destination",
    ];
    // Columns are named by position: a header cell can be a value (a CSV
    // sent without its header row).
    for (i, h) in headers.iter().enumerate() {
        if !known.contains(&h) {
            return Err(Error::Invalid(format!(
                "CSV column {} of the header is unknown (columns: {})",
                i + 1,
                known.join(", ")
            )));
        }
        if headers.iter().take(i).any(|earlier| earlier == h) {
            return Err(Error::Invalid(format!(
                "CSV column {} repeats the {h} column; each column may appear once",
                i + 1
            )));
        }
    }
    for required in ["op", "address_number"] {
        if !headers.iter().any(|h| h == required) {
            return Err(Error::Invalid(format!(
                "the CSV header lacks the {required} column"
            )));
        }
    }
    let mut records = Vec::new();
    for (i, row) in reader.records().enumerate() {
        let row = row.map_err(|e| {
            let what = match e.kind() {
                csv::ErrorKind::UnequalLengths {
                    expected_len, len, ..
                } => {
                    format!("has {len} fields where the header has {expected_len}")
                }
                csv::ErrorKind::Utf8 { .. } => "is not valid UTF-8".to_owned(),
                _ => "is malformed".to_owned(),
            };
            Error::Invalid(format!("CSV row {} {what}", i + 1))
        })?;
        let mut object = serde_json::Map::new();
        for (h, v) in headers.iter().zip(row.iter()) {
            if !v.is_empty() {
                object.insert(h.to_owned(), serde_json::Value::String(v.to_owned()));
            }
        }
        records.push(record_from_json(i + 1, serde_json::Value::Object(object))?);
        if records.len() > MAX_ROWS {
            return Err(Error::Invalid(format!(
                "a batch may carry at most {MAX_ROWS} rows"
            )));
        }
    }
    Ok(records)
}

fn record_from_json(row: usize, value: serde_json::Value) -> Result<Record, Error> {
    let Some(object) = value.as_object() else {
        return Err(Error::Invalid(format!("row {row}: must be an object")));
    };
    // Type errors from serde quote the value; catch them first.
    for (field, v) in object {
        if !(v.is_string() || v.is_null()) {
            return Err(Error::Invalid(format!(
                "row {row}: {} must be a string",
                kiroku_rules::safe_text::field_name(field)
            )));
        }
    }
    serde_json::from_value(value).map_err(|e| {
        let message = e.to_string();
        let text = if message.contains("unknown variant") {
            "op must be add, update, move-out or death".to_owned()
        } else {
            kiroku_rules::safe_text::serde_message(&message)
        };
        Error::Invalid(format!("row {row}: {text}"))
    })
}

/// Parses and validates a whole batch.
pub fn parse(input: &str, today: &str) -> Result<Vec<Record>, Error> {
    let today =
        Date::parse(today).map_err(|_| Error::Internal("the host gave an invalid date".into()))?;
    let input: Input = serde_json::from_str(input).map_err(|_| {
        Error::Invalid("the input must be {\"records\": [...]} or {\"csv\": \"...\"}".into())
    })?;
    let mut records = match (input.records, input.csv) {
        (Some(rows), None) => {
            if rows.len() > MAX_ROWS {
                return Err(Error::Invalid(format!(
                    "a batch may carry at most {MAX_ROWS} rows"
                )));
            }
            rows.into_iter()
                .enumerate()
                .map(|(i, v)| record_from_json(i + 1, v))
                .collect::<Result<Vec<_>, _>>()?
        }
        (None, Some(text)) => parse_csv(&text)?,
        _ => return Err(Error::Invalid("give either records or csv".into())),
    };
    if records.is_empty() {
        return Err(Error::Invalid("the batch is empty".into()));
    }
    let mut problems = Problems(Vec::new());
    for (i, r) in records.iter_mut().enumerate() {
        check(i + 1, r, today, &mut problems);
    }
    if problems.0.is_empty() {
        return Ok(records);
    }
    let total = problems.0.len();
    let mut listed: Vec<String> = problems.0.into_iter().take(MAX_LISTED_PROBLEMS).collect();
    if total > MAX_LISTED_PROBLEMS {
        listed.push(format!("and {} more", total - MAX_LISTED_PROBLEMS));
    }
    Err(Error::Invalid(format!(
        "the batch was not applied; {total} problem(s): {}",
        listed.join("; ")
    )))
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    const FIELDS: [&str; 13] = [
        "op",
        "address_number",
        "my_number",
        "kana_name",
        "kanji_name",
        "birth_date",
        "sex",
        "postal_code",
        "address",
        "building",
        "phone",
        "date",
        "destination",
    ];

    fn message(e: Error) -> String {
        match e {
            Error::Invalid(m) | Error::Internal(m) => m,
            other => format!("{other:?}"),
        }
    }

    proptest! {
        /// Any text as the input: records or an error, never a panic.
        #[test]
        fn any_input_is_read_or_refused(text in any::<String>()) {
            let _ = parse(&text, "2026-12-01");
            let _ = parse(&serde_json::json!({ "csv": text }).to_string(), "2026-12-01");
        }

        /// A bad value in any field, or a value where a column name goes,
        /// is never quoted back.
        #[test]
        fn a_bad_value_is_named_never_quoted(
            field in prop::sample::select(FIELDS.to_vec()),
            value in "[0-9A-Zぁ-ん]{6,20}",
        ) {
            let mut record = serde_json::json!({
                "op": "add", "address_number": "1000000001", "my_number": "999396841450",
                "kana_name": "オカダ シュン", "kanji_name": "岡田 駿", "birth_date": "1935-06-15",
                "sex": "1", "address": "神奈川県藤沢市藤沢1丁目",
            });
            record[field] = serde_json::json!(value);
            let input = serde_json::json!({ "records": [record] }).to_string();
            if let Err(e) = parse(&input, "2026-12-01") {
                let m = message(e);
                prop_assert!(!m.contains(value.as_str()), "{}", m);
            }
            let csv = format!("op,address_number,{value}\nadd,1000000001,x\n");
            if let Err(e) = parse(&serde_json::json!({ "csv": csv }).to_string(), "2026-12-01") {
                let m = message(e);
                prop_assert!(!m.contains(value.as_str()), "{}", m);
            }
        }
    }
}
