//! EKS: clusters (read only), managed node groups and their updates.
//!
//! Not-found is `Ok(None)` from every `find_*`, never an error. Each
//! `wait_*` polls with backoff within a deadline and stops when Terraform
//! does (see [`super::wait`]). The state machines are pure functions
//! ([`nodegroup_progress`], [`update_progress`]) so that the states moto
//! never produces are unit-tested.

use std::collections::BTreeMap;

use aws_sdk_eks::types::{
    CapacityTypes, Cluster, LaunchTemplateSpecification, Nodegroup, NodegroupScalingConfig,
    NodegroupStatus, NodegroupUpdateConfig, Taint, TaintEffect, Update, UpdateLabelsPayload,
    UpdateStatus, UpdateTaintsPayload,
};

use super::error::AwsError;
use super::wait::{Poll, WaitLimits, poll_until};

/// A node group taint, with the effect in the EKS API's spelling
/// (`NO_SCHEDULE`, `NO_EXECUTE`, `PREFER_NO_SCHEDULE`).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct TaintSpec {
    /// Key.
    pub key: String,
    /// Value (may be absent).
    pub value: Option<String>,
    /// Effect, EKS spelling.
    pub effect: String,
}

impl TaintSpec {
    fn to_sdk(&self) -> Taint {
        Taint::builder()
            .key(&self.key)
            .set_value(self.value.clone())
            .effect(TaintEffect::from(self.effect.as_str()))
            .build()
    }

    /// Reads an SDK taint.
    pub fn from_sdk(taint: &Taint) -> Self {
        Self {
            key: taint.key().unwrap_or_default().to_owned(),
            value: taint.value().map(str::to_owned).filter(|v| !v.is_empty()),
            effect: taint
                .effect()
                .map(|e| e.as_str().to_owned())
                .unwrap_or_default(),
        }
    }
}

/// Sizes of a node group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScalingSpec {
    /// Fewest nodes.
    pub min_size: Option<i32>,
    /// Most nodes.
    pub max_size: Option<i32>,
    /// Nodes wanted now (left out to keep what an autoscaler chose).
    pub desired_size: Option<i32>,
}

impl ScalingSpec {
    fn to_sdk(self) -> NodegroupScalingConfig {
        NodegroupScalingConfig::builder()
            .set_min_size(self.min_size)
            .set_max_size(self.max_size)
            .set_desired_size(self.desired_size)
            .build()
    }
}

/// How many nodes a rolling update may take down at once: a count or a
/// percentage (EKS takes exactly one).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UpdateConfigSpec {
    /// Nodes at once.
    pub max_unavailable: Option<i32>,
    /// Percent of nodes at once.
    pub max_unavailable_percentage: Option<i32>,
}

impl UpdateConfigSpec {
    fn to_sdk(self) -> NodegroupUpdateConfig {
        NodegroupUpdateConfig::builder()
            .set_max_unavailable(self.max_unavailable)
            .set_max_unavailable_percentage(self.max_unavailable_percentage)
            .build()
    }
}

/// What CreateNodegroup is sent for a node group whose launch template
/// carries a custom AMI.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewNodegroup {
    /// Cluster name.
    pub cluster: String,
    /// Node group name.
    pub name: String,
    /// IAM role ARN of the nodes.
    pub node_role_arn: String,
    /// Subnet ids.
    pub subnet_ids: Vec<String>,
    /// EC2 instance types (not in the launch template, so several may be
    /// given, e.g. for Spot).
    pub instance_types: Vec<String>,
    /// Sizes.
    pub scaling: ScalingSpec,
    /// Kubernetes labels EKS puts on the nodes.
    pub labels: BTreeMap<String, String>,
    /// Kubernetes taints.
    pub taints: Vec<TaintSpec>,
    /// AWS tags of the node group.
    pub tags: BTreeMap<String, String>,
    /// `ON_DEMAND`, `SPOT` or `CAPACITY_BLOCK`.
    pub capacity_type: String,
    /// Rolling update limits.
    pub update_config: Option<UpdateConfigSpec>,
    /// Launch template id.
    pub launch_template_id: String,
    /// Launch template version.
    pub launch_template_version: i64,
}

