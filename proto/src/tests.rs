//! Checks that the generated code uses Terraform's field numbers and gRPC
//! method paths. The byte strings are hand-built protobuf: each key byte is
//! `(field_number << 3) | wire_type` (0 = varint, 2 = length-delimited).

use prost::Message;
use tonic::codegen::{Service, http};

use crate::plugin::grpc_controller_server::{GrpcController, GrpcControllerServer};
use crate::tfplugin6::provider_server::{Provider, ProviderServer};
use crate::{plugin, tfplugin6};

#[test]
fn schema_attribute_write_only_is_11_and_deprecation_message_is_12() {
    // 11 varint = 0x58; 12 length-delimited = 0x62.
    let bytes = [0x58, 0x01, 0x62, 0x03, b'o', b'l', b'd'];
    let attribute = tfplugin6::schema::Attribute::decode(&bytes[..]).unwrap();
    assert!(attribute.write_only);
    assert_eq!(attribute.deprecation_message, "old");
}

#[test]
fn schema_attribute_nested_type_is_10() {
    // 10 length-delimited = 0x52, holding Object.nesting (3) = SET (3).
    let bytes = [0x52, 0x02, 0x18, 0x03];
    let attribute = tfplugin6::schema::Attribute::decode(&bytes[..]).unwrap();
    let nested = attribute.nested_type.unwrap();
    assert_eq!(
        nested.nesting(),
        tfplugin6::schema::object::NestingMode::Set
    );
}

#[test]
fn schema_block_deprecation_message_is_7() {
    let bytes = [0x3a, 0x01, b'x'];
    let block = tfplugin6::schema::Block::decode(&bytes[..]).unwrap();
    assert_eq!(block.deprecation_message, "x");
}

#[test]
fn plan_response_requires_replace_is_2_and_identity_is_7() {
    // Two empty AttributePaths in field 2, an empty identity in field 7.
    let bytes = [0x12, 0x00, 0x12, 0x00, 0x3a, 0x00];
    let response = tfplugin6::plan_resource_change::Response::decode(&bytes[..]).unwrap();
    assert_eq!(response.requires_replace.len(), 2);
    assert!(response.planned_identity.is_some());
}

#[test]
fn apply_request_planned_private_is_5() {
    let bytes = [0x2a, 0x02, 0xca, 0xfe];
    let request = tfplugin6::apply_resource_change::Request::decode(&bytes[..]).unwrap();
    assert_eq!(request.planned_private, [0xca, 0xfe]);
}

#[test]
fn provider_schema_response_map_fields() {
    // Map entries: key is field 1, value is field 2.
    let entry = [0x0a, 0x01, b'a', 0x12, 0x00];
    let mut bytes = Vec::new();
    for key in [0x3a, 0x52, 0x5a] {
        // functions = 7, state_store_schemas = 10, action_schemas = 11.
        bytes.push(key);
        bytes.push(entry.len() as u8);
        bytes.extend_from_slice(&entry);
    }
    let response = tfplugin6::get_provider_schema::Response::decode(&bytes[..]).unwrap();
    assert!(response.functions.contains_key("a"));
    assert!(response.state_store_schemas.contains_key("a"));
    assert!(response.action_schemas.contains_key("a"));
}

#[test]
fn capability_flags() {
    let client = tfplugin6::ClientCapabilities::decode(&[0x10, 0x01][..]).unwrap();
    assert!(client.write_only_attributes_allowed && !client.deferral_allowed);

    let server = tfplugin6::ServerCapabilities::decode(&[0x20, 0x01][..]).unwrap();
    assert!(server.generate_resource_config && !server.plan_destroy);
}

#[test]
fn ephemeral_renew_at_is_a_well_known_timestamp_in_field_2() {
    // Timestamp.seconds (field 1) = 5.
    let bytes = [0x12, 0x02, 0x08, 0x05];
    let response = tfplugin6::open_ephemeral_resource::Response::decode(&bytes[..]).unwrap();
    let renew_at: prost_types::Timestamp = response.renew_at.unwrap();
    assert_eq!(renew_at.seconds, 5);
}

