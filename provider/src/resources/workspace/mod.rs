//! `cvm_workspace`: one Coder v2 workspace as a CVM, the pod and the home
//! volume claim of [`crate::workspace::pod`].
//!
//! **Start and stop.** `running` (Coder's `start_count == 1`) decides
//! whether the pod exists; the claim stays until the resource is destroyed,
//! so a stopped workspace keeps its home. The plan shows a new pod as
//! `pod_uid` known after apply: when the workspace starts, when an input of
//! the pod changes (pods are immutable, so it is deleted and created
//! anew), and when the pod is gone (deleted outside Terraform, or ended).
//!
//! **Waiting.** The apply waits until the pod runs. When it does not within
//! the timeout, or cannot (a container that cannot be created), the error
//! says what the cluster says ([`crate::workspace::progress`]). The pod is
//! left for inspection, and the state records no pod, so the next apply
//! makes it anew (after a failed create Terraform has tainted the resource
//! and replaces all of it, the empty home volume claim too).
//!
//! **User namespace** (`sysbox-runc`): unless `user_namespace` says, the
//! apply chooses it from what the nodes the pod can land on report
//! (`containerRuntimeVersion`): those the RuntimeClass `sysbox-runc`
//! selects, narrowed by `node_selector`.

mod apply;
mod model;
mod schema;

use std::time::{Duration, Instant};

use async_trait::async_trait;
use tf_framework::resource::{
    CreateRequest, CreateResponse, DeleteRequest, DeleteResponse, Import, PlanRequest,
    PlanResponse, ReadRequest, ReadResponse, UpdateRequest, UpdateResponse,
};
use tf_framework::schema::Schema;
use tf_framework::{Ctx, Resource};
use tf_protocol::Diagnostics;
use tf_protocol::value::Attr;

use model::WorkspaceModel;

use crate::provider::ProviderData;
use crate::workspace::pod::claim_name;

const CREATE_TIMEOUT: Duration = Duration::from_secs(10 * 60);
const READ_TIMEOUT: Duration = Duration::from_secs(2 * 60);
const DELETE_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// How long the plan may take to learn the default namespace.
const PLAN_TIMEOUT: Duration = Duration::from_secs(30);

/// The `cvm_workspace` resource.
#[derive(Debug, Default)]
pub struct WorkspaceResource;

#[async_trait]
impl Resource for WorkspaceResource {
    type Data = ProviderData;
    type Model = WorkspaceModel;

    fn type_name(&self) -> &'static str {
        "cvm_workspace"
    }

    fn schema(&self) -> Schema {
        schema::schema()
    }

    async fn validate(&self, config: &WorkspaceModel, diagnostics: &mut Diagnostics) {
        schema::check(config, diagnostics);
    }

    async fn modify_plan(
        &self,
        ctx: &Ctx<ProviderData>,
        request: PlanRequest<'_, WorkspaceModel>,
        response: &mut PlanResponse<WorkspaceModel>,
    ) {
        let plan = &mut response.plan;
        // Only where the configuration leaves it null: an unknown one is
        // the configuration's to decide.
        if request.config.namespace.is_null()
            && plan.namespace.is_unknown()
            && request.prior.is_none()
        {
            // The namespace the provider's connection defaults to (inside
            // a pod, the pod's own); known at plan when the cluster answers.
            let deadline = Instant::now() + PLAN_TIMEOUT;
            if let Ok(cluster) = ctx
                .data()
                .kube_cluster(deadline, ctx.cancellation().clone())
                .await
            {
                plan.namespace = Attr::Known(cluster.client().default_namespace().to_owned());
            }
        }
        plan.id = match (plan.namespace.known(), plan.name.known()) {
            (Some(namespace), Some(name)) => Attr::Known(format!("{namespace}/{name}")),
            _ => Attr::Unknown,
        };
        plan.home_claim = plan
            .name
            .known()
            .map_or(Attr::Unknown, |name| Attr::Known(claim_name(name)));
        let envbox = plan.style.known().map(String::as_str) == Some("envbox");
        let configured_userns = request.config.user_namespace.known().cloned();
        let new_pod = match request.prior {
            None => true,
            Some(prior) => {
                prior.pod_uid.is_null()
                    || plan.pod_inputs() != prior.pod_inputs()
                    || (configured_userns.is_some()
                        && prior.user_namespace.known() != configured_userns.as_ref())
            }
        };
        let prior = request.prior;
        match plan.running {
            Attr::Known(false) => {
                plan.pod_uid = Attr::Null;
                plan.node_name = Attr::Null;
                plan.user_namespace = configured_userns.map_or(Attr::Null, Attr::Known);
            }
            Attr::Known(true) if !new_pod => {
                if let Some(prior) = prior {
                    plan.pod_uid = prior.pod_uid.clone();
                    plan.node_name = prior.node_name.clone();
                    plan.user_namespace = prior.user_namespace.clone();
                }
            }
            _ => {
                plan.pod_uid = Attr::Unknown;
                plan.node_name = Attr::Unknown;
                plan.user_namespace = match configured_userns {
                    Some(setting) => Attr::Known(setting),
                    None if envbox => Attr::Null,
                    None => Attr::Unknown,
                };
            }
        }
        if envbox {
            plan.user_namespace = Attr::Null;
        }
        // A style that is still unknown decides nothing yet.
        if plan.style.is_unknown() {
            plan.user_namespace = Attr::Unknown;
        }
    }

    async fn create(
        &self,
        ctx: &Ctx<ProviderData>,
        request: CreateRequest<WorkspaceModel>,
        response: &mut CreateResponse<WorkspaceModel>,
    ) {
        let (state, diagnostics) = apply::apply(ctx, &request.plan, None).await;
        response.state = state;
        response.diagnostics.extend(diagnostics);
    }

    async fn read(
        &self,
        ctx: &Ctx<ProviderData>,
        request: ReadRequest<WorkspaceModel>,
        response: &mut ReadResponse<WorkspaceModel>,
    ) {
        match apply::read(ctx, request.state).await {
            Ok(state) => response.state = state,
            Err(diagnostic) => response.diagnostics.push(diagnostic),
        }
    }

    async fn update(
        &self,
        ctx: &Ctx<ProviderData>,
        request: UpdateRequest<WorkspaceModel>,
        response: &mut UpdateResponse<WorkspaceModel>,
    ) {
        let (state, diagnostics) = apply::apply(ctx, &request.plan, Some(&request.prior)).await;
        response.state = state;
        response.diagnostics.extend(diagnostics);
    }

    async fn delete(
        &self,
        ctx: &Ctx<ProviderData>,
        request: DeleteRequest<WorkspaceModel>,
        response: &mut DeleteResponse,
    ) {
        if let Err(diagnostic) = apply::delete(ctx, &request.prior).await {
            response.diagnostics.push(diagnostic);
        }
    }

    fn import(&self) -> Import {
        Import::Passthrough("id")
    }
}
