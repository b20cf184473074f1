//! The Coder v1 API emulator (`acceptance-tests/coder-emulator`) as a child process of a test:
//! built once per test process, started on a free loopback port with a random session token,
//! driven through its test-only `/__emulator/` surface, and stopped on drop.
//!
//! ```no_run
//! use acceptance_tests::coder::CoderEmulator;
//!
//! let coder = CoderEmulator::start()?;
//! coder.set_settings(serde_json::json!({"enable_tun_device": true}))?;
//! // … point the provider at `coder.url` with `coder.token` …
//! assert_eq!(coder.settings()?["enable_tun_device"], serde_json::json!(true));
//! # Ok::<(), acceptance_tests::Error>(())
//! ```

use std::collections::BTreeMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::provider::cargo_build;

/// The Cargo package (and binary) name of the emulator.
pub const CODER_EMULATOR_PACKAGE: &str = "coder-emulator";

/// Environment variable: use this emulator executable instead of running `cargo build`.
pub const CODER_EMULATOR_BINARY_ENV: &str = "CVM_CODER_EMULATOR_BINARY";

/// How long the emulator may take to print its URL.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the emulator gets to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Timeout of one admin or API call of the harness.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// What the emulator prints before its URL.
const URL_LINE_PREFIX: &str = "listening on ";

/// A running emulator; stopped (SIGTERM, then SIGKILL) by [`CoderEmulator::stop`] or on drop.
pub struct CoderEmulator {
    /// Base URL, e.g. `http://127.0.0.1:41234` (no trailing slash).
    pub url: String,
    /// The only session token the emulator accepts.
    pub token: String,
    child: Option<Child>,
    stderr: Arc<Mutex<String>>,
    agent: ureq::Agent,
}

/// One request in the emulator's ordered log ([`CoderEmulator::request_log`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiRequest {
    /// Position in arrival order, from 1.
    pub seq: u64,
    /// The route it is counted under, e.g. `"PATCH /api/v0/registries/{id}"`.
    pub route: String,
    /// Method.
    pub method: String,
    /// The path as sent (ids included).
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    /// The body, with every secret replaced by `"<redacted>"`; `None` when there was none.
    pub body: Option<Value>,
    /// The status it was answered with (`None` while it was still being handled).
    pub status: Option<u16>,
    /// Whether that answer was an injected fault.
    pub fault: bool,
}

impl ApiRequest {
    fn from_json(entry: &Value) -> Result<ApiRequest, Error> {
        let bad = || emulator_error(format!("unexpected request log entry {entry}"));
        let text = |key: &str| entry[key].as_str().map(str::to_owned).ok_or_else(bad);
        Ok(ApiRequest {
            seq: entry["seq"].as_u64().ok_or_else(bad)?,
            route: text("route")?,
            method: text("method")?,
            path: text("path")?,
            query: entry["query"].as_str().map(str::to_owned),
            body: Some(entry["body"].clone()).filter(|body| !body.is_null()),
            status: match &entry["status"] {
                Value::Null => None,
                status => Some(
                    status
                        .as_u64()
                        .and_then(|s| u16::try_from(s).ok())
                        .ok_or_else(bad)?,
                ),
            },
            fault: entry["fault"].as_bool().ok_or_else(bad)?,
        })
    }

    /// Whether `other` is the same call: method, path, query and body.
    pub fn same_call_as(&self, other: &ApiRequest) -> bool {
        (&self.method, &self.path, &self.query, &self.body)
            == (&other.method, &other.path, &other.query, &other.body)
    }
}

/// Builds the emulator once per test process (`cargo build -p coder-emulator`, like the provider)
/// unless [`CODER_EMULATOR_BINARY_ENV`] names an executable, and returns its path. Later calls
/// return the first answer, including a build failure.
pub fn emulator_binary() -> Result<PathBuf, Error> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| locate_or_build().map_err(|e| e.to_string()))
        .clone()
        .map_err(|e| Error::CoderEmulator(format!("building it failed: {e}")))
}

