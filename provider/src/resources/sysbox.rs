//! `cvm_sysbox`: Sysbox installed on a set of Kubernetes nodes by the
//! upstream installer (`sysbox-deploy-k8s`), so that pods with
//! `runtimeClassName: sysbox-runc` run as container-based virtual machines.
//!
//! Create applies the installer objects (server-side apply, one field
//! manager), labels the target nodes `sysbox-install=yes`, and watches until
//! each reports `sysbox-runtime=running`. Delete follows the documented
//! uninstall: the install DaemonSet goes, the cleanup DaemonSet runs until
//! no node reports Sysbox, then every object and label is removed.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Node, ServiceAccount};
use k8s_openapi::api::node::v1::RuntimeClass;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use serde::{Deserialize, Serialize};
use tf_framework::diagnostic::capitalised;
use tf_framework::resource::{
    CreateRequest, CreateResponse, DeleteRequest, DeleteResponse, Import, PlanRequest,
    PlanResponse, ReadRequest, ReadResponse, UpdateRequest, UpdateResponse,
};
use tf_framework::schema::{Attribute, Block, Schema};
use tf_framework::timeouts::Operation;
use tf_framework::{Ctx, Resource, Timeouts, ToDiagnostic, validate};
use tf_protocol::value::{Attr, Type};
use tf_protocol::{AttributePath, Diagnostics, Value};

use crate::data_sources::cluster_check::{
    DEFAULT_INSTALLER_IMAGE, DEFAULT_NAMESPACE, image_tag, namespace_verdict, node_facts,
};
use crate::image_reference::image_reference;
use crate::kube::labels;
use crate::kube::names::{self, Grammar};
use crate::kube::{Cluster, KubeError};
use crate::provider::ProviderData;
use crate::sysbox::compatibility::{SysboxRelease, check_node};
use crate::sysbox::installer::{
    self, CLEANUP_DAEMON_SET, CLUSTER_ROLE, CLUSTER_ROLE_BINDING, CONFIG_MAP, FIELD_MANAGER,
    INSTALL_DAEMON_SET, INSTALL_LABEL, INSTALL_VALUE, InstallerObjects, RUNNING, RUNTIME_CLASS,
    RUNTIME_LABEL, SERVICE_ACCOUNT,
};
use crate::sysbox::rollout::{self, RolloutError};

const CREATE_TIMEOUT: Duration = Duration::from_secs(20 * 60);
const READ_TIMEOUT: Duration = Duration::from_secs(2 * 60);
const DELETE_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// How long plan-time checks may retry an unreachable API server.
const PLAN_TIMEOUT: Duration = Duration::from_secs(60);

/// The `cvm_sysbox` resource.
#[derive(Debug, Default)]
pub struct SysboxResource;

/// State and configuration of `cvm_sysbox`.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SysboxModel {
    /// The namespace; also the import id.
    pub id: Attr<String>,
    /// Namespace of the installer objects.
    pub namespace: Attr<String>,
    /// The sysbox-deploy-k8s image.
    pub installer_image: Attr<String>,
    /// Labels selecting target nodes.
    pub node_selector: Attr<BTreeMap<String, Attr<String>>>,
    /// Names of target nodes.
    pub nodes: Attr<BTreeSet<Attr<String>>>,
    /// Whether to wait for every target node.
    pub wait: Attr<bool>,
    /// Whether unsupported target nodes are only a warning.
    pub allow_unsupported_nodes: Attr<bool>,
    /// Nodes to wait for before installing.
    pub min_ready_nodes: Attr<i64>,
    /// Target nodes reporting `sysbox-runtime=running`.
    pub ready_nodes: Attr<BTreeSet<String>>,
    /// The RuntimeClass pods name.
    pub runtime_class_name: Attr<String>,
    /// Installer objects present as the provider applied them.
    pub installed_objects: Attr<Vec<String>>,
    /// Time limits.
    pub timeouts: Option<Timeouts>,
}

impl SysboxModel {
    fn namespace(&self) -> String {
        self.namespace
            .known()
            .or(self.id.known())
            .cloned()
            .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned())
    }

    fn image(&self) -> String {
        self.installer_image
            .known()
            .cloned()
            .unwrap_or_else(|| DEFAULT_INSTALLER_IMAGE.to_owned())
    }

    fn waits(&self) -> bool {
        self.wait.known().copied().unwrap_or(true)
    }

    /// The node selector, when it and all its values are known.
    fn selector_labels(&self) -> Option<BTreeMap<String, String>> {
        self.node_selector
            .known()?
            .iter()
            .map(|(k, v)| Some((k.clone(), v.known()?.clone())))
            .collect()
    }

    /// The named nodes, when the set and all its names are known.
    fn node_names(&self) -> Option<BTreeSet<String>> {
        self.nodes
            .known()?
            .iter()
            .map(|n| n.known().cloned())
            .collect()
    }

    /// The node selector as a label selector string (`a=b,c=d`).
    fn selector(&self) -> Option<String> {
        self.selector_labels().map(|labels| {
            labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        })
    }

    /// Whether the target nodes can be known now (no unknown inputs, also
    /// none inside the selector or the list of names).
    fn targets_known(&self) -> bool {
        (self.node_selector.is_null() || self.selector_labels().is_some())
            && (self.nodes.is_null() || self.node_names().is_some())
    }
}