/// A change to send with UpdateNodegroupConfig; empty parts are left out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodegroupConfigChange {
    /// Labels to add or change.
    pub add_labels: BTreeMap<String, String>,
    /// Label keys to remove.
    pub remove_labels: Vec<String>,
    /// Taints to add or change.
    pub add_taints: Vec<TaintSpec>,
    /// Taints to remove.
    pub remove_taints: Vec<TaintSpec>,
    /// New sizes.
    pub scaling: Option<ScalingSpec>,
    /// New rolling update limits.
    pub update_config: Option<UpdateConfigSpec>,
}

impl NodegroupConfigChange {
    /// Whether there is nothing to send.
    pub fn is_empty(&self) -> bool {
        self.add_labels.is_empty()
            && self.remove_labels.is_empty()
            && self.add_taints.is_empty()
            && self.remove_taints.is_empty()
            && self.scaling.is_none()
            && self.update_config.is_none()
    }

    /// The label part: what to add or change, what to remove.
    pub fn diff_labels(
        &mut self,
        prior: &BTreeMap<String, String>,
        planned: &BTreeMap<String, String>,
    ) {
        for (key, value) in planned {
            if prior.get(key) != Some(value) {
                self.add_labels.insert(key.clone(), value.clone());
            }
        }
        self.remove_labels = prior
            .keys()
            .filter(|k| !planned.contains_key(*k))
            .cloned()
            .collect();
    }

    /// The taint part; a taint is identified by its key and effect.
    pub fn diff_taints(&mut self, prior: &[TaintSpec], planned: &[TaintSpec]) {
        let same_slot = |a: &TaintSpec, b: &TaintSpec| a.key == b.key && a.effect == b.effect;
        self.add_taints = planned
            .iter()
            .filter(|t| !prior.contains(t))
            .cloned()
            .collect();
        self.remove_taints = prior
            .iter()
            .filter(|t| !planned.iter().any(|p| same_slot(p, t)))
            .cloned()
            .collect();
    }
}

/// Where a node group is on its way to a goal state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Reached.
    Done,
    /// Still moving; the status seen.
    Pending(String),
    /// Will not get there: the status and the health issues.
    Failed {
        /// The status, e.g. `CREATE_FAILED`.
        status: String,
        /// The health issues, one line each.
        issues: Vec<String>,
    },
}

/// The health issues of a node group, one line each:
/// `code: message (resource ids)`.
pub fn health_issues(nodegroup: &Nodegroup) -> Vec<String> {
    let Some(health) = nodegroup.health() else {
        return Vec::new();
    };
    health
        .issues()
        .iter()
        .map(|issue| {
            describe_problem(
                issue.code().map(|c| c.as_str()),
                issue.message(),
                issue.resource_ids(),
            )
        })
        .collect()
}

fn describe_problem(code: Option<&str>, message: Option<&str>, resources: &[String]) -> String {
    let mut line = match (code, message) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_owned(),
        (None, Some(message)) => message.to_owned(),
        (None, None) => "unknown problem".to_owned(),
    };
    if !resources.is_empty() {
        line.push_str(&format!(" ({})", resources.join(", ")));
    }
    line
}

/// Progress of a node group towards `ACTIVE` (after a create).
/// `CREATE_FAILED`, `DEGRADED` and the delete states end the wait.
pub fn nodegroup_progress(nodegroup: &Nodegroup) -> Progress {
    let status = nodegroup.status().map_or("", |s| s.as_str()).to_owned();
    match nodegroup.status() {
        Some(NodegroupStatus::Active) => Progress::Done,
        Some(NodegroupStatus::Creating | NodegroupStatus::Updating) | None => {
            Progress::Pending(status)
        }
        Some(_) => Progress::Failed {
            issues: health_issues(nodegroup),
            status,
        },
    }
}

