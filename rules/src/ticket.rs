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

#[cfg(test)]
mod tests {
    use super::*;

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