/// The objects in the order they are applied, as `Kind namespace/name`.
fn object_names(namespace: &str) -> Vec<String> {
    vec![
        format!("ServiceAccount {namespace}/{SERVICE_ACCOUNT}"),
        format!("ClusterRole {CLUSTER_ROLE}"),
        format!("ClusterRoleBinding {CLUSTER_ROLE_BINDING}"),
        format!("ConfigMap {namespace}/{CONFIG_MAP}"),
        format!("DaemonSet {namespace}/{INSTALL_DAEMON_SET}"),
        format!("RuntimeClass {RUNTIME_CLASS}"),
    ]
}

/// The target nodes: those matching the selector and those named, that
/// exist. Named nodes that do not exist are returned apart.
async fn find_targets(
    cluster: &Cluster,
    model: &SysboxModel,
) -> Result<(Vec<Node>, Vec<String>), KubeError> {
    let mut found: BTreeMap<String, Node> = BTreeMap::new();
    if let Some(selector) = model.selector() {
        for node in cluster.list_nodes(&selector).await? {
            found.insert(node.metadata.name.clone().unwrap_or_default(), node);
        }
    }
    let mut missing = Vec::new();
    if let Some(names) = model.node_names()
        && !names.is_empty()
    {
        let all = cluster.list_nodes("").await?;
        for name in names {
            match all.iter().find(|n| n.metadata.name.as_ref() == Some(&name)) {
                Some(node) => {
                    found.insert(name, node.clone());
                }
                None => missing.push(name),
            }
        }
    }
    Ok((found.into_values().collect(), missing))
}

fn names(nodes: &[Node]) -> BTreeSet<String> {
    nodes
        .iter()
        .filter_map(|n| n.metadata.name.clone())
        .collect()
}

fn label(node: &Node, key: &str) -> Option<String> {
    node.metadata.labels.as_ref()?.get(key).cloned()
}

/// Where a node's problem points: the selector that picked it, else `nodes`.
fn origin_path(model: &SysboxModel, node: &str) -> AttributePath {
    let named = model.node_names().is_some_and(|n| n.contains(node));
    if named {
        AttributePath::attr("nodes")
    } else {
        AttributePath::attr("node_selector")
    }
}

/// The plan-time checks: the namespace admits privileged pods, and every
/// target node can run the installer's Sysbox release.
async fn check_cluster(
    cluster: &Cluster,
    model: &SysboxModel,
    targets: &[Node],
    missing: &[String],
    diagnostics: &mut Diagnostics,
) -> Result<(), KubeError> {
    let namespace = model.namespace();
    let found = cluster
        .find(&cluster.all::<Namespace>(), &namespace)
        .await?;
    match found {
        None => diagnostics.attribute_warning(
            AttributePath::attr("namespace"),
            "Namespace Not Found",
            format!(
                "Namespace {namespace:?} does not exist yet; the installer objects go there, so \
                 it must exist when this resource is applied."
            ),
        ),
        Some(ns) => {
            let labels = ns.metadata.labels.unwrap_or_default();
            if let Err(reason) = namespace_verdict(&namespace, &labels) {
                diagnostics.attribute_error(
                    AttributePath::attr("namespace"),
                    "Namespace Refuses Privileged Pods",
                    format!("{}.", capitalised(&reason)),
                );
            }
        }
    }

    let release = SysboxRelease::from_tag(image_tag(&model.image()));
    let allow = model
        .allow_unsupported_nodes
        .known()
        .copied()
        .unwrap_or(false);
    for node in targets {
        let name = node.metadata.name.clone().unwrap_or_default();
        let verdict = check_node(&node_facts(node), &release, false);
        if verdict.supported {
            continue;
        }
        let reasons: Vec<String> = verdict
            .reasons
            .iter()
            .filter(|r| r.severity == crate::sysbox::compatibility::Severity::Blocking)
            .map(ToString::to_string)
            .collect();
        let detail = format!(
            "Node {name:?} cannot run Sysbox {}: {}.",
            release.tag,
            reasons.join("; ")
        );
        if allow {
            diagnostics.attribute_warning(
                origin_path(model, &name),
                "Node Cannot Run Sysbox",
                format!(
                    "{detail} allow_unsupported_nodes is true, so the installer will try anyway."
                ),
            );
        } else {
            diagnostics.attribute_error(
                origin_path(model, &name),
                "Node Cannot Run Sysbox",
                format!(
                    "{detail} Leave it out of node_selector and nodes, or set \
                     allow_unsupported_nodes = true to try anyway."
                ),
            );
        }
    }
    if !missing.is_empty() {
        diagnostics.attribute_warning(
            AttributePath::attr("nodes"),
            "Nodes Not Found",
            format!(
                "No node is named {}; Sysbox is installed on them only once they exist and this \
                 resource is applied again.",
                missing.join(", ")
            ),
        );
    }
    let waits_for_nodes = model.min_ready_nodes.known().is_some_and(|n| *n > 0);
    if targets.is_empty() && missing.is_empty() && !waits_for_nodes {
        diagnostics.attribute_warning(
            AttributePath::attr("node_selector"),
            "No Target Nodes",
            "No node matches node_selector yet; the installer objects are applied, and nodes \
             that match later are not labelled until this resource is applied again.",
        );
    }
    Ok(())
}

