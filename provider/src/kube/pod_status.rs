//! What a pod's status says, in the words Kubernetes uses: whether the
//! scheduler placed it (and its message when not), and the trouble of a
//! container that does not run (waiting for a reason other than starting,
//! or terminated). Pure functions over the objects the API returns.

use k8s_openapi::api::core::v1::{ContainerStatus, Event, Pod};

/// A container that does not run as it should.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerTrouble {
    /// The container's name.
    pub container: String,
    /// Why it waits (`CrashLoopBackOff`, `ImagePullBackOff`, …) with the
    /// kubelet's message, or that it terminated.
    pub state: String,
    /// How its last run ended, if it ran before.
    pub last_state: Option<String>,
    /// How often it restarted.
    pub restarts: i32,
}

/// The scheduler's message for a pod not scheduled: the `PodScheduled`
/// condition's, else the newest `FailedScheduling` event's.
pub fn scheduler_message(pod: &Pod, events: &[Event]) -> Option<String> {
    let from_condition = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "PodScheduled"))
        .filter(|c| c.status == "False")
        .and_then(|c| c.message.clone())
        .filter(|m| !m.is_empty());
    from_condition.or_else(|| {
        events_about(pod, events)
            .filter(|e| e.reason.as_deref() == Some("FailedScheduling"))
            .max_by_key(|e| event_time(e))
            .and_then(|e| e.message.clone())
    })
}

fn events_about<'a>(pod: &'a Pod, events: &'a [Event]) -> impl Iterator<Item = &'a Event> {
    events.iter().filter(move |e| {
        e.involved_object.kind.as_deref() == Some("Pod")
            && e.involved_object.name == pod.metadata.name
            && (e.involved_object.uid.is_none()
                || pod.metadata.uid.is_none()
                || e.involved_object.uid == pod.metadata.uid)
    })
}

/// When an event last happened (core/v1 events written through
/// events.k8s.io carry only `eventTime`).
fn event_time(event: &Event) -> Option<k8s_openapi::jiff::Timestamp> {
    event
        .last_timestamp
        .as_ref()
        .map(|t| t.0)
        .or(event.event_time.as_ref().map(|t| t.0))
        .or(event.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

/// Whether the scheduler has placed the pod (bound to a node, or
/// `PodScheduled=True`).
pub fn is_scheduled(pod: &Pod) -> bool {
    let bound = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.as_deref())
        .is_some_and(|n| !n.is_empty());
    let condition = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "PodScheduled"));
    bound || condition.is_some_and(|c| c.status == "True")
}

/// Waiting reasons that are only a container starting up.
fn is_starting(reason: &str) -> bool {
    matches!(reason, "ContainerCreating" | "PodInitializing" | "")
}

fn terminated_text(t: &k8s_openapi::api::core::v1::ContainerStateTerminated) -> String {
    let mut text = format!("terminated with exit code {}", t.exit_code);
    if let Some(reason) = t.reason.as_deref().filter(|r| !r.is_empty()) {
        text.push_str(&format!(" ({reason})"));
    }
    if let Some(message) = t
        .message
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())
    {
        text.push_str(&format!(": {message}"));
    }
    text
}

/// A container's trouble, if it has any: waiting for a reason other than
/// starting up, or terminated.
pub fn container_trouble(status: &ContainerStatus) -> Option<ContainerTrouble> {
    let state = status.state.as_ref()?;
    let text = if let Some(waiting) = &state.waiting {
        let reason = waiting.reason.as_deref().unwrap_or("");
        if is_starting(reason) {
            return None;
        }
        match waiting.message.as_deref().filter(|m| !m.is_empty()) {
            Some(message) => format!("waiting: {reason}: {message}"),
            None => format!("waiting: {reason}"),
        }
    } else if let Some(terminated) = &state.terminated {
        terminated_text(terminated)
    } else {
        return None;
    };
    let last_state = status
        .last_state
        .as_ref()
        .and_then(|s| s.terminated.as_ref())
        .map(terminated_text);
    Some(ContainerTrouble {
        container: status.name.clone(),
        state: text,
        last_state,
        restarts: status.restart_count,
    })
}
