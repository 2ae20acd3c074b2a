//! The shape every JSON document crossing the host must have: valid, and
//! nested at most [`MAX_JSON_DEPTH`] deep. Applied to request bodies and to
//! plugin outputs alike (a million-deep array is 2 MB that no common parser
//! can read back).

use crate::limits::MAX_JSON_DEPTH;

/// Why a document was refused; names the limit, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    /// Nested deeper than the limit.
    #[error("it nests deeper than {MAX_JSON_DEPTH} levels")]
    TooDeep,
    /// Not JSON.
    #[error("it is not JSON ({0})")]
    Invalid(String),
}

/// The deepest nesting of arrays and objects in `bytes`, stopping as soon
/// as it passes `limit` (strings are skipped, escapes included).
pub fn depth_exceeds(bytes: &[u8], limit: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Checks depth first (cheaply, without recursion), then validity.
pub fn check(bytes: &[u8]) -> Result<(), ShapeError> {
    if depth_exceeds(bytes, MAX_JSON_DEPTH) {
        return Err(ShapeError::TooDeep);
    }
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes)
        .map(|_| ())
        .map_err(|e| ShapeError::Invalid(e.classify_name()))
}

/// Parses a document of the right shape.
pub fn parse(bytes: &[u8]) -> Result<serde_json::Value, ShapeError> {
    if depth_exceeds(bytes, MAX_JSON_DEPTH) {
        return Err(ShapeError::TooDeep);
    }
    serde_json::from_slice(bytes).map_err(|e| ShapeError::Invalid(e.classify_name()))
}

/// How serde_json's error is worded without quoting input.
trait ClassifyName {
    fn classify_name(&self) -> String;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> String {
        let what = match self.classify() {
            serde_json::error::Category::Io => "unreadable",
            serde_json::error::Category::Syntax => "a syntax error",
            serde_json::error::Category::Data => "unexpected data",
            serde_json::error::Category::Eof => "it ends early",
        };
        format!("{what} at line {} column {}", self.line(), self.column())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_deep_nesting_without_recursing() {
        let deep = "[".repeat(1_000_000) + &"]".repeat(1_000_000);
        assert_eq!(check(deep.as_bytes()), Err(ShapeError::TooDeep));
        let ok = "[".repeat(MAX_JSON_DEPTH) + &"]".repeat(MAX_JSON_DEPTH);
        assert_eq!(check(ok.as_bytes()), Ok(()));
        let tricky = format!(r#"{{"a":"{}"}}"#, "[".repeat(1_000));
        assert_eq!(
            check(tricky.as_bytes()),
            Ok(()),
            "brackets in strings do not count"
        );
        let escaped = format!(r#"{{"a":"\"{}"}}"#, "[".repeat(100));
        assert_eq!(check(escaped.as_bytes()), Ok(()));
    }

    #[test]
    fn says_where_bad_json_is_without_quoting_it() {
        let err = check(b"{\"secret\": tru").unwrap_err().to_string();
        assert!(!err.contains("secret") && err.contains("line 1"), "{err}");
    }
}
