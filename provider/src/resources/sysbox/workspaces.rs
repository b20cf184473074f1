//! The guard for running CVM workspaces.
//!
//! Three changes end the CVM workspaces (pods with `runtimeClassName:
//! sysbox-runc`) on the nodes they touch:
//!
//! * destroying (or replacing) `cvm_sysbox`: its uninstall runs the cleanup
//!   DaemonSet on every node labelled `sysbox-runtime=running`, and the
//!   cleanup script deletes the `sysbox-runc` pods left there;
//! * a new `installer_image`: every target node reinstalls, and the
//!   installer deletes the `sysbox-runc` pods on its node before it does;
//! * a node dropped from the targets: its installer pod goes, and the
//!   workspaces there keep running on a Sysbox no resource maintains any
//!   more (no upgrades), until the uninstall deletes them.
//!
//! Before each, the provider lists those pods on the affected nodes: the
//! plan warns with their names, and the apply refuses while any run unless
//! `allow_disrupting_workspaces` is true.

use std::collections::{BTreeMap, BTreeSet};

use ::kube::api::ListParams;
use k8s_openapi::api::core::v1::Pod;
use tf_protocol::{AttributePath, Diagnostic};

use super::model::{SysboxModel, origin_path};
use super::targets::{find_targets, names};
use crate::kube::{Cluster, KubeError};
use crate::sysbox::installer::{RUNNING, RUNTIME_CLASS, RUNTIME_LABEL};

/// A CVM workspace: a pod running under Sysbox on a node.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct WorkspacePod {
    /// The node it runs on.
    pub node: String,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

/// The change that ends the workspaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Change {
    /// Destroying the resource: the uninstall.
    Destroy,
    /// A new namespace replaces the resource: the uninstall, then a new
    /// install.
    Replace,
    /// A new installer image: a reinstall on every target.
    Upgrade {
        /// The image the nodes run.
        from: String,
        /// The image they are to run.
        to: String,
    },
    /// Nodes leave the targets.
    Dropped,
}

/// Workspaces a change would end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Disruption {
    /// The change.
    pub change: Change,
    /// The attribute whose change it is, if one is.
    pub path: Option<AttributePath>,
    /// The workspaces it ends, by node.
    pub pods: Vec<WorkspacePod>,
}

/// The workspaces running on `nodes`: pods that name the Sysbox RuntimeClass,
/// bound to one of them and not finished.
async fn workspaces_on(
    cluster: &Cluster,
    nodes: &BTreeSet<String>,
) -> Result<Vec<WorkspacePod>, KubeError> {
    if nodes.is_empty() {
        return Ok(Vec::new());
    }
    let api = cluster.all::<Pod>();
    let params = ListParams::default().fields("status.phase!=Succeeded,status.phase!=Failed");
    let listed = cluster
        .retry("listing pods to find CVM workspaces", || api.list(&params))
        .await?;
    let mut pods: Vec<WorkspacePod> = listed
        .items
        .into_iter()
        .filter_map(|pod| {
            let spec = pod.spec?;
            let node = spec.node_name?;
            (spec.runtime_class_name.as_deref() == Some(RUNTIME_CLASS) && nodes.contains(&node))
                .then(|| WorkspacePod {
                    node,
                    namespace: pod.metadata.namespace.unwrap_or_default(),
                    name: pod.metadata.name.unwrap_or_default(),
                })
        })
        .collect();
    pods.sort();
    Ok(pods)
}

/// The nodes an uninstall runs on: every node labelled
/// `sysbox-runtime=running` (the cleanup DaemonSet's selector), and the
/// targets of `prior`.
async fn uninstalled_nodes(
    cluster: &Cluster,
    prior: &SysboxModel,
) -> Result<BTreeSet<String>, KubeError> {
    let mut nodes = names(
        &cluster
            .list_nodes(&format!("{RUNTIME_LABEL}={RUNNING}"))
            .await?,
    );
    nodes.extend(names(&find_targets(cluster, prior).await?.0));
    Ok(nodes)
}

