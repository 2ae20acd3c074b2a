//! Routing and request handling.
//!
//! ```text
//! GET  /healthz
//! POST /v1/{tenant}/{plugin}/{operation}      staff, by role
//! GET  /v1/{tenant}/plugins                   staff: what they may invoke
//! GET  /v1/{tenant}/audit?subject=&actor=&from=&to=&after=&limit=   auditor
//! GET  /v1/{tenant}/audit/verify              auditor
//! GET  /v1/admin/{tenant}/users               admin
//! POST /v1/admin/{tenant}/users               admin  {"name","role"} -> {"token"}
//! POST /v1/admin/{tenant}/users/{name}/revoke admin
//! GET  /v1/admin/{tenant}/plugins             admin
//! GET  /v1/admin/{tenant}/stats               admin  group-commit counters
//! ```

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Body;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::json;

use super::{ApiError, REQUEST_ID_HEADER, json_response, raw_json_response};
use crate::admin::{self, AdminActor};
use crate::app::{App, PluginSlot, Registry, Tenant};
use crate::audit::{self, Event, Outcome};
use crate::clock::{format_timestamp, parse_timestamp};
use crate::ids::TenantCode;
use crate::limits::{MAX_AUDIT_QUERY_ROWS, MAX_REQUEST_BODY_BYTES, MAX_REQUEST_ID_BYTES};
use crate::runtime::RequestInfo;
use crate::store::commit::WriteSet;
use crate::store::rows::UserRow;

