//! Capability policies (invariants 1-3, 7, 8).
//!
//! **Invariant:** only this module decides allow or deny. The runtime asks
//! it at load time (may this component import that interface?) and in every
//! host function (may this plugin read, write or search these fields?).
//!
//! A policy is a TOML file naming the plugin, its purpose, optionally its
//! pinned digest, its limits, and per records interface the fields it may
//! read and write and the lookups it may search by. Anything not written
//! down is denied.

mod explain;
mod interface;
mod parse;

use std::collections::{BTreeMap, BTreeSet};

pub use interface::{
    Access, CERTIFICATE_PURPOSES, CERTIFICATES_VERSION, FEDERATION_PURPOSES, FEDERATION_VERSION,
    HANDLER_EXPORT, HEALTH_VERSION, Interface, MY_NUMBER_INTAKE_PURPOSES, MY_NUMBER_PURPOSES,
    PASSPORT_PURPOSES, POPULATION_VERSION, PURPOSES, RECORDS_VERSION, RETENTION_PURPOSES,
    SUBJECT_RIGHTS_PURPOSES, SUBJECTS_VERSION,
};

use crate::ids::Digest;
use crate::limits;

/// What one interface grant allows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grant {
    /// Field indexes (of the interface's class) readable.
    pub read: BTreeSet<usize>,
    /// Field indexes writable.
    pub write: BTreeSet<usize>,
    /// Lookups allowed.
    pub search: BTreeSet<String>,
}

/// Per-invocation limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Linear memory cap.
    pub memory_bytes: u64,
    /// Wall-clock budget.
    pub deadline_ms: u64,
    /// Host-call fuel.
    pub host_calls: u64,
    /// Rows per list or search call.
    pub rows: u32,
    /// Output cap.
    pub output_bytes: u64,
    /// Input cap (the request's JSON or uploaded file as base64): larger
    /// inputs get 413 before the plugin runs.
    pub input_bytes: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            memory_bytes: limits::DEFAULT_MEMORY_BYTES,
            deadline_ms: limits::DEFAULT_DEADLINE_MS,
            host_calls: limits::DEFAULT_HOST_CALLS,
            rows: limits::DEFAULT_ROWS,
            output_bytes: limits::DEFAULT_OUTPUT_BYTES,
            input_bytes: limits::DEFAULT_MEMORY_BYTES / limits::INPUT_SHARE_OF_MEMORY,
        }
    }
}

/// A parsed, validated policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Plugin name (URL segment).
    pub plugin: String,
    /// Purpose, one of [`PURPOSES`].
    pub purpose: String,
    /// One line for auditors.
    pub summary: String,
    /// Pinned digest, if the policy pins one.
    pub digest: Option<Digest>,
    /// Limits.
    pub limits: Limits,
    /// Granted interfaces.
    pub grants: BTreeMap<Interface, Grant>,
    /// The legal basis on which the plugin may use the data of a person
    /// whose use is suspended (subject rights); `None`: it may not.
    pub suspension_exception: Option<String>,
    /// Operations that are dry runs: they may write as the real run does,
    /// so they run the same checks, and the host applies none of it.
    pub dry_runs: BTreeSet<String>,
}

/// A policy file is not valid. The message says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid policy: {0}")]
pub struct PolicyError(pub String);

/// A request was denied; the message names the interface and field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Denied(pub String);

impl Policy {
    /// Whether the plugin may touch a person whose use is suspended:
    /// disclosure (the subject-rights purpose) and named legal exceptions.
    pub fn exempt_from_suspension(&self) -> bool {
        self.purpose == "subject-rights" || self.suspension_exception.is_some()
    }

    /// Whether the policy grants the interface at all.
    pub fn grants_interface(&self, iface: Interface) -> bool {
        self.grants.contains_key(&iface)
    }

