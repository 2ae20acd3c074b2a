//! The querying host's side of `kiroku:federation` (move-in query). The
//! host confirms the My Number is a reachable resident's of this tenant,
//! sends only (this municipality, the previous one, the number, the
//! purpose), audits the exchange with its outcome and counts (never the
//! number), and holds a found answer sealed until `take-up` stores its
//! doses or it expires. Every call spends host-call fuel; the wait for the
//! peer is bounded by the plugin's deadline.

use std::time::{Duration, Instant};

use super::bindings::{Answer, Outcome as WitOutcome};
use super::client::DEFAULT_TIMEOUT;
use super::entries::{self, HeldRow};
use super::wire::{CollectBody, DoseItems, QueryBody, Reply, is_query_id, new_query_id};
use crate::audit::Outcome;
use crate::clock::format_timestamp;
use crate::crypto::IndexKind;
use crate::fields::{Class, DOSE_FIELDS, FieldValues, dose, resident};
use crate::ids::TenantCode;
use crate::policy::Interface;
use crate::runtime::bindings::{dose_from_values, types::Error as WitError};
use crate::runtime::invocation::{Invocation, Scope};
use crate::store::commit::{Check, Op};
use crate::store::draft::DraftError;

type HostResult<T> = wasmtime::Result<Result<T, WitError>>;

/// The purposes a query may name.
pub const QUERY_PURPOSES: &[&str] = &["move-in-query"];
/// The legal basis of a query without consent: My Number Act art. 19 (16).
pub const BASIS_ACT: &str = "mynumber-act-19-16";

fn invalid(message: impl Into<String>) -> DraftError {
    DraftError::Invalid(message.into())
}

