//! The review queue over HTTP (roles with `review = true`, supervisors by
//! default): conflicts the host did not answer to a plugin because it may
//! not read the data behind them. A reviewer sees who and when, never the
//! value, and assigns the value to the claimant or dismisses it; listing
//! and resolving are audited.

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
use crate::store::commit::{Check, CommitError};
use crate::store::draft::{Draft, DraftError};
use crate::store::reviews::{self, Decision, MY_NUMBER_HELD, Resolution, ReviewId};

fn parse_id(text: &str) -> Option<ReviewId> {
    let bytes = hex::decode(text).ok()?;
    bytes.try_into().ok()
}

fn no_such_review() -> ApiError {
    ApiError::not_found("unknown-review", "no such open review")
}

/// `GET /v1/{tenant}/reviews`: the open reviews, oldest first.
pub(super) async fn list(ctx: Ctx) -> Result<Response<Full<Bytes>>, ApiError> {
    let user = ctx.require_reviewer().await?;
    let open = reviews::open_reviews(ctx.tenant.store.db())?;
    let handles = ctx.tenant.store.keys().person_handles();
    let items: Vec<_> = open
        .iter()
        .map(|(id, r)| {
            json!({
                "id": hex::encode(id),
                "kind": MY_NUMBER_HELD,
                "claimant": handles.handle(r.claimant),
                "holder": handles.handle(r.holder),
                "raised": {
                    "time": format_timestamp(r.raised.time_ms),
                    "plugin": r.raised.plugin,
                    "actor": r.raised.actor,
                    "request_id": r.raised.request_id,
                },
            })
        })
        .collect();
    let mut seen = Event::new(
        ctx.now_ms,
        &ctx.request_id,
        &user.name,
        "review.list",
        Outcome::Ok,
    );
    seen.subjects = open
        .iter()
        .flat_map(|(_, r)| [r.claimant, r.holder])
        .collect();
    seen.subjects.sort_unstable();
    seen.subjects.dedup();
    ctx.record(vec![seen]).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "reviews": items }),
        &ctx.request_id,
    ))
}

/// `POST /v1/{tenant}/reviews/{id}` with `{"decision": "assign" | "dismiss"}`.
pub(super) async fn resolve<B>(
    app: &App,
    ctx: Ctx,
    req: Request<B>,
    id: &str,
) -> Result<Response<Full<Bytes>>, ApiError>
where
    B: Body<Data = Bytes> + Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let user = ctx.require_reviewer().await?;
    let body = read_json(req).await?;
    let decision = body["decision"]
        .as_str()
        .and_then(Decision::parse)
        .ok_or_else(|| {
            ApiError::bad_request("invalid", "decision must be \"assign\" or \"dismiss\"")
        })?;
    let id = parse_id(id).ok_or_else(no_such_review)?;
    let store = ctx.tenant.store.clone();
    let row = match reviews::review(store.db(), &id)? {
        Some(row) if row.resolution.is_none() => row,
        _ => return Err(no_such_review()),
    };
    let (claimant, holder) = (row.claimant, row.holder);
    let mut draft = Draft::new(store, app.runtime.entropy().clone());
    let resolution = Resolution {
        by: user.name.clone(),
        time_ms: ctx.now_ms,
        decision,
    };
    match draft.resolve_review(id, row, resolution) {
        Ok(()) => {}
        Err(DraftError::Store(e)) => return Err(e.into()),
        Err(DraftError::Conflict(m)) => {
            return Err(ApiError::new(StatusCode::CONFLICT, "conflict", m));
        }
        Err(DraftError::NotFound(m) | DraftError::Invalid(m)) => {
            return Err(ApiError::bad_request("invalid", m));
        }
        Err(e @ DraftError::Suspended) => {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "suspended",
                e.to_string(),
            ));
        }
    }
    let mut event = Event::new(
        ctx.now_ms,
        &ctx.request_id,
        &user.name,
        "review.resolve",
        Outcome::Ok,
    )
    .with_reason(decision.as_str());
    event.subject = Some(claimant);
    event.subjects = vec![holder];
    let mut set = draft.into_write_set(vec![event]);
    set.checks.push(Check::ReviewOpen(id));
    match ctx.tenant.committer.commit(set).await {
        Ok(_) => {}
        Err(CommitError::Conflict(c)) if c.replay => return Err(no_such_review()),
        Err(CommitError::Conflict(c)) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                format!("{c}; try again"),
            ));
        }
        Err(CommitError::Overloaded) => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "overloaded",
                "the server is busy; try again",
            ));
        }
        Err(CommitError::Store(e)) => return Err(e.into()),
    }
    let body = json!({ "id": hex::encode(id), "decision": decision.as_str() });
    Ok(json_response(StatusCode::OK, &body, &ctx.request_id))
}
