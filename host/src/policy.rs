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

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Deserialize;

use crate::fields::{Class, dose, ticket};
use crate::ids::Digest;
use crate::limits;

/// The records package version this host implements.
pub const RECORDS_VERSION: &str = "0.1.0";
/// The health package version this host implements.
pub const HEALTH_VERSION: &str = "0.1.0";
/// The population package version this host implements.
pub const POPULATION_VERSION: &str = "0.1.0";
/// The plugin export interface the host calls.
pub const HANDLER_EXPORT: &str = "kiroku:plugin/handler@0.1.0";

/// A records interface a plugin may import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Interface {
    /// Today's date, actor, request id.
    Context,
    /// Diagnostics.
    Log,
    /// Residents.
    Residents,
    /// Tickets.
    Tickets,
    /// Doses.
    Doses,
    /// My Number (read / search).
    MyNumber,
    /// My Number registration (write-only).
    MyNumberIntake,
    /// Passport data.
    Passport,
    /// Campaign tickets, with voiding (`kiroku:health`).
    CampaignTickets,
    /// Population scans (`kiroku:health`).
    Cohort,
    /// Job progress (`kiroku:health`).
    Jobs,
    /// Compact facts of many persons (`kiroku:population`).
    CohortFacts,
    /// Many campaign tickets per call (`kiroku:population`).
    TicketBatches,
}

impl Interface {
    /// Every interface.
    pub const ALL: [Interface; 13] = [
        Interface::Context,
        Interface::Log,
        Interface::Residents,
        Interface::Tickets,
        Interface::Doses,
        Interface::MyNumber,
        Interface::MyNumberIntake,
        Interface::Passport,
        Interface::CampaignTickets,
        Interface::Cohort,
        Interface::Jobs,
        Interface::CohortFacts,
        Interface::TicketBatches,
    ];

    /// The name used in policies and WIT.
    pub fn name(self) -> &'static str {
        match self {
            Interface::Context => "context",
            Interface::Log => "log",
            Interface::Residents => "residents",
            Interface::Tickets => "tickets",
            Interface::Doses => "doses",
            Interface::MyNumber => "my-number",
            Interface::MyNumberIntake => "my-number-intake",
            Interface::Passport => "passport",
            Interface::CampaignTickets => "campaign-tickets",
            Interface::Cohort => "cohort",
            Interface::Jobs => "jobs",
            Interface::CohortFacts => "cohort-facts",
            Interface::TicketBatches => "ticket-batches",
        }
    }

    /// The full WIT import name, e.g. `kiroku:records/residents@0.1.0`.
    pub fn import_name(self) -> String {
        match self {
            Interface::CampaignTickets | Interface::Cohort | Interface::Jobs => {
                format!("kiroku:health/{}@{HEALTH_VERSION}", self.name())
            }
            Interface::CohortFacts | Interface::TicketBatches => {
                format!("kiroku:population/{}@{POPULATION_VERSION}", self.name())
            }
            _ => format!("kiroku:records/{}@{RECORDS_VERSION}", self.name()),
        }
    }

    fn by_name(name: &str) -> Option<Interface> {
        Interface::ALL.into_iter().find(|i| i.name() == name)
    }

    /// The data class behind the interface, if it carries personal data.
    pub fn class(self) -> Option<Class> {
        match self {
            Interface::Context
            | Interface::Log
            | Interface::Cohort
            | Interface::Jobs
            | Interface::CohortFacts
            | Interface::TicketBatches => None,
            Interface::Residents => Some(Class::Resident),
            Interface::Tickets | Interface::CampaignTickets => Some(Class::Ticket),
            Interface::Doses => Some(Class::Dose),
            Interface::MyNumber | Interface::MyNumberIntake => Some(Class::MyNumber),
            Interface::Passport => Some(Class::Passport),
        }
    }

    /// Lookups this interface offers.
    pub fn searches(self) -> &'static [&'static str] {
        match self {
            Interface::Residents => &["address-number", "name-and-birth-date"],
            Interface::Tickets | Interface::CampaignTickets => &["ticket-number"],
            Interface::Cohort | Interface::CohortFacts => &["population"],
            Interface::MyNumber => &["my-number"],
            _ => &[],
        }
    }

    /// Whether fields of this interface may be granted for reading.
    fn readable(self, field: usize) -> bool {
        match self {
            Interface::MyNumberIntake => false,
            // `kiroku:records/tickets@0.1.0` knows only number and issued-on.
            Interface::Tickets => field < ticket::RECORDS_0_1,
            _ => true,
        }
    }

    /// Whether fields of this interface may be granted for writing, and which.
    fn writable(self, field: usize) -> bool {
        match self {
            Interface::Doses => !dose::HOST_SET.contains(&field) || field == dose::VERIFIED_BY,
            Interface::MyNumber => false,
            Interface::Tickets => field < ticket::RECORDS_0_1,
            Interface::CampaignTickets => !ticket::HOST_SET.contains(&field),
            _ => true,
        }
    }
}

