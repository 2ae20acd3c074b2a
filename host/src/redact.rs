//! A safety net for text plugins send to the host's log (log messages,
//! stdout, stderr): plugins are told never to log personal values, and a
//! hostile one would anyway, so long digit runs (My Numbers, phone numbers,
//! ticket numbers, dates) are masked before anything is written.

/// Digit runs this long or longer are masked.
const MIN_MASKED_DIGITS: usize = 8;

/// Masks every run of 8 or more digits (spaces and hyphens between digits
/// count as part of the run; full-width digits too).
pub fn digits(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let is_digit = |c: char| c.is_ascii_digit() || ('０'..='９').contains(&c);
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if !is_digit(chars[i]) {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        // Extend the run over digits and single separators between digits.
        let (start, mut end, mut count) = (i, i, 0);
        let mut j = i;
        while j < chars.len() {
            if is_digit(chars[j]) {
                count += 1;
                end = j + 1;
                j += 1;
            } else if matches!(chars[j], ' ' | '-' | '－' | '　')
                && j + 1 < chars.len()
                && is_digit(chars[j + 1])
            {
                j += 1;
            } else {
                break;
            }
        }
        if count >= MIN_MASKED_DIGITS {
            out.push_str("[masked]");
        } else {
            out.extend(&chars[start..end]);
        }
        i = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::digits;

    #[test]
    fn masks_long_digit_runs_and_keeps_short_ones() {
        assert_eq!(digits("number 123456789018 seen"), "number [masked] seen");
        assert_eq!(digits("mn 1234 5678 9018."), "mn [masked].");
        assert_eq!(digits("tel 0466-12-3456"), "tel [masked]");
        assert_eq!(digits("１２３４５６７８９０１８"), "[masked]");
        assert_eq!(digits("row 12 of 3000, dose 2"), "row 12 of 3000, dose 2");
    }
}
