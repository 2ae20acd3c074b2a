//! What every authenticated endpoint shares: the tenant and registry of
//! the request, authentication with audited refusals, bounded body reading.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Body;
use hyper::{Request, StatusCode};

use super::ApiError;
use crate::admin::{self, AdminActor};
use crate::app::{App, Registry, Tenant};
use crate::audit::{Event, Outcome};
use crate::ids::TenantCode;
use crate::limits::MAX_REQUEST_BODY_BYTES;
use crate::store::commit::WriteSet;
use crate::store::rows::UserRow;

pub(super) fn missing(field: &str) -> ApiError {
    ApiError::bad_request(
        "invalid",
        format!("the body needs a string field {field:?}"),
    )
}

pub(super) async fn blocking<T: Send + 'static, E>(
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
pub(super) struct Ctx {
    pub tenant: Arc<Tenant>,
    pub registry: Arc<Registry>,
    token: Option<String>,
    pub request_id: String,
    pub now_ms: i64,
}

impl Ctx {
    pub async fn new<B>(
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
    pub async fn record(&self, events: Vec<Event>) -> Result<(), ApiError> {
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
    pub async fn require(
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
    pub async fn require_admin(&self, what: &str) -> Result<UserRow, ApiError> {
        self.require(|r, u| r.roles.get(&u.role).is_some_and(|r| r.admin), what)
            .await
    }

    /// Authenticates a reviewer (a role with `review = true`).
    pub async fn require_reviewer(&self) -> Result<UserRow, ApiError> {
        self.require(
            |r, u| r.roles.get(&u.role).is_some_and(|r| r.review),
            "the review queue",
        )
        .await
    }

    /// Authenticates an auditor.
    pub async fn require_auditor(&self) -> Result<UserRow, ApiError> {
        self.require(
            |r, u| r.roles.get(&u.role).is_some_and(|r| r.audit),
            "the audit log",
        )
        .await
    }

    pub fn admin_actor(&self, user: &UserRow) -> AdminActor {
        AdminActor {
            name: user.name.clone(),
            request_id: self.request_id.clone(),
            now_ms: self.now_ms,
        }
    }
}

pub(super) async fn read_body<B>(req: Request<B>) -> Result<Bytes, ApiError>
where
    B: Body<Data = Bytes> + Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    read_body_up_to(req, MAX_REQUEST_BODY_BYTES).await
}

pub(super) async fn read_body_up_to<B>(req: Request<B>, max: usize) -> Result<Bytes, ApiError>
where
    B: Body<Data = Bytes> + Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            format!("the request body exceeds {max} bytes"),
        )
    };
    let declared = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(too_large());
    }
    let collected = tokio::time::timeout(
        super::BODY_READ_TIMEOUT,
        Limited::new(req.into_body(), max).collect(),
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

pub(super) async fn read_json<B>(req: Request<B>) -> Result<serde_json::Value, ApiError>
where
    B: Body<Data = Bytes> + Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let body = read_body(req).await?;
    parse_json_object(&body)
}

fn parse_json_object(body: &[u8]) -> Result<serde_json::Value, ApiError> {
    let value = crate::json_shape::parse(body).map_err(|e| {
        ApiError::bad_request("invalid-json", format!("the body cannot be used: {e}"))
    })?;
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "invalid-json",
            "the body must be a JSON object",
        ));
    }
    Ok(value)
}

/// Whether the body is a file (CSV or bytes) rather than a JSON object.
fn is_file_upload<B>(req: &Request<B>) -> bool {
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    matches!(mime.as_str(), "text/csv" | "application/octet-stream")
}

/// A plugin's input: a JSON object body as it is, or an uploaded file
/// (`Content-Type: text/csv` or `application/octet-stream`, any encoding)
/// as `{"file_base64": ..., <query parameters as strings>}`, so plugins
/// get the file's exact bytes through the JSON-only handler.
pub(super) async fn read_plugin_input<B>(
    req: Request<B>,
    max: usize,
) -> Result<serde_json::Value, ApiError>
where
    B: Body<Data = Bytes> + Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    use base64::Engine as _;
    if !is_file_upload(&req) {
        if max == MAX_REQUEST_BODY_BYTES {
            return read_json(req).await;
        }
        let body = read_body_up_to(req, max).await?;
        return parse_json_object(&body);
    }
    let mut input = serde_json::Map::new();
    for (k, v) in form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes()) {
        if k == "file_base64" {
            return Err(ApiError::bad_request(
                "invalid",
                "file_base64 comes from the body, not the query",
            ));
        }
        input.insert(k.into_owned(), serde_json::Value::String(v.into_owned()));
    }
    let body = read_body_up_to(req, max).await?;
    input.insert(
        "file_base64".into(),
        base64::engine::general_purpose::STANDARD
            .encode(&body)
            .into(),
    );
    Ok(serde_json::Value::Object(input))
}
