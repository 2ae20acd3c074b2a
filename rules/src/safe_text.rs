//! Error messages name fields, rows and columns, never values, whoever
//! sent them: a value in an error ends up in logs, screenshots and browser
//! history. These helpers make the names safe to say.

/// Longest key shown back as a field name.
const MAX_NAME_BYTES: usize = 40;

/// What a key that does not look like a field name is called instead.
pub const UNNAMED: &str = "(a name that is not shown)";

/// Most digits in a row a field name may hold: a longer run may be a
/// number (a My Number, a phone) put where a name belongs.
const MAX_DIGIT_RUN: usize = 3;

/// Whether `key` looks like a field name: lowercase ASCII letters first,
/// then letters, digits (a few in a row), `_` or `-`. A key can be a value
/// sent in the wrong place (a headerless CSV's first row, a name as a JSON
/// key).
pub fn is_field_name(key: &str) -> bool {
    key.len() <= MAX_NAME_BYTES
        && key.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        && key
            .split(|c: char| !c.is_ascii_digit())
            .all(|run| run.len() <= MAX_DIGIT_RUN)
}

/// `key` if it looks like a field name, else [`UNNAMED`].
pub fn field_name(key: &str) -> &str {
    if is_field_name(key) { key } else { UNNAMED }
}

/// A serde (JSON or TOML) error message without the values it quotes:
/// `invalid type: string "0466...", expected u32` becomes `invalid type:
/// string, expected u32`; field and variant names that look like names
/// stay, so `missing field `date`` and `expected one of `a`, `b`` read as
/// before. The position (`at line 1 column 9`) is dropped too.
pub fn serde_message(message: &str) -> String {
    let message = message.split(" at line ").next().unwrap_or(message);
    // These kinds quote the offending value first.
    let value_first = [
        "invalid type",
        "invalid value",
        "unknown variant",
        "invalid length",
    ]
    .iter()
    .any(|kind| message.starts_with(kind));
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    let mut first = true;
    while let Some(open) = rest.find(['"', '`']) {
        let (before, quoted) = rest.split_at(open);
        let quote = quoted.as_bytes()[0];
        let quoted = &quoted[1..];
        let Some(close) = closing(quoted, quote) else {
            // Unterminated: the rest may be a value; drop it.
            out.push_str(before.trim_end());
            return out;
        };
        let content = &quoted[..close];
        rest = &quoted[close + 1..];
        if quote == b'`' && !(value_first && first) && is_field_name(content) {
            out.push_str(before);
            out.push('`');
            out.push_str(content);
            out.push('`');
        } else {
            out.push_str(before.trim_end());
        }
        first = false;
    }
    out.push_str(rest);
    out
}

/// Where the quote opened before `text` closes (a `"` string may escape).
fn closing(text: &str, quote: u8) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quote == b'"' => i += 2,
            b if b == quote => return Some(i),
            _ => i += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_pass_values_do_not() {
        assert_eq!(field_name("birth_date"), "birth_date");
        assert_eq!(field_name("dose-number"), "dose-number");
        assert_eq!(field_name("123456789018"), UNNAMED);
        assert_eq!(field_name("湘南 花子"), UNNAMED);
        assert_eq!(field_name("Taro"), UNNAMED);
        assert_eq!(field_name(""), UNNAMED);
        assert_eq!(field_name(&"a".repeat(41)), UNNAMED);
    }

    #[test]
    fn serde_messages_lose_their_values() {
        for (raw, safe) in [
            (
                r#"invalid type: string "123456789018", expected u32 at line 1 column 20"#,
                "invalid type: string, expected u32",
            ),
            (
                "invalid value: integer `70`, expected dose number 1-10",
                "invalid value: integer, expected dose number 1-10",
            ),
            (
                "unknown variant `湘南`, expected one of `add`, `update`",
                "unknown variant, expected one of `add`, `update`",
            ),
            (
                "unknown field `090-1234-5678`, expected `date` or `lot`",
                "unknown field, expected `date` or `lot`",
            ),
            ("missing field `date`", "missing field `date`"),
            (
                r#"invalid type: string "a \" quoted `x`", expected a map"#,
                "invalid type: string, expected a map",
            ),
            (
                r#"invalid type: string "unterminated"#,
                "invalid type: string",
            ),
        ] {
            assert_eq!(serde_message(raw), safe, "{raw}");
        }
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// What is shown as a field name is a field name: no value, no
        /// long number, whatever the key was.
        #[test]
        fn a_shown_name_is_a_name(key in ".{0,60}") {
            let shown = field_name(&key);
            prop_assert!(shown == UNNAMED || (is_field_name(shown) && shown == key));
            let digits = shown.split(|c: char| !c.is_ascii_digit()).map(str::len).max();
            prop_assert!(digits.unwrap_or(0) <= MAX_DIGIT_RUN);
        }

        /// A value a parser quotes is never in the cleaned message.
        #[test]
        fn quoted_values_are_dropped(
            value in "[0-9A-Zぁ-ん]{4,40}",
            key in "[a-z][a-z0-9_]{3,20}",
        ) {
            for message in [
                format!("invalid type: string \"{value}\", expected u32 at line 1 column 9"),
                format!("invalid value: `{value}`, expected a date"),
                format!("unknown variant `{value}`, expected one of `a`, `b`"),
            ] {
                let clean = serde_message(&message);
                prop_assert!(!clean.contains(value.as_str()), "{}", clean);
            }
            let unknown = serde_message(&format!("unknown field `{value}`"));
            prop_assert!(!unknown.contains(value.as_str()), "{}", unknown);
            let unknown = serde_message(&format!("unknown field `{key}`"));
            prop_assert_eq!(unknown.contains(key.as_str()), is_field_name(&key));
        }

        /// Any text in: a message no longer than it, never a panic.
        #[test]
        fn any_message_is_cleaned(message in any::<String>()) {
            prop_assert!(serde_message(&message).len() <= message.len());
        }
    }
}
