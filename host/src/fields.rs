//! The data classes the host stores and the fields of each, named as in the
//! WIT enums and in capability policies. Values cross the host as
//! [`FieldValues`], one optional string per field, so projection and grant
//! checks are the same code for every class.

use serde::{Deserialize, Serialize};

/// A class of personal data, each behind its own WIT interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    /// 4 basic facts, contact, status flags.
    Resident,
    /// Vaccination tickets.
    Ticket,
    /// Dose records.
    Dose,
    /// My Number.
    MyNumber,
    /// Passport data.
    Passport,
}

/// Resident fields, in WIT enum order.
pub const RESIDENT_FIELDS: &[&str] = &[
    "address-number",
    "kana-name",
    "kanji-name",
    "birth-date",
    "sex",
    "postal-code",
    "address",
    "building",
    "phone",
    "status",
    "status-date",
    "destination",
];
/// Ticket fields, in the WIT enum order of `kiroku:health/campaign-tickets`
/// (`kiroku:records/tickets` has the first two).
pub const TICKET_FIELDS: &[&str] = &[
    "number",
    "issued-on",
    "campaign",
    "ticket-type",
    "dose-number",
    "status",
    "void-reason",
    "voided-on",
];
/// Dose fields, in WIT enum order.
pub const DOSE_FIELDS: &[&str] = &[
    "dose-number",
    "date",
    "vaccine",
    "maker",
    "product",
    "lot",
    "amount",
    "facility-code",
    "doctor",
    "override-reason",
    "entered-by",
    "entered-at",
    "verified-by",
    "verified-at",
];
/// My Number's single field.
pub const MY_NUMBER_FIELDS: &[&str] = &["my-number"];
/// Passport fields, in WIT enum order.
pub const PASSPORT_FIELDS: &[&str] = &[
    "former-name",
    "romanized-name",
    "nationality",
    "passport-number",
];

/// Index of each resident field, for code that needs one by name.
pub mod resident {
    #![allow(missing_docs)]
    pub const ADDRESS_NUMBER: usize = 0;
    pub const KANA_NAME: usize = 1;
    pub const KANJI_NAME: usize = 2;
    pub const BIRTH_DATE: usize = 3;
    pub const SEX: usize = 4;
    pub const STATUS: usize = 9;
    pub const STATUS_DATE: usize = 10;
    pub const DESTINATION: usize = 11;
    /// Fields every resident must have.
    pub const REQUIRED: &[usize] = &[ADDRESS_NUMBER, KANA_NAME, KANJI_NAME, BIRTH_DATE, SEX];
}

/// Index of each ticket field.
pub mod ticket {
    #![allow(missing_docs)]
    pub const NUMBER: usize = 0;
    pub const ISSUED_ON: usize = 1;
    pub const CAMPAIGN: usize = 2;
    pub const TICKET_TYPE: usize = 3;
    pub const DOSE_NUMBER: usize = 4;
    pub const STATUS: usize = 5;
    pub const VOID_REASON: usize = 6;
    pub const VOIDED_ON: usize = 7;
    /// The fields `kiroku:records/tickets@0.1.0` knows.
    pub const RECORDS_0_1: usize = 2;
    /// Fields only the host sets.
    pub const HOST_SET: &[usize] = &[VOIDED_ON];
    /// Status of a ticket that can be used.
    pub const VALID: &str = "valid";
    /// Status of a voided ticket.
    pub const VOIDED: &str = "voided";
}

/// Index of each dose field.
pub mod dose {
    #![allow(missing_docs)]
    pub const DOSE_NUMBER: usize = 0;
    pub const DATE: usize = 1;
    pub const VACCINE: usize = 2;
    pub const DOCTOR: usize = 8;
    pub const OVERRIDE_REASON: usize = 9;
    pub const ENTERED_BY: usize = 10;
    pub const ENTERED_AT: usize = 11;
    pub const VERIFIED_BY: usize = 12;
    pub const VERIFIED_AT: usize = 13;
    /// Fields only the host sets.
    pub const HOST_SET: &[usize] = &[ENTERED_BY, ENTERED_AT, VERIFIED_BY, VERIFIED_AT];
}

