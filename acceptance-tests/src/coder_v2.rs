//! A real Coder v2 server for the tests ([`CoderV2::shared`]: one per test process, started by
//! `scripts/coder-v2`), the harness's own calls to its API (to check what the provider stored,
//! and to change things behind its back), and [`FaultProxy`], a seeded reverse proxy that answers
//! a share of requests with 503 or 429.
//!
//! ```no_run
//! use acceptance_tests::coder_v2::CoderV2;
//! let coder = CoderV2::shared()?;
//! let org = coder.default_organization()?;
//! # Ok::<(), acceptance_tests::Error>(())
//! ```

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::Error;

/// Longest `scripts/coder-v2 start` (PostgreSQL, migrations, first user).
const START_TIMEOUT: Duration = Duration::from_secs(240);
/// Timeout of one harness call.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest wait for a workspace build the harness starts.
const BUILD_TIMEOUT: Duration = Duration::from_secs(180);

/// The repository's `scripts/coder-v2`.
fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("scripts")
        .join("coder-v2")
}

fn fail(message: impl Into<String>) -> Error {
    Error::CoderV2(message.into())
}

/// A running Coder v2 server and the first user's API token.
pub struct CoderV2 {
    /// The server's URL, e.g. `http://127.0.0.1:41234`.
    pub url: String,
    /// The first user's (the owner's) API token.
    pub token: String,
    /// Holds the server's state and logs (`None` for a server another process started).
    dir: Option<PathBuf>,
    agent: ureq::Agent,
}

impl std::fmt::Debug for CoderV2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is left out: Debug output ends up in test logs.
        f.debug_struct("CoderV2")
            .field("url", &self.url)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

static SHARED: OnceLock<Result<CoderV2, String>> = OnceLock::new();

