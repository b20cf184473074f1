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
//!
//! Ownership: every create writes a random token, kept in private state,
//! into the launch template's `cvm:nodegroup` tag before its create calls,
//! and adopts an object of the same name only when it carries that token
//! (see [`ownership`]). A node group deleted outside Terraform while its
//! launch template remains is refreshed with `status = "DELETED"` and
//! replaced.

mod apply;
#[cfg(test)]
mod hand_written_eks;
mod model;
mod ownership;
mod plan;
mod schema;
mod state;
#[cfg(test)]
mod test_support;
mod validate;

use std::time::Duration;

use async_trait::async_trait;
use tf_framework::resource::{
    CreateRequest, CreateResponse, DeleteRequest, DeleteResponse, Import, PlanRequest,
    PlanResponse, ReadRequest, ReadResponse, UpdateRequest, UpdateResponse,
};
use tf_framework::schema::Schema;
use tf_framework::timeouts::Operation;
use tf_framework::{Ctx, Resource, ToDiagnostic};
use tf_protocol::Diagnostics;

use crate::aws::wait::WaitLimits;
use crate::provider::ProviderData;
use apply::{DELETED_STATUS, create_nodegroup, delete_nodegroup, read_nodegroup, update_nodegroup};
use model::NodegroupModel;
use plan::plan_computed;
use tf_protocol::AttributePath;
use tf_protocol::value::Attr;
use validate::check_config;

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

/// The `cvm_nodegroup` resource.
#[derive(Debug, Default)]
pub struct NodegroupResource;

fn limits_for(ctx: &Ctx<ProviderData>, timeout: Duration) -> WaitLimits {
    WaitLimits::new(timeout, ctx.cancellation().clone())
}

#[async_trait]
impl Resource for NodegroupResource {
    type Data = ProviderData;
    type Model = NodegroupModel;

    fn type_name(&self) -> &'static str {
        "cvm_nodegroup"
    }

    fn schema(&self) -> Schema {
        schema::schema()
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
        if let Some(prior) = request.prior
            && prior.status.known().map(String::as_str) == Some(DELETED_STATUS)
        {
            response.plan.status = Attr::Unknown;
            response.requires_replace.push((
                AttributePath::attr("status"),
                "the node group was deleted outside Terraform; replacing it removes the launch \
                 template it left and creates both again"
                    .to_owned(),
            ));
        }
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
        // A fresh token per create, in private state before any create
        // call: what this create makes carries it, nothing else does.
        let token = match ownership::new_token() {
            Ok(token) => token,
            Err(e) => {
                return response.diagnostics.error(
                    "Could Not Create the Ownership Token",
                    format!("{}.", tf_framework::diagnostic::capitalised(&e.to_string())),
                );
            }
        };
        if let Err(e) = response.private.set(ownership::TOKEN_KEY, &token) {
            return response.diagnostics.error(
                "Could Not Keep the Ownership Token",
                format!("{}.", tf_framework::diagnostic::capitalised(&e.to_string())),
            );
        }
        let timeout = request.config.timeout(Operation::Create, CREATE_TIMEOUT);
        let outcome =
            create_nodegroup(&clients, request.plan, &token, &limits_for(ctx, timeout)).await;
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
            .run(
                timeout,
                read_nodegroup(&clients, request.state, &mut response.private),
            )
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
