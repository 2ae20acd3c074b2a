//! API errors: always `{"error":{"code","message"}}` with a fitting status.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};

use crate::admin::AdminError;
use crate::runtime::{InvokeError, LoadError};
use crate::store::StoreError;

/// An error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code.
    pub code: &'static str,
    /// For people; never contains personal values.
    pub message: String,
}

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 with code `code`.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 404.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, code, message)
    }

    /// 403.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 401.
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 500 for storage failures; the detail goes to the log only.
    pub fn storage(e: &dyn std::fmt::Display) -> ApiError {
        tracing::error!("storage failure: {e}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "storage",
            "the server could not read or write its storage",
        )
    }

    /// 503 for storage that cannot be written now (disk full, I/O error).
    pub fn storage_unavailable(e: &dyn std::fmt::Display) -> ApiError {
        tracing::error!("storage unavailable: {e}");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage-unavailable",
            "the server cannot write its storage now (disk full or an I/O error); nothing of this request was applied: try again later",
        )
    }

    /// The JSON response.
    pub fn into_response(self, request_id: &str) -> Response<Full<Bytes>> {
        let body = serde_json::json!({ "error": { "code": self.code, "message": self.message } });
        super::json_response(self.status, &body, request_id)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::UnusableFile { .. } => {
                tracing::error!("{e}");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "tenant-unavailable",
                    "this municipality's data cannot be opened; an operator must restore it",
                )
            }
            e if e.is_io_failure() => ApiError::storage_unavailable(&e),
            e => ApiError::storage(&e),
        }
    }
}

impl From<InvokeError> for ApiError {
    fn from(e: InvokeError) -> ApiError {
        match e {
            InvokeError::Plugin { code, message } => {
                let status = match code {
                    "invalid" => StatusCode::BAD_REQUEST,
                    "not-found" | "unknown-operation" => StatusCode::NOT_FOUND,
                    "access-denied" | "suspended" => StatusCode::FORBIDDEN,
                    "conflict" => StatusCode::CONFLICT,
                    _ => StatusCode::INTERNAL_SERVER_ERROR,
                };
                ApiError::new(status, code, message)
            }
            InvokeError::Contained { code, message } => {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, code, message)
            }
            InvokeError::Replayed(m) => ApiError::new(StatusCode::CONFLICT, "replayed", m),
            InvokeError::Conflict(_) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())
            }
            InvokeError::Busy(m) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", m),
            InvokeError::Overloaded => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", e.to_string())
            }
            InvokeError::Storage(s) => ApiError::storage(&s),
            InvokeError::StorageUnavailable(s) => ApiError::storage_unavailable(&s),
        }
    }
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> ApiError {
        match e {
            AdminError::Invalid(m) => ApiError::bad_request("invalid", m),
            AdminError::NotFound(m) => ApiError::not_found("not-found", m),
            AdminError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            AdminError::Load(l @ LoadError::DigestMismatch { .. }) => {
                ApiError::bad_request("digest-mismatch", l.to_string())
            }
            AdminError::Load(l) => ApiError::bad_request("plugin-refused", l.to_string()),
            AdminError::Store(s) => ApiError::storage(&s),
        }
    }
}