    /// Decides whether `fields` of `iface` may be accessed.
    pub fn check_fields(
        &self,
        iface: Interface,
        access: Access,
        fields: &[usize],
    ) -> Result<(), Denied> {
        let class = iface.class().expect("only data interfaces have fields");
        let grant = self.grants.get(&iface).ok_or_else(|| {
            Denied(format!(
                "{} is not granted to {}",
                iface.name(),
                self.plugin
            ))
        })?;
        let allowed = match access {
            Access::Read => &grant.read,
            Access::Write => &grant.write,
        };
        for &f in fields {
            if !allowed.contains(&f) {
                return Err(Denied(format!(
                    "{}: {} is not granted to {} for {}",
                    iface.name(),
                    class.fields()[f],
                    self.plugin,
                    access.verb()
                )));
            }
        }
        Ok(())
    }

    /// Decides whether a lookup may be made.
    pub fn check_search(&self, iface: Interface, search: &str) -> Result<(), Denied> {
        match self.grants.get(&iface) {
            Some(g) if g.search.contains(search) => Ok(()),
            _ => Err(Denied(format!(
                "{}: searching by {search} is not granted to {}",
                iface.name(),
                self.plugin
            ))),
        }
    }

    /// Decides whether a component import may be linked. An import that
    /// brings only types (no function) needs no grant: it carries no
    /// capability.
    pub fn check_import(&self, import: &str, calls_functions: bool) -> Result<ImportKind, Denied> {
        let refuse = |why: &str| Err(Denied(format!("import {import} refused: {why}")));
        let package = [
            ("kiroku:records/", RECORDS_VERSION),
            ("kiroku:health/", HEALTH_VERSION),
            ("kiroku:population/", POPULATION_VERSION),
            ("kiroku:certificates/", CERTIFICATES_VERSION),
            ("kiroku:federation/", FEDERATION_VERSION),
            ("kiroku:subjects/", SUBJECTS_VERSION),
        ]
        .into_iter()
        .find_map(|(prefix, version)| Some((prefix, version, import.strip_prefix(prefix)?)));
        if let Some((prefix, offered, rest)) = package {
            let (name, version) = rest.split_once('@').unwrap_or((rest, ""));
            let package = prefix.trim_end_matches('/');
            if version != offered {
                return refuse(&format!("this host offers {package}@{offered} only"));
            }
            if name == "types" && package == "kiroku:records" {
                return Ok(ImportKind::Types);
            }
            return match Interface::by_name(name) {
                Some(iface) if iface.import_name() != import => {
                    refuse("no such interface in this package")
                }
                Some(_) if !calls_functions => Ok(ImportKind::Types),
                Some(iface) if self.grants_interface(iface) => Ok(ImportKind::Records(iface)),
                Some(_) => refuse(&format!(
                    "the policy of {} does not grant {name}",
                    self.plugin
                )),
                None => refuse("no such interface in this package"),
            };
        }
        let wasi_family = import
            .strip_prefix("wasi:")
            .and_then(|r| r.split('/').next());
        match wasi_family {
            Some("io" | "cli" | "clocks" | "random") => Ok(ImportKind::Wasi),
            Some("filesystem") => refuse("plugins have no file access"),
            Some("sockets" | "http") => refuse("plugins have no network access"),
            _ => refuse("this host does not offer it"),
        }
    }

    /// Whether the plugin reaches every person of its tenant (the
    /// `population` lookup of `cohort` or `cohort-facts`); without it, only
    /// the persons its lookups return or its request names.
    pub fn reaches_population(&self) -> bool {
        [Interface::Cohort, Interface::CohortFacts]
            .iter()
            .any(|&i| self.check_search(i, "population").is_ok())
    }

    /// Decides whether a person's records of `iface` may be listed at all:
    /// even a list of no fields tells how many there are, so it needs a
    /// read grant on one of their fields.
    pub fn check_listing(&self, iface: Interface) -> Result<(), Denied> {
        match self.grants.get(&iface) {
            Some(g) if !g.read.is_empty() => Ok(()),
            _ => Err(Denied(format!(
                "{}: listing records needs a read grant on one of their fields; {} has none",
                iface.name(),
                self.plugin
            ))),
        }
    }
}

