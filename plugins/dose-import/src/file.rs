//! Reading an import file: its encoding (UTF-8 with or without BOM, or
//! Shift_JIS), its layout (told by the header), and each row's fields.
//! Pure code, tested natively. Problems are reported by line and field,
//! never by value.

use std::collections::HashMap;
use std::rc::Rc;

use kiroku_rules::{Date, vaccine};

/// The VRS export layout, one dose per row.
pub const VRS_HEADER: [&str; 9] = [
    "宛名番号",
    "登録日時",
    "接種日",
    "接種券番号",
    "自治体コード",
    "接種会場",
    "医師名",
    "ワクチンメーカー",
    "ロット番号",
];
/// Kiroku's own layout (documented in the README).
pub const KIROKU_HEADER: [&str; 11] = [
    "address_number",
    "ticket_number",
    "dose_number",
    "date",
    "vaccine",
    "maker",
    "product",
    "lot",
    "amount",
    "facility_code",
    "doctor",
];
/// Longest value of any field.
const MAX_FIELD_CHARS: usize = 200;
/// The vaccine VRS records are for.
const VRS_VACCINE: &str = "covid-19";

/// How the bytes are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// UTF-8 when valid (BOM or not), else Shift_JIS.
    Auto,
    /// UTF-8, with or without BOM.
    Utf8,
    /// Shift_JIS (Windows-31J as the VRS and spreadsheets write it).
    ShiftJis,
}

impl Encoding {
    /// Parses the `encoding` option.
    pub fn parse(name: &str) -> Option<Encoding> {
        match name.to_ascii_lowercase().replace('-', "_").as_str() {
            "" | "auto" => Some(Encoding::Auto),
            "utf8" | "utf_8" => Some(Encoding::Utf8),
            "shift_jis" | "sjis" | "cp932" | "windows_31j" => Some(Encoding::ShiftJis),
            _ => None,
        }
    }
}

/// Decodes the file (in place when it is UTF-8); a file that is not in
/// the encoding is refused whole.
pub fn decode(mut bytes: Vec<u8>, encoding: Encoding) -> Result<String, String> {
    const NOT_UTF8: &str =
        "the file is not valid UTF-8 (send encoding: shift_jis for a Shift_JIS file)";
    let sjis = |bytes: &[u8]| -> Result<String, String> {
        let (text, _, had_errors) = encoding_rs::SHIFT_JIS.decode(bytes);
        if had_errors {
            return Err("the file is neither valid UTF-8 nor valid Shift_JIS".into());
        }
        Ok(text.into_owned())
    };
    if encoding == Encoding::ShiftJis {
        return sjis(&bytes);
    }
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        bytes.drain(..3);
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok(text),
        Err(_) if encoding == Encoding::Utf8 => Err(NOT_UTF8.into()),
        Err(e) => sjis(e.as_bytes()),
    }
}

/// Which layout a file is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// VRS export.
    Vrs,
    /// Kiroku CSV.
    Kiroku,
}

/// How a row names its person.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PersonKey {
    /// By ticket number (preferred when given).
    Ticket(Box<str>),
    /// By address number.
    Address(Box<str>),
}

/// One dose row, checked. Values that repeat across rows (vaccine, maker,
/// doctor, ...) are shared, so a million rows fit a plugin's memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Line in the file (the header is line 1).
    pub line: usize,
    /// Whom it is for.
    pub person: PersonKey,
    /// The dose number, when the layout has one.
    pub dose_number: Option<u32>,
    /// Vaccination date.
    pub date: Date,
    /// Vaccine kind.
    pub vaccine: Rc<str>,
    /// Maker.
    pub maker: Rc<str>,
    /// Product, if given.
    pub product: Option<Rc<str>>,
    /// Lot number.
    pub lot: Box<str>,
    /// Amount in ml, if given.
    pub amount: Option<Rc<str>>,
    /// Facility code, if given.
    pub facility_code: Option<Rc<str>>,
    /// Doctor, if given.
    pub doctor: Option<Rc<str>>,
}

/// A problem with one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// Line in the file.
    pub line: usize,
    /// The column (layout name).
    pub field: &'static str,
    /// What is wrong, without the value.
    pub reason: String,
}

fn row_error(line: usize, field: &'static str, reason: impl Into<String>) -> RowError {
    RowError {
        line,
        field,
        reason: reason.into(),
    }
}

/// Shares repeated values between rows.
#[derive(Default)]
struct Interner(HashMap<Box<str>, Rc<str>>);

impl Interner {
    fn get(&mut self, s: &str) -> Rc<str> {
        if let Some(shared) = self.0.get(s) {
            return shared.clone();
        }
        let shared: Rc<str> = Rc::from(s);
        self.0.insert(s.into(), shared.clone());
        shared
    }

