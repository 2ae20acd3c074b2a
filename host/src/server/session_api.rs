//! Login, logout, unlock, enrolment and the operator switch of a shared
//! terminal: the endpoints that make and end staff sessions. Each attempt
//! without a live session spends from the caller's per-source limit.

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Body;
use hyper::{Request, Response, StatusCode};
use serde_json::{Value, json};

use super::body::read_json;
use super::ctx::{Ctx, SESSION_COOKIE, blocking, missing};
use super::{ApiError, json_response};
use crate::app::App;
use crate::clock::format_timestamp;
use crate::crypto::token_hash;
use crate::identity::login::{self, At, Credentials, LOGIN_REFUSED, PasskeyAssertion};
use crate::identity::sessions::SessionRow;
use crate::identity::{accounts, qr};
use crate::store::TenantStore;
use webauthn_rs::prelude::PublicKeyCredential;

/// Longest name, password or code read from a login body.
const MAX_CREDENTIAL_BYTES: usize = 256;

pub(super) fn field(body: &Value, name: &str) -> Result<String, ApiError> {
    optional(body, name)?.ok_or_else(|| missing(name))
}

fn optional(body: &Value, name: &str) -> Result<Option<String>, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.len() <= MAX_CREDENTIAL_BYTES => Ok(Some(s.clone())),
        Some(_) => Err(ApiError::bad_request(
            "invalid",
            format!("{name:?} must be a string of at most {MAX_CREDENTIAL_BYTES} bytes"),
        )),
    }
}

pub(super) fn refused() -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "login-failed", LOGIN_REFUSED)
}

fn session_body(token: Option<&str>, row: &SessionRow, role: &str) -> Value {
    json!({
        "token": token,
        "expires_at": format_timestamp(row.expires_ms),
        "idle_timeout_s": row.idle_ms / 1000,
        "session": row.id,
        "csrf_token": row.csrf,
        "user": row.account,
        "operator": row.operator,
        "role": role,
    })
}

fn with_cookie(mut response: Response<Full<Bytes>>, cookie: String) -> Response<Full<Bytes>> {
    if let Ok(v) = hyper::header::HeaderValue::from_str(&cookie) {
        response.headers_mut().append("set-cookie", v);
    }
    response
}

/// Runs `f` on the tenant's store off the async workers, at this
/// request's moment (identity work hashes passwords and commits).
async fn at_request<T: Send + 'static, E: Send + 'static>(
    app: &App,
    ctx: &Ctx,
    f: impl for<'a> FnOnce(&'a TenantStore, At<'a>) -> Result<T, E> + Send + 'static,
) -> Result<T, ApiError>
where
    ApiError: From<E>,
{
    let store = ctx.tenant.store.clone();
    let (request_id, now_ms) = (ctx.request_id.clone(), ctx.now_ms);
    let entropy = app.runtime.entropy().clone();
    blocking(move || {
        let at = At {
            request_id: &request_id,
            now_ms,
            entropy: entropy.as_ref(),
        };
        f(&store, at)
    })
    .await
}

/// `POST /v1/{tenant}/login` `{"name","password","totp"}` (a shared
/// account adds `"operator","operator_totp"`) -> the session's token, also
/// as a `Secure; HttpOnly; SameSite=Strict` cookie.
pub(super) async fn login<B>(
    app: &App,
    ctx: Ctx,
    req: Request<B>,
) -> Result<Response<Full<Bytes>>, ApiError>
where
    B: Body<Data = Bytes> + Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    ctx.admit().await?;
    let body = read_json(req).await?;
    let (name, password, code) = (
        field(&body, "name")?,
        field(&body, "password")?,
        optional(&body, "totp")?,
    );
    let passkey = match body.get("passkey") {
        None | Some(Value::Null) => None,
        Some(p) => {
            let ceremony = field(p, "ceremony")?;
            let credential: PublicKeyCredential = serde_json::from_value(
                p.get("credential").cloned().unwrap_or_default(),
            )
            .map_err(|_| {
                ApiError::bad_request("invalid", "passkey.credential is not a WebAuthn assertion")
            })?;
            Some((super::passkey_api::passkeys(app)?, ceremony, credential))
        }
    };
    let code = match (&passkey, code) {
        (Some(_), _) => String::new(),
        (None, Some(code)) => code,
        (None, None) => return Err(missing("totp")),
    };
    let operator = match (
        optional(&body, "operator")?,
        optional(&body, "operator_totp")?,
    ) {
        (Some(o), Some(c)) => Some((o, c)),
        (None, None) => None,
        _ => {
            return Err(ApiError::bad_request(
                "invalid",
                "an operator comes with \"operator\" and \"operator_totp\"",
            ));
        }
    };
    let result = at_request(app, &ctx, move |store, at| {
        let creds = Credentials {
            name: &name,
            password: &password,
            totp: &code,
            passkey: passkey
                .as_ref()
                .map(|(p, ceremony, credential)| PasskeyAssertion {
                    passkeys: p,
                    ceremony,
                    credential,
                }),
            operator: operator.as_ref().map(|(o, c)| (o.as_str(), c.as_str())),
        };
        login::login(store, creds, at)
    })
    .await?;
    let tenant = ctx.tenant.store.code().to_string();
    let Ok((session, account)) = result else {
        crate::metrics::get().login(&tenant, "refused");
        ctx.charge();
        return Err(refused());
    };
    crate::metrics::get().login(&tenant, "ok");
    ctx.tenant.activity.seen(session.hash, ctx.now_ms);
    // A browser client (the console) asks for the cookie alone, so no
    // script on the page ever holds the token.
    let cookie_only = body.get("cookie_only").and_then(Value::as_bool) == Some(true);
    let token = (!cookie_only).then_some(session.token.as_str());
    let body = session_body(token, &session.row, &account.role);
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age={}",
        session.token,
        (session.row.expires_ms - ctx.now_ms) / 1000
    );
    Ok(with_cookie(
        json_response(StatusCode::OK, &body, &ctx.request_id),
        cookie,
    ))
}

