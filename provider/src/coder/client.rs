//! [`CoderClient`]: authenticated, retrying calls to a Coder deployment of
//! either generation, and which generation it is.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::redirect;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use tokio::sync::OnceCell;
use url::Url;

use super::error::CoderError;
use super::retry;
use super::v1::CoderV1;
use super::v2::CoderV2;
use crate::provider::CoderSettings;

/// How long a call may retry when no deadline was set.
const DEFAULT_CALL_TIME: Duration = Duration::from_secs(120);
/// Longest single attempt; a hung request is abandoned and, when safe,
/// retried.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(60);
/// Shortest single attempt, so that a call made right at its deadline still
/// gets one real try.
const MIN_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(1);
/// Longest wait for a TCP + TLS connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Redirects followed within the deployment's own host.
const MAX_REDIRECTS: usize = 5;
/// Largest response body read; Coder's answers are a few kilobytes.
const MAX_BODY: usize = 8 << 20;
/// Longest excerpt of a non-JSON error body put in an error message.
const MAX_EXCERPT: usize = 200;
/// The header Coder v1 reads the session token from.
const SESSION_TOKEN: HeaderName = HeaderName::from_static("session-token");
/// The header Coder v2 reads the session token from.
const CODER_SESSION_TOKEN: HeaderName = HeaderName::from_static("coder-session-token");

/// A client of one Coder deployment. Cloning is cheap: clones share the
/// connection pool and the [`Generation`] once it is known.
///
/// [`v1`](Self::v1) and [`v2`](Self::v2) give the API of the generation a
/// resource needs, and refuse the other one. Every request carries the
/// session token (in `Session-Token` for v1, `Coder-Session-Token` for v2)
/// and the configured extra headers. Calls retry 429, 502, 503, 504 and transport failures
/// (see [`retry`](super::retry) for which are safe per method) with
/// exponential backoff until the deadline. Dropping a call's future aborts
/// its request, so callers cancel with `tokio::select!`.
#[derive(Clone)]
pub struct CoderClient {
    shared: Arc<Shared>,
    /// When calls stop retrying; `None` means two minutes after each call
    /// starts.
    deadline: Option<Instant>,
    /// The header the session token travels in.
    token_header: HeaderName,
}

/// Which Coder a deployment is, with its version (without a leading `v`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Generation {
    /// Coder v1 ("Coder Classic"), `/api/v0`.
    V1(String),
    /// Coder v2 (github.com/coder/coder), `/api/v2`.
    V2(String),
}

/// What all clones of a client share.
struct Shared {
    http: reqwest::Client,
    /// The deployment's URL, its path ending in `/`.
    base_url: Url,
    /// Names of the configured extra headers (for `Debug`).
    header_names: Vec<String>,
    /// The session token (marked sensitive).
    token: HeaderValue,
    /// The deployment's generation, once detected.
    generation: OnceCell<Generation>,
}

/// A 2xx (or 304 Not Modified) answer.
pub(super) struct Reply {
    method: Method,
    /// The request URL, without user info.
    url: String,
    pub(super) status: StatusCode,
    pub(super) body: Vec<u8>,
}

/// A request body and its media type.
pub(super) struct Body {
    content_type: &'static str,
    bytes: Vec<u8>,
}

impl Body {
    /// `value` as JSON.
    pub(super) fn json(value: &impl Serialize) -> Body {
        Body {
            content_type: "application/json",
            bytes: json_body(value),
        }
    }

    /// Bytes of the given media type.
    pub(super) fn bytes(content_type: &'static str, bytes: Vec<u8>) -> Body {
        Body {
            content_type,
            bytes,
        }
    }
}

impl Reply {
    /// The body as JSON of type `T`.
    pub(super) fn json<T: DeserializeOwned>(&self) -> Result<T, CoderError> {
        serde_json::from_slice(&self.body).map_err(|source| self.invalid(source))
    }

    /// The error for a body that is JSON but not what was expected.
    pub(super) fn invalid(&self, source: serde_json::Error) -> CoderError {
        CoderError::InvalidResponse {
            method: self.method.clone(),
            url: self.url.clone(),
            status: self.status,
            source,
        }
    }
}

/// `{"version": "..."}` from `/api/v2/buildinfo` and `/api/private/version`.
#[derive(Deserialize)]
struct VersionBody {
    version: String,
}

/// Coder v2's error body: `{"message", "detail", "validations"}`.
#[derive(Deserialize)]
struct V2ErrorBody {
    message: String,
    #[serde(default)]
    detail: String,
    #[serde(default)]
    validations: Vec<Value>,
}

/// Coder v1's error body: `{"error": {"msg", "code", "details"}}`.
#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    msg: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    details: Option<Value>,
}

