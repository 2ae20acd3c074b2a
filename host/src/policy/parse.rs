//! Reading a policy file: TOML with unknown keys refused, limits within
//! their hard caps, field and lookup names checked per interface, My
//! Number only for its legal purposes, and the couplings between grants
//! that keep host answers from telling a plugin more than it may read.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use super::{
    Access, CERTIFICATE_PURPOSES, FEDERATION_PURPOSES, Grant, Interface, Limits,
    MY_NUMBER_INTAKE_PURPOSES, MY_NUMBER_PURPOSES, PASSPORT_PURPOSES, PURPOSES, Policy,
    PolicyError, RETENTION_PURPOSES, SUBJECT_RIGHTS_PURPOSES,
};
use crate::fields::{dose, resident, ticket};
use crate::ids::Digest;
use crate::limits;

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
    #[serde(rename = "suspension-exception")]
    suspension_exception: Option<String>,
    #[serde(default, rename = "dry-runs")]
    dry_runs: BTreeSet<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawLimits {
    memory_mib: Option<u64>,
    deadline_ms: Option<u64>,
    host_calls: Option<u64>,
    rows: Option<u32>,
    output_kib: Option<u64>,
    input_mib: Option<u64>,
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
        let memory_mib = bounded(
            "memory-mib",
            l.memory_mib,
            limits::DEFAULT_MEMORY_BYTES >> 20,
            1,
            limits::MAX_MEMORY_BYTES >> 20,
        )?;
        // By default an eighth of the memory; a plugin that frees its
        // input early (a file import) may take up to half.
        let input_bytes = match l.input_mib {
            None => (memory_mib << 20) / limits::INPUT_SHARE_OF_MEMORY,
            Some(_) => bounded("input-mib", l.input_mib, 1, 1, memory_mib / 2)? << 20,
        };
        let limits = Limits {
            memory_bytes: memory_mib << 20,
            input_bytes,
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
            let only_for = match iface {
                Interface::Passport => Some(("passport data", PASSPORT_PURPOSES)),
                Interface::Certificates => Some(("the certificate keys", CERTIFICATE_PURPOSES)),
                Interface::Federation => {
                    Some(("queries to other municipalities", FEDERATION_PURPOSES))
                }
                Interface::Retention => Some(("retention purges", RETENTION_PURPOSES)),
                Interface::SubjectRights => {
                    Some(("the data subject's rights", SUBJECT_RIGHTS_PURPOSES))
                }
                _ => None,
            };
            if let Some((what, purposes)) = only_for
                && !purposes.contains(&purpose.as_str())
            {
                return Err(PolicyError(format!(
                    "grants.{name}: {what} may only be used for {}; this plugin's purpose is {purpose}",
                    purposes.join(", ")
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
        check_couplings(&raw.plugin.name, &grants)?;
        let suspension_exception = match raw.plugin.suspension_exception {
            Some(basis) if basis.trim().is_empty() || basis.len() > 200 => {
                return Err(PolicyError(
                    "plugin.suspension-exception names the legal basis (1-200 bytes)".into(),
                ));
            }
            other => other,
        };
        if let Some(bad) = raw
            .plugin
            .dry_runs
            .iter()
            .find(|op| !kiroku_rules::safe_text::is_field_name(op))
        {
            return Err(PolicyError(format!(
                "plugin.dry-runs: {} is not an operation name",
                kiroku_rules::safe_text::field_name(bad)
            )));
        }
        Ok(Policy {
            plugin: raw.plugin.name,
            purpose,
            summary: raw.plugin.summary,
            digest,
            limits,
            grants,
            suspension_exception,
            dry_runs: raw.plugin.dry_runs,
        })
    }
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

/// Grants whose host answers would reveal stored values need the grant
/// that reveals them anyway (invariant 12: an answer depends only on what
/// the plugin may read):
///
/// - writing a unique key (an address number, a ticket number) answers
///   `conflict` when another person holds it, so it needs the lookup by
///   that key (or the population grant and the key's read grant);
/// - `doses.verify` refuses the one who entered a dose and a dose already
///   verified, so its write grant needs `entered-by` and `verified-by` read;
/// - voiding a ticket finds it by number and refuses one already voided,
///   so it needs the `ticket-number` lookup and `status` read.
fn check_couplings(plugin: &str, grants: &BTreeMap<Interface, Grant>) -> Result<(), PolicyError> {
    let grant = |i: Interface| grants.get(&i);
    let reads = |i: Interface, f: usize| grant(i).is_some_and(|g| g.read.contains(&f));
    let writes = |i: Interface, f: usize| grant(i).is_some_and(|g| g.write.contains(&f));
    let searches = |i: Interface, s: &str| grant(i).is_some_and(|g| g.search.contains(s));
    let population =
        searches(Interface::Cohort, "population") || searches(Interface::CohortFacts, "population");
    let refuse = |what: &str, needs: &str| {
        Err(PolicyError(format!(
            "{what} of {plugin} needs {needs}: without it the host's answers would tell the plugin what it may not read"
        )))
    };
    if writes(Interface::Residents, resident::ADDRESS_NUMBER)
        && !searches(Interface::Residents, "address-number")
        && !(population && reads(Interface::Residents, resident::ADDRESS_NUMBER))
    {
        return refuse(
            "grants.residents.write address-number",
            "grants.residents.search address-number",
        );
    }
    let finds_tickets = searches(Interface::Tickets, "ticket-number")
        || searches(Interface::CampaignTickets, "ticket-number")
        || (population
            && (reads(Interface::CampaignTickets, ticket::NUMBER)
                || reads(Interface::Tickets, ticket::NUMBER)));
    if (writes(Interface::Tickets, ticket::NUMBER)
        || writes(Interface::CampaignTickets, ticket::NUMBER))
        && !finds_tickets
    {
        return refuse(
            "writing ticket numbers",
            "the ticket-number lookup (grants.tickets or grants.campaign-tickets search)",
        );
    }
    if writes(Interface::Doses, dose::VERIFIED_BY)
        && !(reads(Interface::Doses, dose::VERIFIED_BY)
            && reads(Interface::Doses, dose::ENTERED_BY))
    {
        return refuse(
            "grants.doses.write verified-by",
            "grants.doses.read entered-by and verified-by",
        );
    }
    let voids = writes(Interface::CampaignTickets, ticket::STATUS)
        || writes(Interface::CampaignTickets, ticket::VOID_REASON);
    if voids
        && !(searches(Interface::CampaignTickets, "ticket-number")
            && reads(Interface::CampaignTickets, ticket::STATUS))
    {
        return refuse(
            "voiding tickets (grants.campaign-tickets.write status, void-reason)",
            "grants.campaign-tickets.search ticket-number and read status",
        );
    }
    Ok(())
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    /// A shipped policy's lines, to mutate.
    const SHIPPED: &str = include_str!("../../../policies/dose-entry.toml");

    proptest! {
        /// Any text: a policy or a clear error, never a panic; what parses
        /// can be explained.
        #[test]
        fn any_text_is_a_policy_or_an_error(text in any::<String>()) {
            if let Ok(policy) = Policy::parse(&text) {
                let _ = policy.explain();
            }
            let _ = crate::roles::Roles::parse(&text);
        }

        /// The shipped policy with one line dropped or doubled.
        #[test]
        fn a_mangled_policy_is_refused_or_still_valid(
            at in any::<prop::sample::Index>(),
            double in any::<bool>(),
        ) {
            let mut lines: Vec<&str> = SHIPPED.lines().collect();
            let i = at.index(lines.len());
            if double { lines.insert(i, lines[i]); } else { lines.remove(i); }
            if let Ok(policy) = Policy::parse(&lines.join("\n")) {
                let _ = policy.explain();
            }
        }
    }
}
