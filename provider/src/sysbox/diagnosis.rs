//! Why the Sysbox installer has not finished on a node, in the cluster's
//! own words: given the target nodes, the installer DaemonSet, its pods and
//! the events about them, one finding per node with what the administrator
//! can do about it.
//!
//! The rules follow what Kubernetes does with a DaemonSet:
//! * the DaemonSet controller creates no pod for a node with a `NoSchedule`
//!   or `NoExecute` taint the pod template does not tolerate (it adds a few
//!   tolerations of its own, [`DAEMON_SET_TOLERATIONS`]);
//! * a pod the scheduler cannot place stays `Pending` with the condition
//!   `PodScheduled=False` (reason `Unschedulable`) and a `FailedScheduling`
//!   event, both carrying the scheduler's message;
//! * a failing container shows in the pod's `containerStatuses`: waiting
//!   (`CrashLoopBackOff`, `ImagePullBackOff`, …) with the last termination.
//!
//! Everything here is pure: the caller lists the objects and fetches the
//! log tails.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Event, Node, Pod, Taint, Toleration};

use crate::kube::pod_status::{
    ContainerTrouble, container_trouble, is_scheduled, scheduler_message,
};

use super::installer::{INSTALL_LABEL, INSTALL_VALUE, RUNNING, RUNTIME_LABEL, is_installer_taint};

/// Tolerations the DaemonSet controller adds to every pod of a DaemonSet
/// that does not use the host network (the installer does not), as
/// `(key, effect)` with operator `Exists`.
const DAEMON_SET_TOLERATIONS: &[(&str, &str)] = &[
    ("node.kubernetes.io/not-ready", "NoExecute"),
    ("node.kubernetes.io/unreachable", "NoExecute"),
    ("node.kubernetes.io/disk-pressure", "NoSchedule"),
    ("node.kubernetes.io/memory-pressure", "NoSchedule"),
    ("node.kubernetes.io/pid-pressure", "NoSchedule"),
    ("node.kubernetes.io/unschedulable", "NoSchedule"),
];

/// Taint effects that keep a pod off a node (`PreferNoSchedule` only
/// discourages the scheduler).
fn blocks_scheduling(effect: &str) -> bool {
    matches!(effect, "NoSchedule" | "NoExecute")
}

/// Whether `toleration` tolerates `taint`, as Kubernetes decides it: an
/// empty effect matches every effect, an empty key every key; `Exists`
/// matches any value, `Equal` (the default) only the same value.
fn tolerates(toleration: &Toleration, taint: &Taint) -> bool {
    if let Some(effect) = toleration.effect.as_deref().filter(|e| !e.is_empty())
        && effect != taint.effect
    {
        return false;
    }
    if let Some(key) = toleration.key.as_deref().filter(|k| !k.is_empty())
        && key != taint.key
    {
        return false;
    }
    match toleration.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        "Equal" | "" => {
            toleration.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or("")
        }
        _ => false,
    }
}

/// The taints among `taints` that keep a pod with `tolerations` off the
/// node: the `NoSchedule` and `NoExecute` ones no toleration matches.
pub fn untolerated_taints<'a>(tolerations: &[Toleration], taints: &'a [Taint]) -> Vec<&'a Taint> {
    taints
        .iter()
        .filter(|taint| blocks_scheduling(&taint.effect))
        .filter(|taint| !tolerations.iter().any(|t| tolerates(t, taint)))
        .collect()
}

/// The tolerations the pods of `daemon_set` get: its pod template's plus
/// the DaemonSet controller's own.
pub fn daemon_set_pod_tolerations(daemon_set: &DaemonSet) -> Vec<Toleration> {
    let mut tolerations: Vec<Toleration> = daemon_set
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|s| s.tolerations.clone())
        .unwrap_or_default();
    tolerations.extend(
        DAEMON_SET_TOLERATIONS
            .iter()
            .map(|(key, effect)| Toleration {
                key: Some((*key).to_owned()),
                operator: Some("Exists".to_owned()),
                effect: Some((*effect).to_owned()),
                ..Toleration::default()
            }),
    );
    tolerations
}

