//! AutoMTLS end to end, in-process: a Terraform-like P-521 client certificate
//! is pinned, and only a client presenting it gets through.

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use common::*;
use tfplugin_proto::plugin::Empty;
use tfplugin_proto::plugin::grpc_controller_client::GrpcControllerClient;
use tfplugin_proto::tfplugin6::provider_client::ProviderClient;
use tfplugin_proto::tfplugin6::{DynamicValue, get_provider_schema, validate_provider_config};
use tonic_health::pb::health_check_response::ServingStatus;

#[tokio::test]
async fn pinned_client_certificate_gets_through_and_others_are_refused() {
    let client = terraform_like_client_cert();
    let parent = tempfile::tempdir().unwrap();
    let (config, announced) = config(
        false,
        Some(client.pem.clone()),
        Some(parent.path().to_path_buf()),
        false,
    );
    let server = start(config, announced).await;
    let announcement = &server.announcement;

    // Handshake line: six fields, base64 RawStd of the server cert DER.
    let line = announcement.handshake_line();
    let fields: Vec<&str> = line.split('|').collect();
    assert_eq!(fields.len(), 6);
    assert_eq!(&fields[..3], ["1", "6", "unix"]);
    assert_eq!(fields[3], announcement.socket_path.to_str().unwrap());
    assert_eq!(fields[4], "grpc");
    assert!(!fields[5].contains('='));
    let server_der = STANDARD_NO_PAD.decode(fields[5]).unwrap();
    assert_eq!(Some(&server_der), announcement.server_cert_der.as_ref());

    // The socket lives in a private directory under PLUGIN_UNIX_SOCKET_DIR.
    let dir = socket_dir(announcement);
    assert_eq!(dir.parent(), Some(parent.path()));
    assert_eq!(
        std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o700
    );

    // (a) The pinned certificate: TLS with ALPN h2, health SERVING, RPCs work.
    let good = client_tls(&server_der, Some(&client));
    let stream = tls_connect(&announcement.socket_path, good.clone())
        .await
        .unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    drop(stream);
    let channel = tls_channel(&announcement.socket_path, good.clone())
        .await
        .unwrap();
    assert_eq!(
        plugin_health(channel.clone()).await.unwrap(),
        ServingStatus::Serving
    );
    ProviderClient::new(channel.clone())
        .get_provider_schema(get_provider_schema::Request::default())
        .await
        .unwrap();

    // (b) A different certificate, made the same way, is refused.
    let stranger = terraform_like_client_cert();
    let bad = client_tls(&server_der, Some(&stranger));
    assert!(
        refused(&announcement.socket_path, bad)
            .await
            .contains("AccessDenied")
    );

    // (c) No certificate at all is refused.
    let anonymous = client_tls(&server_der, None);
    assert!(
        refused(&announcement.socket_path, anonymous)
            .await
            .contains("CertificateRequired")
    );

    // TLS 1.2 works too, with the P-521 client signature.
    let tls12 = client_tls_with(&server_der, Some(&client), &[&rustls::version::TLS12]);
    let stream = tls_connect(&announcement.socket_path, tls12.clone())
        .await
        .unwrap();
    assert_eq!(
        stream.get_ref().1.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
    drop(stream);
    let channel = tls_channel(&announcement.socket_path, tls12).await.unwrap();
    assert_eq!(
        plugin_health(channel).await.unwrap(),
        ServingStatus::Serving
    );

    // Failed handshakes did not stop the server.
    let channel = tls_channel(&announcement.socket_path, good).await.unwrap();
    assert_eq!(
        plugin_health(channel.clone()).await.unwrap(),
        ServingStatus::Serving
    );

    // Messages over tonic's 4 MiB default get through (limit is 256 MiB).
    let big = validate_provider_config::Request {
        config: Some(DynamicValue {
            msgpack: vec![0xc0; 6 << 20],
            json: Vec::new(),
        }),
    };
    ProviderClient::new(channel.clone())
        .max_encoding_message_size(usize::MAX)
        .validate_provider_config(big)
        .await
        .unwrap();

    // go-plugin's stdio and broker services answer Unimplemented.
    let mut stdio =
        tfplugin_proto::plugin::grpc_stdio_client::GrpcStdioClient::new(channel.clone());
    assert_eq!(
        stdio.stream_stdio(()).await.unwrap_err().code(),
        tonic::Code::Unimplemented
    );

    // (d) Shutdown: serve returns quickly, `stop` fires, the directory is gone.
    let started = Instant::now();
    GrpcControllerClient::new(channel)
        .shutdown(Empty {})
        .await
        .unwrap();
    expect_exit(server.task, Duration::from_secs(2)).await;
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "{:?}",
        started.elapsed()
    );
    assert!(server.stop.is_cancelled());
    assert!(!dir.exists());
}

