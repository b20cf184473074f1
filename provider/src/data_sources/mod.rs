//! The provider's data sources, one per file.

pub mod cluster_check;
pub mod ubuntu_ami;
pub mod workspace_image;
pub mod workspace_template;
