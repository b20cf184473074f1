//! The AWS calls of `cvm_nodegroup`: create (launch template, then node
//! group, then the wait for ACTIVE), in-place update, refresh and delete.

use std::collections::BTreeMap;

use tf_framework::{PrivateState, ToDiagnostic};
use tf_protocol::AttributePath;
use tf_protocol::value::Attr;

use super::model::{NodegroupModel, effective_labels, known_or};
use super::ownership::{TOKEN_KEY, made_by, owner_tag_value, token_in};
use super::plan::{config_change, needs_new_template};
use super::state::{adopt_nodegroup, fill_import_defaults, finish_computed, keep_configured};
use super::{DEFAULT_DISK_SIZE_GIB, NAME_SUFFIX_LENGTH, OWNER_TAG};
use crate::aws::ami::AmiLookupError;
use crate::aws::ec2::LaunchTemplateData;
use crate::aws::eks::{ClusterAccess, NewNodegroup};
use crate::aws::user_data::bootstrap_user_data;
use crate::aws::wait::WaitLimits;
use crate::aws::{AwsClients, AwsError};

/// The name of a node group's launch template: `cvm-<cluster>-<name>`,
/// within EC2's 128 characters.
pub(super) fn launch_template_name(cluster: &str, name: &str) -> String {
    let mut text = format!("cvm-{cluster}-{name}");
    text.truncate(128);
    text
}

/// `prefix` plus a random lower-case suffix.
pub(super) fn generated_name(prefix: &str) -> String {
    let suffix: String = std::iter::repeat_with(|| fastrand::alphanumeric().to_ascii_lowercase())
        .take(NAME_SUFFIX_LENGTH)
        .collect();
    format!("{prefix}{suffix}")
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
    /// A create met an object of the same name that this resource
    /// instance did not make (its owner tag lacks this create's token).
    #[error(
        "the {what} {object} already exists and was not created by this resource; to manage it \
         with this configuration, import it: terraform import cvm_nodegroup.<resource name> {import_id}"
    )]
    NotCreatedHere {
        /// "launch template" or "EKS node group".
        what: &'static str,
        /// The existing object's name.
        object: String,
        /// The import id, `<cluster>:<name>`.
        import_id: String,
    },
}

impl ToDiagnostic for AwsOrAmiError {
    fn to_diagnostic(&self, attribute: Option<AttributePath>) -> tf_protocol::Diagnostic {
        match self {
            Self::Aws(e) => e.to_diagnostic(attribute),
            Self::Ami(e) => e.to_diagnostic(attribute),
            Self::NotCreatedHere { what, .. } => {
                let summary = if *what == "launch template" {
                    "Launch Template Already Exists"
                } else {
                    "EKS Node Group Already Exists"
                };
                let diagnostic = tf_protocol::Diagnostic::error(
                    summary,
                    format!(
                        "{}. Another configuration with the same cluster and node group names \
                         may own it; choose another name, or import it to take it over.",
                        tf_framework::diagnostic::capitalised(&self.to_string())
                    ),
                );
                match attribute {
                    Some(path) => diagnostic.at(path),
                    None => diagnostic,
                }
            }
        }
    }
}

