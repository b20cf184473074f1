//! The target nodes of a `cvm_sysbox`: found from its selector and names,
//! labelled for the installer, and which of them run Sysbox.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::Node;

use super::model::SysboxModel;
use crate::kube::{Cluster, KubeError};
use crate::sysbox::installer::{INSTALL_LABEL, INSTALL_VALUE, RUNNING, RUNTIME_LABEL};

/// The target nodes: those matching the selector and those named, that
/// exist. Named nodes that do not exist are returned apart.
pub(super) async fn find_targets(
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

/// The names of `nodes`.
pub(super) fn names(nodes: &[Node]) -> BTreeSet<String> {
    nodes
        .iter()
        .filter_map(|n| n.metadata.name.clone())
        .collect()
}

/// A node's label `key`.
pub(super) fn label(node: &Node, key: &str) -> Option<String> {
    node.metadata.labels.as_ref()?.get(key).cloned()
}

/// Labels every target `sysbox-install=yes`, and removes the label from
/// `previous` targets that are targets no more.
pub(super) async fn label_targets(
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

/// Nodes labelled for install on which Sysbox runs.
pub(super) fn ready_among(nodes: &[Node]) -> BTreeSet<String> {
    nodes
        .iter()
        .filter(|n| {
            label(n, INSTALL_LABEL).as_deref() == Some(INSTALL_VALUE)
                && label(n, RUNTIME_LABEL).as_deref() == Some(RUNNING)
        })
        .filter_map(|n| n.metadata.name.clone())
        .collect()
}
