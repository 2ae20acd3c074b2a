//! Validation of a dose as entered at the counter: formats of each field.
//! Rules that compare with stored data (consecutive numbers, status, dates
//! against birth and earlier doses) live in `lib.rs` next to the lookups.

use crate::bindings::exports::kiroku::plugin::handler::Error;

/// Vaccines this function records.
pub const VACCINES: &[&str] = &["covid-19"];

/// Makers authorised in Japan and their products (katakana and Latin names).
pub const MAKERS: &[(&str, &[&str])] = &[
    ("pfizer", &["コミナティ", "comirnaty"]),
    ("moderna", &["スパイクバックス", "spikevax"]),
    ("takeda", &["ヌバキソビッド", "nuvaxovid"]),
    ("astrazeneca", &["バキスゼブリア", "vaxzevria"]),
    ("daiichi-sankyo", &["ダイチロナ", "daichirona"]),
    ("meiji-seika", &["コスタイベ", "kostaive"]),
];

/// Highest dose number accepted.
pub const MAX_DOSE_NUMBER: u64 = 20;
/// Shortest acceptable override reason: a word, not a keystroke.
pub const MIN_REASON_CHARS: usize = 4;

fn invalid(message: impl Into<String>) -> Error {
    Error::Invalid(message.into())
}

/// Lower-cases and checks a maker; returns its canonical name.
pub fn maker(value: &str) -> Result<&'static str, Error> {
    let v = value.trim().to_ascii_lowercase().replace([' ', '_'], "-");
    MAKERS
        .iter()
        .map(|(m, _)| *m)
        .find(|m| *m == v)
        .ok_or_else(|| {
            let known: Vec<_> = MAKERS.iter().map(|(m, _)| *m).collect();
            invalid(format!(
                "maker is not a known vaccine maker (known: {})",
                known.join(", ")
            ))
        })
}

/// Checks that the product belongs to the maker.
pub fn product(maker: &str, value: &str) -> Result<String, Error> {
    let products = MAKERS
        .iter()
        .find(|(m, _)| *m == maker)
        .map(|(_, p)| *p)
        .unwrap_or(&[]);
    let lower = value.trim().to_lowercase();
    if products.iter().any(|p| p.to_lowercase() == lower) {
        Ok(value.trim().to_owned())
    } else {
        Err(invalid(format!(
            "product is not a product of {maker} (products: {})",
            products.join(", ")
        )))
    }
}

/// Upper-cases and checks a lot number: 4-12 letters, digits or hyphens,
/// starting with a letter or digit.
pub fn lot(value: &str) -> Result<String, Error> {
    let v: String = value
        .trim()
        .chars()
        .map(|c| match c {
            'Ａ'..='Ｚ' | 'ａ'..='ｚ' | '０'..='９' => {
                char::from_u32(c as u32 - 0xFEE0).unwrap_or(c)
            }
            'ー' | '－' => '-',
            c => c,
        })
        .collect::<String>()
        .to_ascii_uppercase();
    let ok = (4..=12).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
        && v.as_bytes()[0] != b'-';
    if ok {
        Ok(v)
    } else {
        Err(invalid(
            "lot must be 4-12 letters, digits or hyphens (e.g. FA5765)",
        ))
    }
}

/// Checks an amount in millilitres: more than 0, at most 1.0, two decimals.
pub fn amount(value: &str) -> Result<String, Error> {
    let v = value.trim();
    let (whole, frac) = v.split_once('.').unwrap_or((v, ""));
    let digits_ok = !whole.is_empty()
        && whole.bytes().all(|b| b.is_ascii_digit())
        && frac.len() <= 2
        && frac.bytes().all(|b| b.is_ascii_digit());
    let hundredths = whole.parse::<u32>().ok().filter(|_| digits_ok).map(|w| {
        let f = format!("{frac:0<2}").parse::<u32>().unwrap_or(0);
        w * 100 + f
    });
    match hundredths {
        Some(h) if (1..=100).contains(&h) => Ok(format!("{}.{:02}", h / 100, h % 100)
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned()),
        _ => Err(invalid(
            "amount must be millilitres between 0.01 and 1.0, e.g. 0.3",
        )),
    }
}

/// Checks a 10-digit medical facility code.
pub fn facility_code(value: &str) -> Result<String, Error> {
    let v = value.trim();
    if v.len() == 10 && v.bytes().all(|b| b.is_ascii_digit()) {
        Ok(v.to_owned())
    } else {
        Err(invalid(
            "facility_code must be the 10-digit medical facility code",
        ))
    }
}

/// Checks the doctor's name.
pub fn doctor(value: &str) -> Result<String, Error> {
    let v = value.trim();
    if v.chars().count() <= 60 && !v.chars().any(char::is_control) {
        Ok(v.to_owned())
    } else {
        Err(invalid("doctor must be a name of at most 60 characters"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_counter_input() {
        assert_eq!(lot("fa5765").unwrap(), "FA5765");
        assert_eq!(lot("ＦＡ５７６５").unwrap(), "FA5765");
        assert!(lot("F").is_err());
        assert!(lot("-ABC").is_err());
        assert_eq!(amount("0.30").unwrap(), "0.3");
        assert_eq!(amount("0.25").unwrap(), "0.25");
        assert_eq!(amount("1").unwrap(), "1");
        assert!(amount("1.5").is_err());
        assert!(amount("0").is_err());
        assert!(amount("abc").is_err());
        assert_eq!(maker("Pfizer").unwrap(), "pfizer");
        assert!(maker("acme").is_err());
        assert!(product("pfizer", "スパイクバックス").is_err());
        assert!(product("moderna", "Spikevax").is_ok());
    }
}
