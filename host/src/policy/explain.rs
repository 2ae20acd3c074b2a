//! A policy in plain words, for `kiroku policy check` and auditors.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::{Interface, Policy};

impl Policy {
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
            if *iface == Interface::Certificates {
                let _ = writeln!(
                    out,
                    "  It may have the host sign, verify and revoke certificates with the tenant's keys; it never sees a private key."
                );
            } else if *iface == Interface::Federation {
                let _ = writeln!(
                    out,
                    "  It may have the host ask other municipalities for a resident's dose records (the move-in query); the host signs, sends and audits, and holds the answers."
                );
            } else if *iface == Interface::Retention {
                let _ = writeln!(
                    out,
                    "  It may have the host survey and purge persons past the tenant's retention rules (crypto-shredding; irreversible), and set legal holds."
                );
            } else if *iface == Interface::SubjectRights {
                let _ = writeln!(
                    out,
                    "  It may have the host disclose everything held about a person with their access history, correct their resident fields and suspend the use of their data."
                );
            } else if grant.read.is_empty() && grant.write.is_empty() && grant.search.is_empty() {
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
            "  Limits per call: {} MiB memory, {} KiB input, {} ms, {} host calls, {} rows per lookup, {} KiB output.",
            l.memory_bytes >> 20,
            l.input_bytes >> 10,
            l.deadline_ms,
            l.host_calls,
            l.rows,
            l.output_bytes >> 10
        );
        if !self.dry_runs.is_empty() {
            let ops: Vec<&str> = self.dry_runs.iter().map(String::as_str).collect();
            let _ = writeln!(
                out,
                "  Dry runs (they check as the real run does; the host applies none of their changes): {}.",
                ops.join(", ")
            );
        }
        let _ = writeln!(
            out,
            "  It has no file or network access (WASI is linked with an empty context)."
        );
        out
    }
}
