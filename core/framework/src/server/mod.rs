//! The tfplugin6 gRPC service: each RPC decodes its values against the
//! schema, calls the provider's typed code through [`erased`], and encodes
//! the result. Practitioner-facing problems travel as diagnostics; a gRPC
//! status is reserved for requests naming types the provider does not have.

pub(crate) mod convert;
pub(crate) mod erased;
mod panics;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use tf_protocol::value::{self, Type, from_value};
use tf_protocol::{Diagnostic, Diagnostics, Value};
use tfplugin_proto::tfplugin6 as pb;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

use crate::context::Ctx;
use crate::function::Function;
use crate::private_state::PrivateState;
use crate::provider::{ConfigureRequest, Provider};
use crate::resource::Import;
use crate::schema::Schema;
use erased::{ErasedDataSource, ErasedResource, empty_object};
use panics::{guard, guard_sync};

struct Registered<T: ?Sized> {
    handler: Arc<T>,
    schema: Schema,
    ty: Type,
}

struct Inner<P: Provider> {
    provider: P,
    provider_schema: Schema,
    resources: BTreeMap<&'static str, Registered<dyn ErasedResource<P::Data>>>,
    data_sources: BTreeMap<&'static str, Registered<dyn ErasedDataSource<P::Data>>>,
    functions: BTreeMap<&'static str, Arc<dyn Function>>,
    data: RwLock<Option<Arc<P::Data>>>,
    stop: CancellationToken,
    next_request: AtomicU64,
}

/// The gRPC service for a [`Provider`]: give it to the transport.
pub struct ProviderService<P: Provider> {
    inner: Arc<Inner<P>>,
}

impl<P: Provider> Clone for ProviderService<P> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<P: Provider> ProviderService<P> {
    /// Builds the service; schemas are computed once, here. `stop` is
    /// cancelled by `StopProvider` (and by the transport on shutdown) and
    /// every operation's context follows it.
    pub fn new(provider: P, stop: CancellationToken) -> Self {
        let resources = provider
            .resources()
            .into_iter()
            .map(|h| {
                let schema = h.0.schema();
                let ty = schema.value_type();
                (
                    h.0.type_name(),
                    Registered {
                        handler: h.0,
                        schema,
                        ty,
                    },
                )
            })
            .collect();
        let data_sources = provider
            .data_sources()
            .into_iter()
            .map(|h| {
                let schema = h.0.schema();
                let ty = schema.value_type();
                (
                    h.0.type_name(),
                    Registered {
                        handler: h.0,
                        schema,
                        ty,
                    },
                )
            })
            .collect();
        let functions = provider
            .functions()
            .into_iter()
            .map(|f| (f.name(), f))
            .collect();
        let provider_schema = provider.schema();
        Self {
            inner: Arc::new(Inner {
                provider,
                provider_schema,
                resources,
                data_sources,
                functions,
                data: RwLock::new(None),
                stop,
                next_request: AtomicU64::new(1),
            }),
        }
    }

    /// Where a model disagrees with its schema: the provider configuration,
    /// each resource and each data source, probed with values of the
    /// schema's full type (every attribute set; every element unknown; every
    /// attribute unknown). A provider's test asserts this is empty, so a
    /// model that would fail on a user's value fails the build instead.
    pub fn model_problems(&self) -> Vec<String> {
        let inner = &self.inner;
        let mut out = crate::model_fit::reading_problems::<P::Config>(
            "provider configuration",
            &inner.provider_schema,
        );
        for r in inner.resources.values() {
            out.extend(r.handler.model_problems(&r.schema));
        }
        for d in inner.data_sources.values() {
            out.extend(d.handler.model_problems(&d.schema));
        }
        out
    }

    fn request_id(&self) -> u64 {
        self.inner.next_request.fetch_add(1, Ordering::Relaxed)
    }

    fn resource(&self, name: &str) -> Result<&Registered<dyn ErasedResource<P::Data>>, Status> {
        self.inner.resources.get(name).ok_or_else(|| {
            Status::not_found(format!("this provider has no resource type {name:?}"))
        })
    }

