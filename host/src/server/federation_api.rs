//! The answering side's queue over HTTP (roles with `federation = true`,
//! the `federation-approver`): queries from other municipalities that wait
//! under a no-automatic-answer flag. An approver sees who asked, for what
//! purpose, which items and about whom (a person id), never the answer;
//! approving lets the querier's next `collect` receive it, refusing tells
//! it so. Listing and deciding are audited.

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Body;
use hyper::{Request, Response, StatusCode};
use serde_json::json;

use super::body::read_json;
use super::ctx::Ctx;
use super::{ApiError, json_response};
use crate::app::App;
use crate::audit::{Event, Outcome};
use crate::clock::format_timestamp;
use crate::federation::entries::{self, QueuedRow};
use crate::federation::wire::is_query_id;
use crate::fields::DOSE_FIELDS;
use crate::store::commit::{CommitError, Op, WriteSet};

/// Most queued queries listed at once.
const MAX_LISTED: usize = 500;

fn no_such_query() -> ApiError {
    ApiError::not_found("unknown-query", "no such query waiting for a decision")
}

/// `GET /v1/{tenant}/federation/queue`: queries waiting, oldest first.
pub(super) async fn list(ctx: Ctx) -> Result<Response<Full<Bytes>>, ApiError> {
    let user = ctx.require_federation_approver().await?;
    let mut waiting: Vec<_> = entries::list::<QueuedRow>(&ctx.tenant.store, "queue/", usize::MAX)?
        .into_iter()
        .filter(|e| e.row.state == "pending")
        .collect();
    waiting.sort_by_key(|e| e.row.received_ms);
    waiting.truncate(MAX_LISTED);
    let handles = ctx.tenant.store.keys().person_handles();
    let items: Vec<_> = waiting
        .iter()
        .map(|e| {
            json!({
                "id": e.id,
                "querier": e.row.querier,
                "purpose": e.row.purpose,
                "items": e.row.items.iter().map(|&i| DOSE_FIELDS[i]).collect::<Vec<_>>(),
                "person_id": handles.handle(e.row.person),
                "received": format_timestamp(e.row.received_ms),
            })
        })
        .collect();
    let mut seen = Event::by(
        ctx.now_ms,
        &ctx.request_id,
        &user.identity,
        "federation.queue.list",
        Outcome::Ok,
    );
    seen.subjects = waiting.iter().map(|e| e.row.person).collect();
    seen.subjects.sort_unstable();
    seen.subjects.dedup();
    seen.count = waiting.len() as u64;
    ctx.record(vec![seen]).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "queue": items }),
        &ctx.request_id,
    ))
}

/// `POST /v1/{tenant}/federation/queue/{id}` with `{"decision": "approve"
/// | "refuse"}`.
pub(super) async fn decide<B>(
    app: &App,
    ctx: Ctx,
    req: Request<B>,
    id: &str,
) -> Result<Response<Full<Bytes>>, ApiError>
where
    B: Body<Data = Bytes> + Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let user = ctx.require_federation_approver().await?;
    let body = read_json(req).await?;
    let decision = match body["decision"].as_str() {
        Some("approve") => "approved",
        Some("refuse") => "refused",
        _ => {
            return Err(ApiError::bad_request(
                "invalid",
                "decision must be \"approve\" or \"refuse\"",
            ));
        }
    };
    if !is_query_id(id) {
        return Err(no_such_query());
    }
    let key = entries::queue_key(id);
    let store = ctx.tenant.store.clone();
    let entry = entries::read::<QueuedRow>(&store, &key)?
        .filter(|e| e.row.state == "pending")
        .ok_or_else(no_such_query)?;
    let row = QueuedRow {
        state: decision.into(),
        decided_by: Some(user.identity.person().to_owned()),
        ..entry.row.clone()
    };
    let sealed = entries::seal(&store, &key, &row, app.runtime.entropy().as_ref());
    let event = Event::by(
        ctx.now_ms,
        &ctx.request_id,
        &user.identity,
        format!("federation.queue.decide for {}", row.querier),
        Outcome::Ok,
    )
    .with_subject(row.person)
    .with_reason(format!("{decision} {}", row.purpose));
    let set = WriteSet {
        checks: vec![entry.unchanged(key.clone())],
        ops: vec![Op::PutFederation(key, sealed)],
        events: vec![event],
        ..Default::default()
    };
    match ctx.tenant.committer.commit(set).await {
        Ok(_) => {}
        Err(CommitError::Conflict(_)) => return Err(no_such_query()),
        Err(CommitError::Overloaded) => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                "the server is busy; try again",
            ));
        }
        Err(CommitError::Store(e)) => return Err(e.into()),
    }
    let body = json!({ "id": id, "decision": decision });
    Ok(json_response(StatusCode::OK, &body, &ctx.request_id))
}
