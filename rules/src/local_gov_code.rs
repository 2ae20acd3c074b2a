//! Local government codes (全国地方公共団体コード): 5 digits and a check
//! digit (JIS X 0401/0402), e.g. 142051 for Fujisawa, 141003 for Yokohama.

/// Why a string is not a local government code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    /// Not exactly 6 ASCII digits.
    Format,
    /// The 6th digit does not match the first 5.
    CheckDigit {
        /// The digit the first 5 call for.
        expected: u8,
    },
}

impl core::fmt::Display for Invalid {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Invalid::Format => f.write_str("a local government code is exactly 6 digits"),
            Invalid::CheckDigit { expected } => write!(
                f,
                "the local government code's check digit is wrong (the first 5 digits call for {expected})"
            ),
        }
    }
}

/// The check digit for 5 ASCII digits: weights 6,5,4,3,2; `11 - (sum mod 11)`,
/// keeping only its last decimal digit.
pub fn check_digit(first_five: &[u8; 5]) -> u8 {
    let sum: u32 = first_five
        .iter()
        .zip([6u32, 5, 4, 3, 2])
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    ((11 - sum % 11) % 10) as u8
}

/// Checks the format and check digit of a 6-digit code.
pub fn validate(code: &str) -> Result<(), Invalid> {
    let bytes = code.as_bytes();
    if bytes.len() != 6 || !bytes.iter().all(u8::is_ascii_digit) {
        return Err(Invalid::Format);
    }
    let first: &[u8; 5] = bytes[..5].try_into().map_err(|_| Invalid::Format)?;
    let expected = check_digit(first);
    if expected + b'0' == bytes[5] {
        Ok(())
    } else {
        Err(Invalid::CheckDigit { expected })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_real_codes() {
        for code in ["142051", "141003", "131016", "011002", "271004", "472018"] {
            assert_eq!(validate(code), Ok(()), "{code}");
        }
    }

    #[test]
    fn refuses_a_wrong_check_digit() {
        assert_eq!(validate("142052"), Err(Invalid::CheckDigit { expected: 1 }));
        assert_eq!(validate("14205"), Err(Invalid::Format));
        assert_eq!(validate("14205x"), Err(Invalid::Format));
    }
}
