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

fn store_of(app: &App, code: &str) -> Result<Arc<crate::store::TenantStore>, ApiError> {
    let unknown = || ApiError::not_found("unknown-issuer", "no such issuer");
    let code = TenantCode::parse(code).map_err(|_| unknown())?;
    let tenant = app.tenant(&code)?.ok_or_else(unknown)?;
    Ok(tenant.store.clone())
}

/// `GET /issuers/{CODE}/.well-known/jwks.json`.
pub(super) fn jwks(
    app: &App,
    code: &str,
    request_id: &str,
) -> Result<Response<Full<Bytes>>, ApiError> {
    let store = store_of(app, code)?;
    let set = keys::jwks(&store)?;
    let body = serde_json::to_string(&set).expect("a key set serialises");
    Ok(public(StatusCode::OK, body, request_id))
}

/// `GET /issuers/{CODE}/.well-known/crl/{kid}.json`.
pub(super) fn crl(
    app: &App,
    code: &str,
    file: &str,
    request_id: &str,
) -> Result<Response<Full<Bytes>>, ApiError> {
    let store = store_of(app, code)?;
    let kid = file.strip_suffix(".json").unwrap_or("");
    if !keys::jwks(&store)?.keys.iter().any(|k| k.kid == kid) {
        return Err(ApiError::not_found(
            "unknown-key",
            "no key of this issuer has that kid",
        ));
    }
    let list = revocation::crl(&store, kid)?;
    let body = serde_json::to_string(&list).expect("a list serialises");
    Ok(public(StatusCode::OK, body, request_id))
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
    let resolved = super::router::resolve(&ctx, &req, "certificate", "apply").await?;
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
