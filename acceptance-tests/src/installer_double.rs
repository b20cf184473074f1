//! A test-only stand-in for what the Sysbox installer's script does to its host, the one part
//! of the test cluster that is not real: kwok runs the installer's pods, but no container runs,
//! so nothing would install Sysbox.
//!
//! The real DaemonSet controller makes the pods, the real scheduler places them (or does not:
//! a node whose installer pod never runs never gets Sysbox), and kwok reports them Running. For
//! each installer pod that is Running on a node, the double then does what `sysbox-deploy-k8s`
//! does there, one step per tick:
//!
//! * a pod of a DaemonSet named `sysbox-deploy-k8s` (any namespace) taints its node
//!   `sysbox-runtime=not-running:NoSchedule`, labels it `sysbox-runtime=installing`, then
//!   `sysbox-runtime=running` and removes the taint. A new pod (after an image change rolls the
//!   DaemonSet) does it all again;
//! * a pod of `sysbox-cleanup-k8s` labels its node `sysbox-runtime=removing`, then removes the
//!   label.
//!
//! A node annotated [`FAIL_ANNOTATION`] makes its installer fail instead: the double writes the
//! container's log (served by kwok, so `GET .../pods/P/log` answers it, the annotation's value as
//! its last line), then the pod status a kubelet reports for a crashing container (last state
//! terminated with exit code 1 and the annotation's value as message, waiting in
//! `CrashLoopBackOff`, not ready), and the node is left alone.
//!
//! ```no_run
//! use acceptance_tests::installer_double::InstallerDouble;
//! use acceptance_tests::kube::KubeCluster;
//!
//! let cluster = KubeCluster::start()?;
//! let double = InstallerDouble::start(cluster.api());
//! // ... terraform apply a cvm_sysbox ...
//! drop(double); // stops the thread
//! # Ok::<(), acceptance_tests::kube::Error>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{Value, json};

use crate::kube::{KubeApi, Taint};

/// How often the double looks at the cluster; each step of a node's install takes one tick.
pub const TICK: Duration = Duration::from_millis(300);

/// A node annotated with this key fails its install; the value is the failing container's
/// last message (as the script's last words would be).
pub const FAIL_ANNOTATION: &str = "cvm-test/installer-fails";

/// The installer's and cleanup's DaemonSet names.
const INSTALL: &str = "sysbox-deploy-k8s";
const CLEANUP: &str = "sysbox-cleanup-k8s";

/// The node label and taint key the script manages.
const RUNTIME_LABEL: &str = "sysbox-runtime";

/// What the double did, in order, e.g. `node-a: sysbox-runtime=installing`.
pub type Journal = Arc<Mutex<Vec<String>>>;

/// The running double; stops its thread on drop.
#[derive(Debug)]
pub struct InstallerDouble {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    journal: Journal,
}

impl InstallerDouble {
    /// Starts playing the installer script's effects against the cluster behind `api`.
    pub fn start(api: KubeApi) -> InstallerDouble {
        Self::start_with_tick(api, TICK)
    }

    /// Like [`InstallerDouble::start`], with each step taking `tick` instead of [`TICK`] (a
    /// slower installer, for the benchmark that shows the provider's wait does not poll).
    pub fn start_with_tick(api: KubeApi, tick: Duration) -> InstallerDouble {
        let stop = Arc::new(AtomicBool::new(false));
        let journal: Journal = Arc::default();
        let thread = {
            let stop = Arc::clone(&stop);
            let journal = Arc::clone(&journal);
            std::thread::spawn(move || {
                let logs = tempfile::Builder::new()
                    .prefix("cvm-installer-logs-")
                    .tempdir()
                    .ok();
                let mut double = Double {
                    api,
                    logs,
                    steps: BTreeMap::new(),
                    removing: BTreeSet::new(),
                    journal,
                };
                while !stop.load(Ordering::Relaxed) {
                    // A failed call (the API server restarting, say) is retried next tick, as a
                    // pod's script would be restarted.
                    if let Err(e) = double.tick() {
                        double.note(format!("error: {e}"));
                    }
                    std::thread::sleep(tick);
                }
            })
        };
        InstallerDouble {
            stop,
            thread: Some(thread),
            journal,
        }
    }

    /// What the double has done so far.
    pub fn journal(&self) -> Vec<String> {
        self.journal.lock().map(|j| j.clone()).unwrap_or_default()
    }

    /// Stops the thread and waits for it. Idempotent.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for InstallerDouble {
    fn drop(&mut self) {
        self.stop();
    }
}

