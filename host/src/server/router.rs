//! Routing and request handling.
//!
//! ```text
//! GET  /healthz                              alive
//! GET  /console/                           the staff console (its files built in)
//! GET  /readyz                               every tenant open, every plugin loaded (503 until then)
//! GET  /v1/{tenant}/federation/queue       federation-approver: queries waiting for a decision
//! POST /v1/{tenant}/federation/queue/{id}  federation-approver {"decision": "approve"|"refuse"}
//! GET  /v1/{tenant}/reviews                  reviewer: conflicts plugins were not told about
//! POST /v1/{tenant}/reviews/{id}             reviewer {"decision": "assign"|"dismiss"}
//! POST /v1/{tenant}/{plugin}/{operation}      staff, by role
//! GET  /v1/{tenant}/plugins                   staff: what they may invoke
//! GET  /v1/{tenant}/audit?subject=&actor=&session=&from=&to=&after=&limit=   auditor
//! GET  /v1/{tenant}/audit/verify              auditor
//! POST /v1/{tenant}/jobs/{plugin}/{operation} staff, by role: starts a job -> {"job_id"}
//! GET  /v1/{tenant}/jobs/{id}                 its starter or an admin: state, done/total
//! DELETE /v1/{tenant}/jobs/{id}               its starter or an admin: cancel
//! POST /v1/{tenant}/login                     {"name","password","totp"[,"operator","operator_totp"]}
//! POST /v1/{tenant}/login/passkey             {"name"} -> a WebAuthn challenge (then login with "passkey")
//! POST /v1/{tenant}/passkeys/{start,finish}    a session registers a passkey
//! POST /v1/{tenant}/logout                    the session ends
//! POST /v1/{tenant}/unlock                    a locked session + {"totp"}
//! POST /v1/{tenant}/enrol                     {"name","code","password"} -> otpauth URI + QR
//! GET  /v1/{tenant}/session                   who am I, until when
//! POST /v1/{tenant}/session/operator          shared account: {"operator","operator_totp"}
//! GET  /v1/admin/{tenant}/users               admin
//! GET  /v1/admin/{tenant}/users/review        admin  ?format=json|csv
//! POST /v1/admin/{tenant}/users               admin  {"name","role"[,"kind","valid_until"]} -> {"enrolment_code"}
//! POST /v1/admin/{tenant}/users/{name}/{disable|enable|role|reset|valid-until}  admin
//! POST /v1/admin/{tenant}/tokens              admin  {"service","role","expires"[,"source"]} -> {"token"}
//! GET  /v1/admin/{tenant}/plugins             admin
//! GET  /v1/admin/{tenant}/stats               admin  group-commit counters
//! ```

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Body;
use hyper::{Method, Request, Response, StatusCode};
use kiroku_rules::safe_text::is_field_name;
use serde_json::json;

use super::body::read_input_for;
use super::ctx::Ctx;
use super::{
    ApiError, REQUEST_ID_HEADER, admin_api, audit_api, certificates_api, federation_api, jobs_api,
    json_response, passkey_api, raw_json_response, reviews_api, session_api,
};
use crate::app::{App, PluginSlot};
use crate::audit::{Event, Outcome};
use crate::limits::{MAX_REQUEST_BODY_BYTES, MAX_REQUEST_ID_BYTES};
use crate::runtime::RequestInfo;

/// Handles one request. Never panics on input; every error is JSON.
pub async fn handle<B>(app: &App, req: Request<B>) -> Response<Full<Bytes>>
where
    B: Body<Data = Bytes> + Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    use tracing::Instrument;
    let request_id = request_id(&req, app);
    let observed =
        super::observe::Observed::start(app, req.method(), req.uri().path(), &request_id);
    let response = match route(app, req, &request_id)
        .instrument(observed.span.clone())
        .await
    {
        Ok(response) => response,
        Err(e) => e.into_response(&request_id),
    };
    observed.finish(response.status().as_u16());
    response
}

/// A client's request id if it is sane, else a fresh one.
fn request_id<B>(req: &Request<B>, app: &App) -> String {
    let supplied = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= MAX_REQUEST_ID_BYTES
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        });
    match supplied {
        Some(id) => id.to_owned(),
        None => {
            let mut bytes = [0u8; 12];
            app.runtime.entropy().fill(&mut bytes);
            format!("req-{}", hex::encode(bytes))
        }
    }
}

