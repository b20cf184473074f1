//! Waiting for the Sysbox installer: a watch on the nodes and on the
//! installer's DaemonSet, until every target node reports
//! `sysbox-runtime=running` (install) or no node does any more (uninstall).
//!
//! The installer reports only through node labels and its own taint
//! (`sysbox-runtime=not-running`, there while its script works), and its
//! pod keeps running after it finishes, so the DaemonSet's status alone
//! cannot say "done". A node is ready when it is labelled
//! `sysbox-runtime=running` without that taint, and the DaemonSet has
//! rolled out (every scheduled pod updated and available).
//!
//! When an apply changes the installer's pod template (a new image, new
//! tolerations) or creates the DaemonSet, every installer pod is new and
//! runs the script again, but a node keeps its old `running` label until
//! the script starts there. The wait therefore starts from the nodes as
//! listed before the DaemonSet was applied ([`Baseline`]) and watches from
//! that listing's resource version, so it sees every change the new pods
//! make; a node labelled `running` back then counts only once the watch has
//! seen the script start on it (its taint, or another label). The same goes
//! for a node that had lost `sysbox-install=yes` (drift) and gets a new pod
//! when the apply labels it again.
//!
//! A wait for nodes chosen by a selector follows the selector while it
//! waits: a node deleted (drained and replaced) stops being waited for, and
//! a node that joins is labelled `sysbox-install=yes` and waited for. The
//! wait is driven by the two watches; nothing is polled, so the requests do
//! not grow with its length. When it times out, the pods of the DaemonSet,
//! the events about them and the log tails of failing ones are read once,
//! and [`diagnosis`](super::diagnosis) explains each node not ready.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use std::time::Duration;

use ::kube::api::{ListParams, LogParams, Patch, PatchParams, WatchEvent, WatchParams};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Event as KubeEvent, Node, Pod};

use super::diagnosis::{self, LogTail, Observed};
use super::installer::{
    INSTALL_LABEL, INSTALL_VALUE, INSTALLER_TAINT, REMOVING, RUNNING, RUNTIME_LABEL,
    is_installer_taint,
};
use crate::kube::cluster::{describe, is_transient, refusal};
use crate::kube::{Cluster, KubeError};

/// Why a wait ended without success.
#[derive(Debug, thiserror::Error)]
pub enum RolloutError {
    /// The Kubernetes API failed (after retries) or refused a call.
    #[error(transparent)]
    Kube(#[from] KubeError),
    /// The deadline passed before every node was ready.
    #[error("{0}")]
    NotReady(String),
}

/// What the watch has seen so far.
#[derive(Debug, Default, Clone)]
pub struct Snapshot {
    /// Every node's labels, by node name.
    pub nodes: BTreeMap<String, BTreeMap<String, String>>,
    /// Nodes carrying the installer's own taint: its script is at work.
    pub tainted: BTreeSet<String>,
    /// Nodes whose `running` label is from before the DaemonSet's current
    /// pod template, where the watch has not yet seen the new pod's script
    /// start.
    pub stale: BTreeSet<String>,
    /// The nodes the apply found as targets before the wait began: targets
    /// until the watch sees them deleted, also while the watch has yet to
    /// catch up with them (one that joined after the baseline).
    pub expected: BTreeSet<String>,
    /// The DaemonSet being watched, if it exists.
    pub daemon_set: Option<DaemonSet>,
}

impl Snapshot {
    /// A node's `sysbox-runtime` label.
    pub fn runtime_label(&self, node: &str) -> Option<&str> {
        self.nodes.get(node)?.get(RUNTIME_LABEL).map(String::as_str)
    }

    /// Records a node as listed or watched. Its script has started when it
    /// carries the installer's taint or a label other than `running`.
    fn set_node(&mut self, node: &Node) {
        let (name, labels) = labels_of(node);
        let tainted = has_installer_taint(node);
        if tainted || labels.get(RUNTIME_LABEL).map(String::as_str) != Some(RUNNING) {
            self.stale.remove(&name);
        }
        if tainted {
            self.tainted.insert(name.clone());
        } else {
            self.tainted.remove(&name);
        }
        self.nodes.insert(name, labels);
    }

    fn remove_node(&mut self, name: &str) {
        self.nodes.remove(name);
        self.tainted.remove(name);
        self.stale.remove(name);
        self.expected.remove(name);
    }

    /// Whether Sysbox runs on the node from the current installer.
    fn is_ready(&self, node: &str) -> bool {
        self.runtime_label(node) == Some(RUNNING)
            && !self.tainted.contains(node)
            && !self.stale.contains(node)
    }

    /// Target nodes on which Sysbox runs, in name order.
    pub fn ready(&self, targets: &BTreeSet<String>) -> Vec<String> {
        targets
            .iter()
            .filter(|n| self.is_ready(n))
            .cloned()
            .collect()
    }

