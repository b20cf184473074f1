//! Managed resources: the [`Resource`] trait a provider implements for each
//! resource type, and the request and response types of each operation.
//!
//! Resource code works with its own model type (a serde struct whose
//! fields are [`Attr`](tf_protocol::value::Attr) or plain values); the
//! framework converts to and from Terraform's wire values. Each operation
//! takes a request and fills a response, so a create that fails half way
//! can still return the state of what it made: Terraform then saves it as
//! tainted and replaces it on the next apply, and nothing is orphaned.

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tf_protocol::{AttributePath, Diagnostics};

use crate::context::Ctx;
use crate::private_state::PrivateState;
use crate::schema::Schema;

/// A managed resource type, such as `cvm_registry`.
///
/// Required: [`type_name`](Resource::type_name), [`schema`](Resource::schema),
/// [`create`](Resource::create), [`read`](Resource::read),
/// [`update`](Resource::update) and [`delete`](Resource::delete). The other
/// methods have defaults.
#[async_trait]
pub trait Resource: Send + Sync + 'static {
    /// What the provider's `configure` produced (API clients and settings).
    type Data: Send + Sync + 'static;
    /// The resource's state and configuration, as a serde struct that
    /// covers every attribute of the schema (use
    /// `#[serde(deny_unknown_fields)]` so a missing field is caught).
    type Model: Serialize + DeserializeOwned + Send + Sync + 'static;

    /// The full type name, e.g. `cvm_registry`.
    fn type_name(&self) -> &'static str;

    /// The schema, built once per process.
    fn schema(&self) -> Schema;

    /// Checks of the configuration beyond per-attribute validators, such as
    /// "exactly one of". The configuration may hold unknown values.
    async fn validate(&self, _config: &Self::Model, _diagnostics: &mut Diagnostics) {}

    /// Adjusts the framework's plan (see [`crate::plan`]): sets computed
    /// values that can be known now, adds replacements, or reports errors
    /// that need the provider's clients (for example a cluster check).
    /// Called for creates and updates, never for destroys.
    async fn modify_plan(
        &self,
        _ctx: &Ctx<Self::Data>,
        _request: PlanRequest<'_, Self::Model>,
        _response: &mut PlanResponse<Self::Model>,
    ) {
    }

    /// Looks at a planned destroy of `prior` and may warn about what it will
    /// disrupt (an error fails the plan). Terraform asks providers to plan
    /// destroys since 1.3 (and OpenTofu does); older clients never call
    /// this, so anything it guards must be checked again in
    /// [`delete`](Resource::delete).
    async fn plan_destroy(
        &self,
        _ctx: &Ctx<Self::Data>,
        _prior: &Self::Model,
        _diagnostics: &mut Diagnostics,
    ) {
    }

    /// Creates the object. On failure after something already exists, set
    /// `response.state` to what exists and add an error.
    async fn create(
        &self,
        ctx: &Ctx<Self::Data>,
        request: CreateRequest<Self::Model>,
        response: &mut CreateResponse<Self::Model>,
    );

    /// Refreshes the state from the real object. Set `response.state` to
    /// `None` when the object is gone, and Terraform plans to recreate it.
    async fn read(
        &self,
        ctx: &Ctx<Self::Data>,
        request: ReadRequest<Self::Model>,
        response: &mut ReadResponse<Self::Model>,
    );

    /// Updates the object in place.
    async fn update(
        &self,
        ctx: &Ctx<Self::Data>,
        request: UpdateRequest<Self::Model>,
        response: &mut UpdateResponse<Self::Model>,
    );

    /// Deletes the object. Deleting an object that is already gone succeeds.
    async fn delete(
        &self,
        ctx: &Ctx<Self::Data>,
        request: DeleteRequest<Self::Model>,
        response: &mut DeleteResponse,
    );

    /// How `terraform import` ids map to state; Terraform then calls
    /// [`read`](Resource::read) on the result.
    fn import(&self) -> Import {
        Import::Passthrough("id")
    }

    /// Upgrades state stored by an older schema version (as its JSON) to the
    /// current version's JSON. Only called when the stored version is older.
    fn upgrade_state(
        &self,
        from_version: i64,
        _json: serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        Err(format!(
            "this provider cannot upgrade state from schema version {from_version}"
        ))
    }
}

