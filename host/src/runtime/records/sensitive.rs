//! The sensitive classes, each its own interface (invariant 3): My Number
//! (read and lookup, for three purposes only), its write-only intake (the
//! registry feed), and passport data.
//!
//! The intake answers the same whatever is stored: the number the person
//! already had, another, none, or one registered to someone else. A
//! number held by another person is not stored; it goes to the review
//! queue, audited, for a supervisor to resolve.

use super::{HostResult, bounded};
use crate::audit::Outcome;
use crate::crypto::IndexKind;
use crate::fields::{Class, FieldValues};
use crate::limits::MAX_KEY_BYTES;
use crate::policy::Interface;
use crate::runtime::bindings::kiroku::records::{my_number, my_number_intake};
use crate::runtime::bindings::types::PersonId;
use crate::runtime::bindings::{Fields, passport};
use crate::runtime::invocation::Invocation;
use crate::store::draft::Intake;
use crate::store::reviews::MY_NUMBER_HELD;

const MY_NUMBER_FIELD: [usize; 1] = [0];

impl my_number::Host for Invocation {
    fn get(&mut self, person: PersonId) -> HostResult<Option<String>> {
        let values = self.read_fields(
            Interface::MyNumber,
            "my-number.get",
            person,
            Ok(MY_NUMBER_FIELD.to_vec()),
            |s, p| {
                let mut v = FieldValues::empty(Class::MyNumber);
                v.set(0, s.draft.my_number(p)?);
                Ok(v)
            },
        )?;
        Ok(values.map(|v| v.get(0).map(str::to_owned)))
    }

    fn find(&mut self, number: String) -> HostResult<Option<PersonId>> {
        self.search(
            Interface::MyNumber,
            "my-number.find",
            "my-number",
            &number,
            |s| s.draft.find_unique(IndexKind::MyNumber, &number),
        )
    }
}

impl my_number_intake::Host for Invocation {
    /// Always `true` for a well-formed number: "accepted". Whether it was
    /// new, the same, or someone else's is not the plugin's to know.
    fn register(&mut self, person: PersonId, number: String) -> HostResult<bool> {
        let mut values = FieldValues::empty(Class::MyNumber);
        values.set(0, Some(String::new()));
        self.write_fields(
            Interface::MyNumberIntake,
            "my-number.register",
            person,
            &values,
            |s, p| {
                bounded("number", &number, MAX_KEY_BYTES)?;
                let context = crate::store::reviews::Raised {
                    plugin: s.plugin.name.clone(),
                    actor: s.request.who.name.clone(),
                    request_id: s.request.request_id.clone(),
                    time_ms: s.request.now_ms,
                };
                if let Intake::Queued { holder } = s.draft.intake_my_number(p, &number, &context)? {
                    // On record for auditors and reviewers, not for the plugin.
                    let mut event = s.event("review.raise", Some(p), Vec::new(), Outcome::Ok);
                    event.reason = Some(MY_NUMBER_HELD.into());
                    event.subjects = vec![holder];
                    s.events.record(event);
                }
                Ok(true)
            },
        )
    }
}

impl passport::Host for Invocation {
    fn get(
        &mut self,
        person: PersonId,
        fields: Vec<passport::PassportField>,
    ) -> HostResult<passport::PassportData> {
        let fields = super::indexes(&fields, |f| f as usize);
        let values = self.read_fields(
            Interface::Passport,
            "passport.get",
            person,
            fields,
            |s, p| s.draft.passport(p),
        )?;
        Ok(values.map(passport::PassportData::from_values))
    }

    fn set(&mut self, person: PersonId, data: passport::PassportData) -> HostResult<()> {
        let values = data.into_values();
        self.write_fields(
            Interface::Passport,
            "passport.set",
            person,
            &values,
            |s, p| s.draft.set_passport(p, &values).map(|_| ()),
        )
    }
}