/// The error text when a connection with `config` cannot complete a health
/// check (the TLS handshake fails, or with TLS 1.3 the server's alert ends the
/// first RPC); panics if it is served.
async fn refused(socket: &std::path::Path, config: std::sync::Arc<rustls::ClientConfig>) -> String {
    let attempt = async {
        let channel = tls_channel(socket, config)
            .await
            .map_err(|err| err.to_string())?;
        plugin_health(channel).await.map_err(|err| err.to_string())
    };
    match tokio::time::timeout(Duration::from_secs(5), attempt).await {
        Ok(Ok(status)) => panic!("unexpectedly served: {status:?}"),
        Ok(Err(err)) => err,
        Err(_) => panic!("refusal took too long"),
    }
}

#[tokio::test]
async fn without_client_certificate_it_serves_plaintext() {
    let (config, announced) = config(false, None, None, false);
    let server = start(config, announced).await;
    let announcement = &server.announcement;
    assert!(announcement.handshake_line().ends_with("|grpc|"));
    assert!(announcement.server_cert_der.is_none());

    let channel = plain_channel(&announcement.socket_path).await.unwrap();
    assert_eq!(
        plugin_health(channel.clone()).await.unwrap(),
        ServingStatus::Serving
    );
    let dir = socket_dir(announcement);
    GrpcControllerClient::new(channel)
        .shutdown(Empty {})
        .await
        .unwrap();
    expect_exit(server.task, Duration::from_secs(2)).await;
    assert!(!dir.exists());
}

#[tokio::test]
async fn refuses_to_start_without_protocol_6() {
    let (mut config, mut announced) = config(false, None, None, false);
    config.protocol_versions = Some("5".to_owned());
    let result = tf_transport::serve_with(config, TestProvider, Default::default()).await;
    let err = result.unwrap_err();
    assert!(matches!(
        err,
        tf_transport::TransportError::UnsupportedProtocol(_)
    ));
    assert!(err.to_string().contains("Terraform 0.15 or later"));
    assert!(announced.try_recv().is_err());
}

#[tokio::test]
async fn shutdown_with_an_idle_open_connection_still_exits_fast() {
    let client = terraform_like_client_cert();
    let (config, announced) = config(false, Some(client.pem.clone()), None, false);
    let server = start(config, announced).await;
    let der = server.announcement.server_cert_der.clone().unwrap();
    let tls = client_tls(&der, Some(&client));
    // A second connection that stays open, as Terraform's may.
    let idle = tls_channel(&server.announcement.socket_path, tls.clone())
        .await
        .unwrap();
    assert_eq!(
        plugin_health(idle.clone()).await.unwrap(),
        ServingStatus::Serving
    );
    let channel = tls_channel(&server.announcement.socket_path, tls)
        .await
        .unwrap();
    let started = Instant::now();
    GrpcControllerClient::new(channel)
        .shutdown(Empty {})
        .await
        .unwrap();
    expect_exit(server.task, Duration::from_secs(2)).await;
    assert!(started.elapsed() < Duration::from_millis(1000));
    drop(idle);
}