/// Progress of an update towards `Successful`.
pub fn update_progress(update: &Update) -> Progress {
    let status = update.status().map_or("", |s| s.as_str()).to_owned();
    match update.status() {
        Some(UpdateStatus::Successful) => Progress::Done,
        Some(UpdateStatus::InProgress) | None => Progress::Pending(status),
        Some(_) => Progress::Failed {
            issues: update
                .errors()
                .iter()
                .map(|e| {
                    describe_problem(
                        e.error_code().map(|c| c.as_str()),
                        e.error_message(),
                        e.resource_ids(),
                    )
                })
                .collect(),
            status,
        },
    }
}

/// The cluster DNS service address for a service CIDR: its tenth address,
/// as EKS's bootstrap computes it (`10.100.0.0/16` → `10.100.0.10`).
pub fn cluster_dns_ip(service_ipv4_cidr: &str) -> Option<String> {
    let (network, _) = service_ipv4_cidr.split_once('/')?;
    let address: std::net::Ipv4Addr = network.trim().parse().ok()?;
    let next = u32::from(address).checked_add(10)?;
    Some(std::net::Ipv4Addr::from(next).to_string())
}

/// What a node needs from the cluster to join it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterAccess {
    /// Cluster name.
    pub name: String,
    /// Kubernetes version, e.g. `1.31`.
    pub version: String,
    /// API server URL.
    pub endpoint: String,
    /// Base64 PEM CA bundle, as EKS returns it.
    pub certificate_authority: String,
    /// Cluster DNS service IP, when the cluster has an IPv4 service CIDR.
    pub dns_cluster_ip: Option<String>,
}

impl ClusterAccess {
    /// Reads what a node needs from DescribeCluster's answer.
    pub fn from_cluster(cluster: &Cluster) -> Result<Self, AwsError> {
        let missing = |field| AwsError::MissingField {
            operation: "DescribeCluster",
            field,
        };
        Ok(Self {
            name: cluster.name().unwrap_or_default().to_owned(),
            version: cluster.version().ok_or(missing("version"))?.to_owned(),
            endpoint: cluster.endpoint().ok_or(missing("endpoint"))?.to_owned(),
            certificate_authority: cluster
                .certificate_authority()
                .and_then(|c| c.data())
                .ok_or(missing("certificateAuthority.data"))?
                .to_owned(),
            dns_cluster_ip: cluster
                .kubernetes_network_config()
                .and_then(|n| n.service_ipv4_cidr())
                .and_then(cluster_dns_ip),
        })
    }
}

/// `cluster:name`, how messages and ids name a node group.
fn nodegroup_target(cluster: &str, name: &str) -> String {
    format!("EKS node group {cluster}:{name}")
}

/// The EKS API, as the provider uses it.
#[derive(Clone, Debug)]
pub struct EksClient {
    inner: aws_sdk_eks::Client,
}

impl EksClient {
    /// Wraps an SDK client.
    pub fn new(inner: aws_sdk_eks::Client) -> Self {
        Self { inner }
    }

    /// The SDK client.
    pub fn sdk(&self) -> &aws_sdk_eks::Client {
        &self.inner
    }

    /// DescribeCluster; `None` when there is no such cluster.
    pub async fn find_cluster(&self, name: &str) -> Result<Option<Cluster>, AwsError> {
        match self.inner.describe_cluster().name(name).send().await {
            Ok(out) => Ok(out.cluster),
            Err(e) => none_if_not_found(AwsError::from_sdk(
                "DescribeCluster",
                format!("EKS cluster {name}"),
                e,
            )),
        }
    }

