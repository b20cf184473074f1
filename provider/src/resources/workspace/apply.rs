//! What the apply, the refresh and the destroy of `cvm_workspace` do in
//! the cluster.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Container, Event, PersistentVolumeClaim, Pod};
use k8s_openapi::api::node::v1::RuntimeClass;
use kube::Api;
use kube::api::ListParams;
use tf_framework::timeouts::Operation;
use tf_framework::{Ctx, Timeouts, ToDiagnostic};
use tf_protocol::value::Attr;
use tf_protocol::{AttributePath, Diagnostic, Diagnostics};

use super::model::{MountModel, TolerationModel, WorkspaceModel};
use super::{CREATE_TIMEOUT, DELETE_TIMEOUT, READ_TIMEOUT};
use crate::kube::{Cluster, KubeError, quantity};
use crate::provider::ProviderData;
use crate::sysbox::installer::RUNTIME_CLASS;
use crate::workspace::pod::{
    CONTAINER, CRIO_USERNS_ANNOTATION, GPU_RESOURCE, Style, UserNamespace, WORKSPACE_LABEL,
    claim_name, envbox_mount_point, extra_volume_name,
};
use crate::workspace::progress::{Progress, progress};

/// Field manager of the provider's server-side applies.
const FIELD_MANAGER: &str = "terraform-provider-cvm";
/// First and longest pause between two looks at a pod.
const FIRST_PAUSE: Duration = Duration::from_millis(250);
const LONGEST_PAUSE: Duration = Duration::from_secs(2);

/// Why the workspace could not be applied.
#[derive(Debug, thiserror::Error)]
enum WorkspaceError {
    #[error(transparent)]
    Kube(#[from] KubeError),
    /// A pod or claim of that name exists and is not this workspace's.
    #[error(
        "{kind} {namespace}/{name} already exists and does not belong to workspace {workspace}. Import the workspace (`terraform import`, id `{namespace}/{workspace}`) if it is this one, or choose another name."
    )]
    Exists {
        kind: &'static str,
        namespace: String,
        name: String,
        workspace: String,
    },
    /// There is no RuntimeClass `sysbox-runc`.
    #[error(
        "the cluster has no RuntimeClass {RUNTIME_CLASS}, so a sysbox-runc workspace cannot run: install Sysbox on the nodes first (cvm_sysbox), or use style = \"envbox\""
    )]
    NoRuntimeClass,
    /// No node the pod can land on.
    #[error(
        "no node matches {selector}, so the workspace's pod cannot be placed: a sysbox-runc workspace runs only where Sysbox runs (cvm_sysbox labels those nodes sysbox-runtime=running once it is installed), and on nodes matching node_selector"
    )]
    NoNode { selector: String },
    /// The nodes need different user-namespace settings, or none works.
    #[error("{0}")]
    UserNamespace(String),
    /// The pod did not reach Running.
    #[error("the workspace pod {namespace}/{name} is not running after {waited}s. {what}")]
    NotRunning {
        namespace: String,
        name: String,
        waited: u64,
        what: String,
    },
    /// The pod cannot run as configured.
    #[error("the workspace pod {namespace}/{name} cannot run. {what}")]
    CannotRun {
        namespace: String,
        name: String,
        what: String,
    },
    /// An object did not go away.
    #[error(
        "{kind} {namespace}/{name} is still there after {waited}s (a finalizer may hold it: see `kubectl get {kind_lower} -n {namespace} {name} -o yaml`)"
    )]
    NotGone {
        kind: &'static str,
        kind_lower: &'static str,
        namespace: String,
        name: String,
        waited: u64,
    },
}