/// What destroying `prior` would end.
pub(super) async fn destroying(
    cluster: &Cluster,
    prior: &SysboxModel,
) -> Result<Option<Disruption>, KubeError> {
    let pods = workspaces_on(cluster, &uninstalled_nodes(cluster, prior).await?).await?;
    Ok((!pods.is_empty()).then_some(Disruption {
        change: Change::Destroy,
        path: None,
        pods,
    }))
}

/// What applying `desired` (whose targets are `targets` now) over `prior`
/// would end.
pub(super) async fn updating(
    cluster: &Cluster,
    prior: &SysboxModel,
    desired: &SysboxModel,
    targets: &BTreeSet<String>,
) -> Result<Vec<Disruption>, KubeError> {
    if prior.namespace() != desired.namespace() {
        let pods = workspaces_on(cluster, &uninstalled_nodes(cluster, prior).await?).await?;
        return Ok(if pods.is_empty() {
            Vec::new()
        } else {
            vec![Disruption {
                change: Change::Replace,
                path: Some(AttributePath::attr("namespace")),
                pods,
            }]
        });
    }
    let previous = names(&find_targets(cluster, prior).await?.0);
    let dropped: BTreeSet<String> = previous.difference(targets).cloned().collect();
    let upgraded = if prior.image() == desired.image() {
        BTreeSet::new()
    } else {
        targets.clone()
    };
    let all: BTreeSet<String> = dropped.union(&upgraded).cloned().collect();
    let pods = workspaces_on(cluster, &all).await?;
    let mut found = Vec::new();
    let on = |nodes: &BTreeSet<String>| -> Vec<WorkspacePod> {
        pods.iter()
            .filter(|p| nodes.contains(&p.node))
            .cloned()
            .collect()
    };
    let upgrade_pods = on(&upgraded);
    if !upgrade_pods.is_empty() {
        found.push(Disruption {
            change: Change::Upgrade {
                from: prior.image(),
                to: desired.image(),
            },
            path: Some(AttributePath::attr("installer_image")),
            pods: upgrade_pods,
        });
    }
    let dropped_pods = on(&dropped);
    if let Some(first) = dropped_pods.first() {
        let path = origin_path(prior, &first.node);
        found.push(Disruption {
            change: Change::Dropped,
            path: Some(path),
            pods: dropped_pods,
        });
    }
    Ok(found)
}

impl Disruption {
    /// The nodes, comma-separated.
    fn nodes(&self) -> String {
        let nodes: BTreeSet<&str> = self.pods.iter().map(|p| p.node.as_str()).collect();
        nodes.into_iter().collect::<Vec<_>>().join(", ")
    }

    /// `namespace/name (node n)`, comma-separated.
    fn pod_list(&self) -> String {
        let mut by_node: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for pod in &self.pods {
            by_node
                .entry(&pod.node)
                .or_default()
                .push(format!("{}/{}", pod.namespace, pod.name));
        }
        by_node
            .into_iter()
            .map(|(node, pods)| format!("{} on node {node}", pods.join(", ")))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// What the change does to the workspaces, as a sentence.
    fn what_happens(&self) -> String {
        let nodes = self.nodes();
        let pods = self.pod_list();
        match &self.change {
            Change::Destroy => format!(
                "Destroying cvm_sysbox uninstalls Sysbox from node(s) {nodes}, and the uninstall \
                 deletes the CVM workspaces (pods with runtimeClassName {RUNTIME_CLASS}) running \
                 there: {pods}."
            ),
            Change::Replace => format!(
                "A new namespace replaces cvm_sysbox: Sysbox is uninstalled from node(s) {nodes} \
                 and installed again, and the uninstall deletes the CVM workspaces (pods with \
                 runtimeClassName {RUNTIME_CLASS}) running there: {pods}."
            ),
            Change::Upgrade { from, to } => format!(
                "Changing installer_image from {from} to {to} reinstalls Sysbox on node(s) \
                 {nodes}, and the installer deletes the CVM workspaces (pods with \
                 runtimeClassName {RUNTIME_CLASS}) on its node before it reinstalls: {pods}."
            ),
            Change::Dropped => format!(
                "Node(s) {nodes} leave the targets of cvm_sysbox: their installer pod is removed, \
                 and the CVM workspaces (pods with runtimeClassName {RUNTIME_CLASS}) running \
                 there are left on a Sysbox nothing upgrades any more, until an uninstall \
                 deletes them: {pods}."
            ),
        }
    }

    /// How to go ahead anyway.
    fn how_to_allow(&self) -> &'static str {
        match self.change {
            // The delete sees only the prior state.
            Change::Destroy | Change::Replace => {
                "set allow_disrupting_workspaces = true and apply that first (it changes nothing \
                 in the cluster), then destroy"
            }
            _ => "set allow_disrupting_workspaces = true in the same apply",
        }
    }

