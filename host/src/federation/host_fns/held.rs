//! `collect` and `take-up`: held answers, named by their id here.

use std::time::Duration;

use crate::audit::Outcome;
use crate::clock::format_timestamp;
use crate::federation::bindings::Answer;
use crate::federation::entries::{self, HeldRow};
use crate::federation::wire::{CollectBody, Reply, is_query_id};
use crate::fields::{FieldValues, dose};
use crate::ids::TenantCode;
use crate::runtime::invocation::Scope;
use crate::store::commit::Op;
use crate::store::draft::DraftError;

use super::exchange::*;

/// A held answer the plugin names by id; its person becomes reachable.
pub(super) fn held(scope: &mut Scope, id: &str) -> Result<entries::Entry<HeldRow>, DraftError> {
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

pub(super) fn collect(
    scope: &mut Scope,
    id: &str,
    wait: Duration,
) -> Result<(u64, Answer), DraftError> {
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

pub(super) fn is_transport_failure(reason: Option<&str>) -> bool {
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

pub(super) fn take_up(scope: &mut Scope, id: &str) -> Result<(u64, Vec<u64>), DraftError> {
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
