//! The provider's connection to Kubernetes: where the cluster is and how to
//! authenticate ([`client`]), and how failures read to a Terraform user
//! ([`error`]).

pub mod client;
pub mod error;

pub use client::{KubeClientCell, KubeEnvironment, KubeSettings, KubeSource};
pub use error::KubeError;
