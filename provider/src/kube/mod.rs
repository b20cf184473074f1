//! The provider's connection to Kubernetes: where the cluster is and how to
//! authenticate ([`client`]), the calls resources make with retries and a
//! deadline ([`cluster`]), how failures read to a Terraform user
//! ([`error`]), the grammars of Kubernetes names ([`names`]) and of label
//! keys and values ([`labels`]).

pub mod client;
pub mod cluster;
pub mod error;
pub mod labels;
pub mod names;

pub use client::{KubeClientCell, KubeEnvironment, KubeSettings, KubeSource};
pub use cluster::Cluster;
pub use error::KubeError;
