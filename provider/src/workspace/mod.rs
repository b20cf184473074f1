//! CVM workspaces on Coder v2: the Kubernetes objects of one workspace
//! ([`pod`]: the pod in the sysbox-runc or envbox style, and its home
//! volume claim) and how far its pod is on the way to Running ([`progress`]).
//! `cvm_workspace` applies them.

pub mod pod;
pub mod progress;