/// How far an installer pod's script has got on its node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Failing: its log is written, its crashing status not yet (kwok must see the log first).
    Crashing,
    /// Tainted the node `sysbox-runtime=not-running`.
    Tainted,
    /// Labelled it `installing`.
    Installing,
    /// Labelled it `running` and removed the taint: the pod's work is done.
    Done,
    /// Failed; its crashing status has been written.
    Failed,
}

struct Double {
    api: KubeApi,
    /// Where the failing containers' logs are written for kwok to serve (`None` if no temporary
    /// directory could be made: the logs are then left out).
    logs: Option<tempfile::TempDir>,
    /// The step each installer or cleanup pod (by uid) has reached.
    steps: BTreeMap<String, Step>,
    /// Nodes whose cleanup pod has labelled them `removing` (the pod is then deleted, as the
    /// cleanup DaemonSet no longer selects the node, but the script finishes its work).
    removing: BTreeSet<String>,
    journal: Journal,
}

impl Double {
    fn note(&self, line: String) {
        if let Ok(mut journal) = self.journal.lock() {
            journal.push(line);
        }
    }

    fn tick(&mut self) -> Result<(), crate::kube::Error> {
        for node in std::mem::take(&mut self.removing) {
            self.set_label(&node, None)?;
        }
        let generations = self.generations()?;
        let pods = self.api.pods("")?;
        let mut seen = BTreeSet::new();
        for pod in &pods {
            let Some((namespace, daemon_set)) = owner(pod) else {
                continue;
            };
            let (Some(uid), Some(node)) = (
                pod["metadata"]["uid"].as_str(),
                pod["spec"]["nodeName"].as_str(),
            ) else {
                continue;
            };
            seen.insert(uid.to_owned());
            let running = pod["status"]["phase"] == "Running"
                && pod["metadata"]["deletionTimestamp"].is_null();
            if !running {
                continue;
            }
            match daemon_set {
                INSTALL => {
                    let generation = generations
                        .get(&(namespace.to_owned(), INSTALL.to_owned()))
                        .copied()
                        .unwrap_or(1);
                    self.install_step(pod, uid, node, generation)?;
                }
                CLEANUP if !self.steps.contains_key(uid) => {
                    self.note(format!("{node}: cleanup pod started"));
                    self.set_label(node, Some("removing"))?;
                    self.steps.insert(uid.to_owned(), Step::Done);
                    self.removing.insert(node.to_owned());
                }
                _ => {}
            }
        }
        // Pods that are gone are forgotten.
        self.steps.retain(|uid, _| seen.contains(uid));
        Ok(())
    }

