//! The certificate endpoints the plugin route does not cover: the public,
//! unauthenticated issuer documents (`/issuers/{CODE}/.well-known/jwks.json`
//! and `.../crl/{kid}.json`, for any verifier anywhere), and card
//! applications from the app and kiosk, whose signature the host checks
//! before the `certificate` plugin runs.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Body;
use hyper::{Request, Response, StatusCode};

use super::body::read_body_up_to;
use super::ctx::Ctx;
use super::error::ApiError;
use super::raw_json_response;
use crate::app::App;
use crate::audit::{Event, Outcome};
use crate::certificates::{application, keys, revocation};
use crate::ids::TenantCode;

/// Most bytes of a card application.
const MAX_APPLICATION_BYTES: usize = 64 * 1024;

fn public(status: StatusCode, body: String, request_id: &str) -> Response<Full<Bytes>> {
    let mut response = raw_json_response(status, Bytes::from(body), request_id);
    let headers = response.headers_mut();
    headers.insert("access-control-allow-origin", "*".parse().expect("static"));
    // Public keys change only on rotation, lists on revocation: a short cache.
    headers.insert(
        "cache-control",
        "public, max-age=60".parse().expect("static"),
    );
    response
}

fn issuer(code: &str) -> Result<TenantCode, ApiError> {
    TenantCode::parse(code).map_err(|_| ApiError::not_found("unknown-issuer", "no such issuer"))
}

fn store_of(app: &App, code: &TenantCode) -> Result<Arc<crate::store::TenantStore>, ApiError> {
    let tenant = app
        .tenant(code)?
        .ok_or_else(|| ApiError::not_found("unknown-issuer", "no such issuer"))?;
    Ok(tenant.store.clone())
}

/// The issuer's key set, as read within the last minute.
fn jwks_doc(app: &App, code: &TenantCode) -> Result<Arc<str>, ApiError> {
    app.public_docs.get_or(code, "jwks", app.uptime_ms(), || {
        let set = keys::jwks(&*store_of(app, code)?)?;
        Ok(serde_json::to_string(&set).expect("a key set serialises"))
    })
}

/// `GET /issuers/{CODE}/.well-known/jwks.json`.
pub(super) fn jwks(
    app: &App,
    code: &str,
    request_id: &str,
) -> Result<Response<Full<Bytes>>, ApiError> {
    let body = jwks_doc(app, &issuer(code)?)?;
    Ok(public(StatusCode::OK, body.to_string(), request_id))
}

/// `GET /issuers/{CODE}/.well-known/crl/{kid}.json`: only for a kid of the
/// key set, so made-up kids neither open the tenant nor fill the cache.
pub(super) fn crl(
    app: &App,
    code: &str,
    file: &str,
    request_id: &str,
) -> Result<Response<Full<Bytes>>, ApiError> {
    let code = issuer(code)?;
    let kid = file.strip_suffix(".json").unwrap_or("");
    let set: kiroku_cards::keys::Jwks =
        serde_json::from_str(&jwks_doc(app, &code)?).map_err(|e| ApiError::storage(&e))?;
    if kid.is_empty() || !set.keys.iter().any(|k| k.kid == kid) {
        return Err(ApiError::not_found(
            "unknown-key",
            "no key of this issuer has that kid",
        ));
    }
    let body = app
        .public_docs
        .get_or(&code, &format!("crl/{kid}"), app.uptime_ms(), || {
            let list = revocation::crl(&*store_of(app, &code)?, kid)?;
            Ok::<_, ApiError>(serde_json::to_string(&list).expect("a list serialises"))
        })?;
    Ok(public(StatusCode::OK, body.to_string(), request_id))
}

/// `POST /v1/{tenant}/certificate-applications`: a service account of the
/// `app` or `kiosk` role hands in a signed card application.
pub(super) async fn apply<B>(
    app: &App,
    ctx: Ctx,
    req: Request<B>,
) -> Result<Response<Full<Bytes>>, ApiError>
where
    B: Body<Data = Bytes> + Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let resolved = super::invoke_api::resolve(&ctx, &req, "certificate", "apply").await?;
    let channel = match resolved.user.role.as_str() {
        "kiosk" => "kiosk",
        "app" => "app",
        _ => {
            return Err(ApiError::forbidden(
                "card applications come from a service account of the app or kiosk role",
            ));
        }
    };
    let body = read_body_up_to(req, MAX_APPLICATION_BYTES).await?;
    let cas = application::card_cas(&ctx.tenant.store)?;
    let now_s = ctx.now_ms.max(0) as u64 / 1000;
    let verified = match application::verify(&body, channel, &cas, now_s) {
        Ok(v) => v,
        Err(refused) => {
            let event = Event::by(
                ctx.now_ms,
                &ctx.request_id,
                &resolved.user.identity,
                "certificate.application",
                Outcome::Deny,
            )
            .with_reason(refused.code);
            ctx.record(vec![event]).await?;
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                refused.code,
                refused.message,
            ));
        }
    };
    let mut request = (*resolved.request(app, &ctx, None)).clone();
    request.application = Some(Arc::new(verified));
    let input = serde_json::json!({ "pdf": channel == "kiosk" }).to_string();
    let output = ctx
        .tenant
        .invoke(app, &resolved.plugin, Arc::new(request), "apply", &input)
        .await?;
    Ok(raw_json_response(
        StatusCode::OK,
        Bytes::from(output.output),
        &ctx.request_id,
    ))
}