    fn data_source(
        &self,
        name: &str,
    ) -> Result<&Registered<dyn ErasedDataSource<P::Data>>, Status> {
        self.inner
            .data_sources
            .get(name)
            .ok_or_else(|| Status::not_found(format!("this provider has no data source {name:?}")))
    }

    /// The context for an operation, or a diagnostic when Terraform has not
    /// configured the provider.
    fn ctx(&self) -> Result<Ctx<P::Data>, Diagnostic> {
        let data = self
            .inner
            .data
            .read()
            .map_err(|_| Diagnostic::error("Provider Not Configured", "The provider's configuration lock was poisoned by an earlier failure. This is always a bug in the provider."))?
            .clone();
        match data {
            Some(data) => Ok(Ctx::new(data, self.inner.stop.child_token())),
            None => Err(Diagnostic::error(
                "Provider Not Configured",
                "Terraform called the provider before configuring it. This is a bug in the provider or in Terraform; please report it.",
            )),
        }
    }

    fn provider_schema_response(&self) -> pb::get_provider_schema::Response {
        let inner = &self.inner;
        pb::get_provider_schema::Response {
            provider: Some(convert::schema(&inner.provider_schema.to_protocol())),
            resource_schemas: inner
                .resources
                .iter()
                .map(|(name, r)| ((*name).to_owned(), convert::schema(&r.schema.to_protocol())))
                .collect(),
            data_source_schemas: inner
                .data_sources
                .iter()
                .map(|(name, d)| ((*name).to_owned(), convert::schema(&d.schema.to_protocol())))
                .collect(),
            functions: inner
                .functions
                .iter()
                .map(|(name, f)| ((*name).to_owned(), convert::function(&f.signature())))
                .collect(),
            server_capabilities: Some(capabilities()),
            ..Default::default()
        }
    }
}

fn capabilities() -> pb::ServerCapabilities {
    pb::ServerCapabilities {
        plan_destroy: true,
        get_provider_schema_optional: false,
        move_resource_state: false,
        generate_resource_config: false,
    }
}

fn log_done(rpc: &str, type_name: &str, id: u64, started: Instant, diagnostics: &Diagnostics) {
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = diagnostics.iter().count() - errors;
    for d in diagnostics.iter() {
        // Summaries and paths only: details may quote configuration.
        tracing::debug!(
            tf_rpc = rpc,
            tf_req_id = id,
            tf_resource_type = type_name,
            diagnostic_summary = %d.summary,
            diagnostic_attribute = %d.attribute.as_ref().map(ToString::to_string).unwrap_or_default(),
            "diagnostic"
        );
    }
    tracing::debug!(
        tf_rpc = rpc,
        tf_req_id = id,
        tf_resource_type = type_name,
        tf_req_duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        errors,
        warnings,
        "served request"
    );
}

fn log_start(rpc: &str, type_name: &str, id: u64) {
    tracing::debug!(
        tf_rpc = rpc,
        tf_req_id = id,
        tf_resource_type = type_name,
        "received request"
    );
}

/// Decodes a request value, or returns the diagnostics to answer with.
macro_rules! decode_or_return {
    ($value:expr, $ty:expr, $what:literal, $respond:expr) => {
        match convert::decode($value, $ty) {
            Ok(v) => v,
            Err(e) => {
                let diagnostics: Diagnostics = convert::bad_value($what, &e).into();
                return Ok(Response::new($respond(diagnostics)));
            }
        }
    };
}