/// Handles one request. Never panics on input; every error is JSON.
pub async fn handle<B>(app: &App, req: Request<B>) -> Response<Full<Bytes>>
where
    B: Body<Data = Bytes> + Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let request_id = request_id(&req, app);
    match route(app, req, &request_id).await {
        Ok(response) => response,
        Err(e) => e.into_response(&request_id),
    }
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
        (Method::POST, ["v1", "admin", tenant, "users"]) => {
            let ctx = Ctx::new(app, &req, tenant, request_id).await?;
            let user = ctx.require_admin("admin users").await?;
            let body = read_json(req).await?;
            let name = body
                .get("name")
                .and_then(|v| v.as_str())
                .ok_or_else(|| missing("name"))?;
            let role = body
                .get("role")
                .and_then(|v| v.as_str())
                .ok_or_else(|| missing("role"))?;
            let (store, actor, entropy) = (
                ctx.tenant.store.clone(),
                ctx.admin_actor(&user),
                app.runtime.entropy().clone(),
            );
            let (name, role) = (name.to_owned(), role.to_owned());
            let token =
                blocking(move || admin::add_user(&store, &name, &role, &actor, entropy.as_ref()))
                    .await?;
            Ok(json_response(
                StatusCode::CREATED,
                &json!({ "token": token }),
                request_id,
            ))
        }
        (Method::POST, ["v1", "admin", tenant, "users", name, "revoke"]) => {
            let ctx = Ctx::new(app, &req, tenant, request_id).await?;
            let user = ctx.require_admin("admin users").await?;
            let (store, actor, name) = (
                ctx.tenant.store.clone(),
                ctx.admin_actor(&user),
                (*name).to_owned(),
            );
            blocking(move || admin::revoke_user(&store, &name, &actor)).await?;
            Ok(json_response(
                StatusCode::OK,
                &json!({ "revoked": true }),
                request_id,
            ))
        }
        (Method::GET, ["v1", "admin", tenant, "users"]) => {
            let ctx = Ctx::new(app, &req, tenant, request_id).await?;
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
                request_id,
            ))
        }
        (Method::GET, ["v1", "admin", tenant, "plugins"]) => {
            let ctx = Ctx::new(app, &req, tenant, request_id).await?;
            ctx.require_admin("admin plugins").await?;
            let plugins: Vec<_> = ctx
                .registry
                .plugins
                .iter()
                .map(|(name, slot)| match slot {
                    PluginSlot::Ready(p) => {
                        json!({"name": name, "digest": p.identity.digest.to_string(),
                        "status": "ready", "imports": p.imports, "operations": p.operations})
                    }
                    PluginSlot::Refused(reason) => {
                        json!({"name": name, "status": "refused", "reason": reason})
                    }
                })
                .collect();
            Ok(json_response(
                StatusCode::OK,
                &json!({ "plugins": plugins }),
                request_id,
            ))
        }
        (Method::GET, ["v1", "admin", tenant, "stats"]) => {
            let ctx = Ctx::new(app, &req, tenant, request_id).await?;
            ctx.require_admin("admin stats").await?;
            let stats = ctx.tenant.committer.stats();
            let load =
                |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
            let body = json!({
                "commits": load(&stats.commits),
                "write_sets": load(&stats.write_sets),
                "persons": ctx.tenant.store.person_count()?,
            });
            Ok(json_response(StatusCode::OK, &body, request_id))
        }
        (Method::GET, ["v1", tenant, "plugins"]) => {
            let ctx = Ctx::new(app, &req, tenant, request_id).await?;
            let user = ctx.require(|_, _| true, "").await?;
            let role = ctx.registry.roles.get(&user.role);
            let plugins: Vec<_> = ctx
                .registry
                .plugins
                .iter()
                .filter_map(|(name, slot)| match slot {
                    PluginSlot::Ready(p) => {
                        let ops: Vec<_> = p
                            .operations
                            .iter()
                            .filter(|o| role.is_some_and(|r| r.may_invoke(name, &o.name)))
                            .collect();
                        (!ops.is_empty()).then(|| json!({"name": name, "operations": ops}))
                    }
                    PluginSlot::Refused(_) => None,
                })
                .collect();
            Ok(json_response(
                StatusCode::OK,
                &json!({ "user": user.name, "role": user.role, "plugins": plugins }),
                request_id,
            ))
        }
        (Method::GET, ["v1", tenant, "audit"]) => {
            let ctx = Ctx::new(app, &req, tenant, request_id).await?;
            let user = ctx.require_auditor().await?;
            let query = audit_query(req.uri().query().unwrap_or(""))?;
            let db = ctx.tenant.store.db().clone();
            let q = query.clone();
            let events =
                blocking(move || audit::query(db.as_ref(), &q).map_err(ApiError::from)).await?;
            let next = (events.len() == query.limit)
                .then(|| events.last().map(|e| e.seq))
                .flatten();
            let body = json!({ "events": events.iter().map(event_json).collect::<Vec<_>>(), "next_after": next });
            let mut seen = Event::new(
                ctx.now_ms,
                request_id,
                &user.name,
                "audit.query",
                Outcome::Ok,
            );
            seen.subject = query.subject;
            ctx.record(vec![seen]).await?;
            Ok(json_response(StatusCode::OK, &body, request_id))
        }
        (Method::GET, ["v1", tenant, "audit", "verify"]) => {
            let ctx = Ctx::new(app, &req, tenant, request_id).await?;
            let user = ctx.require_auditor().await?;
            let (db, keys) = (
                ctx.tenant.store.db().clone(),
                ctx.tenant.store.keys().clone(),
            );
            let verified =
                blocking(move || audit::verify(db.as_ref(), &keys).map_err(ApiError::from)).await?;
            ctx.record(vec![Event::new(
                ctx.now_ms,
                request_id,
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
            Ok(json_response(StatusCode::OK, &body, request_id))
        }
        (Method::POST, ["v1", tenant, plugin, operation]) if *tenant != "admin" => {
            let ctx = Ctx::new(app, &req, tenant, request_id).await?;
            let (plugin, operation) = ((*plugin).to_owned(), (*operation).to_owned());
            invoke(app, ctx, req, &plugin, &operation).await
        }
        (_, ["healthz"])
        | (_, ["v1", "admin", _, "users"])
        | (_, ["v1", "admin", _, "users", _, "revoke"])
        | (_, ["v1", "admin", _, "plugins"])
        | (_, ["v1", "admin", _, "stats"])
        | (_, ["v1", _, "plugins"])
        | (_, ["v1", _, "audit"])
        | (_, ["v1", _, "audit", "verify"])
        | (_, ["v1", _, _, _]) => Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            format!("{method} is not allowed on {path}"),
        )),
        _ => Err(ApiError::not_found(
            "not-found",
            format!("no such endpoint: {path}"),
        )),
    }
}

