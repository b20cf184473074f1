//! The state and configuration of `cvm_sysbox`, and what follows from them
//! without asking the cluster: the namespace, the image, the node selector.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use tf_framework::Timeouts;
use tf_protocol::AttributePath;
use tf_protocol::value::Attr;

use crate::data_sources::cluster_check::{DEFAULT_INSTALLER_IMAGE, DEFAULT_NAMESPACE};
use crate::sysbox::installer::{
    CLUSTER_ROLE, CLUSTER_ROLE_BINDING, CONFIG_MAP, INSTALL_DAEMON_SET, RUNTIME_CLASS,
    SERVICE_ACCOUNT, ToleratedTaint,
};

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
    /// Whether an apply may go on while CVM workspaces run where it
    /// uninstalls or reinstalls Sysbox.
    pub allow_disrupting_workspaces: Attr<bool>,
    /// Nodes to wait for before installing.
    pub min_ready_nodes: Attr<i64>,
    /// Target nodes reporting `sysbox-runtime=running`.
    pub ready_nodes: Attr<BTreeSet<String>>,
    /// The RuntimeClass pods name.
    pub runtime_class_name: Attr<String>,
    /// Installer objects present as the provider applied them.
    pub installed_objects: Attr<Vec<String>>,
    /// The taints the installer's pods tolerate.
    pub tolerated_taints: Attr<Vec<ToleratedTaint>>,
    /// Time limits.
    pub timeouts: Option<Timeouts>,
}

impl SysboxModel {
    pub(super) fn namespace(&self) -> String {
        self.namespace
            .known()
            .or(self.id.known())
            .cloned()
            .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned())
    }

    pub(super) fn image(&self) -> String {
        self.installer_image
            .known()
            .cloned()
            .unwrap_or_else(|| DEFAULT_INSTALLER_IMAGE.to_owned())
    }

    pub(super) fn waits(&self) -> bool {
        self.wait.known().copied().unwrap_or(true)
    }

    pub(super) fn allows_disrupting_workspaces(&self) -> bool {
        self.allow_disrupting_workspaces
            .known()
            .copied()
            .unwrap_or(false)
    }

    /// The node selector, when it and all its values are known.
    pub(super) fn selector_labels(&self) -> Option<BTreeMap<String, String>> {
        self.node_selector
            .known()?
            .iter()
            .map(|(k, v)| Some((k.clone(), v.known()?.clone())))
            .collect()
    }

    /// The named nodes, when the set and all its names are known.
    pub(super) fn node_names(&self) -> Option<BTreeSet<String>> {
        self.nodes
            .known()?
            .iter()
            .map(|n| n.known().cloned())
            .collect()
    }

    /// The node selector as a label selector string (`a=b,c=d`).
    pub(super) fn selector(&self) -> Option<String> {
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
    pub(super) fn targets_known(&self) -> bool {
        (self.node_selector.is_null() || self.selector_labels().is_some())
            && (self.nodes.is_null() || self.node_names().is_some())
    }

    /// The nodes `min_ready_nodes` asks to wait for; 0 when unset.
    pub(super) fn nodes_to_wait_for(&self) -> usize {
        self.min_ready_nodes
            .known()
            .and_then(|n| usize::try_from(*n).ok())
            .unwrap_or(0)
    }

    /// Whether applying `self` over `prior` changes nothing in the cluster:
    /// only the switches that guard an apply, or the time limits, differ.
    pub(super) fn changes_only_guards(&self, prior: &SysboxModel) -> bool {
        let strip = |m: &SysboxModel| SysboxModel {
            allow_disrupting_workspaces: Attr::Null,
            allow_unsupported_nodes: Attr::Null,
            timeouts: None,
            ..m.clone()
        };
        strip(self) == strip(prior)
    }
}

/// The objects in the order they are applied, as `Kind namespace/name`.
pub(super) fn object_names(namespace: &str) -> Vec<String> {
    vec![
        format!("ServiceAccount {namespace}/{SERVICE_ACCOUNT}"),
        format!("ClusterRole {CLUSTER_ROLE}"),
        format!("ClusterRoleBinding {CLUSTER_ROLE_BINDING}"),
        format!("ConfigMap {namespace}/{CONFIG_MAP}"),
        format!("DaemonSet {namespace}/{INSTALL_DAEMON_SET}"),
        format!("RuntimeClass {RUNTIME_CLASS}"),
    ]
}

/// Where a node's problem points: the selector that picked it, else `nodes`.
pub(super) fn origin_path(model: &SysboxModel, node: &str) -> AttributePath {
    let named = model.node_names().is_some_and(|n| n.contains(node));
    if named {
        AttributePath::attr("nodes")
    } else {
        AttributePath::attr("node_selector")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(!model.allows_disrupting_workspaces());
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

    #[test]
    fn switching_a_guard_changes_nothing_in_the_cluster() {
        let prior = SysboxModel {
            installer_image: Attr::Known("img:v1".to_owned()),
            allow_disrupting_workspaces: Attr::Known(false),
            ..Default::default()
        };
        let switched = SysboxModel {
            allow_disrupting_workspaces: Attr::Known(true),
            ..prior.clone()
        };
        assert!(switched.changes_only_guards(&prior));
        let upgraded = SysboxModel {
            installer_image: Attr::Known("img:v2".to_owned()),
            ..switched
        };
        assert!(!upgraded.changes_only_guards(&prior));
    }
}
