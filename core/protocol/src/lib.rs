//! # tf-protocol
//!
//! The protocol and value layer of the provider core: Terraform's types and
//! values with their wire encodings, attribute paths, diagnostics and
//! schemas. Nothing here performs I/O, speaks gRPC, or knows about any
//! particular provider.
//!
//! * [`value`] — [`Type`] and [`Value`] (null, unknown with refinements, and
//!   known values of every cty type), the msgpack and JSON codecs driven by
//!   a type, and a serde bridge so providers work with typed Rust structs.
//! * [`path`] — [`AttributePath`], how a diagnostic points at a value.
//! * [`diag`] — [`Diagnostic`] and [`Diagnostics`].
//! * [`schema`] — schemas of providers, resources and data sources.

pub mod diag;
pub mod path;
pub mod schema;
pub mod value;

pub use diag::{Diagnostic, Diagnostics, Severity};
pub use path::{AttributePath, PathStep};
pub use value::{Type, Value};
