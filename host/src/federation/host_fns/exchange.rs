//! What every `kiroku:federation` call shares: checking arguments,
//! sending, holding answers, auditing, and the answer the plugin sees.

use std::time::Duration;

use crate::audit::Outcome;
use crate::federation::bindings::{Answer, Outcome as WitOutcome};
use crate::federation::entries::{self, HeldRow};
use crate::federation::wire::{DoseItems, Reply, new_query_id};
use crate::fields::{Class, DOSE_FIELDS, FieldValues};
use crate::ids::TenantCode;
use crate::runtime::bindings::dose_from_values;
use crate::runtime::invocation::Scope;
use crate::store::commit::{Check, Op};
use crate::store::draft::DraftError;

/// The purposes a query may name.
pub const QUERY_PURPOSES: &[&str] = &["move-in-query"];
/// The legal basis of a query without consent: My Number Act art. 19 (16).
pub const BASIS_ACT: &str = "mynumber-act-19-16";

pub(super) fn invalid(message: impl Into<String>) -> DraftError {
    DraftError::Invalid(message.into())
}

pub(super) fn check_basis(basis: &str) -> Result<(), DraftError> {
    let consent = basis.strip_prefix("consent:").is_some_and(|id| {
        !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    });
    if basis == BASIS_ACT || consent {
        Ok(())
    } else {
        Err(invalid(format!(
            "basis is {BASIS_ACT} or consent:<record id> (letters, digits, - _ ., at most 64)"
        )))
    }
}
pub(super) fn answer(
    scope: &Scope,
    query_id: Option<String>,
    person: u64,
    previous: &str,
    reply: &Reply,
) -> Answer {
    let outcome = match reply.outcome.as_str() {
        "found" => WitOutcome::Found,
        "no-record" => WitOutcome::NoRecord,
        "pending" => WitOutcome::Pending,
        _ => WitOutcome::Refused,
    };
    Answer {
        query_id,
        person: scope.draft.person_handles().handle(person),
        previous: previous.to_owned(),
        outcome,
        reason: reply.reason.clone(),
        doses: reply
            .doses
            .iter()
            .map(|d| dose_from_values(0, values_of(d)))
            .collect(),
    }
}

pub(super) fn values_of(items: &DoseItems) -> FieldValues {
    let mut values = FieldValues::empty(Class::Dose);
    for (name, value) in items {
        if let Some(i) = DOSE_FIELDS.iter().position(|f| f == name) {
            values.0[i] = Some(value.clone());
        }
    }
    values
}

/// Sends each body as `operation` to its municipality, concurrently; a
/// failed exchange is a refusal with the failure's code, a malformed
/// answer `bad-answer`.
pub(super) fn send_many<T: serde::Serialize>(
    scope: &mut Scope,
    operation: &str,
    requests: Vec<(TenantCode, T)>,
    wait: Duration,
) -> Result<Vec<Reply>, DraftError> {
    let node = scope.request.federation.clone().ok_or_else(|| {
        DraftError::Conflict(
            "this node takes part in no exchanges (kiroku serve --federation-ca ...)".into(),
        )
    })?;
    let own = TenantCode::parse(scope.draft.tenant_code()).expect("a tenant's code is valid");
    let entropy = scope.draft.entropy().clone();
    let sent = node.exchange_many(
        &own,
        operation,
        requests,
        scope.request.now_ms,
        entropy.as_ref(),
        wait,
    );
    Ok(sent
        .into_iter()
        .map(|result| match result {
            Err(e) => Reply::refused(e.code()),
            Ok((_, bytes)) => match serde_json::from_slice::<Reply>(&bytes) {
                Ok(reply) if reply.is_well_formed() => reply,
                _ => Reply::refused("bad-answer"),
            },
        })
        .collect())
}

pub(super) fn exchange<T: serde::Serialize>(
    scope: &mut Scope,
    previous: &TenantCode,
    operation: &str,
    body: T,
    wait: Duration,
) -> Result<Reply, DraftError> {
    let mut one = send_many(scope, operation, vec![(previous.clone(), body)], wait)?;
    Ok(one.pop().expect("one reply per request"))
}

/// Holds a found or pending answer; returns its id here.
pub(super) fn hold(
    scope: &mut Scope,
    person: u64,
    previous: &str,
    purpose: &str,
    reply: &Reply,
) -> Option<String> {
    let state = reply.outcome.as_str();
    if state != "found" && state != "pending" {
        return None;
    }
    let node = scope.request.federation.clone()?;
    let id = new_query_id(scope.draft.entropy().as_ref());
    let row = HeldRow {
        person,
        previous: previous.to_owned(),
        purpose: purpose.to_owned(),
        state: state.to_owned(),
        remote_id: reply.query_id.clone(),
        doses: reply.doses.clone(),
        received_ms: scope.request.now_ms,
        expires_ms: scope.request.now_ms + node.hold_ms,
    };
    put_held(scope, &id, &row, None);
    Some(id)
}

pub(super) fn put_held(
    scope: &mut Scope,
    id: &str,
    row: &HeldRow,
    seen: Option<&entries::Entry<HeldRow>>,
) {
    let key = entries::held_key(id);
    let store = scope.draft.store().clone();
    let sealed = entries::seal(&store, &key, row, scope.draft.entropy().as_ref());
    check_unchanged(scope, &key, seen);
    scope.draft.push_host_op(Op::PutFederation(key, sealed));
}

pub(super) fn check_unchanged(
    scope: &mut Scope,
    key: &str,
    seen: Option<&entries::Entry<HeldRow>>,
) {
    scope.draft.push_host_check(Check::FederationEntry {
        key: key.to_owned(),
        digest: seen.map(|e| e.digest),
    });
}

/// Audits an exchange: who was asked, why, what came back, how many doses.
pub(super) fn audit(
    scope: &mut Scope,
    what: &str,
    previous: &str,
    person: u64,
    reply: &Reply,
    basis: &str,
) {
    let action = format!("federation.{what} to {previous}");
    let mut reason = reply.outcome.clone();
    if let Some(code) = &reply.reason {
        reason = format!("{reason} {code}");
    }
    if !basis.is_empty() {
        reason = format!("{reason} basis {basis}");
    }
    let outcome = match reply.outcome.as_str() {
        "refused" => Outcome::Deny,
        _ => Outcome::Ok,
    };
    let mut event = scope
        .event(&action, Some(person), Vec::new(), outcome)
        .with_reason(reason);
    event.count = reply.doses.len() as u64;
    scope.events.record(event);
}
