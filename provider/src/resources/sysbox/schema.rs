//! The schema of `cvm_sysbox` and the checks of its configuration that need
//! no cluster.

use tf_framework::schema::{Attribute, Block, Schema};
use tf_framework::timeouts::Operation;
use tf_framework::{Timeouts, validate};
use tf_protocol::value::Type;
use tf_protocol::{AttributePath, Diagnostics, Value};

use super::model::SysboxModel;
use super::{CREATE_TIMEOUT, DELETE_TIMEOUT, READ_TIMEOUT};
use crate::data_sources::cluster_check::{DEFAULT_INSTALLER_IMAGE, DEFAULT_NAMESPACE};
use crate::image_reference::image_reference;
use crate::kube::labels;
use crate::kube::names::{self, Grammar};

/// The schema: inputs, what the provider computes, and time limits.
pub(super) fn schema() -> Schema {
    Schema::new(
        Block::new(
            "Sysbox installed on Kubernetes nodes by its official installer (sysbox-deploy-k8s), \
             so that pods with `runtimeClassName: sysbox-runc` run as container-based virtual \
             machines (CVMs). Creating it applies the installer objects, labels the target \
             nodes `sysbox-install=yes` and waits until each reports `sysbox-runtime=running`; \
             destroying it runs the documented uninstall. The plan fails when a target node \
             cannot run Sysbox or the namespace refuses privileged pods. The installer tolerates \
             the taints of the target nodes (`tolerated_taints`), and an apply that would end \
             running CVM workspaces refuses unless `allow_disrupting_workspaces` is true.",
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
            Attribute::bool("allow_disrupting_workspaces")
                .default(Value::Bool(false))
                .description(
                    "Let an apply go on while CVM workspaces (pods with `runtimeClassName: \
                     sysbox-runc`) run on nodes it uninstalls Sysbox from or reinstalls it on \
                     (destroy, a node dropped from the targets, a new `installer_image`); they \
                     are deleted. Without it the apply refuses and names them. A destroy reads \
                     it from state: set it and apply before destroying. Default `false`.",
                ),
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
        .attribute(
            Attribute::list(
                "tolerated_taints",
                Type::object([
                    ("key", Type::String),
                    ("value", Type::String),
                    ("effect", Type::String),
                ]),
            )
            .computed()
            .description(
                "The taints the installer and cleanup pods tolerate (`operator: Equal`): the \
                 installer's own `sysbox-runtime=not-running:NoSchedule`, then each `NoSchedule` \
                 and `NoExecute` taint of the target nodes not set by Kubernetes itself. `value` \
                 is empty for a taint without one. Known at plan only while it and everything \
                 else stay as they are; otherwise worked out at apply from the target nodes' \
                 taints then, so that a taint added after the plan is tolerated too. A target \
                 node's taint change is an in-place update, its plan warning names the change.",
            ),
        )
        .block(Timeouts::block(&[
            (Operation::Create, CREATE_TIMEOUT),
            (Operation::Read, READ_TIMEOUT),
            (Operation::Update, CREATE_TIMEOUT),
            (Operation::Delete, DELETE_TIMEOUT),
        ])),
    )
}

/// At least one way of choosing nodes.
pub(super) fn check(config: &SysboxModel, diagnostics: &mut Diagnostics) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use tf_protocol::value::Attr;

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
}
