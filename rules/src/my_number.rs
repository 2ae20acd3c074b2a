//! My Number (個人番号): 12 digits, the last a check digit computed by the
//! Ministry of Internal Affairs ordinance (総務省令第85号, art. 5).

/// Number of digits in a My Number.
pub const LEN: usize = 12;

/// Weight of each of the first 11 digits, left to right.
///
/// The ordinance counts from the right: with `P(n)` the n-th digit from
/// the right, `Q(n) = n + 1` for n ≤ 6 and `n - 5` otherwise.
const WEIGHTS: [u32; 11] = [6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2];

/// The check digit for the first 11 digits (as ASCII digits): with
/// `r = Σ P(n)·Q(n) mod 11`, `0` when `r ≤ 1`, else `11 - r`.
pub fn check_digit(first_eleven: &[u8; 11]) -> u8 {
    let sum: u32 = first_eleven
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d.wrapping_sub(b'0')) * w)
        .sum();
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
    validate_bytes(number.as_bytes())
}

/// [`validate`] on bytes: one pass, no allocation (also the hot loop of
/// resident feeds and of the native-vs-wasm benchmark).
pub fn validate_bytes(bytes: &[u8]) -> Result<(), Invalid> {
    let Ok(digits): Result<&[u8; LEN], _> = bytes.try_into() else {
        return Err(Invalid::Format);
    };
    let mut sum = 0u32;
    for (d, w) in digits[..11].iter().zip(WEIGHTS) {
        let d = d.wrapping_sub(b'0');
        if d > 9 {
            return Err(Invalid::Format);
        }
        sum += u32::from(d) * w;
    }
    let check = digits[11].wrapping_sub(b'0');
    if check > 9 {
        return Err(Invalid::Format);
    }
    let r = sum % 11;
    let expected = if r <= 1 { 0 } else { 11 - r };
    if u32::from(check) == expected {
        Ok(())
    } else {
        Err(Invalid::CheckDigit)
    }
}

/// Counts the valid My Numbers in a comma-separated list (ASCII spaces
/// around each are ignored). Used by the native-vs-wasm benchmark as a
/// piece of plain, branchy logic.
pub fn count_valid(list: &str) -> usize {
    list.as_bytes()
        .split(|b| *b == b',')
        .filter(|item| validate_bytes(item.trim_ascii()).is_ok())
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