    fn opt(&mut self, s: &str) -> Option<Rc<str>> {
        (!s.is_empty()).then(|| self.get(s))
    }
}

/// The parsed file: good rows and row errors, in file order.
#[derive(Debug, Default)]
pub struct Parsed {
    /// Rows that passed every check.
    pub rows: Vec<Row>,
    /// Rows that did not.
    pub errors: Vec<RowError>,
}

fn layout_of(header: &[String]) -> Result<Layout, String> {
    let matches = |expected: &[&str]| {
        header.len() == expected.len() && header.iter().zip(expected).all(|(a, b)| a.trim() == *b)
    };
    if matches(&VRS_HEADER) {
        Ok(Layout::Vrs)
    } else if matches(&KIROKU_HEADER) {
        Ok(Layout::Kiroku)
    } else {
        Err(format!(
            "the header matches neither the VRS export layout ({}) nor the Kiroku layout ({})",
            VRS_HEADER.join(","),
            KIROKU_HEADER.join(",")
        ))
    }
}

fn digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

/// `YYYYMMDD` to a date.
fn compact_date(s: &str) -> Option<Date> {
    if !digits(s, 8) {
        return None;
    }
    Date::parse(&format!("{}-{}-{}", &s[..4], &s[4..6], &s[6..])).ok()
}

/// Parses the file's text. A wrong header refuses the whole file.
pub fn parse(text: &str, municipality: &str, today: Date) -> Result<(Layout, Parsed), String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut records = reader.records();
    let header: Vec<String> = match records.next() {
        Some(Ok(h)) => h.iter().map(str::to_owned).collect(),
        Some(Err(_)) => return Err("the header line is not valid CSV".into()),
        None => return Err("the file is empty".into()),
    };
    let layout = layout_of(&header)?;
    let names: &'static [&'static str] = match layout {
        Layout::Vrs => &VRS_HEADER,
        Layout::Kiroku => &KIROKU_HEADER,
    };
    let mut parsed = Parsed::default();
    let mut shared = Interner::default();
    for (i, record) in records.enumerate() {
        let line = i + 2;
        let record = match record {
            Ok(r) => r,
            Err(_) => {
                parsed.errors.push(row_error(line, "*", "not valid CSV"));
                continue;
            }
        };
        if record.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        if record.len() != names.len() {
            parsed.errors.push(row_error(
                line,
                "*",
                format!(
                    "has {} columns, the layout has {}",
                    record.len(),
                    names.len()
                ),
            ));
            continue;
        }
        let fields: Vec<&str> = record.iter().map(str::trim).collect();
        if let Some(k) = fields
            .iter()
            .position(|f| f.chars().count() > MAX_FIELD_CHARS)
        {
            parsed.errors.push(row_error(
                line,
                names[k],
                format!("longer than {MAX_FIELD_CHARS} characters"),
            ));
            continue;
        }
        let row = match layout {
            Layout::Vrs => vrs_row(line, &fields, municipality, &mut shared),
            Layout::Kiroku => kiroku_row(line, &fields, &mut shared),
        };
        match row.and_then(|r| check_common(r, today)) {
            Ok(r) => parsed.rows.push(r),
            Err(e) => parsed.errors.push(e),
        }
    }
    Ok((layout, parsed))
}

/// Whom a row is for: the ticket number (checked) when given, else the
/// address number; `ticket_field` names the ticket column in the layout.
fn person_key(
    line: usize,
    ticket: &str,
    address: &str,
    ticket_field: &'static str,
) -> Result<PersonKey, RowError> {
    if !ticket.is_empty() {
        kiroku_rules::ticket::validate(ticket)
            .map_err(|e| row_error(line, ticket_field, e.to_string()))?;
        Ok(PersonKey::Ticket(ticket.into()))
    } else if !address.is_empty() {
        Ok(PersonKey::Address(address.into()))
    } else {
        Err(row_error(
            line,
            ticket_field,
            "give a ticket number or an address number",
        ))
    }
}

fn vrs_row(
    line: usize,
    f: &[&str],
    municipality: &str,
    shared: &mut Interner,
) -> Result<Row, RowError> {
    let [
        address,
        registered,
        date,
        ticket,
        code,
        _venue,
        doctor,
        maker,
        lot,
    ] = f
    else {
        unreachable!("column count checked")
    };
    if !digits(registered, 14) || compact_date(&registered[..8]).is_none() {
        return Err(row_error(line, "登録日時", "must be YYYYMMDDHHMMSS"));
    }
    let date =
        compact_date(date).ok_or_else(|| row_error(line, "接種日", "must be a date YYYYMMDD"))?;
    if *code != municipality {
        return Err(row_error(
            line,
            "自治体コード",
            "is not this municipality's code (another municipality's record)",
        ));
    }
    let person = person_key(line, ticket, address, "接種券番号")?;
    Ok(Row {
        line,
        person,
        dose_number: None,
        date,
        vaccine: shared.get(VRS_VACCINE),
        maker: shared.get(maker),
        product: None,
        lot: (*lot).into(),
        amount: None,
        facility_code: None,
        doctor: shared.opt(doctor),
    })
}