impl CoderClient {
    /// A client for the deployment in `settings`. Fails with
    /// [`CoderError::MissingUrl`] or [`CoderError::MissingToken`] (which say
    /// to set `coder.url` / `CODER_URL` or `coder.session_token` /
    /// `CODER_SESSION_TOKEN`) when settings lack them, and with
    /// [`CoderError::InvalidHeader`] for a header that cannot be sent.
    pub fn new(settings: &CoderSettings) -> Result<CoderClient, CoderError> {
        let mut base_url = settings.url.clone().ok_or(CoderError::MissingUrl)?;
        let token = settings
            .session_token
            .as_deref()
            .filter(|token| !token.is_empty())
            .ok_or(CoderError::MissingToken)?;
        if !matches!(base_url.scheme(), "http" | "https") || base_url.cannot_be_a_base() {
            return Err(CoderError::InvalidUrl {
                url: without_user_info(&base_url).to_string(),
                reason: "it must be an http or https URL",
            });
        }
        base_url.set_query(None);
        base_url.set_fragment(None);
        if !base_url.path().ends_with('/') {
            // API paths are relative to the access URL, which may have a
            // path of its own.
            let path = format!("{}/", base_url.path());
            base_url.set_path(&path);
        }

        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        for (name, value) in &settings.headers {
            let invalid = |reason| CoderError::InvalidHeader {
                name: name.clone(),
                reason,
            };
            let header_name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| invalid("the name is not a valid header name"))?;
            let mut header_value = HeaderValue::from_str(value)
                .map_err(|_| invalid("the value has characters a header cannot carry"))?;
            // Extra headers often carry credentials for a proxy.
            header_value.set_sensitive(true);
            headers.insert(header_name, header_value);
        }
        let mut token_value =
            HeaderValue::from_str(token).map_err(|_| CoderError::InvalidHeader {
                name: "Session-Token".into(),
                reason: "the session token has characters a header cannot carry (a stray \
                         newline?)",
            })?;
        token_value.set_sensitive(true);

