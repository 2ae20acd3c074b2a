//! Reading request bodies: bounded in size and time, JSON objects of
//! bounded depth, or uploaded files handed to plugins as base64.

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Body;
use hyper::{Request, StatusCode};

use super::ApiError;
use crate::limits::MAX_REQUEST_BODY_BYTES;

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
async fn read_plugin_input<B>(req: Request<B>, max: usize) -> Result<serde_json::Value, ApiError>
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

/// `plugin`'s input from the request, at most `cap` body bytes, refused
/// before the plugin runs when larger than its policy allows (413 naming
/// the limit, never a memory trap).
pub(super) async fn read_input_for<B>(
    plugin: &crate::runtime::LoadedPlugin,
    req: Request<B>,
    cap: usize,
) -> Result<String, ApiError>
where
    B: Body<Data = Bytes> + Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let limit = plugin.policy.limits.input_bytes;
    let max = cap.min(usize::try_from(limit).unwrap_or(usize::MAX));
    let input = match read_plugin_input(req, max).await {
        Ok(input) => input.to_string(),
        // More body than the plugin could take: say so in its terms.
        Err(e) if e.code == "body-too-large" && (max as u64) == limit => {
            return Err(input_too_large(plugin, None));
        }
        Err(e) => return Err(e),
    };
    if input.len() as u64 > limit {
        return Err(input_too_large(plugin, Some(input.len())));
    }
    Ok(input)
}

fn input_too_large(plugin: &crate::runtime::LoadedPlugin, size: Option<usize>) -> ApiError {
    let limit = plugin.policy.limits.input_bytes;
    let size = size
        .map(|n| format!("the input is {n} bytes; "))
        .unwrap_or_default();
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "input-too-large",
        format!(
            "{size}{} takes at most {limit} bytes (its policy's input limit)",
            plugin.identity.name,
        ),
    )
}
