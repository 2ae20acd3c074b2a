//! The administrator's endpoints under `/v1/admin/{tenant}`: users,
//! installed plugins, commit counters.

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Body;
use hyper::{Request, Response, StatusCode};
use serde_json::json;

use super::body::read_json;
use super::ctx::{Ctx, blocking, missing};
use super::{ApiError, json_response};
use crate::app::{App, PluginSlot};
use crate::audit::{Event, Outcome};
use crate::identity::accounts::{self, Kind, NewAccount};
use crate::identity::{lifecycle, review, service};

fn text(body: &serde_json::Value, name: &str) -> Result<String, ApiError> {
    body.get(name)
        .and_then(|v| v.as_str())
        .map(str::to_owned)
        .ok_or_else(|| missing(name))
}

fn optional_text(body: &serde_json::Value, name: &str) -> Option<String> {
    body.get(name).and_then(|v| v.as_str()).map(str::to_owned)
}

/// The end of the day `text` (YYYY-MM-DD) names, in ms.
fn day_end(text: &str, what: &str) -> Result<i64, ApiError> {
    crate::identity::accounts::parse_day_end(text)
        .ok_or_else(|| ApiError::bad_request("invalid", format!("{what} is a date YYYY-MM-DD")))
}

/// `POST /v1/admin/{tenant}/users` `{"name","role"[,"kind":"staff"|"shared","valid_until"]}`
/// -> `{"enrolment_code"}`: the account waits for its holder to enrol.
pub(super) async fn add_user<B>(
    app: &App,
    ctx: Ctx,
    req: Request<B>,
) -> Result<Response<Full<Bytes>>, ApiError>
where
    B: Body<Data = Bytes> + Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let user = ctx.require_admin("admin users").await?;
    let body = read_json(req).await?;
    let kind = match optional_text(&body, "kind").as_deref() {
        None | Some("staff") => Kind::Staff,
        Some("shared") => Kind::Shared,
        Some(_) => {
            return Err(ApiError::bad_request(
                "invalid",
                "kind is \"staff\" or \"shared\" (services: POST .../tokens)",
            ));
        }
    };
    let valid_until_ms = match optional_text(&body, "valid_until") {
        Some(d) => Some(day_end(&d, "valid_until")?),
        None => None,
    };
    let new = NewAccount {
        name: text(&body, "name")?,
        role: text(&body, "role")?,
        kind,
        valid_until_ms,
    };
    let (store, actor, entropy) = (
        ctx.tenant.store.clone(),
        ctx.admin_actor(&user),
        app.runtime.entropy().clone(),
    );
    let code = blocking(move || accounts::add(&store, &new, &actor, entropy.as_ref())).await?;
    Ok(json_response(
        StatusCode::CREATED,
        &json!({ "enrolment_code": code, "state": "enrolment-pending" }),
        &ctx.request_id,
    ))
}

/// `POST /v1/admin/{tenant}/users/{name}/{action}`: `disable`
/// `{"reason"}`, `enable`, `role` `{"role"}`, `reset` (-> a new
/// enrolment code), `valid-until` `{"valid_until": date|null}`.
pub(super) async fn change_user<B>(
    app: &App,
    ctx: Ctx,
    req: Request<B>,
    name: &str,
    action: &str,
) -> Result<Response<Full<Bytes>>, ApiError>
where
    B: Body<Data = Bytes> + Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let user = ctx.require_admin("admin users").await?;
    let body = read_json(req).await?;
    let (store, actor, name) = (
        ctx.tenant.store.clone(),
        ctx.admin_actor(&user),
        name.to_owned(),
    );
    let answer = match action {
        "disable" => {
            let reason = text(&body, "reason")?;
            let ended =
                blocking(move || lifecycle::disable(&store, &name, &reason, &actor)).await?;
            json!({ "disabled": true, "sessions_ended": ended })
        }
        "enable" => {
            blocking(move || lifecycle::enable(&store, &name, &actor)).await?;
            json!({ "enabled": true })
        }
        "role" => {
            let role = text(&body, "role")?;
            blocking(move || lifecycle::set_role(&store, &name, &role, &actor)).await?;
            json!({ "role_changed": true })
        }
        "reset" => {
            let entropy = app.runtime.entropy().clone();
            let code =
                blocking(move || lifecycle::reset(&store, &name, &actor, entropy.as_ref())).await?;
            json!({ "enrolment_code": code, "state": "enrolment-pending" })
        }
        "valid-until" => {
            let until = match optional_text(&body, "valid_until") {
                Some(d) => Some(day_end(&d, "valid_until")?),
                None => None,
            };
            blocking(move || lifecycle::set_valid_until(&store, &name, until, &actor)).await?;
            json!({ "valid_until_changed": true })
        }
        _ => {
            return Err(ApiError::not_found(
                "not-found",
                "no such user action (disable, enable, role, reset, valid-until)",
            ));
        }
    };
    Ok(json_response(StatusCode::OK, &answer, &ctx.request_id))
}