    /// Whether the DaemonSet exists and its current generation is on every
    /// node it schedules to, available.
    pub fn rolled_out(&self) -> bool {
        let Some(ds) = &self.daemon_set else {
            return false;
        };
        let generation = ds.metadata.generation.unwrap_or(0);
        let Some(status) = &ds.status else {
            return false;
        };
        status.observed_generation.unwrap_or(0) >= generation
            && status.updated_number_scheduled.unwrap_or(0) >= status.desired_number_scheduled
            && status.number_available.unwrap_or(0) >= status.desired_number_scheduled
    }

    /// Every target runs Sysbox from the current installer.
    pub fn install_done(&self, targets: &BTreeSet<String>) -> bool {
        self.rolled_out() && self.ready(targets).len() == targets.len()
    }

    /// No node reports Sysbox running or being removed.
    pub fn uninstall_done(&self) -> bool {
        self.nodes
            .keys()
            .all(|n| !matches!(self.runtime_label(n), Some(RUNNING | REMOVING)))
    }

    /// `node (sysbox-runtime=value)` for each target not ready.
    fn describe_pending(&self, targets: &BTreeSet<String>) -> Vec<String> {
        targets
            .iter()
            .filter(|n| !self.is_ready(n))
            .map(
                |n| match (self.nodes.contains_key(n), self.runtime_label(n)) {
                    (false, _) => format!("{n} (no such node)"),
                    (true, Some(RUNNING)) if self.stale.contains(n) => format!(
                        "{n} ({RUNTIME_LABEL}={RUNNING} from the previous installer; the \
                         current one has not started there)"
                    ),
                    (true, Some(RUNNING)) => {
                        format!("{n} ({RUNTIME_LABEL}={RUNNING}, still tainted {INSTALLER_TAINT})")
                    }
                    (true, Some(value)) => format!("{n} ({RUNTIME_LABEL}={value})"),
                    (true, None) => format!("{n} (no {RUNTIME_LABEL} label)"),
                },
            )
            .collect()
    }
}

/// The nodes an install waits for.
#[derive(Debug, Clone, Default)]
pub struct Targets {
    /// Nodes named in the configuration: waited for even while absent.
    pub named: BTreeSet<String>,
    /// Labels choosing more nodes: those matching while the wait goes on.
    pub selector: Option<BTreeMap<String, String>>,
}

impl Targets {
    /// The target nodes as the snapshot shows them: the named ones and
    /// every node the selector matches now.
    pub fn current(&self, snapshot: &Snapshot) -> BTreeSet<String> {
        let mut targets = self.named.clone();
        targets.extend(snapshot.expected.iter().cloned());
        if let Some(selector) = &self.selector {
            targets.extend(
                snapshot
                    .nodes
                    .iter()
                    .filter(|(_, labels)| selector.iter().all(|(k, v)| labels.get(k) == Some(v)))
                    .map(|(name, _)| name.clone()),
            );
        }
        targets
    }