    /// The generation of each DaemonSet, by (namespace, name), for the journal.
    fn generations(&self) -> Result<BTreeMap<(String, String), i64>, crate::kube::Error> {
        let list = self.api.get("/apis/apps/v1/daemonsets")?;
        Ok(list["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|ds| {
                Some((
                    (
                        ds["metadata"]["namespace"].as_str()?.to_owned(),
                        ds["metadata"]["name"].as_str()?.to_owned(),
                    ),
                    ds["metadata"]["generation"].as_i64()?,
                ))
            })
            .collect())
    }

    /// One step of the install script of `pod` on `node`.
    fn install_step(
        &mut self,
        pod: &Value,
        uid: &str,
        node: &str,
        generation: i64,
    ) -> Result<(), crate::kube::Error> {
        let not_running = Taint::no_schedule(RUNTIME_LABEL, "not-running");
        match self.steps.get(uid).copied() {
            None => {
                self.note(format!(
                    "{node}: installer pod started (generation {generation})"
                ));
                let failure =
                    self.api.get(&format!("/api/v1/nodes/{node}"))?["metadata"]["annotations"]
                        [FAIL_ANNOTATION]
                        .as_str()
                        .map(str::to_owned);
                if let Some(message) = failure {
                    self.write_log(pod, node, &message)?;
                    self.steps.insert(uid.to_owned(), Step::Crashing);
                    return Ok(());
                }
                self.api.taint_node(node, &not_running)?;
                self.note(format!(
                    "{node}: tainted sysbox-runtime=not-running:NoSchedule"
                ));
                self.steps.insert(uid.to_owned(), Step::Tainted);
            }
            Some(Step::Crashing) => {
                let message =
                    self.api.get(&format!("/api/v1/nodes/{node}"))?["metadata"]["annotations"]
                        [FAIL_ANNOTATION]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned();
                self.crash(pod, &message)?;
                self.note(format!("{node}: installer failed: {message}"));
                self.steps.insert(uid.to_owned(), Step::Failed);
            }
            Some(Step::Tainted) => {
                self.set_label(node, Some("installing"))?;
                self.steps.insert(uid.to_owned(), Step::Installing);
            }
            Some(Step::Installing) => {
                self.set_label(node, Some("running"))?;
                self.api.untaint_node(node, RUNTIME_LABEL)?;
                self.note(format!("{node}: taint sysbox-runtime removed"));
                self.steps.insert(uid.to_owned(), Step::Done);
            }
            Some(Step::Done | Step::Failed) => {}
        }
        Ok(())
    }

    /// Writes the failing script's output (in the CRI log format kwok reads) and a kwok `Logs`
    /// object that serves it as every container's current and previous log.
    fn write_log(&self, pod: &Value, node: &str, message: &str) -> Result<(), crate::kube::Error> {
        let Some(dir) = &self.logs else {
            return Ok(());
        };
        let namespace = pod["metadata"]["namespace"].as_str().unwrap_or_default();
        let name = pod["metadata"]["name"].as_str().unwrap_or_default();
        let at = pod["status"]["startTime"]
            .as_str()
            .unwrap_or("1970-01-01T00:00:00Z");
        let path = dir.path().join(format!("{namespace}_{name}.log"));
        let text =
            format!("{at} stdout F Installing Sysbox on node {node}\n{at} stderr F {message}\n");
        std::fs::write(&path, text).map_err(|source| crate::kube::Error::Io {
            context: format!("writing {}", path.display()),
            source,
        })?;
        let file = path.display().to_string();
        self.api.request(
            "POST",
            &format!("/apis/kwok.x-k8s.io/v1alpha1/namespaces/{namespace}/logs"),
            Some(json!({
                "apiVersion": "kwok.x-k8s.io/v1alpha1",
                "kind": "Logs",
                "metadata": { "name": name },
                "spec": { "logs": [{ "logsFile": file, "previousLogsFile": file }] },
            })),
        )?;
        Ok(())
    }

    /// Writes the status a kubelet reports for a pod whose container keeps exiting with 1.
    fn crash(&self, pod: &Value, message: &str) -> Result<(), crate::kube::Error> {
        let namespace = pod["metadata"]["namespace"].as_str().unwrap_or_default();
        let name = pod["metadata"]["name"].as_str().unwrap_or_default();
        let now = pod["status"]["startTime"].clone();
        let containers: Vec<Value> = pod["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                json!({
                    "name": c["name"],
                    "image": c["image"],
                    "imageID": "",
                    "ready": false,
                    "started": false,
                    "restartCount": 3,
                    "state": { "waiting": {
                        "reason": "CrashLoopBackOff",
                        "message": format!(
                            "back-off 40s restarting failed container={} pod={name}_{namespace}",
                            c["name"].as_str().unwrap_or_default()
                        ),
                    } },
                    "lastState": { "terminated": {
                        "exitCode": 1,
                        "reason": "Error",
                        "message": message,
                        "startedAt": now,
                        "finishedAt": now,
                    } },
                })
            })
            .collect();
        let not_ready = |kind: &str| {
            json!({
                "type": kind,
                "status": "False",
                "reason": "ContainersNotReady",
                "message": "containers with unready status: [sysbox-deploy-k8s]",
                "lastTransitionTime": now,
            })
        };
        self.api.merge_patch(
            &format!("/api/v1/namespaces/{namespace}/pods/{name}/status"),
            json!({ "status": {
                "conditions": [
                    { "type": "PodScheduled", "status": "True", "lastTransitionTime": now },
                    { "type": "Initialized", "status": "True", "lastTransitionTime": now },
                    not_ready("ContainersReady"),
                    not_ready("Ready"),
                ],
                "containerStatuses": containers,
            } }),
        )?;
        Ok(())
    }

    fn set_label(&self, node: &str, value: Option<&str>) -> Result<(), crate::kube::Error> {
        self.api.label_node(node, RUNTIME_LABEL, value)?;
        self.note(format!(
            "{node}: {}",
            value.map_or("sysbox-runtime removed".to_string(), |v| format!(
                "sysbox-runtime={v}"
            ))
        ));
        Ok(())
    }
}

/// The namespace and name of the DaemonSet that owns `pod`, if one does.
fn owner(pod: &Value) -> Option<(&str, &str)> {
    let namespace = pod["metadata"]["namespace"].as_str()?;
    pod["metadata"]["ownerReferences"]
        .as_array()?
        .iter()
        .find(|o| o["kind"] == "DaemonSet")
        .and_then(|o| o["name"].as_str())
        .map(|name| (namespace, name))
}
