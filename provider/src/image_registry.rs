//! The client of an image registry's HTTP API (the OCI distribution API,
//! Docker's "Registry HTTP API V2"): whether a registry accepts a user name
//! and password, checked as `docker login` does, on `GET /v2/`.
//!
//! The registry answers `/v2/` without credentials with a 401 and a
//! `WWW-Authenticate` challenge:
//! - `Basic realm=…`: the same request again with basic auth;
//! - `Bearer realm=…,service=…`: a token from the realm, asked for with
//!   basic auth (`?service=…&account=user`), then `/v2/` with that token.
//!
//! A 200 with the credentials means they are accepted; a 401 or 403 means
//! they are refused. A registry that answers the first request with 200
//! needs no credentials, which is accepted too.

use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderValue, WWW_AUTHENTICATE};
use reqwest::{Client, StatusCode, redirect};
use tf_framework::ToDiagnostic;
use tf_framework::diagnostic::error_chain;
use tf_protocol::{AttributePath, Diagnostic};
use url::Url;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Time limit of each request of a check.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Docker Hub's registry API host: `docker.io` is a name, not a server.
const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// Why a check of registry credentials did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry (or its token service) refused the credentials.
    #[error("{registry} refused the credentials of user `{username}` ({status}{detail})")]
    Refused {
        /// Registry host.
        registry: String,
        /// The user refused.
        username: String,
        /// The HTTP status of the refusal.
        status: StatusCode,
        /// What the registry said, after a `: `; empty when it said nothing.
        detail: String,
    },
    /// The registry could not be reached, or its certificate is not trusted.
    #[error("cannot reach {registry} at {url}")]
    Unreachable {
        registry: String,
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The registry answered in a way the API does not describe.
    #[error("{registry} answered {url} unexpectedly: {what}")]
    Unexpected {
        registry: String,
        url: String,
        what: String,
    },
    /// The CA certificate given for the registry is not PEM.
    #[error("the registry CA certificate is not a PEM certificate")]
    InvalidCa {
        #[source]
        source: reqwest::Error,
    },
    /// The HTTP client could not be set up.
    #[error("cannot set up the HTTP client for the registry check")]
    ClientSetup {
        #[source]
        source: reqwest::Error,
    },
}

impl ToDiagnostic for RegistryError {
    fn to_diagnostic(&self, attribute: Option<AttributePath>) -> Diagnostic {
        const SWITCH: &str = " If the registry cannot be reached from where Terraform runs, set \
                              check_credentials = false.";
        let (summary, advice) = match self {
            Self::Refused { .. } => (
                "Registry Refused the Credentials",
                " Check username and the password (a token needs the scope to pull images). \
                 Workspaces using this Secret would fail with ImagePullBackOff.",
            ),
            Self::Unreachable { .. } => (
                "Cannot Reach the Registry",
                " Check the registry host and port. A registry with a certificate from a \
                 private CA needs that CA in ca_certificate.",
            ),
            Self::Unexpected { .. } => ("Unexpected Registry Answer", ""),
            Self::InvalidCa { .. } => (
                "Invalid Registry CA Certificate",
                " Give the PEM text itself, starting with a `-----BEGIN CERTIFICATE` line, \
                 e.g. with file(\"ca.crt\").",
            ),
            Self::ClientSetup { .. } => ("Cannot Check the Registry Credentials", ""),
        };
        let switch = if matches!(self, Self::InvalidCa { .. }) {
            ""
        } else {
            SWITCH
        };
        let diagnostic = Diagnostic::error(
            summary,
            format!(
                "The credential check failed: {}.{advice}{switch}",
                error_chain(self)
            ),
        );
        match attribute {
            Some(path) => diagnostic.at(path),
            None => diagnostic,
        }
    }
}

/// What is checked: a registry host and the credentials for it.
pub struct Login<'a> {
    /// Registry host as in an image reference, e.g. `registry.example.com:5000`.
    pub registry: &'a str,
    /// User name to log in with.
    pub username: &'a str,
    /// Password or token to log in with.
    pub password: &'a str,
    /// PEM of a CA to trust besides the system's.
    pub ca_pem: Option<&'a str>,
}

/// The `/v2/` URL of a registry host.
fn api_base(registry: &str) -> String {
    let host = match registry {
        "docker.io" | "index.docker.io" => DOCKER_HUB_API,
        other => other,
    };
    format!("https://{host}/v2/")
}

/// Checks that the registry accepts the login.
pub async fn check_login(login: &Login<'_>) -> Result<(), RegistryError> {
    let client = client(login.ca_pem)?;
    check_at(&client, login, &api_base(login.registry)).await
}

