//! `query` and `query-many`: the number must be a reachable resident's;
//! only (this municipality, the previous one, the number, the purpose)
//! leave this host.

use std::time::Duration;

use crate::crypto::IndexKind;
use crate::federation::bindings::Answer;
use crate::federation::wire::{QueryBody, Reply};
use crate::fields::resident;
use crate::ids::TenantCode;
use crate::runtime::invocation::Scope;
use crate::store::draft::DraftError;

use super::exchange::*;

/// The resident of this tenant holding `number`, if the plugin may reach
/// them and they live here.
pub(super) fn resident_holding(scope: &mut Scope, number: &str) -> Result<u64, DraftError> {
    let not_here =
        || DraftError::NotFound("no resident this request may reach holds that My Number".into());
    let person = scope
        .draft
        .find_unique(IndexKind::MyNumber, number)?
        .ok_or_else(not_here)?;
    let handle = scope.draft.person_handles().handle(person);
    scope.reach.person(handle).map_err(|_| not_here())?;
    let values = scope.draft.resident(person)?;
    // The same answer as for a number nobody here holds: the plugin has no
    // grant to read the status, so it must not learn it from the error.
    if values.0[resident::STATUS].as_deref() != Some("resident") {
        return Err(not_here());
    }
    Ok(person)
}

/// A query checked and ready to send.
pub(super) struct Prepared {
    person: u64,
    previous: TenantCode,
    body: QueryBody,
}

pub(super) fn check_purpose(purpose: &str, basis: &str) -> Result<(), DraftError> {
    if !QUERY_PURPOSES.contains(&purpose) {
        return Err(invalid(format!(
            "purpose is one of: {}",
            QUERY_PURPOSES.join(", ")
        )));
    }
    check_basis(basis)
}

pub(super) fn prepare(
    scope: &mut Scope,
    previous: &str,
    number: &str,
    purpose: &str,
) -> Result<Prepared, DraftError> {
    let code = TenantCode::parse(previous)
        .map_err(|_| invalid("previous is not a municipality code (6 digits, check digit)"))?;
    if code.as_str() == scope.draft.tenant_code() {
        return Err(invalid("previous is this municipality"));
    }
    if kiroku_rules::my_number::validate(number).is_err() {
        return Err(invalid(
            "my-number is not a My Number (12 digits, check digit)",
        ));
    }
    let person = resident_holding(scope, number)?;
    Ok(Prepared {
        person,
        previous: code,
        body: QueryBody {
            purpose: purpose.to_owned(),
            my_number: number.to_owned(),
        },
    })
}

/// Holds and audits what came back for a sent query.
pub(super) fn conclude(
    scope: &mut Scope,
    person: u64,
    previous: &str,
    purpose: &str,
    basis: &str,
    reply: &Reply,
) -> Answer {
    let id = hold(scope, person, previous, purpose, reply);
    audit(scope, "query", previous, person, reply, basis);
    answer(scope, id, person, previous, reply)
}

pub(super) fn query(
    scope: &mut Scope,
    previous: &str,
    number: &str,
    purpose: &str,
    basis: &str,
    wait: Duration,
) -> Result<(u64, Answer), DraftError> {
    check_purpose(purpose, basis)?;
    let p = prepare(scope, previous, number, purpose)?;
    let reply = exchange(scope, &p.previous, "query", p.body, wait)?;
    Ok((
        p.person,
        conclude(scope, p.person, previous, purpose, basis, &reply),
    ))
}

/// Most queries of one `query-many`.
pub const MAX_QUERIES_PER_CALL: usize = 500;

pub(super) fn query_many(
    scope: &mut Scope,
    queries: Vec<crate::federation::bindings::QueryItem>,
    purpose: &str,
    basis: &str,
    wait: Duration,
) -> Result<(u64, Vec<Result<Answer, DraftError>>), DraftError> {
    check_purpose(purpose, basis)?;
    if queries.len() > MAX_QUERIES_PER_CALL {
        return Err(invalid(format!(
            "at most {MAX_QUERIES_PER_CALL} queries per call"
        )));
    }
    let prepared: Vec<Result<Prepared, DraftError>> = queries
        .iter()
        .map(|q| prepare(scope, &q.previous, &q.my_number, purpose))
        .collect();
    let mut sent = Vec::new();
    let mut asked = Vec::new();
    for p in prepared.iter().flatten() {
        asked.push((p.person, p.previous.to_string()));
        sent.push((p.previous.clone(), p.body.clone()));
    }
    let mut replies = send_many(scope, "query", sent, wait)?.into_iter();
    let mut asked = asked.into_iter();
    let mut out = Vec::with_capacity(prepared.len());
    for p in prepared {
        out.push(match p {
            Err(e) => Err(e),
            Ok(_) => {
                let (person, previous) = asked.next().expect("one per prepared");
                let reply = replies.next().expect("one reply per request");
                Ok(conclude(scope, person, &previous, purpose, basis, &reply))
            }
        });
    }
    Ok((0, out))
}
