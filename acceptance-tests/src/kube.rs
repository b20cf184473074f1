//! A real Kubernetes test cluster as a peer of a test: etcd, kube-apiserver, kube-scheduler,
//! kube-controller-manager and kwok, built from the Go module proxy by `scripts/kube-peers build`,
//! started on loopback in a temporary directory by `scripts/kube-peers start`, driven over plain
//! HTTPS with the admin token, and stopped on drop.
//!
//! There is no real kubelet: kwok plays it for every Node the harness creates (they carry kwok's
//! annotation). Such a node reports Ready with the [`NodeInfo`] and resources the test gives, and
//! pods the scheduler binds to it become Running and Ready. The scheduler, the controllers
//! (DaemonSets, garbage collection, node lifecycle and the rest) and admission are the real ones,
//! so taints, tolerations, node selectors and RuntimeClass scheduling behave as on a real cluster.
//!
//! ```no_run
//! use acceptance_tests::kube::{KubeCluster, NodeInfo};
//!
//! let cluster = KubeCluster::start()?;
//! cluster.create_node("node-a", &NodeInfo::ubuntu_22_04())?; // returns once it is Ready
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

/// How long `scripts/kube-peers start` may take (the five processes start in ~10-40 s).
const START_TIMEOUT: Duration = Duration::from_secs(240);

/// How long a new node may take to be Ready and schedulable (kwok answers within a second; the
/// node lifecycle controller then lifts the `not-ready` taint).
const NODE_READY_TIMEOUT: Duration = Duration::from_secs(60);

/// The annotation that hands a Node to kwok (`--manage-nodes-with-annotation-selector`).
const KWOK_NODE_ANNOTATION: &str = "kwok.x-k8s.io/node";

/// The taint the API server puts on every new node until the node lifecycle controller sees it
/// Ready.
const NOT_READY_TAINT: &str = "node.kubernetes.io/not-ready";

/// Timeout of one API call.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The command that builds the binaries; quoted in errors.
const BUILD_FIX: &str = "scripts/kube-peers build";

/// What can go wrong starting or driving the cluster.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A binary of the cluster has not been built.
    #[error(
        "{reason}\n  fix: run `{fix}` (builds the cluster's binaries from the Go module proxy; minutes the first time)"
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

    /// A wait for an object's state ended before the state was reached.
    #[error("timed out after {seconds}s waiting for {what}; last seen: {last}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long the wait took.
        seconds: u64,
        /// The object as last seen (or `none`).
        last: String,
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

/// A node taint, as in `spec.taints`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taint {
    /// The taint's key, e.g. `dedicated`.
    pub key: String,
    /// The taint's value (may be empty).
    pub value: String,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
    pub effect: String,
}

impl Taint {
    /// A `key=value:NoSchedule` taint.
    pub fn no_schedule(key: &str, value: &str) -> Taint {
        Taint {
            key: key.to_string(),
            value: value.to_string(),
            effect: "NoSchedule".to_string(),
        }
    }

    fn to_json(&self) -> Value {
        json!({ "key": self.key, "value": self.value, "effect": self.effect })
    }
}

/// What else a new node has besides its [`NodeInfo`]: labels and taints as its kubelet or cloud
/// registers them, and the resources it offers to pods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeOptions {
    /// Labels besides the well-known `kubernetes.io/{hostname,os,arch}`.
    pub labels: BTreeMap<String, String>,
    /// Taints registered with the node (as `--register-with-taints` or EKS would).
    pub taints: Vec<Taint>,
    /// `status.allocatable` (and `capacity`): CPU, e.g. `4`.
    pub cpu: String,
    /// Memory, e.g. `16Gi`.
    pub memory: String,
    /// How many pods fit.
    pub pods: u32,
}