/// `GET /v1/admin/{tenant}/users`: every account and its state.
pub(super) async fn list_users(ctx: Ctx) -> Result<Response<Full<Bytes>>, ApiError> {
    ctx.require_admin("admin users").await?;
    let lines = review::review(&ctx.tenant.store, ctx.now_ms)?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "users": lines }),
        &ctx.request_id,
    ))
}

/// `GET /v1/admin/{tenant}/users/review?format=json|csv`: the quarterly
/// account review, with its flags.
pub(super) async fn review(ctx: Ctx, query: &str) -> Result<Response<Full<Bytes>>, ApiError> {
    let user = ctx.require_admin("the account review").await?;
    let lines = review::review(&ctx.tenant.store, ctx.now_ms)?;
    ctx.record(vec![
        Event::by(
            ctx.now_ms,
            &ctx.request_id,
            &user.identity,
            "user.review",
            Outcome::Ok,
        )
        .with_reason(format!("{} accounts reviewed", lines.len())),
    ])
    .await?;
    let csv = form_urlencoded::parse(query.as_bytes()).any(|(k, v)| k == "format" && v == "csv");
    if csv {
        return Ok(hyper::Response::builder()
            .status(StatusCode::OK)
            .header("content-type", "text/csv; charset=utf-8")
            .header(super::REQUEST_ID_HEADER, ctx.request_id.as_str())
            .header("cache-control", "no-store")
            .body(Full::new(Bytes::from(review::to_csv(&lines))))
            .expect("static headers are valid"));
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({ "accounts": lines }),
        &ctx.request_id,
    ))
}

/// `POST /v1/admin/{tenant}/tokens` `{"service","role","expires"[,"source"]}`
/// -> `{"token"}`: a service account's token (a new one replaces the old).
pub(super) async fn add_token<B>(
    app: &App,
    ctx: Ctx,
    req: Request<B>,
) -> Result<Response<Full<Bytes>>, ApiError>
where
    B: Body<Data = Bytes> + Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let user = ctx.require_admin("admin tokens").await?;
    let body = read_json(req).await?;
    let (name, role) = (text(&body, "service")?, text(&body, "role")?);
    let expires = day_end(&text(&body, "expires")?, "expires")?;
    let source = match optional_text(&body, "source") {
        Some(s) => Some(
            s.parse()
                .map_err(|_| ApiError::bad_request("invalid", "source is an IP address"))?,
        ),
        None => None,
    };
    let (store, actor, entropy) = (
        ctx.tenant.store.clone(),
        ctx.admin_actor(&user),
        app.runtime.entropy().clone(),
    );
    let token = blocking(move || {
        service::add(
            &store,
            &name,
            &role,
            expires,
            source,
            &actor,
            entropy.as_ref(),
        )
    })
    .await?;
    Ok(json_response(
        StatusCode::CREATED,
        &json!({ "token": token }),
        &ctx.request_id,
    ))
}

/// `GET /v1/admin/{tenant}/plugins`: what is installed, pinned, refused,
/// and each loaded plugin's policy in words (as `kiroku policy check`).
pub(super) async fn list_plugins(ctx: Ctx) -> Result<Response<Full<Bytes>>, ApiError> {
    ctx.require_admin("admin plugins").await?;
    let plugins: Vec<_> = ctx
        .registry
        .plugins
        .iter()
        .map(|(name, slot)| match slot.now() {
            PluginSlot::Ready(p) => json!({"name": name, "digest": p.identity.digest.to_string(),
                "status": "ready", "imports": p.imports, "operations": p.operations,
                "policy": p.policy.explain()}),
            PluginSlot::Refused(reason) => {
                json!({"name": name, "status": "refused", "reason": reason})
            }
            PluginSlot::Loading(_) => json!({"name": name, "status": "loading"}),
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "plugins": plugins }),
        &ctx.request_id,
    ))
}

/// `GET /v1/admin/{tenant}/stats`: group-commit counters.
pub(super) async fn stats(ctx: Ctx) -> Result<Response<Full<Bytes>>, ApiError> {
    ctx.require_admin("admin stats").await?;
    let stats = ctx.tenant.committer.stats();
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    let body = json!({
        "commits": load(&stats.commits),
        "write_sets": load(&stats.write_sets),
        "persons": ctx.tenant.store.person_count()?,
    });
    Ok(json_response(StatusCode::OK, &body, &ctx.request_id))
}
