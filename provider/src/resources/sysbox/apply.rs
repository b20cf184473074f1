//! Applying `cvm_sysbox`: the install (create and update), the refresh and
//! the documented uninstall (delete).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
use k8s_openapi::api::node::v1::RuntimeClass;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use tf_framework::resource::{
    CreateRequest, CreateResponse, DeleteRequest, DeleteResponse, ReadRequest, ReadResponse,
    UpdateRequest, UpdateResponse,
};
use tf_framework::timeouts::Operation;
use tf_framework::{Ctx, Timeouts, ToDiagnostic};
use tf_protocol::Diagnostics;
use tf_protocol::value::Attr;

use super::model::{SysboxModel, object_names};
use super::targets::{find_targets, label, label_targets, names, ready_among};
use super::workspaces;
use super::{CREATE_TIMEOUT, DELETE_TIMEOUT, READ_TIMEOUT};
use crate::data_sources::cluster_check::DEFAULT_INSTALLER_IMAGE;
use crate::kube::{Cluster, KubeError};
use crate::provider::ProviderData;
use crate::sysbox::installer::{
    self, CLEANUP_DAEMON_SET, CLUSTER_ROLE, CLUSTER_ROLE_BINDING, CONFIG_MAP, FIELD_MANAGER,
    INSTALL_DAEMON_SET, INSTALL_LABEL, INSTALL_VALUE, InstallerObjects, RUNNING, RUNTIME_CLASS,
    RUNTIME_LABEL, SERVICE_ACCOUNT, ToleratedTaint, tolerated_taints,
};
use crate::sysbox::rollout::{self, RolloutError};

/// Applies the installer objects in order; returns the names applied so
/// far even when one fails.
async fn apply_objects(
    cluster: &Cluster,
    objects: &InstallerObjects,
    namespace: &str,
) -> (Vec<String>, Result<bool, KubeError>) {
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
    let daemon_sets = cluster.namespaced::<DaemonSet>(namespace);
    let pods_replaced = match cluster
        .apply(&daemon_sets, &objects.daemon_set, FIELD_MANAGER)
        .await
    {
        Ok(daemon_set) => {
            applied.push(names[4].clone());
            rollout::pods_replaced(&daemon_set)
        }
        Err(e) => return (applied, Err(e)),
    };
    step!(cluster.all::<RuntimeClass>(), &objects.runtime_class, 5);
    (applied, Ok(pods_replaced))
}

/// Which installer objects exist as the provider applies them, and the
/// install DaemonSet as found.
async fn find_objects(
    cluster: &Cluster,
    namespace: &str,
    wanted: &InstallerObjects,
) -> Result<(Vec<String>, Option<DaemonSet>), KubeError> {
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
    // An image or tolerations changed outside Terraform show as drift of
    // installer_image and tolerated_taints; here the rest of the DaemonSet
    // is compared.
    let wanted_daemon_set = match daemon_set
        .as_ref()
        .and_then(|d| installer::daemon_set_image(d))
    {
        Some(image) => InstallerObjects::new(namespace, image, &[]).daemon_set,
        None => wanted.daemon_set.clone(),
    };
    if daemon_set
        .as_ref()
        .is_some_and(|d| installer::daemon_set_matches(d, &wanted_daemon_set))
    {
        present.push(names[4].clone());
    }
    if cluster
        .find(&cluster.all::<RuntimeClass>(), RUNTIME_CLASS)
        .await?
        .is_some_and(|r| installer::runtime_class_matches(&r, &wanted.runtime_class))
    {
        present.push(names[5].clone());
    }
    Ok((present, daemon_set))
}

/// A rollout failure as a diagnostic.
fn rollout_diagnostic(error: &RolloutError, summary: &str) -> tf_protocol::Diagnostic {
    match error {
        RolloutError::Kube(e) => e.to_diagnostic(None),
        RolloutError::NotReady(message) => tf_protocol::Diagnostic::error(summary, message.clone()),
    }
}

