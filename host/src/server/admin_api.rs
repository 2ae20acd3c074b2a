//! The administrator's endpoints under `/v1/admin/{tenant}`: users,
//! installed plugins, commit counters.

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Body;
use hyper::{Request, Response, StatusCode};
use serde_json::json;

use super::ctx::{Ctx, blocking, missing, read_json};
use super::{ApiError, json_response};
use crate::admin;
use crate::app::{App, PluginSlot};
use crate::clock::format_timestamp;

/// `POST /v1/admin/{tenant}/users` `{"name","role"}` -> `{"token"}`
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
    let field = |name: &str| {
        body.get(name)
            .and_then(|v| v.as_str())
            .map(str::to_owned)
            .ok_or_else(|| missing(name))
    };
    let (name, role) = (field("name")?, field("role")?);
    let (store, actor, entropy) = (
        ctx.tenant.store.clone(),
        ctx.admin_actor(&user),
        app.runtime.entropy().clone(),
    );
    let token =
        blocking(move || admin::add_user(&store, &name, &role, &actor, entropy.as_ref())).await?;
    Ok(json_response(
        StatusCode::CREATED,
        &json!({ "token": token }),
        &ctx.request_id,
    ))
}

/// `POST /v1/admin/{tenant}/users/{name}/revoke`
pub(super) async fn revoke_user(ctx: Ctx, name: &str) -> Result<Response<Full<Bytes>>, ApiError> {
    let user = ctx.require_admin("admin users").await?;
    let (store, actor, name) = (
        ctx.tenant.store.clone(),
        ctx.admin_actor(&user),
        name.to_owned(),
    );
    blocking(move || admin::revoke_user(&store, &name, &actor)).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "revoked": true }),
        &ctx.request_id,
    ))
}

/// `GET /v1/admin/{tenant}/users`
pub(super) async fn list_users(ctx: Ctx) -> Result<Response<Full<Bytes>>, ApiError> {
    ctx.require_admin("admin users").await?;
    let users: Vec<_> = admin::list_users(&ctx.tenant.store)?
        .into_iter()
        .map(|u| {
            json!({"name": u.name, "role": u.role, "created": format_timestamp(u.created_ms),
                   "revoked": u.revoked_ms.map(format_timestamp)})
        })
        .collect();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "users": users }),
        &ctx.request_id,
    ))
}

/// `GET /v1/admin/{tenant}/plugins`: what is installed, pinned, refused.
pub(super) async fn list_plugins(ctx: Ctx) -> Result<Response<Full<Bytes>>, ApiError> {
    ctx.require_admin("admin plugins").await?;
    let plugins: Vec<_> = ctx
        .registry
        .plugins
        .iter()
        .map(|(name, slot)| match slot.now() {
            PluginSlot::Ready(p) => json!({"name": name, "digest": p.identity.digest.to_string(),
                "status": "ready", "imports": p.imports, "operations": p.operations}),
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
