//! The auditor's endpoints: the log, filtered, and chain verification.
//! Reading the log is itself recorded.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use serde_json::json;

use super::ctx::{Ctx, blocking};
use super::{ApiError, json_response};
use crate::audit::{self, Event, Outcome};
use crate::clock::{format_timestamp, parse_timestamp};
use crate::handles::PersonHandles;
use crate::limits::MAX_AUDIT_QUERY_ROWS;

/// `GET /v1/{tenant}/audit?subject=&actor=&session=&outcome=&from=&to=&after=&limit=`
pub(super) async fn query(ctx: Ctx, query: &str) -> Result<Response<Full<Bytes>>, ApiError> {
    let user = ctx.require_auditor().await?;
    let handles = ctx.tenant.store.keys().person_handles();
    let query = parse_query(query, &handles)?;
    let (db, q) = (ctx.tenant.store.db().clone(), query.clone());
    let events = blocking(move || audit::query(db.as_ref(), &q).map_err(ApiError::from)).await?;
    let next = (events.len() == query.limit)
        .then(|| events.last().map(|e| e.seq))
        .flatten();
    let body = json!({ "events": events.iter().map(|e| event_json(e, &handles)).collect::<Vec<_>>(), "next_after": next });
    let mut seen = Event::new(
        ctx.now_ms,
        &ctx.request_id,
        &user.name,
        "audit.query",
        Outcome::Ok,
    );
    seen.subject = query.subject;
    ctx.record(vec![seen]).await?;
    Ok(json_response(StatusCode::OK, &body, &ctx.request_id))
}

/// `GET /v1/{tenant}/audit/verify`
pub(super) async fn verify(ctx: Ctx) -> Result<Response<Full<Bytes>>, ApiError> {
    let user = ctx.require_auditor().await?;
    let (db, keys) = (
        ctx.tenant.store.db().clone(),
        ctx.tenant.store.keys().clone(),
    );
    let verified =
        blocking(move || audit::verify(db.as_ref(), &keys).map_err(ApiError::from)).await?;
    ctx.record(vec![Event::new(
        ctx.now_ms,
        &ctx.request_id,
        &user.name,
        "audit.verify",
        Outcome::Ok,
    )])
    .await?;
    let body = match verified {
        audit::Verified::Intact(n) => json!({"intact": true, "events": n}),
        audit::Verified::Broken(b) => {
            json!({"intact": false, "first_bad_event": b.seq, "problem": b.problem})
        }
    };
    Ok(json_response(StatusCode::OK, &body, &ctx.request_id))
}

/// Persons are named by the handles staff and plugins see (`person_id`).
fn parse_query(query: &str, handles: &PersonHandles) -> Result<audit::Query, ApiError> {
    let mut q = audit::Query {
        limit: MAX_AUDIT_QUERY_ROWS,
        ..audit::Query::default()
    };
    let bad =
        |name: &str, why: &str| ApiError::bad_request("invalid-query", format!("{name}: {why}"));
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "subject" => {
                let subject = v
                    .parse()
                    .ok()
                    .and_then(|h| handles.serial(h))
                    .ok_or_else(|| bad("subject", "a person id as the host hands it out"))?;
                q.subject = Some(subject);
            }
            "actor" => q.actor = Some(v.into_owned()),
            "outcome" => {
                q.outcome = Some(match v.as_ref() {
                    "ok" => Outcome::Ok,
                    "deny" => Outcome::Deny,
                    "error" => Outcome::Error,
                    _ => return Err(bad("outcome", "ok, deny or error")),
                })
            }
            "session" => q.session = Some(v.into_owned()),
            "from" => {
                q.from_ms = Some(
                    parse_timestamp(&v)
                        .ok_or_else(|| bad("from", "yyyy-mm-dd or yyyy-mm-ddThh:mm:ssZ"))?,
                )
            }
            "to" => {
                q.to_ms = Some(
                    parse_timestamp(&v)
                        .ok_or_else(|| bad("to", "yyyy-mm-dd or yyyy-mm-ddThh:mm:ssZ"))?,
                )
            }
            "after" => {
                q.after = Some(
                    v.parse()
                        .map_err(|_| bad("after", "an event sequence number"))?,
                )
            }
            "limit" => {
                let n: usize = v.parse().map_err(|_| bad("limit", "a number"))?;
                q.limit = n.clamp(1, MAX_AUDIT_QUERY_ROWS);
            }
            other => {
                return Err(bad(
                    kiroku_rules::safe_text::field_name(other),
                    "unknown parameter (subject, actor, session, outcome, from, to, after, limit)",
                ));
            }
        }
    }
    Ok(q)
}

fn event_json(e: &Event, handles: &PersonHandles) -> serde_json::Value {
    json!({
        "seq": e.seq,
        "time": format_timestamp(e.time_ms),
        "request_id": e.request_id,
        "actor": e.actor,
        "role": e.role,
        "operator": e.operator,
        "session": e.session,
        "automated": e.automated,
        "plugin": e.plugin,
        "digest": e.digest,
        "action": e.action,
        "subject": e.subject.map(|s| handles.handle(s)),
        "subjects": e.subjects.iter().map(|&s| handles.handle(s)).collect::<Vec<_>>(),
        "count": e.count,
        "fields": e.fields,
        "outcome": e.outcome.as_str(),
        "reason": e.reason,
    })
}