/// Applies the installer objects in order; returns the names applied so
/// far even when one fails.
async fn apply_objects(
    cluster: &Cluster,
    objects: &InstallerObjects,
    namespace: &str,
) -> (Vec<String>, Result<(), KubeError>) {
    let names = object_names(namespace);
    let mut applied = Vec::new();
    macro_rules! step {
        ($api:expr, $object:expr, $index:expr) => {
            match cluster.apply(&$api, $object, FIELD_MANAGER).await {
                Ok(_) => applied.push(names[$index].clone()),
                Err(e) => return (applied, Err(e)),
            }
        };
    }
    step!(
        cluster.namespaced::<ServiceAccount>(namespace),
        &objects.service_account,
        0
    );
    step!(cluster.all::<ClusterRole>(), &objects.cluster_role, 1);
    step!(cluster.all::<ClusterRoleBinding>(), &objects.binding, 2);
    step!(
        cluster.namespaced::<ConfigMap>(namespace),
        &objects.config_map,
        3
    );
    step!(
        cluster.namespaced::<DaemonSet>(namespace),
        &objects.daemon_set,
        4
    );
    step!(cluster.all::<RuntimeClass>(), &objects.runtime_class, 5);
    (applied, Ok(()))
}

/// Which installer objects exist as the provider applies them, and the
/// install DaemonSet's image.
async fn find_objects(
    cluster: &Cluster,
    namespace: &str,
    wanted: &InstallerObjects,
) -> Result<(Vec<String>, Option<String>), KubeError> {
    let names = object_names(namespace);
    let mut present = Vec::new();
    if cluster
        .find(
            &cluster.namespaced::<ServiceAccount>(namespace),
            SERVICE_ACCOUNT,
        )
        .await?
        .is_some()
    {
        present.push(names[0].clone());
    }
    if cluster
        .find(&cluster.all::<ClusterRole>(), CLUSTER_ROLE)
        .await?
        .is_some_and(|r| installer::cluster_role_matches(&r, &wanted.cluster_role))
    {
        present.push(names[1].clone());
    }
    if cluster
        .find(&cluster.all::<ClusterRoleBinding>(), CLUSTER_ROLE_BINDING)
        .await?
        .is_some_and(|b| installer::binding_matches(&b, &wanted.binding))
    {
        present.push(names[2].clone());
    }
    if cluster
        .find(&cluster.namespaced::<ConfigMap>(namespace), CONFIG_MAP)
        .await?
        .is_some()
    {
        present.push(names[3].clone());
    }
    let daemon_set = cluster
        .find(
            &cluster.namespaced::<DaemonSet>(namespace),
            INSTALL_DAEMON_SET,
        )
        .await?;
    let image = daemon_set
        .as_ref()
        .and_then(|d| installer::daemon_set_image(d).map(str::to_owned));
    // An image changed outside Terraform shows as installer_image drift;
    // here the rest of the DaemonSet is compared.
    let wanted_daemon_set = match &image {
        Some(image) => InstallerObjects::new(namespace, image).daemon_set,
        None => wanted.daemon_set.clone(),
    };
    if daemon_set.is_some_and(|d| installer::daemon_set_matches(&d, &wanted_daemon_set)) {
        present.push(names[4].clone());
    }
    if cluster
        .find(&cluster.all::<RuntimeClass>(), RUNTIME_CLASS)
        .await?
        .is_some_and(|r| installer::runtime_class_matches(&r, &wanted.runtime_class))
    {
        present.push(names[5].clone());
    }
    Ok((present, image))
}