async fn route<B>(
    app: &App,
    req: Request<B>,
    request_id: &str,
) -> Result<Response<Full<Bytes>>, ApiError>
where
    B: Body<Data = Bytes> + Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let path = req.uri().path().to_owned();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let method = req.method().clone();
    match (method.clone(), segments.as_slice()) {
        (Method::GET, ["healthz"]) => Ok(json_response(
            StatusCode::OK,
            &json!({"status": "ok"}),
            request_id,
        )),
        (Method::GET, ["readyz"]) => {
            let (ready, body) = app.readiness();
            let status = if ready {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            Ok(json_response(status, &body, request_id))
        }
        (Method::GET | Method::HEAD, ["console"]) => Ok(super::console::to_index()),
        (Method::GET | Method::HEAD, ["console", file]) => {
            super::console::asset(file, method == Method::HEAD)
        }
        (Method::GET, ["issuers", code, ".well-known", "jwks.json"]) => {
            certificates_api::jwks(app, code, request_id)
        }
        (Method::GET, ["issuers", code, ".well-known", "crl", file]) => {
            certificates_api::crl(app, code, file, request_id)
        }
        (Method::POST, ["v1", tenant, "certificate-applications"]) => {
            let ctx = Ctx::new(app, &req, tenant, request_id).await?;
            certificates_api::apply(app, ctx, req).await
        }
        (Method::GET, ["v1", tenant, "federation", "queue"]) => {
            federation_api::list(Ctx::new(app, &req, tenant, request_id).await?).await
        }
        (Method::POST, ["v1", tenant, "federation", "queue", id]) => {
            let ctx = Ctx::new(app, &req, tenant, request_id).await?;
            let id = (*id).to_owned();
            federation_api::decide(app, ctx, req, &id).await
        }
        (Method::GET, ["v1", tenant, "reviews"]) => {
            reviews_api::list(Ctx::new(app, &req, tenant, request_id).await?).await
        }
        (Method::POST, ["v1", tenant, "reviews", id]) => {
            let ctx = Ctx::new(app, &req, tenant, request_id).await?;
            let id = (*id).to_owned();
            reviews_api::resolve(app, ctx, req, &id).await
        }
        (Method::POST, ["v1", tenant, "login"]) => {
            let ctx = Ctx::anonymous(app, &req, tenant, request_id).await?;
            session_api::login(app, ctx, req).await
        }
        (Method::POST, ["v1", tenant, "login", "passkey"]) => {
            let ctx = Ctx::anonymous(app, &req, tenant, request_id).await?;
            passkey_api::start_passkey_login(app, ctx, req).await
        }
        (Method::POST, ["v1", tenant, "passkeys", step @ ("start" | "finish")]) => {
            let ctx = Ctx::new(app, &req, tenant, request_id).await?;
            let step = (*step).to_owned();
            passkey_api::passkey_registration(app, ctx, req, &step).await
        }
        (Method::POST, ["v1", tenant, "logout"]) => {
            session_api::logout(app, Ctx::new(app, &req, tenant, request_id).await?).await
        }
        (Method::POST, ["v1", tenant, "unlock"]) => {
            let ctx = Ctx::new(app, &req, tenant, request_id).await?;
            session_api::unlock(app, ctx, req).await
        }
        (Method::POST, ["v1", tenant, "enrol"]) => {
            let ctx = Ctx::anonymous(app, &req, tenant, request_id).await?;
            session_api::enrol(app, ctx, req).await
        }
        (Method::GET, ["v1", tenant, "session"]) => {
            session_api::show(Ctx::new(app, &req, tenant, request_id).await?).await
        }
        (Method::POST, ["v1", tenant, "session", "operator"]) => {
            let ctx = Ctx::new(app, &req, tenant, request_id).await?;
            session_api::switch_operator(app, ctx, req).await
        }
        (Method::POST, ["v1", "admin", tenant, "users"]) => {
            let ctx = Ctx::new(app, &req, tenant, request_id).await?;
            admin_api::add_user(app, ctx, req).await
        }
        (Method::POST, ["v1", "admin", tenant, "users", name, action]) => {
            let ctx = Ctx::new(app, &req, tenant, request_id).await?;
            let (name, action) = ((*name).to_owned(), (*action).to_owned());
            admin_api::change_user(app, ctx, req, &name, &action).await
        }
        (Method::GET, ["v1", "admin", tenant, "users"]) => {
            admin_api::list_users(Ctx::new(app, &req, tenant, request_id).await?).await
        }
        (Method::GET, ["v1", "admin", tenant, "users", "review"]) => {
            admin_api::review(
                Ctx::new(app, &req, tenant, request_id).await?,
                req.uri().query().unwrap_or(""),
            )
            .await
        }
        (Method::POST, ["v1", "admin", tenant, "tokens"]) => {
            let ctx = Ctx::new(app, &req, tenant, request_id).await?;
            admin_api::add_token(app, ctx, req).await
        }
        (Method::GET, ["v1", "admin", tenant, "plugins"]) => {
            admin_api::list_plugins(Ctx::new(app, &req, tenant, request_id).await?).await
        }
        (Method::GET, ["v1", "admin", tenant, "stats"]) => {
            admin_api::stats(Ctx::new(app, &req, tenant, request_id).await?).await
        }
        (Method::GET, ["v1", tenant, "plugins"]) => {
            my_plugins(Ctx::new(app, &req, tenant, request_id).await?).await
        }
        (Method::GET, ["v1", tenant, "audit"]) => {
            audit_api::query(
                Ctx::new(app, &req, tenant, request_id).await?,
                req.uri().query().unwrap_or(""),
            )
            .await
        }
        (Method::GET, ["v1", tenant, "audit", "verify"]) => {
            audit_api::verify(Ctx::new(app, &req, tenant, request_id).await?).await
        }
        (Method::POST, ["v1", tenant, "jobs", plugin, operation]) => {
            let ctx = Ctx::new(app, &req, tenant, request_id).await?;
            let (plugin, operation) = ((*plugin).to_owned(), (*operation).to_owned());
            jobs_api::start(app, ctx, req, &plugin, &operation).await
        }
        (Method::GET, ["v1", tenant, "jobs", id]) => {
            jobs_api::status(app, Ctx::new(app, &req, tenant, request_id).await?, id).await
        }
        (Method::DELETE, ["v1", tenant, "jobs", id]) => {
            jobs_api::cancel(app, Ctx::new(app, &req, tenant, request_id).await?, id).await
        }
        (Method::POST, ["v1", tenant, plugin, operation]) if *tenant != "admin" => {
            let ctx = Ctx::new(app, &req, tenant, request_id).await?;
            let (plugin, operation) = ((*plugin).to_owned(), (*operation).to_owned());
            invoke(app, ctx, req, &plugin, &operation).await
        }
        (_, ["healthz"])
        | (_, ["readyz"])
        | (_, ["console"])
        | (_, ["console", _])
        | (_, ["issuers", _, ".well-known", ..])
        | (_, ["v1", _, "certificate-applications"])
        | (_, ["v1", _, "reviews"])
        | (_, ["v1", _, "reviews", _])
        | (_, ["v1", _, "login" | "logout" | "unlock" | "enrol" | "session"])
        | (_, ["v1", _, "session", "operator"])
        | (_, ["v1", "admin", _, "users" | "tokens"])
        | (_, ["v1", "admin", _, "users", _])
        | (_, ["v1", "admin", _, "users", _, _])
        | (_, ["v1", "admin", _, "plugins"])
        | (_, ["v1", "admin", _, "stats"])
        | (_, ["v1", _, "plugins"])
        | (_, ["v1", _, "audit"])
        | (_, ["v1", _, "audit", "verify"])
        | (_, ["v1", _, "jobs", _])
        | (_, ["v1", _, "jobs", _, _])
        | (_, ["v1", _, _, _]) => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            // The path is not quoted back: it may carry a value.
            format!("{method} is not allowed on this endpoint"),
        )),
        _ => Err(ApiError::not_found("not-found", "no such endpoint")),
    }
}

/// `GET /v1/{tenant}/plugins`: the operations the caller's role may invoke.
async fn my_plugins(ctx: Ctx) -> Result<Response<Full<Bytes>>, ApiError> {
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
    let body = json!({ "user": user.name, "operator": user.identity.operator, "role": user.role, "plugins": plugins });
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
        ctx.record(vec![
            Event::by(
                ctx.now_ms,
                &ctx.request_id,
                &user.identity,
                "auth",
                Outcome::Deny,
            )
            .with_reason(reason.clone()),
        ])
        .await?;
        return Err(ApiError::forbidden(reason));
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

async fn invoke<B>(
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
