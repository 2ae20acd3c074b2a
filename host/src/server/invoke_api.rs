//! Plugin operations over HTTP: what the caller may invoke, resolving an
//! operation for a request (role, loaded plugin, read-only roles,
//! replays), and invoking it.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Body;
use hyper::{Request, Response, StatusCode};
use kiroku_rules::safe_text::is_field_name;
use serde_json::json;

use super::body::read_input_for;
use super::ctx::Ctx;
use super::{ApiError, REQUEST_ID_HEADER, json_response, raw_json_response};
use crate::app::{App, PluginSlot};
use crate::audit::{Event, Outcome};
use crate::limits::MAX_REQUEST_BODY_BYTES;
use crate::runtime::RequestInfo;

/// `GET /v1/{tenant}/plugins`: the operations the caller's role may invoke.
pub(super) async fn my_plugins(ctx: Ctx) -> Result<Response<Full<Bytes>>, ApiError> {
    let user = ctx.require(|_, _| true, "").await?;
    let role = ctx.registry.roles.get(&user.role);
    let plugins: Vec<_> = ctx
        .registry
        .plugins
        .iter()
        .filter_map(|(name, slot)| match slot.now() {
            PluginSlot::Ready(p) => {
                let ops: Vec<_> = p
                    .operations
                    .iter()
                    .filter(|o| role.is_some_and(|r| r.may_invoke(name, &o.name)))
                    .collect();
                (!ops.is_empty()).then(|| json!({"name": name, "operations": ops}))
            }
            PluginSlot::Refused(_) | PluginSlot::Loading(_) => None,
        })
        .collect();
    // What the role may do beyond plugins, so a client (the console) shows
    // only the screens it can use; the host still checks every request.
    let grants = role.map_or(json!({}), |r| {
        json!({"audit": r.audit, "admin": r.admin, "review": r.review, "federation": r.federation, "read_only": r.read_only})
    });
    let body = json!({ "user": user.name, "operator": user.identity.operator, "role": user.role, "grants": grants, "plugins": plugins });
    Ok(json_response(StatusCode::OK, &body, &ctx.request_id))
}

/// A plugin operation the caller may invoke, resolved for a request.
pub(super) struct Resolved {
    pub user: crate::identity::Caller,
    pub plugin: Arc<crate::runtime::LoadedPlugin>,
    pub what: String,
    /// The client's request id of a writing operation (applied at most once).
    pub replay_guard: Option<String>,
}

/// Authenticates the caller, checks their role may invoke
/// `plugin/operation`, finds the loaded plugin, and refuses a replayed
/// writing request.
pub(super) async fn resolve<B>(
    ctx: &Ctx,
    req: &Request<B>,
    plugin: &str,
    operation: &str,
) -> Result<Resolved, ApiError> {
    // Names from the path reach audit events and messages only when they
    // look like names: a path can carry anything a client typed.
    if !is_field_name(plugin) || !is_field_name(operation) {
        return Err(ApiError::not_found(
            "unknown-plugin",
            "no such plugin or operation is installed for this tenant",
        ));
    }
    let what = format!("{plugin}/{operation}");
    let user = ctx
        .require(
            |r, u| {
                r.roles
                    .get(&u.role)
                    .is_some_and(|role| role.may_invoke(plugin, operation))
            },
            &what,
        )
        .await?;
    let Some(slot) = ctx.registry.plugins.get(plugin) else {
        return Err(ApiError::not_found(
            "unknown-plugin",
            format!("no plugin {plugin} is installed for this tenant"),
        ));
    };
    let wait = std::time::Duration::from_millis(crate::app::MAX_LOAD_WAIT_MS);
    let loaded = slot.ready(wait).await.map_err(|reason| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "plugin-unavailable",
            reason,
        )
    })?;
    let Some(op) = loaded.operation(operation) else {
        return Err(ApiError::not_found(
            "unknown-operation",
            format!("{plugin} has no operation {operation}"),
        ));
    };
    let writes = op.writes;
    if writes
        && ctx
            .registry
            .roles
            .get(&user.role)
            .is_some_and(|r| r.read_only)
    {
        let reason = format!("role {} is read-only; {what} writes", user.role);
        return Err(ctx.forbid(&user, reason).await);
    }
    // A client that names its request makes a writing retry safe: the
    // changes are applied at most once.
    let supplied_id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        == Some(ctx.request_id.as_str());
    let replay_guard = (writes && supplied_id).then(|| ctx.request_id.clone());
    if let Some(id) = &replay_guard
        && ctx.tenant.store.request_applied(id)?
    {
        let event = Event::by(
            ctx.now_ms,
            id,
            &user.identity,
            format!("invoke {what}"),
            Outcome::Deny,
        )
        .with_reason("replayed");
        ctx.record(vec![event]).await?;
        let message = "a request with this id was already applied; it is not applied twice";
        return Err(ApiError::new(StatusCode::CONFLICT, "replayed", message));
    }
    Ok(Resolved {
        user,
        plugin: loaded,
        what,
        replay_guard,
    })
}

impl Resolved {
    /// What the invocation serves: this caller, this request, maybe a job.
    pub(super) fn request(
        &self,
        app: &App,
        ctx: &Ctx,
        job: Option<Arc<crate::jobs::Progress>>,
    ) -> Arc<RequestInfo> {
        Arc::new(RequestInfo {
            who: self.user.identity.clone(),
            request_id: ctx.request_id.clone(),
            now_ms: ctx.now_ms,
            today: app.runtime.clock().today(),
            replay_guard: self.replay_guard.clone(),
            job,
            public_url: app.public_url(),
            application: None,
            federation: app.federation.get().cloned(),
        })
    }
}

pub(super) async fn invoke<B>(
    app: &App,
    ctx: Ctx,
    req: Request<B>,
    plugin: &str,
    operation: &str,
) -> Result<Response<Full<Bytes>>, ApiError>
where
    B: Body<Data = Bytes> + Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let resolved = resolve(&ctx, &req, plugin, operation).await?;
    let input = read_input_for(&resolved.plugin, req, MAX_REQUEST_BODY_BYTES).await?;
    let request = resolved.request(app, &ctx, None);
    let output = ctx
        .tenant
        .invoke(app, &resolved.plugin, request, operation, &input)
        .await?;
    Ok(raw_json_response(
        StatusCode::OK,
        Bytes::from(output.output),
        &ctx.request_id,
    ))
}
