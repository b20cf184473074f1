//! A real Kubernetes API server (kube-apiserver + etcd, built from the Go module proxy by
//! `scripts/kube-peers build`) as a peer of a test: started on loopback in a temporary directory
//! by `scripts/kube-peers start`, driven over plain HTTPS with the admin token, and stopped on drop.
//!
//! There is no kubelet, scheduler or controller manager: tests create Node objects themselves and
//! patch their status, as a kubelet would.
//!
//! ```no_run
//! use acceptance_tests::kube::{KubeCluster, NodeInfo};
//!
//! let cluster = KubeCluster::start()?;
//! cluster.create_node("node-a", &NodeInfo::ubuntu_22_04())?;
//! cluster.label_node("node-a", "example.com/role", Some("worker"))?;
//! assert_eq!(cluster.node_labels("node-a")?["example.com/role"], "worker");
//! # Ok::<(), acceptance_tests::kube::Error>(())
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

/// How long `scripts/kube-peers start` may take (etcd and the API server start in ~10-30 s).
const START_TIMEOUT: Duration = Duration::from_secs(180);

/// Timeout of one API call.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The command that builds the binaries; quoted in errors.
const BUILD_FIX: &str = "scripts/kube-peers build";

/// What can go wrong starting or driving the cluster.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// kube-apiserver or etcd has not been built.
    #[error(
        "{reason}\n  fix: run `{fix}` (builds kube-apiserver and etcd from the Go module proxy; minutes the first time)"
    )]
    BinariesMissing {
        /// Which binaries are missing, and where they were expected.
        reason: String,
        /// The command that builds them.
        fix: String,
    },

    /// Running `scripts/kube-peers` failed.
    #[error("scripts/kube-peers: {0}")]
    Script(#[source] Box<crate::Error>),

    /// A file of the cluster could not be read.
    #[error("{context}: {source}")]
    Io {
        /// What was being read.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The kubeconfig or CA written by the start script is not what the harness expects.
    #[error("unexpected cluster files: {0}")]
    Setup(String),

    /// An HTTP request could not be made or its answer not read.
    #[error("{method} {path}: {message}")]
    Transport {
        /// HTTP method.
        method: String,
        /// API path.
        path: String,
        /// What failed.
        message: String,
    },

    /// The API server answered with a status other than 2xx.
    #[error("{method} {path} answered {status}: {body}")]
    Api {
        /// HTTP method.
        method: String,
        /// API path.
        path: String,
        /// HTTP status code.
        status: u16,
        /// The answer (usually a `Status` object).
        body: String,
    },

    /// The answer was not JSON.
    #[error("{method} {path}: the answer is not JSON ({source}): {body}")]
    Json {
        /// HTTP method.
        method: String,
        /// API path.
        path: String,
        /// The parser error.
        #[source]
        source: serde_json::Error,
        /// The answer.
        body: String,
    },
}

/// What a kubelet reports about its node in `status.nodeInfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// `osImage`, e.g. `Ubuntu 22.04.5 LTS`.
    pub os_image: String,
    /// `kernelVersion`, e.g. `5.15.0-1034-aws`.
    pub kernel_version: String,
    /// `containerRuntimeVersion`, e.g. `containerd://1.7.27`.
    pub container_runtime_version: String,
    /// `kubeletVersion`, e.g. `v1.33.5`.
    pub kubelet_version: String,
    /// `architecture`, e.g. `amd64`.
    pub architecture: String,
}

impl NodeInfo {
    /// A typical Ubuntu 22.04 worker with containerd 1.7 and kubelet 1.33 on amd64.
    pub fn ubuntu_22_04() -> NodeInfo {
        NodeInfo {
            os_image: "Ubuntu 22.04.5 LTS".to_string(),
            kernel_version: "5.15.0-1034-aws".to_string(),
            container_runtime_version: "containerd://1.7.27".to_string(),
            kubelet_version: "v1.33.5".to_string(),
            architecture: "amd64".to_string(),
        }
    }
}

