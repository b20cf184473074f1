//! The provider's managed resources, one per file.

pub mod registry;
pub mod settings;