fn locate_or_build() -> Result<PathBuf, Error> {
    match std::env::var_os(CODER_EMULATOR_BINARY_ENV) {
        Some(path) if !path.is_empty() => {
            let path = PathBuf::from(path);
            if path.is_file() {
                Ok(path)
            } else {
                Err(Error::CoderEmulator(format!(
                    "{CODER_EMULATOR_BINARY_ENV}={} is not a file",
                    path.display()
                )))
            }
        }
        _ => cargo_build(CODER_EMULATOR_PACKAGE),
    }
}

/// Lower-case hex SHA-256 of `text`: what `state()` shows instead of a registry's credentials.
pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A fresh random token: two outputs of the standard library's randomly keyed hasher (each
/// `RandomState` gets new keys), mixed with the time and process id.
fn random_token() -> String {
    let half = || {
        let mut hasher = RandomState::new().build_hasher();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        hasher.write_u128(nanos);
        hasher.write_u32(std::process::id());
        hasher.finish()
    };
    format!("emu-{:016x}{:016x}", half(), half())
}

fn emulator_error(message: impl Into<String>) -> Error {
    Error::CoderEmulator(message.into())
}

impl CoderEmulator {
    /// Starts a Coder v1 emulator with a random token.
    pub fn start() -> Result<CoderEmulator, Error> {
        CoderEmulator::spawn(&random_token(), false)
    }

    /// Starts an emulator that answers like a Coder v2 deployment.
    pub fn start_v2() -> Result<CoderEmulator, Error> {
        CoderEmulator::spawn(&random_token(), true)
    }

    /// Starts a Coder v1 emulator that accepts exactly `token`.
    pub fn start_with_token(token: &str) -> Result<CoderEmulator, Error> {
        CoderEmulator::spawn(token, false)
    }

