//! Compiles the `.proto` files beside this crate with `protox` (a pure-Rust
//! protobuf compiler, so no `protoc` is needed) and generates prost messages
//! and tonic services from the result.

use std::error::Error;
use std::path::PathBuf;

/// Our own protocol files, relative to the crate root.
const PROTO_FILES: [&str; 4] = [
    "tfplugin6.proto",
    "grpc_controller.proto",
    "grpc_stdio.proto",
    "grpc_broker.proto",
];

/// Name of the encoded `FileDescriptorSet` written to `OUT_DIR`.
const DESCRIPTOR_FILE: &str = "tfplugin_descriptor.bin";

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed=build.rs");
    for file in PROTO_FILES {
        println!("cargo:rerun-if-changed={file}");
    }

    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);

    // protox resolves google/protobuf/*.proto from its own bundled copies.
    let mut compiler = protox::Compiler::new([&manifest_dir])?;
    compiler.include_source_info(true).include_imports(true);
    compiler.open_files(PROTO_FILES)?;

    // The full set, imports included, so it is self-contained for reflection.
    std::fs::write(
        out_dir.join(DESCRIPTOR_FILE),
        compiler.encode_file_descriptor_set(),
    )?;

    // Well-known types come from prost-types (prost-build's default extern
    // path), so generate code only for our own packages.
    let mut descriptors = compiler.file_descriptor_set();
    descriptors
        .file
        .retain(|file| file.package() != "google.protobuf");

    let build_client = std::env::var_os("CARGO_FEATURE_CLIENT").is_some();
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(build_client)
        // Every RPC gets a default body answering `Unimplemented`, so a
        // provider only writes the RPCs it supports.
        .generate_default_stubs(true)
        .compile_fds(descriptors)?;
    Ok(())
}
