//! Validation of a dose as entered at the counter: formats of each field.
//! Rules that compare with stored data (consecutive numbers, status, dates
//! against birth and earlier doses) live in `lib.rs` next to the lookups.

use crate::bindings::exports::kiroku::plugin::handler::Error;
use kiroku_rules::vaccine;

/// Vaccines this function records.
pub use kiroku_rules::vaccine::VACCINES;

/// Highest dose number accepted.
pub const MAX_DOSE_NUMBER: u64 = 20;
/// Shortest acceptable override reason: a word, not a keystroke.
pub const MIN_REASON_CHARS: usize = 4;

fn invalid(message: impl Into<String>) -> Error {
    Error::Invalid(message.into())
}

/// Checks a maker against the one vocabulary; returns its id.
pub fn maker(value: &str) -> Result<&'static str, Error> {
    vaccine::maker(value).map(|m| m.id).ok_or_else(|| {
        invalid(format!(
            "maker is not a known vaccine maker (known: {})",
            vaccine::maker_ids()
        ))
    })
}

/// Checks that the product belongs to the maker (given by its id).
pub fn product(maker: &str, value: &str) -> Result<String, Error> {
    let known = vaccine::maker(maker);
    match known.and_then(|m| vaccine::product(m, value)) {
        Some(_) => Ok(value.trim().to_owned()),
        None => Err(invalid(format!(
            "product is not a product of {maker} (products: {})",
            known.map(|m| m.products.join(", ")).unwrap_or_default()
        ))),
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