impl ToDiagnostic for WorkspaceError {
    fn to_diagnostic(&self, attribute: Option<AttributePath>) -> Diagnostic {
        let (summary, path) = match self {
            Self::Kube(e) => return e.to_diagnostic(attribute),
            Self::Exists { .. } => ("Workspace Objects Already Exist", Some("name")),
            Self::NoRuntimeClass => ("Sysbox Is Not Installed", Some("style")),
            Self::NoNode { .. } => ("No Node for the Workspace", Some("node_selector")),
            Self::UserNamespace(_) => ("Cannot Choose the User Namespace", Some("user_namespace")),
            Self::NotRunning { .. } => ("Workspace Not Running", None),
            Self::CannotRun { .. } => ("Workspace Cannot Run", None),
            Self::NotGone { .. } => ("Workspace Objects Not Deleted", None),
        };
        let mut detail = self.to_string();
        if let Some(first) = detail.get(..1) {
            detail = format!("{}{}", first.to_uppercase(), &detail[1..]);
        }
        if !detail.ends_with('.') {
            detail.push('.');
        }
        let diagnostic = Diagnostic::error(summary, detail);
        match attribute.or(path.map(AttributePath::attr)) {
            Some(path) => diagnostic.at(path),
            None => diagnostic,
        }
    }
}

async fn connect(ctx: &Ctx<ProviderData>, timeout: Duration) -> Result<Cluster, KubeError> {
    ctx.data()
        .kube_cluster(Instant::now() + timeout, ctx.cancellation().clone())
        .await
}

/// Whether a pod is this workspace's (and not being deleted or ended).
fn is_live(pod: &Pod) -> bool {
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    pod.metadata.deletion_timestamp.is_none() && !matches!(phase, Some("Failed" | "Succeeded"))
}

fn belongs_to(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    name: &str,
) -> bool {
    meta.labels
        .as_ref()
        .and_then(|l| l.get(WORKSPACE_LABEL))
        .is_some_and(|v| v == name)
}

/// Applies `plan` (a create when `prior` is `None`): the claim, then the
/// pod as planned. Returns the state to keep (also after a failure that
/// left objects behind) and the diagnostics.
pub async fn apply(
    ctx: &Ctx<ProviderData>,
    plan: &WorkspaceModel,
    prior: Option<&WorkspaceModel>,
) -> (Option<WorkspaceModel>, Diagnostics) {
    let operation = if prior.is_some() {
        Operation::Update
    } else {
        Operation::Create
    };
    let timeout = Timeouts::get(plan.timeouts.as_ref(), operation, CREATE_TIMEOUT);
    let mut diagnostics = Diagnostics::new();
    let mut state = prior.cloned();
    match apply_in(ctx, plan, prior.is_none(), timeout, &mut state).await {
        Ok(()) => {}
        Err(e) => diagnostics.push(e.to_diagnostic(None)),
    }
    (state, diagnostics)
}

