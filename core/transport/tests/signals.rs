//! Signals in normal (Terraform-managed) mode: SIGINT is ignored, SIGTERM
//! stops the server and removes the socket. In its own test binary because it
//! signals the whole test process.

mod common;

use std::time::Duration;

use common::*;
use tonic_health::pb::health_check_response::ServingStatus;

/// Sends `signal` (e.g. "INT") to this test process.
pub fn send_signal(signal: &str) {
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("kill -{signal} {}", std::process::id()))
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn sigint_is_ignored_and_sigterm_stops_cleanly() {
    let client = terraform_like_client_cert();
    let (config, announced) = config(false, Some(client.pem.clone()), None, true);
    let server = start(config, announced).await;
    let dir = socket_dir(&server.announcement);
    let der = server.announcement.server_cert_der.clone().unwrap();
    let tls = client_tls(&der, Some(&client));

    send_signal("INT");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!server.task.is_finished());
    assert!(!server.stop.is_cancelled());
    let channel = tls_channel(&server.announcement.socket_path, tls)
        .await
        .unwrap();
    assert_eq!(
        plugin_health(channel).await.unwrap(),
        ServingStatus::Serving
    );

    send_signal("TERM");
    expect_exit(server.task, Duration::from_secs(2)).await;
    assert!(server.stop.is_cancelled());
    assert!(!dir.exists());
}
