//! The audit events of one invocation, bounded (invariant 5, and class 6 of
//! containment): reads merge into one event per (action, person), each
//! successful write and each population-wide call is its own event, and
//! denials and failures of one kind (action and reason) merge into one
//! event that counts them, so a plugin that fails a million calls writes a
//! handful of events, each reason kept.

use std::collections::HashMap;

use crate::audit::{Event, Outcome};
use crate::limits::MAX_AGGREGATED_SUBJECTS;

/// Host calls that change a record: each gets its own audit event, so an
/// auditor can count every dose, ticket or change written.
const WRITE_ACTIONS: &[&str] = &[
    "residents.create",
    "residents.update",
    "tickets.issue",
    "campaign-tickets.issue",
    "campaign-tickets.void",
    "ticket-batches.issue-many",
    "doses.add",
    "doses.verify",
    "my-number.register",
    "passport.set",
    "review.raise",
];

/// Whether an event records a change (a write that commits or not).
fn is_write(action: &str) -> bool {
    WRITE_ACTIONS.contains(&action) || action.starts_with("federation.take-up ")
}

/// Marks the write events of an attempt whose changes were dropped (it
/// failed, was re-run after a conflict, or was a replay): the record keeps
/// what was tried and says it was not applied, since an event's outcome
/// is what was committed (invariant 5).
pub fn mark_not_applied(events: &mut [Event], why: &str) {
    for e in events
        .iter_mut()
        .filter(|e| e.outcome == Outcome::Ok && is_write(&e.action))
    {
        e.outcome = Outcome::Error;
        e.reason = Some(format!("not applied: {why}"));
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    /// A read of one person (or of no one): fields merge.
    Read(String, Option<u64>),
    /// Denials or failures of one action and reason: they count.
    Refused(String, Outcome, Option<String>),
}

/// Audit events of one invocation, in first-occurrence order.
#[derive(Debug, Default)]
pub struct EventLog {
    events: Vec<Event>,
    index: HashMap<Key, usize>,
}

impl EventLog {
    /// Records an access, merging it into an earlier event of its kind.
    /// Returns whether this is the first of its kind (worth a log line).
    pub fn record(&mut self, event: Event) -> bool {
        let bulk = !event.subjects.is_empty();
        let write = event.outcome == Outcome::Ok && is_write(&event.action);
        if bulk || write {
            self.events.push(event);
            return true;
        }
        let key = match event.outcome {
            Outcome::Ok => Key::Read(event.action.clone(), event.subject),
            other => Key::Refused(event.action.clone(), other, event.reason.clone()),
        };
        let Some(&i) = self.index.get(&key) else {
            self.index.insert(key, self.events.len());
            self.events.push(event);
            return true;
        };
        let existing = &mut self.events[i];
        for f in event.fields {
            if !existing.fields.contains(&f) {
                existing.fields.push(f);
            }
        }
        if let Key::Refused(..) = key {
            existing.count += 1;
            merge_subject(existing, event.subject);
        }
        false
    }

    /// The events, in first-occurrence order.
    pub fn into_events(self) -> Vec<Event> {
        self.events
    }
}

/// Adds a refused call's person to a merged event: the first stays the
/// event's subject, the others are listed up to
/// [`MAX_AGGREGATED_SUBJECTS`] (the count says how many calls there were).
fn merge_subject(event: &mut Event, subject: Option<u64>) {
    let Some(s) = subject else {
        return;
    };
    if event.subject == Some(s) || event.subjects.contains(&s) {
        return;
    }
    if event.subject.is_none() {
        event.subject = Some(s);
    } else if event.subjects.len() < MAX_AGGREGATED_SUBJECTS {
        let at = event.subjects.partition_point(|&x| x < s);
        event.subjects.insert(at, s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denied(subject: u64, reason: &str) -> Event {
        let mut e = Event::new(0, "r", "a", "residents.get", Outcome::Deny).with_reason(reason);
        e.subject = Some(subject);
        e
    }

    #[test]
    fn a_million_denials_make_one_event_per_reason_with_their_count() {
        let mut log = EventLog::default();
        for i in 0..1_000_000u64 {
            let reason = if i % 2 == 0 { "phone" } else { "address" };
            log.record(denied(i + 1, reason));
        }
        let events = log.into_events();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].reason.as_deref(), Some("phone"));
        assert_eq!(events[1].reason.as_deref(), Some("address"));
        assert!(events.iter().all(|e| e.count == 500_000));
        assert!(
            events
                .iter()
                .all(|e| e.subjects.len() == MAX_AGGREGATED_SUBJECTS)
        );
    }

    #[test]
    fn reads_merge_per_person_and_writes_stay_apart() {
        let mut log = EventLog::default();
        let read = |s: u64, f: &str| {
            let mut e = Event::new(0, "r", "a", "residents.get", Outcome::Ok);
            e.subject = Some(s);
            e.fields = vec![f.into()];
            e
        };
        log.record(read(1, "kana-name"));
        log.record(read(1, "address"));
        log.record(read(2, "kana-name"));
        let write = Event::new(0, "r", "a", "doses.add", Outcome::Ok);
        log.record(write.clone());
        log.record(write);
        let events = log.into_events();
        assert_eq!(events.len(), 4);
        assert_eq!(events[0].fields, ["kana-name", "address"]);
    }
}