/// Create: install, keeping what exists even on error.
pub(super) async fn create(
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
    install(
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

/// Refresh: the objects as found, the tolerations the install DaemonSet
/// has, and the target nodes on which Sysbox runs.
pub(super) async fn read(
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
    let wanted = InstallerObjects::new(&namespace, &state.image(), &[]);
    let (present, daemon_set) = match find_objects(&cluster, &namespace, &wanted).await {
        Ok(found) => found,
        Err(e) => {
            response.diagnostics.push(e.to_diagnostic(None));
            return;
        }
    };
    let image = daemon_set
        .as_ref()
        .and_then(|d| installer::daemon_set_image(d).map(str::to_owned));
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
        state.allow_disrupting_workspaces = Attr::Known(false);
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
    // What the DaemonSet tolerates as stored; the plan compares it with what
    // the target nodes' taints call for.
    if let Some(daemon_set) = &daemon_set {
        state.tolerated_taints = Attr::Known(installer::daemon_set_tolerated_taints(daemon_set));
    } else if !state.tolerated_taints.is_known() {
        state.tolerated_taints = Attr::Known(Vec::new());
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

/// Update: refuse while it would end CVM workspaces (unless allowed), then
/// install the new configuration.
pub(super) async fn update(
    ctx: &Ctx<ProviderData>,
    request: UpdateRequest<SysboxModel>,
    response: &mut UpdateResponse<SysboxModel>,
) {
    if request.plan.changes_only_guards(&request.prior) {
        tracing::info!("only allow_* switches or timeouts changed; nothing to do in the cluster");
        response.state = Some(request.plan);
        return;
    }
    let timeout = Timeouts::get(
        request.config.timeouts.as_ref(),
        Operation::Update,
        CREATE_TIMEOUT,
    );
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
    // The nodes the prior configuration chose, to unlabel those no longer
    // chosen; and the workspaces the change would end.
    let found = async {
        let previous = names(&find_targets(&cluster, &request.prior).await?.0);
        let targets = names(&find_targets(&cluster, &request.plan).await?.0);
        let disruptions =
            workspaces::updating(&cluster, &request.prior, &request.plan, &targets).await?;
        Ok::<_, KubeError>((previous, disruptions))
    }
    .await;
    let previous = match found {
        Ok((_, disruptions))
            if !disruptions.is_empty() && !request.plan.allows_disrupting_workspaces() =>
        {
            for disruption in disruptions {
                response.diagnostics.push(disruption.refusal());
            }
            return;
        }
        Ok((previous, disruptions)) => {
            for disruption in disruptions {
                tracing::warn!(
                    "allow_disrupting_workspaces is true; going ahead: {}",
                    disruption.refusal().detail
                );
            }
            previous
        }
        Err(e) => {
            response.diagnostics.push(e.to_diagnostic(None));
            return;
        }
    };
    let mut state = request.plan.clone();
    state.installed_objects = request.prior.installed_objects.clone();
    state.ready_nodes = request.prior.ready_nodes.clone();
    install(
        ctx,
        &request.plan,
        &previous,
        timeout,
        &mut state,
        &mut response.diagnostics,
    )
    .await;
    if !state.tolerated_taints.is_known() {
        // Nothing was applied: what the DaemonSet tolerates is as before.
        state.tolerated_taints = request.prior.tolerated_taints.clone();
    }
    response.state = Some(state);
}

/// Delete: refuse while CVM workspaces run where the uninstall goes
/// (unless allowed), then uninstall.
pub(super) async fn delete(
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
    match workspaces::destroying(&cluster, prior).await {
        Ok(Some(disruption)) if !prior.allows_disrupting_workspaces() => {
            response.diagnostics.push(disruption.refusal());
            return;
        }
        Ok(Some(disruption)) => tracing::warn!(
            "allow_disrupting_workspaces is true; going ahead: {}",
            disruption.refusal().detail
        ),
        Ok(None) => {}
        Err(e) => {
            response.diagnostics.push(e.to_diagnostic(None));
            return;
        }
    }
    if let Err(e) = uninstall(&cluster, prior, started).await {
        response
            .diagnostics
            .push(rollout_diagnostic(&e, "Sysbox Not Removed"));
    }
}

/// Applies the objects, labels the targets and waits: the shared body of
/// create and update. Fills `state` with what exists, even on error.
///
/// The install DaemonSet tolerates what the plan says (`tolerated_taints`)
/// when the plan knows it; otherwise (see the plan) what the target nodes
/// carry now, or once they have joined for `min_ready_nodes`.
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

    let (found, _) = match find_targets(&cluster, desired).await {
        Ok(found) => found,
        Err(e) => {
            diagnostics.push(e.to_diagnostic(None));
            return;
        }
    };
    // Nodes no longer chosen leave before the DaemonSet changes, so that a
    // new image does not start reinstalling on them.
    if let Err(e) = label_targets(&cluster, &names(&found), &[], previous_targets).await {
        diagnostics.push(e.to_diagnostic(None));
        return;
    }
    let planned = desired.tolerated_taints.known().cloned();
    let mut tolerated = planned.clone().unwrap_or_else(|| tolerated_taints(&found));
    let image = desired.image();
    let objects = InstallerObjects::new(&namespace, &image, &tolerated);
    // The wait watches the nodes from here, to see the new installer pods'
    // every change to them.
    let baseline = match rollout::Baseline::capture(&cluster).await {
        Ok(baseline) => baseline,
        Err(e) => {
            diagnostics.push(e.to_diagnostic(None));
            return;
        }
    };
    let (applied, result) = apply_objects(&cluster, &objects, &namespace).await;
    let mut present = state.installed_objects.known().cloned().unwrap_or_default();
    for name in applied {
        if !present.contains(&name) {
            present.push(name);
        }
    }
    let order = object_names(&namespace);
    present.sort_by_key(|n| order.iter().position(|o| o == n));
    let daemon_set_applied = present.contains(&order[4]);
    state.installed_objects = Attr::Known(present);
    if daemon_set_applied {
        state.tolerated_taints = Attr::Known(tolerated.clone());
    }
    let mut pods_replaced = match result {
        Ok(replaced) => replaced,
        Err(e) => {
            diagnostics.push(e.to_diagnostic(None));
            return;
        }
    };

    let wanted = desired.nodes_to_wait_for();
    if let (count @ 1.., Some(selector)) = (wanted, desired.selector_labels()) {
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
    if planned.is_none() {
        // The nodes have joined: tolerate what they carry before any
        // installer pod is scheduled (none is before they are labelled).
        let now = tolerated_taints(&current);
        if now != tolerated {
            tolerated = now;
            let daemon_set =
                installer::InstallerObjects::new(&namespace, &image, &tolerated).daemon_set;
            let api = cluster.namespaced::<DaemonSet>(&namespace);
            match cluster.apply(&api, &daemon_set, FIELD_MANAGER).await {
                Ok(applied) => pods_replaced |= rollout::pods_replaced(&applied),
                Err(e) => {
                    diagnostics.push(e.to_diagnostic(None));
                    return;
                }
            }
            state.tolerated_taints = Attr::Known(tolerated.clone());
        }
    }
    log_untolerated(&current, &tolerated);
    let mut targets = names(&current);
    // Of the previous targets, those not unlabelled above.
    let previous: BTreeSet<String> = previous_targets
        .intersection(&names(&found))
        .cloned()
        .collect();
    if let Err(e) = label_targets(&cluster, &targets, &current, &previous).await {
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
    let start = rollout::Start {
        baseline,
        labelled: names(&current),
        pods_replaced,
    };
    match rollout::wait_until_running(
        &cluster,
        &namespace,
        INSTALL_DAEMON_SET,
        &wanted,
        started,
        start,
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

/// Logs the target nodes' taints the installer does not tolerate (taints
/// added since this apply read the nodes): their installer pods will not be
/// scheduled.
fn log_untolerated(nodes: &[k8s_openapi::api::core::v1::Node], tolerated: &[ToleratedTaint]) {
    for node in nodes {
        let needed = tolerated_taints(std::slice::from_ref(node));
        let missing: Vec<String> = needed
            .iter()
            .filter(|t| !tolerated.contains(t))
            .map(ToString::to_string)
            .collect();
        if !missing.is_empty() {
            tracing::warn!(
                node = node.metadata.name.as_deref().unwrap_or_default(),
                "node has taint(s) {} that the installer does not tolerate (added since this apply \
                 read the nodes); its installer pod cannot be scheduled until the next plan and \
                 apply",
                missing.join(", ")
            );
        }
    }
}

/// The documented uninstall: remove the install DaemonSet, run the cleanup
/// DaemonSet until no node reports Sysbox, then remove the cleanup
/// DaemonSet, the other installer objects and the `sysbox-install` labels.
///
/// The cleanup DaemonSet tolerates the taints of the nodes it runs on, as
/// they are now: a destroy has no planned value to keep to.
async fn uninstall(
    cluster: &Cluster,
    prior: &SysboxModel,
    started: Instant,
) -> Result<(), RolloutError> {
    let namespace = prior.namespace();
    let image = prior.image();
    let objects = InstallerObjects::new(&namespace, &image, &[]);
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
                &installer::cleanup_daemon_set(&namespace, &image, &tolerated_taints(&running)),
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
