//! Who the caller is: the token or session cookie checked, CSRF for
//! cookie writes, roles; every refusal audited.

use hyper::StatusCode;

use super::{CSRF_HEADER, Credential, Ctx, no_credentials};
use crate::admin::AdminActor;
use crate::app::Registry;
use crate::audit::{Event, Outcome};
use crate::identity::{Caller, Refusal, authn};
use crate::server::ApiError;
use crate::store::commit::WriteSet;

impl Ctx {
    /// Who the request's token belongs to; refusals are audited (anonymous
    /// ones within the per-source limit).
    pub async fn caller(&self) -> Result<Caller, ApiError> {
        let checked = match self.token() {
            None => None,
            Some(token) => {
                let txn = redb::ReadableDatabase::begin_read(self.tenant.store.db().as_ref())
                    .map_err(|e| ApiError::storage(&e))?;
                Some(
                    authn::authenticate(
                        &txn,
                        token,
                        self.now_ms,
                        &self.tenant.activity,
                        self.source,
                        &self.request_id,
                    )
                    .map_err(|e| ApiError::storage(&e))?,
                )
            }
        };
        let refusal = match checked {
            None => None,
            Some(c) => {
                if !c.ops.is_empty() || !c.events.is_empty() {
                    self.commit(WriteSet {
                        ops: c.ops,
                        events: c.events,
                        ..WriteSet::default()
                    })
                    .await?;
                }
                match c.outcome {
                    Ok(caller) => return self.check_csrf(caller).await,
                    Err(r) => Some(r),
                }
            }
        };
        if matches!(
            refusal,
            None | Some(Refusal::Unknown | Refusal::WrongSource)
        ) {
            self.throttle().await?;
            let reason = match refusal {
                None => "no credentials",
                Some(Refusal::WrongSource) => "service token from a disallowed address",
                Some(_) => "unknown, ended or revoked token",
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
        }
        match refusal {
            None => Err(no_credentials()),
            Some(r) => {
                let (code, message) = r.answer();
                Err(ApiError::new(StatusCode::UNAUTHORIZED, code, message))
            }
        }
    }

    /// A browser's cookie-authenticated write must repeat the session's
    /// CSRF value: another site can make the browser send the cookie, not
    /// read the value.
    async fn check_csrf(&self, caller: Caller) -> Result<Caller, ApiError> {
        let cookie = matches!(self.credential, Credential::Cookie(_));
        let expected = caller.session.as_ref().map(|(_, row)| row.csrf.as_str());
        if cookie && self.writes && self.csrf.as_deref() != expected {
            self.record(vec![
                Event::by(
                    self.now_ms,
                    &self.request_id,
                    &caller.identity,
                    "auth",
                    Outcome::Deny,
                )
                .with_reason("cookie-authenticated write without the session's CSRF token"),
            ])
            .await?;
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "csrf",
                format!("a write with the session cookie must send {CSRF_HEADER}"),
            ));
        }
        Ok(caller)
    }

    /// Authenticates the caller and checks `allowed`; every refusal is audited.
    pub async fn require(
        &self,
        allowed: impl Fn(&Registry, &Caller) -> bool,
        what: &str,
    ) -> Result<Caller, ApiError> {
        let user = self.caller().await?;
        if !allowed(&self.registry, &user) {
            return Err(self
                .forbid(&user, format!("role {} may not use {what}", user.role))
                .await);
        }
        Ok(user)
    }

    /// Audits a refusal of `user` and answers it as 403 `forbidden`.
    pub async fn forbid(&self, user: &Caller, reason: String) -> ApiError {
        let event = Event::by(
            self.now_ms,
            &self.request_id,
            &user.identity,
            "auth",
            Outcome::Deny,
        )
        .with_reason(reason.clone());
        match self.record(vec![event]).await {
            Ok(()) => ApiError::forbidden(reason),
            Err(e) => e,
        }
    }

    /// Authenticates an administrator.
    pub async fn require_admin(&self, what: &str) -> Result<Caller, ApiError> {
        self.require(|r, u| r.roles.get(&u.role).is_some_and(|r| r.admin), what)
            .await
    }

    /// Authenticates a reviewer (a role with `review = true`).
    pub async fn require_reviewer(&self) -> Result<Caller, ApiError> {
        self.require(
            |r, u| r.roles.get(&u.role).is_some_and(|r| r.review),
            "the review queue",
        )
        .await
    }

    /// Authenticates a federation approver.
    pub async fn require_federation_approver(&self) -> Result<Caller, ApiError> {
        self.require(
            |r, u| r.roles.get(&u.role).is_some_and(|r| r.federation),
            "the federation queue",
        )
        .await
    }

    /// Authenticates an auditor.
    pub async fn require_auditor(&self) -> Result<Caller, ApiError> {
        self.require(
            |r, u| r.roles.get(&u.role).is_some_and(|r| r.audit),
            "the audit log",
        )
        .await
    }

    pub fn admin_actor(&self, user: &Caller) -> AdminActor {
        AdminActor {
            name: user.name.clone(),
            identity: Some(user.identity.clone()),
            request_id: self.request_id.clone(),
            now_ms: self.now_ms,
        }
    }
}