/// Labels every target `sysbox-install=yes`, and removes the label from
/// `previous` targets that are targets no more.
async fn label_targets(
    cluster: &Cluster,
    targets: &BTreeSet<String>,
    current: &[Node],
    previous: &BTreeSet<String>,
) -> Result<(), KubeError> {
    for node in current {
        let name = node.metadata.name.clone().unwrap_or_default();
        if targets.contains(&name) && label(node, INSTALL_LABEL).as_deref() != Some(INSTALL_VALUE) {
            cluster
                .set_node_label(&name, INSTALL_LABEL, Some(INSTALL_VALUE))
                .await?;
        }
    }
    for name in previous.difference(targets) {
        cluster.set_node_label(name, INSTALL_LABEL, None).await?;
    }
    Ok(())
}

/// A rollout failure as a diagnostic.
fn rollout_diagnostic(error: &RolloutError, summary: &str) -> tf_protocol::Diagnostic {
    match error {
        RolloutError::Kube(e) => e.to_diagnostic(None),
        RolloutError::NotReady(message) => tf_protocol::Diagnostic::error(summary, message.clone()),
    }
}

impl SysboxResource {
    /// Applies the objects, labels the targets and waits: the shared body
    /// of create and update. Fills `state` with what exists, even on error.
    async fn install(
        ctx: &Ctx<ProviderData>,
        desired: &SysboxModel,
        previous_targets: &BTreeSet<String>,
        timeout: Duration,
        state: &mut SysboxModel,
        diagnostics: &mut Diagnostics,
    ) {
        let started = Instant::now();
        let namespace = desired.namespace();
        state.id = Attr::Known(namespace.clone());
        state.namespace = Attr::Known(namespace.clone());
        state.runtime_class_name = Attr::Known(RUNTIME_CLASS.to_owned());
        if !state.ready_nodes.is_known() {
            state.ready_nodes = Attr::Known(BTreeSet::new());
        }
        let cluster = match ctx
            .data()
            .kube_cluster(started + timeout, ctx.cancellation().clone())
            .await
        {
            Ok(cluster) => cluster,
            Err(e) => {
                diagnostics.push(e.to_diagnostic(None));
                return;
            }
        };

        let objects = InstallerObjects::new(&namespace, &desired.image());
        let (applied, result) = apply_objects(&cluster, &objects, &namespace).await;
        let mut present = state.installed_objects.known().cloned().unwrap_or_default();
        for name in applied {
            if !present.contains(&name) {
                present.push(name);
            }
        }
        let order = object_names(&namespace);
        present.sort_by_key(|n| order.iter().position(|o| o == n));
        state.installed_objects = Attr::Known(present);
        if let Err(e) = result {
            diagnostics.push(e.to_diagnostic(None));
            return;
        }

        let wanted = desired.min_ready_nodes.known().copied().unwrap_or(0);
        if let (Ok(count @ 1..), Some(selector)) =
            (usize::try_from(wanted), desired.selector_labels())
        {
            tracing::info!(count, "waiting for nodes matching node_selector to join");
            if let Err(e) = rollout::wait_for_nodes(
                &cluster,
                &namespace,
                INSTALL_DAEMON_SET,
                &selector,
                count,
                started,
            )
            .await
            {
                diagnostics.push(rollout_diagnostic(&e, "Nodes Not Joined"));
                return;
            }
        }
        let (current, missing) = match find_targets(&cluster, desired).await {
            Ok(found) => found,
            Err(e) => {
                diagnostics.push(e.to_diagnostic(None));
                return;
            }
        };
        let mut targets = names(&current);
        if let Err(e) = label_targets(&cluster, &targets, &current, previous_targets).await {
            diagnostics.push(e.to_diagnostic(None));
            return;
        }
        targets.extend(missing);
        tracing::info!(
            namespace = %namespace,
            targets = ?targets,
            "Sysbox installer applied; target nodes labelled {INSTALL_LABEL}={INSTALL_VALUE}"
        );

        if !desired.waits() {
            let running: BTreeSet<String> = current
                .iter()
                .filter(|n| label(n, RUNTIME_LABEL).as_deref() == Some(RUNNING))
                .filter_map(|n| n.metadata.name.clone())
                .collect();
            state.ready_nodes = Attr::Known(running);
            return;
        }
        let wanted = rollout::Targets {
            named: desired.node_names().unwrap_or_default(),
            selector: desired.selector_labels(),
        };
        match rollout::wait_until_running(
            &cluster,
            &namespace,
            INSTALL_DAEMON_SET,
            &wanted,
            started,
        )
        .await
        {
            Ok(ready) => state.ready_nodes = Attr::Known(ready.into_iter().collect()),
            Err(e) => {
                if let Ok((nodes, _)) = find_targets(&cluster, desired).await {
                    state.ready_nodes = Attr::Known(ready_among(&nodes));
                }
                diagnostics.push(rollout_diagnostic(&e, "Sysbox Not Ready"));
            }
        }
    }
}