/// [`check_login`] with the registry's `/v2/` at `url`.
async fn check_at(client: &Client, login: &Login<'_>, url: &str) -> Result<(), RegistryError> {
    let first = send(client, login, url, None).await?;
    if first.status().is_success() {
        tracing::info!(
            registry = login.registry,
            "the registry needs no credentials"
        );
        return Ok(());
    }
    if first.status() != StatusCode::UNAUTHORIZED {
        return Err(unexpected(
            login,
            url,
            format!("{} without credentials", first.status()),
        ));
    }
    let challenge = first
        .headers()
        .get(WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .and_then(Challenge::parse)
        .ok_or_else(|| {
            unexpected(
                login,
                url,
                "401 without a Basic or Bearer WWW-Authenticate challenge".into(),
            )
        })?;
    let authorization = match challenge {
        Challenge::Basic => basic(login)?,
        Challenge::Bearer { realm, service } => {
            let token = token(client, login, &realm, service.as_deref()).await?;
            sensitive(&format!("Bearer {token}"), login, url)?
        }
    };
    let second = send(client, login, url, Some(authorization)).await?;
    match second.status() {
        status if status.is_success() => Ok(()),
        status @ (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) => {
            Err(refused(login, status, second).await)
        }
        status => Err(unexpected(login, url, format!("{status} with credentials"))),
    }
}

fn client(ca_pem: Option<&str>) -> Result<Client, RegistryError> {
    let mut builder = Client::builder()
        .user_agent(concat!(
            "terraform-provider-cvm/",
            env!("CARGO_PKG_VERSION")
        ))
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        // reqwest drops the Authorization header when a redirect leaves the
        // host; a few redirects are enough for a token service behind a CDN.
        .redirect(redirect::Policy::limited(3));
    if let Some(pem) = ca_pem {
        let ca = reqwest::Certificate::from_pem(pem.as_bytes())
            .map_err(|source| RegistryError::InvalidCa { source })?;
        builder = builder.tls_certs_merge([ca]);
    }
    builder
        .build()
        .map_err(|source| RegistryError::ClientSetup { source })
}

async fn send(
    client: &Client,
    login: &Login<'_>,
    url: &str,
    authorization: Option<HeaderValue>,
) -> Result<reqwest::Response, RegistryError> {
    let mut request = client.get(url);
    if let Some(value) = authorization {
        request = request.header(AUTHORIZATION, value);
    }
    request
        .send()
        .await
        .map_err(|source| RegistryError::Unreachable {
            registry: login.registry.to_owned(),
            url: url.to_owned(),
            source,
        })
}

/// A header value that is never logged.
fn sensitive(text: &str, login: &Login<'_>, url: &str) -> Result<HeaderValue, RegistryError> {
    let mut value = HeaderValue::from_str(text).map_err(|_| {
        unexpected(
            login,
            url,
            "the credentials have characters an HTTP header cannot carry".into(),
        )
    })?;
    value.set_sensitive(true);
    Ok(value)
}

fn basic(login: &Login<'_>) -> Result<HeaderValue, RegistryError> {
    use base64::Engine as _;
    let pair = format!("{}:{}", login.username, login.password);
    let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
    sensitive(
        &format!("Basic {encoded}"),
        login,
        &api_base(login.registry),
    )
}

/// A token from a Bearer challenge's realm, asked for with basic auth.
async fn token(
    client: &Client,
    login: &Login<'_>,
    realm: &str,
    service: Option<&str>,
) -> Result<String, RegistryError> {
    let mut url = Url::parse(realm).map_err(|_| {
        unexpected(
            login,
            &api_base(login.registry),
            format!("the Bearer realm `{realm}` is not a URL"),
        )
    })?;
    // Basic credentials go to the realm: never in the clear, but to a
    // service on this machine.
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    if url.scheme() != "https" && !loopback {
        return Err(unexpected(
            login,
            &api_base(login.registry),
            format!(
                "its token service `{realm}` is not HTTPS, so the credentials are not sent there"
            ),
        ));
    }
    {
        let mut query = url.query_pairs_mut();
        if let Some(service) = service {
            query.append_pair("service", service);
        }
        query.append_pair("account", login.username);
    }
    let response = send(client, login, url.as_str(), Some(basic(login)?)).await?;
    match response.status() {
        status if status.is_success() => {}
        status @ (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) => {
            return Err(refused(login, status, response).await);
        }
        status => {
            return Err(unexpected(
                login,
                realm,
                format!("{status} from the token service"),
            ));
        }
    }
    #[derive(serde::Deserialize)]
    struct TokenResponse {
        token: Option<String>,
        access_token: Option<String>,
    }
    let body = response.bytes().await.unwrap_or_default();
    let body: TokenResponse = serde_json::from_slice(&body).map_err(|_| {
        unexpected(
            login,
            realm,
            "the token service's answer is not the JSON it should be".into(),
        )
    })?;
    body.token
        .or(body.access_token)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| unexpected(login, realm, "the token service gave no token".into()))
}

