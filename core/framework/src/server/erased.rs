//! The bridge between typed resources and wire values: every operation on
//! [`Value`]s, implemented once for every [`Resource`] and [`DataSource`].

use async_trait::async_trait;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tf_protocol::value::{Type, from_value, to_value};
use tf_protocol::{AttributePath, Diagnostic, Diagnostics, Value};

use crate::context::Ctx;
use crate::data_source::DataSource;
use crate::plan::{self, unknowns_to_null};
use crate::private_state::PrivateState;
use crate::resource::{
    CreateRequest, CreateResponse, DeleteRequest, DeleteResponse, Import, PlanRequest,
    PlanResponse, ReadRequest, ReadResponse, Resource, UpdateRequest, UpdateResponse,
};
use crate::schema::{Block, Nesting, Schema};
use crate::validate::validate_config;

/// What planning produced.
#[derive(Debug)]
pub(crate) struct PlanOutcome {
    pub(crate) planned: Value,
    pub(crate) requires_replace: Vec<AttributePath>,
    pub(crate) private: PrivateState,
    pub(crate) diagnostics: Diagnostics,
}

/// What an apply, read or import produced.
#[derive(Debug)]
pub(crate) struct StateOutcome {
    pub(crate) state: Value,
    pub(crate) private: PrivateState,
    pub(crate) diagnostics: Diagnostics,
}

/// A resource type with its model erased.
#[async_trait]
pub(crate) trait ErasedResource<D>: Send + Sync {
    fn type_name(&self) -> &'static str;
    fn schema(&self) -> Schema;
    fn import_kind(&self) -> Import;
    fn upgrade(&self, from: i64, json: serde_json::Value) -> Result<serde_json::Value, String>;
    /// Where the model disagrees with `schema` (see [`crate::model_fit`]).
    fn model_problems(&self, schema: &Schema) -> Vec<String>;
    async fn validate(
        &self,
        schema: &Schema,
        config: &Value,
        write_only_allowed: bool,
    ) -> Diagnostics;
    async fn plan(
        &self,
        ctx: &Ctx<D>,
        schema: &Schema,
        prior: Value,
        config: Value,
        proposed: Value,
        private: PrivateState,
    ) -> PlanOutcome;
    /// The diagnostics of a planned destroy of `prior`.
    async fn plan_destroy(&self, ctx: &Ctx<D>, prior: Value) -> Diagnostics;
    async fn apply(
        &self,
        ctx: &Ctx<D>,
        schema: &Schema,
        prior: Value,
        planned: Value,
        config: Value,
        private: PrivateState,
    ) -> StateOutcome;
    async fn read(
        &self,
        ctx: &Ctx<D>,
        schema: &Schema,
        state: Value,
        private: PrivateState,
    ) -> StateOutcome;
}

/// A data source type with its model erased.
#[async_trait]
pub(crate) trait ErasedDataSource<D>: Send + Sync {
    fn type_name(&self) -> &'static str;
    fn schema(&self) -> Schema;
    /// Where the model disagrees with `schema` (see [`crate::model_fit`]).
    fn model_problems(&self, schema: &Schema) -> Vec<String>;
    async fn validate(&self, schema: &Schema, config: &Value) -> Diagnostics;
    async fn read(&self, ctx: &Ctx<D>, schema: &Schema, config: Value) -> StateOutcome;
}

/// "This is a bug in the provider" diagnostics for model conversions.
fn model_error(type_name: &str, what: &str, error: &dyn std::fmt::Display) -> Diagnostic {
    Diagnostic::error(
        "Provider Model Error",
        format!(
            "{type_name}: {what}: {error}. This is always a bug in the provider; please report it."
        ),
    )
}

fn decode<M: DeserializeOwned>(
    type_name: &str,
    what: &str,
    value: Value,
    diagnostics: &mut Diagnostics,
) -> Option<M> {
    match from_value(value) {
        Ok(model) => Some(model),
        Err(e) => {
            diagnostics.push(model_error(type_name, &format!("reading the {what}"), &e));
            None
        }
    }
}