#[tonic::async_trait]
impl<P: Provider> pb::provider_server::Provider for ProviderService<P> {
    async fn get_metadata(
        &self,
        _request: Request<pb::get_metadata::Request>,
    ) -> Result<Response<pb::get_metadata::Response>, Status> {
        let inner = &self.inner;
        Ok(Response::new(pb::get_metadata::Response {
            server_capabilities: Some(capabilities()),
            data_sources: inner
                .data_sources
                .keys()
                .map(|n| pb::get_metadata::DataSourceMetadata {
                    type_name: (*n).to_owned(),
                })
                .collect(),
            resources: inner
                .resources
                .keys()
                .map(|n| pb::get_metadata::ResourceMetadata {
                    type_name: (*n).to_owned(),
                })
                .collect(),
            functions: inner
                .functions
                .keys()
                .map(|n| pb::get_metadata::FunctionMetadata {
                    name: (*n).to_owned(),
                })
                .collect(),
            ..Default::default()
        }))
    }

    async fn get_provider_schema(
        &self,
        _request: Request<pb::get_provider_schema::Request>,
    ) -> Result<Response<pb::get_provider_schema::Response>, Status> {
        let id = self.request_id();
        log_start("GetProviderSchema", "", id);
        Ok(Response::new(self.provider_schema_response()))
    }

    async fn validate_provider_config(
        &self,
        request: Request<pb::validate_provider_config::Request>,
    ) -> Result<Response<pb::validate_provider_config::Response>, Status> {
        let id = self.request_id();
        let started = Instant::now();
        log_start("ValidateProviderConfig", "", id);
        let request = request.into_inner();
        let respond = |d: Diagnostics| pb::validate_provider_config::Response {
            diagnostics: convert::diagnostics(d),
        };
        let schema = &self.inner.provider_schema;
        let config = decode_or_return!(
            request.config.as_ref(),
            &schema.value_type(),
            "provider configuration",
            respond
        );
        let mut diagnostics = Diagnostics::new();
        crate::validate::validate_config(&schema.block, &config, true, &mut diagnostics);
        match from_value::<P::Config>(config) {
            Ok(config) => {
                let validated = guard(
                    "provider configuration: validate",
                    self.inner.provider.validate(&config, &mut diagnostics),
                )
                .await;
                if let Err(panicked) = validated {
                    diagnostics.push(panicked);
                }
            }
            Err(e) => diagnostics.error(
                "Provider Model Error",
                format!("reading the provider configuration: {e}. This is always a bug in the provider; please report it."),
            ),
        }
        log_done("ValidateProviderConfig", "", id, started, &diagnostics);
        Ok(Response::new(respond(diagnostics)))
    }

    async fn validate_resource_config(
        &self,
        request: Request<pb::validate_resource_config::Request>,
    ) -> Result<Response<pb::validate_resource_config::Response>, Status> {
        let id = self.request_id();
        let started = Instant::now();
        let request = request.into_inner();
        log_start("ValidateResourceConfig", &request.type_name, id);
        let resource = self.resource(&request.type_name)?;
        let respond = |d: Diagnostics| pb::validate_resource_config::Response {
            diagnostics: convert::diagnostics(d),
        };
        let config = decode_or_return!(
            request.config.as_ref(),
            &resource.ty,
            "resource configuration",
            respond
        );
        let write_only_allowed = request
            .client_capabilities
            .is_some_and(|c| c.write_only_attributes_allowed);
        let diagnostics = guard(
            &format!("{}: validate", request.type_name),
            resource
                .handler
                .validate(&resource.schema, &config, write_only_allowed),
        )
        .await
        .unwrap_or_else(Diagnostics::from);
        log_done(
            "ValidateResourceConfig",
            &request.type_name,
            id,
            started,
            &diagnostics,
        );
        Ok(Response::new(respond(diagnostics)))
    }

    async fn validate_data_resource_config(
        &self,
        request: Request<pb::validate_data_resource_config::Request>,
    ) -> Result<Response<pb::validate_data_resource_config::Response>, Status> {
        let id = self.request_id();
        let started = Instant::now();
        let request = request.into_inner();
        log_start("ValidateDataResourceConfig", &request.type_name, id);
        let data_source = self.data_source(&request.type_name)?;
        let respond = |d: Diagnostics| pb::validate_data_resource_config::Response {
            diagnostics: convert::diagnostics(d),
        };
        let config = decode_or_return!(
            request.config.as_ref(),
            &data_source.ty,
            "data source configuration",
            respond
        );
        let diagnostics = guard(
            &format!("data source {}: validate", request.type_name),
            data_source.handler.validate(&data_source.schema, &config),
        )
        .await
        .unwrap_or_else(Diagnostics::from);
        log_done(
            "ValidateDataResourceConfig",
            &request.type_name,
            id,
            started,
            &diagnostics,
        );
        Ok(Response::new(respond(diagnostics)))
    }