impl Class {
    /// Every class.
    pub const ALL: [Class; 5] = [
        Class::Resident,
        Class::Ticket,
        Class::Dose,
        Class::MyNumber,
        Class::Passport,
    ];

    /// The field names of this class, in WIT order.
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            Class::Resident => RESIDENT_FIELDS,
            Class::Ticket => TICKET_FIELDS,
            Class::Dose => DOSE_FIELDS,
            Class::MyNumber => MY_NUMBER_FIELDS,
            Class::Passport => PASSPORT_FIELDS,
        }
    }

    /// The name used in seal contexts and audit events.
    pub fn name(self) -> &'static str {
        match self {
            Class::Resident => "resident",
            Class::Ticket => "ticket",
            Class::Dose => "dose",
            Class::MyNumber => "my-number",
            Class::Passport => "passport",
        }
    }

    /// Whether a field holds a value that identifies or describes a
    /// person, which a plugin's log lines and error messages must never
    /// repeat (the others are codes, statuses, product data and staff ids).
    pub fn is_personal(self, field: usize) -> bool {
        match self {
            Class::Resident => !matches!(field, resident::SEX | resident::STATUS),
            Class::Ticket => field == ticket::NUMBER,
            Class::Dose => matches!(field, dose::DOCTOR | dose::OVERRIDE_REASON),
            Class::MyNumber | Class::Passport => true,
        }
    }

    /// The position of a field name, if the class has it.
    pub fn field_index(self, name: &str) -> Option<usize> {
        self.fields().iter().position(|f| *f == name)
    }
}

/// One optional string per field of a class.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct FieldValues(pub Vec<Option<String>>);

impl FieldValues {
    /// All fields absent.
    pub fn empty(class: Class) -> FieldValues {
        FieldValues(vec![None; class.fields().len()])
    }

    /// Pads values stored by an older schema (fewer fields) to the
    /// class's current fields; extra trailing values are dropped.
    pub fn fit(mut self, class: Class) -> FieldValues {
        self.0.resize(class.fields().len(), None);
        self
    }

    /// The value of field `i`.
    pub fn get(&self, i: usize) -> Option<&str> {
        self.0.get(i).and_then(|v| v.as_deref())
    }

    /// Sets field `i`.
    pub fn set(&mut self, i: usize, value: Option<String>) {
        self.0[i] = value;
    }

    /// Indexes of the present fields.
    pub fn present(&self) -> impl Iterator<Item = usize> + '_ {
        self.0
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_some())
            .map(|(i, _)| i)
    }

    /// Keeps only the fields in `keep`.
    pub fn project(&self, keep: &[usize]) -> FieldValues {
        let mut out = FieldValues(vec![None; self.0.len()]);
        for &i in keep {
            out.0[i] = self.0[i].clone();
        }
        out
    }

    /// The present values of the personal fields of `class`.
    pub fn personal(&self, class: Class) -> impl Iterator<Item = &str> + '_ {
        self.0
            .iter()
            .enumerate()
            .filter(move |(i, _)| class.is_personal(*i))
            .filter_map(|(_, v)| v.as_deref())
    }

    /// Overwrites the fields present in `changes`; returns whether anything changed.
    pub fn apply(&mut self, changes: &FieldValues) -> bool {
        !self.apply_fields(changes).is_empty()
    }

    /// Overwrites the fields present in `changes`; returns the fields whose
    /// value changed.
    pub fn apply_fields(&mut self, changes: &FieldValues) -> Vec<usize> {
        let mut changed = Vec::new();
        for i in changes.present() {
            if self.0[i] != changes.0[i] {
                self.0[i] = changes.0[i].clone();
                changed.push(i);
            }
        }
        changed
    }
}
