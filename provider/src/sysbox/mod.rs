//! Sysbox: the container runtime that turns a Kubernetes pod into a
//! container-based virtual machine (CVM).
//!
//! * [`compatibility`] — which nodes the Sysbox Kubernetes installer
//!   (`sysbox-deploy-k8s`) can run on, as pure rules over the facts a node
//!   reports in `status.nodeInfo`.

//! * [`diagnosis`] — why the installer has not finished on a node, from
//!   what the cluster shows.
//! * [`installer`] — the installer's Kubernetes objects.
//! * [`rollout`] — waiting for nodes to report Sysbox running, or gone.

pub mod compatibility;
pub mod diagnosis;
pub mod installer;
pub mod rollout;
