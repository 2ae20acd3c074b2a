//! Staff roles: which (plugin, operation) pairs a role's holders may
//! invoke, and whether they may read the audit log or administer the
//! tenant. Least privilege: a role may do exactly what it lists.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The roles file compiled into the binary (`policies/roles.toml`), used
/// when a tenant is created without another.
pub const DEFAULT_ROLES: &str = include_str!("../../policies/roles.toml");

/// One role.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Role {
    /// One line for administrators.
    #[serde(default)]
    pub summary: String,
    /// `plugin/operation` or `plugin/*` entries.
    #[serde(default)]
    pub invoke: Vec<String>,
    /// May read the audit log.
    #[serde(default)]
    pub audit: bool,
    /// May administer users and plugins over the API.
    #[serde(default)]
    pub admin: bool,
    /// May resolve the review queue: conflicts the host did not answer to
    /// a plugin (a My Number from the registry feed that another holds).
    #[serde(default)]
    pub review: bool,
    /// May decide queries from other municipalities that wait for a staff
    /// decision (the no-automatic-answer flag).
    #[serde(default)]
    pub federation: bool,
    /// Read-only: the host refuses every operation that writes, whatever
    /// `invoke` lists (the seed's "read-only vs update").
    #[serde(default)]
    pub read_only: bool,
}

/// All roles of a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Roles(BTreeMap<String, Role>);

/// A roles file is invalid.
#[derive(Debug, Clone, thiserror::Error)]
#[error("invalid roles file: {0}")]
pub struct RolesError(pub String);

impl Roles {
    /// Parses and validates a roles file.
    pub fn parse(text: &str) -> Result<Roles, RolesError> {
        let roles: BTreeMap<String, Role> =
            toml::from_str(text).map_err(|e| RolesError(e.message().to_owned()))?;
        for (name, role) in &roles {
            for entry in &role.invoke {
                let ok = entry.split_once('/').is_some_and(|(plugin, op)| {
                    crate::ids::is_valid_plugin_name(plugin)
                        && (op == "*" || crate::ids::is_valid_plugin_name(op))
                });
                if !ok {
                    return Err(RolesError(format!(
                        "role {name}: {entry:?} is not plugin/operation or plugin/*"
                    )));
                }
            }
        }
        Ok(Roles(roles))
    }

    /// The role named `name`.
    pub fn get(&self, name: &str) -> Option<&Role> {
        self.0.get(name)
    }

    /// Role names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

impl Role {
    /// What the role may do, in words.
    pub fn explain(&self) -> String {
        let mut parts = Vec::new();
        if self.invoke.is_empty() {
            parts.push("invokes no plugin operation".to_owned());
        } else {
            parts.push(format!("may invoke {}", self.invoke.join(", ")));
        }
        if self.read_only {
            parts.push("read-only: every operation that writes is refused".into());
        }
        if self.audit {
            parts.push("reads the audit log".into());
        }
        if self.review {
            parts.push("resolves the review queue".into());
        }
        if self.federation {
            parts.push("decides queries from other municipalities that wait for approval".into());
        }
        if self.admin {
            parts.push("administers accounts, tokens and plugins over the API".into());
        }
        parts.join("; ")
    }

    /// Whether the role may invoke `operation` of `plugin`.
    pub fn may_invoke(&self, plugin: &str, operation: &str) -> bool {
        self.invoke.iter().any(|entry| {
            entry
                .split_once('/')
                .is_some_and(|(p, op)| p == plugin && (op == "*" || op == operation))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_roles_separate_entry_from_verification() {
        let roles = Roles::parse(DEFAULT_ROLES).unwrap();
        let clerk = roles.get("clerk").unwrap();
        assert!(clerk.may_invoke("dose-entry", "record-dose"));
        assert!(!clerk.may_invoke("dose-entry", "verify-dose"));
        assert!(!clerk.audit && !clerk.admin);
        let verifier = roles.get("verifier").unwrap();
        assert!(verifier.may_invoke("dose-entry", "verify-dose"));
        assert!(!verifier.may_invoke("dose-entry", "record-dose"));
        let auditor = roles.get("auditor").unwrap();
        assert!(auditor.audit && auditor.invoke.is_empty());
        for name in ["clerk", "verifier", "supervisor", "auditor", "admin"] {
            assert!(roles.get(name).is_some(), "{name}");
        }
    }

    #[test]
    fn refuses_malformed_entries() {
        assert!(Roles::parse("[x]\ninvoke = [\"dose-entry\"]").is_err());
        assert!(Roles::parse("[x]\ninvoke = [\"dose-entry/*\"]\nsecret = true").is_err());
    }
}