    /// Targets present without `sysbox-install=yes`: nodes that joined
    /// during the wait, for the installer to be scheduled on.
    fn unlabelled(&self, snapshot: &Snapshot) -> Vec<String> {
        self.current(snapshot)
            .into_iter()
            .filter(|n| {
                snapshot.nodes.get(n).is_some_and(|labels| {
                    labels.get(INSTALL_LABEL).map(String::as_str) != Some(INSTALL_VALUE)
                })
            })
            .collect()
    }
}

/// What the watch does after a change.
enum Step {
    /// The wait is over.
    Done,
    /// Keep watching.
    Wait,
    /// Label these nodes `sysbox-install=yes`, then keep watching.
    Label(Vec<String>),
}

/// The nodes as listed before an install applied the DaemonSet, and the
/// listing's resource version: the wait watches from there.
#[derive(Debug, Clone)]
pub struct Baseline {
    nodes: Vec<Node>,
    resource_version: String,
}

impl Baseline {
    /// Lists every node.
    pub async fn capture(cluster: &Cluster) -> Result<Self, KubeError> {
        let api = cluster.all::<Node>();
        let all = ListParams::default();
        let listed = cluster.retry("listing nodes", || api.list(&all)).await?;
        Ok(Self {
            resource_version: listed.metadata.resource_version.unwrap_or_default(),
            nodes: listed.items,
        })
    }
}

/// Where an install's wait starts.
#[derive(Debug, Clone)]
pub struct Start {
    /// The nodes before the DaemonSet was applied.
    pub baseline: Baseline,
    /// The target nodes the apply found and labelled `sysbox-install=yes`
    /// after the baseline: waited for even before the watch shows them.
    pub labelled: BTreeSet<String>,
    /// Whether the apply created the DaemonSet or changed its pod template:
    /// then no installer pod is from before, and neither is Sysbox as
    /// reported by a `running` label in the baseline. A node the baseline
    /// shows without `sysbox-install=yes` gets a new pod either way.
    pub pods_replaced: bool,
}

/// Whether the DaemonSet as an apply returned it has a generation its
/// controller has not acted on: the apply created it or changed its spec.
/// Every field of the spec the provider sets outside the pod template is
/// fixed, so a new generation is a new pod template, and new pods.
pub fn pods_replaced(applied: &DaemonSet) -> bool {
    let observed = applied.status.as_ref().and_then(|s| s.observed_generation);
    observed.is_none() || observed != applied.metadata.generation
}

fn has_installer_taint(node: &Node) -> bool {
    node.spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .is_some_and(|taints| taints.iter().any(is_installer_taint))
}

fn labels_of(node: &Node) -> (String, BTreeMap<String, String>) {
    (
        node.metadata.name.clone().unwrap_or_default(),
        node.metadata.labels.clone().unwrap_or_default(),
    )
}

/// What a watch stream delivers, from either watch.
enum Event {
    Node(Box<WatchEvent<Node>>),
    DaemonSet(Box<WatchEvent<DaemonSet>>),
}

/// Lists the nodes and the DaemonSet, then watches both until `step` says
/// done or `until` passes. Logs each change of a node's `sysbox-runtime`
/// label. Returns the last snapshot either way.
///
/// With a [`Start`], the nodes are not listed first: the watch begins at
/// the baseline's resource version. A watch the server closes is resumed
/// from the last version seen, so no change is missed; only a watch that
/// breaks (an error, a version too old) lists again, and then the labels
/// of nodes still stale are trusted, with a warning.
async fn watch_until(
    cluster: &Cluster,
    namespace: &str,
    daemon_set: &str,
    until: Instant,
    step: &(dyn Fn(&Snapshot) -> Step + Sync),
    start: Option<Start>,
) -> Result<(Snapshot, bool), KubeError> {
    let nodes_api = cluster.all::<Node>();
    let ds_api = cluster.namespaced::<DaemonSet>(namespace);
    let ds_fields = format!("metadata.name={daemon_set}");
    let all_nodes = ListParams::default();
    let ds_by_name = ListParams::default().fields(&ds_fields);
    let mut snapshot = Snapshot::default();
    // Nodes labelled here (or by the apply), so that one is not patched
    // again before the watch shows its new label.
    let mut labelled = BTreeSet::new();
    let mut node_version = String::new();
    let mut list_nodes = true;
    if let Some(start) = start {
        for node in &start.baseline.nodes {
            snapshot.set_node(node);
        }
        // Nodes that get a new installer pod: every one when the pods
        // are replaced, else those the apply selects for the DaemonSet.
        snapshot.stale = snapshot
            .nodes
            .iter()
            .filter(|(_, labels)| labels.get(RUNTIME_LABEL).map(String::as_str) == Some(RUNNING))
            .filter(|(_, labels)| {
                start.pods_replaced
                    || labels.get(INSTALL_LABEL).map(String::as_str) != Some(INSTALL_VALUE)
            })
            .map(|(name, _)| name.clone())
            .collect();
        node_version = start.baseline.resource_version;
        snapshot.expected.clone_from(&start.labelled);
        labelled = start.labelled;
        list_nodes = false;
    }
    let mut ds_version = String::new();
    let mut list_daemon_set = true;
    loop {
        let before = snapshot.clone();
        if list_nodes {
            let listed = cluster
                .retry("listing nodes", || nodes_api.list(&all_nodes))
                .await?;
            node_version = listed.metadata.resource_version.clone().unwrap_or_default();
            let stale = std::mem::take(&mut snapshot.stale);
            snapshot.nodes.clear();
            snapshot.tainted.clear();
            snapshot.stale = stale;
            for node in &listed.items {
                snapshot.set_node(node);
            }
            snapshot.stale.retain(|n| snapshot.nodes.contains_key(n));
            snapshot.expected.retain(|n| snapshot.nodes.contains_key(n));
            if !snapshot.stale.is_empty() {
                tracing::warn!(
                    nodes = ?snapshot.stale,
                    "the node watch broke, so changes may have been missed; trusting the \
                     {RUNTIME_LABEL}={RUNNING} label of nodes not yet seen reinstalling"
                );
                snapshot.stale.clear();
            }
        }
        if list_daemon_set {
            let action = format!("reading DaemonSet {namespace}/{daemon_set}");
            let ds_list = cluster.retry(&action, || ds_api.list(&ds_by_name)).await?;
            ds_version = ds_list
                .metadata
                .resource_version
                .clone()
                .unwrap_or_default();
            snapshot.daemon_set = ds_list.items.into_iter().next();
        }
        log_changes(&before, &snapshot);
        if take_step(cluster, step, &snapshot, &mut labelled).await? {
            return Ok((snapshot, true));
        }

        let remaining = until.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Ok((snapshot, false));
        }
        // The server ends a watch after its timeout; shorter than the
        // deadline so that the loop checks the time again.
        let seconds = remaining.as_secs().clamp(1, 290) as u32;
        let node_watch = nodes_api
            .watch(&WatchParams::default().timeout(seconds), &node_version)
            .await;
        let ds_watch = ds_api
            .watch(
                &WatchParams::default().fields(&ds_fields).timeout(seconds),
                &ds_version,
            )
            .await;
        let (node_stream, ds_stream) = match (node_watch, ds_watch) {
            (Ok(n), Ok(d)) => (n, d),
            (Err(e), _) | (_, Err(e)) if is_transient(&e) => {
                tracing::warn!(error = %describe(&e), "watch failed; listing again");
                cluster_pause(cluster).await?;
                (list_nodes, list_daemon_set) = (true, true);
                continue;
            }
            // The version to watch from is too old: list again.
            (Err(::kube::Error::Api(status)), _) | (_, Err(::kube::Error::Api(status)))
                if status.code == 410 =>
            {
                (list_nodes, list_daemon_set) = (true, true);
                continue;
            }
            (Err(e), _) | (_, Err(e)) => return Err(refusal("watching nodes", &e)),
        };
        let mut events = futures::stream::select(
            node_stream.map_ok(|e| Event::Node(Box::new(e))).boxed(),
            ds_stream.map_ok(|e| Event::DaemonSet(Box::new(e))).boxed(),
        );
        // Until a watch breaks, the next round resumes where this one ends.
        (list_nodes, list_daemon_set) = (false, false);
        loop {
            let next = tokio::select! {
                () = cluster.cancellation().cancelled() => {
                    return Err(KubeError::Cancelled { action: "waiting for the Sysbox installer".to_owned() });
                }
                () = tokio::time::sleep_until(until.into()) => {
                    return Ok((snapshot, false));
                }
                next = events.next() => next,
            };
            let before = snapshot.clone();
            match next {
                // The server closed the watches (their timeout): watch
                // again from the versions seen.
                None => break,
                // A watch broke: list again, which retries while the
                // server is away.
                Some(Err(_)) => {
                    (list_nodes, list_daemon_set) = (true, true);
                    break;
                }
                Some(Ok(Event::Node(event))) => match *event {
                    WatchEvent::Added(node) | WatchEvent::Modified(node) => {
                        node_version = node.metadata.resource_version.clone().unwrap_or_default();
                        snapshot.set_node(&node);
                    }
                    WatchEvent::Deleted(node) => {
                        node_version = node.metadata.resource_version.clone().unwrap_or_default();
                        snapshot.remove_node(&labels_of(&node).0);
                    }
                    WatchEvent::Bookmark(mark) => node_version = mark.metadata.resource_version,
                    // Typically 410 Gone: the resource version is too old.
                    WatchEvent::Error(_) => {
                        list_nodes = true;
                        break;
                    }
                },
                Some(Ok(Event::DaemonSet(event))) => match *event {
                    WatchEvent::Added(ds) | WatchEvent::Modified(ds) => {
                        ds_version = ds.metadata.resource_version.clone().unwrap_or_default();
                        snapshot.daemon_set = Some(ds);
                    }
                    WatchEvent::Deleted(ds) => {
                        ds_version = ds.metadata.resource_version.clone().unwrap_or_default();
                        snapshot.daemon_set = None;
                    }
                    WatchEvent::Bookmark(mark) => ds_version = mark.metadata.resource_version,
                    WatchEvent::Error(_) => {
                        list_daemon_set = true;
                        break;
                    }
                },
            }
            log_changes(&before, &snapshot);
            if take_step(cluster, step, &snapshot, &mut labelled).await? {
                return Ok((snapshot, true));
            }
        }
    }
}