/// The repository's `scripts/kube-peers`.
fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("scripts")
        .join("kube-peers")
}

/// The binary paths the build script uses (`scripts/kube-peers paths`), for the missing-binary check.
fn binary_paths() -> Result<Vec<PathBuf>, Error> {
    let output = Command::new(script())
        .arg("paths")
        .stdin(Stdio::null())
        .output()
        .map_err(|source| Error::Io {
            context: format!("running {} paths", script().display()),
            source,
        })?;
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(PathBuf::from)
        .collect())
}

/// A running kube-apiserver with its etcd; stopped by [`KubeCluster::stop`] or on drop.
pub struct KubeCluster {
    /// Holds etcd's data, the PKI, the kubeconfig and the logs; removed on drop.
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
    api: KubeApi,
    running: bool,
}

/// The admin's HTTP connection to the API server: cheap to clone and `Send`, for threads that
/// play a part of the cluster (such as the installer double).
#[derive(Clone)]
pub struct KubeApi {
    server: String,
    token: String,
    agent: ureq::Agent,
}

impl std::fmt::Debug for KubeApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is left out: Debug output ends up in test logs.
        f.debug_struct("KubeApi")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl KubeCluster {
    /// Starts etcd and kube-apiserver on loopback and waits until `/readyz` is ok.
    ///
    /// Fails with [`Error::BinariesMissing`] (naming `scripts/kube-peers build`) when the
    /// binaries have not been built.
    pub fn start() -> Result<KubeCluster, Error> {
        // The start script picks free ports, which a test running in parallel may take before
        // etcd or the API server binds them: try again with new ports.
        let mut attempt = 1;
        loop {
            match Self::start_once() {
                Err(Error::Script(e))
                    if attempt < 3 && e.to_string().contains("address already in use") =>
                {
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    fn start_once() -> Result<KubeCluster, Error> {
        let paths = binary_paths()?;
        let missing: Vec<String> = paths
            .iter()
            .filter(|p| !p.is_file())
            .map(|p| p.display().to_string())
            .collect();
        if paths.is_empty() || !missing.is_empty() {
            return Err(Error::BinariesMissing {
                reason: format!(
                    "the Kubernetes test peers are not built (missing: {})",
                    if missing.is_empty() {
                        "scripts/kube-peers paths printed nothing".to_string()
                    } else {
                        missing.join(", ")
                    }
                ),
                fix: BUILD_FIX.to_string(),
            });
        }

        let dir = tempfile::Builder::new()
            .prefix("cvm-kube-")
            .tempdir()
            .map_err(|source| Error::Io {
                context: "creating the cluster directory".to_string(),
                source,
            })?;
        let mut command = Command::new(script());
        command.arg("start").arg(dir.path());
        let started = crate::process::run(
            command,
            "scripts/kube-peers start",
            dir.path(),
            START_TIMEOUT,
        );
        let failure = match started {
            Ok(out) if out.status.success() => None,
            Ok(out) => Some(crate::Error::CommandFailed {
                command: format!("scripts/kube-peers start {}", dir.path().display()),
                dir: dir.path().to_path_buf(),
                status: out.status.to_string(),
                stdout: out.stdout,
                stderr: out.stderr,
            }),
            Err(e) => Some(e),
        };
        if let Some(e) = failure {
            stop_script(dir.path());
            return Err(Error::Script(Box::new(e)));
        }

        let mut cluster = KubeCluster {
            kubeconfig: dir.path().join("kubeconfig"),
            dir,
            api: KubeApi {
                server: String::new(),
                token: String::new(),
                agent: ureq::Agent::new_with_defaults(),
            },
            running: true,
        };
        // From here on, Drop stops the processes if anything below fails.
        let kubeconfig = read(&cluster.kubeconfig)?;
        cluster.api.server = kubeconfig_field(&kubeconfig, "server")?;
        cluster.api.token = kubeconfig_field(&kubeconfig, "token")?;
        let ca = read(&cluster.dir.path().join("pki").join("ca.crt"))?;
        cluster.api.agent = agent_trusting(ca.as_bytes())?;
        Ok(cluster)
    }

    /// Path of the admin kubeconfig (token auth, cluster CA embedded).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// The API server URL, e.g. `https://127.0.0.1:41234`.
    pub fn server_url(&self) -> &str {
        &self.api.server
    }

    /// The admin bearer token (group `system:masters`).
    pub fn token(&self) -> &str {
        &self.api.token
    }

    /// The provider's `kubernetes` block for this cluster (its admin kubeconfig).
    pub fn provider_block(&self) -> String {
        format!(
            "  kubernetes {{\n    config_path = \"{}\"\n  }}",
            self.kubeconfig.display()
        )
    }

    /// A clonable, `Send` handle on the API for other threads.
    pub fn api(&self) -> KubeApi {
        self.api.clone()
    }
}

impl std::ops::Deref for KubeCluster {
    type Target = KubeApi;

    fn deref(&self) -> &KubeApi {
        &self.api
    }
}

impl KubeApi {
    /// Creates a Node and then, as a kubelet would, sets its `status.nodeInfo` and a `Ready`
    /// condition. Returns the node as stored.
    pub fn create_node(&self, name: &str, info: &NodeInfo) -> Result<Value, Error> {
        self.request(
            "POST",
            "/api/v1/nodes",
            Some(json!({
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "labels": {
                        "kubernetes.io/hostname": name,
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/arch": info.architecture,
                    },
                },
            })),
        )?;
        self.merge_patch(
            &format!("/api/v1/nodes/{name}/status"),
            json!({
                "status": {
                    "nodeInfo": {
                        "osImage": info.os_image,
                        "kernelVersion": info.kernel_version,
                        "containerRuntimeVersion": info.container_runtime_version,
                        "kubeletVersion": info.kubelet_version,
                        "kubeProxyVersion": "",
                        "architecture": info.architecture,
                        "operatingSystem": "linux",
                        "machineID": "",
                        "systemUUID": "",
                        "bootID": "",
                    },
                    "conditions": [{
                        "type": "Ready",
                        "status": "True",
                        "reason": "KubeletReady",
                        "message": "kubelet is posting ready status (created by the test harness)",
                    }],
                },
            }),
        )
    }

    /// Sets (`Some`) or removes (`None`) one label of a node.
    pub fn label_node(&self, name: &str, key: &str, value: Option<&str>) -> Result<(), Error> {
        self.merge_patch(
            &format!("/api/v1/nodes/{name}"),
            json!({ "metadata": { "labels": { key: value } } }),
        )?;
        Ok(())
    }

    /// The labels of a node.
    pub fn node_labels(&self, name: &str) -> Result<BTreeMap<String, String>, Error> {
        let node = self.get(&format!("/api/v1/nodes/{name}"))?;
        Ok(node["metadata"]["labels"]
            .as_object()
            .map(|labels| {
                labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Creates a namespace with the given labels (e.g. `pod-security.kubernetes.io/enforce`).
    pub fn create_namespace(&self, name: &str, labels: &[(&str, &str)]) -> Result<Value, Error> {
        let labels: serde_json::Map<String, Value> = labels
            .iter()
            .map(|(k, v)| ((*k).to_string(), Value::from(*v)))
            .collect();
        self.request(
            "POST",
            "/api/v1/namespaces",
            Some(json!({
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": { "name": name, "labels": labels },
            })),
        )
    }

    /// GETs an API path, e.g. `/api/v1/nodes/node-a`.
    pub fn get(&self, path: &str) -> Result<Value, Error> {
        self.request("GET", path, None)
    }

    /// DELETEs an API path; returns the answer (the object or a `Status`).
    pub fn delete(&self, path: &str) -> Result<Value, Error> {
        self.request("DELETE", path, None)
    }

    /// Applies a JSON merge patch to an API path (e.g. a `/status` subresource).
    pub fn merge_patch(&self, path: &str, body: Value) -> Result<Value, Error> {
        self.send("PATCH", path, Some(body), "application/merge-patch+json")
    }

    /// Sends a JSON request; any status but 2xx is an [`Error::Api`].
    pub fn request(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, Error> {
        self.send(method, path, body, "application/json")
    }

    /// One API call; any status but 2xx is an [`Error::Api`].
    fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        content_type: &str,
    ) -> Result<Value, Error> {
        let url = format!("{}{path}", self.server);
        let bearer = format!("Bearer {}", self.token);
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let transport = |message: String| Error::Transport {
            method: method.to_string(),
            path: path.to_string(),
            message,
        };
        let result = match method {
            "GET" => self.agent.get(&url).header("Authorization", &bearer).call(),
            "DELETE" => self
                .agent
                .delete(&url)
                .header("Authorization", &bearer)
                .call(),
            "POST" => self
                .agent
                .post(&url)
                .header("Authorization", &bearer)
                .header("Content-Type", content_type)
                .send(body.as_str()),
            "PATCH" => self
                .agent
                .patch(&url)
                .header("Authorization", &bearer)
                .header("Content-Type", content_type)
                .send(body.as_str()),
            other => return Err(transport(format!("unsupported method {other}"))),
        };
        let mut response = result.map_err(|e| transport(e.to_string()))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| transport(format!("reading the answer: {e}")))?;
        if !(200..300).contains(&status) {
            return Err(Error::Api {
                method: method.to_string(),
                path: path.to_string(),
                status,
                body: text,
            });
        }
        if text.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|source| Error::Json {
            method: method.to_string(),
            path: path.to_string(),
            source,
            body: text,
        })
    }
}

/// Runs `scripts/kube-peers stop DIR`; failures are ignored (it is best-effort cleanup, and the
/// script escalates to SIGKILL itself).
fn stop_script(dir: &Path) {
    let _ = Command::new(script())
        .arg("stop")
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|source| Error::Io {
        context: format!("reading {}", path.display()),
        source,
    })
}

/// The value of the first `key: value` line of the kubeconfig the start script wrote (it writes
/// each field on its own line, unquoted).
fn kubeconfig_field(kubeconfig: &str, key: &str) -> Result<String, Error> {
    let prefix = format!("{key}:");
    kubeconfig
        .lines()
        .find_map(|line| {
            line.trim()
                .strip_prefix(&prefix)
                .map(|v| v.trim().to_string())
        })
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Error::Setup(format!("the kubeconfig has no `{key}` field")))
}

/// An HTTP agent that trusts only the cluster CA (rustls with aws-lc-rs) and returns non-2xx
/// answers as responses, so their `Status` bodies can be reported.
fn agent_trusting(ca_pem: &[u8]) -> Result<ureq::Agent, Error> {
    let ca = ureq::tls::Certificate::from_pem(ca_pem)
        .map_err(|e| Error::Setup(format!("the cluster CA is not a PEM certificate: {e}")))?;
    let tls = ureq::tls::TlsConfig::builder()
        .provider(ureq::tls::TlsProvider::Rustls)
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .root_certs(ureq::tls::RootCerts::new_with_certs(&[ca]))
        .build();
    Ok(ureq::Agent::config_builder()
        .tls_config(tls)
        .http_status_as_error(false)
        .timeout_global(Some(CALL_TIMEOUT))
        .build()
        .new_agent())
}

impl KubeCluster {
    /// Stops kube-apiserver and etcd and removes their state. Idempotent.
    pub fn stop(&mut self) {
        if std::mem::take(&mut self.running) {
            stop_script(self.dir.path());
        }
    }
}

impl Drop for KubeCluster {
    fn drop(&mut self) {
        self.stop();
    }
}

impl std::fmt::Debug for KubeCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token is left out: Debug output ends up in test logs.
        f.debug_struct("KubeCluster")
            .field("server", &self.api.server)
            .field("dir", &self.dir.path())
            .field("running", &self.running)
            .finish_non_exhaustive()
    }
}