        let http = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(concat!(
                "terraform-provider-cvm/",
                env!("CARGO_PKG_VERSION")
            ))
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(redirect::Policy::custom(same_host_redirects))
            .build()
            .map_err(|source| CoderError::ClientSetup { source })?;
        Ok(CoderClient {
            shared: Arc::new(Shared {
                http,
                base_url,
                header_names: settings.headers.keys().cloned().collect(),
                token: token_value,
                generation: OnceCell::new(),
            }),
            deadline: None,
            token_header: SESSION_TOKEN,
        })
    }

    /// A client whose calls retry until `deadline`, then fail with
    /// [`CoderError::GaveUp`]. It shares everything else with `self`.
    pub fn with_deadline(&self, deadline: Instant) -> CoderClient {
        CoderClient {
            shared: Arc::clone(&self.shared),
            deadline: Some(deadline),
            token_header: self.token_header.clone(),
        }
    }

    /// When this client's calls stop retrying (for calls that wait on
    /// Coder, such as an import job, too).
    pub(super) fn deadline(&self) -> Instant {
        self.deadline
            .unwrap_or_else(|| Instant::now() + DEFAULT_CALL_TIME)
    }

    /// The deployment's URL (its path always ends in `/`).
    pub fn base_url(&self) -> &Url {
        &self.shared.base_url
    }

    /// Which generation the deployment is, asked once per client and its
    /// clones (a failure is not remembered: the next call asks again).
    ///
    /// `GET /api/v2/buildinfo` answers 200 with the version only on Coder
    /// v2; v1 answers 404 ("Route not found."), and then
    /// `GET /api/private/version` gives the v1 version.
    pub async fn generation(&self) -> Result<Generation, CoderError> {
        self.shared
            .generation
            .get_or_try_init(|| self.detect())
            .await
            .cloned()
    }

    /// The Coder v1 API; fails with [`CoderError::V2Deployment`] on v2.
    pub async fn v1(&self) -> Result<CoderV1, CoderError> {
        match self.generation().await? {
            Generation::V1(version) => Ok(CoderV1::new(self.clone(), version)),
            Generation::V2(version) => Err(CoderError::V2Deployment {
                url: self.shown_base_url(),
                version,
            }),
        }
    }

    /// The Coder v2 API; fails with [`CoderError::V1Deployment`] on v1.
    pub async fn v2(&self) -> Result<CoderV2, CoderError> {
        match self.generation().await? {
            Generation::V2(version) => {
                let mut client = self.clone();
                client.token_header = CODER_SESSION_TOKEN;
                Ok(CoderV2::new(client, version))
            }
            Generation::V1(version) => Err(CoderError::V1Deployment {
                url: self.shown_base_url(),
                version,
            }),
        }
    }

    async fn detect(&self) -> Result<Generation, CoderError> {
        let buildinfo = self.endpoint(&["api", "v2", "buildinfo"]);
        match self.call(Method::GET, buildinfo, None).await {
            Ok(reply) => {
                // A 200 that is not build info (say, a web page) is not v2;
                // the version check below then finds out what it is.
                if let Ok(info) = reply.json::<VersionBody>() {
                    tracing::debug!(version = %info.version, "Coder v2 deployment");
                    return Ok(Generation::V2(without_v(&info.version)));
                }
            }
            Err(CoderError::NotFound { .. }) => {}
            Err(error) => return Err(error),
        }
        let version_url = self.endpoint(&["api", "private", "version"]);
        let reply = self.call(Method::GET, version_url, None).await?;
        let version = without_v(&reply.json::<VersionBody>()?.version);
        if version.starts_with("2.") {
            return Ok(Generation::V2(version));
        }
        tracing::debug!(version, "Coder v1 deployment");
        Ok(Generation::V1(version))
    }

    /// The deployment's URL for messages (no user info).
    pub(super) fn shown_base_url(&self) -> String {
        without_user_info(&self.shared.base_url).into()
    }

    /// The URL of the API path made of `segments` (each percent-encoded).
    pub(super) fn endpoint(&self, segments: &[&str]) -> Url {
        let mut url = self.shared.base_url.clone();
        // `new` accepts only http(s) URLs, which always have path segments,
        // so this never fails.
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// Sends a request, retrying what is safe to retry until the deadline.
    /// Returns 2xx and 304 answers; every other outcome is an error.
    pub(super) async fn call(
        &self,
        method: Method,
        url: Url,
        body: Option<Body>,
    ) -> Result<Reply, CoderError> {
        let deadline = self
            .deadline
            .unwrap_or_else(|| Instant::now() + DEFAULT_CALL_TIME);
        let shown: String = without_user_info(&url).into();
        let mut attempts: u32 = 0;
        loop {
            attempts += 1;
            let started = Instant::now();
            let timeout = deadline
                .saturating_duration_since(started)
                .min(ATTEMPT_TIMEOUT)
                .max(MIN_ATTEMPT_TIMEOUT);
            let mut request = self
                .shared
                .http
                .request(method.clone(), url.clone())
                .header(self.token_header.clone(), self.shared.token.clone())
                .timeout(timeout);
            if let Some(body) = &body {
                request = request
                    .header(CONTENT_TYPE, body.content_type)
                    .body(body.bytes.clone());
            }
            let outcome = send(request).await;
            let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            let (error, asked_wait) = match outcome {
                Ok((status, headers, body)) => {
                    tracing::debug!(
                        method = %method,
                        path = url.path(),
                        status = status.as_u16(),
                        attempt = attempts,
                        elapsed_ms,
                        "Coder API call"
                    );
                    // 304: Coder v2's answer to a template update that
                    // changes nothing.
                    if status.is_success() || status == StatusCode::NOT_MODIFIED {
                        return Ok(Reply {
                            method,
                            url: shown,
                            status,
                            body,
                        });
                    }
                    let error = status_error(&method, &shown, status, &body);
                    if !retry::status_is_retryable(&method, status) {
                        return Err(error);
                    }
                    (error, retry::retry_after(&headers, SystemTime::now()))
                }
                Err(source) => {
                    tracing::debug!(
                        method = %method,
                        path = url.path(),
                        failure = failure_kind(&source),
                        attempt = attempts,
                        elapsed_ms,
                        "Coder API call failed"
                    );
                    let retryable = retry::transport_is_retryable(&method, &source);
                    let error = CoderError::Transport {
                        method: method.clone(),
                        url: shown.clone(),
                        source: source.without_url(),
                    };
                    if !retryable {
                        return Err(error);
                    }
                    (error, None)
                }
            };
            let wait = asked_wait.unwrap_or_else(|| retry::backoff_delay(attempts));
            let wakes = Instant::now().checked_add(wait);
            if wakes.is_none_or(|wakes| wakes >= deadline) {
                return Err(CoderError::GaveUp {
                    method,
                    url: shown,
                    attempts,
                    last: Box::new(error),
                });
            }
            tokio::time::sleep(wait).await;
        }
    }
}

impl std::fmt::Debug for CoderClient {
    // The token and header values must never reach a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoderClient")
            .field(
                "base_url",
                &without_user_info(&self.shared.base_url).as_str(),
            )
            .field("session_token", &"(sensitive)")
            .field("headers", &self.shared.header_names)
            .field("deadline", &self.deadline)
            .field("token_header", &self.token_header.as_str())
            .finish()
    }
}

/// Sends `request` and reads the answer (at most [`MAX_BODY`] bytes of it).
async fn send(
    request: reqwest::RequestBuilder,
) -> Result<(StatusCode, HeaderMap, Vec<u8>), reqwest::Error> {
    let mut response = request.send().await?;
    let status = response.status();
    let headers = std::mem::take(response.headers_mut());
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_BODY {
            // Too big to be Coder's JSON: parsing what we have will fail
            // and say so.
            break;
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status, headers, body))
}