/// Runs `step` on the snapshot and labels the nodes it asks for (once
/// each); whether the wait is over.
async fn take_step(
    cluster: &Cluster,
    step: &(dyn Fn(&Snapshot) -> Step + Sync),
    snapshot: &Snapshot,
    labelled: &mut BTreeSet<String>,
) -> Result<bool, KubeError> {
    match step(snapshot) {
        Step::Done => Ok(true),
        Step::Wait => Ok(false),
        Step::Label(nodes) => {
            for node in nodes {
                if labelled.insert(node.clone()) {
                    label_for_install(cluster, &node).await?;
                }
            }
            Ok(false)
        }
    }
}

/// Labels a node that joined during the wait `sysbox-install=yes`; a node
/// already gone again is left alone.
async fn label_for_install(cluster: &Cluster, node: &str) -> Result<(), KubeError> {
    let api = cluster.all::<Node>();
    let patch = serde_json::json!({ "metadata": { "labels": { INSTALL_LABEL: INSTALL_VALUE } } });
    let patch = Patch::Merge(&patch);
    let params = PatchParams::default();
    let action = format!("labelling node {node} {INSTALL_LABEL}={INSTALL_VALUE}");
    cluster
        .retry(&action, || async {
            match api.patch(node, &params, &patch).await {
                Ok(_) => Ok(()),
                Err(::kube::Error::Api(status)) if status.is_not_found() => Ok(()),
                Err(e) => Err(e),
            }
        })
        .await?;
    tracing::info!(node = %node, "a node that joined during the wait is a target: {action}");
    Ok(())
}

