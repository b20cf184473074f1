//! A test-only stand-in for the Sysbox installer's pods' effect on the host.
//!
//! Like the real `sysbox-deploy-k8s` pods it plays the node side through node labels only:
//!
//! * a node selected by a DaemonSet named `sysbox-deploy-k8s` goes `sysbox-runtime=installing`,
//!   then `sysbox-runtime=running`, and again whenever the DaemonSet's generation changes (a new
//!   image rolls it);
//! * a node selected by a DaemonSet named `sysbox-cleanup-k8s` goes `sysbox-runtime=removing`,
//!   then loses the label.
//!
//! The DaemonSet's status is the real controller manager's (its pods run on kwok nodes).
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

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::Value;

use crate::kube::KubeApi;

/// How often the double looks at the cluster; each step of a node's install takes one tick.
const TICK: Duration = Duration::from_millis(300);

/// What the double did, in order, e.g. `node-a: sysbox-runtime=installing (generation 1)`.
pub type Journal = Arc<Mutex<Vec<String>>>;

/// The running double; stops its thread on drop.
#[derive(Debug)]
pub struct InstallerDouble {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    journal: Journal,
}

impl InstallerDouble {
    /// Starts playing the installer's pods against the cluster behind `api`.
    pub fn start(api: KubeApi) -> InstallerDouble {
        let stop = Arc::new(AtomicBool::new(false));
        let journal: Journal = Arc::default();
        let thread = {
            let stop = Arc::clone(&stop);
            let journal = Arc::clone(&journal);
            std::thread::spawn(move || {
                let mut double = Double {
                    api,
                    installed: BTreeMap::new(),
                    journal,
                };
                while !stop.load(Ordering::Relaxed) {
                    // A failed call (the API server restarting, say) is retried next tick, as a
                    // pod's script would be restarted.
                    if let Err(e) = double.tick() {
                        double.note(format!("error: {e}"));
                    }
                    std::thread::sleep(TICK);
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

struct Double {
    api: KubeApi,
    /// The DaemonSet generation each node finished installing, by (namespace, node).
    installed: BTreeMap<(String, String), i64>,
    journal: Journal,
}

impl Double {
    fn note(&self, line: String) {
        if let Ok(mut journal) = self.journal.lock() {
            journal.push(line);
        }
    }

    fn tick(&mut self) -> Result<(), crate::kube::Error> {
        let list = self.api.get("/apis/apps/v1/daemonsets")?;
        for ds in list["items"].as_array().into_iter().flatten() {
            match ds["metadata"]["name"].as_str() {
                Some("sysbox-deploy-k8s") => self.install(ds)?,
                Some("sysbox-cleanup-k8s") => self.cleanup(ds)?,
                _ => {}
            }
        }
        Ok(())
    }

    /// The nodes a DaemonSet's pods would run on.
    fn selected(&self, ds: &Value) -> Result<Vec<Value>, crate::kube::Error> {
        let selector = ds["spec"]["template"]["spec"]["nodeSelector"]
            .as_object()
            .map(|labels| {
                labels
                    .iter()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        let nodes = self
            .api
            .get(&format!("/api/v1/nodes?labelSelector={selector}"))?;
        Ok(nodes["items"].as_array().cloned().unwrap_or_default())
    }

    fn set_label(&self, node: &str, value: Option<&str>) -> Result<(), crate::kube::Error> {
        self.api.label_node(node, "sysbox-runtime", value)?;
        self.note(format!(
            "{node}: {}",
            value.map_or("sysbox-runtime removed".to_string(), |v| format!(
                "sysbox-runtime={v}"
            ))
        ));
        Ok(())
    }

    /// One step of the install pod on each selected node, then the DaemonSet's status.
    fn install(&mut self, ds: &Value) -> Result<(), crate::kube::Error> {
        let namespace = ds["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let generation = ds["metadata"]["generation"].as_i64().unwrap_or(1);
        let nodes = self.selected(ds)?;
        for node in &nodes {
            let name = node["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let label = node["metadata"]["labels"]["sysbox-runtime"].as_str();
            let key = (namespace.clone(), name.clone());
            let done = self.installed.get(&key).copied();
            match (label, done) {
                (Some("running"), Some(g)) if g >= generation => {}
                (Some("installing"), _) => {
                    self.set_label(&name, Some("running"))?;
                    self.installed.insert(key, generation);
                }
                _ => {
                    self.note(format!(
                        "{name}: installer pod started (generation {generation})"
                    ));
                    self.set_label(&name, Some("installing"))?;
                }
            }
        }
        Ok(())
    }

    /// One step of the cleanup pod on each selected node.
    fn cleanup(&mut self, ds: &Value) -> Result<(), crate::kube::Error> {
        let namespace = ds["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let nodes = self.selected(ds)?;
        // Nodes labelled `removing` are no longer selected (the selector wants `running`), but
        // their cleanup pod is still at work.
        let removing = self
            .api
            .get("/api/v1/nodes?labelSelector=sysbox-runtime%3Dremoving")?;
        for node in removing["items"].as_array().into_iter().flatten() {
            let name = node["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            self.set_label(&name, None)?;
            self.installed.remove(&(namespace.clone(), name));
        }
        for node in &nodes {
            let name = node["metadata"]["name"].as_str().unwrap_or_default();
            self.note(format!("{name}: cleanup pod started"));
            self.set_label(name, Some("removing"))?;
        }
        Ok(())
    }
}
