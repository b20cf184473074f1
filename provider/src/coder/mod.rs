//! The Coder API clients, one per generation, over one transport.
//!
//! * [`CoderClient`] sends every request with the session token, retries
//!   what is safe to retry until a deadline, and finds out which
//!   [`Generation`] the deployment is. [`CoderClient::v1`] and
//!   [`CoderClient::v2`] give that generation's API and refuse the other
//!   one, so a resource made for one generation says so on the other.
//! * [`v1`]: Coder v1's workspace settings and registries.
//! * [`v2`]: Coder v2's files, template versions, their import jobs and
//!   templates.
//! * [`CoderError`] is every way a call can fail; its
//!   [`ToDiagnostic`](tf_framework::ToDiagnostic) impl is the one place
//!   these errors become what a Terraform user reads.
//!
//! Secrets (the session token, extra header values, registry passwords)
//! never reach a log, an error message or a `{:?}`.

mod client;
mod error;
mod retry;
pub mod v1;
pub mod v2;

pub use client::{CoderClient, Generation};
pub use error::CoderError;