fn check_basis(basis: &str) -> Result<(), DraftError> {
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

/// The time left for a peer to answer: the plugin's deadline, at most the
/// client's timeout.
fn wait_left(deadline: Instant) -> Duration {
    deadline
        .saturating_duration_since(Instant::now())
        .saturating_sub(Duration::from_millis(50))
        .min(DEFAULT_TIMEOUT)
}

fn answer(
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

fn values_of(items: &DoseItems) -> FieldValues {
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
fn send_many<T: serde::Serialize>(
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

fn exchange<T: serde::Serialize>(
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
fn hold(
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

fn put_held(scope: &mut Scope, id: &str, row: &HeldRow, seen: Option<&entries::Entry<HeldRow>>) {
    let key = entries::held_key(id);
    let store = scope.draft.store().clone();
    let sealed = entries::seal(&store, &key, row, scope.draft.entropy().as_ref());
    check_unchanged(scope, &key, seen);
    scope.draft.push_host_op(Op::PutFederation(key, sealed));
}

fn check_unchanged(scope: &mut Scope, key: &str, seen: Option<&entries::Entry<HeldRow>>) {
    scope.draft.push_host_check(Check::FederationEntry {
        key: key.to_owned(),
        digest: seen.map(|e| e.digest),
    });
}

/// Audits an exchange: who was asked, why, what came back, how many doses.
fn audit(scope: &mut Scope, what: &str, previous: &str, person: u64, reply: &Reply, basis: &str) {
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

/// The resident of this tenant holding `number`, if the plugin may reach
/// them and they live here.
fn resident_holding(scope: &mut Scope, number: &str) -> Result<u64, DraftError> {
    let not_here =
        || DraftError::NotFound("no resident this request may reach holds that My Number".into());
    let person = scope
        .draft
        .find_unique(IndexKind::MyNumber, number)?
        .ok_or_else(not_here)?;
    let handle = scope.draft.person_handles().handle(person);
    scope.reach.person(handle).map_err(|_| not_here())?;
    let values = scope.draft.resident(person)?;
    if values.0[resident::STATUS].as_deref() != Some("resident") {
        return Err(invalid(
            "the person is not a resident of this municipality (status)",
        ));
    }
    Ok(person)
}

/// A query checked and ready to send.
struct Prepared {
    person: u64,
    previous: TenantCode,
    body: QueryBody,
}

fn check_purpose(purpose: &str, basis: &str) -> Result<(), DraftError> {
    if !QUERY_PURPOSES.contains(&purpose) {
        return Err(invalid(format!(
            "purpose is one of: {}",
            QUERY_PURPOSES.join(", ")
        )));
    }
    check_basis(basis)
}

fn prepare(
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
fn conclude(
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

fn query(
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

fn query_many(
    scope: &mut Scope,
    queries: Vec<super::bindings::QueryItem>,
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

/// A held answer the plugin names by id; its person becomes reachable.
fn held(scope: &mut Scope, id: &str) -> Result<entries::Entry<HeldRow>, DraftError> {
    let unknown =
        || DraftError::NotFound("no such held answer (taken up, expired or unknown)".into());
    if !is_query_id(id) {
        return Err(unknown());
    }
    let store = scope.draft.store().clone();
    let entry = entries::read::<HeldRow>(&store, &entries::held_key(id))?.ok_or_else(unknown)?;
    scope.reach.found(entry.row.person);
    Ok(entry)
}

fn collect(scope: &mut Scope, id: &str, wait: Duration) -> Result<(u64, Answer), DraftError> {
    let entry = held(scope, id)?;
    let row = entry.row.clone();
    if row.state != "pending" {
        let reply = Reply::found(row.doses.clone());
        return Ok((
            row.person,
            answer(
                scope,
                Some(id.to_owned()),
                row.person,
                &row.previous,
                &reply,
            ),
        ));
    }
    let previous = TenantCode::parse(&row.previous).map_err(|_| invalid("damaged held answer"))?;
    let remote = row.remote_id.clone().unwrap_or_default();
    let reply = exchange(
        scope,
        &previous,
        "collect",
        CollectBody { query_id: remote },
        wait,
    )?;
    let key = entries::held_key(id);
    let kept = match reply.outcome.as_str() {
        "pending" => Some(id.to_owned()),
        "found" => {
            let found = HeldRow {
                state: "found".into(),
                remote_id: None,
                doses: reply.doses.clone(),
                received_ms: scope.request.now_ms,
                ..row.clone()
            };
            put_held(scope, id, &found, Some(&entry));
            Some(id.to_owned())
        }
        // A failed exchange leaves the query pending, to collect later.
        "refused" if is_transport_failure(reply.reason.as_deref()) => Some(id.to_owned()),
        _ => {
            check_unchanged(scope, &key, Some(&entry));
            scope.draft.push_host_op(Op::RemoveFederation(key));
            None
        }
    };
    audit(scope, "collect", &row.previous, row.person, &reply, "");
    Ok((
        row.person,
        answer(scope, kept, row.person, &row.previous, &reply),
    ))
}

fn is_transport_failure(reason: Option<&str>) -> bool {
    matches!(
        reason,
        Some(
            "unreachable"
                | "timed-out"
                | "handshake-failed"
                | "bad-answer"
                | "unavailable"
                | "busy"
        )
    )
}

fn take_up(scope: &mut Scope, id: &str) -> Result<(u64, Vec<u64>), DraftError> {
    let entry = held(scope, id)?;
    let row = entry.row.clone();
    if row.state != "found" {
        return Err(DraftError::Conflict(
            "the answer is still pending; collect it first".into(),
        ));
    }
    let person = row.person;
    let have: Vec<FieldValues> = scope.draft.doses(person)?.into_values().collect();
    let same = |a: &FieldValues, b: &FieldValues| {
        [dose::DOSE_NUMBER, dose::DATE, dose::VACCINE]
            .iter()
            .all(|&i| a.0[i] == b.0[i])
    };
    let source = format!("municipality:{}", row.previous);
    let received = format_timestamp(row.received_ms);
    let mut ids = Vec::new();
    for items in &row.doses {
        let mut values = values_of(items);
        if have.iter().any(|h| same(h, &values)) {
            continue;
        }
        values.0[dose::ENTERED_BY] = Some(source.clone());
        values.0[dose::ENTERED_AT] = Some(received.clone());
        ids.push(scope.draft.add_dose(person, &values)?);
    }
    let key = entries::held_key(id);
    check_unchanged(scope, &key, Some(&entry));
    scope.draft.push_host_op(Op::RemoveFederation(key));
    let mut event = scope
        .event(
            &format!("federation.take-up from {}", row.previous),
            Some(person),
            Vec::new(),
            Outcome::Ok,
        )
        .with_reason(format!("{} of {} doses stored", ids.len(), row.doses.len()));
    event.count = ids.len() as u64;
    scope.events.record(event);
    Ok((person, ids))
}

impl super::bindings::Host for Invocation {
    fn query(
        &mut self,
        previous: String,
        my_number: String,
        purpose: String,
        basis: String,
    ) -> HostResult<Answer> {
        let wait = wait_left(self.deadline);
        let scope = self.enter()?;
        scope.served([my_number.as_str()]);
        let result = query(scope, &previous, &my_number, &purpose, &basis, wait);
        settle(scope, "federation.query", result)
    }

    fn query_many(
        &mut self,
        queries: Vec<super::bindings::QueryItem>,
        purpose: String,
        basis: String,
    ) -> HostResult<Vec<Result<Answer, WitError>>> {
        let wait = wait_left(self.deadline)
            .max(Duration::from_secs(30))
            .min(self.deadline.saturating_duration_since(Instant::now()));
        let scope = self.enter()?;
        scope.served(queries.iter().map(|q| q.my_number.as_str()));
        let result = query_many(scope, queries, &purpose, &basis, wait);
        let result = match result {
            Ok((n, answers)) => {
                let mut out = Vec::with_capacity(answers.len());
                for a in answers {
                    out.push(match a {
                        Ok(a) => Ok(a),
                        Err(e) => match scope.finish(
                            "federation.query",
                            None,
                            Interface::Federation,
                            &[],
                            Err::<(), _>(e),
                        )? {
                            Err(wit) => Err(wit),
                            Ok(()) => unreachable!("an error stays an error"),
                        },
                    });
                }
                Ok((n, out))
            }
            Err(e) => Err(e),
        };
        settle(scope, "federation.query", result)
    }

    fn collect(&mut self, query_id: String) -> HostResult<Answer> {
        let wait = wait_left(self.deadline);
        let scope = self.enter()?;
        let result = collect(scope, &query_id, wait);
        settle(scope, "federation.collect", result)
    }

    fn take_up(&mut self, query_id: String) -> HostResult<Vec<u64>> {
        let scope = self.enter()?;
        let result = take_up(scope, &query_id);
        settle(scope, "federation.take-up", result)
    }
}

/// Success was audited where it happened (with its outcome and counts);
/// an error is audited by `finish`.
fn settle<T>(
    scope: &mut Scope,
    action: &str,
    result: Result<(u64, T), DraftError>,
) -> HostResult<T> {
    match result {
        Ok((_, value)) => Ok(Ok(value)),
        Err(e) => scope.finish(action, None, Interface::Federation, &[], Err(e)),
    }
}