fn missing(field: &str) -> ApiError {
    ApiError::bad_request(
        "invalid",
        format!("the body needs a string field {field:?}"),
    )
}

async fn blocking<T: Send + 'static, E>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, ApiError>
where
    ApiError: From<E>,
    E: Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(ApiError::from),
        Err(e) => Err(ApiError::storage(&e)),
    }
}

/// An authenticated-request context: tenant, registry, clock reading.
struct Ctx {
    tenant: Arc<Tenant>,
    registry: Arc<Registry>,
    token: Option<String>,
    request_id: String,
    now_ms: i64,
}

impl Ctx {
    async fn new<B>(
        app: &App,
        req: &Request<B>,
        tenant: &str,
        request_id: &str,
    ) -> Result<Ctx, ApiError> {
        let unknown = || ApiError::not_found("unknown-tenant", "no such tenant on this server");
        let code = TenantCode::parse(tenant).map_err(|_| unknown())?;
        let tenant = app.tenant(&code)?.ok_or_else(unknown)?;
        let registry = tenant.registry(app).await?;
        let token = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| t.trim().to_owned());
        Ok(Ctx {
            tenant,
            registry,
            token,
            request_id: request_id.to_owned(),
            now_ms: app.runtime.clock().now_ms(),
        })
    }

    /// Commits audit events of this request.
    async fn record(&self, events: Vec<Event>) -> Result<(), ApiError> {
        self.tenant
            .committer
            .commit(WriteSet {
                events,
                ..WriteSet::default()
            })
            .await
            .map(|_| ())
            .map_err(|e| match e {
                crate::store::commit::CommitError::Overloaded => ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "overloaded",
                    "the server is busy; try again",
                ),
                other => ApiError::storage(&other),
            })
    }

    /// Authenticates the caller and checks `allowed`; every refusal is audited.
    async fn require(
        &self,
        allowed: impl Fn(&Registry, &UserRow) -> bool,
        what: &str,
    ) -> Result<UserRow, ApiError> {
        let user = match &self.token {
            None => None,
            Some(token) => {
                let txn = redb::ReadableDatabase::begin_read(self.tenant.store.db().as_ref())
                    .map_err(|e| ApiError::storage(&e))?;
                admin::authenticate(&txn, token)?
            }
        };
        let Some(user) = user else {
            let reason = if self.token.is_some() {
                "unknown or revoked token"
            } else {
                "no bearer token"
            };
            self.record(vec![
                Event::new(
                    self.now_ms,
                    &self.request_id,
                    "anonymous",
                    "auth",
                    Outcome::Deny,
                )
                .with_reason(reason),
            ])
            .await?;
            return Err(ApiError::unauthorized(format!(
                "{reason}; send Authorization: Bearer <token>"
            )));
        };
        if !allowed(&self.registry, &user) {
            let reason = format!("role {} may not use {what}", user.role);
            self.record(vec![
                Event::new(
                    self.now_ms,
                    &self.request_id,
                    &user.name,
                    "auth",
                    Outcome::Deny,
                )
                .with_reason(reason.clone()),
            ])
            .await?;
            return Err(ApiError::forbidden(reason));
        }
        Ok(user)
    }

    /// Authenticates an administrator.
    async fn require_admin(&self, what: &str) -> Result<UserRow, ApiError> {
        self.require(|r, u| r.roles.get(&u.role).is_some_and(|r| r.admin), what)
            .await
    }

    /// Authenticates an auditor.
    async fn require_auditor(&self) -> Result<UserRow, ApiError> {
        self.require(
            |r, u| r.roles.get(&u.role).is_some_and(|r| r.audit),
            "the audit log",
        )
        .await
    }

    fn admin_actor(&self, user: &UserRow) -> AdminActor {
        AdminActor {
            name: user.name.clone(),
            request_id: self.request_id.clone(),
            now_ms: self.now_ms,
        }
    }
}