    async fn upgrade_resource_state(
        &self,
        request: Request<pb::upgrade_resource_state::Request>,
    ) -> Result<Response<pb::upgrade_resource_state::Response>, Status> {
        let id = self.request_id();
        let started = Instant::now();
        let request = request.into_inner();
        log_start("UpgradeResourceState", &request.type_name, id);
        let resource = self.resource(&request.type_name)?;
        let mut diagnostics = Diagnostics::new();
        let raw = request.raw_state.unwrap_or_default();
        let upgraded = guard_sync(&format!("{}: upgrade state", request.type_name), || {
            upgrade_state(resource, request.version, &raw, &mut diagnostics)
        })
        .unwrap_or_else(|panicked| {
            diagnostics.push(panicked);
            None
        });
        let upgraded_state = match upgraded.map(|v| convert::encode(&v, &resource.ty)) {
            Some(Ok(v)) => Some(v),
            Some(Err(e)) => {
                diagnostics.push(convert::unencodable("upgraded state", &e));
                None
            }
            None => None,
        };
        log_done(
            "UpgradeResourceState",
            &request.type_name,
            id,
            started,
            &diagnostics,
        );
        Ok(Response::new(pb::upgrade_resource_state::Response {
            upgraded_state,
            diagnostics: convert::diagnostics(diagnostics),
        }))
    }

    async fn configure_provider(
        &self,
        request: Request<pb::configure_provider::Request>,
    ) -> Result<Response<pb::configure_provider::Response>, Status> {
        let id = self.request_id();
        let started = Instant::now();
        log_start("ConfigureProvider", "", id);
        let request = request.into_inner();
        let respond = |d: Diagnostics| pb::configure_provider::Response {
            diagnostics: convert::diagnostics(d),
        };
        let ty = self.inner.provider_schema.value_type();
        let config = decode_or_return!(
            request.config.as_ref(),
            &ty,
            "provider configuration",
            respond
        );
        let mut diagnostics = Diagnostics::new();
        match from_value::<P::Config>(config) {
            Ok(config) => {
                let configured = guard(
                    "provider configuration: configure",
                    self.inner.provider.configure(
                        ConfigureRequest {
                            config,
                            terraform_version: request.terraform_version,
                        },
                        &mut diagnostics,
                    ),
                )
                .await
                .unwrap_or_else(|panicked| {
                    diagnostics.push(panicked);
                    None
                });
                if let Some(data) = configured {
                    match self.inner.data.write() {
                        Ok(mut slot) => *slot = Some(Arc::new(data)),
                        Err(_) => diagnostics.error(
                            "Provider Not Configured",
                            "The provider's configuration lock was poisoned by an earlier failure. This is always a bug in the provider.",
                        ),
                    }
                }
            }
            Err(e) => diagnostics.error(
                "Provider Model Error",
                format!("reading the provider configuration: {e}. This is always a bug in the provider; please report it."),
            ),
        }
        log_done("ConfigureProvider", "", id, started, &diagnostics);
        Ok(Response::new(respond(diagnostics)))
    }