fn encode<M: Serialize>(
    type_name: &str,
    what: &str,
    model: &M,
    ty: &Type,
    diagnostics: &mut Diagnostics,
) -> Option<Value> {
    match to_value(model).and_then(|v| v.conform(ty)) {
        Ok(value) => Some(value),
        Err(e) => {
            diagnostics.push(model_error(type_name, &format!("writing the {what}"), &e));
            None
        }
    }
}

/// A state with every attribute null (empty lists for repeated blocks): the
/// starting point of an import.
pub(crate) fn empty_object(block: &Block) -> Value {
    let mut attrs = std::collections::BTreeMap::new();
    for a in &block.attributes {
        attrs.insert(a.name.clone(), Value::Null);
    }
    for b in &block.blocks {
        let v = match b.nesting {
            Nesting::Single => Value::Null,
            Nesting::Group => empty_object(&b.block),
            Nesting::List => Value::List(Vec::new()),
            Nesting::Set => Value::Set(Vec::new()),
            Nesting::Map => Value::Map(Default::default()),
        };
        attrs.insert(b.type_name.clone(), v);
    }
    Value::Object(attrs)
}

/// Hides the values of secret attributes in diagnostics produced by their
/// validators: validator messages quote the value they reject.
fn scrub_secrets(config: &Value, block: &Block, diagnostics: Diagnostics) -> Diagnostics {
    let mut secrets = Vec::new();
    let mut scratch = config.clone();
    plan::walk(
        block,
        &AttributePath::root(),
        config,
        &Value::Null,
        &mut scratch,
        &mut |attribute, _path, value, _prior, _planned| {
            if attribute.is_secret()
                && let Value::String(s) = value
                && !s.is_empty()
            {
                secrets.push(s.clone());
            }
        },
    );
    if secrets.is_empty() {
        return diagnostics;
    }
    let mut out = Diagnostics::new();
    for mut d in diagnostics {
        for s in &secrets {
            d.detail = d.detail.replace(s.as_str(), "(sensitive value)");
            d.summary = d.summary.replace(s.as_str(), "(sensitive value)");
        }
        out.push(d);
    }
    out
}

/// The errors among `diagnostics`: validation repeated at plan or read
/// time reports what validation could not see; its warnings were shown.
fn errors_only(diagnostics: Diagnostics) -> Diagnostics {
    let mut out = Diagnostics::new();
    for d in diagnostics {
        if d.is_error() {
            out.push(d);
        }
    }
    out
}

fn check_known(type_name: &str, what: &str, state: &Value, diagnostics: &mut Diagnostics) {
    if !state.is_wholly_known() {
        diagnostics.error(
            "Provider Returned Unknown Values",
            format!(
                "{type_name}: the {what} still holds unknown values. This is always a bug in the provider; please report it."
            ),
        );
    }
}