/// A short pause before listing again after a failed watch.
async fn cluster_pause(cluster: &Cluster) -> Result<(), KubeError> {
    tokio::select! {
        () = cluster.cancellation().cancelled() => Err(KubeError::Cancelled { action: "waiting for the Sysbox installer".to_owned() }),
        () = tokio::time::sleep(std::time::Duration::from_millis(500)) => Ok(()),
    }
}

/// Logs each node whose `sysbox-runtime` label changed.
fn log_changes(before: &Snapshot, after: &Snapshot) {
    for node in after.nodes.keys() {
        let (old, new) = (before.runtime_label(node), after.runtime_label(node));
        if old != new {
            tracing::info!(
                node = %node,
                sysbox_runtime = new.unwrap_or("(none)"),
                "Sysbox installer progress: node {node} is now {}",
                new.map_or_else(|| format!("without a {RUNTIME_LABEL} label"), |v| format!("{RUNTIME_LABEL}={v}")),
            );
        }
    }
}

/// Waits until at least `count` nodes carry every label of `selector`
/// (nodes of a new node group still joining the cluster). Returns their
/// names.
pub async fn wait_for_nodes(
    cluster: &Cluster,
    namespace: &str,
    daemon_set: &str,
    selector: &BTreeMap<String, String>,
    count: usize,
    started: Instant,
) -> Result<BTreeSet<String>, RolloutError> {
    let matching = |s: &Snapshot| -> BTreeSet<String> {
        s.nodes
            .iter()
            .filter(|(_, labels)| selector.iter().all(|(k, v)| labels.get(k) == Some(v)))
            .map(|(name, _)| name.clone())
            .collect()
    };
    let wanted: Vec<String> = selector.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let wanted_labels = wanted.join(",");
    // The count last logged: each change is logged once, starting with
    // what the first listing found.
    let logged = AtomicUsize::new(usize::MAX);
    let done = |s: &Snapshot| {
        let joined = matching(s).len();
        if logged.swap(joined, Ordering::Relaxed) != joined {
            tracing::info!(
                joined,
                wanted = count,
                "min_ready_nodes: {joined} of {count} node(s) carry {wanted_labels}{}",
                if joined >= count {
                    ""
                } else {
                    "; waiting for the rest to join"
                }
            );
        }
        if joined >= count {
            Step::Done
        } else {
            Step::Wait
        }
    };
    let (snapshot, finished) = watch_until(
        cluster,
        namespace,
        daemon_set,
        cluster.deadline(),
        &done,
        None,
    )
    .await?;
    let found = matching(&snapshot);
    if finished {
        return Ok(found);
    }
    Err(RolloutError::NotReady(format!(
        "only {} of the {count} node(s) wanted (min_ready_nodes) carry {} after {}s{}. Nodes of a \
         new node group join the cluster once their instances boot: check the node group's \
         health, or lower min_ready_nodes.",
        found.len(),
        wanted.join(","),
        started.elapsed().as_secs(),
        if found.is_empty() {
            String::new()
        } else {
            format!(" ({})", found.into_iter().collect::<Vec<_>>().join(", "))
        }
    )))
}

/// Longest time kept at the end of an install's deadline for reading what
/// the cluster says about the nodes not ready.
const DIAGNOSIS_RESERVE: Duration = Duration::from_secs(5);
/// How long one log tail may take; clusters whose kubelets cannot be
/// reached make the API server wait long.
const LOG_TIMEOUT: Duration = Duration::from_secs(3);
/// Lines of log quoted per pod.
const LOG_LINES: i64 = 15;
/// Pods whose log is read for one diagnosis.
const MAX_LOGS: usize = 5;