    async fn read_resource(
        &self,
        request: Request<pb::read_resource::Request>,
    ) -> Result<Response<pb::read_resource::Response>, Status> {
        let id = self.request_id();
        let started = Instant::now();
        let request = request.into_inner();
        log_start("ReadResource", &request.type_name, id);
        let resource = self.resource(&request.type_name)?;
        let private_bytes = request.private.clone();
        let respond = |d: Diagnostics| pb::read_resource::Response {
            new_state: request.current_state.clone(),
            private: private_bytes.clone(),
            diagnostics: convert::diagnostics(d),
            ..Default::default()
        };
        let state = decode_or_return!(
            request.current_state.as_ref(),
            &resource.ty,
            "current state",
            respond
        );
        let private = match PrivateState::from_bytes(&request.private) {
            Ok(p) => p,
            Err(e) => return Ok(Response::new(respond(private_error(&e)))),
        };
        let ctx = match self.ctx() {
            Ok(ctx) => ctx,
            Err(d) => return Ok(Response::new(respond(d.into()))),
        };
        let outcome = match guard(
            &format!("{}: read", request.type_name),
            resource
                .handler
                .read(&ctx, &resource.schema, state, private),
        )
        .await
        {
            Ok(outcome) => outcome,
            Err(panicked) => return Ok(Response::new(respond(panicked.into()))),
        };
        let mut diagnostics = outcome.diagnostics;
        let new_state = encode_or_report(
            &outcome.state,
            &resource.ty,
            "refreshed state",
            &mut diagnostics,
        )
        .or(request.current_state.clone());
        log_done(
            "ReadResource",
            &request.type_name,
            id,
            started,
            &diagnostics,
        );
        Ok(Response::new(pb::read_resource::Response {
            new_state,
            private: outcome.private.to_bytes(),
            diagnostics: convert::diagnostics(diagnostics),
            ..Default::default()
        }))
    }

    async fn plan_resource_change(
        &self,
        request: Request<pb::plan_resource_change::Request>,
    ) -> Result<Response<pb::plan_resource_change::Response>, Status> {
        let id = self.request_id();
        let started = Instant::now();
        let request = request.into_inner();
        log_start("PlanResourceChange", &request.type_name, id);
        let resource = self.resource(&request.type_name)?;
        let respond = |d: Diagnostics| pb::plan_resource_change::Response {
            diagnostics: convert::diagnostics(d),
            ..Default::default()
        };
        let ty = &resource.ty;
        let prior = decode_or_return!(request.prior_state.as_ref(), ty, "prior state", respond);
        let proposed = decode_or_return!(
            request.proposed_new_state.as_ref(),
            ty,
            "proposed new state",
            respond
        );
        let config = decode_or_return!(request.config.as_ref(), ty, "configuration", respond);
        let private = match PrivateState::from_bytes(&request.prior_private) {
            Ok(p) => p,
            Err(e) => return Ok(Response::new(respond(private_error(&e)))),
        };

        if proposed.is_null() {
            // Destroy: the null state, and what the resource says about it
            // (nothing when the provider is not configured: there is no
            // client to look with).
            let diagnostics = match self.ctx() {
                Ok(ctx) => match guard(
                    &format!("{}: plan destroy", request.type_name),
                    resource.handler.plan_destroy(&ctx, prior),
                )
                .await
                {
                    Ok(diagnostics) => diagnostics,
                    Err(panicked) => return Ok(Response::new(respond(panicked.into()))),
                },
                Err(_) => Diagnostics::new(),
            };
            log_done(
                "PlanResourceChange",
                &request.type_name,
                id,
                started,
                &diagnostics,
            );
            return Ok(Response::new(pb::plan_resource_change::Response {
                planned_state: request.proposed_new_state,
                planned_private: request.prior_private,
                diagnostics: convert::diagnostics(diagnostics),
                ..Default::default()
            }));
        }
        let ctx = match self.ctx() {
            Ok(ctx) => ctx,
            Err(d) => return Ok(Response::new(respond(d.into()))),
        };
        let outcome = match guard(
            &format!("{}: plan", request.type_name),
            resource
                .handler
                .plan(&ctx, &resource.schema, prior, config, proposed, private),
        )
        .await
        {
            Ok(outcome) => outcome,
            Err(panicked) => return Ok(Response::new(respond(panicked.into()))),
        };
        let mut diagnostics = outcome.diagnostics;
        let planned_state =
            encode_or_report(&outcome.planned, ty, "planned state", &mut diagnostics);
        log_done(
            "PlanResourceChange",
            &request.type_name,
            id,
            started,
            &diagnostics,
        );
        Ok(Response::new(pb::plan_resource_change::Response {
            planned_state,
            requires_replace: outcome.requires_replace.iter().map(convert::path).collect(),
            planned_private: outcome.private.to_bytes(),
            diagnostics: convert::diagnostics(diagnostics),
            ..Default::default()
        }))
    }

