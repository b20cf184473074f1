//! The provider's connection to AWS: settings and SDK configuration
//! ([`config`]), how failures read to a Terraform user ([`error`]), thin
//! clients for EKS, EC2 and SSM with `find_*` and `wait_*` helpers
//! ([`eks`], [`ec2`], [`ssm`], [`wait`]), and the bootstrap user data of
//! Ubuntu EKS nodes ([`user_data`]) and the rules of Canonical's Ubuntu EKS
//! AMIs ([`ami`]); what instance type names say ([`instance_types`]); the
//! lookups node group creates share within one process ([`shared_lookups`]).

pub mod ami;
pub mod config;
pub mod ec2;
pub mod eks;
pub mod error;
pub mod instance_types;
pub mod shared_lookups;
pub mod ssm;
pub mod user_data;
pub mod wait;

pub use config::{AssumeRoleSettings, AwsClientCell, AwsClients, AwsEndpoints, AwsSettings};
pub use error::AwsError;