/// Nodes labelled for install on which Sysbox runs.
fn ready_among(nodes: &[Node]) -> BTreeSet<String> {
    nodes
        .iter()
        .filter(|n| {
            label(n, INSTALL_LABEL).as_deref() == Some(INSTALL_VALUE)
                && label(n, RUNTIME_LABEL).as_deref() == Some(RUNNING)
        })
        .filter_map(|n| n.metadata.name.clone())
        .collect()
}

/// At least one way of choosing nodes.
fn check(config: &SysboxModel, diagnostics: &mut Diagnostics) {
    if config.node_selector.is_null() && config.nodes.is_null() {
        diagnostics.attribute_error(
            AttributePath::attr("node_selector"),
            "No Target Nodes",
            "Set node_selector (labels of the nodes to install Sysbox on, e.g. { \"sysbox-install\" = \"yes\" }), nodes (their names), or both.",
        );
    }
    if config.node_selector.is_null() && !config.min_ready_nodes.is_null() {
        diagnostics.attribute_error(
            AttributePath::attr("min_ready_nodes"),
            "Missing Node Selector",
            "min_ready_nodes counts nodes matching node_selector: set node_selector too.",
        );
    }
}

#[async_trait]
impl Resource for SysboxResource {
    type Data = ProviderData;
    type Model = SysboxModel;

