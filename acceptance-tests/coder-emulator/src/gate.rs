//! What happens to every `/api/**` request before its handler: it is counted (with its redacted
//! body), delayed and possibly answered with an injected fault, then authenticated. The admin
//! surface under `/__emulator/` skips all of this.

use axum::body::{Body, to_bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::api_error::{self, ApiError};
use crate::request_log::route_key;
use crate::{Emulator, MAX_BODY_BYTES};

/// Prefix of the test-only admin surface.
pub const ADMIN_PREFIX: &str = "/__emulator/";

/// Header carrying the session token (coder-sdk `request.go`).
pub const SESSION_TOKEN_HEADER: &str = "session-token";

/// Routes answered without a session token.
const PUBLIC_ROUTES: [&str; 2] = ["/api/private/version", "/api/v2/buildinfo"];

/// The v2 route; everything else is a v1 route.
const V2_BUILDINFO: &str = "/api/v2/buildinfo";

/// The middleware itself (see the module documentation).
pub async fn gate(State(emulator): State<Emulator>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    if path.starts_with(ADMIN_PREFIX) {
        return next.run(request).await;
    }
    let pattern = request
        .extensions()
        .get::<MatchedPath>()
        .map(|matched| matched.as_str().to_owned());
    let key = route_key(
        request.method().as_str(),
        pattern.as_deref().unwrap_or(&path),
    );

    let (parts, body) = request.into_parts();
    let bytes = match to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => {
            emulator.log().record(&key, b"");
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                api_error::CODE_BAD_REQUEST,
                format!("The request body is larger than {MAX_BODY_BYTES} bytes."),
            )
            .into_response();
        }
    };
    emulator.log().record(&key, &bytes);

    if path == "/api" || path.starts_with("/api/") {
        let decision = emulator.faults().decide();
        if !decision.delay.is_zero() {
            tokio::time::sleep(decision.delay).await;
        }
        if let Some(fault) = decision.fault {
            return fault.into_response();
        }
    }

    let v2 = emulator.is_v2();
    match pattern.as_deref() {
        // Unknown routes answer 404 whether or not the caller is authenticated (ASSUMED).
        None if v2 => return api_error::v2_route_not_found(),
        None => return ApiError::route_not_found().into_response(),
        Some(V2_BUILDINFO) if !v2 => return ApiError::route_not_found().into_response(),
        Some(V2_BUILDINFO) => {}
        Some(_) if v2 => return api_error::v2_route_not_found(),
        Some(route) if PUBLIC_ROUTES.contains(&route) => {}
        Some(_) => {
            if !authenticated(&parts.headers, &emulator.shared.token) {
                return ApiError::unauthorized().into_response();
            }
        }
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Whether `headers` carry exactly the expected session token.
fn authenticated(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get(SESSION_TOKEN_HEADER)
        .is_some_and(|value| value.as_bytes() == token.as_bytes())
}
