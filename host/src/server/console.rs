//! The staff console's assets (`/console/`), built into the binary: no
//! CDN, no build step to run it. Every answer carries a strict
//! Content-Security-Policy (scripts and styles from this origin only, no
//! inline script, no framing), `no-store` and `nosniff`; the console
//! talks to the same `/v1` API as any client, so it adds no privileged
//! path.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};

use super::ApiError;

/// What a console page may load and run: this origin only.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A console file, its content type chosen by its extension.
macro_rules! asset {
    ($name:literal) => {
        (
            $name,
            content_type($name),
            include_bytes!(concat!("../../../console/", $name)),
        )
    };
}

const fn content_type(name: &str) -> &'static str {
    match name.as_bytes() {
        [.., b'.', b'j', b's'] => "text/javascript; charset=utf-8",
        [.., b'.', b'c', b's', b's'] => "text/css; charset=utf-8",
        _ => "text/html; charset=utf-8",
    }
}

/// (file name, content type, bytes). A screen is one module: its file
/// here and its line in `screens.js`.
const ASSETS: &[(&str, &str, &[u8])] = &[
    asset!("index.html"),
    asset!("style.css"),
    asset!("app.js"),
    asset!("api.js"),
    asset!("ui.js"),
    asset!("messages.js"),
    asset!("screens.js"),
    asset!("counter.js"),
    asset!("certificate.js"),
    asset!("verify.js"),
    asset!("campaigns.js"),
    asset!("audit.js"),
    asset!("history.js"),
    asset!("import.js"),
    asset!("movein.js"),
    asset!("rights.js"),
    asset!("admin.js"),
];

/// `GET /console/{file}` (the page itself for `/console/`).
pub(super) fn asset(file: &str, head: bool) -> Result<Response<Full<Bytes>>, ApiError> {
    let file = if file.is_empty() { "index.html" } else { file };
    let Some((_, kind, bytes)) = ASSETS.iter().find(|(name, _, _)| *name == file) else {
        return Err(ApiError::not_found(
            "not-found",
            "no such file in the console",
        ));
    };
    let body = if head {
        Bytes::new()
    } else {
        Bytes::from_static(bytes)
    };
    let response = Response::builder()
        .status(StatusCode::OK)
        .header("content-type", *kind)
        .header("content-security-policy", CONTENT_SECURITY_POLICY)
        .header("cache-control", "no-store")
        .header("x-content-type-options", "nosniff")
        .header("referrer-policy", "no-referrer")
        .header("x-frame-options", "DENY")
        .body(Full::new(body))
        .expect("static headers");
    Ok(response)
}

/// `GET /console` -> `/console/`, so relative links resolve.
pub(super) fn to_index() -> Response<Full<Bytes>> {
    Response::builder()
        .status(StatusCode::PERMANENT_REDIRECT)
        .header("location", "/console/")
        .header("cache-control", "no-store")
        .body(Full::new(Bytes::new()))
        .expect("static headers")
}

/// The names of the assets, for tests.
pub fn files() -> impl Iterator<Item = &'static str> {
    ASSETS.iter().map(|(name, _, _)| *name)
}