async fn apply_in(
    ctx: &Ctx<ProviderData>,
    plan: &WorkspaceModel,
    creating: bool,
    timeout: Duration,
    state: &mut Option<WorkspaceModel>,
) -> Result<(), WorkspaceError> {
    let started = Instant::now();
    let cluster = connect(ctx, timeout).await?;
    let mut next = plan.clone();
    if !next.namespace.is_known() {
        next.namespace = Attr::Known(cluster.client().default_namespace().to_owned());
    }
    let (namespace, name) = (next.namespace(), next.name());
    next.id = Attr::Known(format!("{namespace}/{name}"));
    next.home_claim = Attr::Known(claim_name(&name));
    let claims = cluster.namespaced::<PersistentVolumeClaim>(&namespace);
    let pods = cluster.namespaced::<Pod>(&namespace);
    if creating {
        for (kind, object_name, meta) in [
            (
                "PersistentVolumeClaim",
                claim_name(&name),
                cluster
                    .find(&claims, &claim_name(&name))
                    .await?
                    .map(|c| c.metadata),
            ),
            (
                "Pod",
                name.clone(),
                cluster.find(&pods, &name).await?.map(|p| p.metadata),
            ),
        ] {
            if meta.is_some_and(|m| !belongs_to(&m, &name)) {
                return Err(WorkspaceError::Exists {
                    kind,
                    namespace,
                    name: object_name,
                    workspace: name,
                });
            }
        }
    }

    // A new pod's user namespace is chosen before anything is written, so
    // that a cluster without a node for it is refused with nothing made.
    let new_pod = next.running() && !next.pod_uid.is_known();
    let user_namespace = match next.style() {
        Style::Envbox => None,
        Style::SysboxRunc if !new_pod => next.user_namespace(),
        Style::SysboxRunc => match next.user_namespace() {
            Some(setting) => Some(setting),
            None => Some(choose_user_namespace(&cluster, &next).await?),
        },
    };
    next.user_namespace = user_namespace.map_or(Attr::Null, |u| Attr::Known(u.name().to_owned()));

    // The home volume first: it outlives every pod.
    let claim = cluster
        .apply(&claims, &next.spec(user_namespace).claim(), FIELD_MANAGER)
        .await?;
    next.storage_class = claim
        .spec
        .and_then(|s| s.storage_class_name)
        .map_or(Attr::Null, Attr::Known);
    // From here on, what exists is recorded even if the pod fails.
    let mut recorded = next.clone();
    if !recorded.pod_uid.is_known() {
        recorded.pod_uid = Attr::Null;
        recorded.node_name = Attr::Null;
    }
    *state = Some(recorded);

    let deadline = cluster.deadline();
    if !next.running() {
        remove_own_pod(&cluster, &pods, &namespace, &name, started).await?;
        next.pod_uid = Attr::Null;
        next.node_name = Attr::Null;
        *state = Some(next);
        return Ok(());
    }
    if !new_pod {
        // The plan keeps the pod that runs.
        *state = Some(next);
        return Ok(());
    }
    // A new pod: this workspace's old one goes first (pods are immutable);
    // a pod of the name that is not this workspace's is not touched.
    if let Some(found) = cluster.find(&pods, &name).await?
        && !belongs_to(&found.metadata, &name)
    {
        return Err(WorkspaceError::Exists {
            kind: "Pod",
            namespace,
            name: name.clone(),
            workspace: name,
        });
    }
    remove_and_wait(&cluster, &pods, "Pod", &namespace, &name, started).await?;
    let pod = next.spec(user_namespace).pod();
    cluster.apply(&pods, &pod, FIELD_MANAGER).await?;
    let (uid, node) = wait_running(&cluster, &pods, &namespace, &name, started, deadline).await?;
    next.pod_uid = Attr::Known(uid);
    next.node_name = Attr::Known(node);
    *state = Some(next);
    Ok(())
}

/// The user-namespace setting the nodes the pod can land on need.
async fn choose_user_namespace(
    cluster: &Cluster,
    model: &WorkspaceModel,
) -> Result<UserNamespace, WorkspaceError> {
    let runtime_class = cluster
        .find(&cluster.all::<RuntimeClass>(), RUNTIME_CLASS)
        .await?
        .ok_or(WorkspaceError::NoRuntimeClass)?;
    let mut selector: BTreeMap<String, String> = runtime_class
        .scheduling
        .and_then(|s| s.node_selector)
        .unwrap_or_default();
    selector.extend(model.node_selector.known().cloned().unwrap_or_default());
    let selector_text = selector
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    let nodes = cluster.list_nodes(&selector_text).await?;
    if nodes.is_empty() {
        return Err(WorkspaceError::NoNode {
            selector: if selector_text.is_empty() {
                "any node".to_owned()
            } else {
                selector_text
            },
        });
    }
    let mut settings: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    let mut unsupported = Vec::new();
    for node in &nodes {
        let node_name = node.metadata.name.clone().unwrap_or_default();
        let runtime = node
            .status
            .as_ref()
            .and_then(|s| s.node_info.as_ref())
            .map(|i| i.container_runtime_version.clone())
            .unwrap_or_default();
        match UserNamespace::for_runtime(&runtime) {
            Some(setting) => settings.entry(setting.name()).or_default().push(node_name),
            None => unsupported.push(format!("{node_name} ({runtime})")),
        }
    }
    let mut found = settings.keys().filter_map(|n| UserNamespace::from_name(n));
    match (found.next(), found.next()) {
        (Some(setting), None) => Ok(setting),
        (None, _) => Err(WorkspaceError::UserNamespace(format!(
            "none of the nodes the pod can land on runs a container runtime Sysbox pods work \
             with (containerd 2.0.5 or later, or the installer's CRI-O): {}",
            unsupported.join(", ")
        ))),
        (Some(_), Some(_)) => Err(WorkspaceError::UserNamespace(format!(
            "the nodes the pod can land on need different settings ({}): set user_namespace, \
             or narrow node_selector to nodes of one runtime",
            settings
                .iter()
                .map(|(setting, nodes)| format!("{setting} for {}", nodes.join(", ")))
                .collect::<Vec<_>>()
                .join("; ")
        ))),
    }
}