impl Default for NodeOptions {
    /// No labels or taints; 4 CPUs, 16 GiB, 110 pods (an m5.xlarge).
    fn default() -> NodeOptions {
        NodeOptions {
            labels: BTreeMap::new(),
            taints: Vec::new(),
            cpu: "4".to_string(),
            memory: "16Gi".to_string(),
            pods: 110,
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

/// A running test cluster; stopped by [`KubeCluster::stop`] or on drop.
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
    /// Starts the cluster on loopback and waits until each of its processes is up.
    ///
    /// Fails with [`Error::BinariesMissing`] (naming `scripts/kube-peers build`) when the
    /// binaries have not been built.
    pub fn start() -> Result<KubeCluster, Error> {
        Self::start_with(false)
    }

    /// Like [`KubeCluster::start`], with the API server writing an audit log (one line per
    /// request received, with its user agent) at [`KubeCluster::audit_log_path`]: for
    /// benchmarks that count a client's requests.
    pub fn start_audited() -> Result<KubeCluster, Error> {
        Self::start_with(true)
    }

    fn start_with(audit: bool) -> Result<KubeCluster, Error> {
        // The start script picks free ports, which a test running in parallel may take before
        // etcd or the API server binds them: try again with new ports.
        let mut attempt = 1;
        loop {
            match Self::start_once(audit) {
                Err(Error::Script(e))
                    if attempt < 3 && e.to_string().contains("address already in use") =>
                {
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    fn start_once(audit: bool) -> Result<KubeCluster, Error> {
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
        if audit {
            command.env("CVM_KUBE_AUDIT", "1");
        }
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

    /// The API server's audit log (JSON lines), written when started by
    /// [`KubeCluster::start_audited`].
    pub fn audit_log_path(&self) -> PathBuf {
        self.dir.path().join("audit.log")
    }

    /// Path of the admin kubeconfig (token auth, cluster CA embedded).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// The API server URL, e.g. `https://127.0.0.1:41234`.
    pub fn server_url(&self) -> &str {
        &self.api.server
    }

    /// The CA certificate (PEM file) that signed the API server's certificate.
    pub fn ca_path(&self) -> PathBuf {
        self.dir.path().join("pki").join("ca.crt")
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

impl KubeApi {
    /// The admin connection of a cluster another process started, from its kubeconfig (as
    /// `scripts/kube-peers start` writes it) and the CA certificate that signed the API server's.
    pub fn from_kubeconfig(kubeconfig: &Path, ca: &Path) -> Result<KubeApi, Error> {
        let config = read(kubeconfig)?;
        Ok(KubeApi {
            server: kubeconfig_field(&config, "server")?,
            token: kubeconfig_field(&config, "token")?,
            agent: agent_trusting(read(ca)?.as_bytes())?,
        })
    }
}

impl std::ops::Deref for KubeCluster {
    type Target = KubeApi;

    fn deref(&self) -> &KubeApi {
        &self.api
    }
}

impl KubeApi {
    /// Creates a kwok-managed Node with the default [`NodeOptions`] and waits until it is Ready
    /// and schedulable. Returns the node as stored then.
    pub fn create_node(&self, name: &str, info: &NodeInfo) -> Result<Value, Error> {
        self.create_node_with(name, info, &NodeOptions::default())
    }

    /// Creates a kwok-managed Node registered with `info` and `options`, as a kubelet would, and
    /// waits (watching it) until kwok reports it Ready and the node lifecycle controller has lifted
    /// the `not-ready` taint. Returns the node as stored then.
    pub fn create_node_with(
        &self,
        name: &str,
        info: &NodeInfo,
        options: &NodeOptions,
    ) -> Result<Value, Error> {
        let mut labels = serde_json::Map::new();
        labels.insert("kubernetes.io/hostname".into(), name.into());
        labels.insert("kubernetes.io/os".into(), "linux".into());
        labels.insert(
            "kubernetes.io/arch".into(),
            info.architecture.clone().into(),
        );
        for (k, v) in &options.labels {
            labels.insert(k.clone(), v.clone().into());
        }
        let resources = json!({
            "cpu": options.cpu,
            "memory": options.memory,
            "pods": options.pods.to_string(),
        });
        // A Node's status may be set on create (kubelets register that way); kwok keeps it.
        self.request(
            "POST",
            "/api/v1/nodes",
            Some(json!({
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "labels": labels,
                    "annotations": { KWOK_NODE_ANNOTATION: "fake" },
                },
                "spec": {
                    "taints": options.taints.iter().map(Taint::to_json).collect::<Vec<_>>(),
                },
                "status": {
                    "nodeInfo": {
                        "osImage": info.os_image,
                        "kernelVersion": info.kernel_version,
                        "containerRuntimeVersion": info.container_runtime_version,
                        "kubeletVersion": info.kubelet_version,
                        "architecture": info.architecture,
                        "operatingSystem": "linux",
                    },
                    "allocatable": resources,
                    "capacity": resources,
                },
            })),
        )?;
        self.wait_for(
            "/api/v1/nodes",
            name,
            NODE_READY_TIMEOUT,
            &format!("node {name} to be Ready without the {NOT_READY_TAINT} taint"),
            |node| {
                let ready = node["status"]["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True");
                let not_ready_taint = node["spec"]["taints"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|t| t["key"] == NOT_READY_TAINT);
                ready && !not_ready_taint
            },
        )
    }

    /// Deletes a node (its pods are then removed by the pod garbage collector).
    pub fn delete_node(&self, name: &str) -> Result<(), Error> {
        self.delete(&format!("/api/v1/nodes/{name}"))?;
        Ok(())
    }

    /// Adds `taint` to a node, replacing one with the same key and effect.
    pub fn taint_node(&self, name: &str, taint: &Taint) -> Result<(), Error> {
        self.update_taints(name, |taints| {
            taints.retain(|t| {
                !(t["key"] == taint.key.as_str() && t["effect"] == taint.effect.as_str())
            });
            taints.push(taint.to_json());
        })
    }

    /// Removes every taint with `key` from a node.
    pub fn untaint_node(&self, name: &str, key: &str) -> Result<(), Error> {
        self.update_taints(name, |taints| taints.retain(|t| t["key"] != key))
    }

    /// The taints of a node, as `key=value:Effect`.
    pub fn node_taints(&self, name: &str) -> Result<Vec<String>, Error> {
        let node = self.get(&format!("/api/v1/nodes/{name}"))?;
        Ok(node["spec"]["taints"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| {
                format!(
                    "{}={}:{}",
                    t["key"].as_str().unwrap_or_default(),
                    t["value"].as_str().unwrap_or_default(),
                    t["effect"].as_str().unwrap_or_default()
                )
            })
            .collect())
    }

    /// Rewrites a node's `spec.taints` with `edit`, retrying when another writer (the node
    /// lifecycle controller manages taints too) changed the node in between.
    fn update_taints(&self, name: &str, edit: impl Fn(&mut Vec<Value>)) -> Result<(), Error> {
        let path = format!("/api/v1/nodes/{name}");
        let mut attempt = 0;
        loop {
            let node = self.get(&path)?;
            let mut taints = node["spec"]["taints"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            edit(&mut taints);
            // The resourceVersion makes the patch fail with 409 if the node changed meanwhile.
            let patch = json!({
                "metadata": { "resourceVersion": node["metadata"]["resourceVersion"] },
                "spec": { "taints": taints },
            });
            match self.merge_patch(&path, patch) {
                Err(Error::Api { status: 409, .. }) if attempt < 10 => attempt += 1,
                other => return other.map(drop),
            }
        }
    }

    /// Creates the RuntimeClass `sysbox-runc` as `cvm_sysbox` leaves it (handler `sysbox-runc`,
    /// scheduled onto nodes labelled `sysbox-runtime=running`), for tests of what runs on Sysbox
    /// nodes without installing it; one that exists already is fine.
    pub fn create_sysbox_runtime_class(&self) -> Result<(), Error> {
        let body = serde_json::json!({
            "apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
            "metadata": { "name": "sysbox-runc" },
            "handler": "sysbox-runc",
            "scheduling": { "nodeSelector": { "sysbox-runtime": "running" } },
        });
        match self.request("POST", "/apis/node.k8s.io/v1/runtimeclasses", Some(body)) {
            Ok(_) | Err(Error::Api { status: 409, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// The pods (of all namespaces) matching a label selector, e.g. `app=sysbox-deploy-k8s`;
    /// an empty selector lists every pod.
    pub fn pods(&self, selector: &str) -> Result<Vec<Value>, Error> {
        let list = self.get(&format!(
            "/api/v1/pods?labelSelector={}",
            query_escape(selector)
        ))?;
        Ok(list["items"].as_array().cloned().unwrap_or_default())
    }

    /// The current log of a pod's (only or first) container, as `kubectl logs` shows it: the API
    /// server fetches it from the node's kubelet (kwok, for the harness's nodes).
    pub fn pod_log(&self, namespace: &str, pod: &str) -> Result<String, Error> {
        let path = format!("/api/v1/namespaces/{namespace}/pods/{pod}/log");
        let transport = |message: String| Error::Transport {
            method: "GET".to_string(),
            path: path.clone(),
            message,
        };
        let mut response = self
            .agent
            .get(&format!("{}{path}", self.server))
            .header("Authorization", &format!("Bearer {}", self.token))
            .call()
            .map_err(|e| transport(e.to_string()))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| transport(format!("reading the answer: {e}")))?;
        if !(200..300).contains(&status) {
            return Err(Error::Api {
                method: "GET".to_string(),
                path,
                status,
                body: text,
            });
        }
        Ok(text)
    }

    /// Waits until the object `name` of `collection` (a list path such as `/api/v1/nodes` or
    /// `/api/v1/namespaces/N/pods`) satisfies `done`, by watching it; returns it. `what` names
    /// the awaited state in the timeout error.
    pub fn wait_for(
        &self,
        collection: &str,
        name: &str,
        timeout: Duration,
        what: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Result<Value, Error> {
        let started = std::time::Instant::now();
        let selector = format!("fieldSelector=metadata.name%3D{}", query_escape(name));
        let mut last = Value::Null;
        while let Some(left) = timeout.checked_sub(started.elapsed()) {
            // List, then watch from the list's resourceVersion: nothing in between is missed.
            let list = self.get(&format!("{collection}?{selector}"))?;
            if let Some(object) = list["items"].as_array().and_then(|i| i.first()) {
                if done(object) {
                    return Ok(object.clone());
                }
                last = object.clone();
            }
            let version = list["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or_default();
            let seconds = left.as_secs().max(1);
            let path = format!(
                "{collection}?{selector}&watch=true&allowWatchBookmarks=false&resourceVersion={version}&timeoutSeconds={seconds}"
            );
            let found = self.watch(&path, left + Duration::from_secs(5), |event| {
                if matches!(event["type"].as_str(), Some("ADDED" | "MODIFIED")) {
                    last = event["object"].clone();
                    return done(&event["object"]);
                }
                // An ERROR (the version expired, say) ends this watch; the loop lists again.
                event["type"] == "ERROR"
            })?;
            if let Some(event) = found
                && event["type"] != "ERROR"
            {
                return Ok(event["object"].clone());
            }
        }
        Err(Error::Timeout {
            what: what.to_string(),
            seconds: timeout.as_secs(),
            last: if last.is_null() {
                "none".to_string()
            } else {
                last.to_string()
            },
        })
    }

    /// Reads the watch stream at `path` until `stop` returns true for an event (returned) or
    /// the server ends the stream (`None`).
    fn watch(
        &self,
        path: &str,
        timeout: Duration,
        mut stop: impl FnMut(&Value) -> bool,
    ) -> Result<Option<Value>, Error> {
        use std::io::BufRead;
        let transport = |message: String| Error::Transport {
            method: "GET".to_string(),
            path: path.to_string(),
            message,
        };
        let response = self
            .agent
            .get(&format!("{}{path}", self.server))
            .config()
            .timeout_global(Some(timeout))
            .build()
            .header("Authorization", &format!("Bearer {}", self.token))
            .call()
            .map_err(|e| transport(e.to_string()))?;
        let status = response.status().as_u16();
        let mut body = response.into_body();
        if !(200..300).contains(&status) {
            return Err(Error::Api {
                method: "GET".to_string(),
                path: path.to_string(),
                status,
                body: body.read_to_string().unwrap_or_default(),
            });
        }
        let reader = std::io::BufReader::new(body.as_reader());
        for line in reader.lines() {
            let line = line.map_err(|e| transport(format!("reading the watch: {e}")))?;
            if line.trim().is_empty() {
                continue;
            }
            let event: Value = serde_json::from_str(&line).map_err(|source| Error::Json {
                method: "GET".to_string(),
                path: path.to_string(),
                source,
                body: line.clone(),
            })?;
            if stop(&event) {
                return Ok(Some(event));
            }
        }
        Ok(None)
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

/// Percent-encodes what a label or field selector may hold for a URL query.
fn query_escape(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
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
    /// Stops the cluster's processes and removes their state. Idempotent.
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
