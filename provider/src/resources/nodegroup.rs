//! `cvm_nodegroup`: an EKS managed node group of Canonical Ubuntu nodes,
//! ready for Sysbox.
//!
//! The node group owns a launch template: the Ubuntu EKS AMI (given, or
//! looked up in SSM for the cluster's Kubernetes version and
//! `ubuntu_release`), a gp3 root disk, and user data that runs the image's
//! bootstrap with the cluster's endpoint, CA and DNS IP and hands the
//! labels (with `sysbox-install=yes` when `install_sysbox`) and taints to
//! the kubelet. CreateNodegroup then gets only what EKS accepts with a
//! custom AMI in the launch template: no `amiType`, `version`,
//! `releaseVersion`, `diskSize` or `remoteAccess`.
//!
//! Updates: sizes, labels, taints and `update_config` go through
//! UpdateNodegroupConfig; a new AMI or disk size becomes a new launch
//! template version rolled out with UpdateNodegroupVersion; each update is
//! awaited with DescribeUpdate. Name, cluster, subnets, role, capacity
//! type, architecture and instance types replace the node group.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tf_framework::resource::{
    CreateRequest, CreateResponse, DeleteRequest, DeleteResponse, Import, PlanRequest,
    PlanResponse, ReadRequest, ReadResponse, UpdateRequest, UpdateResponse,
};
use tf_framework::schema::{Attribute, Block, NestedBlock, Nesting, Schema};
use tf_framework::timeouts::Operation;
use tf_framework::{Ctx, Resource, Timeouts, ToDiagnostic, validate};
use tf_protocol::value::{Attr, Type};
use tf_protocol::{AttributePath, Diagnostics, Value};

use crate::aws::ec2::LaunchTemplateData;
use crate::aws::eks::{
    ClusterAccess, NewNodegroup, NodegroupConfigChange, ScalingSpec, TaintSpec, UpdateConfigSpec,
};
use crate::aws::user_data::bootstrap_user_data;
use crate::aws::wait::WaitLimits;
use crate::aws::{AwsClients, AwsError};
use crate::data_sources::ubuntu_ami::{
    ARCHITECTURES, AmiLookupError, AmiQuery, DEFAULT_ARCHITECTURE, DEFAULT_PARAMETER_PREFIX,
    DEFAULT_UBUNTU_RELEASE, release_validator, validate_release,
};
use crate::provider::ProviderData;
use crate::sysbox::compatibility::{Severity, check_os_and_kernel};

/// The label the Sysbox installer DaemonSet selects nodes by.
pub const SYSBOX_INSTALL_LABEL: (&str, &str) = ("sysbox-install", "yes");
/// Root disk size unless configured (CVM images are large).
pub const DEFAULT_DISK_SIZE_GIB: i64 = 50;
/// Longest node group name EKS accepts.
pub const MAX_NAME_LENGTH: usize = 63;
/// Length of the random suffix appended to `name_prefix`.
const NAME_SUFFIX_LENGTH: usize = 10;
/// The tag that marks a launch template as owned by a node group.
pub const OWNER_TAG: &str = "cvm:nodegroup";
/// Taint effects in the EKS API's spelling.
pub const TAINT_EFFECTS: &[&str] = &["NO_SCHEDULE", "NO_EXECUTE", "PREFER_NO_SCHEDULE"];
/// Capacity types EKS offers.
pub const CAPACITY_TYPES: &[&str] = &["ON_DEMAND", "SPOT", "CAPACITY_BLOCK"];

const CREATE_TIMEOUT: Duration = Duration::from_secs(60 * 60);
const UPDATE_TIMEOUT: Duration = Duration::from_secs(60 * 60);
const DELETE_TIMEOUT: Duration = Duration::from_secs(60 * 60);
const READ_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// The oldest (GA) kernel of each Ubuntu release, which is what Sysbox is
/// checked against: Canonical's EKS images may ship a newer (HWE or
/// `linux-aws`) kernel, never an older one.
const UBUNTU_KERNELS: &[(&str, &str, &str)] = &[
    ("20.04", "Ubuntu 20.04 LTS", "5.4.0"),
    ("22.04", "Ubuntu 22.04 LTS", "5.15.0"),
    ("24.04", "Ubuntu 24.04 LTS", "6.8.0"),
];

/// The `cvm_nodegroup` resource.
#[derive(Debug, Default)]
pub struct NodegroupResource;

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
    fn cluster(&self) -> String {
        self.cluster_name.known().cloned().unwrap_or_default()
    }

    fn group_name(&self) -> String {
        self.name.known().cloned().unwrap_or_default()
    }

    fn wants_sysbox(&self) -> bool {
        self.install_sysbox.known().copied().unwrap_or(true)
    }

    fn taint_specs(&self) -> Vec<TaintSpec> {
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

    fn scaling_spec(&self) -> ScalingSpec {
        let scaling = self.scaling.clone().unwrap_or_default();
        let size = |a: &Attr<i64>| a.known().and_then(|n| i32::try_from(*n).ok());
        ScalingSpec {
            min_size: size(&scaling.min_size),
            max_size: size(&scaling.max_size),
            desired_size: size(&scaling.desired_size),
        }
    }

    fn update_config_spec(&self) -> Option<UpdateConfigSpec> {
        let config = self.update_config.known()?;
        let n = |a: &Attr<i64>| a.known().and_then(|n| i32::try_from(*n).ok());
        Some(UpdateConfigSpec {
            max_unavailable: n(&config.max_unavailable),
            max_unavailable_percentage: n(&config.max_unavailable_percentage),
        })
    }

    fn ami_query(&self, kubernetes_version: &str) -> AmiQuery {
        AmiQuery {
            kubernetes_version: kubernetes_version.to_owned(),
            ubuntu_release: known_or(&self.ubuntu_release, DEFAULT_UBUNTU_RELEASE),
            architecture: known_or(&self.architecture, DEFAULT_ARCHITECTURE),
            pro: self.pro.known().copied().unwrap_or(false),
            parameter_prefix: known_or(&self.ami_parameter_prefix, DEFAULT_PARAMETER_PREFIX),
        }
    }

    fn disk_size(&self) -> i32 {
        self.disk_size_gib
            .known()
            .and_then(|n| i32::try_from(*n).ok())
            .unwrap_or(50) // DEFAULT_DISK_SIZE_GIB, which fits an i32
    }

    fn timeout(&self, operation: Operation, default: Duration) -> Duration {
        Timeouts::get(self.timeouts.as_ref(), operation, default)
    }
}

fn known_or(value: &Attr<String>, default: &str) -> String {
    value.known().cloned().unwrap_or_else(|| default.to_owned())
}

/// The labels nodes get: the configured ones, plus `sysbox-install=yes`
/// when Sysbox is to be installed.
pub fn effective_labels(
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
pub fn configured_labels(
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

/// The name of a node group's launch template: `cvm-<cluster>-<name>`,
/// within EC2's 128 characters.
pub fn launch_template_name(cluster: &str, name: &str) -> String {
    let mut text = format!("cvm-{cluster}-{name}");
    text.truncate(128);
    text
}

/// `prefix` plus a random lower-case suffix.
fn generated_name(prefix: &str) -> String {
    let suffix: String = std::iter::repeat_with(|| fastrand::alphanumeric().to_ascii_lowercase())
        .take(NAME_SUFFIX_LENGTH)
        .collect();
    format!("{prefix}{suffix}")
}

/// Whether `name` is a valid node group name; why not otherwise.
fn check_name(name: &str, max: usize) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if name.len() > max {
        return Err(format!(
            "must be at most {max} characters long; {name:?} has {}",
            name.len()
        ));
    }
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !first_ok || !rest_ok {
        return Err(format!(
            "must start with a letter or digit and contain only letters, digits, '-' and '_'; got {name:?}"
        ));
    }
    Ok(())
}

/// Whether `key` is a Kubernetes label or taint key (optional DNS prefix
/// and a name of at most 63 characters).
fn check_label_key(key: &str) -> bool {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            && p.split('.').all(|part| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            })
    });
    prefix_ok && check_label_value(name) && !name.is_empty()
}