    async fn apply_resource_change(
        &self,
        request: Request<pb::apply_resource_change::Request>,
    ) -> Result<Response<pb::apply_resource_change::Response>, Status> {
        let id = self.request_id();
        let started = Instant::now();
        let request = request.into_inner();
        log_start("ApplyResourceChange", &request.type_name, id);
        let resource = self.resource(&request.type_name)?;
        let prior_state = request.prior_state.clone();
        let prior_private = request.planned_private.clone();
        let respond = |d: Diagnostics| pb::apply_resource_change::Response {
            new_state: prior_state.clone(),
            private: prior_private.clone(),
            diagnostics: convert::diagnostics(d),
            ..Default::default()
        };
        let ty = &resource.ty;
        let prior = decode_or_return!(request.prior_state.as_ref(), ty, "prior state", respond);
        let planned =
            decode_or_return!(request.planned_state.as_ref(), ty, "planned state", respond);
        let config = decode_or_return!(request.config.as_ref(), ty, "configuration", respond);
        let private = match PrivateState::from_bytes(&request.planned_private) {
            Ok(p) => p,
            Err(e) => return Ok(Response::new(respond(private_error(&e)))),
        };
        let ctx = match self.ctx() {
            Ok(ctx) => ctx,
            Err(d) => return Ok(Response::new(respond(d.into()))),
        };
        let outcome = match guard(
            &format!("{}: apply", request.type_name),
            resource
                .handler
                .apply(&ctx, &resource.schema, prior, planned, config, private),
        )
        .await
        {
            Ok(outcome) => outcome,
            Err(panicked) => return Ok(Response::new(respond(panicked.into()))),
        };
        let mut diagnostics = outcome.diagnostics;
        let new_state = encode_or_report(&outcome.state, ty, "new state", &mut diagnostics)
            .or(request.prior_state);
        log_done(
            "ApplyResourceChange",
            &request.type_name,
            id,
            started,
            &diagnostics,
        );
        Ok(Response::new(pb::apply_resource_change::Response {
            new_state,
            private: outcome.private.to_bytes(),
            diagnostics: convert::diagnostics(diagnostics),
            ..Default::default()
        }))
    }

    async fn import_resource_state(
        &self,
        request: Request<pb::import_resource_state::Request>,
    ) -> Result<Response<pb::import_resource_state::Response>, Status> {
        let id = self.request_id();
        let started = Instant::now();
        let request = request.into_inner();
        log_start("ImportResourceState", &request.type_name, id);
        let resource = self.resource(&request.type_name)?;
        let mut diagnostics = Diagnostics::new();
        let state = import_state(resource, &request.id, &mut diagnostics);
        let imported_resources = match state.map(|s| convert::encode(&s, &resource.ty)) {
            Some(Ok(state)) => vec![pb::import_resource_state::ImportedResource {
                type_name: request.type_name.clone(),
                state: Some(state),
                ..Default::default()
            }],
            Some(Err(e)) => {
                diagnostics.push(convert::unencodable("imported state", &e));
                Vec::new()
            }
            None => Vec::new(),
        };
        log_done(
            "ImportResourceState",
            &request.type_name,
            id,
            started,
            &diagnostics,
        );
        Ok(Response::new(pb::import_resource_state::Response {
            imported_resources,
            diagnostics: convert::diagnostics(diagnostics),
            ..Default::default()
        }))
    }

