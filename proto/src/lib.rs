//! Generated gRPC types for a Terraform provider written in Rust.
//!
//! Everything here is produced at build time from the `.proto` files in this
//! crate's directory (compiled with `protox`, generated with prost and tonic):
//!
//! * [`tfplugin6`]: Terraform plugin protocol 6 (`tfplugin6.proto`), the
//!   messages plus the `Provider` service ([`tfplugin6::provider_server`]).
//! * [`plugin`]: go-plugin's `GRPCController`, `GRPCStdio` and `GRPCBroker`
//!   services, which Terraform's plugin client expects next to the provider.
//!
//! The gRPC health service is not here; use the `tonic-health` crate.
//!
//! Servers are always generated. Every RPC has a default implementation that
//! answers `Unimplemented`, so a server implements only what it supports;
//! server-streaming RPCs then return a boxed stream (`BoxStream`) rather than
//! an associated stream type. Clients are generated only with the `client`
//! cargo feature.

/// Terraform plugin protocol 6: messages and the `Provider` service.
///
/// Generated code; see `tfplugin6.proto` for the field-level notes.
#[allow(missing_docs, clippy::all, clippy::pedantic, rust_2018_idioms)]
pub mod tfplugin6 {
    tonic::include_proto!("tfplugin6");
}

/// go-plugin's services (`plugin` package): controller, stdio and broker.
///
/// Generated code; see `grpc_*.proto` for the field-level notes.
#[allow(missing_docs, clippy::all, clippy::pedantic, rust_2018_idioms)]
pub mod plugin {
    tonic::include_proto!("plugin");
}

/// Encoded `google.protobuf.FileDescriptorSet` covering every file in this
/// crate and their imports, with source info; usable for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/tfplugin_descriptor.bin"));

#[cfg(test)]
mod tests;
