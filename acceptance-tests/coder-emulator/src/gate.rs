//! What happens to every request but the admin surface's before its handler: it is logged (with
//! its redacted body, and later the status it was answered), an `/api/**` request is delayed and
//! possibly answered with an injected fault, then it is authenticated (v1) or, in v2 mode,
//! answered as Coder v2 would. The admin surface under `/__emulator/` skips all of this.

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::api_error::{self, ApiError};
use crate::request_log::{Arrival, route_key};
use crate::{Emulator, MAX_BODY_BYTES};

/// Prefix of the test-only admin surface.
pub const ADMIN_PREFIX: &str = "/__emulator/";

/// Header carrying the session token (coder-sdk `request.go`).
pub const SESSION_TOKEN_HEADER: &str = "session-token";

/// Routes answered without a session token.
const PUBLIC_ROUTES: [&str; 2] = ["/api/private/version", "/api/v2/buildinfo"];

/// The v2 route; everything else is a v1 route.
const V2_BUILDINFO: &str = "/api/v2/buildinfo";

/// Where Coder v2's API lives; in v2 mode other paths answer with the web page.
const V2_API: &str = "/api/v2";
const V2_API_PREFIX: &str = "/api/v2/";

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
    let method = request.method().as_str().to_owned();
    let query = request.uri().query().map(str::to_owned);
    let key = route_key(&method, pattern.as_deref().unwrap_or(&path));

    let (parts, body) = request.into_parts();
    let (bytes, too_large) = match to_bytes(body, MAX_BODY_BYTES).await {
        Ok(bytes) => (bytes, false),
        Err(_) => (Bytes::new(), true),
    };
    let seq = emulator.log().record(Arrival {
        route: &key,
        method: &method,
        path: &path,
        query: query.as_deref(),
        body: &bytes,
    });
    let (response, fault) = if too_large {
        let error = ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            api_error::CODE_BAD_REQUEST,
            format!("The request body is larger than {MAX_BODY_BYTES} bytes."),
        );
        (error.into_response(), false)
    } else {
        answer(&emulator, &path, pattern.as_deref(), parts, bytes, next).await
    };
    emulator
        .log()
        .answered(seq, response.status().as_u16(), fault);
    response
}

/// The answer to a logged request, and whether it is an injected fault.
async fn answer(
    emulator: &Emulator,
    path: &str,
    pattern: Option<&str>,
    parts: Parts,
    bytes: Bytes,
    next: Next,
) -> (Response, bool) {
    if path == "/api" || path.starts_with("/api/") {
        let decision = emulator.faults().decide();
        if !decision.delay.is_zero() {
            tokio::time::sleep(decision.delay).await;
        }
        if let Some(fault) = decision.fault {
            return (fault.into_response(), true);
        }
    }

    if emulator.is_v2() {
        // Coder v2 serves its API under /api/v2 and its web app everywhere else (CONFIRMED on
        // v2.30.0: /api/private/version and /api/v0/workspaces/config answer 200 text/html).
        let in_v2_api = path == V2_API || path.starts_with(V2_API_PREFIX);
        match pattern {
            Some(V2_BUILDINFO) => {}
            _ if in_v2_api => return (api_error::v2_route_not_found(), false),
            _ => return (api_error::v2_web_page(), false),
        }
    } else {
        match pattern {
            // Unknown routes answer 404 whether or not the caller is authenticated (ASSUMED).
            None | Some(V2_BUILDINFO) => {
                return (ApiError::route_not_found().into_response(), false);
            }
            Some(route) if PUBLIC_ROUTES.contains(&route) => {}
            Some(_) => {
                if !authenticated(&parts.headers, &emulator.shared.token) {
                    return (ApiError::unauthorized().into_response(), false);
                }
            }
        }
    }
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    (response, false)
}

/// Whether `headers` carry exactly the expected session token.
fn authenticated(headers: &HeaderMap, token: &str) -> bool {
    headers
        .get(SESSION_TOKEN_HEADER)
        .is_some_and(|value| value.as_bytes() == token.as_bytes())
}
