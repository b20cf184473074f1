//! The provider's functions (Terraform 1.8 and later), one per file.

pub mod parse_image_reference;
pub mod sysbox_supported;