/// The AMI for `plan`: the given `ami_id`, or Canonical's from SSM for
/// `kubernetes_version` (shared within the process when `for_create`, read
/// now otherwise).
async fn resolve_ami(
    clients: &AwsClients,
    plan: &NodegroupModel,
    kubernetes_version: &str,
    for_create: bool,
) -> Result<String, (AwsOrAmiError, Option<AttributePath>)> {
    if let Attr::Known(ami) = &plan.ami_id {
        return Ok(ami.clone());
    }
    let query = plan.ami_query(kubernetes_version);
    let resolved = if for_create {
        query.resolve_for_create(clients).await
    } else {
        query.resolve(&clients.ssm).await
    };
    resolved.map(|found| found.ami_id).map_err(|e| {
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
/// state with the error, so Terraform taints and replaces it. `token`
/// marks what this create makes (see [`super::ownership`]); an existing
/// object of the same name without it is refused, not adopted.
pub(super) async fn create_nodegroup(
    clients: &AwsClients,
    mut plan: NodegroupModel,
    token: &str,
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
    let cluster = match clients
        .shared
        .cluster_access(&clients.eks, &cluster_name)
        .await
    {
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
    let ami = match resolve_ami(clients, &plan, &kubernetes_version, true).await {
        Ok(ami) => ami,
        Err((e, path)) => return fail(e, path),
    };
    let data = template_data(&plan, &cluster, &ami);
    let node_labels = effective_labels(plan.labels.known(), plan.wants_sysbox());
    let owner = owner_tag_value(&cluster_name, &name, token);
    let mut template_tags = plan.tags.known().cloned().unwrap_or_default();
    template_tags.insert(OWNER_TAG.to_owned(), owner.clone());
    let template_name = launch_template_name(&cluster_name, &name);
    let import_id = format!("{cluster_name}:{name}");
    let template = match ensure_launch_template(
        clients,
        &template_name,
        &owner,
        &import_id,
        &data,
        &template_tags,
    )
    .await
    {
        Ok(template) => template,
        Err(e) => return fail(e, None),
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
            // Nothing may be orphaned: the template carries this create's
            // token, so it exists for this group only.
            if let Err(cleanup) = clients.ec2.delete_launch_template(&template.id).await {
                tracing::warn!(error = %cleanup, template = %template.id, "could not delete the launch template of a node group that failed to create");
            }
            return fail(e, None);
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

/// Creates the node group's launch template, tagged `owner`. When a
/// retried request finds it already made, the template is adopted (with a
/// new version holding `data`) only if its owner tag is `owner`, this
/// create's token included; any other template of that name is refused.
async fn ensure_launch_template(
    clients: &AwsClients,
    name: &str,
    owner: &str,
    import_id: &str,
    data: &LaunchTemplateData,
    tags: &BTreeMap<String, String>,
) -> Result<crate::aws::ec2::LaunchTemplateRef, AwsOrAmiError> {
    let error = match clients.ec2.create_launch_template(name, data, tags).await {
        Ok(template) => return Ok(template),
        Err(e) => e,
    };
    if error.kind() != Some(crate::aws::error::ApiErrorKind::Conflict) {
        return Err(error.into());
    }
    match clients.ec2.find_launch_template_by_name(name).await? {
        Some((mut template, template_tags)) if made_by(&template_tags, owner) => {
            template.version = clients
                .ec2
                .create_launch_template_version(&template.id, data)
                .await?;
            Ok(template)
        }
        Some(_) => Err(AwsOrAmiError::NotCreatedHere {
            what: "launch template",
            object: name.to_owned(),
            import_id: import_id.to_owned(),
        }),
        None => Err(error.into()),
    }
}

/// CreateNodegroup; when a retried request finds the node group already
/// made with this launch template (which carries this create's token),
/// that node group is the result. A node group of that name on another
/// launch template is refused.
async fn create_or_adopt(
    clients: &AwsClients,
    new: &NewNodegroup,
) -> Result<aws_sdk_eks::types::Nodegroup, AwsOrAmiError> {
    let error = match clients.eks.create_nodegroup(new).await {
        Ok(created) => return Ok(created),
        Err(e) => e,
    };
    if error.kind() != Some(crate::aws::error::ApiErrorKind::Conflict) {
        return Err(error.into());
    }
    match clients.eks.find_nodegroup(&new.cluster, &new.name).await? {
        Some(existing)
            if existing.launch_template().and_then(|t| t.id())
                == Some(new.launch_template_id.as_str()) =>
        {
            Ok(existing)
        }
        Some(_) => Err(AwsOrAmiError::NotCreatedHere {
            what: "EKS node group",
            object: new.name.clone(),
            import_id: format!("{}:{}", new.cluster, new.name),
        }),
        None => Err(error.into()),
    }
}

/// Applies an in-place update: a new launch template version rolled out
/// with UpdateNodegroupVersion when the AMI or disk changes, then
/// UpdateNodegroupConfig for sizes, labels, taints and update limits, then
/// tags; each update is awaited.
pub(super) async fn update_nodegroup(
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
            None => match resolve_ami(clients, &state, &kubernetes_version, false).await {
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

/// The `status` a refresh gives a node group deleted outside Terraform
/// whose launch template remains: the plan replaces it.
pub(super) const DELETED_STATUS: &str = "DELETED";

/// Refreshes `state`; `Ok(None)` when the node group and its launch
/// template are gone. A node group deleted outside Terraform whose launch
/// template (this instance's, by token or recorded id) remains stays, with
/// `status` [`DELETED_STATUS`], so the plan replaces it and the
/// replacement's delete removes the template instead of orphaning it. On
/// import the token is read from the launch template's owner tag into
/// `private`: importing claims ownership.
pub(super) async fn read_nodegroup(
    clients: &AwsClients,
    mut state: NodegroupModel,
    private: &mut PrivateState,
) -> Result<Option<NodegroupModel>, AwsError> {
    let cluster = state.cluster();
    let name = state.group_name();
    let token = private.get::<String>(TOKEN_KEY);
    let Some(nodegroup) = clients.eks.find_nodegroup(&cluster, &name).await? else {
        let template_name = state
            .launch_template_name
            .known()
            .cloned()
            .unwrap_or_else(|| launch_template_name(&cluster, &name));
        let ours = match clients
            .ec2
            .find_launch_template_by_name(&template_name)
            .await?
        {
            Some((template, tags)) => match &token {
                Some(token) => made_by(&tags, &owner_tag_value(&cluster, &name, token)),
                // State saved before tokens: the id it recorded says.
                None => state.launch_template_id.known() == Some(&template.id),
            },
            None => false,
        };
        if ours {
            tracing::info!(cluster = %cluster, nodegroup = %name, template = %template_name, "node group is gone but its launch template remains; planning a replacement");
            state.status = Attr::Known(DELETED_STATUS.to_owned());
            return Ok(Some(state));
        }
        tracing::info!(cluster = %cluster, nodegroup = %name, "node group is gone; removing it from state");
        return Ok(None);
    };
    let imported = state.launch_template_id.is_null();
    let prior_version = state.launch_template_version;
    adopt_nodegroup(&mut state, &nodegroup);
    if imported {
        fill_import_defaults(&mut state);
        if token.is_none()
            && let Attr::Known(template_name) = &state.launch_template_name
            && let Some((_, tags)) = clients
                .ec2
                .find_launch_template_by_name(template_name)
                .await?
            && let Some(claimed) = token_in(&tags, &cluster, &name)
            && let Err(e) = private.set(TOKEN_KEY, &claimed)
        {
            tracing::warn!(error = %e, "could not keep the ownership token in private state");
        }
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
pub(super) async fn delete_nodegroup(
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use aws_sdk_eks::types::{
        ErrorCode, NodegroupIssueCode, NodegroupStatus, UpdateStatus, UpdateType,
    };
    use serde_json::json;

    use super::*;
    use crate::aws::config::{AwsEndpoints, AwsSettings, build_clients};
    use crate::aws::error::ApiErrorKind;
    use crate::resources::nodegroup::hand_written_eks::*;
    use crate::resources::nodegroup::model::{ScalingModel, UpdateConfigModel};
    use crate::resources::nodegroup::plan::plan_computed;
    use crate::resources::nodegroup::test_support::{ARN, created, known, plan};
    use crate::test_server::{Answer, Seen, TestServer, aws_error};

    #[tokio::test]
    async fn create_sends_only_what_eks_accepts_with_a_custom_ami_and_waits_for_active() {
        let (server, clients) = serve(EksAnswers {
            describe_nodegroup: vec![
                nodegroup_answer(&nodegroup(NodegroupStatus::Creating)),
                nodegroup_answer(&nodegroup(NodegroupStatus::Active)),
            ],
            ..EksAnswers::default()
        })
        .await;
        let outcome = create_nodegroup(&clients, plan(), "0a1b", &fast_limits()).await;
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
        assert_eq!(
            create["subnets"],
            json!(["subnet-0000000a", "subnet-0000000b"])
        );
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
        let issues = vec![
            issue(
                NodegroupIssueCode::NodeCreationFailure,
                "Instances failed to join the kubernetes cluster",
                &["i-0abc", "i-0def"],
            ),
            issue(
                NodegroupIssueCode::AmiIdNotFound,
                "The AMI was not found",
                &[],
            ),
        ];
        let (_server, clients) = serve(EksAnswers {
            describe_nodegroup: vec![
                nodegroup_answer(&nodegroup(NodegroupStatus::Creating)),
                nodegroup_answer(&nodegroup_with(NodegroupStatus::CreateFailed, issues)),
            ],
            ..EksAnswers::default()
        })
        .await;
        let outcome = create_nodegroup(&clients, plan(), "0a1b", &fast_limits()).await;
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
        let issues = vec![issue(
            NodegroupIssueCode::Ec2LaunchTemplateVersionMismatch,
            "version mismatch",
            &["lt-0abc"],
        )];
        let (_server, clients) = serve(EksAnswers {
            describe_nodegroup: vec![nodegroup_answer(&nodegroup_with(
                NodegroupStatus::Degraded,
                issues,
            ))],
            ..EksAnswers::default()
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
        let (server, clients) = serve(EksAnswers {
            create_nodegroup: aws_error(
                400,
                "InvalidParameterException",
                "Subnet subnet-0000000a is invalid",
            ),
            ..EksAnswers::default()
        })
        .await;
        let outcome = create_nodegroup(&clients, plan(), "0a1b", &fast_limits()).await;
        assert!(outcome.state.is_none());
        let (error, _) = outcome.error.expect("error");
        assert!(
            error
                .to_string()
                .contains("Subnet subnet-0000000a is invalid"),
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
        let (server, clients) = serve(EksAnswers {
            create_nodegroup: aws_error(
                409,
                "ResourceInUseException",
                "NodeGroup already exists with name ubuntu and cluster name demo",
            ),
            ..EksAnswers::default()
        })
        .await;
        let outcome = create_nodegroup(&clients, plan(), "0a1b", &fast_limits()).await;
        assert!(outcome.error.is_none(), "{:?}", outcome.error);
        assert_eq!(outcome.state.unwrap().status, known("ACTIVE".into()));
        assert!(!calls(&server).contains(&"DeleteLaunchTemplate".to_owned()));
    }

    #[tokio::test]
    async fn a_new_ami_rolls_out_a_launch_template_version_and_waits_on_describe_update() {
        let (server, clients) = serve(EksAnswers {
            describe_update: vec![
                update_answer(&update(
                    "u-1",
                    UpdateStatus::InProgress,
                    UpdateType::VersionUpdate,
                    Vec::new(),
                )),
                update_answer(&update(
                    "u-1",
                    UpdateStatus::Successful,
                    UpdateType::VersionUpdate,
                    Vec::new(),
                )),
            ],
            ..EksAnswers::default()
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
        let errors = vec![update_error(
            ErrorCode::NodeCreationFailure,
            "Couldn't proceed with upgrade process as new nodes are not joining node group",
            &["i-0abc"],
        )];
        let (_server, clients) = serve(EksAnswers {
            describe_update: vec![update_answer(&update(
                "u-1",
                UpdateStatus::Failed,
                UpdateType::VersionUpdate,
                errors,
            ))],
            ..EksAnswers::default()
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
        let (_server, clients) = serve(EksAnswers {
            update_version: Answer::text(404, "<title>404 Not Found</title>".into()),
            ..EksAnswers::default()
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
        let (server, clients) = serve(EksAnswers::default()).await;
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
        let mut drifted = nodegroup(NodegroupStatus::Active);
        drifted.scaling_config = Some(scaling(1, 3, 3));
        drifted.labels = Some(HashMap::from([
            ("team".to_owned(), "other".to_owned()),
            ("sysbox-install".to_owned(), "yes".to_owned()),
        ]));
        drifted.taints = Some(Vec::new());
        let (server, clients) = serve(EksAnswers {
            describe_nodegroup: vec![nodegroup_answer(&drifted)],
            ..EksAnswers::default()
        })
        .await;
        let state = read_nodegroup(&clients, created(), &mut PrivateState::default())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(state.scaling.as_ref().unwrap().desired_size, known(3));
        assert_eq!(
            state.labels,
            known(BTreeMap::from([("team".into(), "other".into())]))
        );
        assert_eq!(state.taints, known(Vec::new()));
        assert_eq!(server.seen().len(), 1, "a refresh is one DescribeNodegroup");

        let mut ignoring = created();
        ignoring.ignore_desired_size_drift = known(true);
        let state = read_nodegroup(&clients, ignoring, &mut PrivateState::default())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(state.scaling.as_ref().unwrap().desired_size, known(2));

        let (_server, clients) = serve(EksAnswers {
            describe_nodegroup: vec![aws_error(
                404,
                "ResourceNotFoundException",
                "No node group found for name: ubuntu.",
            )],
            ..EksAnswers::default()
        })
        .await;
        assert_eq!(
            read_nodegroup(&clients, created(), &mut PrivateState::default())
                .await
                .unwrap(),
            None
        );
    }

    #[tokio::test]
    async fn delete_waits_until_gone_then_deletes_the_template() {
        let (server, clients) = serve(EksAnswers {
            describe_nodegroup: vec![
                nodegroup_answer(&nodegroup(NodegroupStatus::Deleting)),
                aws_error(
                    404,
                    "ResourceNotFoundException",
                    "No node group found for name: ubuntu.",
                ),
            ],
            ..EksAnswers::default()
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
                    nodegroup_answer(&nodegroup(NodegroupStatus::Active))
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
    fn launch_template_names_fit_ec2s_limit() {
        assert_eq!(launch_template_name("demo", "ubuntu"), "cvm-demo-ubuntu");
        assert_eq!(
            launch_template_name(&"c".repeat(100), &"n".repeat(63)).len(),
            128
        );
    }
}