    async fn read_data_source(
        &self,
        request: Request<pb::read_data_source::Request>,
    ) -> Result<Response<pb::read_data_source::Response>, Status> {
        let id = self.request_id();
        let started = Instant::now();
        let request = request.into_inner();
        log_start("ReadDataSource", &request.type_name, id);
        let data_source = self.data_source(&request.type_name)?;
        let respond = |d: Diagnostics| pb::read_data_source::Response {
            diagnostics: convert::diagnostics(d),
            ..Default::default()
        };
        let config = decode_or_return!(
            request.config.as_ref(),
            &data_source.ty,
            "data source configuration",
            respond
        );
        let ctx = match self.ctx() {
            Ok(ctx) => ctx,
            Err(d) => return Ok(Response::new(respond(d.into()))),
        };
        let outcome = match guard(
            &format!("data source {}: read", request.type_name),
            data_source.handler.read(&ctx, &data_source.schema, config),
        )
        .await
        {
            Ok(outcome) => outcome,
            Err(panicked) => return Ok(Response::new(respond(panicked.into()))),
        };
        let mut diagnostics = outcome.diagnostics;
        let state = if diagnostics.has_error() {
            None
        } else {
            encode_or_report(
                &outcome.state,
                &data_source.ty,
                "data source result",
                &mut diagnostics,
            )
        };
        log_done(
            "ReadDataSource",
            &request.type_name,
            id,
            started,
            &diagnostics,
        );
        Ok(Response::new(pb::read_data_source::Response {
            state,
            diagnostics: convert::diagnostics(diagnostics),
            ..Default::default()
        }))
    }

    async fn get_functions(
        &self,
        _request: Request<pb::get_functions::Request>,
    ) -> Result<Response<pb::get_functions::Response>, Status> {
        Ok(Response::new(pb::get_functions::Response {
            functions: self
                .inner
                .functions
                .iter()
                .map(|(name, f)| ((*name).to_owned(), convert::function(&f.signature())))
                .collect(),
            diagnostics: Vec::new(),
        }))
    }

    async fn call_function(
        &self,
        request: Request<pb::call_function::Request>,
    ) -> Result<Response<pb::call_function::Response>, Status> {
        let id = self.request_id();
        let request = request.into_inner();
        tracing::debug!(tf_rpc = "CallFunction", tf_req_id = id, tf_function_name = %request.name, "received request");
        let fail = |text: String, argument: Option<i64>| {
            Ok(Response::new(pb::call_function::Response {
                result: None,
                error: Some(pb::FunctionError {
                    text,
                    function_argument: argument,
                }),
            }))
        };
        let Some(function) = self.inner.functions.get(request.name.as_str()) else {
            return fail(
                format!("this provider has no function {:?}", request.name),
                None,
            );
        };
        let signature = function.signature();
        let mut arguments = Vec::with_capacity(request.arguments.len());
        for (i, argument) in request.arguments.iter().enumerate() {
            let index = i64::try_from(i).unwrap_or(i64::MAX);
            let parameter = signature.parameters.get(i).or(signature.variadic.as_ref());
            let Some(parameter) = parameter else {
                return fail(
                    format!("too many arguments: {} given", request.arguments.len()),
                    Some(index),
                );
            };
            match convert::decode(Some(argument), &parameter.ty) {
                Ok(v) => arguments.push(v),
                Err(e) => {
                    return fail(
                        format!("argument {:?} is invalid: {e}", parameter.name),
                        Some(index),
                    );
                }
            }
        }
        let called = guard_sync(&format!("function {}", request.name), || {
            function.call(arguments)
        });
        let called = match called {
            Ok(called) => called,
            Err(panicked) => return fail(panicked.detail, None),
        };
        match called {
            Ok(result) => match convert::encode(&result, &signature.returns) {
                Ok(result) => Ok(Response::new(pb::call_function::Response {
                    result: Some(result),
                    error: None,
                })),
                Err(e) => fail(
                    format!(
                        "the result could not be encoded: {e}. This is always a bug in the provider."
                    ),
                    None,
                ),
            },
            Err(e) => fail(e.message, e.argument),
        }
    }

