//! The provider's data sources, one per file.

pub mod cluster_check;
pub mod workspace_image;
