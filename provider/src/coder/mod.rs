//! The Coder v1 API client: the deployment's workspace settings
//! (`/api/v0/workspaces/config`) and image registries (`/api/v0/registries`).
//!
//! * [`CoderClient`] sends every request with the session token, retries
//!   what is safe to retry until a deadline, and refuses Coder v2
//!   deployments ([`CoderClient::ensure_v1`]).
//! * [`CoderError`] is every way a call can fail; its
//!   [`ToDiagnostic`](tf_framework::ToDiagnostic) impl is the one place
//!   these errors become what a Terraform user reads.
//! * [`Registry`], [`NewRegistry`] and [`RegistryUpdate`] are the registry
//!   wire types.
//!
//! Secrets (the session token, extra header values, registry passwords)
//! never reach a log, an error message or a `{:?}`.

mod client;
mod error;
mod registry;
mod retry;

pub use client::CoderClient;
pub use error::CoderError;
pub use registry::{NewRegistry, Registry, RegistryUpdate};
