//! `cvm_registry`: a private image registry with credentials in the Coder
//! deployment (`/api/v0/registries`). CVM workspaces can only pull private
//! images through such a registry, not with the nodes' credentials.
//!
//! Coder never returns credentials, so `username` and `password` are kept
//! from configuration: a change made outside Terraform cannot be seen.
//! `password_wo` (Terraform 1.11 and later) keeps the password out of state
//! altogether; bump `password_wo_version` to send a new one.

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tf_framework::resource::{
    CreateRequest, CreateResponse, DeleteRequest, DeleteResponse, Import, ReadRequest,
    ReadResponse, UpdateRequest, UpdateResponse,
};
use tf_framework::schema::{Attribute, Block, Schema};
use tf_framework::timeouts::Operation;
use tf_framework::{Ctx, Resource, Timeouts, ToDiagnostic, validate};
use tf_protocol::value::Attr;
use tf_protocol::{AttributePath, Diagnostics, Value};

use crate::coder::v1::{NewRegistry, Registry, RegistryUpdate};
use crate::provider::ProviderData;
use crate::resources::with_coder;

/// The organization registries belong to unless configured otherwise.
pub const DEFAULT_ORGANIZATION: &str = "default";

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// The `cvm_registry` resource.
#[derive(Debug, Default)]
pub struct RegistryResource;

/// State and configuration of `cvm_registry`.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryModel {
    /// Coder's id of the registry.
    pub id: Attr<String>,
    /// Organization the registry belongs to.
    pub organization_id: Attr<String>,
    /// Name shown in Coder.
    pub friendly_name: Attr<String>,
    /// Registry host.
    pub registry: Attr<String>,
    /// User name for the registry.
    pub username: Attr<String>,
    /// Password, kept in state (sensitive).
    pub password: Attr<String>,
    /// Password, never stored (write-only).
    pub password_wo: Attr<String>,
    /// Bump to send a new `password_wo`.
    pub password_wo_version: Attr<i64>,
    /// When Coder created it.
    pub created_at: Attr<String>,
    /// Time limits.
    pub timeouts: Option<Timeouts>,
}

impl RegistryModel {
    /// The password to send, from whichever form is configured.
    fn password(&self) -> Option<&String> {
        self.password.known().or(self.password_wo.known())
    }

    fn adopt(&mut self, registry: &Registry) {
        self.id = Attr::Known(registry.id.clone());
        self.organization_id = Attr::Known(registry.organization_id.clone());
        self.friendly_name = Attr::Known(registry.friendly_name.clone());
        self.registry = Attr::Known(registry.registry.clone());
        self.created_at = Attr::Known(registry.created_at.clone());
    }
}

/// Exactly one password form; a write-only password needs a version.
fn check(config: &RegistryModel, diagnostics: &mut Diagnostics) {
    let plain = !config.password.is_null();
    let write_only = !config.password_wo.is_null();
    match (plain, write_only) {
        (true, true) => diagnostics.attribute_error(
            AttributePath::attr("password_wo"),
            "Two Passwords Given",
            "Set exactly one of password and password_wo: password is kept (encrypted at rest, sensitive) in state, password_wo never is.",
        ),
        (false, false) => diagnostics.attribute_error(
            AttributePath::attr("password"),
            "Missing Password",
            "CVM workspaces pull private images only through a registry with credentials: set password (stored in state as a sensitive value) or password_wo with password_wo_version (Terraform 1.11 or later; never stored).",
        ),
        _ => {}
    }
    if write_only && config.password_wo_version.is_null() {
        diagnostics.attribute_error(
            AttributePath::attr("password_wo_version"),
            "Missing Password Version",
            "password_wo is not stored, so Terraform cannot see it change: set password_wo_version, and change it whenever the password changes.",
        );
    }
}

impl RegistryResource {}

fn changed<T: PartialEq + Clone>(plan: &Attr<T>, prior: &Attr<T>) -> Option<T> {
    match plan {
        Attr::Known(v) if plan != prior => Some(v.clone()),
        _ => None,
    }
}