    /// What nodes need to join cluster `name`; an error when it is missing.
    pub async fn cluster_access(&self, name: &str) -> Result<ClusterAccess, AwsError> {
        match self.find_cluster(name).await? {
            Some(cluster) => ClusterAccess::from_cluster(&cluster),
            None => Err(AwsError::Api {
                operation: "DescribeCluster",
                target: format!("EKS cluster {name}"),
                kind: super::error::ApiErrorKind::NotFound,
                code: Some("ResourceNotFoundException".into()),
                message: Some(format!("no cluster named {name:?}")),
                status: Some(404),
                source: "cluster not found".into(),
            }),
        }
    }

    /// DescribeNodegroup; `None` when there is no such node group (or
    /// cluster).
    pub async fn find_nodegroup(
        &self,
        cluster: &str,
        name: &str,
    ) -> Result<Option<Nodegroup>, AwsError> {
        let result = self
            .inner
            .describe_nodegroup()
            .cluster_name(cluster)
            .nodegroup_name(name)
            .send()
            .await;
        match result {
            Ok(out) => Ok(out.nodegroup),
            Err(e) => none_if_not_found(AwsError::from_sdk(
                "DescribeNodegroup",
                nodegroup_target(cluster, name),
                e,
            )),
        }
    }

    /// The CreateNodegroup request for `new`: only what EKS accepts with a
    /// launch template that names a custom AMI, so no `amiType`,
    /// `version`, `releaseVersion`, `diskSize` or `remoteAccess`.
    pub fn create_nodegroup_request(
        &self,
        new: &NewNodegroup,
    ) -> aws_sdk_eks::operation::create_nodegroup::builders::CreateNodegroupFluentBuilder {
        let mut request = self
            .inner
            .create_nodegroup()
            .cluster_name(&new.cluster)
            .nodegroup_name(&new.name)
            .node_role(&new.node_role_arn)
            .set_subnets(Some(new.subnet_ids.clone()))
            .set_instance_types(Some(new.instance_types.clone()))
            .scaling_config(new.scaling.to_sdk())
            .capacity_type(CapacityTypes::from(new.capacity_type.as_str()))
            .launch_template(
                LaunchTemplateSpecification::builder()
                    .id(&new.launch_template_id)
                    .version(new.launch_template_version.to_string())
                    .build(),
            );
        if !new.labels.is_empty() {
            request = request.set_labels(Some(new.labels.clone().into_iter().collect()));
        }
        if !new.taints.is_empty() {
            request = request.set_taints(Some(new.taints.iter().map(TaintSpec::to_sdk).collect()));
        }
        if !new.tags.is_empty() {
            request = request.set_tags(Some(new.tags.clone().into_iter().collect()));
        }
        if let Some(update_config) = new.update_config {
            request = request.update_config(update_config.to_sdk());
        }
        request
    }

    /// CreateNodegroup; returns the node group as created (usually
    /// `CREATING`).
    pub async fn create_nodegroup(&self, new: &NewNodegroup) -> Result<Nodegroup, AwsError> {
        let out = self
            .create_nodegroup_request(new)
            .send()
            .await
            .map_err(|e| {
                AwsError::from_sdk(
                    "CreateNodegroup",
                    nodegroup_target(&new.cluster, &new.name),
                    e,
                )
            })?;
        out.nodegroup.ok_or(AwsError::MissingField {
            operation: "CreateNodegroup",
            field: "nodegroup",
        })
    }

