//! Counting doses and suppressing small cells. Pure code, tested natively.
//!
//! Suppression: a count below the threshold (but above zero) is shown as
//! suppressed. A table with a total must not let the total give a
//! suppressed cell back, so when exactly one cell of a table is suppressed
//! the next smallest non-zero cell is suppressed too (secondary
//! suppression); when no such cell exists the total is suppressed.

use std::collections::BTreeMap;

use kiroku_rules::Date;

/// Age bands: five-year bands up to 100+, as the health centre reports.
pub fn age_band(age: i32) -> String {
    if age >= 100 {
        return "100-".into();
    }
    let low = (age.max(0) / 5) * 5;
    format!("{low}-{}", low + 4)
}

/// The district of an address: the town name after the city (市) or ward
/// (区), up to the first block number.
pub fn district(address: &str) -> String {
    let after_city = address
        .rfind(['市', '区'])
        .map(|i| &address[i + '市'.len_utf8()..])
        .unwrap_or(address);
    let end = after_city
        .char_indices()
        .find(|(_, c)| {
            c.is_ascii_digit()
                || ('０'..='９').contains(c)
                || "一二三四五六七八九十丁番".contains(*c)
        })
        .map_or(after_city.len(), |(i, _)| i);
    let name = after_city[..end].trim();
    if name.is_empty() {
        "(不明)".into()
    } else {
        name.to_owned()
    }
}

/// One dose as counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted {
    /// Vaccination date.
    pub date: Date,
    /// Dose number.
    pub dose_number: u32,
    /// Age on the vaccination date.
    pub age: i32,
    /// Maker.
    pub maker: String,
    /// District.
    pub district: String,
}

/// A count that may be suppressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell {
    /// Shown.
    Shown(u64),
    /// Below the threshold (or suppressed to protect one that is).
    Suppressed,
}

impl Cell {
    /// As JSON: the number, or the string `"suppressed"`.
    pub fn json(self) -> serde_json::Value {
        match self {
            Cell::Shown(n) => n.into(),
            Cell::Suppressed => "suppressed".into(),
        }
    }

    /// As CSV text: the number, or `*`.
    pub fn text(self) -> String {
        match self {
            Cell::Shown(n) => n.to_string(),
            Cell::Suppressed => "*".into(),
        }
    }
}

/// A one-dimensional table with its total, suppressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// Cells by key.
    pub cells: BTreeMap<String, Cell>,
    /// The total.
    pub total: Cell,
}

/// Suppresses a table of raw counts (see the module docs).
pub fn suppress(counts: &BTreeMap<String, u64>, threshold: u64) -> Table {
    let small = |n: u64| n > 0 && n < threshold;
    let mut cells: BTreeMap<String, Cell> = counts
        .iter()
        .map(|(k, &n)| {
            (
                k.clone(),
                if small(n) {
                    Cell::Suppressed
                } else {
                    Cell::Shown(n)
                },
            )
        })
        .collect();
    let total: u64 = counts.values().sum();
    let suppressed = cells.values().filter(|c| **c == Cell::Suppressed).count();
    let mut total_cell = Cell::Shown(total);
    if suppressed == 1 {
        let next = counts
            .iter()
            .filter(|(k, n)| **n > 0 && cells[*k] != Cell::Suppressed)
            .min_by_key(|(_, n)| **n)
            .map(|(k, _)| k.clone());
        match next {
            Some(k) => {
                cells.insert(k, Cell::Suppressed);
            }
            None => total_cell = Cell::Suppressed,
        }
    }
    if small(total) {
        total_cell = Cell::Suppressed;
    }
    Table {
        cells,
        total: total_cell,
    }
}

/// The VRS open-data shots named in `summary_by_date.csv`'s columns.
pub const SHOT_NAMES: [&str; 7] = [
    "first", "second", "third", "fourth", "fifth", "sixth", "seventh",
];
/// VRS counts people 65 and over as elderly.
pub const ELDERLY_AGE: i32 = 65;

/// `summary_by_date.csv` as VRS publishes it (date, then per shot a
/// general and an elderly count), for doses 1-7, each cell suppressed.
pub fn summary_by_date(doses: &[Counted], threshold: u64) -> String {
    let mut by_date: BTreeMap<Date, [u64; 14]> = BTreeMap::new();
    for d in doses {
        if !(1..=7).contains(&d.dose_number) {
            continue;
        }
        let col = (d.dose_number as usize - 1) * 2 + usize::from(d.age >= ELDERLY_AGE);
        by_date.entry(d.date).or_insert([0; 14])[col] += 1;
    }
    let mut out = String::from("date");
    for shot in SHOT_NAMES {
        out.push_str(&format!(
            ",count_{shot}_shot_general,count_{shot}_shot_elderly"
        ));
    }
    out.push('\n');
    for (date, counts) in by_date {
        out.push_str(&date.to_string());
        for n in counts {
            out.push(',');
            let small = n > 0 && n < threshold;
            out.push_str(
                &if small {
                    Cell::Suppressed
                } else {
                    Cell::Shown(n)
                }
                .text(),
            );
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
        pairs.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect()
    }

    #[test]
    fn small_cells_are_suppressed_and_the_total_cannot_give_them_back() {
        let t = suppress(&counts(&[("a", 50), ("b", 3), ("c", 20), ("d", 0)]), 10);
        assert_eq!(t.cells["a"], Cell::Shown(50));
        assert_eq!(t.cells["b"], Cell::Suppressed);
        assert_eq!(t.cells["c"], Cell::Suppressed, "secondary suppression");
        assert_eq!(t.cells["d"], Cell::Shown(0));
        assert_eq!(t.total, Cell::Shown(73));
        // total - shown = 23 = b + c: neither alone can be derived.

        let alone = suppress(&counts(&[("a", 4)]), 10);
        assert_eq!(
            (alone.cells["a"], alone.total),
            (Cell::Suppressed, Cell::Suppressed)
        );
        let two = suppress(&counts(&[("a", 4), ("b", 2), ("c", 30)]), 10);
        assert_eq!(two.cells["c"], Cell::Shown(30));
        assert_eq!(two.total, Cell::Shown(36));
    }

    #[test]
    fn bands_districts_and_the_vrs_shape() {
        assert_eq!(age_band(0), "0-4");
        assert_eq!(age_band(67), "65-69");
        assert_eq!(age_band(103), "100-");
        assert_eq!(
            district("神奈川県藤沢市辻堂東海岸3丁目4番5号"),
            "辻堂東海岸"
        );
        assert_eq!(district("神奈川県藤沢市鵠沼桜が岡一丁目"), "鵠沼桜が岡");
        let d = |n, age| Counted {
            date: Date::parse("2022-02-01").unwrap(),
            dose_number: n,
            age,
            maker: "m".into(),
            district: "x".into(),
        };
        let mut doses = vec![d(3, 70); 12];
        doses.push(d(3, 40));
        let csv = summary_by_date(&doses, 10);
        let mut lines = csv.lines();
        assert!(lines.next().unwrap().starts_with(
            "date,count_first_shot_general,count_first_shot_elderly,count_second_shot_general"
        ));
        assert_eq!(
            lines.next().unwrap(),
            "2022-02-01,0,0,0,0,*,12,0,0,0,0,0,0,0,0"
        );
    }
}
