//! # terraform-provider-cvm
//!
//! Makes a Kubernetes cluster able to run Sysbox container-based virtual
//! machines (CVMs) for Coder workspaces, and configures the Coder
//! deployment to use them.
//!
//! * [`provider`] — the provider block and what `configure` builds.
//! * [`resources`], [`data_sources`], [`functions`] — one file per
//!   Terraform type.
//! * [`coder`] — the Coder v1 API client.
//! * [`sysbox`] — which nodes can run Sysbox, and why not.
//! * [`workspace`] — the pod and home volume of a CVM workspace on Coder v2.
//! * `template` — the ready CVM template for Coder v2, rendered.
//! * [`kube`] — the Kubernetes connection.
//! * [`aws`] — the AWS connection (EKS, EC2, SSM).
//! * [`image_reference`] — container image reference grammar.
//! * `image_registry` — an image registry's API: do credentials log in.

pub mod aws;
pub mod coder;
pub mod data_sources;
pub mod functions;
pub mod image_reference;
mod image_registry;
pub mod kube;
pub mod provider;
pub mod resources;
pub mod sysbox;
mod template;
#[cfg(test)]
pub(crate) mod test_server;
pub mod workspace;

/// The provider's registry source address.
pub const PROVIDER_ADDRESS: &str = "registry.terraform.io/cvm-provider/cvm";
