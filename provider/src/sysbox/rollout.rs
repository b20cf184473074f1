//! Waiting for the Sysbox installer: a watch on the nodes and on the
//! installer's DaemonSet, until every target node reports
//! `sysbox-runtime=running` (install) or no node does any more (uninstall).
//!
//! The installer reports only through node labels, and its pod keeps
//! running after it finishes, so the DaemonSet's status alone cannot say
//! "done". After an image change the old `running` label is still there
//! until the new pod starts, so an install also waits for the DaemonSet's
//! rollout (every scheduled pod updated and available) before it trusts the
//! labels.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use ::kube::api::{ListParams, WatchEvent, WatchParams};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::Node;

use super::installer::{REMOVING, RUNNING, RUNTIME_LABEL};
use crate::kube::cluster::{is_transient, refusal};
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
    /// The DaemonSet being watched, if it exists.
    pub daemon_set: Option<DaemonSet>,
}

impl Snapshot {
    /// A node's `sysbox-runtime` label.
    pub fn runtime_label(&self, node: &str) -> Option<&str> {
        self.nodes.get(node)?.get(RUNTIME_LABEL).map(String::as_str)
    }

    /// Target nodes on which Sysbox runs, in name order.
    pub fn ready(&self, targets: &BTreeSet<String>) -> Vec<String> {
        targets
            .iter()
            .filter(|n| self.runtime_label(n) == Some(RUNNING))
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
            .filter(|n| self.runtime_label(n) != Some(RUNNING))
            .map(
                |n| match (self.nodes.contains_key(n), self.runtime_label(n)) {
                    (false, _) => format!("{n} (no such node)"),
                    (true, Some(value)) => format!("{n} ({RUNTIME_LABEL}={value})"),
                    (true, None) => format!("{n} (no {RUNTIME_LABEL} label)"),
                },
            )
            .collect()
    }
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

/// Lists the nodes and the DaemonSet, then watches both until `done`
/// holds or the cluster's deadline passes. Logs each change of a node's
/// `sysbox-runtime` label. Returns the last snapshot either way.
async fn watch_until(
    cluster: &Cluster,
    namespace: &str,
    daemon_set: &str,
    done: &(dyn Fn(&Snapshot) -> bool + Sync),
) -> Result<(Snapshot, bool), KubeError> {
    let nodes_api = cluster.all::<Node>();
    let ds_api = cluster.namespaced::<DaemonSet>(namespace);
    let ds_fields = format!("metadata.name={daemon_set}");
    let all_nodes = ListParams::default();
    let ds_by_name = ListParams::default().fields(&ds_fields);
    let mut snapshot = Snapshot::default();
    loop {
        let listed = cluster
            .retry("listing nodes", || nodes_api.list(&all_nodes))
            .await?;
        let node_version = listed.metadata.resource_version.clone().unwrap_or_default();
        let before = snapshot.clone();
        snapshot.nodes = listed.items.iter().map(labels_of).collect();
        let action = format!("reading DaemonSet {namespace}/{daemon_set}");
        let ds_list = cluster.retry(&action, || ds_api.list(&ds_by_name)).await?;
        let ds_version = ds_list
            .metadata
            .resource_version
            .clone()
            .unwrap_or_default();
        snapshot.daemon_set = ds_list.items.into_iter().next();
        log_changes(&before, &snapshot);
        if done(&snapshot) {
            return Ok((snapshot, true));
        }

        let remaining = cluster.deadline().saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Ok((snapshot, false));
        }
        // The server ends a watch after its timeout; shorter than the
        // deadline so that the loop re-lists and checks again.
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
                tracing::warn!(error = %crate::kube::cluster::describe(&e), "watch failed; listing again");
                cluster_pause(cluster).await?;
                continue;
            }
            (Err(e), _) | (_, Err(e)) => return Err(refusal("watching nodes", &e)),
        };
        let mut events = futures::stream::select(
            node_stream.map_ok(|e| Event::Node(Box::new(e))).boxed(),
            ds_stream.map_ok(|e| Event::DaemonSet(Box::new(e))).boxed(),
        );
        loop {
            let next = tokio::select! {
                () = cluster.cancellation().cancelled() => {
                    return Err(KubeError::Cancelled { action: "waiting for the Sysbox installer".to_owned() });
                }
                () = tokio::time::sleep_until(cluster.deadline().into()) => {
                    return Ok((snapshot, false));
                }
                next = events.next() => next,
            };
            let before = snapshot.clone();
            match next {
                // The server closed the watch (its timeout) or it broke:
                // list again, which retries while the server is away.
                None | Some(Err(_)) => break,
                Some(Ok(Event::Node(event))) => match *event {
                    WatchEvent::Added(node) | WatchEvent::Modified(node) => {
                        let (name, labels) = labels_of(&node);
                        snapshot.nodes.insert(name, labels);
                    }
                    WatchEvent::Deleted(node) => {
                        snapshot.nodes.remove(&labels_of(&node).0);
                    }
                    WatchEvent::Bookmark(_) => {}
                    // Typically 410 Gone: the resource version is too old.
                    WatchEvent::Error(_) => break,
                },
                Some(Ok(Event::DaemonSet(event))) => match *event {
                    WatchEvent::Added(ds) | WatchEvent::Modified(ds) => {
                        snapshot.daemon_set = Some(ds);
                    }
                    WatchEvent::Deleted(_) => snapshot.daemon_set = None,
                    WatchEvent::Bookmark(_) => {}
                    WatchEvent::Error(_) => break,
                },
            }
            log_changes(&before, &snapshot);
            if done(&snapshot) {
                return Ok((snapshot, true));
            }
        }
    }
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
        joined >= count
    };
    let (snapshot, finished) = watch_until(cluster, namespace, daemon_set, &done).await?;
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