/// The error for a non-2xx answer.
fn status_error(method: &Method, url: &str, status: StatusCode, body: &[u8]) -> CoderError {
    let (msg, code, details) = match serde_json::from_slice::<ErrorEnvelope>(body) {
        Ok(ErrorEnvelope { error }) => (
            error.msg,
            error.code,
            error
                .details
                .filter(|details| !details.is_null())
                .map(Box::new),
        ),
        Err(_) => match serde_json::from_slice::<V2ErrorBody>(body) {
            Ok(v2) => {
                let mut details = Map::new();
                if !v2.detail.is_empty() {
                    details.insert("detail".into(), Value::String(v2.detail));
                }
                if !v2.validations.is_empty() {
                    details.insert("validations".into(), Value::Array(v2.validations));
                }
                let details = (!details.is_empty()).then(|| Box::new(Value::Object(details)));
                (v2.message, String::new(), details)
            }
            Err(_) => (excerpt(body), String::new(), None),
        },
    };
    let method = method.clone();
    let url = url.to_owned();
    match status {
        StatusCode::UNAUTHORIZED => CoderError::Unauthorized { method, url },
        StatusCode::NOT_FOUND => CoderError::NotFound { method, url, msg },
        _ => CoderError::Api {
            method,
            url,
            status,
            msg: if msg.is_empty() {
                status.canonical_reason().unwrap_or("no message").to_owned()
            } else {
                msg
            },
            code,
            details,
        },
    }
}

/// The start of a non-JSON body, on one line.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let words: Vec<&str> = text.split_whitespace().collect();
    let line = words.join(" ");
    if line.chars().count() <= MAX_EXCERPT {
        return line;
    }
    let mut cut: String = line.chars().take(MAX_EXCERPT).collect();
    cut.push('…');
    cut
}

/// For logs: what kind of transport failure this was.
fn failure_kind(error: &reqwest::Error) -> &'static str {
    if error.is_connect() {
        "connect"
    } else if error.is_timeout() {
        "timeout"
    } else if error.is_body() || error.is_decode() {
        "body"
    } else {
        "request"
    }
}

/// Follows a redirect only within the deployment's host (same port, or
/// http upgraded to https), because the session token is a custom header
/// that reqwest would otherwise send to any host. Other redirects are
/// returned as the 3xx answer, which becomes an error.
fn same_host_redirects(attempt: redirect::Attempt<'_>) -> redirect::Action {
    let Some(first) = attempt.previous().first() else {
        return attempt.stop();
    };
    let next = attempt.url();
    let same_host = first.host_str() == next.host_str();
    let same_origin = first.scheme() == next.scheme()
        && first.port_or_known_default() == next.port_or_known_default();
    let upgrade = first.scheme() == "http" && next.scheme() == "https";
    if attempt.previous().len() <= MAX_REDIRECTS && same_host && (same_origin || upgrade) {
        attempt.follow()
    } else {
        attempt.stop()
    }
}

/// A version without its leading `v`, trimmed.
fn without_v(version: &str) -> String {
    let version = version.trim();
    version.strip_prefix('v').unwrap_or(version).to_owned()
}

/// `url` without user name and password, for messages.
pub(super) fn without_user_info(url: &Url) -> Url {
    let mut url = url.clone();
    // Both fail only for URLs that cannot have user info, which then have
    // none to remove.
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url
}