/// What a business function is for. My Number may be imported only for the
/// three purposes the My Number Act allows in this work (art. 9).
pub const PURPOSES: &[&str] = &[
    "resident-sync",
    "dose-entry",
    "bulk-dose-import",
    "target-extraction",
    "ticket-issuance",
    "history-lists",
    "move-in-query",
    "move-out-provision",
    "certificate-issuance",
    "retention-purge",
    "statistics",
    "testing",
];
/// Purposes that may import the `my-number` interface.
pub const MY_NUMBER_PURPOSES: &[&str] = &[
    "move-in-query",
    "move-out-provision",
    "certificate-issuance",
];
/// Purposes that may import the write-only `my-number-intake` interface.
pub const MY_NUMBER_INTAKE_PURPOSES: &[&str] = &["resident-sync"];

/// A read, a write or a search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Reading field values.
    Read,
    /// Writing field values.
    Write,
}

impl Access {
    fn verb(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
        }
    }
}

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
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            memory_bytes: limits::DEFAULT_MEMORY_BYTES,
            deadline_ms: limits::DEFAULT_DEADLINE_MS,
            host_calls: limits::DEFAULT_HOST_CALLS,
            rows: limits::DEFAULT_ROWS,
            output_bytes: limits::DEFAULT_OUTPUT_BYTES,
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
}

/// A policy file is not valid. The message says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid policy: {0}")]
pub struct PolicyError(pub String);

