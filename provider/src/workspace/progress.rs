//! How far a workspace pod is on its way to Running, and when it is stuck,
//! why, in the cluster's words with what to do about it: the scheduler's
//! message (no Sysbox node, an untolerated taint, too little CPU or
//! memory, an unbound home volume) or a container's trouble (an image the
//! node cannot pull, with the registry named).

use k8s_openapi::api::core::v1::{Event, Pod};

use crate::image_reference::ImageReference;
use crate::kube::pod_status::{container_trouble, is_scheduled, scheduler_message};
use crate::sysbox::installer::{RUNNING, RUNTIME_LABEL};

/// Where a workspace pod is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Progress {
    /// Running on `node`.
    Running {
        /// The node's name.
        node: String,
    },
    /// Not running yet; what the cluster says so far.
    Waiting(String),
    /// It will not run without a change: the phase is `Failed` or
    /// `Succeeded`, or a container cannot be created as configured.
    Failed(String),
}

/// Waiting reasons no retry of the kubelet's gets past.
/// (`CreateContainerConfigError` is not among them: a Secret the pod names
/// may be created at the same time, and the kubelet tries again.)
const HOPELESS: &[&str] = &["InvalidImageName", "ErrImageNeverPull"];

/// Where `pod` is; `events` are the ones about it (for the scheduler's
/// message before the pod's condition carries it).
pub fn progress(pod: &Pod, events: &[Event]) -> Progress {
    let status = pod.status.as_ref();
    let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("Pending");
    let node = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .unwrap_or_default();
    if !is_scheduled(pod) {
        return Progress::Waiting(match scheduler_message(pod, events) {
            Some(message) => format!(
                "The scheduler cannot place the pod: {message} {}",
                scheduler_advice(&message)
            ),
            None => "The pod is not scheduled yet.".to_owned(),
        });
    }
    let containers = status.into_iter().flat_map(|s| {
        let init = s.init_container_statuses.iter().flatten();
        init.chain(s.container_statuses.iter().flatten())
    });
    for container in containers {
        let Some(trouble) = container_trouble(container) else {
            continue;
        };
        let reason = container
            .state
            .as_ref()
            .and_then(|s| s.waiting.as_ref())
            .and_then(|w| w.reason.as_deref())
            .unwrap_or_default();
        let mut text = format!(
            "On node {node}, container {} is {}.",
            trouble.container, trouble.state
        );
        if let Some(last) = &trouble.last_state {
            text.push_str(&format!(
                " It restarted {} time(s); its last run {last}.",
                trouble.restarts
            ));
        }
        if matches!(reason, "ErrImagePull" | "ImagePullBackOff") {
            text.push(' ');
            text.push_str(&pull_advice(&container.image));
        } else if reason == "CreateContainerConfigError" {
            text.push_str(
                " A Secret or ConfigMap the pod names is missing (check image_pull_secret: it \
                 must be in the workspace's namespace).",
            );
        } else if reason == "CrashLoopBackOff" || trouble.last_state.is_some() {
            text.push_str(&format!(
                " See its log: `kubectl logs -n {} {} --previous`.",
                pod.metadata.namespace.as_deref().unwrap_or_default(),
                pod.metadata.name.as_deref().unwrap_or_default(),
            ));
        }
        if HOPELESS.contains(&reason) {
            return Progress::Failed(text);
        }
        return Progress::Waiting(text);
    }
    match phase {
        "Running" => Progress::Running { node },
        "Failed" | "Succeeded" => {
            let reason = status
                .and_then(|s| s.message.as_deref().or(s.reason.as_deref()))
                .unwrap_or("no reason given");
            Progress::Failed(format!("The pod ended ({phase}) on node {node}: {reason}."))
        }
        _ => {
            // Sandbox, mount and attach failures after scheduling show
            // only as events.
            let warning = events
                .iter()
                .filter(|e| e.type_.as_deref() == Some("Warning"))
                .filter(|e| e.involved_object.name == pod.metadata.name)
                .max_by_key(|e| {
                    e.last_timestamp
                        .as_ref()
                        .map(|t| t.0)
                        .or(e.event_time.as_ref().map(|t| t.0))
                })
                .map(|e| {
                    format!(
                        " The newest warning: {}: {}",
                        e.reason.as_deref().unwrap_or_default(),
                        e.message.as_deref().unwrap_or_default().trim()
                    )
                })
                .unwrap_or_default();
            Progress::Waiting(format!("The pod is {phase} on node {node}.{warning}"))
        }
    }
}