/// What an allowed import is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportKind {
    /// A granted records interface.
    Records(Interface),
    /// The shared records types (no functions).
    Types,
    /// A WASI interface linked with an empty context.
    Wasi,
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOSE_ENTRY: &str = r#"
        [plugin]
        name = "dose-entry"
        purpose = "dose-entry"
        [grants.residents]
        read = ["kana-name", "birth-date"]
        search = ["name-and-birth-date"]
        [grants.doses]
        read = ["dose-number", "entered-by", "verified-by"]
        write = ["dose-number", "verified-by"]
    "#;

    #[test]
    fn grants_exactly_what_is_written() {
        let p = Policy::parse(DOSE_ENTRY).unwrap();
        assert!(
            p.check_fields(Interface::Residents, Access::Read, &[1, 3])
                .is_ok()
        );
        let denied = p
            .check_fields(Interface::Residents, Access::Read, &[6])
            .unwrap_err();
        assert_eq!(
            denied.0,
            "residents: address is not granted to dose-entry for read"
        );
        assert!(
            p.check_fields(Interface::Residents, Access::Write, &[1])
                .is_err()
        );
        assert!(
            p.check_search(Interface::Residents, "address-number")
                .is_err()
        );
        assert!(
            p.check_import("kiroku:records/residents@0.1.0", true)
                .is_ok()
        );
        let refused = p
            .check_import("kiroku:records/my-number@0.1.0", true)
            .unwrap_err();
        assert!(
            refused.0.contains("kiroku:records/my-number@0.1.0"),
            "{refused}"
        );
    }

    #[test]
    fn refuses_my_number_outside_its_legal_purposes() {
        let text = DOSE_ENTRY.replace(
            "[grants.doses]",
            "[grants.my-number]\nread = [\"my-number\"]\n[grants.doses]",
        );
        let err = Policy::parse(&text).unwrap_err();
        assert!(err.0.contains("My Number Act"), "{err}");
    }

    #[test]
    fn refuses_host_set_fields_for_write_and_unknown_names() {
        let text = DOSE_ENTRY.replace("\"verified-by\"]", "\"entered-by\"]");
        assert!(
            Policy::parse(&text)
                .unwrap_err()
                .0
                .contains("entered-by cannot be granted")
        );
        let text = DOSE_ENTRY.replace("\"kana-name\",", "\"kana\",");
        assert!(
            Policy::parse(&text)
                .unwrap_err()
                .0
                .contains("no field \"kana\"")
        );
        let text = DOSE_ENTRY.replace("[grants.doses]", "[grants.payroll]");
        assert!(
            Policy::parse(&text)
                .unwrap_err()
                .0
                .contains("no such interface")
        );
    }

    #[test]
    fn listing_needs_a_read_grant_and_population_is_its_own_grant() {
        let p = Policy::parse(DOSE_ENTRY).unwrap();
        assert!(p.check_listing(Interface::Doses).is_ok());
        let write_only = Policy::parse(
            "[plugin]\nname = \"w\"\npurpose = \"certificate-issuance\"\n[grants.passport]\nwrite = [\"nationality\"]\n",
        )
        .unwrap();
        let denied = write_only.check_listing(Interface::Passport).unwrap_err();
        assert!(denied.0.contains("needs a read grant"), "{denied}");
        assert!(!p.reaches_population());
        let scanner = Policy::parse(
            "[plugin]\nname = \"s\"\npurpose = \"statistics\"\n[grants.cohort]\nsearch = [\"population\"]\n",
        )
        .unwrap();
        assert!(scanner.reaches_population());
    }

    #[test]
    fn never_links_files_or_sockets() {
        let p = Policy::parse(DOSE_ENTRY).unwrap();
        assert_eq!(
            p.check_import("wasi:cli/stdout@0.2.6", true),
            Ok(ImportKind::Wasi)
        );
        assert!(
            p.check_import("wasi:filesystem/preopens@0.2.6", true)
                .unwrap_err()
                .0
                .contains("no file access")
        );
        assert!(
            p.check_import("wasi:sockets/tcp@0.2.6", true)
                .unwrap_err()
                .0
                .contains("no network")
        );
    }
}