/// Waits until every target node reports `sysbox-runtime=running` and the
/// install DaemonSet has rolled out. Returns the ready nodes (the targets
/// at that moment, so none that left the cluster meanwhile).
///
/// When the deadline comes first, the error explains each node not ready
/// from what the cluster shows (see [`diagnosis`]); a tenth of the
/// time, at most [`DIAGNOSIS_RESERVE`], is kept for reading it.
pub async fn wait_until_running(
    cluster: &Cluster,
    namespace: &str,
    daemon_set: &str,
    targets: &Targets,
    started: Instant,
    start: Start,
) -> Result<Vec<String>, RolloutError> {
    let step = |s: &Snapshot| {
        let current = targets.current(s);
        if s.install_done(&current) {
            return Step::Done;
        }
        match targets.unlabelled(s) {
            joined if joined.is_empty() => Step::Wait,
            joined => Step::Label(joined),
        }
    };
    let total = cluster.deadline().saturating_duration_since(started);
    let until = cluster.deadline() - (total / 10).min(DIAGNOSIS_RESERVE);
    let (snapshot, finished) =
        watch_until(cluster, namespace, daemon_set, until, &step, Some(start)).await?;
    let current = targets.current(&snapshot);
    if finished {
        return Ok(snapshot.ready(&current));
    }
    let waited = started.elapsed().as_secs();
    let pending = snapshot.describe_pending(&current);
    let mut message = if pending.is_empty() {
        format!(
            "every target node reports {RUNTIME_LABEL}={RUNNING}, but the DaemonSet \
             {namespace}/{daemon_set} did not finish rolling out its current version within \
             {waited}s."
        )
    } else {
        let explained = explain(cluster, namespace, &snapshot, &current).await;
        format!(
            "Sysbox is not running on {} of {} target node(s) after {waited}s: {}. What the \
             cluster says:\n{explained}\n",
            pending.len(),
            current.len(),
            pending.join(", "),
        )
    };
    message.push_str(&format!(
        " The installer runs as DaemonSet {namespace}/{daemon_set}: see its pods with \
         `kubectl -n {namespace} get pods -l {INSTALL_LABEL}={INSTALL_VALUE} -o wide`. What was \
         created is kept in state; apply again to keep waiting, or raise timeouts.create."
    ));
    Err(RolloutError::NotReady(message))
}