/// What to do about an image a node cannot pull, with its registry named.
fn pull_advice(image: &str) -> String {
    let registry = ImageReference::parse(image)
        .map(|r| r.registry)
        .unwrap_or_else(|_| "its registry".to_owned());
    format!(
        "The node cannot pull {image} from {registry}: check that the image exists, and for a \
         private registry set image_pull_secret to a cvm_image_pull_secret for {registry} in \
         the workspace's namespace (its credential check tells whether the registry accepts \
         them)."
    )
}

/// What a scheduler message is about, for the advice after it.
fn scheduler_advice(message: &str) -> String {
    let mut advice = Vec::new();
    if message.contains("node affinity/selector") || message.contains("node selector") {
        advice.push(format!(
            "No node matches the workspace's node selection: a sysbox-runc workspace runs only \
             on nodes labelled {RUNTIME_LABEL}={RUNNING} (Sysbox installed by cvm_sysbox and \
             running), plus its own node_selector."
        ));
    }
    if message.contains("untolerated taint") || message.contains("had taint") {
        advice.push(
            "Nodes it could run on carry a taint the workspace does not tolerate: add a \
             toleration block for it."
                .to_owned(),
        );
    }
    if message.contains("Insufficient cpu") || message.contains("Insufficient memory") {
        advice.push(
            "No node has the CPU or memory the workspace asks for free: lower cpu or memory, \
             or add nodes."
                .to_owned(),
        );
    }
    if message.contains("PersistentVolumeClaim") || message.contains("persistent volumes") {
        advice.push(
            "The home volume's claim is not bound: check storage_class (the cluster's default \
             class when unset) and that its provisioner runs."
                .to_owned(),
        );
    }
    if advice.is_empty() {
        "See the pod's events: `kubectl describe pod`.".to_owned()
    } else {
        advice.join(" ")
    }
}

#[cfg(test)]
mod tests {
    //! The pod statuses are hand-written in the shape Kubernetes reports
    //! them (the API's field names, the scheduler's and kubelet's messages
    //! as they read in `kubectl describe pod` on Kubernetes 1.35).
    use super::*;

