//! Test-only models of `cvm_nodegroup`: a create plan as the framework
//! hands it over and the state after its create.

use std::collections::BTreeMap;

use tf_protocol::value::Attr;

use super::model::{NodegroupModel, ScalingModel, TaintModel, effective_labels};

pub(super) const ARN: &str = "arn:aws:eks:eu-west-1:123456789012:nodegroup/demo/ubuntu/0abc";

pub(super) fn known<T>(v: T) -> Attr<T> {
    Attr::Known(v)
}

/// A create plan as the framework hands it over: defaults applied,
/// computed values unknown.
pub(super) fn plan() -> NodegroupModel {
    NodegroupModel {
        id: known("demo:ubuntu".into()),
        cluster_name: known("demo".into()),
        name: known("ubuntu".into()),
        name_prefix: Attr::Null,
        node_role_arn: known("arn:aws:iam::123456789012:role/eks-node".into()),
        subnet_ids: known(vec!["subnet-0000000b".into(), "subnet-0000000a".into()]),
        instance_types: known(vec!["m6i.xlarge".into()]),
        capacity_type: known("ON_DEMAND".into()),
        architecture: known("amd64".into()),
        ubuntu_release: known("22.04".into()),
        pro: known(false),
        kubernetes_version: Attr::Unknown,
        ami_parameter_prefix: known("/test/canonical/ubuntu".into()),
        ami_id: Attr::Null,
        resolved_ami_id: Attr::Unknown,
        disk_size_gib: known(50),
        labels: known(BTreeMap::from([("team".into(), "cvm".into())])),
        taints: known(vec![TaintModel {
            key: known("dedicated".into()),
            value: known("cvm".into()),
            effect: known("NO_SCHEDULE".into()),
        }]),
        tags: known(BTreeMap::from([("env".into(), "test".into())])),
        update_config: Attr::Unknown,
        install_sysbox: known(true),
        ignore_desired_size_drift: known(false),
        arn: Attr::Unknown,
        status: Attr::Unknown,
        launch_template_id: Attr::Unknown,
        launch_template_name: Attr::Unknown,
        launch_template_version: Attr::Unknown,
        node_labels: Attr::Unknown,
        scaling: Some(ScalingModel {
            min_size: known(1),
            max_size: known(3),
            desired_size: known(2),
        }),
        timeouts: None,
    }
}

/// The state after a successful create of [`plan`].
pub(super) fn created() -> NodegroupModel {
    let mut state = plan();
    state.kubernetes_version = known("1.31".into());
    state.resolved_ami_id = known("ami-0123".into());
    state.update_config = Attr::Null;
    state.arn = known(ARN.into());
    state.status = known("ACTIVE".into());
    state.launch_template_id = known("lt-0abc".into());
    state.launch_template_name = known("cvm-demo-ubuntu".into());
    state.launch_template_version = known(1);
    state.node_labels = known(effective_labels(state.labels.known(), true));
    state
}