    async fn stop_provider(
        &self,
        _request: Request<pb::stop_provider::Request>,
    ) -> Result<Response<pb::stop_provider::Response>, Status> {
        tracing::info!(
            tf_rpc = "StopProvider",
            "stopping: cancelling operations in flight"
        );
        self.inner.stop.cancel();
        Ok(Response::new(pb::stop_provider::Response {
            error: String::new(),
        }))
    }
}

fn private_error(e: &crate::private_state::InvalidPrivateState) -> Diagnostics {
    Diagnostic::error(
        "Invalid Private State",
        format!("The resource's private state could not be read: {e}. This is always a bug in the provider; please report it."),
    )
    .into()
}

fn encode_or_report(
    value: &Value,
    ty: &Type,
    what: &str,
    diagnostics: &mut Diagnostics,
) -> Option<pb::DynamicValue> {
    match convert::encode(value, ty) {
        Ok(v) => Some(v),
        Err(e) => {
            diagnostics.push(convert::unencodable(what, &e));
            None
        }
    }
}

fn upgrade_state<D>(
    resource: &Registered<dyn ErasedResource<D>>,
    version: i64,
    raw: &pb::RawState,
    diagnostics: &mut Diagnostics,
) -> Option<Value> {
    if raw.json.is_empty() {
        if !raw.flatmap.is_empty() {
            diagnostics.error(
                "Unsupported State Format",
                "This state was written by Terraform 0.11 or earlier (flatmap format), which this provider never supported. Remove the resource from state and import it again.",
            );
            return None;
        }
        return Some(Value::Null);
    }
    let json = if version < resource.schema.version {
        let parsed: serde_json::Value = match serde_json::from_slice(&raw.json) {
            Ok(v) => v,
            Err(e) => {
                diagnostics.error(
                    "Invalid Stored State",
                    format!("The stored state is not JSON: {e}."),
                );
                return None;
            }
        };
        match resource.handler.upgrade(version, parsed) {
            Ok(upgraded) => serde_json::to_vec(&upgraded).unwrap_or_default(),
            Err(reason) => {
                diagnostics.error(
                    "Unable to Upgrade State",
                    format!("The state of this resource was written by schema version {version} and cannot be upgraded to version {}: {reason}.", resource.schema.version),
                );
                return None;
            }
        }
    } else {
        raw.json.clone()
    };
    match value::decode_json_lenient(&json, &resource.ty) {
        Ok(v) => Some(v),
        Err(e) => {
            diagnostics.push(convert::bad_value("stored state", &e));
            None
        }
    }
}

fn import_state<D>(
    resource: &Registered<dyn ErasedResource<D>>,
    id: &str,
    diagnostics: &mut Diagnostics,
) -> Option<Value> {
    let mut state = empty_object(&resource.schema.block);
    let Value::Object(attrs) = &mut state else {
        return None;
    };
    match resource.handler.import_kind() {
        Import::Passthrough(attribute) => {
            attrs.insert(attribute.to_owned(), Value::String(id.to_owned()));
        }
        Import::Split {
            separator,
            attributes,
        } => {
            let parts: Vec<&str> = id.split(separator).collect();
            if parts.len() != attributes.len() || parts.iter().any(|p| p.is_empty()) {
                let form: Vec<String> = attributes.iter().map(|a| format!("<{a}>")).collect();
                diagnostics.error(
                    "Invalid Import ID",
                    format!(
                        "{id:?} is not a valid import id: expected {}.",
                        form.join(&separator.to_string())
                    ),
                );
                return None;
            }
            for (attribute, part) in attributes.iter().zip(parts) {
                attrs.insert((*attribute).to_owned(), Value::String(part.to_owned()));
            }
        }
        Import::NotSupported => {
            diagnostics.error(
                "Import Not Supported",
                "This resource type cannot be imported; declare it in configuration and apply.",
            );
            return None;
        }
    }
    Some(state)
}
