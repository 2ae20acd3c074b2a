//! Reading a JSON input object field by field, with messages that name the
//! field and what it should be, never the value that was sent.

use serde_json::{Map, Value};

use crate::bindings::exports::kiroku::plugin::handler::Error;

/// An operation's input object.
pub struct Input {
    fields: Map<String, Value>,
}

fn invalid(message: String) -> Error {
    Error::Invalid(message)
}

impl Input {
    /// Parses `text` as an object whose keys are all in `allowed`.
    pub fn parse(text: &str, allowed: &[&str]) -> Result<Input, Error> {
        let value: Value =
            serde_json::from_str(text).map_err(|_| invalid("the input is not JSON".into()))?;
        let Value::Object(fields) = value else {
            return Err(invalid("the input must be a JSON object".into()));
        };
        for key in fields.keys() {
            if !allowed.contains(&key.as_str()) {
                return Err(invalid(format!(
                    "unknown field {} (fields: {})",
                    kiroku_rules::safe_text::field_name(key),
                    allowed.join(", ")
                )));
            }
        }
        Ok(Input { fields })
    }

    /// Whether a field is present and not null.
    pub fn has(&self, field: &str) -> bool {
        self.fields.get(field).is_some_and(|v| !v.is_null())
    }

    /// An optional string field, trimmed; empty counts as absent.
    pub fn opt_str(&self, field: &str) -> Result<Option<String>, Error> {
        match self.fields.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_owned())),
            Some(_) => Err(invalid(format!("{field} must be a string"))),
        }
    }

    /// A required string field.
    pub fn str(&self, field: &str) -> Result<String, Error> {
        self.opt_str(field)?
            .ok_or_else(|| invalid(format!("{field} is required")))
    }

    /// An optional non-negative integer field.
    pub fn opt_u64(&self, field: &str) -> Result<Option<u64>, Error> {
        match self.fields.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => v
                .as_u64()
                .map(Some)
                .ok_or_else(|| invalid(format!("{field} must be a whole number"))),
        }
    }

    /// A required non-negative integer field.
    pub fn u64(&self, field: &str) -> Result<u64, Error> {
        self.opt_u64(field)?
            .ok_or_else(|| invalid(format!("{field} is required")))
    }

    /// An optional nested object.
    pub fn opt_object(&self, field: &str, allowed: &[&str]) -> Result<Option<Input>, Error> {
        match self.fields.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(map)) => {
                for key in map.keys() {
                    if !allowed.contains(&key.as_str()) {
                        return Err(invalid(format!(
                            "unknown field {field}.{} (fields: {})",
                            kiroku_rules::safe_text::field_name(key),
                            allowed.join(", ")
                        )));
                    }
                }
                Ok(Some(Input {
                    fields: map.clone(),
                }))
            }
            Some(_) => Err(invalid(format!("{field} must be an object"))),
        }
    }

    /// A field as text whatever its JSON type (for comparisons).
    pub fn text(&self, field: &str) -> Option<String> {
        match self.fields.get(field)? {
            Value::String(s) => Some(s.trim().to_owned()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
}