/// How an import id becomes a state for [`Resource::read`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Import {
    /// The id is copied into this attribute; every other attribute is null.
    Passthrough(&'static str),
    /// The id is split on `separator` into these attributes, in order, e.g.
    /// `cluster:name`.
    Split {
        /// Separator between the parts.
        separator: char,
        /// The attribute each part goes to.
        attributes: &'static [&'static str],
    },
    /// The resource cannot be imported.
    NotSupported,
}

/// Input to [`Resource::modify_plan`].
#[derive(Debug)]
pub struct PlanRequest<'a, M> {
    /// The configuration (may hold unknowns).
    pub config: &'a M,
    /// The prior state; `None` when creating.
    pub prior: Option<&'a M>,
    /// Private state stored with the prior state.
    pub private: &'a PrivateState,
}

/// Output of [`Resource::modify_plan`].
#[derive(Debug)]
pub struct PlanResponse<M> {
    /// The planned state, as the framework computed it; change it in place.
    pub plan: M,
    /// Attributes whose change replaces the resource, with the reason.
    pub requires_replace: Vec<(AttributePath, String)>,
    /// Private state to plan (kept from the prior by default).
    pub private: PrivateState,
    /// Errors and warnings.
    pub diagnostics: Diagnostics,
}

/// Input to [`Resource::create`].
#[derive(Debug)]
pub struct CreateRequest<M> {
    /// The configuration, wholly known; write-only attributes are here.
    pub config: M,
    /// The plan; computed attributes may be unknown.
    pub plan: M,
}

/// Output of [`Resource::create`].
#[derive(Debug)]
pub struct CreateResponse<M> {
    /// The new state: set it once anything exists. Unknown values left in a
    /// state returned with an error become null.
    pub state: Option<M>,
    /// Private state to store.
    pub private: PrivateState,
    /// Errors and warnings.
    pub diagnostics: Diagnostics,
}

/// Input to [`Resource::read`].
#[derive(Debug)]
pub struct ReadRequest<M> {
    /// The current state.
    pub state: M,
    /// Private state stored with it.
    pub private: PrivateState,
}

/// Output of [`Resource::read`].
#[derive(Debug)]
pub struct ReadResponse<M> {
    /// The refreshed state (starts as the current state); `None` if gone.
    pub state: Option<M>,
    /// Private state to store (starts as the stored one).
    pub private: PrivateState,
    /// Errors and warnings.
    pub diagnostics: Diagnostics,
}

/// Input to [`Resource::update`].
#[derive(Debug)]
pub struct UpdateRequest<M> {
    /// The configuration, wholly known.
    pub config: M,
    /// The plan.
    pub plan: M,
    /// The prior state.
    pub prior: M,
    /// Private state from the plan.
    pub private: PrivateState,
}

/// Output of [`Resource::update`].
#[derive(Debug)]
pub struct UpdateResponse<M> {
    /// The new state. Left `None` with an error, the prior state is kept.
    pub state: Option<M>,
    /// Private state to store.
    pub private: PrivateState,
    /// Errors and warnings.
    pub diagnostics: Diagnostics,
}

/// Input to [`Resource::delete`].
#[derive(Debug)]
pub struct DeleteRequest<M> {
    /// The state being destroyed.
    pub prior: M,
    /// Private state stored with it.
    pub private: PrivateState,
}

/// Output of [`Resource::delete`].
#[derive(Debug, Default)]
pub struct DeleteResponse {
    /// Errors and warnings. With an error the resource stays in state.
    pub diagnostics: Diagnostics,
}
