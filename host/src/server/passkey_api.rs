//! Passkeys over HTTP: a session registers one; a login asks for a
//! challenge and signs it in place of the TOTP code.

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Body;
use hyper::{Request, Response, StatusCode};
use serde_json::json;
use webauthn_rs::prelude::RegisterPublicKeyCredential;

use super::body::read_json;
use super::ctx::Ctx;
use super::session_api::{field, refused};
use super::{ApiError, json_response};
use crate::app::App;
use crate::identity::accounts;
use crate::identity::passkeys::Passkeys;

/// The node's relying party, or why passkeys are off.
pub(super) fn passkeys(app: &App) -> Result<std::sync::Arc<Passkeys>, ApiError> {
    app.passkeys.get().cloned().ok_or_else(|| {
        ApiError::bad_request(
            "passkeys-unavailable",
            "passkeys need the server's public URL (kiroku serve --public-url)",
        )
    })
}

/// `POST /v1/{tenant}/login/passkey` `{"name"}` -> `{"ceremony","options"}`:
/// the challenge to sign; then `login` with
/// `"passkey":{"ceremony","credential"}` in place of `"totp"`.
pub(super) async fn start_passkey_login<B>(
    app: &App,
    ctx: Ctx,
    req: Request<B>,
) -> Result<Response<Full<Bytes>>, ApiError>
where
    B: Body<Data = Bytes> + Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    ctx.admit().await?;
    let passkeys = passkeys(app)?;
    let body = read_json(req).await?;
    let name = field(&body, "name")?;
    let row = accounts::get(&ctx.tenant.store, &name)?;
    let started = row
        .filter(|r| r.state(ctx.now_ms) == accounts::State::Active)
        .and_then(|r| passkeys.start_login(&r, ctx.now_ms, app.runtime.entropy().as_ref()));
    let Some((ceremony, options)) = started else {
        // Unknown, inactive or without a passkey: the same refusal.
        ctx.charge();
        return Err(refused());
    };
    Ok(json_response(
        StatusCode::OK,
        &json!({ "ceremony": ceremony, "options": options }),
        &ctx.request_id,
    ))
}

/// `POST /v1/{tenant}/passkeys/start` with a session -> `{"ceremony","options"}`;
/// `POST /v1/{tenant}/passkeys/finish` `{"ceremony","credential"}` adds the
/// passkey to the session's account (audited).
pub(super) async fn passkey_registration<B>(
    app: &App,
    ctx: Ctx,
    req: Request<B>,
    step: &str,
) -> Result<Response<Full<Bytes>>, ApiError>
where
    B: Body<Data = Bytes> + Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let caller = ctx.caller().await?;
    let Some((_, session)) = &caller.session else {
        return Err(ApiError::bad_request(
            "invalid",
            "a service account holds no passkey",
        ));
    };
    let passkeys = passkeys(app)?;
    // The person at the screen: a shared terminal's operator.
    let holder = session
        .operator
        .clone()
        .unwrap_or_else(|| session.account.clone());
    let body = read_json(req).await?;
    let Some(mut row) = accounts::get(&ctx.tenant.store, &holder)? else {
        return Err(refused());
    };
    match step {
        "start" => {
            let (ceremony, options) = passkeys
                .start_registration(&row, ctx.now_ms, app.runtime.entropy().as_ref())
                .map_err(|m| ApiError::bad_request("invalid", m))?;
            Ok(json_response(
                StatusCode::OK,
                &json!({ "ceremony": ceremony, "options": options }),
                &ctx.request_id,
            ))
        }
        _ => {
            let ceremony = field(&body, "ceremony")?;
            let credential: RegisterPublicKeyCredential =
                serde_json::from_value(body.get("credential").cloned().unwrap_or_default())
                    .map_err(|_| {
                        ApiError::bad_request(
                            "invalid",
                            "credential is not a WebAuthn registration",
                        )
                    })?;
            passkeys
                .finish_registration(&mut row, &ceremony, &credential, ctx.now_ms)
                .map_err(|m| ApiError::bad_request("invalid", m))?;
            let count = crate::identity::passkeys::of(&row).len();
            let event = crate::audit::Event::by(
                ctx.now_ms,
                &ctx.request_id,
                &caller.identity,
                "user.passkey",
                crate::audit::Outcome::Ok,
            )
            .with_reason(format!("{holder} registered a passkey ({count} now)"));
            ctx.commit(crate::store::commit::WriteSet {
                ops: vec![crate::identity::accounts::put_op(&row)],
                events: vec![event],
                ..Default::default()
            })
            .await?;
            Ok(json_response(
                StatusCode::OK,
                &json!({ "registered": true, "passkeys": count }),
                &ctx.request_id,
            ))
        }
    }
}