    fn type_name(&self) -> &'static str {
        "cvm_sysbox"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            Block::new(
                "Sysbox installed on Kubernetes nodes by its official installer (sysbox-deploy-k8s), \
                 so that pods with `runtimeClassName: sysbox-runc` run as container-based virtual \
                 machines (CVMs). Creating it applies the installer objects, labels the target \
                 nodes `sysbox-install=yes` and waits until each reports `sysbox-runtime=running`; \
                 destroying it runs the documented uninstall. The plan fails when a target node \
                 cannot run Sysbox or the namespace refuses privileged pods.",
            )
            .attribute(
                Attribute::string("id")
                    .computed()
                    .use_state_for_unknown()
                    .description("The namespace of the installer objects; also the import id."),
            )
            .attribute(
                Attribute::string("namespace")
                    .default(Value::String(DEFAULT_NAMESPACE.to_owned()))
                    .validate(names::kube_name("namespace", Grammar::Dns1123Label))
                    .requires_replace("the installer objects are recreated in the new namespace")
                    .description(format!(
                        "Namespace of the installer's ServiceAccount, ConfigMap and DaemonSets. It must admit privileged pods with hostPath volumes. Default `{DEFAULT_NAMESPACE}`."
                    )),
            )
            .attribute(
                Attribute::string("installer_image")
                    .default(Value::String(DEFAULT_INSTALLER_IMAGE.to_owned()))
                    .validate(image_reference())
                    .description(format!(
                        "The sysbox-deploy-k8s image; its tag is the Sysbox release. Change the tag to upgrade: the DaemonSet rolls and the nodes are waited for again. Default `{DEFAULT_INSTALLER_IMAGE}`."
                    )),
            )
            .attribute(
                Attribute::map("node_selector", Type::String)
                    .optional()
                    .validate(labels::labels())
                    .description("Labels of the nodes to install Sysbox on. Set this, `nodes`, or both."),
            )
            .attribute(
                Attribute::set("nodes", Type::String)
                    .optional()
                    .validate(names::kube_name("node", Grammar::Dns1123Subdomain))
                    .description("Names of nodes to install Sysbox on, in addition to those `node_selector` picks."),
            )
            .attribute(
                Attribute::bool("wait")
                    .default(Value::Bool(true))
                    .description("Wait until every target node reports `sysbox-runtime=running`. Default `true`."),
            )
            .attribute(
                Attribute::bool("allow_unsupported_nodes")
                    .default(Value::Bool(false))
                    .description("Turn the plan-time error for target nodes that cannot run Sysbox into a warning. Default `false`."),
            )
            .attribute(
                Attribute::number("min_ready_nodes")
                    .optional()
                    .validate(validate::between(0, 10_000))
                    .description(
                        "Wait for at least this many nodes matching `node_selector` before \
                         installing, e.g. the desired size of a node group created in the same \
                         apply whose nodes are still joining. Default: no wait.",
                    ),
            )
            .attribute(
                Attribute::set("ready_nodes", Type::String)
                    .computed()
                    .description("Target nodes on which Sysbox runs (labelled `sysbox-install=yes` and `sysbox-runtime=running`). A node that loses either label shows as drift."),
            )
            .attribute(
                Attribute::string("runtime_class_name")
                    .computed()
                    .description("The RuntimeClass CVM pods name: `sysbox-runc`."),
            )
            .attribute(
                Attribute::list("installed_objects", Type::String)
                    .computed()
                    .description("The installer objects present as this resource applies them (`Kind namespace/name`). One deleted or changed outside Terraform drops out and shows as drift."),
            )
            .block(Timeouts::block(&[
                (Operation::Create, CREATE_TIMEOUT),
                (Operation::Read, READ_TIMEOUT),
                (Operation::Update, CREATE_TIMEOUT),
                (Operation::Delete, DELETE_TIMEOUT),
            ])),
        )
    }

    async fn validate(&self, config: &SysboxModel, diagnostics: &mut Diagnostics) {
        check(config, diagnostics);
    }

    async fn modify_plan(
        &self,
        ctx: &Ctx<ProviderData>,
        request: PlanRequest<'_, SysboxModel>,
        response: &mut PlanResponse<SysboxModel>,
    ) {
        let plan = &mut response.plan;
        let namespace = plan.namespace();
        plan.id = Attr::Known(namespace.clone());
        plan.runtime_class_name = Attr::Known(RUNTIME_CLASS.to_owned());
        plan.installed_objects = Attr::Known(object_names(&namespace));
        if !plan.targets_known() || plan.installer_image.is_unknown() {
            plan.ready_nodes = Attr::Unknown;
            return;
        }
        let cluster = match ctx
            .data()
            .kube_cluster(Instant::now() + PLAN_TIMEOUT, ctx.cancellation().clone())
            .await
        {
            Ok(cluster) => cluster,
            // The provider block may depend on resources not created yet:
            // the checks then run when this resource is applied.
            Err(KubeError::NotConfigured { .. }) if request.prior.is_none() => {
                plan.ready_nodes = Attr::Unknown;
                return;
            }
            Err(e) => {
                response.diagnostics.push(e.to_diagnostic(None));
                return;
            }
        };
        let (targets, missing) = match find_targets(&cluster, plan).await {
            Ok(found) => found,
            Err(e) => {
                response.diagnostics.push(e.to_diagnostic(None));
                return;
            }
        };
        let plan_snapshot = plan.clone();
        if let Err(e) = check_cluster(
            &cluster,
            &plan_snapshot,
            &targets,
            &missing,
            &mut response.diagnostics,
        )
        .await
        {
            response.diagnostics.push(e.to_diagnostic(None));
            return;
        }
        // Nodes that should run Sysbox but do not (a label lost, a new
        // node matching the selector) are drift: plan an update.
        let mut expected = names(&targets);
        expected.extend(missing);
        let plan = &mut response.plan;
        let in_sync = request
            .prior
            .and_then(|p| p.ready_nodes.known())
            .is_some_and(|ready| *ready == expected);
        if plan.waits() && !in_sync {
            plan.ready_nodes = Attr::Unknown;
        }
    }

    async fn create(
        &self,
        ctx: &Ctx<ProviderData>,
        request: CreateRequest<SysboxModel>,
        response: &mut CreateResponse<SysboxModel>,
    ) {
        let timeout = Timeouts::get(
            request.config.timeouts.as_ref(),
            Operation::Create,
            CREATE_TIMEOUT,
        );
        let mut state = request.plan.clone();
        state.installed_objects = Attr::Known(Vec::new());
        state.ready_nodes = Attr::Known(BTreeSet::new());
        Self::install(
            ctx,
            &request.plan,
            &BTreeSet::new(),
            timeout,
            &mut state,
            &mut response.diagnostics,
        )
        .await;
        // With nothing applied there is nothing to keep.
        let created = state
            .installed_objects
            .known()
            .is_some_and(|o| !o.is_empty());
        if created || !response.diagnostics.has_error() {
            response.state = Some(state);
        }
    }

    async fn read(
        &self,
        ctx: &Ctx<ProviderData>,
        request: ReadRequest<SysboxModel>,
        response: &mut ReadResponse<SysboxModel>,
    ) {
        let mut state = request.state;
        let timeout = Timeouts::get(state.timeouts.as_ref(), Operation::Read, READ_TIMEOUT);
        let cluster = match ctx
            .data()
            .kube_cluster(Instant::now() + timeout, ctx.cancellation().clone())
            .await
        {
            Ok(cluster) => cluster,
            Err(e) => {
                response.diagnostics.push(e.to_diagnostic(None));
                return;
            }
        };
        let namespace = state.namespace();
        let wanted = InstallerObjects::new(&namespace, &state.image());
        let (present, image) = match find_objects(&cluster, &namespace, &wanted).await {
            Ok(found) => found,
            Err(e) => {
                response.diagnostics.push(e.to_diagnostic(None));
                return;
            }
        };
        let runtime_class = object_names(&namespace)[5].clone();
        if image.is_none() && !present.contains(&runtime_class) {
            tracing::info!(namespace = %namespace, "the Sysbox installer is gone; removing it from state");
            response.state = None;
            return;
        }
        let importing = state.installer_image.is_null();
        if importing {
            // Imported: only the id is known. Take the nodes the installer
            // selects, and the defaults for the rest.
            state.wait = Attr::Known(true);
            state.allow_unsupported_nodes = Attr::Known(false);
            match cluster
                .list_nodes(&format!("{INSTALL_LABEL}={INSTALL_VALUE}"))
                .await
            {
                Ok(nodes) => {
                    state.nodes = Attr::Known(names(&nodes).into_iter().map(Attr::Known).collect());
                }
                Err(e) => {
                    response.diagnostics.push(e.to_diagnostic(None));
                    return;
                }
            }
        }
        state.id = Attr::Known(namespace.clone());
        state.namespace = Attr::Known(namespace);
        if let Some(image) = image {
            state.installer_image = Attr::Known(image);
        } else if importing {
            state.installer_image = Attr::Known(DEFAULT_INSTALLER_IMAGE.to_owned());
        }
        state.runtime_class_name = Attr::Known(RUNTIME_CLASS.to_owned());
        state.installed_objects = Attr::Known(present);
        match find_targets(&cluster, &state).await {
            Ok((nodes, _)) => state.ready_nodes = Attr::Known(ready_among(&nodes)),
            Err(e) => {
                response.diagnostics.push(e.to_diagnostic(None));
                return;
            }
        }
        response.state = Some(state);
    }

    async fn update(
        &self,
        ctx: &Ctx<ProviderData>,
        request: UpdateRequest<SysboxModel>,
        response: &mut UpdateResponse<SysboxModel>,
    ) {
        let timeout = Timeouts::get(
            request.config.timeouts.as_ref(),
            Operation::Update,
            CREATE_TIMEOUT,
        );
        // The nodes the prior configuration chose, to unlabel those no
        // longer chosen.
        let previous = match ctx
            .data()
            .kube_cluster(Instant::now() + timeout, ctx.cancellation().clone())
            .await
        {
            Ok(cluster) => match find_targets(&cluster, &request.prior).await {
                Ok((nodes, _)) => names(&nodes),
                Err(e) => {
                    response.diagnostics.push(e.to_diagnostic(None));
                    return;
                }
            },
            Err(e) => {
                response.diagnostics.push(e.to_diagnostic(None));
                return;
            }
        };
        let mut state = request.plan.clone();
        state.installed_objects = request.prior.installed_objects.clone();
        state.ready_nodes = request.prior.ready_nodes.clone();
        Self::install(
            ctx,
            &request.plan,
            &previous,
            timeout,
            &mut state,
            &mut response.diagnostics,
        )
        .await;
        response.state = Some(state);
    }

    async fn delete(
        &self,
        ctx: &Ctx<ProviderData>,
        request: DeleteRequest<SysboxModel>,
        response: &mut DeleteResponse,
    ) {
        let prior = &request.prior;
        let timeout = Timeouts::get(prior.timeouts.as_ref(), Operation::Delete, DELETE_TIMEOUT);
        let started = Instant::now();
        let cluster = match ctx
            .data()
            .kube_cluster(started + timeout, ctx.cancellation().clone())
            .await
        {
            Ok(cluster) => cluster,
            Err(e) => {
                response.diagnostics.push(e.to_diagnostic(None));
                return;
            }
        };
        let result = uninstall(&cluster, prior, started).await;
        if let Err(e) = result {
            response
                .diagnostics
                .push(rollout_diagnostic(&e, "Sysbox Not Removed"));
        }
    }

    fn import(&self) -> Import {
        Import::Passthrough("id")
    }
}

