//! The provider's connection to Kubernetes: where the cluster is and how to
//! authenticate ([`client`]), the calls resources make with retries and a
//! deadline ([`cluster`]), and how failures read to a Terraform user
//! ([`error`]), and the grammars of Kubernetes names ([`names`]).

pub mod client;
pub mod cluster;
pub mod error;
pub mod names;

pub use client::{KubeClientCell, KubeEnvironment, KubeSettings, KubeSource};
pub use cluster::Cluster;
pub use error::KubeError;