#[async_trait]
impl Resource for RegistryResource {
    type Data = ProviderData;
    type Model = RegistryModel;

    fn type_name(&self) -> &'static str {
        "cvm_registry"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            Block::new(
                "A private image registry with credentials in the Coder deployment. CVM workspaces \
                 pull private images only through such a registry (not with the nodes' \
                 credentials) unless cached CVMs are on. Coder never returns credentials, so \
                 changes made to them outside Terraform cannot be detected.",
            )
            .attribute(
                Attribute::string("id")
                    .computed()
                    .use_state_for_unknown()
                    .description("Coder's id of the registry; also the import id."),
            )
            .attribute(
                Attribute::string("organization_id")
                    .default(Value::String(DEFAULT_ORGANIZATION.to_owned()))
                    .validate(validate::non_empty())
                    .requires_replace("Coder cannot move a registry to another organization")
                    .description("Organization the registry belongs to. Default `default`. Changing it replaces the registry."),
            )
            .attribute(
                Attribute::string("friendly_name")
                    .required()
                    .validate(validate::non_empty())
                    .description("Name shown in Coder, unique within the organization."),
            )
            .attribute(
                Attribute::string("registry")
                    .required()
                    .validate(crate::image_reference::registry_host())
                    .description("Registry host, e.g. `registry.example.com` or `123456789012.dkr.ecr.us-east-1.amazonaws.com`."),
            )
            .attribute(
                Attribute::string("username")
                    .required()
                    .validate(validate::non_empty())
                    .description("User name for the registry."),
            )
            .attribute(
                Attribute::string("password")
                    .optional()
                    .sensitive()
                    .description(
                        "Password or token for the registry. Kept in state as a sensitive value; use \
                         `password_wo` to keep it out of state. Exactly one of the two.",
                    ),
            )
            .attribute(
                Attribute::string("password_wo")
                    .optional()
                    .write_only()
                    .description(
                        "Password or token, never stored in plan or state (Terraform 1.11 or later). \
                         Needs `password_wo_version`.",
                    ),
            )
            .attribute(
                Attribute::number("password_wo_version")
                    .optional()
                    .description("Change this number to send a new `password_wo` to Coder."),
            )
            .attribute(
                Attribute::string("created_at")
                    .computed()
                    .use_state_for_unknown()
                    .description("When Coder created the registry (RFC 3339)."),
            )
            .block(Timeouts::block_all(DEFAULT_TIMEOUT)),
        )
    }

    async fn validate(&self, config: &RegistryModel, diagnostics: &mut Diagnostics) {
        check(config, diagnostics);
    }

    async fn create(
        &self,
        ctx: &Ctx<ProviderData>,
        request: CreateRequest<RegistryModel>,
        response: &mut CreateResponse<RegistryModel>,
    ) {
        let config = &request.config;
        let timeout = Timeouts::get(config.timeouts.as_ref(), Operation::Create, DEFAULT_TIMEOUT);
        let new = NewRegistry {
            org_id: request
                .plan
                .organization_id
                .known()
                .cloned()
                .unwrap_or_else(|| DEFAULT_ORGANIZATION.to_owned()),
            friendly_name: config.friendly_name.known().cloned().unwrap_or_default(),
            registry: config.registry.known().cloned().unwrap_or_default(),
            username: config.username.known().cloned().unwrap_or_default(),
            password: config.password().cloned().unwrap_or_default(),
        };
        let new = &new;

        let result = with_coder(ctx, timeout, |client| async move {
            client.v1().await?.create_registry(new).await
        })
        .await;
        match result {
            Ok(created) => {
                let mut state = request.plan;
                state.adopt(&created);
                state.password_wo = Attr::Null;
                response.state = Some(state);
            }
            Err(e) => response.diagnostics.push(e.to_diagnostic(None)),
        }
    }

    async fn read(
        &self,
        ctx: &Ctx<ProviderData>,
        request: ReadRequest<RegistryModel>,
        response: &mut ReadResponse<RegistryModel>,
    ) {
        let timeout = Timeouts::get(
            request.state.timeouts.as_ref(),
            Operation::Read,
            DEFAULT_TIMEOUT,
        );
        let id = request.state.id.known().cloned().unwrap_or_default();
        let id = &id;

        let result = with_coder(ctx, timeout, |client| async move {
            client.v1().await?.find_registry(id).await
        })
        .await;
        match result {
            Ok(Some(found)) => {
                let mut state = request.state;
                state.adopt(&found);
                response.state = Some(state);
            }
            Ok(None) => {
                tracing::info!(registry_id = %id, "registry is gone; removing it from state");
                response.state = None;
            }
            Err(e) => response.diagnostics.push(e.to_diagnostic(None)),
        }
    }

    async fn update(
        &self,
        ctx: &Ctx<ProviderData>,
        request: UpdateRequest<RegistryModel>,
        response: &mut UpdateResponse<RegistryModel>,
    ) {
        let (plan, prior, config) = (&request.plan, &request.prior, &request.config);
        let timeout = Timeouts::get(config.timeouts.as_ref(), Operation::Update, DEFAULT_TIMEOUT);
        let id = prior.id.known().cloned().unwrap_or_default();
        let new_wo = plan.password_wo_version != prior.password_wo_version
            || (prior.password.is_known() && config.password_wo.is_known());
        let update = RegistryUpdate {
            registry: changed(&plan.registry, &prior.registry),
            friendly_name: changed(&plan.friendly_name, &prior.friendly_name),
            username: changed(&plan.username, &prior.username),
            password: changed(&plan.password, &prior.password).or_else(|| {
                new_wo
                    .then(|| config.password_wo.known().cloned())
                    .flatten()
            }),
        };
        let id = &id;

        let update = &update;

        let result = with_coder(ctx, timeout, |client| async move {
            client.v1().await?.update_registry(id, update).await
        })
        .await;
        match result {
            Ok(updated) => {
                let mut state = request.plan;
                state.adopt(&updated);
                state.password_wo = Attr::Null;
                response.state = Some(state);
            }
            Err(e) => response.diagnostics.push(e.to_diagnostic(None)),
        }
    }

    async fn delete(
        &self,
        ctx: &Ctx<ProviderData>,
        request: DeleteRequest<RegistryModel>,
        response: &mut DeleteResponse,
    ) {
        let timeout = Timeouts::get(
            request.prior.timeouts.as_ref(),
            Operation::Delete,
            DEFAULT_TIMEOUT,
        );
        let id = request.prior.id.known().cloned().unwrap_or_default();
        let id = &id;

        let result = with_coder(ctx, timeout, |client| async move {
            client.v1().await?.delete_registry(id).await
        })
        .await;
        if let Err(e) = result {
            response.diagnostics.push(e.to_diagnostic(None));
        }
    }

    fn import(&self) -> Import {
        Import::Passthrough("id")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors_at(config: &RegistryModel) -> Vec<String> {
        crate::resources::check_errors(config, check)
    }

    #[test]
    fn exactly_one_password_form() {
        let mut c = RegistryModel::default();
        assert_eq!(errors_at(&c), vec!["password"]);
        c.password = Attr::Known("p".into());
        assert!(errors_at(&c).is_empty());
        c.password_wo = Attr::Known("q".into());
        c.password_wo_version = Attr::Known(1);
        assert_eq!(errors_at(&c), vec!["password_wo"]);
        c.password = Attr::Null;
        assert!(errors_at(&c).is_empty());
        c.password_wo_version = Attr::Null;
        assert_eq!(errors_at(&c), vec!["password_wo_version"]);
    }

    #[test]
    fn an_unknown_password_counts_as_given() {
        let c = RegistryModel {
            password: Attr::Unknown,
            ..Default::default()
        };
        assert!(errors_at(&c).is_empty());
    }

    #[test]
    fn only_changed_fields_are_sent() {
        let prior = Attr::Known("a".to_owned());
        assert_eq!(changed(&Attr::Known("a".to_owned()), &prior), None);
        assert_eq!(
            changed(&Attr::Known("b".to_owned()), &prior),
            Some("b".to_owned())
        );
    }
}