/// A taint as `kubectl taint` writes it: `key=value:Effect`.
pub fn taint_text(taint: &Taint) -> String {
    match taint.value.as_deref().filter(|v| !v.is_empty()) {
        Some(value) => format!("{}={value}:{}", taint.key, taint.effect),
        None => format!("{}:{}", taint.key, taint.effect),
    }
}

/// A node's taints.
pub fn node_taints(node: &Node) -> &[Taint] {
    node.spec
        .as_ref()
        .and_then(|s| s.taints.as_deref())
        .unwrap_or_default()
}

/// `status (reason: message)` of a node whose `Ready` condition is not
/// `True`; `None` for a Ready node.
fn node_not_ready(node: &Node) -> Option<String> {
    let conditions = node.status.as_ref()?.conditions.as_ref()?;
    let Some(ready) = conditions.iter().find(|c| c.type_ == "Ready") else {
        return Some("no Ready condition reported".to_owned());
    };
    if ready.status == "True" {
        return None;
    }
    let mut text = format!("Ready={}", ready.status);
    let detail: Vec<&str> = [ready.reason.as_deref(), ready.message.as_deref()]
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty())
        .collect();
    if !detail.is_empty() {
        text.push_str(&format!(" ({})", detail.join(": ")));
    }
    Some(text)
}

/// The node a DaemonSet pod is for: where it is bound, or (not yet bound)
/// the node its required node affinity names, as the DaemonSet controller
/// writes it.
pub fn pod_node(pod: &Pod) -> Option<&str> {
    let spec = pod.spec.as_ref()?;
    if let Some(name) = spec.node_name.as_deref().filter(|n| !n.is_empty()) {
        return Some(name);
    }
    spec.affinity
        .as_ref()?
        .node_affinity
        .as_ref()?
        .required_during_scheduling_ignored_during_execution
        .as_ref()?
        .node_selector_terms
        .iter()
        .flat_map(|term| term.match_fields.iter().flatten())
        .find(|r| r.key == "metadata.name" && r.operator == "In")
        .and_then(|r| r.values.as_ref()?.first())
        .map(String::as_str)
}

/// The log tail of a pod, or why there is none.
pub type LogTail = Result<String, String>;

/// What the cluster shows about the installer, as listed by the caller.
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    /// The nodes (all of them, or at least the targets).
    pub nodes: &'a [Node],
    /// The install DaemonSet, if it exists.
    pub daemon_set: Option<&'a DaemonSet>,
    /// The DaemonSet's pods.
    pub pods: &'a [Pod],
    /// Events about those pods (others are ignored).
    pub events: &'a [Event],
    /// Log tails by pod name, for the pods the caller asked about.
    pub logs: &'a BTreeMap<String, LogTail>,
    /// Nodes whose `sysbox-runtime=running` label is from before the
    /// DaemonSet's current pod template: not ready yet.
    pub stale: &'a BTreeSet<String>,
}

/// No log tails.
static NO_LOGS: BTreeMap<String, LogTail> = BTreeMap::new();
/// No stale labels.
static NO_NODES: BTreeSet<String> = BTreeSet::new();

impl Default for Observed<'_> {
    fn default() -> Self {
        Self {
            nodes: &[],
            daemon_set: None,
            pods: &[],
            events: &[],
            logs: &NO_LOGS,
            stale: &NO_NODES,
        }
    }
}

/// What the cluster says about one target node on which Sysbox does not
/// run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// No node has this name.
    NoSuchNode,
    /// The node lacks `sysbox-install=yes`, so the DaemonSet does not
    /// select it.
    NotSelected,
    /// The install DaemonSet does not exist.
    NoDaemonSet,
    /// The DaemonSet made no pod for the node.
    NoPod {
        /// Taints the pod would not tolerate, as `key=value:Effect`.
        untolerated: Vec<String>,
    },
    /// The pod is not scheduled.
    Unschedulable {
        /// The pod's name.
        pod: String,
        /// The scheduler's message, if it gave one yet.
        message: Option<String>,
        /// Taints of the node the pod does not tolerate.
        untolerated: Vec<String>,
    },
    /// The pod is on the node but a container does not run.
    Failing {
        /// The pod's name.
        pod: String,
        /// The container that fails.
        trouble: ContainerTrouble,
    },
    /// The pod is on the node, not running yet, with nothing failing.
    Starting {
        /// The pod's name.
        pod: String,
        /// Its phase.
        phase: String,
    },
    /// The pod runs, but the node does not report Sysbox running yet.
    Installing {
        /// The pod's name.
        pod: String,
        /// The node's `sysbox-runtime` label, if any.
        label: Option<String>,
    },
}