async fn refused(
    login: &Login<'_>,
    status: StatusCode,
    response: reqwest::Response,
) -> RegistryError {
    let detail = response
        .text()
        .await
        .ok()
        .and_then(|body| error_message(&body))
        .map(|m| format!(": {m}"))
        .unwrap_or_default();
    RegistryError::Refused {
        registry: login.registry.to_owned(),
        username: login.username.to_owned(),
        status,
        detail,
    }
}

fn unexpected(login: &Login<'_>, url: &str, what: String) -> RegistryError {
    RegistryError::Unexpected {
        registry: login.registry.to_owned(),
        url: url.to_owned(),
        what,
    }
}

/// The first message of a registry's error body
/// (`{"errors":[{"code":…,"message":…}]}`), or a token service's `details`.
fn error_message(body: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    let message = value
        .pointer("/errors/0/message")
        .or_else(|| value.get("details"))
        .or_else(|| value.get("error_description"))?
        .as_str()?;
    // A message is the server's text: keep it short and on one line.
    let line: String = message.lines().next()?.chars().take(200).collect();
    (!line.is_empty()).then_some(line)
}

/// A `WWW-Authenticate` challenge of the registry's `/v2/`.
#[derive(Debug, PartialEq)]
enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

impl Challenge {
    /// Parses `Basic realm="…"` or `Bearer realm="…",service="…",scope="…"`
    /// (scheme case-insensitive, values quoted or not).
    fn parse(header: &str) -> Option<Challenge> {
        let header = header.trim();
        let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
        if scheme.eq_ignore_ascii_case("basic") {
            return Some(Challenge::Basic);
        }
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let params = auth_params(rest);
        let get = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        Some(Challenge::Bearer {
            realm: get("realm")?,
            service: get("service"),
        })
    }
}