    /// The plan's warning; `allowed` says whether the switch is on.
    pub(super) fn warning(&self, allowed: bool) -> Diagnostic {
        let consequence = if allowed {
            "allow_disrupting_workspaces is true, so the apply goes ahead.".to_owned()
        } else {
            format!(
                "Stop those workspaces first: the apply refuses while they run. To end them \
                 anyway, {}.",
                self.how_to_allow()
            )
        };
        self.diagnostic(Diagnostic::warning(
            "CVM Workspaces Would Be Disrupted",
            format!("{} {consequence}", self.what_happens()),
        ))
    }

    /// The apply's refusal.
    pub(super) fn refusal(&self) -> Diagnostic {
        self.diagnostic(Diagnostic::error(
            "CVM Workspaces Running",
            format!(
                "{} Nothing was changed. Stop those workspaces first, then apply again; to end \
                 them anyway, {}.",
                self.what_happens(),
                self.how_to_allow()
            ),
        ))
    }

    fn diagnostic(&self, mut diagnostic: Diagnostic) -> Diagnostic {
        diagnostic.attribute = self.path.clone();
        diagnostic
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(node: &str, namespace: &str, name: &str) -> WorkspacePod {
        WorkspacePod {
            node: node.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }

    #[test]
    fn messages_name_each_workspace_with_its_node_and_the_way_out() {
        let upgrade = Disruption {
            change: Change::Upgrade {
                from: "img:v1".to_owned(),
                to: "img:v2".to_owned(),
            },
            path: Some(AttributePath::attr("installer_image")),
            pods: vec![
                pod("a", "coder", "ws-1"),
                pod("a", "coder", "ws-2"),
                pod("b", "team", "ws-3"),
            ],
        };
        let warning = upgrade.warning(false);
        assert!(!warning.is_error());
        assert_eq!(
            warning.attribute,
            Some(AttributePath::attr("installer_image"))
        );
        assert!(
            warning
                .detail
                .contains("coder/ws-1, coder/ws-2 on node a; team/ws-3 on node b"),
            "{}",
            warning.detail
        );
        assert!(warning.detail.contains("from img:v1 to img:v2"));
        assert!(warning.detail.contains("the apply refuses"));
        assert!(upgrade.warning(true).detail.contains("goes ahead"));
        let refusal = upgrade.refusal();
        assert!(refusal.is_error());
        assert!(
            refusal
                .detail
                .contains("Nothing was changed. Stop those workspaces first")
        );

        let destroy = Disruption {
            change: Change::Destroy,
            path: None,
            pods: vec![pod("a", "coder", "ws-1")],
        };
        let refusal = destroy.refusal();
        assert_eq!(refusal.attribute, None);
        assert!(
            refusal.detail.contains("apply that first"),
            "destroy reads the switch from state: {}",
            refusal.detail
        );
    }
}