    fn spawn(token: &str, v2: bool) -> Result<CoderEmulator, Error> {
        let binary = emulator_binary()?;
        let mut command = Command::new(&binary);
        command
            .args(["--listen", "127.0.0.1:0", "--token", token])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if v2 {
            command.arg("--v2");
        }
        let mut child = command
            .spawn()
            .map_err(|e| Error::io(format!("starting {}", binary.display()), e))?;

        let stderr = Arc::new(Mutex::new(String::new()));
        if let Some(mut pipe) = child.stderr.take() {
            let sink = Arc::clone(&stderr);
            thread::spawn(move || {
                let mut text = String::new();
                let _ = pipe.read_to_string(&mut text);
                sink.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push_str(&text);
            });
        }
        let (line_tx, line_rx) = mpsc::channel();
        if let Some(pipe) = child.stdout.take() {
            thread::spawn(move || {
                let mut reader = BufReader::new(pipe);
                let mut line = String::new();
                let _ = reader.read_line(&mut line);
                // The receiver is gone if the harness gave up waiting; nothing to do then.
                let _ = line_tx.send(line);
                // Keep draining so the emulator never blocks on a full pipe.
                let _ = std::io::copy(&mut reader, &mut std::io::sink());
            });
        }

        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(CALL_TIMEOUT))
            .proxy(None)
            .max_redirects(0)
            .build()
            .into();
        let mut emulator = CoderEmulator {
            url: String::new(),
            token: token.to_owned(),
            child: Some(child),
            stderr,
            agent,
        };
        let line = line_rx.recv_timeout(STARTUP_TIMEOUT).unwrap_or_default();
        match line.trim().strip_prefix(URL_LINE_PREFIX) {
            Some(url) if url.starts_with("http://") => {
                emulator.url = url.to_owned();
                Ok(emulator)
            }
            _ => {
                emulator.stop();
                // Give the stderr reader a moment to collect what the process printed.
                thread::sleep(Duration::from_millis(100));
                let stderr = emulator.stderr_text();
                Err(emulator_error(format!(
                    "{} did not print its URL within {STARTUP_TIMEOUT:?} (first line: {line:?})\n\
                     --- stderr ---\n{stderr}",
                    binary.display()
                )))
            }
        }
    }

    fn stderr_text(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Injects faults: a share `rate` (0 to 1; 0 turns faults off) of `/api/**` requests is
    /// answered with one of `statuses` (429 and 503 with `Retry-After: 1`) before it touches state.
    /// The choices come from `seed`, so the same requests in the same order get the same faults.
    pub fn faults(&self, rate: f64, statuses: &[u16], seed: u64) -> Result<(), Error> {
        self.admin(
            "POST",
            "/__emulator/faults",
            Some(json!({
                "rate": rate,
                "statuses": statuses,
                "retry_after_secs": 1,
                "seed": seed,
            })),
        )
        .map(drop)
    }

    /// Changes settings keys as an admin would in the UI (keys not given keep their values).
    pub fn set_settings(&self, settings: Value) -> Result<(), Error> {
        self.admin("PATCH", "/__emulator/settings", Some(settings))
            .map(drop)
    }

    /// The deployment's settings object.
    pub fn settings(&self) -> Result<Value, Error> {
        self.admin("GET", "/__emulator/settings", None)
    }

    /// Changes a registry as an admin would in the UI (`friendly_name`, `registry`, `username`,
    /// `password`).
    pub fn patch_registry(&self, id: &str, fields: Value) -> Result<(), Error> {
        self.admin(
            "PATCH",
            &format!("/__emulator/registries/{id}"),
            Some(fields),
        )
        .map(drop)
    }

    /// Deletes a registry behind Terraform's back, even if images use it.
    pub fn delete_registry_out_of_band(&self, id: &str) -> Result<(), Error> {
        self.admin("DELETE", &format!("/__emulator/registries/{id}"), None)
            .map(drop)
    }

    /// Requests received per route, e.g. `"PUT /api/v0/workspaces/config" => 3` (ids appear as
    /// `{id}`; faulted and refused requests count too; admin calls do not).
    pub fn request_counts(&self) -> Result<BTreeMap<String, u64>, Error> {
        let counts = self.admin("GET", "/__emulator/requests", None)?;
        serde_json::from_value(counts.clone())
            .map_err(|e| emulator_error(format!("unexpected request counts {counts}: {e}")))
    }

    /// Every request the emulator received (admin calls excepted), in arrival order, with its
    /// redacted body and the status it was answered.
    pub fn request_log(&self) -> Result<Vec<ApiRequest>, Error> {
        let log = self.admin("GET", "/__emulator/request-log", None)?;
        log.as_array()
            .ok_or_else(|| emulator_error(format!("the request log is not an array: {log}")))?
            .iter()
            .map(ApiRequest::from_json)
            .collect()
    }

    /// The last body sent to `route` (e.g. `"PATCH /api/v0/registries/{id}"`), with every
    /// secret (passwords, tokens, user names) replaced by `"<redacted>"`.
    pub fn last_request_body(&self, route: &str) -> Result<Value, Error> {
        let mut query = String::new();
        for byte in route.bytes() {
            if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
                query.push(char::from(byte));
            } else {
                query.push_str(&format!("%{byte:02X}"));
            }
        }
        self.admin(
            "GET",
            &format!("/__emulator/last-request-bodies?route={query}"),
            None,
        )
    }

    /// Everything the emulator stores: `settings`, `registries` (with `password_sha256` and
    /// `username_sha256` instead of credentials), `images`, `organizations`, `faults`.
    pub fn state(&self) -> Result<Value, Error> {
        self.admin("GET", "/__emulator/state", None)
    }

    /// Back to a fresh deployment (settings, registries, images, faults, request log).
    pub fn reset(&self) -> Result<(), Error> {
        self.admin("POST", "/__emulator/reset", None).map(drop)
    }

    /// Imports an image from the registry through the real API (with the token), so the registry
    /// is in use; returns the image id.
    pub fn create_image(&self, registry_id: &str) -> Result<String, Error> {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let registry = self.api(
            "GET",
            &format!("/api/v0/registries/{registry_id}"),
            None,
            200,
        )?;
        let org = registry["organization_id"].as_str().unwrap_or("default");
        let image = self.api(
            "POST",
            "/api/v0/images",
            Some(json!({
                "registry_id": registry_id,
                "repository": format!("acceptance/image-{}", NEXT.fetch_add(1, Ordering::Relaxed)),
                "org_id": org,
                "tag": "latest",
            })),
            201,
        )?;
        image["id"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| emulator_error(format!("the created image has no id: {image}")))
    }

    /// Deletes an image through the real API (with the token).
    pub fn delete_image(&self, id: &str) -> Result<(), Error> {
        self.api("DELETE", &format!("/api/v0/images/{id}"), None, 200)
            .map(drop)
    }

    /// A configuration: the cvm provider pointed at this emulator (its
    /// token comes from the environment, see [`CoderEmulator::workdir`]),
    /// followed by `body`.
    pub fn config(&self, body: &str) -> String {
        format!(
            "terraform {{\n  required_providers {{\n    cvm = {{ source = \"cvm-provider/cvm\" }}\n  }}\n}}\n\
             provider \"cvm\" {{\n  coder {{\n    url = \"{}\"\n  }}\n}}\n{body}\n",
            self.url
        )
    }

    /// A working directory for `terraform` whose runs get this emulator's
    /// token in `CODER_SESSION_TOKEN`.
    pub fn workdir(&self, terraform: &crate::Terraform) -> Result<crate::Workdir, Error> {
        let mut wd = crate::Workdir::new(terraform)?;
        wd.env("CODER_SESSION_TOKEN", &self.token);
        Ok(wd)
    }

    /// Stops the emulator: SIGTERM, then SIGKILL after a grace period. Idempotent.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if matches!(child.try_wait(), Ok(None)) {
            // `kill` the command, as process.rs does: sending a signal from Rust needs unsafe code
            // or another dependency. If it fails, SIGKILL below still stops the process.
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let deadline = Instant::now() + STOP_GRACE;
            while Instant::now() < deadline {
                if !matches!(child.try_wait(), Ok(None)) {
                    return;
                }
                thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
        }
        let _ = child.wait();
    }

    /// An admin call (no token); answers other than 2xx are errors.
    fn admin(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, Error> {
        let (status, text) = self.call(method, path, body, false)?;
        if !(200..300).contains(&status) {
            return Err(emulator_error(format!(
                "{method} {path} answered {status}: {text}"
            )));
        }
        parse(method, path, &text)
    }

    /// An API call with the token; any status but `expected` is an error.
    fn api(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        expected: u16,
    ) -> Result<Value, Error> {
        let (status, text) = self.call(method, path, body, true)?;
        if status != expected {
            return Err(emulator_error(format!(
                "{method} {path} answered {status} (expected {expected}): {text}"
            )));
        }
        parse(method, path, &text)
    }

    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        with_token: bool,
    ) -> Result<(u16, String), Error> {
        let url = format!("{}{path}", self.url);
        let token = with_token.then_some(self.token.as_str());
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let result = match method {
            "GET" => authorized(self.agent.get(&url), token).call(),
            "DELETE" => authorized(self.agent.delete(&url), token).call(),
            "POST" => json_body(authorized(self.agent.post(&url), token)).send(body.as_str()),
            "PUT" => json_body(authorized(self.agent.put(&url), token)).send(body.as_str()),
            "PATCH" => json_body(authorized(self.agent.patch(&url), token)).send(body.as_str()),
            other => return Err(emulator_error(format!("unsupported method {other}"))),
        };
        let mut response =
            result.map_err(|e| emulator_error(format!("{method} {url} failed: {e}")))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| emulator_error(format!("reading the answer to {method} {url}: {e}")))?;
        Ok((status, text))
    }
}

/// Adds the `Session-Token` header when there is a token.
fn authorized<B>(request: ureq::RequestBuilder<B>, token: Option<&str>) -> ureq::RequestBuilder<B> {
    match token {
        Some(token) => request.header("Session-Token", token),
        None => request,
    }
}

fn json_body<B>(request: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
    request.header("Content-Type", "application/json")
}

fn parse(method: &str, path: &str, text: &str) -> Result<Value, Error> {
    if text.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(text)
        .map_err(|e| Error::json(format!("the answer to {method} {path}"), e, text))
}

impl Drop for CoderEmulator {
    fn drop(&mut self) {
        self.stop();
    }
}

impl std::fmt::Debug for CoderEmulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is left out: Debug output ends up in test logs.
        f.debug_struct("CoderEmulator")
            .field("url", &self.url)
            .field("running", &self.child.is_some())
            .finish_non_exhaustive()
    }
}