impl CoderV2 {
    /// The test process's server, started on first use. The start script watches this
    /// process and stops the server (and its PostgreSQL) when it exits, so nothing outlives
    /// the test binary. Tests share it: each uses template names of its own.
    pub fn shared() -> Result<&'static CoderV2, Error> {
        SHARED
            .get_or_init(|| CoderV2::start().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| fail(e.clone()))
    }

    /// A server of its own whose environment (and so its provisioners' Terraform) also has
    /// `env`, e.g. `KUBECONFIG` for templates that reach a test cluster. Like the shared one, it
    /// is stopped when the test process exits.
    pub fn start_with_env(env: &[(&str, &str)]) -> Result<CoderV2, Error> {
        Self::start_in(env)
    }

    /// The API of a server another process started (e.g. the demo's), as its owner.
    pub fn connect(url: &str, token: &str) -> CoderV2 {
        CoderV2 {
            url: url.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            dir: None,
            agent: http_agent(),
        }
    }

    fn start() -> Result<CoderV2, Error> {
        Self::start_in(&[])
    }

    fn start_in(env: &[(&str, &str)]) -> Result<CoderV2, Error> {
        let paths = Command::new(script())
            .arg("paths")
            .output()
            .map_err(|e| Error::io("running scripts/coder-v2 paths", e))?;
        let missing: Vec<String> = String::from_utf8_lossy(&paths.stdout)
            .lines()
            .filter(|p| !Path::new(p).is_file())
            .map(str::to_owned)
            .collect();
        if !missing.is_empty() {
            return Err(fail(format!(
                "the Coder v2 server is not built (missing: {}); fix: run `scripts/coder-v2 build`",
                missing.join(", ")
            )));
        }
        let dir = std::env::temp_dir().join(format!(
            "cvm-coder-v2-{}-{}",
            std::process::id(),
            fastrand::u32(..)
        ));
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("creating the server directory", e))?;
        let mirror = provider_mirror(&dir)?;
        let mut command = Command::new(script());
        command
            .arg("start")
            .arg(&dir)
            .env("CVM_CODER_WATCH_PID", std::process::id().to_string())
            .env("CVM_CODER_EXTRA_MIRROR", &mirror)
            .envs(env.iter().copied());
        let out = crate::process::run(command, "scripts/coder-v2 start", &dir, START_TIMEOUT)?;
        if !out.status.success() {
            return Err(Error::CommandFailed {
                command: format!("scripts/coder-v2 start {}", dir.display()),
                dir: dir.clone(),
                status: out.status.to_string(),
                stdout: out.stdout,
                stderr: out.stderr,
            });
        }
        let read = |name: &str| {
            std::fs::read_to_string(dir.join(name))
                .map(|s| s.trim().to_owned())
                .map_err(|e| Error::io(format!("reading {name} of the Coder v2 server"), e))
        };
        Ok(CoderV2 {
            url: read("url")?,
            token: read("token")?,
            agent: http_agent(),
            dir: Some(dir),
        })
    }

    /// The provider configuration for a server at `url` (this one, or a proxy in front of
    /// it), then `body`.
    pub fn config_at(url: &str, body: &str) -> String {
        format!(
            "terraform {{\n  required_providers {{\n    cvm = {{ source = \"cvm-provider/cvm\" }}\n  }}\n}}\n\
             provider \"cvm\" {{\n  coder {{\n    url = \"{url}\"\n  }}\n}}\n{body}\n"
        )
    }

    /// [`CoderV2::config_at`] this server.
    pub fn config(&self, body: &str) -> String {
        Self::config_at(&self.url, body)
    }

    /// A working directory whose runs get this server's token in `CODER_SESSION_TOKEN`.
    pub fn workdir(&self, terraform: &crate::Terraform) -> Result<crate::Workdir, Error> {
        let mut wd = crate::Workdir::new(terraform)?;
        wd.env("CODER_SESSION_TOKEN", &self.token);
        Ok(wd)
    }

    /// Sends a request with the token; returns the status and the JSON body (`null` when
    /// empty or not JSON).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), Error> {
        self.send(
            method,
            path,
            body.map(|b| ("application/json", b.to_string().into_bytes())),
        )
        .map(|(status, bytes)| {
            (
                status,
                serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            )
        })
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<(&str, Vec<u8>)>,
    ) -> Result<(u16, Vec<u8>), Error> {
        let url = format!("{}{path}", self.url);
        let transport = |e: ureq::Error| fail(format!("{method} {path}: {e}"));
        let builder = ureq::http::Request::builder()
            .method(method)
            .uri(&url)
            .header("Coder-Session-Token", &self.token);
        let response = match body {
            Some((content_type, bytes)) => {
                let request = builder
                    .header("Content-Type", content_type)
                    .body(bytes)
                    .map_err(|e| fail(e.to_string()))?;
                self.agent.run(request).map_err(transport)?
            }
            None => {
                let request = builder.body(()).map_err(|e| fail(e.to_string()))?;
                self.agent.run(request).map_err(transport)?
            }
        };
        let status = response.status().as_u16();
        let mut bytes = Vec::new();
        response
            .into_body()
            .into_reader()
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io(format!("reading the answer to {method} {path}"), e))?;
        Ok((status, bytes))
    }

    /// Like [`CoderV2::request`], requiring a 2xx answer.
    pub fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, Error> {
        let (status, value) = self.request(method, path, body)?;
        if (200..300).contains(&status) {
            Ok(value)
        } else {
            Err(fail(format!("{method} {path}: {status} {value}")))
        }
    }

    /// The default organization's JSON.
    pub fn default_organization(&self) -> Result<Value, Error> {
        let all = self.ok("GET", "/api/v2/organizations", None)?;
        all.as_array()
            .and_then(|orgs| orgs.iter().find(|o| o["is_default"] == json!(true)))
            .cloned()
            .ok_or_else(|| fail(format!("no default organization in {all}")))
    }

    /// The template `name` of the default organization, or `None`.
    pub fn template(&self, name: &str) -> Result<Option<Value>, Error> {
        let org = self.default_organization()?;
        let id = org["id"].as_str().unwrap_or_default();
        let (status, value) = self.request(
            "GET",
            &format!("/api/v2/organizations/{id}/templates/{name}"),
            None,
        )?;
        match status {
            200 => Ok(Some(value)),
            404 => Ok(None),
            _ => Err(fail(format!("reading template {name}: {status} {value}"))),
        }
    }

    /// The template's versions (archived ones left out), oldest first.
    pub fn versions(&self, template_id: &str) -> Result<Vec<Value>, Error> {
        let value = self.ok(
            "GET",
            &format!("/api/v2/templates/{template_id}/versions"),
            None,
        )?;
        Ok(value.as_array().cloned().unwrap_or_default())
    }

    /// The regular files of a template version, as Coder stores them (its uploaded archive).
    pub fn version_files(&self, version_id: &str) -> Result<BTreeMap<String, String>, Error> {
        let version = self.ok(
            "GET",
            &format!("/api/v2/templateversions/{version_id}"),
            None,
        )?;
        let file_id = version["job"]["file_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let (status, tar) = self.send("GET", &format!("/api/v2/files/{file_id}"), None)?;
        if status != 200 {
            return Err(fail(format!("downloading file {file_id}: {status}")));
        }
        let mut archive = tar::Archive::new(tar.as_slice());
        let mut files = BTreeMap::new();
        let entries = archive
            .entries()
            .map_err(|e| Error::io("reading the archive", e))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| Error::io("reading the archive", e))?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let path = entry
                .path()
                .map_err(|e| Error::io("reading the archive", e))?
                .to_string_lossy()
                .into_owned();
            let mut text = String::new();
            entry
                .read_to_string(&mut text)
                .map_err(|e| Error::io("reading the archive", e))?;
            files.insert(path, text);
        }
        Ok(files)
    }

    /// Pushes `files` as a new version of the template and waits for its import, as another
    /// client (the `coder` CLI, say) would; returns the version's id.
    pub fn push_version(&self, template: &Value, files: &[(&str, &str)]) -> Result<String, Error> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, text) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(text.len() as u64);
            header.set_mode(0o644);
            builder
                .append_data(&mut header, path, text.as_bytes())
                .map_err(|e| Error::io("building an archive", e))?;
        }
        let tar = builder
            .into_inner()
            .map_err(|e| Error::io("building an archive", e))?;
        let (status, uploaded) =
            self.send("POST", "/api/v2/files", Some(("application/x-tar", tar)))?;
        let uploaded: Value = serde_json::from_slice(&uploaded).unwrap_or(Value::Null);
        if !(200..300).contains(&status) {
            return Err(fail(format!("uploading: {status} {uploaded}")));
        }
        let org = template["organization_id"].as_str().unwrap_or_default();
        let version = self.ok(
            "POST",
            &format!("/api/v2/organizations/{org}/templateversions"),
            Some(json!({
                "storage_method": "file", "provisioner": "terraform",
                "file_id": uploaded["hash"], "template_id": template["id"],
            })),
        )?;
        let id = version["id"].as_str().unwrap_or_default().to_owned();
        self.wait_job(&format!("/api/v2/templateversions/{id}"), "job")?;
        Ok(id)
    }

    /// Creates a workspace of the template for the first user and waits for its build.
    pub fn create_workspace(&self, template: &Value, name: &str) -> Result<Value, Error> {
        let workspace = self.ok(
            "POST",
            "/api/v2/users/me/workspaces",
            Some(json!({"template_id": template["id"], "name": name})),
        )?;
        let id = workspace["id"].as_str().unwrap_or_default().to_owned();
        self.wait_job(&format!("/api/v2/workspaces/{id}"), "latest_build.job")?;
        Ok(workspace)
    }

    /// The first user's workspace called `name`, if there is one.
    pub fn workspace(&self, name: &str) -> Result<Option<Value>, Error> {
        match self.request("GET", &format!("/api/v2/users/me/workspace/{name}"), None)? {
            (200, workspace) => Ok(Some(workspace)),
            (404 | 410, _) => Ok(None),
            (status, body) => Err(fail(format!("GET workspace {name}: {status} {body}"))),
        }
    }

    /// Starts a `start` or `stop` build of a workspace and waits until it succeeded.
    pub fn build(&self, workspace: &Value, transition: &str) -> Result<(), Error> {
        let id = workspace["id"].as_str().unwrap_or_default().to_owned();
        self.ok(
            "POST",
            &format!("/api/v2/workspaces/{id}/builds"),
            Some(json!({"transition": transition})),
        )?;
        self.wait_job(&format!("/api/v2/workspaces/{id}"), "latest_build.job")
    }

    /// Deletes a workspace (a delete build) and waits until it is gone.
    pub fn delete_workspace(&self, workspace: &Value) -> Result<(), Error> {
        let id = workspace["id"].as_str().unwrap_or_default();
        self.ok(
            "POST",
            &format!("/api/v2/workspaces/{id}/builds"),
            Some(json!({"transition": "delete"})),
        )?;
        let deadline = Instant::now() + BUILD_TIMEOUT;
        loop {
            let (status, _) = self.request("GET", &format!("/api/v2/workspaces/{id}"), None)?;
            if status == 404 || status == 410 {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(fail(format!(
                    "workspace {id} was not deleted in {BUILD_TIMEOUT:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// Polls `path` until the job at `pointer` (dot-separated) has ended; fails unless it
    /// succeeded.
    fn wait_job(&self, path: &str, pointer: &str) -> Result<(), Error> {
        let deadline = Instant::now() + BUILD_TIMEOUT;
        let pointer = format!("/{}", pointer.replace('.', "/"));
        loop {
            let value = self.ok("GET", path, None)?;
            let job = value.pointer(&pointer).cloned().unwrap_or(Value::Null);
            match job["status"].as_str().unwrap_or_default() {
                "succeeded" => return Ok(()),
                "failed" | "canceled" => return Err(fail(format!("job of {path} ended: {job}"))),
                _ if Instant::now() > deadline => {
                    return Err(fail(format!("job of {path} still running: {job}")));
                }
                _ => std::thread::sleep(Duration::from_millis(300)),
            }
        }
    }
}

/// The harness's HTTP agent: non-2xx answers are responses, every call bounded.
fn http_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(CALL_TIMEOUT))
        .build()
        .new_agent()
}

/// A filesystem mirror in `dir` holding this project's provider binary (built once per test
/// process) as `cvm-provider/cvm`, under both registries' host names, so templates that use it
/// import and build on the server with no network.
fn provider_mirror(dir: &Path) -> Result<PathBuf, Error> {
    let binary = crate::provider::provider_binary()?;
    let version = env!("CARGO_PKG_VERSION");
    let mirror = dir.join("cvm-mirror");
    for registry in ["registry.terraform.io", "registry.opentofu.org"] {
        let target = mirror
            .join(registry)
            .join("cvm-provider/cvm")
            .join(version)
            .join("linux_amd64");
        std::fs::create_dir_all(&target)
            .map_err(|e| Error::io("creating the provider mirror", e))?;
        std::os::unix::fs::symlink(
            &binary.path,
            target.join(format!("terraform-provider-cvm_v{version}")),
        )
        .map_err(|e| Error::io("linking the provider into its mirror", e))?;
    }
    Ok(mirror)
}

// =================================================================================================
// Fault-injecting proxy
// =================================================================================================

/// What [`FaultProxy`] did with one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxiedRequest {
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub target: String,
    /// The status the proxy answered with itself, or `None` when the request was forwarded.
    pub fault: Option<u16>,
    /// The status the server answered (forwarded requests).
    pub status: Option<u16>,
}

struct ProxyState {
    share: f64,
    rng: fastrand::Rng,
    /// Faults in a row per method and target, capped so a retrying client gets through.
    streak: BTreeMap<String, u32>,
    log: Vec<ProxiedRequest>,
}

struct ProxyShared {
    upstream: String,
    agent: ureq::Agent,
    state: Mutex<ProxyState>,
}

/// A reverse proxy on loopback in front of a Coder v2 server that answers a seeded share of
/// requests itself, with 503 or 429 (as a load balancer or Coder's rate limiter would), and
/// forwards the rest. At most two faults in a row hit the same request. Stopped on drop.
pub struct FaultProxy {
    /// The proxy's URL.
    pub url: String,
    shared: Arc<ProxyShared>,
    /// Serves the proxy; stops it when dropped.
    _server: crate::loopback::LoopbackServer,
}

impl FaultProxy {
    /// Starts the proxy in front of `upstream`, faulting `share` (0.0–1.0) of the requests with
    /// draws from a PRNG seeded with `seed`.
    pub fn start(upstream: &str, share: f64, seed: u64) -> Result<FaultProxy, Error> {
        let shared = Arc::new(ProxyShared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            agent: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .max_redirects(0)
                .timeout_global(Some(CALL_TIMEOUT))
                .build()
                .new_agent(),
            state: Mutex::new(ProxyState {
                share,
                rng: fastrand::Rng::with_seed(seed),
                streak: BTreeMap::new(),
                log: Vec::new(),
            }),
        });
        let router = axum::Router::new()
            .fallback(forward)
            .with_state(shared.clone());
        let server = crate::loopback::LoopbackServer::start("coder-fault-proxy", router)
            .map_err(|e| fail(format!("fault proxy: {e}")))?;
        Ok(FaultProxy {
            url: server.url.clone(),
            shared,
            _server: server,
        })
    }

    /// Every request so far, in arrival order.
    pub fn log(&self) -> Vec<ProxiedRequest> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .log
            .clone()
    }
}

