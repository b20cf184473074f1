//! `--debug` (reattach) mode: plaintext even with a client cert in the
//! environment, reattach instructions instead of the handshake line,
//! `Shutdown` ignored, SIGINT stops. In its own test binary because it
//! signals the whole test process.

mod common;

use std::time::Duration;

use common::*;
use tfplugin_proto::plugin::Empty;
use tfplugin_proto::plugin::grpc_controller_client::GrpcControllerClient;
use tonic_health::pb::health_check_response::ServingStatus;

#[tokio::test]
async fn debug_mode_serves_plaintext_until_sigint() {
    let client = terraform_like_client_cert();
    let (config, announced) = config(true, Some(client.pem), None, true);
    let server = start(config, announced).await;
    let announcement = &server.announcement;
    assert!(announcement.debug);
    assert!(announcement.server_cert_der.is_none());
    assert_eq!(announcement.pid, std::process::id());

    let text = announcement.stdout_text();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(
            "Provider started. To attach Terraform CLI, set the TF_REATTACH_PROVIDERS \
             environment variable with the following:"
        )
    );
    let json = lines
        .next()
        .and_then(|line| line.strip_prefix("TF_REATTACH_PROVIDERS='"))
        .and_then(|rest| rest.strip_suffix('\''))
        .unwrap();
    let reattach: serde_json::Value = serde_json::from_str(json).unwrap();
    let entry = &reattach["registry.terraform.io/cvm-provider/cvm"];
    assert_eq!(entry["Protocol"], "grpc");
    assert_eq!(entry["ProtocolVersion"], 6);
    assert_eq!(entry["Pid"], std::process::id());
    assert_eq!(entry["Test"], true);
    assert_eq!(entry["Addr"]["Network"], "unix");
    assert_eq!(
        entry["Addr"]["String"],
        announcement.socket_path.to_str().unwrap()
    );

    // Plaintext, and Shutdown does not end a debug server.
    let channel = plain_channel(&announcement.socket_path).await.unwrap();
    assert_eq!(
        plugin_health(channel.clone()).await.unwrap(),
        ServingStatus::Serving
    );
    GrpcControllerClient::new(channel.clone())
        .shutdown(Empty {})
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(!server.task.is_finished());
    assert!(!server.stop.is_cancelled());
    assert_eq!(
        plugin_health(channel).await.unwrap(),
        ServingStatus::Serving
    );

    let dir = socket_dir(announcement);
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("kill -INT {}", std::process::id()))
        .status()
        .unwrap();
    assert!(status.success());
    expect_exit(server.task, Duration::from_secs(2)).await;
    assert!(server.stop.is_cancelled());
    assert!(!dir.exists());
}
