//! What every authenticated endpoint shares: the tenant and registry of
//! the request, authentication with audited refusals, bounded body reading.

use std::sync::Arc;

use hyper::{Request, StatusCode};

mod auth;

use super::ApiError;
use crate::app::{App, Registry, Tenant};
use crate::audit::{Event, Outcome};
use crate::identity::throttle::Verdict;
use crate::ids::TenantCode;
use crate::store::commit::WriteSet;

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

/// The cookie a browser session rides on.
pub const SESSION_COOKIE: &str = "__Host-kiroku_session";
/// The header a cookie-authenticated write repeats the session's CSRF value in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Where the credential came from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Credential {
    None,
    Bearer(String),
    Cookie(String),
}

/// A closed tenant costs a file open and a share of the memory budget
/// (and may close another to make room), so a request opens one only when
/// it could be served: it carries a credential, or needs none by design,
/// from a source whose failure budget is not gone. Refusals here spend the
/// source's budget, and are not audited: the tenant is not open, and its
/// log must not grow at an anonymous client's will.
fn admit_opening(
    app: &App,
    credential: &Credential,
    entry: Entry,
    source: Option<std::net::IpAddr>,
    now_ms: i64,
) -> Result<(), ApiError> {
    if app.throttle.admit(source, now_ms) != Verdict::Allow {
        return Err(rate_limited());
    }
    if *credential == Credential::None && entry == Entry::Credential {
        app.throttle.charge(source, now_ms);
        return Err(no_credentials());
    }
    Ok(())
}

fn rate_limited() -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate-limited",
        "too many requests without valid credentials from this address; wait a minute",
    )
}

fn no_credentials() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "no credentials; log in (POST /v1/{tenant}/login) and send Authorization: Bearer <token>",
    )
}

/// An authenticated-request context: tenant, registry, clock reading.
pub(super) struct Ctx {
    pub tenant: Arc<Tenant>,
    pub registry: Arc<Registry>,
    credential: Credential,
    csrf: Option<String>,
    writes: bool,
    pub source: Option<std::net::IpAddr>,
    throttle: Arc<crate::identity::throttle::Throttle>,
    pub request_id: String,
    pub now_ms: i64,
}

fn cookie_value(req_headers: &hyper::HeaderMap, name: &str) -> Option<String> {
    req_headers
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_owned())
}

/// Whether a request may be served without a credential (a login, an
/// enrolment): only then may it open a closed tenant without one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    Credential,
    Anonymous,
}

impl Ctx {
    /// The context of a request that must carry a session or token.
    pub async fn new<B>(
        app: &App,
        req: &Request<B>,
        tenant: &str,
        request_id: &str,
    ) -> Result<Ctx, ApiError> {
        Self::make(app, req, tenant, request_id, Entry::Credential).await
    }

    /// The context of a request that comes without a credential by design
    /// (login, passkey login, enrolment).
    pub async fn anonymous<B>(
        app: &App,
        req: &Request<B>,
        tenant: &str,
        request_id: &str,
    ) -> Result<Ctx, ApiError> {
        Self::make(app, req, tenant, request_id, Entry::Anonymous).await
    }

    async fn make<B>(
        app: &App,
        req: &Request<B>,
        tenant: &str,
        request_id: &str,
        entry: Entry,
    ) -> Result<Ctx, ApiError> {
        let unknown = || ApiError::not_found("unknown-tenant", "no such tenant on this server");
        let code = TenantCode::parse(tenant).map_err(|_| unknown())?;
        let headers = req.headers();
        let bearer = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|t| t.trim().to_owned());
        let credential = match (bearer, cookie_value(headers, SESSION_COOKIE)) {
            (Some(t), _) => Credential::Bearer(t),
            (None, Some(c)) => Credential::Cookie(c),
            (None, None) => Credential::None,
        };
        let source = req.extensions().get::<super::Peer>().map(|p| p.0.ip());
        let now_ms = app.runtime.clock().now_ms();
        if app.if_open(&code).is_none() {
            if !app.dir.tenant_exists(&code) {
                return Err(unknown());
            }
            admit_opening(app, &credential, entry, source, now_ms)?;
        }
        let tenant = app.tenant(&code)?.ok_or_else(unknown)?;
        let registry = tenant.registry(app).await?;
        Ok(Ctx {
            tenant,
            registry,
            credential,
            csrf: headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            writes: !matches!(*req.method(), hyper::Method::GET | hyper::Method::HEAD),
            source,
            throttle: app.throttle.clone(),
            request_id: request_id.to_owned(),
            now_ms,
        })
    }

    /// The session or service token the request carries, if any.
    pub fn token(&self) -> Option<&str> {
        match &self.credential {
            Credential::Bearer(t) | Credential::Cookie(t) => Some(t),
            Credential::None => None,
        }
    }

    /// Commits audit events of this request.
    pub async fn record(&self, events: Vec<Event>) -> Result<(), ApiError> {
        self.commit(WriteSet::events(events)).await
    }

    /// Commits a write set of this request through the group committer.
    pub async fn commit(&self, set: WriteSet) -> Result<(), ApiError> {
        self.tenant
            .committer
            .commit(set)
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

    /// Spends one failed unauthenticated request of this source: refused
    /// with 429 past the limit (audited once per run of refusals).
    pub async fn throttle(&self) -> Result<(), ApiError> {
        let verdict = self.throttle.check(self.source, self.now_ms);
        self.answer_verdict(verdict).await
    }

    /// Refuses an attempt (login, unlock, enrolment) from a source whose
    /// failure budget is gone; spends nothing.
    pub async fn admit(&self) -> Result<(), ApiError> {
        let verdict = self.throttle.admit(self.source, self.now_ms);
        self.answer_verdict(verdict).await
    }

    /// Counts a failed attempt against this source.
    pub fn charge(&self) {
        self.throttle.charge(self.source, self.now_ms);
    }

    async fn answer_verdict(&self, verdict: Verdict) -> Result<(), ApiError> {
        match verdict {
            Verdict::Allow => Ok(()),
            verdict => {
                if verdict == Verdict::RefuseFirst {
                    let from = self
                        .source
                        .map_or("in-process".to_owned(), |s| s.to_string());
                    self.record(vec![
                        Event::new(self.now_ms, &self.request_id, "anonymous", "auth", Outcome::Deny)
                            .with_reason(format!(
                                "unauthenticated requests from {from} over {} a minute: refused without further events until the rate drops",
                                crate::identity::throttle::UNAUTHENTICATED_PER_MINUTE
                            )),
                    ])
                    .await?;
                }
                Err(rate_limited())
            }
        }
    }
}