    /// UpdateNodegroupConfig; returns the update to wait for.
    pub async fn update_nodegroup_config(
        &self,
        cluster: &str,
        name: &str,
        change: &NodegroupConfigChange,
    ) -> Result<Update, AwsError> {
        let mut request = self
            .inner
            .update_nodegroup_config()
            .cluster_name(cluster)
            .nodegroup_name(name);
        if !change.add_labels.is_empty() || !change.remove_labels.is_empty() {
            let mut labels = UpdateLabelsPayload::builder();
            if !change.add_labels.is_empty() {
                labels = labels.set_add_or_update_labels(Some(
                    change.add_labels.clone().into_iter().collect(),
                ));
            }
            if !change.remove_labels.is_empty() {
                labels = labels.set_remove_labels(Some(change.remove_labels.clone()));
            }
            request = request.labels(labels.build());
        }
        if !change.add_taints.is_empty() || !change.remove_taints.is_empty() {
            let mut taints = UpdateTaintsPayload::builder();
            if !change.add_taints.is_empty() {
                taints = taints.set_add_or_update_taints(Some(
                    change.add_taints.iter().map(TaintSpec::to_sdk).collect(),
                ));
            }
            if !change.remove_taints.is_empty() {
                taints = taints.set_remove_taints(Some(
                    change.remove_taints.iter().map(TaintSpec::to_sdk).collect(),
                ));
            }
            request = request.taints(taints.build());
        }
        if let Some(scaling) = change.scaling {
            request = request.scaling_config(scaling.to_sdk());
        }
        if let Some(update_config) = change.update_config {
            request = request.update_config(update_config.to_sdk());
        }
        let out = request.send().await.map_err(|e| {
            AwsError::from_sdk("UpdateNodegroupConfig", nodegroup_target(cluster, name), e)
        })?;
        out.update.ok_or(AwsError::MissingField {
            operation: "UpdateNodegroupConfig",
            field: "update",
        })
    }

    /// UpdateNodegroupVersion to another version of the node group's own
    /// launch template (by id, as at creation; never with a version or
    /// release version, which EKS refuses with a custom AMI).
    pub async fn update_nodegroup_version(
        &self,
        cluster: &str,
        name: &str,
        launch_template_id: &str,
        launch_template_version: i64,
    ) -> Result<Update, AwsError> {
        let out = self
            .inner
            .update_nodegroup_version()
            .cluster_name(cluster)
            .nodegroup_name(name)
            .launch_template(
                LaunchTemplateSpecification::builder()
                    .id(launch_template_id)
                    .version(launch_template_version.to_string())
                    .build(),
            )
            .send()
            .await
            .map_err(|e| {
                AwsError::from_sdk("UpdateNodegroupVersion", nodegroup_target(cluster, name), e)
            })?;
        out.update.ok_or(AwsError::MissingField {
            operation: "UpdateNodegroupVersion",
            field: "update",
        })
    }

    /// DescribeUpdate of a node group update; `None` when unknown.
    pub async fn find_update(
        &self,
        cluster: &str,
        name: &str,
        update_id: &str,
    ) -> Result<Option<Update>, AwsError> {
        let result = self
            .inner
            .describe_update()
            .name(cluster)
            .nodegroup_name(name)
            .update_id(update_id)
            .send()
            .await;
        match result {
            Ok(out) => Ok(out.update),
            Err(e) => none_if_not_found(AwsError::from_sdk(
                "DescribeUpdate",
                format!("update {update_id} of {}", nodegroup_target(cluster, name)),
                e,
            )),
        }
    }