/// `POST /v1/{tenant}/logout`: the session ends at once (a locked one too).
pub(super) async fn logout(app: &App, ctx: Ctx) -> Result<Response<Full<Bytes>>, ApiError> {
    let Some(hash) = ctx.token().map(token_hash) else {
        ctx.caller().await?;
        return Err(refused());
    };
    let ended = at_request(app, &ctx, move |store, at| login::logout(store, hash, at)).await?;
    if !ended {
        // Unknown token: answered (and limited) like any other.
        ctx.caller().await?;
    }
    ctx.tenant.activity.forget(&hash);
    Ok(with_cookie(
        json_response(
            StatusCode::OK,
            &json!({"logged_out": true}),
            &ctx.request_id,
        ),
        format!("{SESSION_COOKIE}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0"),
    ))
}

/// `POST /v1/{tenant}/unlock` `{"totp"}` with the locked session's token:
/// the second factor again (a shared terminal's: its operator's).
pub(super) async fn unlock<B>(
    app: &App,
    ctx: Ctx,
    req: Request<B>,
) -> Result<Response<Full<Bytes>>, ApiError>
where
    B: Body<Data = Bytes> + Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    ctx.admit().await?;
    let Some(hash) = ctx.token().map(token_hash) else {
        ctx.charge();
        return Err(refused());
    };
    let body = read_json(req).await?;
    let code = field(&body, "totp")?;
    let result = at_request(app, &ctx, move |store, at| {
        login::unlock(store, hash, &code, at)
    })
    .await?;
    let Ok(row) = result else {
        ctx.charge();
        return Err(refused());
    };
    ctx.tenant.activity.seen(hash, ctx.now_ms);
    let role = accounts::get(&ctx.tenant.store, &row.account)?.map_or(String::new(), |a| a.role);
    Ok(json_response(
        StatusCode::OK,
        &session_body(None, &row, &role),
        &ctx.request_id,
    ))
}

/// `POST /v1/{tenant}/session/operator` `{"operator","operator_totp"}`:
/// a shared terminal's session passes to another operator.
pub(super) async fn switch_operator<B>(
    app: &App,
    ctx: Ctx,
    req: Request<B>,
) -> Result<Response<Full<Bytes>>, ApiError>
where
    B: Body<Data = Bytes> + Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let caller = ctx.caller().await?;
    let Some((hash, _)) = caller.session else {
        return Err(ApiError::bad_request(
            "invalid",
            "only a shared terminal's session has an operator",
        ));
    };
    ctx.admit().await?;
    let body = read_json(req).await?;
    let (operator, code) = (field(&body, "operator")?, field(&body, "operator_totp")?);
    let result = at_request(app, &ctx, move |store, at| {
        login::switch_operator(store, hash, &operator, &code, at)
    })
    .await?;
    let Ok(row) = result else {
        ctx.charge();
        return Err(refused());
    };
    Ok(json_response(
        StatusCode::OK,
        &session_body(None, &row, &caller.role),
        &ctx.request_id,
    ))
}

/// `GET /v1/{tenant}/session`: who the session is, until when.
pub(super) async fn show(ctx: Ctx) -> Result<Response<Full<Bytes>>, ApiError> {
    let caller = ctx.caller().await?;
    let body = match &caller.session {
        Some((_, row)) => session_body(None, row, &caller.role),
        None => json!({"user": caller.name, "role": caller.role, "automated": true}),
    };
    Ok(json_response(StatusCode::OK, &body, &ctx.request_id))
}

/// `POST /v1/{tenant}/enrol` `{"name","code","password"}`: sets the
/// password and answers the TOTP secret (URI, base32 and QR PNG).
pub(super) async fn enrol<B>(
    app: &App,
    ctx: Ctx,
    req: Request<B>,
) -> Result<Response<Full<Bytes>>, ApiError>
where
    B: Body<Data = Bytes> + Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    ctx.admit().await?;
    let body = read_json(req).await?;
    let (name, code, password) = (
        field(&body, "name")?,
        field(&body, "code")?,
        field(&body, "password")?,
    );
    let enrolled = at_request(app, &ctx, move |store, at| {
        accounts::enrol(
            store,
            &name,
            &code,
            &password,
            at.request_id,
            at.now_ms,
            at.entropy,
        )
    })
    .await
    .inspect_err(|_| ctx.charge())?;
    let png =
        qr::png(&enrolled.otpauth_uri).map(|p| base64::engine::general_purpose::STANDARD.encode(p));
    let body = json!({
        "otpauth_uri": enrolled.otpauth_uri,
        "secret": enrolled.secret_base32,
        "qr_png_base64": png,
    });
    Ok(json_response(StatusCode::OK, &body, &ctx.request_id))
}