#[async_trait]
impl<R: Resource> ErasedResource<R::Data> for R {
    fn type_name(&self) -> &'static str {
        Resource::type_name(self)
    }

    fn schema(&self) -> Schema {
        Resource::schema(self)
    }

    fn import_kind(&self) -> Import {
        self.import()
    }

    fn upgrade(&self, from: i64, json: serde_json::Value) -> Result<serde_json::Value, String> {
        self.upgrade_state(from, json)
    }

    fn model_problems(&self, schema: &Schema) -> Vec<String> {
        crate::model_fit::problems::<R::Model>(Resource::type_name(self), schema)
    }

    async fn validate(
        &self,
        schema: &Schema,
        config: &Value,
        write_only_allowed: bool,
    ) -> Diagnostics {
        let name = Resource::type_name(self);
        let mut diagnostics = Diagnostics::new();
        validate_config(&schema.block, config, write_only_allowed, &mut diagnostics);
        if let Some(model) =
            decode::<R::Model>(name, "configuration", config.clone(), &mut diagnostics)
        {
            Resource::validate(self, &model, &mut diagnostics).await;
        }
        scrub_secrets(config, &schema.block, diagnostics)
    }

    async fn plan(
        &self,
        ctx: &Ctx<R::Data>,
        schema: &Schema,
        prior: Value,
        config: Value,
        proposed: Value,
        private: PrivateState,
    ) -> PlanOutcome {
        let name = Resource::type_name(self);
        let ty = schema.value_type();
        let planned = plan::plan(&schema.block, &prior, &config, proposed);
        let mut outcome = PlanOutcome {
            planned: planned.state,
            requires_replace: Vec::new(),
            private: private.clone(),
            diagnostics: Diagnostics::new(),
        };
        for replacement in planned.replacements {
            tracing::info!(
                tf_attribute_path = %replacement.path,
                reason = %replacement.reason,
                "change forces replacement"
            );
            outcome.requires_replace.push(replacement.path);
        }

        let diagnostics = &mut outcome.diagnostics;
        let Some(config_model) =
            decode::<R::Model>(name, "configuration", config.clone(), diagnostics)
        else {
            return outcome;
        };
        // Validation may have run on a configuration with unknowns; the plan
        // sees more of it known, and at apply Terraform plans again with all
        // of it. Terraform validates again itself before it plans, but not
        // every client does: check here too, so a bad value fails before any
        // API call whatever drives the provider. Only errors: warnings were
        // shown by validation.
        let mut checks = Diagnostics::new();
        validate_config(&schema.block, &config, true, &mut checks);
        Resource::validate(self, &config_model, &mut checks).await;
        let errors = errors_only(scrub_secrets(&config, &schema.block, checks));
        if errors.has_error() {
            outcome.diagnostics.extend(errors);
            return outcome;
        }
        let prior_model = if prior.is_null() {
            None
        } else {
            match decode::<R::Model>(name, "prior state", prior, diagnostics) {
                Some(m) => Some(m),
                None => return outcome,
            }
        };
        let Some(plan_model) =
            decode::<R::Model>(name, "plan", outcome.planned.clone(), diagnostics)
        else {
            return outcome;
        };
        let mut response = PlanResponse {
            plan: plan_model,
            requires_replace: Vec::new(),
            private,
            diagnostics: Diagnostics::new(),
        };
        self.modify_plan(
            ctx,
            PlanRequest {
                config: &config_model,
                prior: prior_model.as_ref(),
                private: &outcome.private,
            },
            &mut response,
        )
        .await;
        outcome.diagnostics.extend(response.diagnostics);
        outcome.private = response.private;
        for (path, reason) in response.requires_replace {
            tracing::info!(tf_attribute_path = %path, reason = %reason, "change forces replacement");
            if !outcome.requires_replace.contains(&path) {
                outcome.requires_replace.push(path);
            }
        }
        if let Some(value) = encode(name, "plan", &response.plan, &ty, &mut outcome.diagnostics) {
            let value = plan::keep_partial_unknowns(value, &outcome.planned);
            // Keep the framework's value when the hook changed nothing, so
            // its exact form (set order, refinements) survives.
            if !value.semantically_equal(&outcome.planned) {
                outcome.planned = value;
            }
        }
        outcome
    }

    async fn plan_destroy(&self, ctx: &Ctx<R::Data>, prior: Value) -> Diagnostics {
        let mut diagnostics = Diagnostics::new();
        if prior.is_null() {
            return diagnostics;
        }
        let name = Resource::type_name(self);
        if let Some(prior_model) = decode::<R::Model>(name, "prior state", prior, &mut diagnostics)
        {
            Resource::plan_destroy(self, ctx, &prior_model, &mut diagnostics).await;
        }
        diagnostics
    }

    async fn apply(
        &self,
        ctx: &Ctx<R::Data>,
        schema: &Schema,
        prior: Value,
        planned: Value,
        config: Value,
        private: PrivateState,
    ) -> StateOutcome {
        let name = Resource::type_name(self);
        let ty = schema.value_type();
        let mut diagnostics = Diagnostics::new();

        if planned.is_null() {
            let Some(prior_model) =
                decode::<R::Model>(name, "prior state", prior.clone(), &mut diagnostics)
            else {
                return StateOutcome {
                    state: prior,
                    private,
                    diagnostics,
                };
            };
            let mut response = DeleteResponse::default();
            self.delete(
                ctx,
                DeleteRequest {
                    prior: prior_model,
                    private: private.clone(),
                },
                &mut response,
            )
            .await;
            let failed = response.diagnostics.has_error();
            return StateOutcome {
                state: if failed { prior } else { Value::Null },
                private: if failed {
                    private
                } else {
                    PrivateState::default()
                },
                diagnostics: response.diagnostics,
            };
        }

        let failed_outcome =
            |state: Value, private: PrivateState, diagnostics: Diagnostics| StateOutcome {
                state,
                private,
                diagnostics,
            };
        let Some(config_model) =
            decode::<R::Model>(name, "configuration", config, &mut diagnostics)
        else {
            return failed_outcome(prior, private, diagnostics);
        };
        let Some(plan_model) = decode::<R::Model>(name, "plan", planned.clone(), &mut diagnostics)
        else {
            return failed_outcome(prior, private, diagnostics);
        };

        if prior.is_null() {
            let mut response = CreateResponse {
                state: None,
                private,
                diagnostics: Diagnostics::new(),
            };
            self.create(
                ctx,
                CreateRequest {
                    config: config_model,
                    plan: plan_model,
                },
                &mut response,
            )
            .await;
            let mut diagnostics = response.diagnostics;
            let failed = diagnostics.has_error();
            let state = match response.state {
                Some(model) => encode(name, "new state", &model, &ty, &mut diagnostics),
                None if failed => Some(Value::Null),
                None => {
                    diagnostics.error(
                        "Provider Returned No State",
                        format!("{name}: create reported success but returned no state. This is always a bug in the provider; please report it."),
                    );
                    Some(Value::Null)
                }
            };
            let mut state = state.unwrap_or(Value::Null);
            if diagnostics.has_error() {
                // A partial state is saved as tainted; unknowns cannot be saved.
                unknowns_to_null(&mut state);
            } else {
                check_known(name, "new state", &state, &mut diagnostics);
            }
            return StateOutcome {
                state,
                private: response.private,
                diagnostics,
            };
        }

        let Some(prior_model) =
            decode::<R::Model>(name, "prior state", prior.clone(), &mut diagnostics)
        else {
            return failed_outcome(prior, private, diagnostics);
        };
        let mut response = UpdateResponse {
            state: None,
            private: private.clone(),
            diagnostics: Diagnostics::new(),
        };
        self.update(
            ctx,
            UpdateRequest {
                config: config_model,
                plan: plan_model,
                prior: prior_model,
                private,
            },
            &mut response,
        )
        .await;
        let mut diagnostics = response.diagnostics;
        let state = match response.state {
            Some(model) => {
                encode(name, "new state", &model, &ty, &mut diagnostics).unwrap_or(prior)
            }
            None if diagnostics.has_error() => prior,
            None if planned.is_wholly_known() => planned,
            None => {
                diagnostics.error(
                    "Provider Returned No State",
                    format!("{name}: update reported success but returned no state. This is always a bug in the provider; please report it."),
                );
                prior
            }
        };
        let mut state = state;
        if diagnostics.has_error() {
            unknowns_to_null(&mut state);
        } else {
            check_known(name, "new state", &state, &mut diagnostics);
        }
        StateOutcome {
            state,
            private: response.private,
            diagnostics,
        }
    }

    async fn read(
        &self,
        ctx: &Ctx<R::Data>,
        schema: &Schema,
        state: Value,
        private: PrivateState,
    ) -> StateOutcome {
        let name = Resource::type_name(self);
        let ty = schema.value_type();
        let mut diagnostics = Diagnostics::new();
        let Some(model) = decode::<R::Model>(name, "state", state.clone(), &mut diagnostics) else {
            return StateOutcome {
                state,
                private,
                diagnostics,
            };
        };
        let mut response = ReadResponse {
            state: None,
            private: private.clone(),
            diagnostics: Diagnostics::new(),
        };
        // The model moves into the request; the response starts from the
        // same state so a read that changes nothing returns it unchanged.
        response.state = decode::<R::Model>(name, "state", state.clone(), &mut diagnostics);
        Resource::read(
            self,
            ctx,
            ReadRequest {
                state: model,
                private,
            },
            &mut response,
        )
        .await;
        diagnostics.extend(response.diagnostics);
        let new_state = match response.state {
            Some(model) => {
                encode(name, "refreshed state", &model, &ty, &mut diagnostics).unwrap_or(state)
            }
            None => Value::Null,
        };
        if !diagnostics.has_error() {
            check_known(name, "refreshed state", &new_state, &mut diagnostics);
        }
        StateOutcome {
            state: new_state,
            private: response.private,
            diagnostics,
        }
    }
}

