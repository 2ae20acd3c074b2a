//! Validated identifiers that end up in paths, keys and audit events.

use std::fmt;

/// A tenant: a 6-digit local government code with a valid check digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantCode(String);

impl TenantCode {
    /// Parses and checks a code such as `142051`.
    pub fn parse(code: &str) -> Result<TenantCode, kiroku_rules::local_gov_code::Invalid> {
        kiroku_rules::local_gov_code::validate(code)?;
        Ok(TenantCode(code.to_owned()))
    }

    /// The code's digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A component's SHA-256 digest, 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

impl Digest {
    /// The digest of component bytes.
    pub fn of(bytes: &[u8]) -> Digest {
        Digest(crate::crypto::sha256_hex(bytes))
    }

    /// Parses `sha256:<hex>` or bare hex.
    pub fn parse(text: &str) -> Option<Digest> {
        let hex = text.strip_prefix("sha256:").unwrap_or(text);
        (hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| Digest(hex.to_owned()))
    }

    /// The 64 hex digits.
    pub fn hex(&self) -> &str {
        &self.0
    }

    /// The first 12 hex digits, for messages.
    pub fn short(&self) -> &str {
        &self.0[..12]
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A plugin name: lowercase kebab-case, as in URLs and policies.
pub fn is_valid_plugin_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-')
}

/// A staff user name: what an administrator types; letters, digits, `.-_`.
pub fn is_valid_user_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_codes_need_their_check_digit() {
        assert!(TenantCode::parse("142051").is_ok());
        assert!(TenantCode::parse("142050").is_err());
        assert!(TenantCode::parse("../etc").is_err());
    }

    #[test]
    fn digests_are_64_lowercase_hex() {
        let d = Digest::of(b"x");
        assert_eq!(Digest::parse(&format!("sha256:{d}")), Some(d.clone()));
        assert_eq!(Digest::parse(&d.to_string().to_uppercase()), None);
        assert_eq!(Digest::parse("abc"), None);
    }
}