/// A request was denied; the message names the interface and field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Denied(pub String);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    plugin: RawPlugin,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    grants: BTreeMap<String, RawGrant>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlugin {
    name: String,
    purpose: String,
    #[serde(default)]
    summary: String,
    digest: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawLimits {
    memory_mib: Option<u64>,
    deadline_ms: Option<u64>,
    host_calls: Option<u64>,
    rows: Option<u32>,
    output_kib: Option<u64>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawGrant {
    #[serde(default)]
    read: Vec<String>,
    #[serde(default)]
    write: Vec<String>,
    #[serde(default)]
    search: Vec<String>,
}

fn bounded<T: PartialOrd + Copy + std::fmt::Display>(
    name: &str,
    value: Option<T>,
    default: T,
    min: T,
    max: T,
) -> Result<T, PolicyError> {
    match value {
        None => Ok(default),
        Some(v) if v >= min && v <= max => Ok(v),
        Some(v) => Err(PolicyError(format!(
            "limits.{name} = {v} is outside {min}..={max}"
        ))),
    }
}

impl Policy {
    /// Parses and validates a policy.
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        let raw: RawPolicy =
            toml::from_str(text).map_err(|e| PolicyError(e.message().to_owned()))?;
        if !crate::ids::is_valid_plugin_name(&raw.plugin.name) {
            return Err(PolicyError(format!(
                "plugin.name {:?} must be lowercase letters, digits and hyphens",
                raw.plugin.name
            )));
        }
        let purpose = raw.plugin.purpose;
        if !PURPOSES.contains(&purpose.as_str()) {
            return Err(PolicyError(format!(
                "plugin.purpose {purpose:?} is not one of: {}",
                PURPOSES.join(", ")
            )));
        }
        let digest = match raw.plugin.digest {
            None => None,
            Some(d) => Some(Digest::parse(&d).ok_or_else(|| {
                PolicyError(format!("plugin.digest {d:?} is not sha256:<64 hex digits>"))
            })?),
        };
        let l = raw.limits;
        let limits = Limits {
            memory_bytes: bounded(
                "memory-mib",
                l.memory_mib,
                limits::DEFAULT_MEMORY_BYTES >> 20,
                1,
                limits::MAX_MEMORY_BYTES >> 20,
            )? << 20,
            deadline_ms: bounded(
                "deadline-ms",
                l.deadline_ms,
                limits::DEFAULT_DEADLINE_MS,
                1,
                limits::MAX_DEADLINE_MS,
            )?,
            host_calls: bounded(
                "host-calls",
                l.host_calls,
                limits::DEFAULT_HOST_CALLS,
                0,
                limits::MAX_HOST_CALLS,
            )?,
            rows: bounded("rows", l.rows, limits::DEFAULT_ROWS, 1, limits::MAX_ROWS)?,
            output_bytes: bounded(
                "output-kib",
                l.output_kib,
                limits::DEFAULT_OUTPUT_BYTES >> 10,
                1,
                limits::MAX_OUTPUT_BYTES >> 10,
            )? << 10,
        };
        let mut grants = BTreeMap::new();
        for (name, raw_grant) in raw.grants {
            let iface = Interface::by_name(&name).ok_or_else(|| {
                let known: Vec<_> = Interface::ALL.iter().map(|i| i.name()).collect();
                PolicyError(format!(
                    "grants.{name}: no such interface (known: {})",
                    known.join(", ")
                ))
            })?;
            if iface == Interface::MyNumber && !MY_NUMBER_PURPOSES.contains(&purpose.as_str()) {
                return Err(PolicyError(format!(
                    "grants.my-number: My Number may only be used for {} (My Number Act art. 9); this plugin's purpose is {purpose}",
                    MY_NUMBER_PURPOSES.join(", ")
                )));
            }
            if iface == Interface::MyNumberIntake
                && !MY_NUMBER_INTAKE_PURPOSES.contains(&purpose.as_str())
            {
                return Err(PolicyError(format!(
                    "grants.my-number-intake: only the resident registry feed ({}) registers My Numbers; this plugin's purpose is {purpose}",
                    MY_NUMBER_INTAKE_PURPOSES.join(", ")
                )));
            }
            grants.insert(iface, Grant::parse(iface, raw_grant)?);
        }
        Ok(Policy {
            plugin: raw.plugin.name,
            purpose,
            summary: raw.plugin.summary,
            digest,
            limits,
            grants,
        })
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

    /// Explains in plain words what the plugin can read, write and call.
    pub fn explain(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "Plugin {} (purpose: {})", self.plugin, self.purpose);
        if !self.summary.is_empty() {
            let _ = writeln!(out, "  {}", self.summary);
        }
        match &self.digest {
            Some(d) => {
                let _ = writeln!(out, "  Runs only the component with digest sha256:{d}.");
            }
            None => {
                let _ = writeln!(
                    out,
                    "  The component's digest is pinned when it is installed."
                );
            }
        }
        for (iface, grant) in &self.grants {
            let Some(class) = iface.class() else {
                let what = match iface {
                    Interface::Context => {
                        "today's date, the acting staff user's id and the request id"
                    }
                    Interface::Cohort if grant.search.contains("population") => {
                        "every person in turn, read through its residents, doses and campaign-tickets grants"
                    }
                    Interface::CohortFacts if grant.search.contains("population") => {
                        "the birth dates, statuses, doses and tickets of every person, read through its residents, doses and campaign-tickets grants"
                    }
                    Interface::Cohort | Interface::CohortFacts => {
                        "nothing: it lacks the population search grant"
                    }
                    Interface::TicketBatches => {
                        "issuing many campaign tickets at once, through its campaign-tickets write grants"
                    }
                    Interface::Jobs => "progress reports while it runs as a job",
                    _ => "diagnostic messages (without personal values)",
                };
                let _ = writeln!(out, "  It may use {} ({what}).", iface.name());
                continue;
            };
            let names = |set: &BTreeSet<usize>| {
                set.iter()
                    .map(|&i| class.fields()[i])
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            if !grant.read.is_empty() {
                let _ = writeln!(
                    out,
                    "  It may read from {}: {}.",
                    iface.name(),
                    names(&grant.read)
                );
            }
            if !grant.write.is_empty() {
                let _ = writeln!(
                    out,
                    "  It may write to {}: {}.",
                    iface.name(),
                    names(&grant.write)
                );
            }
            if !grant.search.is_empty() {
                let s: Vec<_> = grant.search.iter().map(String::as_str).collect();
                let _ = writeln!(
                    out,
                    "  It may look up {} by: {}.",
                    iface.name(),
                    s.join(", ")
                );
            }
            if grant.read.is_empty() && grant.write.is_empty() && grant.search.is_empty() {
                let _ = writeln!(
                    out,
                    "  It may import {} but use none of its fields.",
                    iface.name()
                );
            }
        }
        let denied: Vec<_> = Interface::ALL
            .iter()
            .filter(|i| !self.grants_interface(**i))
            .map(|i| i.name())
            .collect();
        if !denied.is_empty() {
            let _ = writeln!(out, "  It cannot import: {}.", denied.join(", "));
        }
        if !self.grants_interface(Interface::MyNumber) {
            let _ = writeln!(out, "  It can never see or search a My Number.");
        }
        let l = self.limits;
        let _ = writeln!(
            out,
            "  Limits per call: {} MiB memory, {} ms, {} host calls, {} rows per lookup, {} KiB output.",
            l.memory_bytes >> 20,
            l.deadline_ms,
            l.host_calls,
            l.rows,
            l.output_bytes >> 10
        );
        let _ = writeln!(
            out,
            "  It has no file or network access (WASI is linked with an empty context)."
        );
        out
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

impl Grant {
    fn parse(iface: Interface, raw: RawGrant) -> Result<Grant, PolicyError> {
        let mut grant = Grant::default();
        let field_set = |list: &[String], access: Access| -> Result<BTreeSet<usize>, PolicyError> {
            let Some(class) = iface.class() else {
                if list.is_empty() {
                    return Ok(BTreeSet::new());
                }
                return Err(PolicyError(format!(
                    "grants.{}: has no fields to {}",
                    iface.name(),
                    access.verb()
                )));
            };
            let mut set = BTreeSet::new();
            for name in list {
                let i = class.field_index(name).ok_or_else(|| {
                    PolicyError(format!(
                        "grants.{}.{}: no field {name:?} (fields: {})",
                        iface.name(),
                        access.verb(),
                        class.fields().join(", ")
                    ))
                })?;
                let ok = match access {
                    Access::Read => iface.readable(i),
                    Access::Write => iface.writable(i),
                };
                if !ok {
                    return Err(PolicyError(format!(
                        "grants.{}.{}: {name} cannot be granted for {} through {}",
                        iface.name(),
                        access.verb(),
                        access.verb(),
                        iface.name()
                    )));
                }
                set.insert(i);
            }
            Ok(set)
        };
        grant.read = field_set(&raw.read, Access::Read)?;
        grant.write = field_set(&raw.write, Access::Write)?;
        for s in raw.search {
            if !iface.searches().contains(&s.as_str()) {
                return Err(PolicyError(format!(
                    "grants.{}.search: no lookup {s:?} (lookups: {})",
                    iface.name(),
                    if iface.searches().is_empty() {
                        "none".to_owned()
                    } else {
                        iface.searches().join(", ")
                    }
                )));
            }
            grant.search.insert(s);
        }
        Ok(grant)
    }
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
        read = ["dose-number"]
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