/// Waits until every node in `targets` reports `sysbox-runtime=running`
/// and the install DaemonSet has rolled out. Returns the ready nodes.
pub async fn wait_until_running(
    cluster: &Cluster,
    namespace: &str,
    daemon_set: &str,
    targets: &BTreeSet<String>,
    started: Instant,
) -> Result<Vec<String>, RolloutError> {
    let done = |s: &Snapshot| s.install_done(targets);
    let (snapshot, finished) = watch_until(cluster, namespace, daemon_set, &done).await?;
    if finished {
        return Ok(snapshot.ready(targets));
    }
    let pending = snapshot.describe_pending(targets);
    let mut message = format!(
        "Sysbox is not running on {} of {} target node(s) after {}s: {}.",
        pending.len(),
        targets.len(),
        started.elapsed().as_secs(),
        pending.join(", "),
    );
    if pending.is_empty() {
        message = format!(
            "every target node reports {RUNTIME_LABEL}={RUNNING}, but the DaemonSet \
             {namespace}/{daemon_set} did not finish rolling out its current version within {}s.",
            started.elapsed().as_secs()
        );
    }
    message.push_str(&format!(
        " The installer runs as DaemonSet {namespace}/{daemon_set}: see its pods with \
         `kubectl -n {namespace} get pods -l sysbox-install=yes -o wide` and their logs with \
         `kubectl -n {namespace} logs -l sysbox-install=yes`. What was created is kept in state; \
         apply again to keep waiting, or raise timeouts.create."
    ));
    Err(RolloutError::NotReady(message))
}

/// Waits until no node reports `sysbox-runtime=running` or `removing`
/// (the cleanup DaemonSet `daemon_set` has uninstalled Sysbox).
pub async fn wait_until_removed(
    cluster: &Cluster,
    namespace: &str,
    daemon_set: &str,
    started: Instant,
) -> Result<(), RolloutError> {
    let done = |s: &Snapshot| s.uninstall_done();
    let (snapshot, finished) = watch_until(cluster, namespace, daemon_set, &done).await?;
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
            daemon_set: None,
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
    fn uninstall_waits_for_running_and_removing_labels() {
        assert!(!snapshot(&[("a", Some("running"))]).uninstall_done());
        assert!(!snapshot(&[("a", Some("removing"))]).uninstall_done());
        assert!(snapshot(&[("a", None), ("b", Some("installing"))]).uninstall_done());
    }
}
