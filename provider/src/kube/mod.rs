//! The provider's connection to Kubernetes: where the cluster is and how to
//! authenticate ([`client`]), the calls resources make with retries and a
//! deadline ([`cluster`]), how failures read to a Terraform user
//! ([`error`]), the grammars of Kubernetes names ([`names`]) and of label
//! keys and values ([`labels`]), and what a pod's status says
//! ([`pod_status`]), and the grammar of resource quantities ([`quantity`]).

pub mod client;
pub mod cluster;
pub mod error;
pub mod labels;
pub mod names;
pub mod pod_status;
pub mod quantity;

pub use client::{KubeClientCell, KubeEnvironment, KubeSettings, KubeSource};
pub use cluster::Cluster;
pub use error::KubeError;
