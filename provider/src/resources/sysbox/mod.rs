//! `cvm_sysbox`: Sysbox installed on a set of Kubernetes nodes by the
//! upstream installer (`sysbox-deploy-k8s`), so that pods with
//! `runtimeClassName: sysbox-runc` run as container-based virtual machines.
//!
//! Create applies the installer objects (server-side apply, one field
//! manager), labels the target nodes `sysbox-install=yes`, and watches until
//! each reports `sysbox-runtime=running`. Delete follows the documented
//! uninstall: the install DaemonSet goes, the cleanup DaemonSet runs until
//! no node reports Sysbox, then every object and label is removed.
//!
//! **Tainted nodes.** The DaemonSets tolerate exactly the `NoSchedule` and
//! `NoExecute` taints of the target nodes plus the installer's own (the rule
//! and why it is not `operator: Exists`:
//! [`crate::sysbox::installer`]). The plan computes them when the targets
//! are known and shows them in `tolerated_taints`; otherwise (inputs
//! unknown, nodes still to join for `min_ready_nodes`) the apply computes
//! them once it has found the nodes. A refresh reads what the install
//! DaemonSet tolerates, and the plan compares that with what the target
//! nodes' taints call for now, so a taint added to or removed from a target
//! node plans an in-place update. That changes the pod template, so the
//! DaemonSet rolls: each node's installer pod restarts in turn, and the
//! installer, finding Sysbox installed at the same version and settings,
//! does not reinstall. The apply keeps to the planned value (Terraform
//! requires it), so a taint added after the plan is tolerated only from the
//! next plan; until then that node's installer pod is not scheduled.
//!
//! **Running workspaces** ([`workspaces`]): a destroy, a node dropped from
//! the targets and a new `installer_image` each end the CVM workspaces on the
//! nodes concerned. The plan warns with their names (a destroy plan too, on
//! clients that plan destroys), and the apply refuses while any run, unless
//! `allow_disrupting_workspaces` is true (a destroy reads it from state).

mod apply;
mod model;
mod plan;
mod schema;
mod targets;
mod workspaces;

use std::time::Duration;

use async_trait::async_trait;
use tf_framework::resource::{
    CreateRequest, CreateResponse, DeleteRequest, DeleteResponse, Import, PlanRequest,
    PlanResponse, ReadRequest, ReadResponse, UpdateRequest, UpdateResponse,
};
use tf_framework::schema::Schema;
use tf_framework::{Ctx, Resource};
use tf_protocol::Diagnostics;

use model::SysboxModel;

use crate::provider::ProviderData;

const CREATE_TIMEOUT: Duration = Duration::from_secs(20 * 60);
const READ_TIMEOUT: Duration = Duration::from_secs(2 * 60);
const DELETE_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// How long plan-time checks may retry an unreachable API server.
const PLAN_TIMEOUT: Duration = Duration::from_secs(60);

/// The `cvm_sysbox` resource.
#[derive(Debug, Default)]
pub struct SysboxResource;

#[async_trait]
impl Resource for SysboxResource {
    type Data = ProviderData;
    type Model = SysboxModel;

    fn type_name(&self) -> &'static str {
        "cvm_sysbox"
    }

    fn schema(&self) -> Schema {
        schema::schema()
    }

    async fn validate(&self, config: &SysboxModel, diagnostics: &mut Diagnostics) {
        schema::check(config, diagnostics);
    }

    async fn modify_plan(
        &self,
        ctx: &Ctx<ProviderData>,
        request: PlanRequest<'_, SysboxModel>,
        response: &mut PlanResponse<SysboxModel>,
    ) {
        plan::modify_plan(ctx, request, response).await;
    }

    async fn plan_destroy(
        &self,
        ctx: &Ctx<ProviderData>,
        prior: &SysboxModel,
        diagnostics: &mut Diagnostics,
    ) {
        plan::plan_destroy(ctx, prior, diagnostics).await;
    }

    async fn create(
        &self,
        ctx: &Ctx<ProviderData>,
        request: CreateRequest<SysboxModel>,
        response: &mut CreateResponse<SysboxModel>,
    ) {
        apply::create(ctx, request, response).await;
    }

    async fn read(
        &self,
        ctx: &Ctx<ProviderData>,
        request: ReadRequest<SysboxModel>,
        response: &mut ReadResponse<SysboxModel>,
    ) {
        apply::read(ctx, request, response).await;
    }

    async fn update(
        &self,
        ctx: &Ctx<ProviderData>,
        request: UpdateRequest<SysboxModel>,
        response: &mut UpdateResponse<SysboxModel>,
    ) {
        apply::update(ctx, request, response).await;
    }

    async fn delete(
        &self,
        ctx: &Ctx<ProviderData>,
        request: DeleteRequest<SysboxModel>,
        response: &mut DeleteResponse,
    ) {
        apply::delete(ctx, request, response).await;
    }

    fn import(&self) -> Import {
        Import::Passthrough("id")
    }
}