/// `name=value` pairs separated by commas; a quoted value may hold commas
/// and backslash escapes.
fn auth_params(text: &str) -> Vec<(String, String)> {
    let mut params = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if name.is_empty() {
            return params;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| *c != ',') {
                value.push(c);
            }
            value = value.trim().to_owned();
        }
        params.push((name.trim().to_owned(), value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_as_registries_send_them() {
        // Docker Hub's, GHCR's and distribution's htpasswd challenges (hand-written, in the form
        // their documentation gives).
        assert_eq!(
            Challenge::parse(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
            })
        );
        assert_eq!(
            Challenge::parse(
                r#"Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:user/image:pull""#
            ),
            Some(Challenge::Bearer {
                realm: "https://ghcr.io/token".into(),
                service: Some("ghcr.io".into()),
            })
        );
        assert_eq!(
            Challenge::parse(r#"Basic realm="cvm-test-registry""#),
            Some(Challenge::Basic)
        );
        assert_eq!(
            Challenge::parse("bearer realm=https://r.test/t"),
            Some(Challenge::Bearer {
                realm: "https://r.test/t".into(),
                service: None,
            })
        );
        assert_eq!(
            Challenge::parse(r#"Bearer realm="https://r.test/t?a=\"b\",c""#),
            Some(Challenge::Bearer {
                realm: r#"https://r.test/t?a="b",c"#.into(),
                service: None,
            })
        );
        assert_eq!(
            Challenge::parse("Bearer service=x"),
            None,
            "a realm is needed"
        );
        assert_eq!(Challenge::parse("Negotiate"), None);
    }

    #[test]
    fn docker_hub_is_asked_at_its_api_host() {
        assert_eq!(api_base("docker.io"), "https://registry-1.docker.io/v2/");
        assert_eq!(
            api_base("index.docker.io"),
            "https://registry-1.docker.io/v2/"
        );
        assert_eq!(api_base("r.test:5000"), "https://r.test:5000/v2/");
    }

    #[test]
    fn error_messages_from_registries_and_token_services() {
        assert_eq!(
            error_message(
                r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required","detail":null}]}"#
            ),
            Some("authentication required".into())
        );
        assert_eq!(
            error_message(r#"{"details":"incorrect username or password"}"#),
            Some("incorrect username or password".into())
        );
        assert_eq!(error_message("<html>"), None);
        assert_eq!(error_message(r#"{"errors":[]}"#), None);
    }

    use crate::test_server::{Answer, Seen, TestServer, json};

    const LOGIN: Login<'static> = Login {
        registry: "r.test",
        username: "robot",
        password: "p@ss:word",
        ca_pem: None,
    };

    fn basic_of(login: &Login<'_>) -> String {
        use base64::Engine as _;
        let pair = format!("{}:{}", login.username, login.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    }

    /// A registry with a token service in front, answering as Docker Hub's does (a hand-written
    /// double of the flow: 401 with a Bearer challenge, a token for basic auth on the realm, 200
    /// for that token), issuing `token` to `accepted` credentials.
    async fn token_registry(token_field: &'static str, accepted: &'static str) -> TestServer {
        TestServer::start(move |seen: &Seen, _| {
            let authorization = seen.header("authorization").unwrap_or_default();
            match seen.path() {
                "/token" if authorization == accepted => {
                    json(200, serde_json::json!({ token_field: "opaque-token-1" }))
                }
                "/token" => json(401, serde_json::json!({ "details": "incorrect username or password" })),
                "/v2/" if authorization == "Bearer opaque-token-1" => json(200, serde_json::json!({})),
                _ => Answer::json(
                    401,
                    serde_json::json!({ "errors": [{ "code": "UNAUTHORIZED", "message": "authentication required" }] }),
                )
                .header(
                    "WWW-Authenticate",
                    &format!(
                        r#"Bearer realm="http://{}/token",service="registry.test""#,
                        seen.header("host").unwrap_or_default()
                    ),
                ),
            }
        })
        .await
    }

    #[tokio::test]
    async fn a_bearer_challenge_is_answered_with_a_token_from_its_realm() {
        let accepted: &'static str = Box::leak(basic_of(&LOGIN).into_boxed_str());
        for field in ["token", "access_token"] {
            let server = token_registry(field, accepted).await;
            let client = client(None).unwrap();
            check_at(&client, &LOGIN, &format!("{}v2/", server.url))
                .await
                .unwrap_or_else(|e| panic!("{field}: {e}"));
            let seen = server.seen();
            let targets: Vec<&str> = seen.iter().map(|s| s.target.as_str()).collect();
            assert_eq!(
                targets,
                ["/v2/", "/token?service=registry.test&account=robot", "/v2/"],
                "{field}"
            );
            assert_eq!(
                seen[0].header("authorization"),
                None,
                "nothing sent unasked"
            );
            assert_eq!(seen[1].header("authorization"), Some(accepted));
            assert_eq!(
                seen[2].header("authorization"),
                Some("Bearer opaque-token-1")
            );
        }
    }

    #[tokio::test]
    async fn a_token_service_refusing_the_credentials_is_a_refusal() {
        let server = token_registry("token", "Basic bm90OnRoaXM=").await;
        let client = client(None).unwrap();
        let error = check_at(&client, &LOGIN, &format!("{}v2/", server.url))
            .await
            .unwrap_err();
        assert!(
            matches!(&error, RegistryError::Refused { status, .. } if *status == StatusCode::UNAUTHORIZED),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            "r.test refused the credentials of user `robot` (401 Unauthorized: incorrect username or password)"
        );
        let detail = error.to_diagnostic(None).detail;
        assert!(!detail.contains(LOGIN.password), "{detail}");
        assert!(detail.contains("check_credentials = false"), "{detail}");
        assert_eq!(server.seen().len(), 2, "no /v2/ call without a token");
    }

    #[tokio::test]
    async fn basic_challenges_and_open_registries() {
        let accepted: &'static str = Box::leak(basic_of(&LOGIN).into_boxed_str());
        let server = TestServer::start(move |seen: &Seen, _| {
            if seen.header("authorization") == Some(accepted) {
                json(200, serde_json::json!({}))
            } else {
                Answer::empty(401).header("WWW-Authenticate", r#"Basic realm="r""#)
            }
        })
        .await;
        let client = client(None).unwrap();
        let url = format!("{}v2/", server.url);
        check_at(&client, &LOGIN, &url).await.unwrap();
        let wrong = Login {
            password: "wrong",
            ..LOGIN
        };
        let error = check_at(&client, &wrong, &url).await.unwrap_err();
        assert!(matches!(error, RegistryError::Refused { .. }), "{error:?}");

        let open = TestServer::start(|_: &Seen, _| json(200, serde_json::json!({}))).await;
        check_at(&client, &LOGIN, &format!("{}v2/", open.url))
            .await
            .unwrap();
        assert_eq!(open.seen().len(), 1, "an open registry is asked once");

        let odd = TestServer::start(|_: &Seen, _| Answer::empty(401)).await;
        let error = check_at(&client, &LOGIN, &format!("{}v2/", odd.url))
            .await
            .unwrap_err();
        assert!(
            error.to_string().contains("without a Basic or Bearer"),
            "{error}"
        );
    }
}