/// Whether `value` is a Kubernetes label value (at most 63 characters,
/// alphanumerics with `-`, `_`, `.` inside).
fn check_label_value(value: &str) -> bool {
    if value.is_empty() {
        return true;
    }
    let bytes = value.as_bytes();
    value.len() <= 63
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Checks of the configuration with attribute paths; unknown values are
/// skipped.
pub fn check_config(config: &NodegroupModel, diagnostics: &mut Diagnostics) {
    match (&config.name, &config.name_prefix) {
        (Attr::Known(_), Attr::Known(_)) => diagnostics.attribute_error(
            AttributePath::attr("name_prefix"),
            "Conflicting Names",
            "Set name or name_prefix, not both.",
        ),
        (Attr::Known(name), _) => {
            if let Err(reason) = check_name(name, MAX_NAME_LENGTH) {
                diagnostics.attribute_error(
                    AttributePath::attr("name"),
                    "Invalid Node Group Name",
                    format!("name {reason}."),
                );
            }
        }
        (_, Attr::Known(prefix)) => {
            if let Err(reason) = check_name(prefix, MAX_NAME_LENGTH - NAME_SUFFIX_LENGTH) {
                diagnostics.attribute_error(
                    AttributePath::attr("name_prefix"),
                    "Invalid Node Group Name Prefix",
                    format!(
                        "name_prefix {reason} ({NAME_SUFFIX_LENGTH} random characters are appended)."
                    ),
                );
            }
        }
        _ => {}
    }

    if let Some(scaling) = &config.scaling {
        check_scaling(scaling, diagnostics);
    }

    if let Attr::Known(labels) = &config.labels {
        for (key, value) in labels {
            if !check_label_key(key) || !check_label_value(value) {
                diagnostics.attribute_error(
                    AttributePath::attr("labels").key(key.clone()),
                    "Invalid Kubernetes Label",
                    format!(
                        "Label {key:?}={value:?} is not a valid Kubernetes label: keys are an \
                         optional DNS prefix and '/', then at most 63 letters, digits, '-', '_' \
                         or '.'; values are at most 63 of those, starting and ending with a \
                         letter or digit."
                    ),
                );
            }
        }
    }

    if let Attr::Known(taints) = &config.taints {
        check_taints(taints, diagnostics);
    }

    if let Attr::Known(update_config) = &config.update_config {
        check_update_config(update_config, diagnostics);
    }

    validate_release(
        &config.ubuntu_release,
        &config.pro,
        &config.kubernetes_version,
        AttributePath::attr("ubuntu_release"),
        AttributePath::attr("kubernetes_version"),
        diagnostics,
    );

    if config.install_sysbox != Attr::Known(false) {
        match &config.ubuntu_release {
            Attr::Known(release) => check_sysbox_release(release, diagnostics),
            Attr::Null => check_sysbox_release(DEFAULT_UBUNTU_RELEASE, diagnostics),
            Attr::Unknown => {}
        }
    }
}

fn check_scaling(scaling: &ScalingModel, diagnostics: &mut Diagnostics) {
    let path = |name: &str| AttributePath::attr("scaling").attribute(name);
    let (min, max, desired) = (
        scaling.min_size.known().copied(),
        scaling.max_size.known().copied(),
        scaling.desired_size.known().copied(),
    );
    if let Some(min) = min
        && min < 0
    {
        diagnostics.attribute_error(
            path("min_size"),
            "Invalid Scaling",
            format!("scaling.min_size must be 0 or more; got {min}."),
        );
    }
    if let Some(max) = max
        && max < 1
    {
        diagnostics.attribute_error(
            path("max_size"),
            "Invalid Scaling",
            format!("scaling.max_size must be at least 1; got {max}."),
        );
    }
    if let (Some(min), Some(max)) = (min, max)
        && min > max
    {
        diagnostics.attribute_error(
            path("min_size"),
            "Invalid Scaling",
            format!("scaling.min_size ({min}) must not exceed scaling.max_size ({max})."),
        );
    }
    if let Some(desired) = desired {
        if let Some(min) = min
            && desired < min
        {
            diagnostics.attribute_error(
                path("desired_size"),
                "Invalid Scaling",
                format!(
                    "scaling.desired_size ({desired}) must be at least scaling.min_size ({min})."
                ),
            );
        }
        if let Some(max) = max
            && desired > max
        {
            diagnostics.attribute_error(
                path("desired_size"),
                "Invalid Scaling",
                format!(
                    "scaling.desired_size ({desired}) must not exceed scaling.max_size ({max})."
                ),
            );
        }
    }
}

fn check_taints(taints: &[TaintModel], diagnostics: &mut Diagnostics) {
    let path = AttributePath::attr("taints");
    if taints.len() > 50 {
        diagnostics.attribute_error(
            path.clone(),
            "Too Many Taints",
            format!(
                "EKS accepts at most 50 taints per node group; got {}.",
                taints.len()
            ),
        );
    }
    for taint in taints {
        if let Attr::Known(key) = &taint.key
            && !check_label_key(key)
        {
            diagnostics.attribute_error(
                path.clone(),
                "Invalid Taint",
                format!("Taint key {key:?} is not a valid Kubernetes taint key."),
            );
        }
        if let Attr::Known(value) = &taint.value
            && !check_label_value(value)
        {
            diagnostics.attribute_error(
                path.clone(),
                "Invalid Taint",
                format!("Taint value {value:?} is not a valid Kubernetes taint value."),
            );
        }
        if let Attr::Known(effect) = &taint.effect
            && !TAINT_EFFECTS.contains(&effect.as_str())
        {
            let hint = crate::aws::user_data::kubelet_effect(effect)
                .filter(|_| !effect.contains('_'))
                .map(|_| " (EKS spells effects in upper case with underscores, e.g. NO_SCHEDULE)")
                .unwrap_or_default();
            diagnostics.attribute_error(
                path.clone(),
                "Invalid Taint",
                format!(
                    "Taint effect {effect:?} must be one of NO_SCHEDULE, NO_EXECUTE or PREFER_NO_SCHEDULE{hint}."
                ),
            );
        }
    }
}

fn check_update_config(config: &UpdateConfigModel, diagnostics: &mut Diagnostics) {
    let path = |name: &str| AttributePath::attr("update_config").attribute(name);
    match (&config.max_unavailable, &config.max_unavailable_percentage) {
        (Attr::Known(_), Attr::Known(_)) => diagnostics.attribute_error(
            path("max_unavailable_percentage"),
            "Conflicting Update Limits",
            "Set update_config.max_unavailable or update_config.max_unavailable_percentage, not both.",
        ),
        (Attr::Null, Attr::Null) => diagnostics.attribute_error(
            AttributePath::attr("update_config"),
            "Missing Update Limit",
            "Set update_config.max_unavailable or update_config.max_unavailable_percentage.",
        ),
        _ => {}
    }
    if let Attr::Known(n) = config.max_unavailable
        && !(1..=100).contains(&n)
    {
        diagnostics.attribute_error(
            path("max_unavailable"),
            "Invalid Update Limit",
            format!("update_config.max_unavailable must be between 1 and 100; got {n}."),
        );
    }
    if let Attr::Known(n) = config.max_unavailable_percentage
        && !(1..=100).contains(&n)
    {
        diagnostics.attribute_error(
            path("max_unavailable_percentage"),
            "Invalid Update Limit",
            format!("update_config.max_unavailable_percentage must be between 1 and 100; got {n}."),
        );
    }
}

/// Checks that Sysbox runs on `release`'s kernel with the shared Sysbox
/// compatibility rules; blocking findings are errors. Notes (shiftfs
/// advice) are left to `cvm_cluster_check`, which sees the real kernel:
/// a warning on every plan would only be noise.
pub fn check_sysbox_release(release: &str, diagnostics: &mut Diagnostics) {
    let Some((_, os_image, kernel)) = UBUNTU_KERNELS.iter().find(|(r, _, _)| *r == release) else {
        return;
    };
    let verdict = check_os_and_kernel(os_image, kernel, false);
    for reason in verdict
        .reasons
        .iter()
        .filter(|r| r.severity == Severity::Blocking)
    {
        diagnostics.attribute_error(
            AttributePath::attr("ubuntu_release"),
            "Sysbox Does Not Support This Ubuntu Release",
            format!(
                "Ubuntu {release} nodes cannot run Sysbox: {reason}. Choose another \
                 ubuntu_release, or set install_sysbox = false."
            ),
        );
    }
}

/// Fills the computed attributes of `state` from a node group EKS reports
/// (drift in sizes, labels, taints, subnets, role, capacity type,
/// instance types, tags and update limits shows in the next plan).
pub fn adopt_nodegroup(state: &mut NodegroupModel, nodegroup: &aws_sdk_eks::types::Nodegroup) {
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
fn fill_import_defaults(state: &mut NodegroupModel) {
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

/// Where a failed create or update left things: the state to save (if
/// anything exists) and the error.
#[derive(Debug)]
pub struct Outcome {
    /// The state to save.
    pub state: Option<NodegroupModel>,
    /// What went wrong, with the attribute to point at.
    pub error: Option<(AwsOrAmiError, Option<AttributePath>)>,
}

/// An AWS error or an AMI lookup error.
#[derive(Debug, thiserror::Error)]
pub enum AwsOrAmiError {
    /// AWS.
    #[error(transparent)]
    Aws(#[from] AwsError),
    /// AMI lookup.
    #[error(transparent)]
    Ami(#[from] AmiLookupError),
}

impl ToDiagnostic for AwsOrAmiError {
    fn to_diagnostic(&self, attribute: Option<AttributePath>) -> tf_protocol::Diagnostic {
        match self {
            Self::Aws(e) => e.to_diagnostic(attribute),
            Self::Ami(e) => e.to_diagnostic(attribute),
        }
    }
}

/// The AMI for `plan`: the given `ami_id`, or Canonical's from SSM for
/// `kubernetes_version`.
async fn resolve_ami(
    clients: &AwsClients,
    plan: &NodegroupModel,
    kubernetes_version: &str,
) -> Result<String, (AwsOrAmiError, Option<AttributePath>)> {
    if let Attr::Known(ami) = &plan.ami_id {
        return Ok(ami.clone());
    }
    plan.ami_query(kubernetes_version)
        .resolve(&clients.ssm)
        .await
        .map(|found| found.ami_id)
        .map_err(|e| {
            let path = matches!(e, AmiLookupError::Aws(_))
                .then_some(None)
                .unwrap_or(Some(AttributePath::attr("ubuntu_release")));
            (e.into(), path)
        })
}

/// The launch template contents for `plan` on `cluster`.
fn template_data(plan: &NodegroupModel, cluster: &ClusterAccess, ami: &str) -> LaunchTemplateData {
    let labels = effective_labels(plan.labels.known(), plan.wants_sysbox());
    LaunchTemplateData {
        image_id: ami.to_owned(),
        user_data: bootstrap_user_data(cluster, &labels, &plan.taint_specs()),
        disk_size_gib: plan.disk_size(),
    }
}

/// Creates the launch template and the node group and waits for it to be
/// `ACTIVE`. A launch template whose node group could not be created is
/// deleted again; a node group that fails after creation is returned as
/// state with the error, so Terraform taints and replaces it.
pub async fn create_nodegroup(
    clients: &AwsClients,
    mut plan: NodegroupModel,
    limits: &WaitLimits,
) -> Outcome {
    let fail = |error: AwsOrAmiError, path| Outcome {
        state: None,
        error: Some((error, path)),
    };
    let cluster_name = plan.cluster();
    if !plan.name.is_known() {
        let prefix = plan
            .name_prefix
            .known()
            .cloned()
            .unwrap_or_else(|| "cvm-".to_owned());
        plan.name = Attr::Known(generated_name(&prefix));
    }
    let name = plan.group_name();
    let cluster = match clients.eks.cluster_access(&cluster_name).await {
        Ok(cluster) => cluster,
        Err(e) => return fail(e.into(), Some(AttributePath::attr("cluster_name"))),
    };
    let kubernetes_version = plan
        .kubernetes_version
        .known()
        .cloned()
        .unwrap_or_else(|| cluster.version.clone());
    if plan.ami_id.is_null()
        && let Err(reason) = plan.ami_query(&kubernetes_version).parameter_name()
    {
        return fail(
            AmiLookupError::Unsupported(reason).into(),
            Some(AttributePath::attr("ubuntu_release")),
        );
    }
    let ami = match resolve_ami(clients, &plan, &kubernetes_version).await {
        Ok(ami) => ami,
        Err((e, path)) => return fail(e, path),
    };
    let data = template_data(&plan, &cluster, &ami);
    let node_labels = effective_labels(plan.labels.known(), plan.wants_sysbox());
    let mut template_tags = plan.tags.known().cloned().unwrap_or_default();
    template_tags.insert(OWNER_TAG.to_owned(), format!("{cluster_name}:{name}"));
    let template_name = launch_template_name(&cluster_name, &name);
    let owner = format!("{cluster_name}:{name}");
    let template = match ensure_launch_template(
        clients,
        &template_name,
        &owner,
        &data,
        &template_tags,
    )
    .await
    {
        Ok(template) => template,
        Err(e) => return fail(e.into(), None),
    };
    let mut subnet_ids = plan.subnet_ids.known().cloned().unwrap_or_default();
    subnet_ids.sort();
    let new = NewNodegroup {
        cluster: cluster_name.clone(),
        name: name.clone(),
        node_role_arn: plan.node_role_arn.known().cloned().unwrap_or_default(),
        subnet_ids,
        instance_types: plan.instance_types.known().cloned().unwrap_or_default(),
        scaling: plan.scaling_spec(),
        labels: node_labels.clone(),
        taints: plan.taint_specs(),
        tags: plan.tags.known().cloned().unwrap_or_default(),
        capacity_type: known_or(&plan.capacity_type, "ON_DEMAND"),
        update_config: plan.update_config_spec(),
        launch_template_id: template.id.clone(),
        launch_template_version: template.version,
    };
    let created = match create_or_adopt(clients, &new).await {
        Ok(created) => created,
        Err(e) => {
            // Nothing may be orphaned: the template exists for this group only.
            if let Err(cleanup) = clients.ec2.delete_launch_template(&template.id).await {
                tracing::warn!(error = %cleanup, template = %template.id, "could not delete the launch template of a node group that failed to create");
            }
            return fail(e.into(), None);
        }
    };
    let mut state = plan;
    state.kubernetes_version = Attr::Known(kubernetes_version);
    state.resolved_ami_id = Attr::Known(ami);
    state.launch_template_id = Attr::Known(template.id.clone());
    state.launch_template_name = Attr::Known(template.name.clone());
    state.launch_template_version = Attr::Known(template.version);
    state.node_labels = Attr::Known(node_labels);
    let configured = state.clone();
    adopt_nodegroup(&mut state, &created);
    keep_configured(&mut state, &configured);
    if state.status.known().map(String::as_str) == Some("ACTIVE") {
        return Outcome {
            state: Some(state),
            error: None,
        };
    }
    match clients
        .eks
        .wait_nodegroup_active(&cluster_name, &name, limits)
        .await
    {
        Ok(active) => {
            adopt_nodegroup(&mut state, &active);
            keep_configured(&mut state, &configured);
            Outcome {
                state: Some(state),
                error: None,
            }
        }
        Err(e) => {
            if let AwsError::NodegroupFailed { status, .. } = &e {
                state.status = Attr::Known(status.clone());
            }
            Outcome {
                state: Some(state),
                error: Some((e.into(), None)),
            }
        }
    }
}

/// Creates the node group's launch template. When a retried request finds
/// it already made (or a failed create left it), a template tagged as this
/// node group's is adopted with a new version holding `data`.
async fn ensure_launch_template(
    clients: &AwsClients,
    name: &str,
    owner: &str,
    data: &LaunchTemplateData,
    tags: &BTreeMap<String, String>,
) -> Result<crate::aws::ec2::LaunchTemplateRef, AwsError> {
    let error = match clients.ec2.create_launch_template(name, data, tags).await {
        Ok(template) => return Ok(template),
        Err(e) => e,
    };
    if error.kind() != Some(crate::aws::error::ApiErrorKind::Conflict) {
        return Err(error);
    }
    match clients.ec2.find_launch_template_by_name(name).await? {
        Some((mut template, template_tags))
            if template_tags.get(OWNER_TAG).map(String::as_str) == Some(owner) =>
        {
            template.version = clients
                .ec2
                .create_launch_template_version(&template.id, data)
                .await?;
            Ok(template)
        }
        _ => Err(error),
    }
}

/// CreateNodegroup; when a retried request finds the node group already
/// made with this launch template, that node group is the result.
async fn create_or_adopt(
    clients: &AwsClients,
    new: &NewNodegroup,
) -> Result<aws_sdk_eks::types::Nodegroup, AwsError> {
    let error = match clients.eks.create_nodegroup(new).await {
        Ok(created) => return Ok(created),
        Err(e) => e,
    };
    if error.kind() != Some(crate::aws::error::ApiErrorKind::Conflict) {
        return Err(error);
    }
    match clients.eks.find_nodegroup(&new.cluster, &new.name).await? {
        Some(existing)
            if existing.launch_template().and_then(|t| t.id())
                == Some(new.launch_template_id.as_str()) =>
        {
            Ok(existing)
        }
        _ => Err(error),
    }
}

/// After a create or update, the configured values win over what EKS
/// echoes (moto, for one, reports defaults it never applied); computed
/// values come from EKS.
fn keep_configured(state: &mut NodegroupModel, configured: &NodegroupModel) {
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

/// The UpdateNodegroupConfig change from `prior` to `plan`.
pub fn config_change(prior: &NodegroupModel, plan: &NodegroupModel) -> NodegroupConfigChange {
    let mut change = NodegroupConfigChange::default();
    let prior_labels = prior
        .node_labels
        .known()
        .cloned()
        .unwrap_or_else(|| effective_labels(prior.labels.known(), prior.wants_sysbox()));
    let planned_labels = effective_labels(plan.labels.known(), plan.wants_sysbox());
    change.diff_labels(&prior_labels, &planned_labels);
    change.diff_taints(&prior.taint_specs(), &plan.taint_specs());
    let (before, after) = (prior.scaling_spec(), plan.scaling_spec());
    if before != after {
        let ignore = plan
            .ignore_desired_size_drift
            .known()
            .copied()
            .unwrap_or(false);
        let mut scaling = after;
        if ignore && before.desired_size == after.desired_size {
            // Leave the size an autoscaler chose alone.
            scaling.desired_size = None;
        }
        change.scaling = Some(scaling);
    }
    let planned_update = plan.update_config_spec();
    if planned_update.is_some() && planned_update != prior.update_config_spec() {
        change.update_config = planned_update;
    }
    change
}

/// Whether the plan needs a new launch template version.
pub fn needs_new_template(prior: &NodegroupModel, plan: &NodegroupModel) -> bool {
    !plan.resolved_ami_id.is_known()
        || plan.resolved_ami_id != prior.resolved_ami_id
        || plan.disk_size_gib != prior.disk_size_gib
        || !plan.launch_template_version.is_known()
}

/// Applies an in-place update: a new launch template version rolled out
/// with UpdateNodegroupVersion when the AMI or disk changes, then
/// UpdateNodegroupConfig for sizes, labels, taints and update limits, then
/// tags; each update is awaited.
pub async fn update_nodegroup(
    clients: &AwsClients,
    prior: &NodegroupModel,
    plan: NodegroupModel,
    limits: &WaitLimits,
) -> Outcome {
    let cluster_name = prior.cluster();
    let name = prior.group_name();
    let mut state = plan;
    // What has been applied so far is saved even when a later step fails.
    let mut applied = prior.clone();
    let fail = |applied: NodegroupModel, error: AwsOrAmiError, path| Outcome {
        state: Some(applied),
        error: Some((error, path)),
    };

    if needs_new_template(prior, &state) {
        let cluster = match clients.eks.cluster_access(&cluster_name).await {
            Ok(cluster) => cluster,
            Err(e) => return fail(applied, e.into(), None),
        };
        let kubernetes_version = state
            .kubernetes_version
            .known()
            .cloned()
            .unwrap_or_else(|| cluster.version.clone());
        let ami = match state.resolved_ami_id.known() {
            Some(ami) => ami.clone(),
            None => match resolve_ami(clients, &state, &kubernetes_version).await {
                Ok(ami) => ami,
                Err((e, path)) => return fail(applied, e, path),
            },
        };
        let template_id = prior
            .launch_template_id
            .known()
            .cloned()
            .unwrap_or_default();
        let data = template_data(&state, &cluster, &ami);
        let version = match clients
            .ec2
            .create_launch_template_version(&template_id, &data)
            .await
        {
            Ok(version) => version,
            Err(e) => return fail(applied, e.into(), None),
        };
        let update = clients
            .eks
            .update_nodegroup_version(&cluster_name, &name, &template_id, version)
            .await;
        let result = match update {
            Ok(update) => clients
                .eks
                .wait_update_successful(&cluster_name, &name, update, limits)
                .await
                .map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            return fail(applied, e.into(), None);
        }
        state.kubernetes_version = Attr::Known(kubernetes_version);
        state.resolved_ami_id = Attr::Known(ami);
        state.launch_template_version = Attr::Known(version);
        applied.kubernetes_version = state.kubernetes_version.clone();
        applied.resolved_ami_id = state.resolved_ami_id.clone();
        applied.launch_template_version = state.launch_template_version;
        applied.disk_size_gib = state.disk_size_gib;
        applied.ami_id = state.ami_id.clone();
        applied.ubuntu_release = state.ubuntu_release.clone();
        applied.pro = state.pro;
        applied.architecture = state.architecture.clone();
        applied.ami_parameter_prefix = state.ami_parameter_prefix.clone();
    } else {
        state.launch_template_version = prior.launch_template_version;
    }

    let change = config_change(prior, &state);
    if !change.is_empty() {
        let result = match clients
            .eks
            .update_nodegroup_config(&cluster_name, &name, &change)
            .await
        {
            Ok(update) => clients
                .eks
                .wait_update_successful(&cluster_name, &name, update, limits)
                .await
                .map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            return fail(applied, e.into(), None);
        }
    }

    let arn = prior.arn.known().cloned().unwrap_or_default();
    let before = prior.tags.known().cloned().unwrap_or_default();
    let after = state.tags.known().cloned().unwrap_or_default();
    let removed: Vec<String> = before
        .keys()
        .filter(|k| !after.contains_key(*k))
        .cloned()
        .collect();
    let added: BTreeMap<String, String> = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !arn.is_empty() {
        let tagged = match clients.eks.untag_resource(&arn, &removed).await {
            Ok(()) => clients.eks.tag_resource(&arn, &added).await,
            Err(e) => Err(e),
        };
        if let Err(e) = tagged {
            let mut partial = state.clone();
            partial.tags = prior.tags.clone();
            finish_computed(&mut partial, prior);
            return fail(partial, e.into(), Some(AttributePath::attr("tags")));
        }
    }
    finish_computed(&mut state, prior);
    Outcome {
        state: Some(state),
        error: None,
    }
}

/// Computed values an update does not change.
fn finish_computed(state: &mut NodegroupModel, prior: &NodegroupModel) {
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

/// Refreshes `state`; `Ok(None)` when the node group is gone.
pub async fn read_nodegroup(
    clients: &AwsClients,
    mut state: NodegroupModel,
) -> Result<Option<NodegroupModel>, AwsError> {
    let cluster = state.cluster();
    let name = state.group_name();
    let Some(nodegroup) = clients.eks.find_nodegroup(&cluster, &name).await? else {
        tracing::info!(cluster = %cluster, nodegroup = %name, "node group is gone; removing it from state");
        return Ok(None);
    };
    let imported = state.launch_template_id.is_null();
    let prior_version = state.launch_template_version;
    adopt_nodegroup(&mut state, &nodegroup);
    if imported {
        fill_import_defaults(&mut state);
    }
    // The launch template is read only when its version changed outside
    // Terraform or on import: a refresh is one DescribeNodegroup otherwise.
    let version_changed = state.launch_template_version != prior_version;
    if (imported || version_changed || state.resolved_ami_id.is_null())
        && let (Attr::Known(id), Attr::Known(version)) =
            (&state.launch_template_id, &state.launch_template_version)
        && let Some(data) = clients
            .ec2
            .find_launch_template_version(id, *version)
            .await?
    {
        state.resolved_ami_id = Attr::Known(data.image_id);
        if data.disk_size_gib > 0 {
            state.disk_size_gib = Attr::Known(i64::from(data.disk_size_gib));
        }
    }
    if state.disk_size_gib.is_null() {
        state.disk_size_gib = Attr::Known(DEFAULT_DISK_SIZE_GIB);
    }
    if state.kubernetes_version.is_null()
        && let Some(cluster) = clients.eks.find_cluster(&cluster).await?
    {
        state.kubernetes_version = cluster
            .version()
            .map_or(Attr::Null, |v| Attr::Known(v.to_owned()));
    }
    Ok(Some(state))
}

/// Deletes the node group, waits until it is gone, then deletes its
/// launch template. Deleting what is already gone succeeds.
pub async fn delete_nodegroup(
    clients: &AwsClients,
    state: &NodegroupModel,
    limits: &WaitLimits,
) -> Result<(), AwsError> {
    let cluster = state.cluster();
    let name = state.group_name();
    if clients.eks.delete_nodegroup(&cluster, &name).await? {
        clients
            .eks
            .wait_nodegroup_deleted(&cluster, &name, limits)
            .await?;
    }
    if let Attr::Known(template) = &state.launch_template_id {
        clients.ec2.delete_launch_template(template).await?;
    }
    Ok(())
}

/// Plans the computed values that can be known now.
pub fn plan_computed(
    config: &NodegroupModel,
    prior: Option<&NodegroupModel>,
    plan: &mut NodegroupModel,
) {
    if let (Attr::Known(cluster), Attr::Known(name)) = (&plan.cluster_name, &plan.name) {
        plan.id = Attr::Known(format!("{cluster}:{name}"));
    }
    plan.node_labels = match (&plan.labels, &plan.install_sysbox) {
        (Attr::Unknown, _) | (_, Attr::Unknown) => Attr::Unknown,
        (labels, sysbox) => Attr::Known(effective_labels(
            labels.known(),
            sysbox.known().copied().unwrap_or(true),
        )),
    };
    let Some(prior) = prior else {
        plan.resolved_ami_id = match &config.ami_id {
            Attr::Known(ami) => Attr::Known(ami.clone()),
            _ => Attr::Unknown,
        };
        return;
    };
    let lookup_changed = plan.ubuntu_release != prior.ubuntu_release
        || plan.architecture != prior.architecture
        || plan.pro != prior.pro
        || plan.kubernetes_version != prior.kubernetes_version;
    // `ami_parameter_prefix` says where copies of the same parameters are
    // read, not which image: changing it (or importing, which cannot know
    // it) does not roll the nodes.
    plan.resolved_ami_id = match &config.ami_id {
        Attr::Known(ami) => Attr::Known(ami.clone()),
        Attr::Unknown => Attr::Unknown,
        Attr::Null if !lookup_changed && prior.resolved_ami_id.is_known() => {
            prior.resolved_ami_id.clone()
        }
        Attr::Null => Attr::Unknown,
    };
    let new_version =
        plan.resolved_ami_id != prior.resolved_ami_id || plan.disk_size_gib != prior.disk_size_gib;
    plan.launch_template_version = if new_version {
        Attr::Unknown
    } else {
        prior.launch_template_version
    };
    if plan.update_config.is_unknown() && config.update_config.is_null() {
        plan.update_config = prior.update_config.clone();
    }
}

fn limits_for(ctx: &Ctx<ProviderData>, timeout: Duration) -> WaitLimits {
    WaitLimits::new(timeout, ctx.cancellation().clone())
}

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

#[async_trait]
impl Resource for NodegroupResource {
    type Data = ProviderData;
    type Model = NodegroupModel;

    fn type_name(&self) -> &'static str {
        "cvm_nodegroup"
    }

    fn schema(&self) -> Schema {
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
                    .description("Subnets the nodes run in."),
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
                    .description("CPU architecture of the AMI looked up: `amd64` (default) or `arm64`; must fit the instance types."),
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
                    .description("Kubernetes labels of the nodes, set by EKS and by the kubelet at registration."),
            )
            .attribute(
                Attribute::map("tags", Type::String)
                    .optional()
                    .description("AWS tags of the node group and its launch template."),
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
                    .description("Status EKS reports, e.g. `ACTIVE` or `DEGRADED`."),
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

    async fn validate(&self, config: &NodegroupModel, diagnostics: &mut Diagnostics) {
        check_config(config, diagnostics);
    }

    async fn modify_plan(
        &self,
        _ctx: &Ctx<ProviderData>,
        request: PlanRequest<'_, NodegroupModel>,
        response: &mut PlanResponse<NodegroupModel>,
    ) {
        plan_computed(request.config, request.prior, &mut response.plan);
    }

    async fn create(
        &self,
        ctx: &Ctx<ProviderData>,
        request: CreateRequest<NodegroupModel>,
        response: &mut CreateResponse<NodegroupModel>,
    ) {
        let clients = match ctx.data().aws().await {
            Ok(clients) => clients,
            Err(e) => return response.diagnostics.push(e.to_diagnostic(None)),
        };
        let timeout = request.config.timeout(Operation::Create, CREATE_TIMEOUT);
        let outcome = create_nodegroup(&clients, request.plan, &limits_for(ctx, timeout)).await;
        response.state = outcome.state;
        if let Some((error, path)) = outcome.error {
            response.diagnostics.push(error.to_diagnostic(path));
        }
    }

    async fn read(
        &self,
        ctx: &Ctx<ProviderData>,
        request: ReadRequest<NodegroupModel>,
        response: &mut ReadResponse<NodegroupModel>,
    ) {
        let clients = match ctx.data().aws().await {
            Ok(clients) => clients,
            Err(e) => return response.diagnostics.push(e.to_diagnostic(None)),
        };
        let timeout = request.state.timeout(Operation::Read, READ_TIMEOUT);
        match ctx
            .run(timeout, read_nodegroup(&clients, request.state))
            .await
        {
            Ok(Ok(state)) => response.state = state,
            Ok(Err(e)) => response.diagnostics.push(e.to_diagnostic(None)),
            Err(interrupted) => response.diagnostics.error(
                "Reading the EKS Node Group Was Interrupted",
                format!(
                    "{}.",
                    tf_framework::diagnostic::capitalised(&interrupted.to_string())
                ),
            ),
        }
    }

    async fn update(
        &self,
        ctx: &Ctx<ProviderData>,
        request: UpdateRequest<NodegroupModel>,
        response: &mut UpdateResponse<NodegroupModel>,
    ) {
        let clients = match ctx.data().aws().await {
            Ok(clients) => clients,
            Err(e) => return response.diagnostics.push(e.to_diagnostic(None)),
        };
        let timeout = request.config.timeout(Operation::Update, UPDATE_TIMEOUT);
        let outcome = update_nodegroup(
            &clients,
            &request.prior,
            request.plan,
            &limits_for(ctx, timeout),
        )
        .await;
        response.state = outcome.state;
        if let Some((error, path)) = outcome.error {
            response.diagnostics.push(error.to_diagnostic(path));
        }
    }

    async fn delete(
        &self,
        ctx: &Ctx<ProviderData>,
        request: DeleteRequest<NodegroupModel>,
        response: &mut DeleteResponse,
    ) {
        let clients = match ctx.data().aws().await {
            Ok(clients) => clients,
            Err(e) => return response.diagnostics.push(e.to_diagnostic(None)),
        };
        let timeout = request.prior.timeout(Operation::Delete, DELETE_TIMEOUT);
        if let Err(e) = delete_nodegroup(&clients, &request.prior, &limits_for(ctx, timeout)).await
        {
            response.diagnostics.push(e.to_diagnostic(None));
        }
    }

    fn import(&self) -> Import {
        Import::Split {
            separator: ':',
            attributes: &["cluster_name", "name"],
        }
    }
}

/// Unit tests. Besides the pure planning and validation rules, the AWS
/// paths run against recorded EKS, EC2 and SSM answers served on loopback
/// (`crate::test_server`), because moto cannot produce them: it has
/// no UpdateNodegroupVersion and no DescribeUpdate (a bare HTML 404), and
/// its node groups are ACTIVE at once, never CREATING, CREATE_FAILED or
/// DEGRADED, and never report health issues. The answers follow the
/// shapes of the EKS API model (`eks/2017-11-01`) and EC2's query protocol.
#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use serde_json::json;

    use super::*;
    use crate::aws::config::{AwsEndpoints, AwsSettings, build_clients};
    use crate::aws::error::ApiErrorKind;
    use crate::aws::wait::PollSchedule;
    use crate::test_server::{Answer, Seen, TestServer, aws_error, json};

    const ARN: &str = "arn:aws:eks:eu-west-1:123456789012:nodegroup/demo/ubuntu/0abc";

    fn known<T>(v: T) -> Attr<T> {
        Attr::Known(v)
    }

    /// A create plan as the framework hands it over: defaults applied,
    /// computed values unknown.
    fn plan() -> NodegroupModel {
        NodegroupModel {
            id: known("demo:ubuntu".into()),
            cluster_name: known("demo".into()),
            name: known("ubuntu".into()),
            name_prefix: Attr::Null,
            node_role_arn: known("arn:aws:iam::123456789012:role/eks-node".into()),
            subnet_ids: known(vec!["subnet-b".into(), "subnet-a".into()]),
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
    fn created() -> NodegroupModel {
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

    fn errors_at(config: &NodegroupModel) -> Vec<String> {
        let mut d = Diagnostics::new();
        check_config(config, &mut d);
        d.iter()
            .filter(|d| d.is_error())
            .map(|d| {
                d.attribute
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default()
            })
            .collect()
    }

    // ---- validation ----

    #[test]
    fn a_good_configuration_passes() {
        assert!(errors_at(&plan()).is_empty(), "{:?}", errors_at(&plan()));
    }

    #[test]
    fn sizes_must_be_ordered() {
        let mut config = plan();
        config.scaling = Some(ScalingModel {
            min_size: known(3),
            max_size: known(2),
            desired_size: known(5),
        });
        let errors = errors_at(&config);
        assert!(
            errors.contains(&"scaling.min_size".to_owned()),
            "{errors:?}"
        );
        assert!(
            errors.contains(&"scaling.desired_size".to_owned()),
            "{errors:?}"
        );
        config.scaling = Some(ScalingModel {
            min_size: known(2),
            max_size: known(4),
            desired_size: known(1),
        });
        assert_eq!(errors_at(&config), vec!["scaling.desired_size"]);
        config.scaling = Some(ScalingModel {
            min_size: known(0),
            max_size: known(0),
            desired_size: known(0),
        });
        assert_eq!(errors_at(&config), vec!["scaling.max_size"]);
        // Unknown sizes are checked at apply.
        config.scaling = Some(ScalingModel {
            min_size: Attr::Unknown,
            max_size: known(2),
            desired_size: known(1),
        });
        assert!(errors_at(&config).is_empty());
    }

    #[test]
    fn names_are_checked_for_length_and_characters() {
        let mut config = plan();
        config.name = known("a".repeat(64));
        assert_eq!(errors_at(&config), vec!["name"]);
        config.name = known("-bad".into());
        assert_eq!(errors_at(&config), vec!["name"]);
        config.name = known("has space".into());
        assert_eq!(errors_at(&config), vec!["name"]);
        config.name = known("ok_name-1".into());
        assert!(errors_at(&config).is_empty());
        config.name_prefix = known("p-".into());
        assert_eq!(errors_at(&config), vec!["name_prefix"]);
        config.name = Attr::Null;
        assert!(errors_at(&config).is_empty());
        config.name_prefix = known("p".repeat(54));
        assert_eq!(errors_at(&config), vec!["name_prefix"]);
        assert_eq!(generated_name("cvm-").len(), 4 + NAME_SUFFIX_LENGTH);
        assert!(check_name(&generated_name("cvm-"), MAX_NAME_LENGTH).is_ok());
    }

    #[test]
    fn labels_taints_and_update_limits_are_checked() {
        let mut config = plan();
        config.labels = known(BTreeMap::from([("bad key".into(), "x".into())]));
        assert_eq!(errors_at(&config), vec!["labels[\"bad key\"]"]);
        config.labels = known(BTreeMap::from([("example.com/role".into(), "cvm".into())]));
        assert!(errors_at(&config).is_empty());
        config.taints = known(vec![TaintModel {
            key: known("k".into()),
            value: Attr::Null,
            effect: known("NoSchedule".into()),
        }]);
        let mut d = Diagnostics::new();
        check_config(&config, &mut d);
        let diag = d.iter().find(|d| d.is_error()).expect("an error");
        assert_eq!(diag.attribute, Some(AttributePath::attr("taints")));
        assert!(diag.detail.contains("NO_SCHEDULE"), "{}", diag.detail);
        config.taints = Attr::Null;
        config.update_config = known(UpdateConfigModel {
            max_unavailable: known(1),
            max_unavailable_percentage: known(10),
        });
        assert_eq!(
            errors_at(&config),
            vec!["update_config.max_unavailable_percentage"]
        );
        config.update_config = known(UpdateConfigModel {
            max_unavailable: known(0),
            max_unavailable_percentage: Attr::Null,
        });
        assert_eq!(errors_at(&config), vec!["update_config.max_unavailable"]);
    }

    #[test]
    fn ubuntu_release_must_exist_for_the_kubernetes_version() {
        let mut config = plan();
        config.ubuntu_release = known("20.04".into());
        config.kubernetes_version = known("1.31".into());
        assert_eq!(errors_at(&config), vec!["ubuntu_release"]);
        config.kubernetes_version = known("1.29".into());
        assert!(errors_at(&config).is_empty());
        config.ubuntu_release = known("24.04".into());
        assert_eq!(errors_at(&config), vec!["ubuntu_release"]);
    }

    #[test]
    fn sysbox_rules_are_shared_with_the_compatibility_checks() {
        // Every release offered runs Sysbox (20.04's GA kernel 5.4 needs
        // shiftfs, which the installer builds): no error, and no warning on
        // every plan.
        for release in crate::data_sources::ubuntu_ami::ubuntu_releases() {
            assert!(
                UBUNTU_KERNELS.iter().any(|(r, _, _)| *r == release),
                "{release}"
            );
            let mut d = Diagnostics::new();
            check_sysbox_release(release, &mut d);
            assert_eq!(d.iter().count(), 0, "{release}");
        }
        // The rules themselves come from the compatibility module: an
        // unsupported distro/kernel pair is blocking there.
        let verdict = check_os_and_kernel("Amazon Linux 2", "4.14.0", false);
        assert!(!verdict.supported);
    }

    #[test]
    fn schema_validators_compile_and_model_matches_schema() {
        let schema = NodegroupResource.schema();
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

    // ---- planning ----

    #[test]
    fn plan_knows_id_and_node_labels_and_looks_the_ami_up_at_create() {
        let config = plan();
        let mut planned = plan();
        plan_computed(&config, None, &mut planned);
        assert_eq!(planned.id, known("demo:ubuntu".into()));
        assert_eq!(
            planned
                .node_labels
                .known()
                .and_then(|l| l.get("sysbox-install"))
                .map(String::as_str),
            Some("yes")
        );
        assert!(planned.resolved_ami_id.is_unknown());
        let mut given = plan();
        given.ami_id = known("ami-0fed".into());
        let mut planned = given.clone();
        plan_computed(&given, None, &mut planned);
        assert_eq!(planned.resolved_ami_id, known("ami-0fed".into()));
    }

    #[test]
    fn plan_keeps_the_ami_until_its_inputs_change() {
        let prior = created();
        let mut config = prior.clone();
        config.ami_id = Attr::Null;
        let mut planned = prior.clone();
        planned.resolved_ami_id = Attr::Unknown;
        planned.launch_template_version = Attr::Unknown;
        plan_computed(&config, Some(&prior), &mut planned);
        assert_eq!(planned.resolved_ami_id, known("ami-0123".into()));
        assert_eq!(planned.launch_template_version, known(1));
        assert!(!needs_new_template(&prior, &planned));

        let mut newer = prior.clone();
        newer.kubernetes_version = known("1.32".into());
        let mut planned = newer.clone();
        plan_computed(&newer, Some(&prior), &mut planned);
        assert!(planned.resolved_ami_id.is_unknown());
        assert!(planned.launch_template_version.is_unknown());
        assert!(needs_new_template(&prior, &planned));

        let mut bigger = prior.clone();
        bigger.disk_size_gib = known(100);
        let mut planned = bigger.clone();
        plan_computed(&bigger, Some(&prior), &mut planned);
        assert_eq!(planned.resolved_ami_id, known("ami-0123".into()));
        assert!(planned.launch_template_version.is_unknown());
    }

    #[test]
    fn config_changes_carry_only_the_differences() {
        let prior = created();
        let mut plan = prior.clone();
        plan.labels = known(BTreeMap::from([("tier".into(), "gold".into())]));
        plan.taints = known(vec![TaintModel {
            key: known("dedicated".into()),
            value: known("other".into()),
            effect: known("NO_SCHEDULE".into()),
        }]);
        plan.scaling = Some(ScalingModel {
            min_size: known(1),
            max_size: known(5),
            desired_size: known(2),
        });
        let change = config_change(&prior, &plan);
        assert_eq!(
            change.add_labels,
            BTreeMap::from([("tier".into(), "gold".into())])
        );
        assert_eq!(change.remove_labels, vec!["team".to_owned()]);
        assert_eq!(change.add_taints.len(), 1);
        assert!(
            change.remove_taints.is_empty(),
            "same key and effect: updated, not removed"
        );
        assert_eq!(
            change.scaling,
            Some(ScalingSpec {
                min_size: Some(1),
                max_size: Some(5),
                desired_size: Some(2)
            })
        );
        assert!(config_change(&prior, &prior).is_empty());

        plan.ignore_desired_size_drift = known(true);
        let change = config_change(&prior, &plan);
        assert_eq!(change.scaling.and_then(|s| s.desired_size), None);

        let mut no_sysbox = prior.clone();
        no_sysbox.install_sysbox = known(false);
        let change = config_change(&prior, &no_sysbox);
        assert_eq!(change.remove_labels, vec!["sysbox-install".to_owned()]);
    }

    // ---- reading ----

    fn nodegroup_json(status: &str) -> serde_json::Value {
        json!({
            "nodegroupName": "ubuntu",
            "nodegroupArn": ARN,
            "clusterName": "demo",
            "version": "1.31",
            "status": status,
            "capacityType": "ON_DEMAND",
            "scalingConfig": {"minSize": 1, "maxSize": 3, "desiredSize": 2},
            "instanceTypes": ["m6i.xlarge"],
            "subnets": ["subnet-a", "subnet-b"],
            "amiType": "CUSTOM",
            "nodeRole": "arn:aws:iam::123456789012:role/eks-node",
            "labels": {"team": "cvm", "sysbox-install": "yes"},
            "taints": [{"key": "dedicated", "value": "cvm", "effect": "NO_SCHEDULE"}],
            "tags": {"env": "test"},
            "updateConfig": {"maxUnavailable": 1},
            "launchTemplate": {"name": "cvm-demo-ubuntu", "version": "1", "id": "lt-0abc"},
            "health": {"issues": []}
        })
    }

    fn nodegroup_with(status: &str, issues: serde_json::Value) -> serde_json::Value {
        let mut ng = nodegroup_json(status);
        ng["health"] = json!({ "issues": issues });
        ng
    }

    // ---- recorded AWS answers ----

    /// Answers in the shape the services send.
    struct Recorded {
        /// DescribeNodegroup answers, in order (the last repeats).
        describe_nodegroup: Vec<Answer>,
        /// DescribeUpdate answers, in order (the last repeats).
        describe_update: Vec<Answer>,
        create_nodegroup: Answer,
        update_version: Answer,
        update_config: Answer,
        delete_nodegroup: Answer,
    }

    impl Default for Recorded {
        fn default() -> Self {
            Self {
                describe_nodegroup: vec![json(200, json!({"nodegroup": nodegroup_json("ACTIVE")}))],
                describe_update: vec![],
                create_nodegroup: json(200, json!({"nodegroup": nodegroup_json("CREATING")})),
                update_version: json(
                    200,
                    json!({"update": update_json("u-1", "InProgress", "VersionUpdate", json!([]))}),
                ),
                update_config: json(
                    200,
                    json!({"update": update_json("u-2", "Successful", "ConfigUpdate", json!([]))}),
                ),
                delete_nodegroup: json(200, json!({"nodegroup": nodegroup_json("DELETING")})),
            }
        }
    }

    fn update_json(
        id: &str,
        status: &str,
        kind: &str,
        errors: serde_json::Value,
    ) -> serde_json::Value {
        json!({"id": id, "status": status, "type": kind, "params": [], "createdAt": 1.7e9, "errors": errors})
    }

    fn ec2_xml(action: &str, inner: &str) -> Answer {
        Answer::typed(
            200,
            "text/xml",
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{action}Response xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>req-1</requestId>{inner}</{action}Response>"
            ),
        )
    }

    fn route(
        recorded: &Recorded,
        request: &Seen,
        counters: &Mutex<BTreeMap<&'static str, usize>>,
    ) -> Answer {
        let count = |key: &'static str| {
            let mut counters = counters.lock().unwrap();
            let n = counters.entry(key).or_default();
            *n += 1;
            *n - 1
        };
        let pick = |answers: &[Answer], n: usize| {
            answers
                .get(n)
                .or(answers.last())
                .cloned()
                .unwrap_or_else(|| aws_error(500, "ServerException", "nothing recorded"))
        };
        let body = String::from_utf8_lossy(&request.body).into_owned();
        let path = request.target.split('?').next().unwrap_or_default();
        if let Some(action) = body
            .strip_prefix("Action=")
            .map(|b| b.split('&').next().unwrap_or_default().to_owned())
        {
            return match action.as_str() {
                "CreateLaunchTemplate" => ec2_xml(
                    &action,
                    "<launchTemplate><launchTemplateId>lt-0abc</launchTemplateId><launchTemplateName>cvm-demo-ubuntu</launchTemplateName><defaultVersionNumber>1</defaultVersionNumber><latestVersionNumber>1</latestVersionNumber></launchTemplate>",
                ),
                "CreateLaunchTemplateVersion" => ec2_xml(
                    &action,
                    "<launchTemplateVersion><launchTemplateId>lt-0abc</launchTemplateId><versionNumber>2</versionNumber></launchTemplateVersion>",
                ),
                "DeleteLaunchTemplate" => ec2_xml(
                    &action,
                    "<launchTemplate><launchTemplateId>lt-0abc</launchTemplateId></launchTemplate>",
                ),
                _ => Answer::typed(400, "text/xml", "<Response><Errors><Error><Code>InvalidAction</Code><Message>no</Message></Error></Errors><RequestID>r</RequestID></Response>".into()),
            };
        }
        if request.json().get("Name").is_some() {
            let name = request.json()["Name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            return json(
                200,
                json!({"Parameter": {"Name": name, "Type": "String", "Value": "ami-0123", "Version": 1}}),
            );
        }
        match (request.method.as_str(), path) {
            ("GET", "/clusters/demo") => json(
                200,
                json!({"cluster": {
                    "name": "demo", "version": "1.31", "status": "ACTIVE",
                    "endpoint": "https://ABC.gr7.eu-west-1.eks.amazonaws.com",
                    "certificateAuthority": {"data": "LS0tLS1CRUdJTg=="},
                    "kubernetesNetworkConfig": {"serviceIpv4Cidr": "10.100.0.0/16", "ipFamily": "ipv4"}
                }}),
            ),
            ("POST", "/clusters/demo/node-groups") => recorded.create_nodegroup.clone(),
            ("GET", "/clusters/demo/node-groups/ubuntu") => {
                let n = count("describe_nodegroup");
                pick(&recorded.describe_nodegroup, n)
            }
            ("DELETE", "/clusters/demo/node-groups/ubuntu") => recorded.delete_nodegroup.clone(),
            ("POST", "/clusters/demo/node-groups/ubuntu/update-version") => {
                recorded.update_version.clone()
            }
            ("POST", "/clusters/demo/node-groups/ubuntu/update-config") => {
                recorded.update_config.clone()
            }
            ("GET", p) if p.starts_with("/clusters/demo/updates/") => {
                let n = count("describe_update");
                pick(&recorded.describe_update, n)
            }
            _ => Answer::text(404, "<title>404 Not Found</title>".into()),
        }
    }

    async fn recorded(recorded: Recorded) -> (TestServer, AwsClients) {
        let counters = Mutex::new(BTreeMap::new());
        let recorded = Arc::new(recorded);
        let server =
            TestServer::start(move |request, _| route(&recorded, request, &counters)).await;
        let settings = AwsSettings {
            region: Some("eu-west-1".into()),
            access_key: Some("AKIDTEST".into()),
            secret_key: Some("secret".into()),
            endpoints: AwsEndpoints {
                eks: Some(server.endpoint()),
                ec2: Some(server.endpoint()),
                ssm: Some(server.endpoint()),
                sts: Some(server.endpoint()),
            },
            max_attempts: Some(2),
            ..AwsSettings::default()
        };
        let clients = build_clients(&settings).await.unwrap();
        (server, clients)
    }

    fn fast_limits() -> WaitLimits {
        WaitLimits::new(
            Duration::from_secs(10),
            tokio_util::sync::CancellationToken::new(),
        )
        .with_schedule(PollSchedule {
            first: Duration::from_millis(5),
            max: Duration::from_millis(20),
        })
    }

    fn calls(server: &TestServer) -> Vec<String> {
        server
            .seen()
            .iter()
            .map(|s| {
                let body = String::from_utf8_lossy(&s.body).into_owned();
                match body.strip_prefix("Action=") {
                    Some(rest) => rest.split('&').next().unwrap_or_default().to_owned(),
                    None => format!(
                        "{} {}",
                        s.method,
                        s.target.split('?').next().unwrap_or_default()
                    ),
                }
            })
            .collect()
    }

    #[tokio::test]
    async fn create_sends_only_what_eks_accepts_with_a_custom_ami_and_waits_for_active() {
        let (server, clients) = recorded(Recorded {
            describe_nodegroup: vec![
                json(200, json!({"nodegroup": nodegroup_json("CREATING")})),
                json(200, json!({"nodegroup": nodegroup_json("ACTIVE")})),
            ],
            ..Recorded::default()
        })
        .await;
        let outcome = create_nodegroup(&clients, plan(), &fast_limits()).await;
        assert!(outcome.error.is_none(), "{:?}", outcome.error);
        let state = outcome.state.expect("state");
        assert_eq!(state.status, known("ACTIVE".into()));
        assert_eq!(state.arn, known(ARN.into()));
        assert_eq!(state.launch_template_id, known("lt-0abc".into()));
        assert_eq!(state.launch_template_version, known(1));
        assert_eq!(state.resolved_ami_id, known("ami-0123".into()));
        assert_eq!(state.kubernetes_version, known("1.31".into()));
        assert_eq!(
            state.update_config,
            known(UpdateConfigModel {
                max_unavailable: known(1),
                max_unavailable_percentage: Attr::Null,
            })
        );
        assert_eq!(
            state.labels,
            plan().labels,
            "configured labels, without the Sysbox label"
        );

        let seen = server.seen();
        let parameter = seen
            .iter()
            .find(|s| s.json().get("Name").is_some())
            .expect("GetParameter");
        assert_eq!(
            parameter.json()["Name"],
            "/test/canonical/ubuntu/eks/22.04/1.31/stable/current/amd64/hvm/ebs-gp2/ami-id"
        );
        let template = seen
            .iter()
            .find(|s| s.body.starts_with(b"Action=CreateLaunchTemplate&"))
            .expect("CreateLaunchTemplate");
        let form = String::from_utf8_lossy(&template.body).into_owned();
        assert!(
            form.contains("LaunchTemplateData.ImageId=ami-0123"),
            "{form}"
        );
        assert!(form.contains("LaunchTemplateData.UserData="), "{form}");
        let create = seen
            .iter()
            .find(|s| s.method == "POST" && s.target == "/clusters/demo/node-groups")
            .expect("CreateNodegroup")
            .json();
        for absent in [
            "amiType",
            "diskSize",
            "remoteAccess",
            "version",
            "releaseVersion",
        ] {
            assert!(create.get(absent).is_none(), "{absent} sent: {create}");
        }
        assert_eq!(
            create["launchTemplate"],
            json!({"id": "lt-0abc", "version": "1"})
        );
        assert_eq!(create["labels"]["sysbox-install"], "yes");
        assert_eq!(create["subnets"], json!(["subnet-a", "subnet-b"]));
        assert_eq!(create["taints"][0]["effect"], "NO_SCHEDULE");
        assert_eq!(
            calls(&server),
            vec![
                "GET /clusters/demo",
                "GetParameter",
                "CreateLaunchTemplate",
                "POST /clusters/demo/node-groups",
                "GET /clusters/demo/node-groups/ubuntu",
                "GET /clusters/demo/node-groups/ubuntu",
            ]
            .into_iter()
            .map(|c| if c == "GetParameter" {
                "POST /".to_owned()
            } else {
                c.to_owned()
            })
            .collect::<Vec<_>>()
        );
    }

    #[tokio::test]
    async fn create_failed_lists_health_issues_and_keeps_the_state() {
        let issues = json!([
            {"code": "NodeCreationFailure", "message": "Instances failed to join the kubernetes cluster", "resourceIds": ["i-0abc", "i-0def"]},
            {"code": "AmiIdNotFound", "message": "The AMI was not found", "resourceIds": []}
        ]);
        let (_server, clients) = recorded(Recorded {
            describe_nodegroup: vec![
                json(200, json!({"nodegroup": nodegroup_json("CREATING")})),
                json(
                    200,
                    json!({"nodegroup": nodegroup_with("CREATE_FAILED", issues)}),
                ),
            ],
            ..Recorded::default()
        })
        .await;
        let outcome = create_nodegroup(&clients, plan(), &fast_limits()).await;
        let state = outcome
            .state
            .expect("partial state, so Terraform taints it");
        assert_eq!(state.status, known("CREATE_FAILED".into()));
        assert_eq!(state.launch_template_id, known("lt-0abc".into()));
        let (error, _) = outcome.error.expect("an error");
        let diagnostic = error.to_diagnostic(None);
        assert_eq!(diagnostic.summary, "EKS Node Group Failed");
        assert!(
            diagnostic.detail.contains(
                "NodeCreationFailure: Instances failed to join the kubernetes cluster (i-0abc, i-0def)"
            ),
            "{}",
            diagnostic.detail
        );
        assert!(
            diagnostic
                .detail
                .contains("AmiIdNotFound: The AMI was not found"),
            "{}",
            diagnostic.detail
        );
    }

    #[tokio::test]
    async fn degraded_ends_the_wait_with_its_health_issues() {
        let issues = json!([{"code": "Ec2LaunchTemplateVersionMismatch", "message": "version mismatch", "resourceIds": ["lt-0abc"]}]);
        let (_server, clients) = recorded(Recorded {
            describe_nodegroup: vec![json(
                200,
                json!({"nodegroup": nodegroup_with("DEGRADED", issues)}),
            )],
            ..Recorded::default()
        })
        .await;
        let error = clients
            .eks
            .wait_nodegroup_active("demo", "ubuntu", &fast_limits())
            .await
            .unwrap_err();
        match error {
            AwsError::NodegroupFailed { status, issues, .. } => {
                assert_eq!(status, "DEGRADED");
                assert_eq!(
                    issues,
                    vec!["Ec2LaunchTemplateVersionMismatch: version mismatch (lt-0abc)"]
                );
            }
            other => panic!("{other}"),
        }
    }

    #[tokio::test]
    async fn a_failed_create_nodegroup_deletes_the_launch_template_again() {
        let (server, clients) = recorded(Recorded {
            create_nodegroup: aws_error(
                400,
                "InvalidParameterException",
                "Subnet subnet-a is invalid",
            ),
            ..Recorded::default()
        })
        .await;
        let outcome = create_nodegroup(&clients, plan(), &fast_limits()).await;
        assert!(outcome.state.is_none());
        let (error, _) = outcome.error.expect("error");
        assert!(
            error.to_string().contains("Subnet subnet-a is invalid"),
            "{error}"
        );
        assert_eq!(
            calls(&server).last().map(String::as_str),
            Some("DeleteLaunchTemplate")
        );
    }

    #[tokio::test]
    async fn a_retried_create_adopts_the_node_group_it_already_made() {
        // A 5xx on the way back makes the SDK resend CreateNodegroup; the
        // second request finds the group made by the first.
        let (server, clients) = recorded(Recorded {
            create_nodegroup: aws_error(
                409,
                "ResourceInUseException",
                "NodeGroup already exists with name ubuntu and cluster name demo",
            ),
            ..Recorded::default()
        })
        .await;
        let outcome = create_nodegroup(&clients, plan(), &fast_limits()).await;
        assert!(outcome.error.is_none(), "{:?}", outcome.error);
        assert_eq!(outcome.state.unwrap().status, known("ACTIVE".into()));
        assert!(!calls(&server).contains(&"DeleteLaunchTemplate".to_owned()));
    }

    #[tokio::test]
    async fn a_new_ami_rolls_out_a_launch_template_version_and_waits_on_describe_update() {
        let (server, clients) = recorded(Recorded {
            describe_update: vec![
                json(
                    200,
                    json!({"update": update_json("u-1", "InProgress", "VersionUpdate", json!([]))}),
                ),
                json(
                    200,
                    json!({"update": update_json("u-1", "Successful", "VersionUpdate", json!([]))}),
                ),
            ],
            ..Recorded::default()
        })
        .await;
        let prior = created();
        let mut plan = prior.clone();
        plan.ami_id = known("ami-0fed".into());
        plan_computed(&plan.clone(), Some(&prior), &mut plan);
        let outcome = update_nodegroup(&clients, &prior, plan, &fast_limits()).await;
        assert!(outcome.error.is_none(), "{:?}", outcome.error);
        let state = outcome.state.unwrap();
        assert_eq!(state.resolved_ami_id, known("ami-0fed".into()));
        assert_eq!(state.launch_template_version, known(2));
        let seen = server.seen();
        let version = seen
            .iter()
            .find(|s| s.target.ends_with("/update-version"))
            .expect("UpdateNodegroupVersion")
            .json();
        assert_eq!(
            version["launchTemplate"],
            json!({"id": "lt-0abc", "version": "2"})
        );
        assert!(version.get("releaseVersion").is_none() && version.get("version").is_none());
        let updates: Vec<&Seen> = seen
            .iter()
            .filter(|s| s.target.starts_with("/clusters/demo/updates/u-1"))
            .collect();
        assert_eq!(updates.len(), 2);
        assert!(
            updates[0].target.contains("nodegroupName=ubuntu"),
            "{}",
            updates[0].target
        );
        assert_eq!(
            calls(&server),
            vec![
                "GET /clusters/demo",
                "CreateLaunchTemplateVersion",
                "POST /clusters/demo/node-groups/ubuntu/update-version",
                "GET /clusters/demo/updates/u-1",
                "GET /clusters/demo/updates/u-1",
            ]
        );
    }

    #[tokio::test]
    async fn a_failed_update_reports_its_errors_and_keeps_what_was_applied() {
        let errors = json!([{"errorCode": "NodeCreationFailure", "errorMessage": "Couldn't proceed with upgrade process as new nodes are not joining node group", "resourceIds": ["i-0abc"]}]);
        let (_server, clients) = recorded(Recorded {
            describe_update: vec![json(
                200,
                json!({"update": update_json("u-1", "Failed", "VersionUpdate", errors)}),
            )],
            ..Recorded::default()
        })
        .await;
        let prior = created();
        let mut plan = prior.clone();
        plan.disk_size_gib = known(80);
        plan_computed(&plan.clone(), Some(&prior), &mut plan);
        let outcome = update_nodegroup(&clients, &prior, plan, &fast_limits()).await;
        assert_eq!(
            outcome.state,
            Some(prior),
            "nothing applied: the prior state stays"
        );
        let (error, _) = outcome.error.unwrap();
        let text = error.to_string();
        assert!(
            text.contains("ended Failed: NodeCreationFailure: Couldn't proceed"),
            "{text}"
        );
        assert!(text.contains("(i-0abc)"), "{text}");
        assert_eq!(
            error.to_diagnostic(None).summary,
            "EKS Node Group Update Failed"
        );
    }

    #[tokio::test]
    async fn endpoints_without_update_nodegroup_version_say_so() {
        // moto answers operations it lacks with a bare HTML 404.
        let (_server, clients) = recorded(Recorded {
            update_version: Answer::text(404, "<title>404 Not Found</title>".into()),
            ..Recorded::default()
        })
        .await;
        let error = clients
            .eks
            .update_nodegroup_version("demo", "ubuntu", "lt-0abc", 2)
            .await
            .unwrap_err();
        assert_eq!(error.kind(), Some(ApiErrorKind::Unsupported), "{error:?}");
        assert!(
            error
                .to_diagnostic(None)
                .detail
                .contains("does not implement")
        );
    }

    #[tokio::test]
    async fn config_updates_use_update_nodegroup_config_and_skip_describe_update_when_done() {
        let (server, clients) = recorded(Recorded::default()).await;
        let prior = created();
        let mut plan = prior.clone();
        plan.scaling = Some(ScalingModel {
            min_size: known(2),
            max_size: known(4),
            desired_size: known(3),
        });
        plan.labels = known(BTreeMap::new());
        plan_computed(&plan.clone(), Some(&prior), &mut plan);
        let outcome = update_nodegroup(&clients, &prior, plan, &fast_limits()).await;
        assert!(outcome.error.is_none(), "{:?}", outcome.error);
        let state = outcome.state.unwrap();
        assert_eq!(
            state.node_labels,
            known(BTreeMap::from([("sysbox-install".into(), "yes".into())]))
        );
        assert_eq!(state.launch_template_version, known(1));
        assert_eq!(
            calls(&server),
            vec!["POST /clusters/demo/node-groups/ubuntu/update-config"]
        );
        let body = server.seen()[0].json();
        assert_eq!(
            body["scalingConfig"],
            json!({"minSize": 2, "maxSize": 4, "desiredSize": 3})
        );
        assert_eq!(body["labels"], json!({"removeLabels": ["team"]}));
    }

    #[tokio::test]
    async fn read_shows_drift_and_removes_a_deleted_group() {
        let mut drifted = nodegroup_json("ACTIVE");
        drifted["scalingConfig"] = json!({"minSize": 1, "maxSize": 3, "desiredSize": 3});
        drifted["labels"] = json!({"team": "other", "sysbox-install": "yes"});
        drifted["taints"] = json!([]);
        let (server, clients) = recorded(Recorded {
            describe_nodegroup: vec![json(200, json!({"nodegroup": drifted}))],
            ..Recorded::default()
        })
        .await;
        let state = read_nodegroup(&clients, created()).await.unwrap().unwrap();
        assert_eq!(state.scaling.as_ref().unwrap().desired_size, known(3));
        assert_eq!(
            state.labels,
            known(BTreeMap::from([("team".into(), "other".into())]))
        );
        assert_eq!(state.taints, known(Vec::new()));
        assert_eq!(server.seen().len(), 1, "a refresh is one DescribeNodegroup");

        let mut ignoring = created();
        ignoring.ignore_desired_size_drift = known(true);
        let state = read_nodegroup(&clients, ignoring).await.unwrap().unwrap();
        assert_eq!(state.scaling.as_ref().unwrap().desired_size, known(2));

        let (_server, clients) = recorded(Recorded {
            describe_nodegroup: vec![aws_error(
                404,
                "ResourceNotFoundException",
                "No node group found for name: ubuntu.",
            )],
            ..Recorded::default()
        })
        .await;
        assert_eq!(read_nodegroup(&clients, created()).await.unwrap(), None);
    }

    #[tokio::test]
    async fn delete_waits_until_gone_then_deletes_the_template() {
        let (server, clients) = recorded(Recorded {
            describe_nodegroup: vec![
                json(200, json!({"nodegroup": nodegroup_json("DELETING")})),
                aws_error(
                    404,
                    "ResourceNotFoundException",
                    "No node group found for name: ubuntu.",
                ),
            ],
            ..Recorded::default()
        })
        .await;
        delete_nodegroup(&clients, &created(), &fast_limits())
            .await
            .unwrap();
        assert_eq!(
            calls(&server),
            vec![
                "DELETE /clusters/demo/node-groups/ubuntu",
                "GET /clusters/demo/node-groups/ubuntu",
                "GET /clusters/demo/node-groups/ubuntu",
                "DeleteLaunchTemplate",
            ]
        );
    }

    #[tokio::test]
    async fn throttling_is_retried_by_the_sdk() {
        let counters = Arc::new(Mutex::new(0usize));
        let server = {
            let counters = Arc::clone(&counters);
            TestServer::start(move |_, _| {
                let mut n = counters.lock().unwrap();
                *n += 1;
                if *n == 1 {
                    aws_error(429, "ThrottlingException", "Rate exceeded")
                } else {
                    json(200, json!({"nodegroup": nodegroup_json("ACTIVE")}))
                }
            })
            .await
        };
        let settings = AwsSettings {
            region: Some("eu-west-1".into()),
            access_key: Some("AKIDTEST".into()),
            secret_key: Some("secret".into()),
            endpoints: AwsEndpoints {
                eks: Some(server.endpoint()),
                ..AwsEndpoints::default()
            },
            ..AwsSettings::default()
        };
        let clients = build_clients(&settings).await.unwrap();
        let found = clients.eks.find_nodegroup("demo", "ubuntu").await.unwrap();
        assert!(found.is_some());
        assert_eq!(server.seen().len(), 2);
    }

    #[test]
    fn import_defaults_make_the_next_plan_empty() {
        let mut state = NodegroupModel {
            id: Attr::Null,
            cluster_name: known("demo".into()),
            name: known("ubuntu".into()),
            ..NodegroupModel::default()
        };
        let ng: aws_sdk_eks::types::Nodegroup = {
            // Built with the SDK builders from the same fields as nodegroup_json.
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

    #[test]
    fn launch_template_names_fit_ec2s_limit() {
        assert_eq!(launch_template_name("demo", "ubuntu"), "cvm-demo-ubuntu");
        assert_eq!(
            launch_template_name(&"c".repeat(100), &"n".repeat(63)).len(),
            128
        );
    }
}