/// The documented uninstall: remove the install DaemonSet, run the cleanup
/// DaemonSet until no node reports Sysbox, then remove the cleanup
/// DaemonSet, the other installer objects and the `sysbox-install` labels.
async fn uninstall(
    cluster: &Cluster,
    prior: &SysboxModel,
    started: Instant,
) -> Result<(), RolloutError> {
    let namespace = prior.namespace();
    let image = prior.image();
    let objects = InstallerObjects::new(&namespace, &image);
    let daemon_sets = cluster.namespaced::<DaemonSet>(&namespace);
    cluster.remove(&daemon_sets, INSTALL_DAEMON_SET).await?;

    let running = cluster
        .list_nodes(&format!("{RUNTIME_LABEL}={RUNNING}"))
        .await?;
    if !running.is_empty() {
        // The cleanup pods run as the installer's ServiceAccount: make sure
        // it and its permissions are there.
        cluster
            .apply(
                &cluster.namespaced::<ServiceAccount>(&namespace),
                &objects.service_account,
                FIELD_MANAGER,
            )
            .await?;
        cluster
            .apply(
                &cluster.all::<ClusterRole>(),
                &objects.cluster_role,
                FIELD_MANAGER,
            )
            .await?;
        cluster
            .apply(
                &cluster.all::<ClusterRoleBinding>(),
                &objects.binding,
                FIELD_MANAGER,
            )
            .await?;
        cluster
            .apply(
                &daemon_sets,
                &installer::cleanup_daemon_set(&namespace, &image),
                FIELD_MANAGER,
            )
            .await?;
        tracing::info!(
            nodes = ?names(&running),
            "cleanup DaemonSet {namespace}/{CLEANUP_DAEMON_SET} applied; waiting for the nodes to drop {RUNTIME_LABEL}"
        );
        rollout::wait_until_removed(cluster, &namespace, CLEANUP_DAEMON_SET, started).await?;
    }
    cluster.remove(&daemon_sets, CLEANUP_DAEMON_SET).await?;
    cluster
        .remove(&cluster.all::<RuntimeClass>(), RUNTIME_CLASS)
        .await?;
    cluster
        .remove(&cluster.all::<ClusterRoleBinding>(), CLUSTER_ROLE_BINDING)
        .await?;
    cluster
        .remove(&cluster.all::<ClusterRole>(), CLUSTER_ROLE)
        .await?;
    cluster
        .remove(&cluster.namespaced::<ConfigMap>(&namespace), CONFIG_MAP)
        .await?;
    cluster
        .remove(
            &cluster.namespaced::<ServiceAccount>(&namespace),
            SERVICE_ACCOUNT,
        )
        .await?;

    let (targets, _) = find_targets(cluster, prior).await?;
    let mut labelled = names(&targets);
    labelled.extend(prior.ready_nodes.known().cloned().unwrap_or_default());
    for node in cluster
        .list_nodes(&format!("{INSTALL_LABEL}={INSTALL_VALUE}"))
        .await?
    {
        if let Some(name) = node.metadata.name
            && labelled.contains(&name)
        {
            cluster.set_node_label(&name, INSTALL_LABEL, None).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_way_to_choose_nodes_is_required() {
        let mut d = Diagnostics::new();
        check(&SysboxModel::default(), &mut d);
        assert!(d.has_error());
        let mut d = Diagnostics::new();
        let model = SysboxModel {
            nodes: Attr::Unknown,
            ..Default::default()
        };
        check(&model, &mut d);
        assert!(!d.has_error(), "an unknown list of nodes counts as set");
    }

    #[test]
    fn object_names_follow_apply_order() {
        let names = object_names("sysbox");
        assert_eq!(names[0], "ServiceAccount sysbox/sysbox-label-node");
        assert_eq!(names[4], "DaemonSet sysbox/sysbox-deploy-k8s");
        assert_eq!(names[5], "RuntimeClass sysbox-runc");
    }

    #[test]
    fn selector_text_and_defaults() {
        let model = SysboxModel {
            node_selector: Attr::Known(BTreeMap::from([
                ("b".to_owned(), Attr::Known("2".to_owned())),
                ("a".to_owned(), Attr::Known("1".to_owned())),
            ])),
            ..Default::default()
        };
        assert_eq!(model.selector().as_deref(), Some("a=1,b=2"));
        assert_eq!(model.namespace(), "kube-system");
        assert_eq!(model.image(), DEFAULT_INSTALLER_IMAGE);
        assert!(model.waits());
    }

    #[test]
    fn problems_point_at_how_the_node_was_chosen() {
        let model = SysboxModel {
            nodes: Attr::Known(BTreeSet::from([Attr::Known("named".to_owned())])),
            ..Default::default()
        };
        assert_eq!(origin_path(&model, "named"), AttributePath::attr("nodes"));
        assert_eq!(
            origin_path(&model, "other"),
            AttributePath::attr("node_selector")
        );
    }
}
