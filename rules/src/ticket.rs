//! Ticket numbers (接種券番号) as Kiroku issues them: 10 digits, the last a
//! Luhn check digit, so a mistyped number at the counter is caught before
//! any lookup.

/// Digits in a ticket number.
pub const LEN: usize = 10;

fn luhn_digit(body: &[u8]) -> u8 {
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(d - b'0');
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

/// The ticket number for a 9-digit serial.
pub fn from_serial(serial: u64) -> String {
    let body = format!("{:09}", serial % 1_000_000_000);
    let check = luhn_digit(body.as_bytes());
    format!("{body}{check}")
}

/// Most tickets one person can hold under [`for_person`]'s numbering.
pub const MAX_PER_PERSON: u64 = 100;
/// Persons numbered by [`for_person`]: the serial has 9 digits.
pub const MAX_PERSON_ID: u64 = 1_000_000_000 / MAX_PER_PERSON - 1;

/// The number of a person's next ticket when they already hold `held`:
/// every issuing plugin uses this, so numbers never collide within a
/// tenant. `person` is the id the host hands out; its serial (see
/// [`crate::person`]) numbers the ticket. `None` past [`MAX_PER_PERSON`]
/// tickets or a serial above [`MAX_PERSON_ID`].
pub fn for_person(person: u64, held: u64) -> Option<String> {
    let person = crate::person::serial(person);
    if held >= MAX_PER_PERSON || person > MAX_PERSON_ID {
        return None;
    }
    Some(from_serial(person * MAX_PER_PERSON + held))
}

/// Why a string is not a ticket number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    /// Not 10 digits.
    Format,
    /// The check digit does not match.
    CheckDigit,
}

impl core::fmt::Display for Invalid {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Invalid::Format => f.write_str("a ticket number is exactly 10 digits"),
            Invalid::CheckDigit => {
                f.write_str("the ticket number's check digit is wrong (mistyped?)")
            }
        }
    }
}

/// Checks format and check digit.
pub fn validate(number: &str) -> Result<(), Invalid> {
    let b = number.as_bytes();
    if b.len() != LEN || !b.iter().all(u8::is_ascii_digit) {
        return Err(Invalid::Format);
    }
    if luhn_digit(&b[..LEN - 1]) + b'0' == b[LEN - 1] {
        Ok(())
    } else {
        Err(Invalid::CheckDigit)
    }
}

/// Longest campaign id.
pub const MAX_CAMPAIGN_ID_LEN: usize = 40;

/// Whether `id` is a campaign id (`covid-2024-autumn`): 1-40 lowercase
/// letters, digits or `-`, with at least one letter (a bare number is
/// more likely a value typed into the wrong field).
pub fn is_campaign_id(id: &str) -> bool {
    (1..=MAX_CAMPAIGN_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && id.bytes().any(|b| b.is_ascii_lowercase())
}

/// Digits in a ticket's OCR line.
pub const OCR_LEN: usize = 18;

/// The 18-digit OCR line printed on a ticket: ticket type (1 digit), dose
/// number (1 digit), municipality code (6 digits), ticket number (10
/// digits). `None` when a part does not fit its width.
pub fn ocr_line(
    ticket_type: u8,
    dose_number: u32,
    municipality: &str,
    number: &str,
) -> Option<String> {
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    if ticket_type > 9 || dose_number > 9 || !digits(municipality, 6) || !digits(number, LEN) {
        return None;
    }
    Some(format!("{ticket_type}{dose_number}{municipality}{number}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ocr_line_is_type_dose_municipality_ticket() {
        let n = from_serial(42);
        let line = ocr_line(1, 3, "142051", &n).unwrap();
        assert_eq!(line.len(), OCR_LEN);
        assert_eq!(line, format!("13142051{n}"));
        assert_eq!(ocr_line(1, 10, "142051", &n), None);
        assert_eq!(ocr_line(1, 1, "14205", &n), None);
    }

    #[test]
    fn issued_numbers_validate_and_typos_do_not() {
        let n = from_serial(123_456_789);
        assert_eq!(validate(&n), Ok(()));
        let mut typo = n.into_bytes();
        typo[3] = if typo[3] == b'9' { b'0' } else { typo[3] + 1 };
        assert_eq!(
            validate(std::str::from_utf8(&typo).unwrap()),
            Err(Invalid::CheckDigit)
        );
        assert_eq!(validate("12345"), Err(Invalid::Format));
        // Known Luhn example: 7992739871 + 3.
        assert_eq!(luhn_digit(b"7992739871"), 3);
    }
}
