//! The one `bindgen!` of the host world `kiroku:host/runtime@0.6.0`, and
//! the conversions between its records and the host's [`FieldValues`].
//! A new WIT version gets a new module beside this one.

#![allow(missing_docs)]

use crate::fields::{Class, FieldValues};

wasmtime::component::bindgen!({
    path: [
        "../wit/records",
        "../wit/health",
        "../wit/population",
        "../wit/certificates",
        "../wit/federation",
        "../wit/subjects",
        "../wit/plugin",
        "../wit/host"
    ],
    world: "kiroku:host/runtime",
    imports: { default: trappable },
    exports: { default: async },
});

pub use exports::kiroku::plugin::handler;
pub use kiroku::health::{campaign_tickets, cohort, jobs};
pub use kiroku::population::{cohort_facts, ticket_batches};
pub use kiroku::records::{doses, passport, residents, tickets, types};

/// Converts a WIT record to field values and back, field by field in WIT
/// enum order.
pub trait Fields: Sized {
    /// The data class of the record.
    const CLASS: Class;
    /// The record's fields, in WIT order.
    fn into_values(self) -> FieldValues;
    /// Builds the record from field values.
    fn from_values(values: FieldValues) -> Self;
}

macro_rules! fields {
    ($ty:ty, $class:expr, [$($field:ident),*]) => {
        impl Fields for $ty {
            const CLASS: Class = $class;
            fn into_values(self) -> FieldValues {
                FieldValues(vec![$(self.$field),*]).fit($class)
            }
            fn from_values(values: FieldValues) -> Self {
                let mut it = values.0.into_iter();
                Self { $($field: it.next().flatten()),* }
            }
        }
    };
}

fields!(
    residents::Resident,
    Class::Resident,
    [
        address_number,
        kana_name,
        kanji_name,
        birth_date,
        sex,
        postal_code,
        address,
        building,
        phone,
        status,
        status_date,
        destination
    ]
);
fields!(tickets::Ticket, Class::Ticket, [number, issued_on]);
fields!(
    passport::PassportData,
    Class::Passport,
    [former_name, romanized_name, nationality, passport_number]
);

/// Doses carry a numeric dose number and an id beside the string fields.
pub fn dose_into_values(dose: doses::Dose) -> FieldValues {
    FieldValues(vec![
        dose.dose_number.map(|n| n.to_string()),
        dose.date,
        dose.vaccine,
        dose.maker,
        dose.product,
        dose.lot,
        dose.amount,
        dose.facility_code,
        dose.doctor,
        dose.override_reason,
        dose.entered_by,
        dose.entered_at,
        dose.verified_by,
        dose.verified_at,
    ])
}

/// Builds a WIT dose from stored values.
pub fn dose_from_values(id: u64, values: FieldValues) -> doses::Dose {
    let mut it = values.0.into_iter();
    let mut next = || it.next().flatten();
    doses::Dose {
        id,
        dose_number: next().and_then(|n| n.parse().ok()),
        date: next(),
        vaccine: next(),
        maker: next(),
        product: next(),
        lot: next(),
        amount: next(),
        facility_code: next(),
        doctor: next(),
        override_reason: next(),
        entered_by: next(),
        entered_at: next(),
        verified_by: next(),
        verified_at: next(),
    }
}

/// Campaign tickets carry a numeric type and dose number.
pub fn campaign_ticket_into_values(t: campaign_tickets::CampaignTicket) -> FieldValues {
    FieldValues(vec![
        t.number,
        t.issued_on,
        t.campaign,
        t.ticket_type.map(|n| n.to_string()),
        t.dose_number.map(|n| n.to_string()),
        t.status,
        t.void_reason,
        t.voided_on,
    ])
}

/// Builds a WIT campaign ticket from stored values.
pub fn campaign_ticket_from_values(values: FieldValues) -> campaign_tickets::CampaignTicket {
    let mut it = values.fit(Class::Ticket).0.into_iter();
    let mut next = || it.next().flatten();
    campaign_tickets::CampaignTicket {
        number: next(),
        issued_on: next(),
        campaign: next(),
        ticket_type: next().and_then(|n| n.parse().ok()),
        dose_number: next().and_then(|n| n.parse().ok()),
        status: next(),
        void_reason: next(),
        voided_on: next(),
    }
}
