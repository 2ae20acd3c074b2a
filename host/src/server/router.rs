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
//! GET  /v1/{tenant}/audit?subject=&actor=&session=&outcome=&from=&to=&after=&limit=   auditor
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

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Body;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::json;

use super::ctx::Ctx;
use super::{
    ApiError, REQUEST_ID_HEADER, admin_api, audit_api, certificates_api, federation_api,
    invoke_api, jobs_api, json_response, passkey_api, reviews_api, session_api,
};
use crate::app::App;
use crate::limits::MAX_REQUEST_ID_BYTES;

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
            invoke_api::my_plugins(Ctx::new(app, &req, tenant, request_id).await?).await
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
            invoke_api::invoke(app, ctx, req, &plugin, &operation).await
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