    /// DeleteNodegroup; `false` when it was already gone.
    pub async fn delete_nodegroup(&self, cluster: &str, name: &str) -> Result<bool, AwsError> {
        let result = self
            .inner
            .delete_nodegroup()
            .cluster_name(cluster)
            .nodegroup_name(name)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) => {
                let error =
                    AwsError::from_sdk("DeleteNodegroup", nodegroup_target(cluster, name), e);
                if error.is_not_found() {
                    Ok(false)
                } else {
                    Err(error)
                }
            }
        }
    }

    /// TagResource.
    pub async fn tag_resource(
        &self,
        arn: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), AwsError> {
        if tags.is_empty() {
            return Ok(());
        }
        self.inner
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(tags.clone().into_iter().collect()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("TagResource", arn, e))
    }

    /// UntagResource.
    pub async fn untag_resource(&self, arn: &str, keys: &[String]) -> Result<(), AwsError> {
        if keys.is_empty() {
            return Ok(());
        }
        self.inner
            .untag_resource()
            .resource_arn(arn)
            .set_tag_keys(Some(keys.to_vec()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| AwsError::from_sdk("UntagResource", arn, e))
    }

    /// Waits until the node group is `ACTIVE`; `CREATE_FAILED`,
    /// `DEGRADED` or its disappearance end the wait with an error listing
    /// the health issues.
    pub async fn wait_nodegroup_active(
        &self,
        cluster: &str,
        name: &str,
        limits: &WaitLimits,
    ) -> Result<Nodegroup, AwsError> {
        let what = format!("{} to become ACTIVE", nodegroup_target(cluster, name));
        poll_until(&what, limits, || async {
            let Some(nodegroup) = self.find_nodegroup(cluster, name).await? else {
                return Err(AwsError::NodegroupFailed {
                    nodegroup: format!("{cluster}:{name}"),
                    status: "gone (deleted while being created)".to_owned(),
                    issues: Vec::new(),
                });
            };
            match nodegroup_progress(&nodegroup) {
                Progress::Done => Ok(Poll::Done(nodegroup)),
                Progress::Pending(status) => Ok(Poll::Pending(status)),
                Progress::Failed { status, issues } => Err(AwsError::NodegroupFailed {
                    nodegroup: format!("{cluster}:{name}"),
                    status,
                    issues,
                }),
            }
        })
        .await
    }

    /// Waits until the node group no longer exists; `DELETE_FAILED` ends
    /// the wait with its health issues.
    pub async fn wait_nodegroup_deleted(
        &self,
        cluster: &str,
        name: &str,
        limits: &WaitLimits,
    ) -> Result<(), AwsError> {
        let what = format!("{} to be deleted", nodegroup_target(cluster, name));
        poll_until(&what, limits, || async {
            let Some(nodegroup) = self.find_nodegroup(cluster, name).await? else {
                return Ok(Poll::Done(()));
            };
            match nodegroup.status() {
                Some(NodegroupStatus::DeleteFailed) => Err(AwsError::NodegroupFailed {
                    nodegroup: format!("{cluster}:{name}"),
                    status: "DELETE_FAILED".to_owned(),
                    issues: health_issues(&nodegroup),
                }),
                status => Ok(Poll::Pending(status.map_or("", |s| s.as_str()).to_owned())),
            }
        })
        .await
    }

    /// Waits until `update` is `Successful` (with DescribeUpdate). An update
    /// already `Successful` when returned (as moto answers) needs no call.
    pub async fn wait_update_successful(
        &self,
        cluster: &str,
        name: &str,
        update: Update,
        limits: &WaitLimits,
    ) -> Result<Update, AwsError> {
        let id = update.id().unwrap_or_default().to_owned();
        let update_type = update.r#type().map_or("update", |t| t.as_str()).to_owned();
        let failed = |status: String, errors: Vec<String>| AwsError::UpdateFailed {
            nodegroup: format!("{cluster}:{name}"),
            update_id: id.clone(),
            update_type: update_type.clone(),
            status,
            errors,
        };
        match update_progress(&update) {
            Progress::Done => return Ok(update),
            Progress::Failed { status, issues } => return Err(failed(status, issues)),
            Progress::Pending(_) => {}
        }
        if id.is_empty() {
            return Err(AwsError::MissingField {
                operation: "UpdateNodegroupConfig",
                field: "update.id",
            });
        }
        let what = format!(
            "{update_type} {id} of {} to succeed",
            nodegroup_target(cluster, name)
        );
        poll_until(&what, limits, || async {
            let Some(current) = self.find_update(cluster, name, &id).await? else {
                return Ok(Poll::Pending("not visible yet".to_owned()));
            };
            match update_progress(&current) {
                Progress::Done => Ok(Poll::Done(current)),
                Progress::Pending(status) => Ok(Poll::Pending(status)),
                Progress::Failed { status, issues } => Err(failed(status, issues)),
            }
        })
        .await
    }
}

/// `Ok(None)` for a not-found error, the error otherwise.
fn none_if_not_found<T>(error: AwsError) -> Result<Option<T>, AwsError> {
    if error.is_not_found() {
        Ok(None)
    } else {
        Err(error)
    }
}
