//! The Terraform schema of `cvm_nodegroup`.

use tf_framework::schema::{Attribute, Block, NestedBlock, Nesting, Schema};
use tf_framework::timeouts::Operation;
use tf_framework::{Timeouts, validate};
use tf_protocol::Value;
use tf_protocol::value::Type;

use super::{
    CAPACITY_TYPES, CREATE_TIMEOUT, DEFAULT_DISK_SIZE_GIB, DELETE_TIMEOUT, READ_TIMEOUT,
    UPDATE_TIMEOUT,
};
use crate::aws::ami::{
    ARCHITECTURES, DEFAULT_ARCHITECTURE, DEFAULT_PARAMETER_PREFIX, DEFAULT_UBUNTU_RELEASE,
    release_validator,
};

fn taint_type() -> Vec<Attribute> {
    vec![
        Attribute::string("key")
            .required()
            .description("Taint key, e.g. `dedicated`."),
        Attribute::string("value")
            .optional()
            .description("Taint value."),
        Attribute::string("effect").required().description(
            "`NO_SCHEDULE`, `NO_EXECUTE` or `PREFER_NO_SCHEDULE` (the EKS API's spelling).",
        ),
    ]
}

/// The schema: attributes, the `taints` and `scaling` blocks and timeouts.
pub(super) fn schema() -> Schema {
    let s = |v: &str| Value::String(v.to_owned());
    Schema::new(
        Block::new(
            "An EKS managed node group of Canonical Ubuntu nodes ready for Sysbox: a launch \
             template owned by the node group (the Ubuntu EKS AMI, a gp3 root disk, user data \
             that bootstraps the node with the cluster's endpoint, CA and DNS IP and gives \
             the kubelet the labels and taints) and the node group itself. Sizes, labels, \
             taints and update limits change in place; a new AMI or disk size rolls out as a \
             new launch template version. Import with `cluster:name`.",
        )
        .attribute(
            Attribute::string("id")
                .computed()
                .use_state_for_unknown()
                .description("`cluster_name:name`; also the import id."),
        )
        .attribute(
            Attribute::string("cluster_name")
                .required()
                .validate(validate::non_empty())
                .requires_replace("a node group cannot move to another cluster")
                .description("Name of the EKS cluster."),
        )
        .attribute(
            Attribute::string("name")
                .optional()
                .computed()
                .use_state_for_unknown()
                .requires_replace("EKS cannot rename a node group")
                .description(
                    "Node group name: at most 63 letters, digits, `-` and `_`, starting with a \
                     letter or digit. Generated from `name_prefix` (or `cvm-`) when unset.",
                ),
        )
        .attribute(
            Attribute::string("name_prefix")
                .optional()
                .requires_replace("EKS cannot rename a node group")
                .description("Prefix of a generated name (10 random characters are appended)."),
        )
        .attribute(
            Attribute::string("node_role_arn")
                .required()
                .validate(validate::matches(
                    r"^arn:[a-z-]+:iam::[0-9]{12}:role/.+$",
                    "must be an IAM role ARN such as arn:aws:iam::123456789012:role/eks-node",
                ))
                .requires_replace("EKS cannot change a node group's IAM role")
                .description("ARN of the nodes' IAM role."),
        )
        .attribute(
            Attribute::set("subnet_ids", Type::String)
                .required()
                .validate(validate::non_empty())
                .requires_replace("EKS cannot change a node group's subnets")
                .description("Subnets the nodes run in: ids such as `subnet-0123456789abcdef0`."),
        )
        .attribute(
            Attribute::list("instance_types", Type::String)
                .required()
                .validate(validate::non_empty())
                .requires_replace("EKS cannot change a node group's instance types")
                .description("EC2 instance types, e.g. `[\"m6i.2xlarge\"]`; several for Spot."),
        )
        .attribute(
            Attribute::string("capacity_type")
                .default(s("ON_DEMAND"))
                .validate(validate::one_of(CAPACITY_TYPES))
                .requires_replace("EKS cannot change a node group's capacity type")
                .description("`ON_DEMAND` (default), `SPOT` or `CAPACITY_BLOCK`."),
        )
        .attribute(
            Attribute::string("architecture")
                .default(s(DEFAULT_ARCHITECTURE))
                .validate(validate::one_of(ARCHITECTURES))
                .requires_replace("instances cannot change CPU architecture")
                .description(
                "CPU architecture of the AMI looked up: `amd64` (default) or `arm64`; must fit the \
                 instance types, told by their family names (Graviton, arm64, families have a `g` \
                 after the generation, e.g. `m7g`, `c7gn`, `t4g`, or are `a1`; the others x86). A \
                 family the provider cannot classify (e.g. `mac2`) is accepted with a warning.",
            ),
        )
        .attribute(
            Attribute::string("ubuntu_release")
                .default(s(DEFAULT_UBUNTU_RELEASE))
                .validate(release_validator())
                .description("Ubuntu release of the AMI looked up: `20.04`, `22.04` (default) or `24.04`."),
        )
        .attribute(
            Attribute::bool("pro")
                .default(Value::Bool(false))
                .description("Look up Ubuntu Pro AMIs. Default `false`."),
        )
        .attribute(
            Attribute::string("kubernetes_version")
                .optional()
                .computed()
                .use_state_for_unknown()
                .validate(validate::matches(
                    r"^1\.[0-9]+$",
                    "must be a Kubernetes minor version such as \"1.31\"",
                ))
                .description(
                    "Kubernetes version of the AMI looked up; defaults to the cluster's version \
                     at creation. Change it after a cluster upgrade to roll the nodes.",
                ),
        )
        .attribute(
            Attribute::string("ami_parameter_prefix")
                .default(s(DEFAULT_PARAMETER_PREFIX))
                .validate(validate::matches(
                    r"^/[A-Za-z0-9_./-]*$",
                    "must be an SSM parameter path starting with \"/\"",
                ))
                .description("SSM path under which Canonical's `eks/...` AMI parameters are read."),
        )
        .attribute(
            Attribute::string("ami_id")
                .optional()
                .validate(validate::matches(r"^ami-[0-9a-f]+$", "must be an AMI id such as ami-0123456789abcdef0"))
                .description(
                    "AMI id to use instead of looking one up (e.g. from `cvm_ubuntu_ami`). It \
                     must be a Canonical Ubuntu EKS image or one with the same bootstrap \
                     script. Changing it rolls the nodes.",
                ),
        )
        .attribute(
            Attribute::string("resolved_ami_id")
                .computed()
                .description("The AMI in use: `ami_id`, or the one looked up at creation (kept until the lookup inputs change)."),
        )
        .attribute(
            Attribute::number("disk_size_gib")
                .default(Value::from(DEFAULT_DISK_SIZE_GIB))
                .validate(validate::between(8, 16384))
                .description("Root volume size (gp3) in GiB. Default `50`. Changing it rolls the nodes."),
        )
        .attribute(
            Attribute::map("labels", Type::String)
                .optional()
                .description("Kubernetes labels of the nodes, set by EKS and by the kubelet at registration. `sysbox-runtime` and `crio-runtime` belong to the Sysbox installer and are refused."),
        )
        .attribute(
            Attribute::map("tags", Type::String)
                .optional()
                .description("AWS tags of the node group and its launch template: at most 49 (the provider adds `cvm:nodegroup = \"<cluster>:<name>:<token>\"` to the launch template, the token random per create and kept in private state: on a name conflict only what carries this resource's token is adopted, anything else is refused with advice to import it, and import claims the token), keys 1–128 characters not starting with `aws:`, values at most 256."),
        )
        .attribute(
            Attribute::nested(
                "update_config",
                Nesting::Single,
                vec![
                    Attribute::number("max_unavailable")
                        .optional()
                        .description("Nodes a rolling update may take down at once (1–100)."),
                    Attribute::number("max_unavailable_percentage")
                        .optional()
                        .description("Percent of nodes a rolling update may take down at once (1–100)."),
                ],
            )
            .optional()
            .computed()
            .description("Rolling update limits: exactly one of the two. EKS's default is one node at a time."),
        )
        .attribute(
            Attribute::bool("install_sysbox")
                .default(Value::Bool(true))
                .description(
                    "Label the nodes `sysbox-install=yes` so the Sysbox installer DaemonSet \
                     (`cvm_sysbox`) runs on them. Default `true`.",
                ),
        )
        .attribute(
            Attribute::bool("ignore_desired_size_drift")
                .default(Value::Bool(false))
                .description(
                    "Ignore changes of the desired size made outside Terraform, e.g. by the \
                     cluster autoscaler. Default `false`.",
                ),
        )
        .attribute(
            Attribute::string("arn")
                .computed()
                .use_state_for_unknown()
                .description("ARN of the node group."),
        )
        .attribute(
            Attribute::string("status")
                .computed()
                .use_state_for_unknown()
                .description("Status EKS reports, e.g. `ACTIVE` or `DEGRADED`; `DELETED` when the node group was deleted outside Terraform while its launch template remains, which the next plan replaces (removing that template, so nothing is orphaned)."),
        )
        .attribute(
            Attribute::string("launch_template_id")
                .computed()
                .use_state_for_unknown()
                .description("Id of the launch template the node group owns."),
        )
        .attribute(
            Attribute::string("launch_template_name")
                .computed()
                .use_state_for_unknown()
                .description("Name of the launch template the node group owns."),
        )
        .attribute(
            Attribute::number("launch_template_version")
                .computed()
                .description("Launch template version the nodes run."),
        )
        .attribute(
            Attribute::map("node_labels", Type::String)
                .computed()
                .description("Labels the nodes get: `labels` plus `sysbox-install=yes` when `install_sysbox`."),
        )
        // A block, not a nested attribute: Terraform 1.0 crashes rendering
        // a plan of a set-nested attribute whose prior value is null.
        .block(NestedBlock::set(
            "taints",
            taint_type().into_iter().fold(
                Block::new("A Kubernetes taint of the nodes (at most 50), registered by the kubelet and kept by EKS."),
                Block::attribute,
            ),
        ))
        .block(
            NestedBlock::single(
                "scaling",
                Block::new("Node counts: min_size ≤ desired_size ≤ max_size.")
                    .attribute(Attribute::number("min_size").required().description("Fewest nodes (0 or more)."))
                    .attribute(Attribute::number("max_size").required().description("Most nodes (1 or more)."))
                    .attribute(Attribute::number("desired_size").required().description("Nodes wanted now.")),
            )
            .items(1, 1),
        )
        .block(Timeouts::block(&[
            (Operation::Create, CREATE_TIMEOUT),
            (Operation::Read, READ_TIMEOUT),
            (Operation::Update, UPDATE_TIMEOUT),
            (Operation::Delete, DELETE_TIMEOUT),
        ])),
    )
}

#[cfg(test)]
mod tests {
    use tf_protocol::{AttributePath, Diagnostics};

    use super::*;
    use crate::resources::nodegroup::model::NodegroupModel;
    use crate::resources::nodegroup::test_support::created;

    #[test]
    fn schema_validators_compile_and_model_matches_schema() {
        let schema = schema();
        for attribute in &schema.block.attributes {
            for validator in &attribute.validators {
                let mut d = Diagnostics::new();
                validator.validate(
                    &Value::String("x".into()),
                    &AttributePath::attr("a"),
                    &mut d,
                );
                assert!(
                    d.iter().all(|d| d.summary != "Invalid Validator"),
                    "{}",
                    attribute.name
                );
            }
        }
        let value = tf_protocol::value::to_value(&created()).unwrap();
        let back: NodegroupModel = tf_protocol::value::from_value(value).unwrap();
        assert_eq!(back, created());
    }
}