    fn pod(status: serde_json::Value, node: Option<&str>) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": { "name": "alice-dev", "namespace": "ws" },
            "spec": {
                "nodeName": node,
                "containers": [{ "name": "dev", "image": "registry.example.com:5000/team/dev:1" }],
            },
            "status": status,
        }))
        .unwrap()
    }

    fn text(progress: &Progress) -> &str {
        match progress {
            Progress::Waiting(t) | Progress::Failed(t) => t,
            Progress::Running { .. } => "",
        }
    }

    #[test]
    fn running() {
        let p = pod(serde_json::json!({ "phase": "Running" }), Some("node-1"));
        assert_eq!(
            progress(&p, &[]),
            Progress::Running {
                node: "node-1".into()
            }
        );
    }

    #[test]
    fn unschedulable_for_want_of_a_sysbox_node() {
        let p = pod(
            serde_json::json!({
                "phase": "Pending",
                "conditions": [{
                    "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                    "message": "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
                }],
            }),
            None,
        );
        let progress = progress(&p, &[]);
        assert!(matches!(progress, Progress::Waiting(_)));
        let t = text(&progress);
        assert!(
            t.contains("3 node(s) didn't match Pod's node affinity/selector"),
            "{t}"
        );
        assert!(t.contains("sysbox-runtime=running"), "{t}");
    }

    #[test]
    fn unschedulable_for_a_taint_and_for_resources() {
        let p = pod(
            serde_json::json!({
                "phase": "Pending",
                "conditions": [{
                    "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                    "message": "0/2 nodes are available: 1 Insufficient memory, 1 node(s) had untolerated taint {dedicated: cvm}. preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling.",
                }],
            }),
            None,
        );
        let t = text(&progress(&p, &[])).to_owned();
        assert!(t.contains("toleration block"), "{t}");
        assert!(t.contains("lower cpu or memory"), "{t}");
        assert!(!t.contains("sysbox-runtime=running"), "{t}");
    }

    #[test]
    fn an_unbound_home_volume() {
        let p = pod(
            serde_json::json!({
                "phase": "Pending",
                "conditions": [{
                    "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                    "message": "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.",
                }],
            }),
            None,
        );
        assert!(text(&progress(&p, &[])).contains("storage_class"));
    }

    #[test]
    fn the_scheduler_message_from_an_event_before_the_condition_has_it() {
        let p = pod(serde_json::json!({ "phase": "Pending" }), None);
        let event: Event = serde_json::from_value(serde_json::json!({
            "metadata": { "name": "alice-dev.1", "namespace": "ws" },
            "involvedObject": { "kind": "Pod", "name": "alice-dev", "namespace": "ws" },
            "reason": "FailedScheduling",
            "message": "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector.",
            "lastTimestamp": "2026-12-02T10:00:00Z",
        }))
        .unwrap();
        assert!(text(&progress(&p, &[event])).contains("sysbox-runtime=running"));
        assert_eq!(
            progress(&p, &[]),
            Progress::Waiting("The pod is not scheduled yet.".into())
        );
    }

    #[test]
    fn an_image_the_node_cannot_pull_names_the_registry() {
        for (reason, message) in [
            (
                "ErrImagePull",
                "failed to pull and unpack image \"registry.example.com:5000/team/dev:1\": failed to resolve reference \"registry.example.com:5000/team/dev:1\": pull access denied, repository does not exist or may require authorization: authorization failed: no basic auth credentials",
            ),
            (
                "ImagePullBackOff",
                "Back-off pulling image \"registry.example.com:5000/team/dev:1\"",
            ),
        ] {
            let p = pod(
                serde_json::json!({
                    "phase": "Pending",
                    "conditions": [{ "type": "PodScheduled", "status": "True" }],
                    "containerStatuses": [{
                        "name": "dev", "image": "registry.example.com:5000/team/dev:1", "imageID": "",
                        "ready": false, "restartCount": 0,
                        "state": { "waiting": { "reason": reason, "message": message } },
                    }],
                }),
                Some("node-1"),
            );
            let progress = progress(&p, &[]);
            assert!(matches!(progress, Progress::Waiting(_)), "{reason}");
            let t = text(&progress);
            assert!(t.contains(reason), "{t}");
            assert!(t.contains("from registry.example.com:5000"), "{t}");
            assert!(t.contains("image_pull_secret"), "{t}");
        }
    }

    #[test]
    fn a_missing_secret_is_waited_for() {
        let p = pod(
            serde_json::json!({
                "phase": "Pending",
                "conditions": [{ "type": "PodScheduled", "status": "True" }],
                "containerStatuses": [{
                    "name": "dev", "image": "registry.example.com:5000/team/dev:1", "imageID": "",
                    "ready": false, "restartCount": 0,
                    "state": { "waiting": { "reason": "CreateContainerConfigError", "message": "secret \"team-registry\" not found" } },
                }],
            }),
            Some("node-1"),
        );
        let progress = progress(&p, &[]);
        assert!(
            matches!(progress, Progress::Waiting(_)),
            "the Secret may come"
        );
        assert!(text(&progress).contains("secret \"team-registry\" not found"));
    }

    #[test]
    fn a_sandbox_failure_is_told_from_the_events() {
        let p = pod(
            serde_json::json!({
                "phase": "Pending",
                "conditions": [{ "type": "PodScheduled", "status": "True" }],
            }),
            Some("node-1"),
        );
        let event: Event = serde_json::from_value(serde_json::json!({
            "metadata": { "name": "alice-dev.2", "namespace": "ws" },
            "involvedObject": { "kind": "Pod", "name": "alice-dev", "namespace": "ws" },
            "type": "Warning",
            "reason": "FailedCreatePodSandBox",
            "message": "Failed to create pod sandbox: rpc error: code = Unknown desc = failed to get sandbox runtime: no runtime for \"sysbox-runc\" is configured",
            "lastTimestamp": "2026-12-02T10:00:00Z",
        }))
        .unwrap();
        let t = text(&progress(&p, &[event])).to_owned();
        assert!(
            t.contains("FailedCreatePodSandBox: Failed to create pod sandbox"),
            "{t}"
        );
    }

    #[test]
    fn a_crash_loop_points_at_the_log() {
        let p = pod(
            serde_json::json!({
                "phase": "Running",
                "conditions": [{ "type": "PodScheduled", "status": "True" }],
                "containerStatuses": [{
                    "name": "dev", "image": "registry.example.com:5000/team/dev:1", "imageID": "",
                    "ready": false, "restartCount": 4,
                    "state": { "waiting": { "reason": "CrashLoopBackOff", "message": "back-off 1m20s restarting failed container=dev pod=alice-dev_ws(0f0e)" } },
                    "lastState": { "terminated": { "exitCode": 1, "reason": "Error" } },
                }],
            }),
            Some("node-1"),
        );
        let t = text(&progress(&p, &[])).to_owned();
        assert!(t.contains("restarted 4 time(s)"), "{t}");
        assert!(t.contains("kubectl logs -n ws alice-dev --previous"), "{t}");
    }
}