/// One not-ready target node: what the cluster says and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeDiagnosis {
    /// The node's name.
    pub node: String,
    /// The node's `Ready` condition when it is not `True`.
    pub not_ready: Option<String>,
    /// What is in the way.
    pub finding: Finding,
    /// The pod's log tail (or why there is none), when it was fetched.
    pub log: Option<LogTail>,
    /// Namespace of the installer, for the commands suggested.
    pub namespace: String,
}

/// The installer pod that speaks for `node`: of the pods for it, one not
/// being deleted, the newest.
fn pod_for<'a>(pods: &'a [Pod], node: &str) -> Option<&'a Pod> {
    pods.iter()
        .filter(|p| pod_node(p) == Some(node))
        .max_by_key(|p| {
            (
                p.metadata.deletion_timestamp.is_none(),
                p.metadata.creation_timestamp.clone(),
            )
        })
}

/// Whether the pod's log is worth fetching for a diagnosis: its container
/// failed or it runs without the node reporting Sysbox.
pub fn wants_log(diagnosis: &NodeDiagnosis) -> Option<(&str, Option<&str>, bool)> {
    match &diagnosis.finding {
        Finding::Failing { pod, trouble } => Some((
            pod.as_str(),
            Some(trouble.container.as_str()),
            trouble.last_state.is_some(),
        )),
        Finding::Installing { pod, .. } => Some((pod.as_str(), None, false)),
        _ => None,
    }
}

/// Explains each target node that does not report `sysbox-runtime=running`,
/// in name order. `namespace` is the installer's, for suggested commands.
pub fn diagnose<'t>(
    targets: impl IntoIterator<Item = &'t String>,
    observed: &Observed<'_>,
    namespace: &str,
) -> Vec<NodeDiagnosis> {
    let nodes: BTreeMap<&str, &Node> = observed
        .nodes
        .iter()
        .filter_map(|n| Some((n.metadata.name.as_deref()?, n)))
        .collect();
    let mut out = Vec::new();
    for target in targets {
        let node = nodes.get(target.as_str()).copied();
        let labels = node.and_then(|n| n.metadata.labels.as_ref());
        let label = |key: &str| labels.and_then(|l| l.get(key)).map(String::as_str);
        let installing = node.is_some_and(|n| node_taints(n).iter().any(is_installer_taint));
        if label(RUNTIME_LABEL) == Some(RUNNING) && !installing && !observed.stale.contains(target)
        {
            continue;
        }
        let pod = pod_for(observed.pods, target);
        let finding = match (node, pod) {
            (None, _) => Finding::NoSuchNode,
            (Some(_), None) if observed.daemon_set.is_none() => Finding::NoDaemonSet,
            (Some(_), None) if label(INSTALL_LABEL) != Some(INSTALL_VALUE) => Finding::NotSelected,
            (Some(node), None) => Finding::NoPod {
                untolerated: observed
                    .daemon_set
                    .map(|ds| {
                        untolerated_taints(&daemon_set_pod_tolerations(ds), node_taints(node))
                            .into_iter()
                            .map(taint_text)
                            .collect()
                    })
                    .unwrap_or_default(),
            },
            (Some(node), Some(pod)) => {
                pod_finding(node, pod, observed.events, label(RUNTIME_LABEL))
            }
        };
        let pod_name = pod.and_then(|p| p.metadata.name.clone());
        let mut diagnosis = NodeDiagnosis {
            node: target.clone(),
            not_ready: node.and_then(node_not_ready),
            finding,
            log: None,
            namespace: namespace.to_owned(),
        };
        if wants_log(&diagnosis).is_some() {
            diagnosis.log = pod_name.and_then(|p| observed.logs.get(&p).cloned());
        }
        out.push(diagnosis);
    }
    out
}