#[test]
fn state_bytes_chunk_fields() {
    // meta = 1 (with state_id = 2), total_length = 3, range = 4 (end = 2).
    let bytes = [
        0x0a, 0x03, 0x12, 0x01, b's', 0x18, 0x09, 0x22, 0x02, 0x10, 0x04,
    ];
    let chunk = tfplugin6::write_state_bytes::RequestChunk::decode(&bytes[..]).unwrap();
    assert_eq!(chunk.meta.unwrap().state_id, "s");
    assert_eq!(chunk.total_length, 9);
    assert_eq!(chunk.range.unwrap().end, 4);
}

#[test]
fn stdio_data_and_conn_info_fields() {
    let data = plugin::StdioData::decode(&[0x08, 0x02, 0x12, 0x01, b'!'][..]).unwrap();
    assert_eq!(data.channel(), plugin::stdio_data::Channel::Stderr);
    assert_eq!(data.data, b"!");

    // service_id = 1, knock (4) with ack (2) = true.
    let info = plugin::ConnInfo::decode(&[0x08, 0x07, 0x22, 0x02, 0x10, 0x01][..]).unwrap();
    assert_eq!(info.service_id, 7);
    assert!(info.knock.unwrap().ack);
}

#[test]
fn descriptor_set_holds_our_files_and_their_imports() {
    let set = prost_types::FileDescriptorSet::decode(crate::FILE_DESCRIPTOR_SET).unwrap();
    let names: Vec<&str> = set.file.iter().map(|file| file.name()).collect();
    for expected in [
        "tfplugin6.proto",
        "grpc_controller.proto",
        "grpc_stdio.proto",
        "grpc_broker.proto",
        "google/protobuf/timestamp.proto",
        "google/protobuf/empty.proto",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
}

#[test]
fn service_names() {
    assert_eq!(
        tfplugin6::provider_server::SERVICE_NAME,
        "tfplugin6.Provider"
    );
    assert_eq!(
        plugin::grpc_controller_server::SERVICE_NAME,
        "plugin.GRPCController"
    );
    assert_eq!(plugin::grpc_stdio_server::SERVICE_NAME, "plugin.GRPCStdio");
    assert_eq!(
        plugin::grpc_broker_server::SERVICE_NAME,
        "plugin.GRPCBroker"
    );
}

/// Implements nothing, so every RPC falls through to the generated stub.
struct NothingImplemented;

#[tonic::async_trait]
impl Provider for NothingImplemented {}

#[tonic::async_trait]
impl GrpcController for NothingImplemented {}

/// Sends an empty gRPC message to `path` and returns the `grpc-message`
/// header of the reply, after checking the status is Unimplemented.
async fn call_path<S>(server: &mut S, path: &str) -> Option<String>
where
    S: Service<
            http::Request<String>,
            Response = http::Response<tonic::body::Body>,
            Error = std::convert::Infallible,
        >,
{
    // One uncompressed frame (flag 0, length 0): an empty message.
    let request = http::Request::builder()
        .method("POST")
        .uri(path)
        .header("content-type", "application/grpc")
        .body(String::from("\0\0\0\0\0"))
        .unwrap();
    let response = server.call(request).await.unwrap();
    let headers = response.headers();
    assert_eq!(headers["grpc-status"], "12", "status for {path}");
    headers
        .get("grpc-message")
        .map(|value| value.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn method_paths_reach_the_generated_handlers() {
    // A routed path reaches the default stub, which sets a message; an
    // unknown path gets the router's bare Unimplemented with no message.
    let mut provider = ProviderServer::new(NothingImplemented);
    for path in [
        "/tfplugin6.Provider/GetProviderSchema",
        "/tfplugin6.Provider/PlanResourceChange",
        "/tfplugin6.Provider/StopProvider",
        "/tfplugin6.Provider/ListResource",
    ] {
        assert!(call_path(&mut provider, path).await.is_some(), "{path}");
    }
    assert!(
        call_path(&mut provider, "/tfplugin6.Provider/NoSuchMethod")
            .await
            .is_none()
    );

    let mut controller = GrpcControllerServer::new(NothingImplemented);
    assert!(
        call_path(&mut controller, "/plugin.GRPCController/Shutdown")
            .await
            .is_some()
    );
    assert!(
        call_path(&mut controller, "/plugin.Controller/Shutdown")
            .await
            .is_none()
    );
}