fn kiroku_row(line: usize, f: &[&str], shared: &mut Interner) -> Result<Row, RowError> {
    let [
        address,
        ticket,
        dose,
        date,
        vaccine,
        maker,
        product,
        lot,
        amount,
        facility,
        doctor,
    ] = f
    else {
        unreachable!("column count checked")
    };
    let person = person_key(line, ticket, address, "ticket_number")?;
    let dose_number = dose
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=20).contains(n))
        .ok_or_else(|| row_error(line, "dose_number", "must be 1-20"))?;
    let date =
        Date::parse(date).map_err(|_| row_error(line, "date", "must be a date yyyy-mm-dd"))?;
    if vaccine.is_empty() {
        return Err(row_error(line, "vaccine", "is required"));
    }
    if !facility.is_empty() && !digits(facility, 10) {
        return Err(row_error(line, "facility_code", "must be 10 digits"));
    }
    if !amount.is_empty()
        && amount
            .parse::<f64>()
            .map_or(true, |a| !(a > 0.0 && a <= 1.0))
    {
        return Err(row_error(
            line,
            "amount",
            "must be a dose in ml, above 0 and at most 1.0",
        ));
    }
    Ok(Row {
        line,
        person,
        dose_number: Some(dose_number),
        date,
        vaccine: shared.get(vaccine),
        maker: shared.get(maker),
        product: shared.opt(product),
        lot: (*lot).into(),
        amount: shared.opt(amount),
        facility_code: shared.opt(facility),
        doctor: shared.opt(doctor),
    })
}