/// One line per target not ready, from a fresh look at the nodes, the
/// DaemonSet's pods, the events about them and the logs of failing pods.
/// A read the cluster refuses is said in the text; the node's label from
/// the watch stands in for what could not be read.
async fn explain(
    cluster: &Cluster,
    namespace: &str,
    snapshot: &Snapshot,
    targets: &BTreeSet<String>,
) -> String {
    let nodes_api = cluster.all::<Node>();
    let pods_api = cluster.namespaced::<Pod>(namespace);
    let events_api = cluster.namespaced::<KubeEvent>(namespace);
    let pod_labels = format!("{INSTALL_LABEL}={INSTALL_VALUE}");
    let pod_params = ListParams::default().labels(&pod_labels);
    let event_params = ListParams::default().fields("involvedObject.kind=Pod");
    let all_nodes = ListParams::default();
    let (nodes, pods, events) = tokio::join!(
        cluster.retry("listing nodes", || nodes_api.list(&all_nodes)),
        cluster.retry("listing the installer's pods", || pods_api
            .list(&pod_params)),
        cluster.retry("listing the events about the installer's pods", || {
            events_api.list(&event_params)
        }),
    );
    let (nodes, pods) = match (nodes, pods) {
        (Ok(nodes), Ok(pods)) => (nodes.items, pods.items),
        (Err(e), _) | (_, Err(e)) => {
            let lines = snapshot.describe_pending(targets);
            return format!(
                "- {} (the cluster could not be read for more: {e})",
                lines.join("\n- ")
            );
        }
    };
    // Events only add the scheduler's message when the pod lacks it.
    let events = events.map(|e| e.items).unwrap_or_default();
    let observed = Observed {
        nodes: &nodes,
        daemon_set: snapshot.daemon_set.as_ref(),
        pods: &pods,
        events: &events,
        stale: &snapshot.stale,
        ..Observed::default()
    };
    let first = diagnosis::diagnose(targets, &observed, namespace);
    let wanted: Vec<(String, LogParams)> = first
        .iter()
        .filter_map(diagnosis::wants_log)
        .take(MAX_LOGS)
        .map(|(pod, container, previous)| {
            let params = LogParams {
                container: container.map(str::to_owned),
                previous,
                tail_lines: Some(LOG_LINES),
                ..LogParams::default()
            };
            (pod.to_owned(), params)
        })
        .collect();
    // Within what is left of the deadline, but long enough to be answered.
    let log_timeout = LOG_TIMEOUT
        .min(cluster.deadline().saturating_duration_since(Instant::now()))
        .max(Duration::from_millis(500));
    let tails = futures::future::join_all(wanted.iter().map(|(pod, params)| {
        let api = &pods_api;
        async move {
            let tail: LogTail = match tokio::time::timeout(log_timeout, api.logs(pod, params)).await
            {
                Ok(Ok(text)) => Ok(text),
                Ok(Err(e)) => Err(describe(&e)),
                Err(_) => Err(format!(
                    "no answer within {:.1}s",
                    log_timeout.as_secs_f32()
                )),
            };
            (pod.clone(), tail)
        }
    }))
    .await;
    let logs: BTreeMap<String, LogTail> = tails.into_iter().collect();
    let observed = Observed {
        logs: &logs,
        ..observed
    };
    diagnosis::diagnose(targets, &observed, namespace)
        .iter()
        .map(|d| format!("- {d}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Waits until no node reports `sysbox-runtime=running` or `removing`
/// (the cleanup DaemonSet `daemon_set` has uninstalled Sysbox).
pub async fn wait_until_removed(
    cluster: &Cluster,
    namespace: &str,
    daemon_set: &str,
    started: Instant,
) -> Result<(), RolloutError> {
    let done = |s: &Snapshot| {
        if s.uninstall_done() {
            Step::Done
        } else {
            Step::Wait
        }
    };
    let (snapshot, finished) = watch_until(
        cluster,
        namespace,
        daemon_set,
        cluster.deadline(),
        &done,
        None,
    )
    .await?;
    if finished {
        return Ok(());
    }
    let left: Vec<String> = snapshot
        .nodes
        .keys()
        .filter_map(|n| {
            snapshot
                .runtime_label(n)
                .filter(|v| matches!(*v, RUNNING | REMOVING))
                .map(|v| format!("{n} ({RUNTIME_LABEL}={v})"))
        })
        .collect();
    Err(RolloutError::NotReady(format!(
        "Sysbox was not removed from {} node(s) within {}s: {}. The cleanup runs as DaemonSet \
         {namespace}/{daemon_set}: see `kubectl -n {namespace} logs ds/{daemon_set}`. The resource \
         stays in state; destroy again to keep waiting, or raise timeouts.delete.",
        left.len(),
        started.elapsed().as_secs(),
        left.join(", ")
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::DaemonSetStatus;

    fn snapshot(labels: &[(&str, Option<&str>)]) -> Snapshot {
        Snapshot {
            nodes: labels
                .iter()
                .map(|(n, v)| {
                    let labels = v
                        .map(|v| BTreeMap::from([(RUNTIME_LABEL.to_owned(), v.to_owned())]))
                        .unwrap_or_default();
                    ((*n).to_owned(), labels)
                })
                .collect(),
            ..Snapshot::default()
        }
    }

    fn rolled(
        generation: i64,
        observed: i64,
        desired: i32,
        updated: i32,
        available: i32,
    ) -> DaemonSet {
        let mut ds = DaemonSet::default();
        ds.metadata.generation = Some(generation);
        ds.status = Some(DaemonSetStatus {
            observed_generation: Some(observed),
            desired_number_scheduled: desired,
            updated_number_scheduled: Some(updated),
            number_available: Some(available),
            ..DaemonSetStatus::default()
        });
        ds
    }

    fn targets(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn install_needs_every_label_and_a_finished_rollout() {
        let mut s = snapshot(&[
            ("a", Some("running")),
            ("b", Some("installing")),
            ("c", None),
        ]);
        s.daemon_set = Some(rolled(1, 1, 2, 2, 2));
        assert!(!s.install_done(&targets(&["a", "b"])));
        assert!(s.install_done(&targets(&["a"])));
        assert_eq!(s.ready(&targets(&["a", "b", "c"])), vec!["a"]);
        s.daemon_set = Some(rolled(2, 1, 2, 2, 2));
        assert!(
            !s.install_done(&targets(&["a"])),
            "a new generation not yet observed"
        );
        s.daemon_set = Some(rolled(2, 2, 2, 1, 2));
        assert!(
            !s.install_done(&targets(&["a"])),
            "one pod still on the old version"
        );
        s.daemon_set = None;
        assert!(!s.install_done(&targets(&["a"])));
    }

    #[test]
    fn pending_nodes_name_their_label() {
        let s = snapshot(&[
            ("a", Some("running")),
            ("b", Some("installing")),
            ("c", None),
        ]);
        assert_eq!(
            s.describe_pending(&targets(&["a", "b", "c", "d"])),
            vec![
                "b (sysbox-runtime=installing)",
                "c (no sysbox-runtime label)",
                "d (no such node)"
            ]
        );
    }

    #[test]
    fn selected_targets_follow_the_nodes_present() {
        let group = BTreeMap::from([("group".to_owned(), "cvm".to_owned())]);
        let node = |labels: &[(&str, &str)]| -> BTreeMap<String, String> {
            labels
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let wanted = Targets {
            named: targets(&["named"]),
            selector: Some(group),
        };
        let mut s = Snapshot::default();
        s.nodes.insert(
            "old".to_owned(),
            node(&[
                ("group", "cvm"),
                (INSTALL_LABEL, INSTALL_VALUE),
                (RUNTIME_LABEL, RUNNING),
            ]),
        );
        s.nodes
            .insert("other".to_owned(), node(&[("group", "web")]));
        assert_eq!(wanted.current(&s), targets(&["named", "old"]));
        assert!(wanted.unlabelled(&s).is_empty());
        // The old node drained and deleted, a new one joined.
        s.nodes.remove("old");
        s.nodes.insert("new".to_owned(), node(&[("group", "cvm")]));
        assert_eq!(wanted.current(&s), targets(&["named", "new"]));
        assert_eq!(
            wanted.unlabelled(&s),
            vec!["new"],
            "absent named nodes are not labelled"
        );
        s.nodes.insert(
            "new".to_owned(),
            node(&[
                ("group", "cvm"),
                (INSTALL_LABEL, INSTALL_VALUE),
                (RUNTIME_LABEL, RUNNING),
            ]),
        );
        s.nodes
            .insert("named".to_owned(), node(&[(RUNTIME_LABEL, RUNNING)]));
        s.daemon_set = Some(rolled(1, 1, 2, 2, 2));
        assert!(s.install_done(&wanted.current(&s)));
        assert_eq!(s.ready(&wanted.current(&s)), vec!["named", "new"]);
    }

    fn node(name: &str, runtime: Option<&str>, tainted: bool) -> Node {
        let mut node = Node::default();
        node.metadata.name = Some(name.to_owned());
        node.metadata.labels =
            runtime.map(|v| BTreeMap::from([(RUNTIME_LABEL.to_owned(), v.to_owned())]));
        if tainted {
            node.spec = Some(k8s_openapi::api::core::v1::NodeSpec {
                taints: Some(vec![k8s_openapi::api::core::v1::Taint {
                    key: RUNTIME_LABEL.to_owned(),
                    value: Some("not-running".to_owned()),
                    effect: "NoSchedule".to_owned(),
                    ..Default::default()
                }]),
                ..Default::default()
            });
        }
        node
    }

    #[test]
    fn a_label_from_the_previous_installer_counts_once_the_new_one_has_run() {
        let mut s = Snapshot::default();
        s.set_node(&node("a", Some(RUNNING), false));
        s.stale.insert("a".to_owned());
        s.daemon_set = Some(rolled(2, 2, 1, 1, 1));
        let a = targets(&["a"]);
        assert!(!s.install_done(&a), "the label is from before");
        assert_eq!(
            s.describe_pending(&a),
            vec![
                "a (sysbox-runtime=running from the previous installer; the current one has not \
                 started there)"
            ]
        );
        // The new pod's script taints the node first.
        s.set_node(&node("a", Some(RUNNING), true));
        assert!(s.stale.is_empty());
        assert!(!s.install_done(&a), "still tainted");
        s.set_node(&node("a", Some("installing"), true));
        s.set_node(&node("a", Some(RUNNING), false));
        assert!(s.install_done(&a));
        // A label other than running also shows the script has started.
        s.stale.insert("a".to_owned());
        s.set_node(&node("a", None, false));
        assert!(s.stale.is_empty());
        s.stale.insert("a".to_owned());
        s.remove_node("a");
        assert!(s.stale.is_empty() && s.tainted.is_empty());
    }

    #[test]
    fn targets_found_after_the_baseline_are_waited_for_before_the_watch_shows_them() {
        let wanted = Targets {
            named: BTreeSet::new(),
            selector: Some(BTreeMap::from([("group".to_owned(), "cvm".to_owned())])),
        };
        // The baseline predates the nodes; the DaemonSet has not scheduled anything yet.
        let mut s = Snapshot {
            expected: targets(&["joined"]),
            daemon_set: Some(rolled(1, 1, 0, 0, 0)),
            ..Snapshot::default()
        };
        assert_eq!(wanted.current(&s), targets(&["joined"]));
        assert!(!s.install_done(&wanted.current(&s)));
        s.set_node(&node("joined", Some(RUNNING), false));
        s.daemon_set = Some(rolled(1, 1, 1, 1, 1));
        assert!(s.install_done(&wanted.current(&s)));
        // Deleted while waited for: no longer a target.
        s.remove_node("joined");
        assert!(wanted.current(&s).is_empty());
    }

    #[test]
    fn a_new_generation_the_controller_has_not_seen_replaces_the_pods() {
        let mut created = DaemonSet::default();
        created.metadata.generation = Some(1);
        assert!(pods_replaced(&created), "created: no status yet");
        assert!(pods_replaced(&rolled(3, 2, 2, 2, 2)), "a new template");
        assert!(!pods_replaced(&rolled(2, 2, 2, 2, 2)), "applied unchanged");
    }

    #[test]
    fn uninstall_waits_for_running_and_removing_labels() {
        assert!(!snapshot(&[("a", Some("running"))]).uninstall_done());
        assert!(!snapshot(&[("a", Some("removing"))]).uninstall_done());
        assert!(snapshot(&[("a", None), ("b", Some("installing"))]).uninstall_done());
    }
}