/// Sleeps `pause` unless the provider is stopped first.
async fn pause(cluster: &Cluster, pause: Duration) -> Result<(), WorkspaceError> {
    tokio::select! {
        () = cluster.cancellation().cancelled() => Err(KubeError::Cancelled {
            action: "waiting for the workspace pod".to_owned(),
        }.into()),
        () = tokio::time::sleep(pause) => Ok(()),
    }
}

/// Waits until the pod runs; returns its UID and node.
async fn wait_running(
    cluster: &Cluster,
    pods: &Api<Pod>,
    namespace: &str,
    name: &str,
    started: Instant,
    deadline: Instant,
) -> Result<(String, String), WorkspaceError> {
    let events: Api<Event> = cluster.namespaced(namespace);
    let params = ListParams::default().fields(&format!(
        "involvedObject.kind=Pod,involvedObject.name={name}"
    ));
    let mut wait = FIRST_PAUSE;
    loop {
        let pod = cluster
            .find(pods, name)
            .await?
            .ok_or_else(|| WorkspaceError::CannotRun {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
                what: "It was deleted while the apply waited for it.".to_owned(),
            })?;
        let running = pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
        let about = if running {
            Vec::new()
        } else {
            cluster
                .retry("listing the events about the workspace pod", || {
                    events.list(&params)
                })
                .await
                .map(|l| l.items)
                .unwrap_or_default()
        };
        match progress(&pod, &about) {
            Progress::Running { node } => {
                let uid = pod.metadata.uid.unwrap_or_default();
                tracing::info!(pod = %format!("{namespace}/{name}"), %node, "the workspace runs");
                return Ok((uid, node));
            }
            Progress::Failed(what) => {
                return Err(WorkspaceError::CannotRun {
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                    what,
                });
            }
            Progress::Waiting(what) => {
                if Instant::now() + wait >= deadline {
                    return Err(WorkspaceError::NotRunning {
                        namespace: namespace.to_owned(),
                        name: name.to_owned(),
                        waited: started.elapsed().as_secs(),
                        what: format!(
                            "{what} The pod is left for inspection (`kubectl describe pod -n \
                             {namespace} {name}`); apply again to start it anew, or raise \
                             timeouts."
                        ),
                    });
                }
                tracing::debug!(pod = %format!("{namespace}/{name}"), %what, "waiting");
            }
        }
        pause(cluster, wait).await?;
        wait = (wait * 2).min(LONGEST_PAUSE);
    }
}

/// Deletes the workspace's pod and waits until it is gone; a pod of the
/// name that is not the workspace's is left alone.
async fn remove_own_pod(
    cluster: &Cluster,
    pods: &Api<Pod>,
    namespace: &str,
    name: &str,
    started: Instant,
) -> Result<(), WorkspaceError> {
    match cluster.find(pods, name).await? {
        Some(pod) if belongs_to(&pod.metadata, name) => {
            remove_and_wait(cluster, pods, "Pod", namespace, name, started).await
        }
        Some(_) => {
            tracing::warn!(pod = %format!("{namespace}/{name}"), "a pod of the workspace's name is not the workspace's; left alone");
            Ok(())
        }
        None => Ok(()),
    }
}

