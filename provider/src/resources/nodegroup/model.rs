//! The configuration and state of `cvm_nodegroup` and what follows from
//! it alone: the EKS specs of its sizes, taints and update limits, the AMI
//! query, and the labels the nodes get.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tf_framework::Timeouts;
use tf_framework::timeouts::Operation;
use tf_protocol::value::Attr;

use super::SYSBOX_INSTALL_LABEL;
use crate::aws::ami::{
    AmiQuery, DEFAULT_ARCHITECTURE, DEFAULT_PARAMETER_PREFIX, DEFAULT_UBUNTU_RELEASE,
};
use crate::aws::eks::{ScalingSpec, TaintSpec, UpdateConfigSpec};

/// The `scaling` block.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScalingModel {
    /// Fewest nodes.
    pub min_size: Attr<i64>,
    /// Most nodes.
    pub max_size: Attr<i64>,
    /// Nodes wanted.
    pub desired_size: Attr<i64>,
}

/// One taint.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaintModel {
    /// Key.
    pub key: Attr<String>,
    /// Value.
    pub value: Attr<String>,
    /// `NO_SCHEDULE`, `NO_EXECUTE` or `PREFER_NO_SCHEDULE`.
    pub effect: Attr<String>,
}

/// The `update_config` attribute.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateConfigModel {
    /// Nodes at once.
    pub max_unavailable: Attr<i64>,
    /// Percent of nodes at once.
    pub max_unavailable_percentage: Attr<i64>,
}

/// State and configuration of `cvm_nodegroup`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodegroupModel {
    /// `cluster:name`.
    pub id: Attr<String>,
    /// EKS cluster name.
    pub cluster_name: Attr<String>,
    /// Node group name.
    pub name: Attr<String>,
    /// Prefix of a generated name.
    pub name_prefix: Attr<String>,
    /// IAM role of the nodes.
    pub node_role_arn: Attr<String>,
    /// Subnets.
    pub subnet_ids: Attr<Vec<String>>,
    /// Instance types.
    pub instance_types: Attr<Vec<String>>,
    /// `ON_DEMAND`, `SPOT`, `CAPACITY_BLOCK`.
    pub capacity_type: Attr<String>,
    /// `amd64` or `arm64`.
    pub architecture: Attr<String>,
    /// Ubuntu release of the looked-up AMI.
    pub ubuntu_release: Attr<String>,
    /// Ubuntu Pro AMI.
    pub pro: Attr<bool>,
    /// Kubernetes version of the looked-up AMI.
    pub kubernetes_version: Attr<String>,
    /// SSM prefix of the AMI lookup.
    pub ami_parameter_prefix: Attr<String>,
    /// AMI id given by the user.
    pub ami_id: Attr<String>,
    /// AMI id in use.
    pub resolved_ami_id: Attr<String>,
    /// Root disk size.
    pub disk_size_gib: Attr<i64>,
    /// Kubernetes labels.
    pub labels: Attr<BTreeMap<String, String>>,
    /// Kubernetes taints.
    pub taints: Attr<Vec<TaintModel>>,
    /// AWS tags.
    pub tags: Attr<BTreeMap<String, String>>,
    /// Rolling update limits.
    pub update_config: Attr<UpdateConfigModel>,
    /// Label nodes for the Sysbox installer.
    pub install_sysbox: Attr<bool>,
    /// Keep the configured desired size in state whatever AWS reports.
    pub ignore_desired_size_drift: Attr<bool>,
    /// Node group ARN.
    pub arn: Attr<String>,
    /// Node group status.
    pub status: Attr<String>,
    /// Owned launch template id.
    pub launch_template_id: Attr<String>,
    /// Owned launch template name.
    pub launch_template_name: Attr<String>,
    /// Launch template version in use.
    pub launch_template_version: Attr<i64>,
    /// Labels the nodes get (`labels` plus the Sysbox label).
    pub node_labels: Attr<BTreeMap<String, String>>,
    /// Sizes.
    pub scaling: Option<ScalingModel>,
    /// Time limits.
    pub timeouts: Option<Timeouts>,
}