/// Headers passed through in each direction.
const REQUEST_HEADERS: [&str; 5] = [
    "content-type",
    "accept",
    "coder-session-token",
    "session-token",
    "user-agent",
];

async fn forward(
    axum::extract::State(shared): axum::extract::State<Arc<ProxyShared>>,
    request: axum::extract::Request,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let method = request.method().to_string();
    let target = request
        .uri()
        .path_and_query()
        .map(ToString::to_string)
        .unwrap_or_default();
    let headers: Vec<(String, String)> = REQUEST_HEADERS
        .iter()
        .filter_map(|name| {
            let value = request.headers().get(*name)?.to_str().ok()?;
            Some(((*name).to_owned(), value.to_owned()))
        })
        .collect();
    let fault = {
        let mut state = shared.state.lock().unwrap_or_else(PoisonError::into_inner);
        let draw = state.rng.f64();
        let pick = state.rng.bool();
        let key = format!("{method} {target}");
        let share = state.share;
        let streak = state.streak.entry(key).or_insert(0);
        let fault = (draw < share && *streak < 2).then_some(if pick { 503 } else { 429 });
        *streak = if fault.is_some() { *streak + 1 } else { 0 };
        if let Some(status) = fault {
            state.log.push(ProxiedRequest {
                method: method.clone(),
                target: target.clone(),
                fault: Some(status),
                status: None,
            });
        }
        fault
    };
    if let Some(status) = fault {
        let code = axum::http::StatusCode::from_u16(status).unwrap_or_default();
        let mut response = (
            code,
            [("content-type", "text/plain")],
            "injected by the test proxy\n",
        )
            .into_response();
        if status == 429 {
            response
                .headers_mut()
                .insert("retry-after", axum::http::HeaderValue::from_static("0"));
        }
        return response;
    }
    let body = match axum::body::to_bytes(request.into_body(), 64 << 20).await {
        Ok(body) => body.to_vec(),
        Err(_) => return axum::http::StatusCode::PAYLOAD_TOO_LARGE.into_response(),
    };
    let upstream = shared.clone();
    let (m, t) = (method.clone(), target.clone());
    let answer = tokio::task::spawn_blocking(move || {
        let mut builder = ureq::http::Request::builder()
            .method(m.as_str())
            .uri(format!("{}{t}", upstream.upstream));
        for (name, value) in &headers {
            builder = builder.header(name, value);
        }
        let request = builder.body(body).map_err(|e| e.to_string())?;
        let response = upstream.agent.run(request).map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut bytes = Vec::new();
        response
            .into_body()
            .into_reader()
            .read_to_end(&mut bytes)
            .map_err(|e| e.to_string())?;
        Ok::<_, String>((status, content_type, bytes))
    })
    .await;
    let (status, content_type, bytes) = match answer {
        Ok(Ok(answer)) => answer,
        _ => return axum::http::StatusCode::BAD_GATEWAY.into_response(),
    };
    shared
        .state
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .log
        .push(ProxiedRequest {
            method,
            target,
            fault: None,
            status: Some(status),
        });
    let mut response = axum::response::Response::new(axum::body::Body::from(bytes));
    *response.status_mut() = axum::http::StatusCode::from_u16(status).unwrap_or_default();
    if let Some(content_type) = content_type
        && let Ok(value) = axum::http::HeaderValue::from_str(&content_type)
    {
        response.headers_mut().insert("content-type", value);
    }
    response
}
