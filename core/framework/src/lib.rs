//! # tf-framework
//!
//! A small framework for Terraform providers, on top of the protocol layer
//! ([`tf_protocol`]) and the transport ([`tf_transport`]):
//!
//! * [`Provider`], [`Resource`], [`DataSource`] and [`Function`] traits
//!   that work on typed Rust models, never on msgpack or protobuf;
//! * [`schema`] builders that declare each attribute once, with
//!   [`validate`]ors, [`plan`] modifiers and defaults;
//! * [`timeouts`], [`private_state`], import, and state upgrades;
//! * a gRPC service ([`server::ProviderService`]) and an entry point
//!   ([`serve::run`]) for the provider binary.
//!
//! Errors reach users as diagnostics carrying attribute paths; a failed
//! create that already made something returns its partial state, which
//! Terraform saves as tainted.

pub mod context;
pub mod data_source;
pub mod diagnostic;
pub mod function;
mod model_fit;
pub mod plan;
pub mod private_state;
pub mod provider;
pub mod resource;
pub mod schema;
pub mod serve;
pub mod server;
pub mod timeouts;
pub mod validate;

pub use context::{Ctx, Interrupted};
pub use data_source::DataSource;
pub use diagnostic::ToDiagnostic;
pub use function::Function;
pub use private_state::PrivateState;
pub use provider::{ConfigureRequest, DataSourceHandle, Provider, ResourceHandle};
pub use resource::Resource;
pub use timeouts::Timeouts;
