//! My Number (個人番号): 12 digits, the last a check digit computed by the
//! Ministry of Internal Affairs ordinance (総務省令第85号, art. 5).

/// Number of digits in a My Number.
pub const LEN: usize = 12;

/// The check digit for the first 11 digits (as ASCII digits).
///
/// With `P(n)` the n-th digit counted from the right of the 11 and
/// `Q(n) = n + 1` for n ≤ 6, `n - 5` otherwise: the remainder
/// `r = Σ P(n)·Q(n) mod 11` gives the check digit `0` when `r ≤ 1`,
/// else `11 - r`.
pub fn check_digit(first_eleven: &[u8; 11]) -> u8 {
    let mut sum: u32 = 0;
    for n in 1..=11u32 {
        let p = u32::from(first_eleven[11 - n as usize] - b'0');
        let q = if n <= 6 { n + 1 } else { n - 5 };
        sum += p * q;
    }
    let r = sum % 11;
    if r <= 1 { 0 } else { (11 - r) as u8 }
}

/// Why a string is not a My Number. Carries no digits of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    /// Not exactly 12 ASCII digits.
    Format,
    /// The 12th digit does not match the first 11.
    CheckDigit,
}

impl core::fmt::Display for Invalid {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Invalid::Format => f.write_str("a My Number is exactly 12 digits"),
            Invalid::CheckDigit => f.write_str("the My Number's check digit is wrong"),
        }
    }
}

/// Checks the format and check digit of a My Number.
pub fn validate(number: &str) -> Result<(), Invalid> {
    let bytes = number.as_bytes();
    if bytes.len() != LEN || !bytes.iter().all(u8::is_ascii_digit) {
        return Err(Invalid::Format);
    }
    let first: &[u8; 11] = bytes[..11].try_into().map_err(|_| Invalid::Format)?;
    if check_digit(first) + b'0' == bytes[11] {
        Ok(())
    } else {
        Err(Invalid::CheckDigit)
    }
}

/// Counts the valid My Numbers in a comma-separated list. Used by the
/// native-vs-wasm benchmark as a piece of plain, branchy logic.
pub fn count_valid(list: &str) -> usize {
    list.split(',')
        .filter(|n| validate(n.trim()).is_ok())
        .count()
}

/// Completes 11 digits with their check digit.
pub fn complete(first_eleven: &[u8; 11]) -> [u8; 12] {
    let mut out = [0u8; 12];
    out[..11].copy_from_slice(first_eleven);
    out[11] = b'0' + check_digit(first_eleven);
    out
}

/// Shows only the last 4 digits, for screens that must mask it.
pub fn mask(number: &str) -> String {
    let tail: String = number
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("********{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_numbers_with_a_correct_check_digit() {
        // Published example: 1234 5678 9018.
        assert_eq!(validate("123456789018"), Ok(()));
        assert_eq!(&complete(b"12345678901"), b"123456789018");
    }

    #[test]
    fn refuses_a_wrong_check_digit_and_bad_formats() {
        assert_eq!(validate("123456789010"), Err(Invalid::CheckDigit));
        assert_eq!(validate("12345678901"), Err(Invalid::Format));
        assert_eq!(validate("12345678901a"), Err(Invalid::Format));
        assert_eq!(validate("１２３４５６７８９０１８"), Err(Invalid::Format));
    }

    #[test]
    fn every_eleven_digit_prefix_has_exactly_one_check_digit() {
        let prefix = b"98765432109";
        let valid = (b'0'..=b'9')
            .filter(|d| {
                let mut n = prefix.to_vec();
                n.push(*d);
                validate(std::str::from_utf8(&n).unwrap()).is_ok()
            })
            .count();
        assert_eq!(valid, 1);
    }

    #[test]
    fn masks_all_but_the_last_four_digits() {
        assert_eq!(mask("123456789018"), "********9018");
    }
}
