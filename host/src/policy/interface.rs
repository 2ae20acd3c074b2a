//! What a policy can grant: the host's interfaces (with their data class,
//! their lookups and which fields may be read or written through them),
//! the purposes a plugin may have, and the kinds of access.

use crate::fields::{Class, dose, ticket};

/// The records package version this host implements.
pub const RECORDS_VERSION: &str = "0.1.0";
/// The health package version this host implements.
pub const HEALTH_VERSION: &str = "0.1.0";
/// The population package version this host implements.
pub const POPULATION_VERSION: &str = "0.1.0";
/// The certificates package version this host implements.
pub const CERTIFICATES_VERSION: &str = "0.1.0";
/// The federation package version this host implements.
pub const FEDERATION_VERSION: &str = "0.1.0";
/// The subjects package version this host implements.
pub const SUBJECTS_VERSION: &str = "0.1.0";
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
    /// Host-signed certificates (`kiroku:certificates`).
    Certificates,
    /// Queries to other municipalities (`kiroku:federation`).
    Federation,
    /// Retention purges and legal holds (`kiroku:subjects`).
    Retention,
    /// Disclosure, correction, suspension (`kiroku:subjects`).
    SubjectRights,
}

impl Interface {
    /// Every interface.
    pub const ALL: [Interface; 17] = [
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
        Interface::Certificates,
        Interface::Federation,
        Interface::Retention,
        Interface::SubjectRights,
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
            Interface::Certificates => "certificates",
            Interface::Federation => "federation",
            Interface::Retention => "retention",
            Interface::SubjectRights => "subject-rights",
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
            Interface::Certificates => {
                format!("kiroku:certificates/{}@{CERTIFICATES_VERSION}", self.name())
            }
            Interface::Federation => {
                format!("kiroku:federation/{}@{FEDERATION_VERSION}", self.name())
            }
            Interface::Retention | Interface::SubjectRights => {
                format!("kiroku:subjects/{}@{SUBJECTS_VERSION}", self.name())
            }
            _ => format!("kiroku:records/{}@{RECORDS_VERSION}", self.name()),
        }
    }

    pub(super) fn by_name(name: &str) -> Option<Interface> {
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
            | Interface::TicketBatches
            | Interface::Certificates
            | Interface::Federation
            | Interface::Retention
            | Interface::SubjectRights => None,
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
    pub(super) fn readable(self, field: usize) -> bool {
        match self {
            Interface::MyNumberIntake => false,
            // `kiroku:records/tickets@0.1.0` knows only number and issued-on.
            Interface::Tickets => field < ticket::RECORDS_0_1,
            _ => true,
        }
    }

    /// Whether fields of this interface may be granted for writing, and which.
    pub(super) fn writable(self, field: usize) -> bool {
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
    "subject-rights",
    "statistics",
    "testing",
];
/// Purposes that may import the `my-number` interface.
pub const MY_NUMBER_PURPOSES: &[&str] = &[
    "move-in-query",
    "move-out-provision",
    "certificate-issuance",
];
/// Purposes that may import the `passport` interface.
pub const PASSPORT_PURPOSES: &[&str] = &["certificate-issuance"];
/// Purposes that may import the `certificates` interface.
pub const CERTIFICATE_PURPOSES: &[&str] = &["certificate-issuance"];
/// Purposes that may import the `federation` interface.
pub const FEDERATION_PURPOSES: &[&str] = &["move-in-query"];
/// Purposes that may import the `retention` interface.
pub const RETENTION_PURPOSES: &[&str] = &["retention-purge"];
/// Purposes that may import the `subject-rights` interface.
pub const SUBJECT_RIGHTS_PURPOSES: &[&str] = &["subject-rights"];
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
    pub(super) fn verb(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
        }
    }
}