async fn read_body<B>(req: Request<B>) -> Result<Bytes, ApiError>
where
    B: Body<Data = Bytes> + Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            format!("the request body exceeds {MAX_REQUEST_BODY_BYTES} bytes"),
        )
    };
    let declared = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > MAX_REQUEST_BODY_BYTES) {
        return Err(too_large());
    }
    let collected = tokio::time::timeout(
        super::BODY_READ_TIMEOUT,
        Limited::new(req.into_body(), MAX_REQUEST_BODY_BYTES).collect(),
    )
    .await
    .map_err(|_| {
        ApiError::bad_request("body-timeout", "the request body did not arrive in time")
    })?;
    match collected {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(too_large())
        }
        Err(e) => Err(ApiError::bad_request(
            "bad-body",
            format!("could not read the request body: {e}"),
        )),
    }
}

async fn read_json<B>(req: Request<B>) -> Result<serde_json::Value, ApiError>
where
    B: Body<Data = Bytes> + Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let body = read_body(req).await?;
    let value: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request("invalid-json", format!("the body is not JSON ({e})"))
    })?;
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "invalid-json",
            "the body must be a JSON object",
        ));
    }
    Ok(value)
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
    let loaded = match ctx.registry.plugins.get(plugin) {
        None => {
            return Err(ApiError::not_found(
                "unknown-plugin",
                format!("no plugin {plugin} is installed for this tenant"),
            ));
        }
        Some(PluginSlot::Refused(reason)) => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "plugin-unavailable",
                reason.clone(),
            ));
        }
        Some(PluginSlot::Ready(p)) => p.clone(),
    };
    let Some(op) = loaded.operation(operation) else {
        return Err(ApiError::not_found(
            "unknown-operation",
            format!("{plugin} has no operation {operation}"),
        ));
    };
    // A client that names its request makes a writing retry safe: the
    // changes are applied at most once.
    let supplied_id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        == Some(ctx.request_id.as_str());
    let replay_guard = (op.writes && supplied_id).then(|| ctx.request_id.clone());
    if let Some(id) = &replay_guard
        && ctx.tenant.store.request_applied(id)?
    {
        let event = Event::new(
            ctx.now_ms,
            id,
            &user.name,
            format!("invoke {what}"),
            Outcome::Deny,
        )
        .with_reason("replayed");
        ctx.record(vec![event]).await?;
        let message = format!("request {id} was already applied; it is not applied twice");
        return Err(ApiError::new(StatusCode::CONFLICT, "replayed", message));
    }
    let body = read_json(req).await?;
    let request = Arc::new(RequestInfo {
        actor: user.name.clone(),
        request_id: ctx.request_id.clone(),
        now_ms: ctx.now_ms,
        today: app.runtime.clock().today(),
        replay_guard,
    });
    let output = ctx
        .tenant
        .invoke(app, &loaded, request, operation, &body.to_string())
        .await?;
    Ok(raw_json_response(
        StatusCode::OK,
        Bytes::from(output.output),
        &ctx.request_id,
    ))
}

fn audit_query(query: &str) -> Result<audit::Query, ApiError> {
    let mut q = audit::Query {
        limit: MAX_AUDIT_QUERY_ROWS,
        ..audit::Query::default()
    };
    let bad =
        |name: &str, why: &str| ApiError::bad_request("invalid-query", format!("{name}: {why}"));
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "subject" => {
                q.subject = Some(
                    v.parse()
                        .map_err(|_| bad("subject", "a person id (number)"))?,
                )
            }
            "actor" => q.actor = Some(v.into_owned()),
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
                    other,
                    "unknown parameter (subject, actor, from, to, after, limit)",
                ));
            }
        }
    }
    Ok(q)
}

fn event_json(e: &Event) -> serde_json::Value {
    json!({
        "seq": e.seq,
        "time": format_timestamp(e.time_ms),
        "request_id": e.request_id,
        "actor": e.actor,
        "plugin": e.plugin,
        "digest": e.digest,
        "action": e.action,
        "subject": e.subject,
        "fields": e.fields,
        "outcome": e.outcome.as_str(),
        "reason": e.reason,
    })
}
