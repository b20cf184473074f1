//! Planning `cvm_sysbox`: the plan-time checks of the cluster, the taints
//! the installer is to tolerate, and the warnings for CVM workspaces a
//! change would end.

use std::time::Instant;

use k8s_openapi::api::core::v1::{Namespace, Node};
use tf_framework::diagnostic::capitalised;
use tf_framework::resource::{PlanRequest, PlanResponse};
use tf_framework::{Ctx, ToDiagnostic};
use tf_protocol::value::Attr;
use tf_protocol::{AttributePath, Diagnostics};

use super::PLAN_TIMEOUT;
use super::model::{SysboxModel, object_names, origin_path};
use super::targets::{find_targets, names};
use super::workspaces;
use crate::data_sources::cluster_check::{image_tag, namespace_verdict, node_facts};
use crate::kube::{Cluster, KubeError};
use crate::provider::ProviderData;
use crate::sysbox::compatibility::{Severity, SysboxRelease, check_node};
use crate::sysbox::installer::{RUNTIME_CLASS, ToleratedTaint, tolerated_taints};

/// The plan of a create or update: computed values known now, the checks
/// of the cluster, and the workspaces the change would end.
pub(super) async fn modify_plan(
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
        plan.tolerated_taints = Attr::Unknown;
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
            plan.tolerated_taints = Attr::Unknown;
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
    let plan = &mut response.plan;
    // Nodes that should run Sysbox but do not (a label lost, a new
    // node matching the selector) are drift: plan an update.
    let mut expected = names(&targets);
    expected.extend(missing);
    let in_sync = request
        .prior
        .and_then(|p| p.ready_nodes.known())
        .is_some_and(|ready| *ready == expected);
    if plan.waits() && !in_sync {
        plan.ready_nodes = Attr::Unknown;
    }
    let found = planned_tolerations(plan, &targets);
    plan.tolerated_taints =
        settled_tolerations(request.prior, plan, found, &mut response.diagnostics);

    if let Some(prior) = request.prior {
        let allowed = plan.allows_disrupting_workspaces();
        let plan_snapshot = plan.clone();
        match workspaces::updating(&cluster, prior, &plan_snapshot, &names(&targets)).await {
            Ok(found) => {
                for disruption in found {
                    response.diagnostics.push(disruption.warning(allowed));
                }
            }
            Err(e) => response.diagnostics.push(e.to_diagnostic(None)),
        }
    }
}

/// What the installer is to tolerate: known when every target node is,
/// unknown while `min_ready_nodes` still waits for some to join (the
/// apply computes it once they have).
fn planned_tolerations(plan: &SysboxModel, targets: &[Node]) -> Attr<Vec<ToleratedTaint>> {
    let joined = match plan.selector_labels() {
        Some(selector) => targets
            .iter()
            .filter(|n| {
                let labels = n.metadata.labels.clone().unwrap_or_default();
                selector.iter().all(|(k, v)| labels.get(k) == Some(v))
            })
            .count(),
        None => 0,
    };
    if joined < plan.nodes_to_wait_for() {
        Attr::Unknown
    } else {
        Attr::Known(tolerated_taints(targets))
    }
}

/// What the plan says of `tolerated_taints`, from what the target nodes
/// need now (`found`): the prior value when it is the same and nothing else
/// changes, otherwise unknown, worked out again at apply from the nodes'
/// taints then. A planned value must not change between the plan and the
/// apply, and a taint may (a saved plan applied later): computed at apply,
/// a taint added meanwhile is tolerated. A change from the prior value is
/// named in a warning, since the plan cannot show it.
fn settled_tolerations(
    prior: Option<&SysboxModel>,
    plan: &SysboxModel,
    found: Attr<Vec<ToleratedTaint>>,
    diagnostics: &mut Diagnostics,
) -> Attr<Vec<ToleratedTaint>> {
    let Some(prior) = prior else {
        return Attr::Unknown;
    };
    let (Attr::Known(found), Attr::Known(before)) = (&found, &prior.tolerated_taints) else {
        return Attr::Unknown;
    };
    if found != before {
        let added: Vec<String> = found
            .iter()
            .filter(|t| !before.contains(t))
            .map(ToString::to_string)
            .collect();
        let dropped: Vec<String> = before
            .iter()
            .filter(|t| !found.contains(t))
            .map(ToString::to_string)
            .collect();
        let mut changes = Vec::new();
        if !added.is_empty() {
            changes.push(format!("to tolerate {}", added.join(", ")));
        }
        if !dropped.is_empty() {
            changes.push(format!("no longer to tolerate {}", dropped.join(", ")));
        }
        diagnostics.attribute_warning(
            AttributePath::attr("tolerated_taints"),
            "Installer Tolerations Change",
            format!(
                "The target nodes' taints have changed since the last apply: the installer's \
                 DaemonSet is updated in place {}. tolerated_taints is worked out again at \
                 apply from the target nodes' taints then.",
                changes.join(" and ")
            ),
        );
        return Attr::Unknown;
    }
    let mut unchanged = plan.clone();
    unchanged.tolerated_taints = prior.tolerated_taints.clone();
    if unchanged == *prior {
        prior.tolerated_taints.clone()
    } else {
        Attr::Unknown
    }
}

/// The warning of a destroy plan: the CVM workspaces the uninstall would
/// end.
pub(super) async fn plan_destroy(
    ctx: &Ctx<ProviderData>,
    prior: &SysboxModel,
    diagnostics: &mut Diagnostics,
) {
    let cluster = match ctx
        .data()
        .kube_cluster(Instant::now() + PLAN_TIMEOUT, ctx.cancellation().clone())
        .await
    {
        Ok(cluster) => cluster,
        Err(e) => {
            diagnostics.push(not_checked(&e));
            return;
        }
    };
    match workspaces::destroying(&cluster, prior).await {
        Ok(Some(disruption)) => {
            diagnostics.push(disruption.warning(prior.allows_disrupting_workspaces()));
        }
        Ok(None) => {}
        Err(e) => diagnostics.push(not_checked(&e)),
    }
}

/// A destroy plan that could not look for workspaces: a warning, since the
/// apply looks again before it uninstalls anything.
fn not_checked(error: &KubeError) -> tf_protocol::Diagnostic {
    tf_protocol::Diagnostic::warning(
        "CVM Workspaces Not Checked",
        format!(
            "Could not look for CVM workspaces on the nodes this destroy uninstalls Sysbox from: \
             {}. The apply looks again, and refuses while any run.",
            capitalised(&error.to_string())
        ),
    )
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
            .filter(|r| r.severity == Severity::Blocking)
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