/// Deletes the object named `name` and waits until it is gone.
async fn remove_and_wait<K>(
    cluster: &Cluster,
    api: &Api<K>,
    kind: &'static str,
    namespace: &str,
    name: &str,
    started: Instant,
) -> Result<(), WorkspaceError>
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    if cluster.find(api, name).await?.is_none() {
        return Ok(());
    }
    cluster.remove(api, name).await?;
    let mut wait = FIRST_PAUSE;
    while cluster.find(api, name).await?.is_some() {
        if Instant::now() + wait >= cluster.deadline() {
            return Err(WorkspaceError::NotGone {
                kind,
                kind_lower: if kind == "Pod" { "pod" } else { "pvc" },
                namespace: namespace.to_owned(),
                name: name.to_owned(),
                waited: started.elapsed().as_secs(),
            });
        }
        pause(cluster, wait).await?;
        wait = (wait * 2).min(LONGEST_PAUSE);
    }
    Ok(())
}

/// Deletes the pod, then the claim, waiting for each to be gone.
pub async fn delete(ctx: &Ctx<ProviderData>, prior: &WorkspaceModel) -> Result<(), Diagnostic> {
    let timeout = Timeouts::get(prior.timeouts.as_ref(), Operation::Delete, DELETE_TIMEOUT);
    let started = Instant::now();
    let work = async {
        let cluster = connect(ctx, timeout).await?;
        let (namespace, name) = (prior.namespace(), prior.name());
        let pods = cluster.namespaced::<Pod>(&namespace);
        remove_own_pod(&cluster, &pods, &namespace, &name, started).await?;
        let claims = cluster.namespaced::<PersistentVolumeClaim>(&namespace);
        let claim = claim_name(&name);
        remove_and_wait(
            &cluster,
            &claims,
            "PersistentVolumeClaim",
            &namespace,
            &claim,
            started,
        )
        .await
    };
    work.await
        .map_err(|e: WorkspaceError| e.to_diagnostic(None))
}

/// The state as the cluster has it; `None` when the home volume claim is
/// gone (the workspace is gone with it).
pub async fn read(
    ctx: &Ctx<ProviderData>,
    mut state: WorkspaceModel,
) -> Result<Option<WorkspaceModel>, Diagnostic> {
    let timeout = Timeouts::get(state.timeouts.as_ref(), Operation::Read, READ_TIMEOUT);
    let id = state.id.known().cloned().unwrap_or_default();
    let Some((namespace, name)) = id.split_once('/') else {
        return Err(Diagnostic::error(
            "Invalid Import Id",
            format!("`{id}` is not `namespace/name` of a workspace."),
        ));
    };
    let cluster = connect(ctx, timeout)
        .await
        .map_err(|e| e.to_diagnostic(None))?;
    let claims = cluster.namespaced::<PersistentVolumeClaim>(namespace);
    let pods = cluster.namespaced::<Pod>(namespace);
    let claim = cluster
        .find(&claims, &claim_name(name))
        .await
        .map_err(|e| e.to_diagnostic(None))?;
    let Some(claim) = claim else {
        tracing::info!(workspace = %id, "the home volume claim is gone; removing the workspace from state");
        return Ok(None);
    };
    let pod = cluster
        .find(&pods, name)
        .await
        .map_err(|e| e.to_diagnostic(None))?
        .filter(|p| is_live(p) && belongs_to(&p.metadata, name));
    let importing = state.name.is_null();
    state.namespace = Attr::Known(namespace.to_owned());
    state.name = Attr::Known(name.to_owned());
    state.home_claim = Attr::Known(claim_name(name));
    if let Some(spec) = &claim.spec {
        state.storage_class = spec
            .storage_class_name
            .clone()
            .map_or(Attr::Null, Attr::Known);
        let size = spec
            .resources
            .as_ref()
            .and_then(|r| r.requests.as_ref())
            .and_then(|r| r.get("storage"))
            .map(|q| q.0.clone());
        keep_spelling(&mut state.home_size, size);
    }
    match &pod {
        Some(pod) => {
            state.pod_uid = pod.metadata.uid.clone().map_or(Attr::Null, Attr::Known);
            state.node_name = pod
                .spec
                .as_ref()
                .and_then(|s| s.node_name.clone())
                .map_or(Attr::Null, Attr::Known);
            read_pod(&mut state, pod, importing);
        }
        None => {
            state.pod_uid = Attr::Null;
            state.node_name = Attr::Null;
        }
    }
    if importing || state.running.is_null() {
        state.running = Attr::Known(pod.is_some());
    }
    fill_defaults(&mut state);
    Ok(Some(state))
}