/// The JSON body of a request.
fn json_body(value: &impl Serialize) -> Vec<u8> {
    // serde_json fails only on maps with non-string keys or on Serialize
    // impls that return errors; the bodies sent here (plain structs and
    // Map<String, Value>) have neither.
    serde_json::to_vec(value).expect("request bodies always serialize")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;
    use crate::coder::v1::{NewRegistry, RegistryUpdate};
    use crate::test_server::{Answer, TestServer};

    const TOKEN: &str = "tok-9f8e7d6c5b4a";
    const EXTRA: &str = "extra-secret-1234";
    const PASSWORD: &str = "registry-password-5678";

    fn settings(url: &Url) -> CoderSettings {
        CoderSettings {
            url: Some(url.clone()),
            session_token: Some(TOKEN.into()),
            headers: BTreeMap::from([("X-Proxy-Auth".to_owned(), EXTRA.to_owned())]),
        }
    }

    fn client(server: &TestServer) -> CoderClient {
        CoderClient::new(&settings(&server.url)).unwrap()
    }

    /// The v1 API of `client` without asking the server which generation it is.
    fn as_v1(client: &CoderClient) -> CoderV1 {
        CoderV1::new(client.clone(), "1.44.0".into())
    }

    fn v1(server: &TestServer) -> CoderV1 {
        as_v1(&client(server))
    }

    async fn ensure_v1(client: &CoderClient) -> Result<String, CoderError> {
        client.v1().await.map(|v1| v1.version().to_owned())
    }

    fn registry_json(id: &str) -> Value {
        json!({
            "id": id, "organization_id": "default", "friendly_name": "Harbor",
            "registry": "harbor.example.com", "created_at": "2021-08-13T10:00:00Z",
            "updated_at": "2021-08-13T10:00:00Z"
        })
    }

    fn route_not_found() -> Answer {
        Answer::json(
            404,
            json!({"error": {"msg": "Route not found.", "code": "empty"}}),
        )
    }

    #[tokio::test]
    async fn sends_the_token_and_extra_headers() {
        let server = TestServer::start(|_, _| {
            Answer::json(200, json!({"enable_container_vms": true, "gpu_vendor": ""}))
        })
        .await;
        let config = v1(&server).get_workspaces_config().await.unwrap();
        assert_eq!(config["enable_container_vms"], json!(true));
        let seen = server.seen();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].method, "GET");
        assert_eq!(seen[0].path(), "/api/v0/workspaces/config");
        assert_eq!(seen[0].header("session-token"), Some(TOKEN));
        assert_eq!(seen[0].header("x-proxy-auth"), Some(EXTRA));
    }

    #[tokio::test]
    async fn keeps_the_path_of_the_access_url() {
        let server = TestServer::start(|_, _| Answer::json(200, json!([]))).await;
        let url = server.url.join("coder").unwrap();
        let client = CoderClient::new(&settings(&url)).unwrap();
        assert!(client.base_url().path().ends_with("/coder/"));
        assert!(
            as_v1(&client)
                .list_registries("my org")
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            server.seen()[0].target,
            "/coder/api/v0/registries?org=my+org"
        );
    }

    #[tokio::test]
    async fn put_sends_the_whole_object() {
        let server = TestServer::start(|_, _| Answer::empty(200)).await;
        let mut config = Map::new();
        config.insert("enable_container_vms".into(), json!(true));
        config.insert("unknown_key".into(), json!(7));
        v1(&server).put_workspaces_config(&config).await.unwrap();
        let seen = &server.seen()[0];
        assert_eq!(seen.method, "PUT");
        assert_eq!(seen.header("content-type"), Some("application/json"));
        assert_eq!(
            seen.json(),
            json!({"enable_container_vms": true, "unknown_key": 7})
        );
    }

    #[tokio::test]
    async fn error_body_becomes_an_api_error_and_is_not_retried() {
        let server = TestServer::start(|_, _| {
            Answer::json(
                400,
                json!({"error": {"msg": "registry is unreachable", "code": "verbose",
                                 "details": {"verbose": "dial tcp: no such host"}}}),
            )
        })
        .await;
        let new = NewRegistry {
            org_id: "default".into(),
            friendly_name: "Harbor".into(),
            registry: "harbor.example.com".into(),
            username: "robot".into(),
            password: PASSWORD.into(),
        };
        let error = v1(&server).create_registry(&new).await.unwrap_err();
        let CoderError::Api {
            status,
            ref msg,
            ref code,
            ref details,
            ..
        } = error
        else {
            panic!("{error:?}");
        };
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(msg, "registry is unreachable");
        assert_eq!(code, "verbose");
        assert_eq!(
            details.as_deref(),
            Some(&json!({"verbose": "dial tcp: no such host"}))
        );
        assert!(error.to_string().contains("\"registry is unreachable\""));
        assert!(!error.to_string().contains(PASSWORD));
        assert_eq!(server.seen().len(), 1);
        assert_eq!(
            server.seen()[0].json(),
            json!({"org_id": "default", "friendly_name": "Harbor",
                   "registry": "harbor.example.com", "username": "robot", "password": PASSWORD})
        );
    }

    #[tokio::test]
    async fn non_json_error_body_is_quoted_briefly() {
        let server = TestServer::start(|_, _| {
            Answer::text(
                500,
                format!("<html>\n  internal   error {}</html>", "x".repeat(500)),
            )
        })
        .await;
        let error = v1(&server).list_registries("default").await.unwrap_err();
        let CoderError::Api { msg, .. } = error else {
            panic!("{error:?}");
        };
        assert!(msg.starts_with("<html> internal error xxx"), "{msg}");
        assert!(msg.chars().count() <= MAX_EXCERPT + 1);
    }

    #[tokio::test]
    async fn unauthorized_says_which_token_to_check() {
        let server = TestServer::start(|_, _| {
            Answer::json(401, json!({"error": {"msg": "unauthorized", "code": ""}}))
        })
        .await;
        let error = v1(&server).get_workspaces_config().await.unwrap_err();
        assert!(
            matches!(error, CoderError::Unauthorized { .. }),
            "{error:?}"
        );
        let text = error.to_string();
        assert!(text.contains("CODER_SESSION_TOKEN") && text.contains("coder.session_token"));
        assert!(!text.contains(TOKEN));
        assert_eq!(server.seen().len(), 1);
    }

    #[tokio::test]
    async fn registries_that_are_gone() {
        let server = TestServer::start(|seen, _| match seen.path() {
            "/api/v0/registries/r1" => Answer::json(200, registry_json("r1")),
            _ => Answer::json(404, json!({"error": {"msg": "registry not found"}})),
        })
        .await;
        let client = client(&server);
        assert_eq!(as_v1(&client).find_registry("gone").await.unwrap(), None);
        let found = as_v1(&client).find_registry("r1").await.unwrap().unwrap();
        assert_eq!(found.registry, "harbor.example.com");
        as_v1(&client).delete_registry("gone").await.unwrap();
        assert_eq!(as_v1(&client).find_registry("").await.unwrap(), None);
        let error = as_v1(&client)
            .update_registry("gone", &RegistryUpdate::default())
            .await
            .unwrap_err();
        assert!(matches!(error, CoderError::NotFound { .. }), "{error:?}");
        assert!(error.to_string().contains("\"registry not found\""));
        // Ids are one path segment, however odd.
        assert_eq!(as_v1(&client).find_registry("a/b c").await.unwrap(), None);
        assert_eq!(
            server.seen().last().unwrap().target,
            "/api/v0/registries/a%2Fb%20c"
        );
    }

    #[tokio::test]
    async fn patch_sends_only_the_fields_that_are_set() {
        let server = TestServer::start(|_, _| Answer::json(200, registry_json("r1"))).await;
        let update = RegistryUpdate {
            friendly_name: Some("Harbor".into()),
            password: Some(PASSWORD.into()),
            ..RegistryUpdate::default()
        };
        let updated = v1(&server).update_registry("r1", &update).await.unwrap();
        assert_eq!(updated.id, "r1");
        let seen = &server.seen()[0];
        assert_eq!(seen.method, "PATCH");
        assert_eq!(seen.path(), "/api/v0/registries/r1");
        assert_eq!(
            seen.json(),
            json!({"friendly_name": "Harbor", "password": PASSWORD})
        );
    }

    #[tokio::test]
    async fn patch_without_a_registry_in_the_answer_reads_it_back() {
        let server = TestServer::start(|seen, _| match seen.method.as_str() {
            "PATCH" => Answer::json(200, json!({"msg": "updated"})),
            _ => Answer::json(200, registry_json("r1")),
        })
        .await;
        let updated = v1(&server)
            .update_registry("r1", &RegistryUpdate::default())
            .await
            .unwrap();
        assert_eq!(updated.friendly_name, "Harbor");
        assert_eq!(server.seen().len(), 2);
    }

    #[tokio::test]
    async fn invalid_json_is_an_invalid_response() {
        let server = TestServer::start(|_, _| Answer::json(200, json!(["not", "a", "map"]))).await;
        let error = v1(&server).get_workspaces_config().await.unwrap_err();
        assert!(
            matches!(error, CoderError::InvalidResponse { .. }),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn retries_503_until_it_succeeds() {
        let server = TestServer::start(|_, n| {
            if n < 2 {
                Answer::empty(503)
            } else {
                Answer::json(200, json!({"enable_container_vms": false}))
            }
        })
        .await;
        let config = v1(&server).get_workspaces_config().await.unwrap();
        assert_eq!(config["enable_container_vms"], json!(false));
        assert_eq!(server.seen().len(), 3);
    }

    #[tokio::test]
    async fn honours_retry_after() {
        let server = TestServer::start(|_, n| {
            if n == 0 {
                Answer::empty(429).header("Retry-After", "1")
            } else {
                Answer::json(200, json!([]))
            }
        })
        .await;
        let started = Instant::now();
        v1(&server).list_registries("default").await.unwrap();
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(950), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
        assert_eq!(server.seen().len(), 2);
    }

    #[tokio::test]
    async fn retry_after_past_the_deadline_gives_up_at_once() {
        let server =
            TestServer::start(|_, _| Answer::empty(503).header("Retry-After", "3600")).await;
        let started = Instant::now();
        let client = client(&server).with_deadline(Instant::now() + Duration::from_secs(30));
        let error = as_v1(&client).list_registries("default").await.unwrap_err();
        assert!(
            matches!(error, CoderError::GaveUp { attempts: 1, .. }),
            "{error:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn gives_up_at_the_deadline() {
        let server = TestServer::start(|_, _| Answer::empty(503)).await;
        let started = Instant::now();
        let client = client(&server).with_deadline(started + Duration::from_millis(1500));
        let error = as_v1(&client).get_workspaces_config().await.unwrap_err();
        let elapsed = started.elapsed();
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
        let CoderError::GaveUp {
            attempts, ref last, ..
        } = error
        else {
            panic!("{error:?}");
        };
        assert!(attempts >= 2, "{attempts}");
        assert_eq!(attempts as usize, server.seen().len());
        assert!(matches!(
            **last,
            CoderError::Api {
                status: StatusCode::SERVICE_UNAVAILABLE,
                ..
            }
        ));
        let text = error.to_string();
        assert!(
            text.contains(&format!("{}api/v0/workspaces/config", server.url)),
            "{text}"
        );
        assert!(text.contains("503 Service Unavailable"), "{text}");
    }

    #[tokio::test]
    async fn post_is_retried_on_503_but_not_on_502() {
        let new = NewRegistry {
            org_id: "default".into(),
            friendly_name: "Harbor".into(),
            registry: "harbor.example.com".into(),
            username: "robot".into(),
            password: PASSWORD.into(),
        };
        let server = TestServer::start(|_, n| match n {
            0 => Answer::empty(503),
            _ => Answer::json(201, registry_json("r9")),
        })
        .await;
        assert_eq!(v1(&server).create_registry(&new).await.unwrap().id, "r9");
        assert_eq!(server.seen().len(), 2);

        let server = TestServer::start(|_, _| Answer::empty(502)).await;
        let error = v1(&server).create_registry(&new).await.unwrap_err();
        assert!(
            matches!(
                error,
                CoderError::Api {
                    status: StatusCode::BAD_GATEWAY,
                    ..
                }
            ),
            "{error:?}"
        );
        assert_eq!(server.seen().len(), 1);
    }

    #[tokio::test]
    async fn connection_refused_is_retried_then_given_up() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        drop(listener);
        let client = CoderClient::new(&settings(&url))
            .unwrap()
            .with_deadline(Instant::now() + Duration::from_secs(1));
        let started = Instant::now();
        let error = as_v1(&client).delete_registry("r1").await.unwrap_err();
        assert!(started.elapsed() < Duration::from_millis(1500));
        let CoderError::GaveUp {
            attempts, ref last, ..
        } = error
        else {
            panic!("{error:?}");
        };
        assert!(attempts >= 2, "{attempts}");
        assert!(matches!(**last, CoderError::Transport { .. }), "{last:?}");
        let detail = tf_framework::diagnostic::error_chain(&error);
        assert!(detail.contains("refused"), "{detail}");
    }

    #[tokio::test]
    async fn tls_failures_are_not_retried() {
        // A server that answers a TLS handshake with plain HTTP.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("https://{}/", listener.local_addr().unwrap())).unwrap();
        let accepts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let task = tokio::spawn({
            let accepts = Arc::clone(&accepts);
            async move {
                while let Ok((mut stream, _)) = listener.accept().await {
                    accepts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    use tokio::io::AsyncWriteExt;
                    let _ = stream
                        .write_all(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")
                        .await;
                }
            }
        });
        let client = CoderClient::new(&settings(&url)).unwrap();
        let error = as_v1(&client).get_workspaces_config().await.unwrap_err();
        task.abort();
        assert!(matches!(error, CoderError::Transport { .. }), "{error:?}");
        assert_eq!(accepts.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn redirects_to_another_host_are_not_followed() {
        let server = TestServer::start(|seen, _| match seen.path() {
            "/api/v0/workspaces/config" => {
                Answer::empty(302).header("Location", "http://localhost:1/api/v0/workspaces/config")
            }
            _ => Answer::empty(500),
        })
        .await;
        let error = v1(&server).get_workspaces_config().await.unwrap_err();
        assert!(
            matches!(
                error,
                CoderError::Api {
                    status: StatusCode::FOUND,
                    ..
                }
            ),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn redirects_within_the_host_are_followed() {
        let server = TestServer::start(|seen, _| match seen.path() {
            "/api/v0/workspaces/config" => Answer::empty(307).header("Location", "/moved"),
            _ => Answer::json(200, json!({"gpu_vendor": "nvidia"})),
        })
        .await;
        let config = v1(&server).get_workspaces_config().await.unwrap();
        assert_eq!(config["gpu_vendor"], json!("nvidia"));
        assert_eq!(server.seen()[1].header("session-token"), Some(TOKEN));
    }

    #[tokio::test]
    async fn detects_coder_v2() {
        let server = TestServer::start(|seen, _| match seen.path() {
            "/api/v2/buildinfo" => {
                Answer::json(200, json!({"version": "v2.10.2+abc", "external_url": ""}))
            }
            _ => Answer::empty(500),
        })
        .await;
        let error = ensure_v1(&client(&server)).await.unwrap_err();
        let CoderError::V2Deployment { ref version, .. } = error else {
            panic!("{error:?}");
        };
        assert_eq!(version, "2.10.2+abc");
    }

    /// What a Coder v2 deployment answers: build info under /api/v2, and 200 with its web page
    /// for every path outside its API, /api/private/version included.
    fn coder_v2(seen: &crate::test_server::Seen) -> Answer {
        match seen.path() {
            "/api/v2/buildinfo" => Answer::json(
                200,
                json!({"version": "v2.30.0", "external_url": "https://github.com/coder/coder"}),
            ),
            path if path.starts_with("/api/v2/") => {
                Answer::json(404, json!({"message": "Route not found."}))
            }
            _ => Answer::typed(
                200,
                "text/html; charset=utf-8",
                "<!DOCTYPE html><html><body><div id=\"root\"></div></body></html>".into(),
            ),
        }
    }

    #[tokio::test]
    async fn detects_coder_v2_that_serves_its_web_page_outside_the_api() {
        let server = TestServer::start(|seen, _| coder_v2(seen)).await;
        let client = client(&server);
        let error = ensure_v1(&client).await.unwrap_err();
        let CoderError::V2Deployment {
            ref url,
            ref version,
        } = error
        else {
            panic!("{error:?}");
        };
        assert_eq!(version, "2.30.0");
        assert_eq!(url, server.url.as_str());
        // Detected before any v1 route is asked.
        let paths: Vec<_> = server.seen().iter().map(|s| s.path().to_owned()).collect();
        assert_eq!(paths, ["/api/v2/buildinfo"]);
        // A v1 call on its own would get the web page, which is not the settings object.
        let config = as_v1(&client).get_workspaces_config().await.unwrap_err();
        assert!(
            matches!(config, CoderError::InvalidResponse { .. }),
            "{config:?}"
        );
    }

    #[tokio::test]
    async fn detects_v2_from_the_private_version_too() {
        let server = TestServer::start(|seen, _| match seen.path() {
            "/api/private/version" => Answer::json(200, json!({"version": "v2.1.0"})),
            _ => route_not_found(),
        })
        .await;
        let error = ensure_v1(&client(&server)).await.unwrap_err();
        assert!(
            matches!(error, CoderError::V2Deployment { .. }),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn ensure_v1_asks_once_per_client() {
        let server = TestServer::start(|seen, _| match seen.path() {
            "/api/private/version" => Answer::json(200, json!({"version": "v1.44.0"})),
            _ => route_not_found(),
        })
        .await;
        let client = client(&server);
        assert_eq!(ensure_v1(&client).await.unwrap(), "1.44.0");
        assert_eq!(ensure_v1(&client).await.unwrap(), "1.44.0");
        let later = client.with_deadline(Instant::now() + Duration::from_secs(5));
        assert_eq!(ensure_v1(&later).await.unwrap(), "1.44.0");
        let paths: Vec<_> = server.seen().iter().map(|s| s.path().to_owned()).collect();
        assert_eq!(paths, ["/api/v2/buildinfo", "/api/private/version"]);
    }

    #[tokio::test]
    async fn ensure_v1_tries_again_after_a_failure() {
        let server = TestServer::start(|seen, n| match (seen.path(), n) {
            ("/api/v2/buildinfo", 0) => Answer::empty(500),
            ("/api/private/version", _) => Answer::json(200, json!({"version": "1.30.0"})),
            _ => route_not_found(),
        })
        .await;
        let client = client(&server);
        assert!(ensure_v1(&client).await.is_err());
        assert_eq!(ensure_v1(&client).await.unwrap(), "1.30.0");
    }

    #[test]
    fn missing_settings_say_what_to_set() {
        let mut settings = settings(&Url::parse("https://coder.example.com").unwrap());
        settings.session_token = None;
        let error = CoderClient::new(&settings).unwrap_err();
        assert!(matches!(error, CoderError::MissingToken));
        let text = error.to_string();
        assert!(text.contains("coder.session_token") && text.contains("CODER_SESSION_TOKEN"));
        settings.url = None;
        let error = CoderClient::new(&settings).unwrap_err();
        assert!(matches!(error, CoderError::MissingUrl));
        let text = error.to_string();
        assert!(text.contains("coder.url") && text.contains("CODER_URL"));
    }

    #[test]
    fn bad_headers_are_reported_without_their_value() {
        let mut settings = settings(&Url::parse("https://coder.example.com").unwrap());
        settings
            .headers
            .insert("X-Bad".into(), format!("{EXTRA}\nInjected: 1"));
        let error = CoderClient::new(&settings).unwrap_err();
        assert!(
            matches!(error, CoderError::InvalidHeader { .. }),
            "{error:?}"
        );
        assert!(!format!("{error} {error:?}").contains(EXTRA));
        settings.headers.clear();
        settings.session_token = Some(format!("{TOKEN}\n"));
        let error = CoderClient::new(&settings).unwrap_err();
        assert!(!format!("{error} {error:?}").contains(TOKEN));
    }

    #[test]
    fn errors_are_small() {
        // Results carry the error inline, so keep it within clippy's limit.
        assert!(
            std::mem::size_of::<CoderError>() < 128,
            "{}",
            std::mem::size_of::<CoderError>()
        );
    }

    #[tokio::test]
    async fn no_secret_in_any_debug_output() {
        let url = Url::parse("https://user:url-password-42@coder.example.com/").unwrap();
        let client = CoderClient::new(&settings(&url)).unwrap();
        let new = NewRegistry {
            org_id: "default".into(),
            friendly_name: "Harbor".into(),
            registry: "harbor.example.com".into(),
            username: "robot".into(),
            password: PASSWORD.into(),
        };
        let update = RegistryUpdate {
            password: Some(PASSWORD.into()),
            ..RegistryUpdate::default()
        };
        // A real transport error, to include reqwest's own Debug output.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let refused = Url::parse(&format!(
            "http://user:url-password-42@{}/",
            listener.local_addr().unwrap()
        ))
        .unwrap();
        drop(listener);
        let transport = as_v1(
            &CoderClient::new(&settings(&refused))
                .unwrap()
                .with_deadline(Instant::now()),
        )
        .get_workspaces_config()
        .await
        .unwrap_err();
        let unauthorized = CoderError::Unauthorized {
            method: Method::GET,
            url: without_user_info(&url).into(),
        };
        let texts = [
            format!("{client:?}"),
            format!("{:?}", client.with_deadline(Instant::now())),
            format!("{new:?}"),
            format!("{update:?}"),
            format!("{transport:?}"),
            transport.to_string(),
            tf_framework::diagnostic::error_chain(&transport),
            format!("{unauthorized:?}"),
        ];
        for text in texts {
            for secret in [TOKEN, EXTRA, PASSWORD, "url-password-42"] {
                assert!(!text.contains(secret), "{secret} in {text}");
            }
        }
        assert!(format!("{update:?}").contains("(sensitive)"));
        assert!(format!("{client:?}").contains("X-Proxy-Auth"));
    }
}