fn check_common(mut row: Row, today: Date) -> Result<Row, RowError> {
    let (date_field, maker_field, lot_field) = match row.dose_number {
        None => ("接種日", "ワクチンメーカー", "ロット番号"),
        Some(_) => ("date", "maker", "lot"),
    };
    if row.date > today {
        return Err(row_error(row.line, date_field, "is in the future"));
    }
    if row.date < Date::new(2021, 1, 1).expect("valid") && &*row.vaccine == VRS_VACCINE {
        return Err(row_error(
            row.line,
            date_field,
            "is before COVID-19 vaccination began",
        ));
    }
    if row.maker.is_empty() {
        return Err(row_error(row.line, maker_field, "is required"));
    }
    // One vocabulary with the counter: the maker's id is what is stored.
    let Some(maker) = vaccine::maker(&row.maker) else {
        return Err(row_error(
            row.line,
            maker_field,
            "is not a known vaccine maker",
        ));
    };
    // A maker's product list is of its COVID-19 vaccine; other vaccines
    // (influenza) keep the product as written.
    let covid = &*row.vaccine == VRS_VACCINE;
    if covid
        && row
            .product
            .as_deref()
            .is_some_and(|p| vaccine::product(maker, p).is_none())
    {
        return Err(row_error(
            row.line,
            "product",
            "is not a product of this row's maker",
        ));
    }
    row.maker = Rc::from(maker.id);
    if row.lot.is_empty()
        || !row
            .lot
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
    {
        return Err(row_error(
            row.line,
            lot_field,
            "must be letters, digits and '-'",
        ));
    }
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TODAY: Date = Date {
        year: 2026,
        month: 11,
        day: 27,
    };

    fn vrs(rows: &[&str]) -> String {
        let mut s = VRS_HEADER.join(",");
        for r in rows {
            s.push('\n');
            s.push_str(r);
        }
        s
    }

    #[test]
    fn reads_utf8_with_and_without_bom_and_shift_jis() {
        let text = vrs(&["1000000001,20240102103000,20240102,,142051,会場,医師,ファイザー,AB1234"]);
        let bom = [b"\xEF\xBB\xBF".as_slice(), text.as_bytes()].concat();
        let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode(&text);
        for bytes in [text.as_bytes(), &bom, &sjis] {
            let decoded = decode(bytes.to_vec(), Encoding::Auto).unwrap();
            let (layout, parsed) = parse(&decoded, "142051", TODAY).unwrap();
            assert_eq!(layout, Layout::Vrs);
            assert_eq!(parsed.errors, vec![]);
            assert_eq!(&*parsed.rows[0].maker, "pfizer");
        }
        assert!(decode(sjis.to_vec(), Encoding::Utf8).is_err());
        assert!(decode(b"\xff\xff\xfe".to_vec(), Encoding::Auto).is_err());
    }

    #[test]
    fn refuses_a_wrong_header_and_reports_bad_rows_by_line_and_field() {
        assert!(parse("a,b,c\n1,2,3", "142051", TODAY).is_err());
        assert!(parse("", "142051", TODAY).is_err());
        let good_ticket = kiroku_rules::ticket::for_person(7, 0).unwrap();
        let text = vrs(&[
            &format!("1,20240102103000,20240102,{good_ticket},142051,v,d,モデルナ,L1"),
            "1,20240102103000,20240230,,142051,v,d,モデルナ,L1",
            "1,20240102103000,20240102,,131016,v,d,m,L1",
            "1,20240102103000,20240102,1234567890,142051,v,d,モデルナ,L1",
            "1,20240102103000,20270102,,142051,v,d,モデルナ,L1",
            "1,2024,20240102,,142051,v,d,モデルナ,L1",
            "1,20240102103000,20240102,,142051,v,d,モデルナ",
        ]);
        let (_, parsed) = parse(&text, "142051", TODAY).unwrap();
        assert_eq!(parsed.rows.len(), 1);
        let got: Vec<(usize, &str)> = parsed.errors.iter().map(|e| (e.line, e.field)).collect();
        assert_eq!(
            got,
            vec![
                (3, "接種日"),
                (4, "自治体コード"),
                (5, "接種券番号"),
                (6, "接種日"),
                (7, "登録日時"),
                (8, "*"),
            ]
        );
    }

    #[test]
    fn reads_the_kiroku_layout() {
        let text = format!(
            "{}\n1000000001,,2,2024-01-02,covid-19,Pfizer,Comirnaty,FA1234,0.3,1234567890,Dr\n,,2,2024-01-02,covid-19,Pfizer,,FA1,,,\n",
            KIROKU_HEADER.join(",")
        );
        let (layout, parsed) = parse(&text, "142051", TODAY).unwrap();
        assert_eq!(layout, Layout::Kiroku);
        assert_eq!(parsed.rows[0].dose_number, Some(2));
        assert_eq!(parsed.errors[0].line, 3);
        assert_eq!(&*parsed.rows[0].maker, "pfizer");
    }

    #[test]
    fn makers_products_and_vaccines_come_from_the_one_vocabulary() {
        let row = |vaccine: &str, maker: &str, product: &str| {
            format!("1000000001,,2,2024-01-02,{vaccine},{maker},{product},FA1234,0.3,,")
        };
        let text = [
            KIROKU_HEADER.join(","),
            row("covid-19", "acme", ""),
            row("covid-19", "ファイ\u{FEFF}ザー", ""),
            row("covid-19", "pfizer", "spikevax"),
            row("influenza", "acme", ""),
            row("covid-19", "ｍｏｄｅｒｎａ", "スパイクバックス"),
        ]
        .join("\n");
        let (_, parsed) = parse(&text, "142051", TODAY).unwrap();
        let got: Vec<(usize, &str)> = parsed.errors.iter().map(|e| (e.line, e.field)).collect();
        assert_eq!(
            got,
            vec![(2, "maker"), (3, "maker"), (4, "product"), (5, "maker")]
        );
        assert_eq!(parsed.rows.len(), 1);
        assert_eq!(&*parsed.rows[0].maker, "moderna");
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    const TODAY: Date = Date {
        year: 2026,
        month: 11,
        day: 27,
    };
    const GOOD: [&str; 9] = [
        "1000000001",
        "20240102103000",
        "20240102",
        "",
        "142051",
        "会場",
        "医師",
        "ファイザー",
        "AB1234",
    ];

    proptest! {
        /// Any bytes, in any encoding: rows or errors, never a panic.
        #[test]
        fn any_bytes_are_read_or_refused(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            for encoding in [Encoding::Auto, Encoding::Utf8, Encoding::ShiftJis] {
                if let Ok(text) = decode(bytes.clone(), encoding) {
                    let _ = parse(&text, "142051", TODAY);
                }
            }
        }

        /// A bad cell anywhere is reported by line and column, and its
        /// value is never in the reason.
        #[test]
        fn a_bad_cell_is_named_never_quoted(
            column in 0usize..9,
            value in "[0-9A-Zぁ-ん]{6,20}",
        ) {
            let mut cells = GOOD;
            cells[column] = &value;
            let text = format!("{}\n{}", VRS_HEADER.join(","), cells.join(","));
            let (_, parsed) = parse(&text, "142051", TODAY).unwrap();
            for e in &parsed.errors {
                prop_assert_eq!(e.line, 2);
                prop_assert!(!e.reason.contains(value.as_str()), "{}", e.reason);
            }
        }
    }
}