/// Sets `attr` to `found` unless both are the same quantity (the API server
/// writes `1024Mi` back as `1Gi`).
fn keep_spelling(attr: &mut Attr<String>, found: Option<String>) {
    match (attr.known(), found) {
        (Some(have), Some(found)) if quantity::same(have, &found) => {}
        (_, Some(found)) => *attr = Attr::Known(found),
        (_, None) => {}
    }
}

/// Null attributes with a default get it (after an import).
fn fill_defaults(state: &mut WorkspaceModel) {
    use super::model::*;
    for (attr, default) in [
        (&mut state.style, DEFAULT_STYLE),
        (&mut state.envbox_image, DEFAULT_ENVBOX_IMAGE),
        (&mut state.username, DEFAULT_USERNAME),
        (&mut state.cpu, DEFAULT_CPU),
        (&mut state.memory, DEFAULT_MEMORY),
        (&mut state.home_size, DEFAULT_HOME_SIZE),
    ] {
        if attr.is_null() {
            *attr = Attr::Known(default.to_owned());
        }
    }
    for attr in [&mut state.add_tun, &mut state.add_fuse] {
        if attr.is_null() {
            *attr = Attr::Known(false);
        }
    }
}

/// What the running pod says of the configuration, for drift and import.
fn read_pod(state: &mut WorkspaceModel, pod: &Pod, importing: bool) {
    let Some(spec) = &pod.spec else { return };
    let Some(container) = spec.containers.iter().find(|c| c.name == CONTAINER) else {
        return;
    };
    let env = |name: &str| {
        container
            .env
            .iter()
            .flatten()
            .find(|e| e.name == name)
            .and_then(|e| e.value.clone())
    };
    let optional = |value: Option<String>| {
        value
            .filter(|v| !v.is_empty())
            .map_or(Attr::Null, Attr::Known)
    };
    // `""` as configured reads back as absent: the same to the pod.
    let text = |attr: &mut Attr<String>, value: Option<String>| {
        let found = optional(value);
        if !(found.is_null() && attr.known().is_some_and(String::is_empty)) {
            *attr = found;
        }
    };
    let style = if spec.runtime_class_name.as_deref() == Some(RUNTIME_CLASS) {
        Style::SysboxRunc
    } else {
        Style::Envbox
    };
    let limits = container.resources.as_ref().and_then(|r| r.limits.as_ref());
    let limit = |name: &str| limits.and_then(|l| l.get(name)).map(|q| q.0.clone());
    keep_spelling(&mut state.cpu, limit("cpu"));
    keep_spelling(&mut state.memory, limit("memory"));
    if let Some(token) = env("CODER_AGENT_TOKEN") {
        state.agent_token = Attr::Known(token);
    }
    text(&mut state.agent_url, env("CODER_AGENT_URL"));
    let home = container
        .volume_mounts
        .iter()
        .flatten()
        .find(|m| m.name == "home" && m.mount_path.starts_with("/home/"));
    if let Some(home) = home {
        state.username = Attr::Known(home.mount_path.trim_start_matches("/home/").to_owned());
    }
    match style {
        Style::SysboxRunc => {
            state.style = Attr::Known("sysbox-runc".to_owned());
            state.image = container.image.clone().map_or(Attr::Null, Attr::Known);
            text(
                &mut state.agent_init_script,
                container.args.as_ref().and_then(|a| a.first().cloned()),
            );
            state.image_pull_secret = optional(
                spec.image_pull_secrets
                    .as_ref()
                    .and_then(|s| s.first())
                    .map(|s| s.name.clone()),
            );
            let crio = pod
                .metadata
                .annotations
                .as_ref()
                .is_some_and(|a| a.contains_key(CRIO_USERNS_ANNOTATION));
            state.user_namespace = if spec.host_users == Some(false) {
                Attr::Known(UserNamespace::HostUsersFalse.name().to_owned())
            } else if crio {
                Attr::Known(UserNamespace::CrioAnnotation.name().to_owned())
            } else {
                Attr::Null
            };
        }
        Style::Envbox => {
            state.style = Attr::Known("envbox".to_owned());
            state.envbox_image = container.image.clone().map_or(Attr::Null, Attr::Known);
            state.image = optional(env("CODER_INNER_IMAGE"));
            text(&mut state.agent_init_script, env("CODER_BOOTSTRAP_SCRIPT"));
            state.add_tun = Attr::Known(env("CODER_ADD_TUN").as_deref() == Some("true"));
            state.add_fuse = Attr::Known(env("CODER_ADD_FUSE").as_deref() == Some("true"));
            text(
                &mut state.docker_bridge_cidr,
                env("CODER_DOCKER_BRIDGE_CIDR"),
            );
            state.image_pull_secret = optional(
                container
                    .env
                    .iter()
                    .flatten()
                    .find(|e| e.name == "CODER_IMAGE_PULL_SECRET")
                    .and_then(|e| e.value_from.as_ref())
                    .and_then(|v| v.secret_key_ref.as_ref())
                    .map(|s| s.name.clone()),
            );
            state.user_namespace = Attr::Null;
        }
    }
    // Labels, annotations and the node selector: only the keys this
    // workspace sets are its own. The cluster adds others (CNI and mesh
    // annotations, webhooks, the RuntimeClass's node selector), which are no
    // drift; a key of ours changed or removed is.
    // An import has no keys of its own yet: it takes all but those this
    // provider and the RuntimeClass add.
    let labels = pod.metadata.labels.clone().unwrap_or_default();
    let annotations = pod.metadata.annotations.clone().unwrap_or_default();
    let selector = spec.node_selector.clone().unwrap_or_default();
    // Tolerations: those the cluster adds (with `tolerationSeconds`, by the DefaultTolerationSeconds
    // admission, for `node.kubernetes.io/` taints) are not the workspace's. A pod's tolerations
    // can only grow, so one of ours missing means the pod was made by someone else.
    let tolerations: Vec<TolerationModel> = spec
        .tolerations
        .iter()
        .flatten()
        .filter(|t| {
            t.toleration_seconds.is_none()
                && !t
                    .key
                    .as_deref()
                    .is_some_and(|k| k.starts_with("node.kubernetes.io/"))
        })
        .map(|t| TolerationModel {
            key: optional(t.key.clone()),
            value: if t.operator.as_deref() == Some("Exists") {
                Attr::Null
            } else {
                optional(t.value.clone())
            },
            effect: optional(t.effect.clone()),
        })
        .collect();
    read_gpus_and_mounts(state, pod, container, style);
    if importing {
        state.toleration = Attr::Known(tolerations);
    } else if let Attr::Known(own) = &mut state.toleration {
        own.retain(|t| tolerations.contains(t));
    }
    if importing {
        let runtime_keys: &[&str] = if style == Style::SysboxRunc {
            &[crate::sysbox::installer::RUNTIME_LABEL]
        } else {
            &[]
        };
        state.labels = all_but(&labels, &[WORKSPACE_LABEL, "app.kubernetes.io/managed-by"]);
        state.annotations = all_but(&annotations, &[CRIO_USERNS_ANNOTATION]);
        state.node_selector = all_but(&selector, runtime_keys);
    } else {
        keep_own(&mut state.labels, &labels);
        keep_own(&mut state.annotations, &annotations);
        keep_own(&mut state.node_selector, &selector);
    }
}

