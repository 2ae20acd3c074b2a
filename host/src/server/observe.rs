//! What a request leaves behind besides its answer: one log line with its
//! request id, tenant, route and status (inside a span, so every line it
//! logs carries the id, tenant and route), and the request metrics.
//!
//! The route is a template (`POST /v1/{tenant}/{plugin}/{operation}`),
//! never the raw path, and the tenant label is a tenant that exists: a
//! client cannot grow the metrics or put its own text into the log.

use std::time::Instant;

use hyper::Method;

use crate::app::App;
use crate::ids::TenantCode;

/// Path segments kept as they are in a route template.
const FIXED: &[&str] = &[
    "healthz",
    "readyz",
    "metrics",
    "issuers",
    ".well-known",
    "jwks.json",
    "crl",
    "v1",
    "admin",
    "certificate-applications",
    "federation",
    "queue",
    "reviews",
    "login",
    "passkey",
    "passkeys",
    "start",
    "finish",
    "logout",
    "unlock",
    "enrol",
    "session",
    "operator",
    "users",
    "review",
    "tokens",
    "plugins",
    "stats",
    "audit",
    "verify",
    "jobs",
];

/// The route template of a request path: fixed words kept, every other
/// segment named by its place.
pub fn route_template(method: &Method, path: &str) -> String {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let placeholders: Vec<&str> = match segments.as_slice() {
        ["v1", "admin", _, rest @ ..] => {
            let mut p = vec!["v1", "admin", "{tenant}"];
            p.extend(named(rest));
            p
        }
        ["v1", _, "jobs", a, b] if !FIXED.contains(a) && !FIXED.contains(b) => {
            vec!["v1", "{tenant}", "jobs", "{plugin}", "{operation}"]
        }
        ["v1", _, a, b] if !FIXED.contains(a) && !FIXED.contains(b) => {
            vec!["v1", "{tenant}", "{plugin}", "{operation}"]
        }
        ["v1", _, rest @ ..] => {
            let mut p = vec!["v1", "{tenant}"];
            p.extend(named(rest));
            p
        }
        ["issuers", _, rest @ ..] => {
            let mut p = vec!["issuers", "{code}"];
            p.extend(named(rest));
            p
        }
        other => named(other),
    };
    let known = [
        Method::GET,
        Method::POST,
        Method::DELETE,
        Method::PUT,
        Method::HEAD,
        Method::OPTIONS,
        Method::PATCH,
    ];
    let method = if known.contains(method) {
        method.as_str()
    } else {
        "OTHER"
    };
    format!("{method} /{}", placeholders.join("/"))
}

fn named<'a>(segments: &[&'a str]) -> Vec<&'a str> {
    segments
        .iter()
        .map(|s| if FIXED.contains(s) { *s } else { "{id}" })
        .collect()
}

/// The tenant a path names, if it exists (else `-`).
pub fn tenant_label(app: &App, path: &str) -> String {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let candidate = match segments.as_slice() {
        ["v1", "admin", code, ..] | ["v1", code, ..] | ["issuers", code, ..] => *code,
        _ => return "-".to_owned(),
    };
    match TenantCode::parse(candidate) {
        Ok(code) if app.dir.tenant_exists(&code) => code.to_string(),
        _ => "-".to_owned(),
    }
}

/// A request being answered.
pub struct Observed {
    started: Instant,
    /// The span its log lines are in.
    pub span: tracing::Span,
    tenant: String,
    route: String,
}

impl Observed {
    /// Starts observing a request.
    pub fn start(app: &App, method: &Method, path: &str, request_id: &str) -> Observed {
        let tenant = tenant_label(app, path);
        let route = route_template(method, path);
        let span = tracing::info_span!("request", request_id, tenant = %tenant, route = %route);
        Observed {
            started: Instant::now(),
            span,
            tenant,
            route,
        }
    }

    /// The request was answered with `status`.
    pub fn finish(self, status: u16) {
        let took = self.started.elapsed();
        crate::metrics::get().request(&self.tenant, &self.route, status, took);
        let ms = took.as_secs_f64() * 1000.0;
        self.span.in_scope(|| {
            // 503 is an answer (not ready yet, busy), not a fault.
            if status >= 500 && status != 503 {
                tracing::warn!(status, ms, "answered");
            } else {
                tracing::info!(status, ms, "answered");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_name_places_not_values() {
        let t = |m: Method, p: &str| route_template(&m, p);
        assert_eq!(
            t(Method::POST, "/v1/142051/dose-entry/record-dose"),
            "POST /v1/{tenant}/{plugin}/{operation}"
        );
        assert_eq!(
            t(Method::GET, "/v1/142051/jobs/job-12"),
            "GET /v1/{tenant}/jobs/{id}"
        );
        assert_eq!(
            t(Method::POST, "/v1/142051/jobs/target-extraction/extract"),
            "POST /v1/{tenant}/jobs/{plugin}/{operation}"
        );
        assert_eq!(
            t(Method::POST, "/v1/admin/142051/users/sato/disable"),
            "POST /v1/admin/{tenant}/users/{id}/{id}"
        );
        assert_eq!(t(Method::GET, "/healthz"), "GET /healthz");
        assert_eq!(t(Method::GET, "/123456789012"), "GET /{id}");
        assert_eq!(
            t(Method::GET, "/issuers/142051/.well-known/jwks.json"),
            "GET /issuers/{code}/.well-known/jwks.json"
        );
        let odd = Method::from_bytes(b"BREW").unwrap();
        assert_eq!(t(odd, "/v1/x/login"), "OTHER /v1/{tenant}/login");
    }
}