#[async_trait]
impl<S: DataSource> ErasedDataSource<S::Data> for S {
    fn type_name(&self) -> &'static str {
        DataSource::type_name(self)
    }

    fn schema(&self) -> Schema {
        DataSource::schema(self)
    }

    fn model_problems(&self, schema: &Schema) -> Vec<String> {
        let name = format!("data source {}", DataSource::type_name(self));
        crate::model_fit::problems::<S::Model>(&name, schema)
    }

    async fn validate(&self, schema: &Schema, config: &Value) -> Diagnostics {
        let name = DataSource::type_name(self);
        let mut diagnostics = Diagnostics::new();
        validate_config(&schema.block, config, true, &mut diagnostics);
        if let Some(model) =
            decode::<S::Model>(name, "configuration", config.clone(), &mut diagnostics)
        {
            DataSource::validate(self, &model, &mut diagnostics).await;
        }
        scrub_secrets(config, &schema.block, diagnostics)
    }

    async fn read(&self, ctx: &Ctx<S::Data>, schema: &Schema, config: Value) -> StateOutcome {
        let name = DataSource::type_name(self);
        let ty = schema.value_type();
        let mut diagnostics = Diagnostics::new();
        let null = StateOutcome {
            state: Value::Null,
            private: PrivateState::default(),
            diagnostics: Diagnostics::new(),
        };
        let Some(model) =
            decode::<S::Model>(name, "configuration", config.clone(), &mut diagnostics)
        else {
            return StateOutcome {
                diagnostics,
                ..null
            };
        };
        // Terraform reads a data source whose configuration held unknowns
        // at validation later, with the values known: check them first.
        let mut checks = Diagnostics::new();
        validate_config(&schema.block, &config, true, &mut checks);
        DataSource::validate(self, &model, &mut checks).await;
        let errors = errors_only(scrub_secrets(&config, &schema.block, checks));
        if errors.has_error() {
            return StateOutcome {
                diagnostics: errors,
                ..null
            };
        }
        let result = DataSource::read(self, ctx, model, &mut diagnostics).await;
        let state = match result {
            Some(model) if !diagnostics.has_error() => {
                encode(name, "result", &model, &ty, &mut diagnostics).unwrap_or(Value::Null)
            }
            _ => Value::Null,
        };
        if !diagnostics.has_error() {
            check_known(name, "result", &state, &mut diagnostics);
        }
        StateOutcome {
            state,
            diagnostics,
            ..null
        }
    }
}
