//! The provider's data sources, one per file.

pub mod workspace_image;