fn pod_finding(node: &Node, pod: &Pod, events: &[Event], label: Option<&str>) -> Finding {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let status = pod.status.as_ref();
    if !is_scheduled(pod) {
        let tolerations = pod
            .spec
            .as_ref()
            .and_then(|s| s.tolerations.as_deref())
            .unwrap_or_default();
        return Finding::Unschedulable {
            pod: name,
            message: scheduler_message(pod, events),
            untolerated: untolerated_taints(tolerations, node_taints(node))
                .into_iter()
                .map(taint_text)
                .collect(),
        };
    }
    let trouble = status
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|c| c.iter().find_map(container_trouble));
    if let Some(trouble) = trouble {
        return Finding::Failing { pod: name, trouble };
    }
    let phase = status
        .and_then(|s| s.phase.clone())
        .unwrap_or_else(|| "Pending".to_owned());
    if phase == "Running" {
        Finding::Installing {
            pod: name,
            label: label.map(str::to_owned),
        }
    } else {
        Finding::Starting { pod: name, phase }
    }
}

/// What a scheduler message is about, for the advice that follows it.
fn scheduler_advice(message: &str) -> &'static str {
    if message.contains("Too many pods") || message.contains("Insufficient") {
        "free capacity on the node (move or delete pods there, or give it more allocatable \
         resources) so that the installer pod fits"
    } else if message.contains("untolerated taint") || message.contains("had taint") {
        "remove the taint, or run terraform apply again so that cvm_sysbox plans a toleration \
         for it"
    } else if message.contains("node affinity") || message.contains("node selector") {
        "the node no longer matches the installer's node selection: check its labels"
    } else {
        "see the pod's events"
    }
}

impl NodeDiagnosis {
    /// What the cluster says and what to do, without the node's name.
    pub fn sentence(&self) -> String {
        Sentence(self).to_string()
    }
}

impl fmt::Display for NodeDiagnosis {
    /// `node: ` and the [`sentence`](Self::sentence).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.node, Sentence(self))
    }
}

/// A diagnosis told without its node's name.
struct Sentence<'a>(&'a NodeDiagnosis);

