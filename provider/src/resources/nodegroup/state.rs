//! `cvm_nodegroup` state from what EKS reports, and which of the
//! configured values win over EKS's echo after a create or an update.

use std::collections::BTreeMap;

use tf_protocol::value::Attr;

use super::SYSBOX_INSTALL_LABEL;
use super::model::{
    NodegroupModel, ScalingModel, TaintModel, UpdateConfigModel, configured_labels,
    effective_labels,
};
use crate::aws::ami::{DEFAULT_ARCHITECTURE, DEFAULT_PARAMETER_PREFIX, DEFAULT_UBUNTU_RELEASE};
use crate::aws::eks::TaintSpec;

/// Fills the computed attributes of `state` from a node group EKS reports
/// (drift in sizes, labels, taints, subnets, role, capacity type,
/// instance types, tags and update limits shows in the next plan).
pub(super) fn adopt_nodegroup(
    state: &mut NodegroupModel,
    nodegroup: &aws_sdk_eks::types::Nodegroup,
) {
    let cluster = nodegroup
        .cluster_name()
        .map_or_else(|| state.cluster(), str::to_owned);
    let name = nodegroup
        .nodegroup_name()
        .map_or_else(|| state.group_name(), str::to_owned);
    state.id = Attr::Known(format!("{cluster}:{name}"));
    state.cluster_name = Attr::Known(cluster);
    state.name = Attr::Known(name);
    if let Some(arn) = nodegroup.nodegroup_arn() {
        state.arn = Attr::Known(arn.to_owned());
    }
    if let Some(status) = nodegroup.status() {
        state.status = Attr::Known(status.as_str().to_owned());
    }
    if let Some(role) = nodegroup.node_role() {
        state.node_role_arn = Attr::Known(role.to_owned());
    }
    if !nodegroup.subnets().is_empty() {
        let mut subnets = nodegroup.subnets().to_vec();
        subnets.sort();
        state.subnet_ids = Attr::Known(subnets);
    }
    if !nodegroup.instance_types().is_empty() {
        state.instance_types = Attr::Known(nodegroup.instance_types().to_vec());
    }
    if let Some(capacity) = nodegroup.capacity_type() {
        state.capacity_type = Attr::Known(capacity.as_str().to_owned());
    }
    if let Some(scaling) = nodegroup.scaling_config() {
        let prior = state.scaling.clone().unwrap_or_default();
        let keep_desired = state
            .ignore_desired_size_drift
            .known()
            .copied()
            .unwrap_or(false)
            && prior.desired_size.is_known();
        let n = |v: Option<i32>| v.map_or(Attr::Null, |v| Attr::Known(i64::from(v)));
        state.scaling = Some(ScalingModel {
            min_size: n(scaling.min_size()),
            max_size: n(scaling.max_size()),
            desired_size: if keep_desired {
                prior.desired_size
            } else {
                n(scaling.desired_size())
            },
        });
    }
    let reported: BTreeMap<String, String> = nodegroup
        .labels()
        .map(|l| l.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let configured = configured_labels(&reported, state.wants_sysbox(), state.labels.known());
    // An empty map and no map are the same to EKS; keep what was configured.
    state.labels =
        if configured.is_empty() && !matches!(&state.labels, Attr::Known(l) if !l.is_empty()) {
            if state.labels.is_known() {
                Attr::Known(BTreeMap::new())
            } else {
                Attr::Null
            }
        } else {
            Attr::Known(configured)
        };
    state.node_labels = Attr::Known(reported);
    let mut taints: Vec<TaintSpec> = nodegroup.taints().iter().map(TaintSpec::from_sdk).collect();
    taints.sort();
    state.taints = if taints.is_empty() && !matches!(&state.taints, Attr::Known(t) if !t.is_empty())
    {
        if state.taints.is_known() {
            Attr::Known(Vec::new())
        } else {
            Attr::Null
        }
    } else {
        Attr::Known(
            taints
                .into_iter()
                .map(|t| TaintModel {
                    key: Attr::Known(t.key),
                    value: t.value.map_or(Attr::Null, Attr::Known),
                    effect: Attr::Known(t.effect),
                })
                .collect(),
        )
    };
    let tags: BTreeMap<String, String> = nodegroup
        .tags()
        .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    state.tags = if tags.is_empty() && !matches!(&state.tags, Attr::Known(t) if !t.is_empty()) {
        if state.tags.is_known() {
            Attr::Known(BTreeMap::new())
        } else {
            Attr::Null
        }
    } else {
        Attr::Known(tags)
    };
    // moto drops updateConfig; real EKS always reports one. Absent means
    // "unchanged", not "removed".
    if let Some(update_config) = nodegroup.update_config() {
        let n = |v: Option<i32>| v.map_or(Attr::Null, |v| Attr::Known(i64::from(v)));
        state.update_config = Attr::Known(UpdateConfigModel {
            max_unavailable: n(update_config.max_unavailable()),
            max_unavailable_percentage: n(update_config.max_unavailable_percentage()),
        });
    } else if state.update_config.is_unknown() {
        state.update_config = Attr::Null;
    }
    if let Some(template) = nodegroup.launch_template() {
        if let Some(id) = template.id() {
            state.launch_template_id = Attr::Known(id.to_owned());
        }
        if let Some(name) = template.name() {
            state.launch_template_name = Attr::Known(name.to_owned());
        }
        if let Some(version) = template.version().and_then(|v| v.parse::<i64>().ok()) {
            state.launch_template_version = Attr::Known(version);
        }
    }
}

/// Fills attributes an import leaves null with their defaults, so the
/// plan after an import is empty for a configuration that uses them.
pub(super) fn fill_import_defaults(state: &mut NodegroupModel) {
    let fill = |attr: &mut Attr<String>, default: &str| {
        if attr.is_null() {
            *attr = Attr::Known(default.to_owned());
        }
    };
    fill(&mut state.architecture, DEFAULT_ARCHITECTURE);
    fill(&mut state.ubuntu_release, DEFAULT_UBUNTU_RELEASE);
    fill(&mut state.ami_parameter_prefix, DEFAULT_PARAMETER_PREFIX);
    if state.pro.is_null() {
        state.pro = Attr::Known(false);
    }
    if state.ignore_desired_size_drift.is_null() {
        state.ignore_desired_size_drift = Attr::Known(false);
    }
    if state.install_sysbox.is_null() {
        let labelled = state.node_labels.known().is_some_and(|l| {
            l.get(SYSBOX_INSTALL_LABEL.0).map(String::as_str) == Some(SYSBOX_INSTALL_LABEL.1)
        });
        state.install_sysbox = Attr::Known(labelled);
        if labelled && let Attr::Known(labels) = &mut state.labels {
            labels.remove(SYSBOX_INSTALL_LABEL.0);
        }
    }
}

/// After a create or update, the configured values win over what EKS
/// echoes (moto, for one, reports defaults it never applied); computed
/// values come from EKS.
pub(super) fn keep_configured(state: &mut NodegroupModel, configured: &NodegroupModel) {
    state.labels = configured.labels.clone();
    state.taints = configured.taints.clone();
    state.tags = configured.tags.clone();
    state.scaling = configured.scaling.clone();
    state.subnet_ids = configured.subnet_ids.clone();
    state.instance_types = configured.instance_types.clone();
    state.capacity_type = configured.capacity_type.clone();
    state.node_role_arn = configured.node_role_arn.clone();
    state.node_labels = configured.node_labels.clone();
    if configured.update_config.is_known() || state.update_config.is_unknown() {
        state.update_config = match &configured.update_config {
            Attr::Unknown => Attr::Null,
            other => other.clone(),
        };
    }
    state.launch_template_version = configured.launch_template_version;
}

/// Computed values an update does not change.
pub(super) fn finish_computed(state: &mut NodegroupModel, prior: &NodegroupModel) {
    state.id = prior.id.clone();
    state.name = prior.name.clone();
    state.arn = prior.arn.clone();
    state.status = prior.status.clone();
    state.launch_template_id = prior.launch_template_id.clone();
    state.launch_template_name = prior.launch_template_name.clone();
    if !state.kubernetes_version.is_known() {
        state.kubernetes_version = prior.kubernetes_version.clone();
    }
    if !state.resolved_ami_id.is_known() {
        state.resolved_ami_id = prior.resolved_ami_id.clone();
    }
    if !state.launch_template_version.is_known() {
        state.launch_template_version = prior.launch_template_version;
    }
    state.node_labels = Attr::Known(effective_labels(state.labels.known(), state.wants_sysbox()));
    if state.update_config.is_unknown() {
        state.update_config = prior.update_config.clone();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::nodegroup::test_support::{ARN, known};

    #[test]
    fn import_defaults_make_the_next_plan_empty() {
        let mut state = NodegroupModel {
            id: Attr::Null,
            cluster_name: known("demo".into()),
            name: known("ubuntu".into()),
            ..NodegroupModel::default()
        };
        let ng: aws_sdk_eks::types::Nodegroup = {
            // Built with the SDK builders, as the hand-written EKS answers are.
            use aws_sdk_eks::types::{
                LaunchTemplateSpecification, Nodegroup, NodegroupScalingConfig, NodegroupStatus,
            };
            Nodegroup::builder()
                .nodegroup_name("ubuntu")
                .cluster_name("demo")
                .nodegroup_arn(ARN)
                .status(NodegroupStatus::Active)
                .labels("sysbox-install", "yes")
                .labels("team", "cvm")
                .scaling_config(
                    NodegroupScalingConfig::builder()
                        .min_size(1)
                        .max_size(3)
                        .desired_size(2)
                        .build(),
                )
                .launch_template(
                    LaunchTemplateSpecification::builder()
                        .id("lt-0abc")
                        .version("1")
                        .name("cvm-demo-ubuntu")
                        .build(),
                )
                .build()
        };
        adopt_nodegroup(&mut state, &ng);
        fill_import_defaults(&mut state);
        assert_eq!(state.id, known("demo:ubuntu".into()));
        assert_eq!(state.install_sysbox, known(true));
        assert_eq!(
            state.labels,
            known(BTreeMap::from([("team".into(), "cvm".into())]))
        );
        assert_eq!(state.ubuntu_release, known("22.04".into()));
        assert_eq!(state.launch_template_version, known(1));
    }
}