impl NodegroupModel {
    pub(super) fn cluster(&self) -> String {
        self.cluster_name.known().cloned().unwrap_or_default()
    }

    pub(super) fn group_name(&self) -> String {
        self.name.known().cloned().unwrap_or_default()
    }

    pub(super) fn wants_sysbox(&self) -> bool {
        self.install_sysbox.known().copied().unwrap_or(true)
    }

    pub(super) fn taint_specs(&self) -> Vec<TaintSpec> {
        let mut taints: Vec<TaintSpec> = self
            .taints
            .known()
            .map(|taints| {
                taints
                    .iter()
                    .map(|t| TaintSpec {
                        key: t.key.known().cloned().unwrap_or_default(),
                        value: t.value.known().cloned().filter(|v| !v.is_empty()),
                        effect: t.effect.known().cloned().unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        taints.sort();
        taints
    }

    pub(super) fn scaling_spec(&self) -> ScalingSpec {
        let scaling = self.scaling.clone().unwrap_or_default();
        let size = |a: &Attr<i64>| a.known().and_then(|n| i32::try_from(*n).ok());
        ScalingSpec {
            min_size: size(&scaling.min_size),
            max_size: size(&scaling.max_size),
            desired_size: size(&scaling.desired_size),
        }
    }

    pub(super) fn update_config_spec(&self) -> Option<UpdateConfigSpec> {
        let config = self.update_config.known()?;
        let n = |a: &Attr<i64>| a.known().and_then(|n| i32::try_from(*n).ok());
        Some(UpdateConfigSpec {
            max_unavailable: n(&config.max_unavailable),
            max_unavailable_percentage: n(&config.max_unavailable_percentage),
        })
    }

    pub(super) fn ami_query(&self, kubernetes_version: &str) -> AmiQuery {
        AmiQuery {
            kubernetes_version: kubernetes_version.to_owned(),
            ubuntu_release: known_or(&self.ubuntu_release, DEFAULT_UBUNTU_RELEASE),
            architecture: known_or(&self.architecture, DEFAULT_ARCHITECTURE),
            pro: self.pro.known().copied().unwrap_or(false),
            parameter_prefix: known_or(&self.ami_parameter_prefix, DEFAULT_PARAMETER_PREFIX),
        }
    }

    pub(super) fn disk_size(&self) -> i32 {
        self.disk_size_gib
            .known()
            .and_then(|n| i32::try_from(*n).ok())
            .unwrap_or(50) // DEFAULT_DISK_SIZE_GIB, which fits an i32
    }

    pub(super) fn timeout(&self, operation: Operation, default: Duration) -> Duration {
        Timeouts::get(self.timeouts.as_ref(), operation, default)
    }
}

pub(super) fn known_or(value: &Attr<String>, default: &str) -> String {
    value.known().cloned().unwrap_or_else(|| default.to_owned())
}

/// The labels nodes get: the configured ones, plus `sysbox-install=yes`
/// when Sysbox is to be installed.
pub(super) fn effective_labels(
    labels: Option<&BTreeMap<String, String>>,
    install_sysbox: bool,
) -> BTreeMap<String, String> {
    let mut all = labels.cloned().unwrap_or_default();
    if install_sysbox {
        all.insert(
            SYSBOX_INSTALL_LABEL.0.to_owned(),
            SYSBOX_INSTALL_LABEL.1.to_owned(),
        );
    }
    all
}

/// The configured labels back from the labels EKS reports: the Sysbox
/// label is left out unless the configuration has it too.
pub(super) fn configured_labels(
    reported: &BTreeMap<String, String>,
    install_sysbox: bool,
    configured: Option<&BTreeMap<String, String>>,
) -> BTreeMap<String, String> {
    let mut labels = reported.clone();
    let (key, value) = SYSBOX_INSTALL_LABEL;
    let configured_too = configured.is_some_and(|c| c.contains_key(key));
    if install_sysbox && !configured_too && labels.get(key).map(String::as_str) == Some(value) {
        labels.remove(key);
    }
    labels
}