/// `gpus` and the `mount` blocks, from the container's limits, the pod's `mount-<i>` volumes and
/// where the container (sysbox-runc) or envbox's `CODER_MOUNTS` puts them.
fn read_gpus_and_mounts(
    state: &mut WorkspaceModel,
    pod: &Pod,
    container: &Container,
    style: Style,
) {
    let gpus = container
        .resources
        .as_ref()
        .and_then(|r| r.limits.as_ref())
        .and_then(|l| l.get(GPU_RESOURCE))
        .and_then(|q| q.0.parse::<i64>().ok())
        .filter(|n| *n > 0);
    // `gpus = 0` as configured reads back as none: the same to the pod.
    if gpus.is_some() || state.gpus.known() != Some(&0) {
        state.gpus = gpus.map_or(Attr::Null, Attr::Known);
    }
    let volumes = pod.spec.as_ref().and_then(|s| s.volumes.as_ref());
    let mounts = container.volume_mounts.as_deref().unwrap_or_default();
    let envbox_mounts: BTreeMap<String, String> = container
        .env
        .iter()
        .flatten()
        .find(|e| e.name == "CODER_MOUNTS")
        .and_then(|e| e.value.as_deref())
        .unwrap_or_default()
        .split(',')
        .filter_map(|m| {
            let mut parts = m.split(':');
            Some((parts.next()?.to_owned(), parts.next()?.to_owned()))
        })
        .collect();
    let before = state.mount.known().cloned().unwrap_or_default();
    let mut found = Vec::new();
    for i in 0.. {
        let name = extra_volume_name(i);
        let Some(volume) = volumes.and_then(|v| v.iter().find(|v| v.name == name)) else {
            break;
        };
        let mounted = mounts.iter().find(|m| m.name == name);
        let path = match style {
            Style::SysboxRunc => mounted.map(|m| m.mount_path.clone()),
            Style::Envbox => envbox_mounts.get(&envbox_mount_point(i)).cloned(),
        };
        let read_only = mounted.and_then(|m| m.read_only) == Some(true);
        let was = before.get(i);
        found.push(MountModel {
            path: path.map_or(Attr::Null, Attr::Known),
            claim: volume
                .persistent_volume_claim
                .as_ref()
                .map_or(Attr::Null, |c| Attr::Known(c.claim_name.clone())),
            host_path: volume
                .host_path
                .as_ref()
                .map_or(Attr::Null, |h| Attr::Known(h.path.clone())),
            // Unset and `false` are the same to the pod: keep the spelling configured.
            read_only: if read_only {
                Attr::Known(true)
            } else if was.is_some_and(|m| m.read_only.known() == Some(&false)) {
                Attr::Known(false)
            } else {
                Attr::Null
            },
        });
    }
    state.mount = Attr::Known(found);
}

/// `found` less the keys in `drop`; null when nothing is left.
fn all_but(found: &BTreeMap<String, String>, drop: &[&str]) -> Attr<BTreeMap<String, String>> {
    let rest: BTreeMap<String, String> = found
        .iter()
        .filter(|(k, _)| !drop.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if rest.is_empty() {
        Attr::Null
    } else {
        Attr::Known(rest)
    }
}

/// The keys of `attr` as `found` has them (a key `found` lacks is dropped).
fn keep_own(attr: &mut Attr<BTreeMap<String, String>>, found: &BTreeMap<String, String>) {
    if let Attr::Known(own) = attr {
        *own = own
            .keys()
            .filter_map(|k| Some((k.clone(), found.get(k)?.clone())))
            .collect();
    }
}
