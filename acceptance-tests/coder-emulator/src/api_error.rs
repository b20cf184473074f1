//! Error answers in Coder v1's shape: `{"error": {"msg", "code", "details"}}` (coder-sdk
//! `APIError`), and for the v2 mode the Coder v2 shape `{"message", "detail"}` and its web page.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// `code` of a 404 for a route the server does not have; a real v1.29 server answered
/// `{"error":{"msg":"Route not found.","code":"empty"}}` (coder/coder#5111).
pub const CODE_EMPTY: &str = "empty";
/// `code` of a malformed or invalid request body or query (ASSUMED).
pub const CODE_BAD_REQUEST: &str = "bad_request";
/// `code` of a missing or wrong session token (ASSUMED).
pub const CODE_UNAUTHORIZED: &str = "unauthorized";
/// `code` of a missing resource (ASSUMED).
pub const CODE_NOT_FOUND: &str = "not_found";
/// `code` of a conflict: duplicate name, registry in use (ASSUMED).
pub const CODE_CONFLICT: &str = "conflict";
/// `code` of an answer injected by the fault plan (emulator-only).
pub const CODE_FAULT: &str = "emulator_fault";

/// One error answer of the Coder v1 API.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Human-readable message (`error.msg`).
    pub msg: String,
    /// Machine-readable code (`error.code`).
    pub code: &'static str,
    /// Optional structured details (`error.details`); omitted from the body when `None`, like the
    /// "Route not found." answer of a real server.
    pub details: Option<Value>,
    /// Seconds for a `Retry-After` header, if any.
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    /// An error with the given status, code and message and no details.
    pub fn new(status: StatusCode, code: &'static str, msg: impl Into<String>) -> ApiError {
        ApiError {
            status,
            msg: msg.into(),
            code,
            details: None,
            retry_after_secs: None,
        }
    }

    /// 400 with [`CODE_BAD_REQUEST`].
    pub fn bad_request(msg: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, CODE_BAD_REQUEST, msg)
    }

    /// 404 with [`CODE_NOT_FOUND`].
    pub fn not_found(msg: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, CODE_NOT_FOUND, msg)
    }

    /// 409 with [`CODE_CONFLICT`].
    pub fn conflict(msg: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, CODE_CONFLICT, msg)
    }

    /// 401 for a missing or wrong `Session-Token`.
    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            CODE_UNAUTHORIZED,
            "Unauthorized: a valid Session-Token header is required.",
        )
    }

    /// 404 "Route not found." with code `empty`, as a real v1 server answers.
    pub fn route_not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, CODE_EMPTY, "Route not found.")
    }

    /// 405 for a known path with another method (ASSUMED: v1's router answers 405).
    pub fn method_not_allowed() -> ApiError {
        ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            CODE_EMPTY,
            "Method not allowed.",
        )
    }

    /// Adds structured details.
    pub fn with_details(mut self, details: Value) -> ApiError {
        self.details = Some(details);
        self
    }

    /// The JSON body of this error.
    pub fn body(&self) -> Value {
        let mut error = json!({ "msg": self.msg, "code": self.code });
        if let (Some(details), Some(object)) = (&self.details, error.as_object_mut()) {
            object.insert("details".to_owned(), details.clone());
        }
        json!({ "error": error })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// A Coder v2 "Route not found." answer for a path under `/api/v2`:
/// `codersdk.Response{message, detail}`.
pub fn v2_route_not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({ "message": "Route not found.", "detail": "" })),
    )
        .into_response()
}

/// The page a Coder v2 deployment serves for every path outside its API: its web app. This one is
/// hand-written and minimal; only its status and content type matter.
const V2_WEB_PAGE: &str = "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
                               <title>Coder</title>\n</head>\n<body>\n<div id=\"root\"></div>\n\
                               </body>\n</html>\n";

/// A Coder v2 answer to a path outside `/api/v2`: 200 with the web page, as text/html.
pub fn v2_web_page() -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        V2_WEB_PAGE,
    )
        .into_response()
}