impl fmt::Display for Sentence<'_> {
    /// One sentence or two: what the cluster says, then what to do.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let this = self.0;
        let ns = &this.namespace;
        if let Some(not_ready) = &this.not_ready {
            write!(f, "the node is not Ready ({not_ready}); ")?;
        }
        match &this.finding {
            Finding::NoSuchNode => write!(
                f,
                "no such node. Check the name, or remove it from the targets."
            )?,
            Finding::NotSelected => write!(
                f,
                "the node lacks the label {INSTALL_LABEL}={INSTALL_VALUE}, so the installer \
                 DaemonSet does not select it. Apply again to label it."
            )?,
            Finding::NoDaemonSet => write!(
                f,
                "the installer DaemonSet does not exist. Apply again to create it."
            )?,
            Finding::NoPod { untolerated } if !untolerated.is_empty() => write!(
                f,
                "no installer pod: the DaemonSet does not tolerate the node's taint {}. Remove \
                 the taint, or run terraform apply again so that cvm_sysbox plans a toleration \
                 for it.",
                untolerated.join(", ")
            )?,
            Finding::NoPod { .. } => write!(
                f,
                "no installer pod yet: the DaemonSet controller has not created one. Check that \
                 kube-controller-manager runs (`kubectl -n {ns} describe daemonset`)."
            )?,
            Finding::Unschedulable {
                pod,
                message,
                untolerated,
            } => {
                write!(f, "installer pod {pod} is Pending, not scheduled")?;
                match message {
                    Some(message) => {
                        write!(f, ": the scheduler says {:?}", message.trim())?;
                        write!(f, ". To fix: {}.", scheduler_advice(message))?;
                    }
                    None if !untolerated.is_empty() => write!(
                        f,
                        ": the pod does not tolerate the node's taint {}. Remove the taint, or \
                         run terraform apply again so that cvm_sysbox plans a toleration for it.",
                        untolerated.join(", ")
                    )?,
                    None => write!(
                        f,
                        " and the scheduler gave no reason yet. Check that kube-scheduler runs \
                         (`kubectl -n {ns} describe pod {pod}`)."
                    )?,
                }
            }
            Finding::Failing { pod, trouble } => {
                write!(
                    f,
                    "installer pod {pod} is failing: container {} is {}",
                    trouble.container, trouble.state
                )?;
                if let Some(last) = &trouble.last_state {
                    write!(f, "; its last run {last}")?;
                }
                if trouble.restarts > 0 {
                    write!(f, " ({} restart(s))", trouble.restarts)?;
                }
                write!(
                    f,
                    ". See the pod's log (`kubectl -n {ns} logs {pod} --previous`) and fix what \
                     it reports; a wrong installer_image or a node the installer does not \
                     support are the usual causes."
                )?;
            }
            Finding::Starting { pod, phase } => write!(
                f,
                "installer pod {pod} is {phase}, its container not started yet. See \
                 `kubectl -n {ns} describe pod {pod}`, or raise timeouts.create if the image \
                 pull is slow."
            )?,
            Finding::Installing { pod, label } => write!(
                f,
                "installer pod {pod} runs, but the node reports {}. The installer is still at \
                 work or stuck: see the pod's log (`kubectl -n {ns} logs {pod}`), or raise \
                 timeouts.create.",
                match label.as_deref() {
                    None => format!("no {RUNTIME_LABEL} label yet"),
                    Some(RUNNING) => format!(
                        "{RUNTIME_LABEL}={RUNNING} from before (not yet what this installer \
                         reports)"
                    ),
                    Some(v) => format!("{RUNTIME_LABEL}={v}"),
                }
            )?,
        }
        match &this.log {
            Some(Ok(tail)) if !tail.trim().is_empty() => {
                write!(f, " Last lines of its log:")?;
                for line in tail.trim_end().lines() {
                    write!(f, "\n    {line}")?;
                }
            }
            Some(Ok(_)) => write!(f, " Its log is empty.")?,
            Some(Err(why)) => write!(f, " (log not available: {why})")?,
            None => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn typed<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
        serde_json::from_value(v).expect("a valid object")
    }

    fn toleration(v: serde_json::Value) -> Toleration {
        typed(v)
    }

    fn taint(key: &str, value: Option<&str>, effect: &str) -> Taint {
        Taint {
            key: key.to_owned(),
            value: value.map(str::to_owned),
            effect: effect.to_owned(),
            ..Taint::default()
        }
    }

    fn node(name: &str, labels: serde_json::Value, taints: serde_json::Value, ready: &str) -> Node {
        typed(json!({
            "metadata": { "name": name, "labels": labels },
            "spec": { "taints": taints },
            "status": { "conditions": [
                { "type": "Ready", "status": ready, "reason": "KubeletReady", "message": "kubelet says so" }
            ] },
        }))
    }

    fn installer() -> DaemonSet {
        typed(json!({
            "metadata": { "name": "sysbox-deploy-k8s", "namespace": "kube-system" },
            "spec": {
                "selector": { "matchLabels": { "sysbox-install": "yes" } },
                "template": { "spec": {
                    "containers": [{ "name": "sysbox-deploy-k8s" }],
                    "tolerations": [
                        { "key": "sysbox-runtime", "operator": "Equal", "value": "not-running", "effect": "NoSchedule" },
                        { "key": "dedicated", "operator": "Equal", "value": "cvm", "effect": "NoSchedule" },
                    ],
                } },
            },
        }))
    }

    /// A pod of the installer for `node`, unbound (as the DaemonSet
    /// controller creates it) unless `bound`.
    fn pod(name: &str, node: &str, bound: bool, status: serde_json::Value) -> Pod {
        let mut spec = json!({
            "containers": [{ "name": "sysbox-deploy-k8s" }],
            "tolerations": [
                { "key": "sysbox-runtime", "operator": "Equal", "value": "not-running", "effect": "NoSchedule" },
                { "key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule" },
            ],
            "affinity": { "nodeAffinity": { "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{ "matchFields": [
                    { "key": "metadata.name", "operator": "In", "values": [node] }
                ] }]
            } } },
        });
        if bound {
            spec["nodeName"] = json!(node);
        }
        typed(json!({
            "metadata": { "name": name, "namespace": "kube-system", "uid": format!("uid-{name}"),
                          "creationTimestamp": "2026-01-01T00:00:00Z" },
            "spec": spec,
            "status": status,
        }))
    }

    fn selected() -> serde_json::Value {
        json!({ "sysbox-install": "yes" })
    }

    fn targets(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| (*n).to_owned()).collect()
    }

    #[test]
    fn tolerations_follow_kubernetes_matching() {
        let t = taint("dedicated", Some("cvm"), "NoSchedule");
        let equal = toleration(
            json!({ "key": "dedicated", "operator": "Equal", "value": "cvm", "effect": "NoSchedule" }),
        );
        assert!(tolerates(&equal, &t));
        let other_value = toleration(json!({ "key": "dedicated", "value": "gpu" }));
        assert!(
            !tolerates(&other_value, &t),
            "Equal is the default operator"
        );
        let exists = toleration(json!({ "key": "dedicated", "operator": "Exists" }));
        assert!(
            tolerates(&exists, &t),
            "Exists matches any value; no effect matches all"
        );
        let wrong_effect =
            toleration(json!({ "key": "dedicated", "operator": "Exists", "effect": "NoExecute" }));
        assert!(!tolerates(&wrong_effect, &t));
        let everything = toleration(json!({ "operator": "Exists" }));
        assert!(tolerates(&everything, &t));
        assert!(tolerates(
            &everything,
            &taint("anything", None, "NoExecute")
        ));
        let all_no_schedule = toleration(json!({ "operator": "Exists", "effect": "NoSchedule" }));
        assert!(!tolerates(
            &all_no_schedule,
            &taint("anything", None, "NoExecute")
        ));
        let no_value = toleration(json!({ "key": "gpu", "operator": "Equal" }));
        assert!(tolerates(&no_value, &taint("gpu", None, "NoSchedule")));
        assert!(!tolerates(&no_value, &t));
    }

    #[test]
    fn only_blocking_untolerated_taints_count() {
        let taints = vec![
            taint("dedicated", Some("cvm"), "NoSchedule"),
            taint("soft", None, "PreferNoSchedule"),
            taint("team", Some("a"), "NoExecute"),
            taint("sysbox-runtime", Some("not-running"), "NoSchedule"),
        ];
        let tolerations = daemon_set_pod_tolerations(&installer());
        let left: Vec<String> = untolerated_taints(&tolerations, &taints)
            .into_iter()
            .map(taint_text)
            .collect();
        assert_eq!(left, vec!["team=a:NoExecute"]);
        let controller_taints = vec![
            taint("node.kubernetes.io/unschedulable", None, "NoSchedule"),
            taint("node.kubernetes.io/not-ready", None, "NoExecute"),
        ];
        assert!(untolerated_taints(&tolerations, &controller_taints).is_empty());
        assert_eq!(untolerated_taints(&[], &controller_taints).len(), 2);
    }

    #[test]
    fn a_taint_the_daemon_set_does_not_tolerate_means_no_pod() {
        let nodes = vec![
            node(
                "n1",
                selected(),
                json!([{ "key": "gpu", "value": "true", "effect": "NoSchedule" }]),
                "True",
            ),
            node(
                "n2",
                json!({ "sysbox-install": "yes", "sysbox-runtime": "running" }),
                json!([]),
                "True",
            ),
        ];
        let ds = installer();
        let observed = Observed {
            nodes: &nodes,
            daemon_set: Some(&ds),
            ..Observed::default()
        };
        let found = diagnose(&targets(&["n1", "n2", "gone"]), &observed, "kube-system");
        assert_eq!(found.len(), 2, "the ready node is left out: {found:?}");
        assert_eq!(
            found[0].finding,
            Finding::NoPod {
                untolerated: vec!["gpu=true:NoSchedule".to_owned()]
            }
        );
        let text = found[0].to_string();
        assert!(text.starts_with("n1: no installer pod"), "{text}");
        assert!(text.contains("gpu=true:NoSchedule"), "{text}");
        assert!(text.contains("run terraform apply again"), "{text}");
        assert_eq!(found[1].finding, Finding::NoSuchNode);
    }

    #[test]
    fn a_pending_pod_quotes_the_scheduler() {
        let nodes = vec![node("n1", selected(), json!([]), "True")];
        let message = "0/3 nodes are available: 1 Too many pods, 2 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.";
        let pods = vec![pod(
            "sysbox-deploy-k8s-abcde",
            "n1",
            false,
            json!({ "phase": "Pending", "conditions": [
                { "type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message }
            ] }),
        )];
        let ds = installer();
        let observed = Observed {
            nodes: &nodes,
            daemon_set: Some(&ds),
            pods: &pods,
            ..Observed::default()
        };
        let found = diagnose(&targets(&["n1"]), &observed, "kube-system");
        let text = found[0].to_string();
        assert!(
            text.contains("sysbox-deploy-k8s-abcde is Pending"),
            "{text}"
        );
        assert!(text.contains("1 Too many pods"), "{text}");
        assert!(text.contains("free capacity on the node"), "{text}");
    }

    #[test]
    fn without_a_condition_the_newest_failed_scheduling_event_speaks() {
        let nodes = vec![node(
            "n1",
            selected(),
            json!([{ "key": "late", "effect": "NoExecute" }]),
            "True",
        )];
        let pods = vec![pod("p1", "n1", false, json!({ "phase": "Pending" }))];
        let event = |message: &str, at: &str, uid: &str| -> Event {
            typed(json!({
                "metadata": { "name": format!("p1.{at}"), "namespace": "kube-system" },
                "involvedObject": { "kind": "Pod", "name": "p1", "uid": uid },
                "reason": "FailedScheduling",
                "message": message,
                "lastTimestamp": at,
            }))
        };
        let events = vec![
            event(
                "0/1 nodes are available: 1 node(s) had untolerated taint {late: }.",
                "2026-01-01T00:02:00Z",
                "uid-p1",
            ),
            event("older", "2026-01-01T00:01:00Z", "uid-p1"),
            event(
                "a pod of the same name before",
                "2026-01-01T00:03:00Z",
                "uid-old",
            ),
        ];
        let ds = installer();
        let observed = Observed {
            nodes: &nodes,
            daemon_set: Some(&ds),
            pods: &pods,
            events: &events,
            ..Observed::default()
        };
        let found = diagnose(&targets(&["n1"]), &observed, "kube-system");
        let Finding::Unschedulable {
            message,
            untolerated,
            ..
        } = &found[0].finding
        else {
            panic!("{:?}", found[0]);
        };
        assert_eq!(
            message.as_deref(),
            Some("0/1 nodes are available: 1 node(s) had untolerated taint {late: }.")
        );
        assert_eq!(untolerated, &vec!["late:NoExecute".to_owned()]);
        assert!(found[0].to_string().contains("plans a toleration"));
    }

    #[test]
    fn a_crashing_container_shows_its_last_run_and_log() {
        let nodes = vec![node("n1", selected(), json!([]), "True")];
        let pods = vec![pod(
            "p1",
            "n1",
            true,
            json!({ "phase": "Running", "containerStatuses": [{
                "name": "sysbox-deploy-k8s", "image": "i", "imageID": "", "ready": false,
                "restartCount": 4,
                "state": { "waiting": { "reason": "CrashLoopBackOff", "message": "back-off 40s restarting failed container" } },
                "lastState": { "terminated": { "exitCode": 1, "reason": "Error", "message": "unsupported distro" } },
            }] }),
        )];
        let logs = BTreeMap::from([(
            "p1".to_owned(),
            Ok("Detected OS: Flatcar\nUnsupported distro\n".to_owned()),
        )]);
        let ds = installer();
        let observed = Observed {
            nodes: &nodes,
            daemon_set: Some(&ds),
            pods: &pods,
            logs: &logs,
            ..Observed::default()
        };
        let found = diagnose(&targets(&["n1"]), &observed, "kube-system");
        assert_eq!(
            wants_log(&found[0]),
            Some(("p1", Some("sysbox-deploy-k8s"), true))
        );
        let text = found[0].to_string();
        assert!(text.contains("waiting: CrashLoopBackOff"), "{text}");
        assert!(
            text.contains("terminated with exit code 1 (Error): unsupported distro"),
            "{text}"
        );
        assert!(text.contains("4 restart(s)"), "{text}");
        assert!(text.contains("\n    Unsupported distro"), "{text}");

        let refused = BTreeMap::from([("p1".to_owned(), Err("502 Bad Gateway".to_owned()))]);
        let observed = Observed {
            logs: &refused,
            ..observed
        };
        let text = diagnose(&targets(&["n1"]), &observed, "kube-system")[0].to_string();
        assert!(
            text.ends_with("(log not available: 502 Bad Gateway)"),
            "{text}"
        );
    }

    #[test]
    fn a_running_pod_without_the_label_is_still_installing() {
        let nodes = vec![node(
            "n1",
            json!({ "sysbox-install": "yes", "sysbox-runtime": "installing" }),
            json!([]),
            "True",
        )];
        let pods = vec![pod("p1", "n1", true, json!({ "phase": "Running" }))];
        let ds = installer();
        let observed = Observed {
            nodes: &nodes,
            daemon_set: Some(&ds),
            pods: &pods,
            ..Observed::default()
        };
        let found = diagnose(&targets(&["n1"]), &observed, "kube-system");
        assert_eq!(
            found[0].finding,
            Finding::Installing {
                pod: "p1".to_owned(),
                label: Some("installing".to_owned())
            }
        );
        assert!(
            found[0]
                .to_string()
                .contains("reports sysbox-runtime=installing")
        );
    }

    #[test]
    fn a_node_not_ready_says_so_first() {
        let nodes = vec![node("n1", selected(), json!([]), "Unknown")];
        let pods = vec![pod(
            "p1",
            "n1",
            true,
            json!({ "phase": "Pending", "containerStatuses": [{
                "name": "c", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
                "state": { "waiting": { "reason": "ContainerCreating" } },
            }] }),
        )];
        let ds = installer();
        let observed = Observed {
            nodes: &nodes,
            daemon_set: Some(&ds),
            pods: &pods,
            ..Observed::default()
        };
        let text = diagnose(&targets(&["n1"]), &observed, "kube-system")[0].to_string();
        assert!(
            text.starts_with(
                "n1: the node is not Ready (Ready=Unknown (KubeletReady: kubelet says so)); \
                 installer pod p1 is Pending"
            ),
            "{text}"
        );
    }

    #[test]
    fn the_live_pod_speaks_for_its_node() {
        let mut old = pod("old", "n1", true, json!({ "phase": "Running" }));
        old.metadata.deletion_timestamp = old.metadata.creation_timestamp.clone();
        let new = pod("new", "n1", false, json!({ "phase": "Pending" }));
        let other = pod("other", "n2", true, json!({ "phase": "Running" }));
        let pods = vec![old, new, other];
        assert_eq!(
            pod_for(&pods, "n1").and_then(|p| p.metadata.name.as_deref()),
            Some("new")
        );
        assert_eq!(pod_node(&pods[1]), Some("n1"));
    }

    #[test]
    fn nodes_without_the_install_label_or_daemon_set_are_told_apart() {
        let nodes = vec![node("n1", json!({}), json!([]), "True")];
        let observed = Observed {
            nodes: &nodes,
            ..Observed::default()
        };
        assert_eq!(
            diagnose(&targets(&["n1"]), &observed, "ns")[0].finding,
            Finding::NoDaemonSet
        );
        let ds = installer();
        let observed = Observed {
            daemon_set: Some(&ds),
            ..observed
        };
        assert_eq!(
            diagnose(&targets(&["n1"]), &observed, "ns")[0].finding,
            Finding::NotSelected
        );
    }
}
