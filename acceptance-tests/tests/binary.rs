//! The provider binary run by hand, not by Terraform.

use std::process::Command;

#[test]
fn running_the_binary_by_hand_explains_and_exits_non_zero() {
    let binary = acceptance_tests::provider_binary().expect("the provider builds");
    let output = Command::new(&binary.path)
        .env_remove("TF_PLUGIN_MAGIC_COOKIE")
        .output()
        .expect("the binary runs");
    assert!(!output.status.success(), "exit status {:?}", output.status);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("Terraform"), "no explanation: {stderr}");
    assert!(
        stderr.contains("--debug"),
        "no hint about --debug: {stderr}"
    );
    assert!(
        output.stdout.is_empty(),
        "stdout must stay empty: {:?}",
        output.stdout
    );
}

#[test]
fn a_wrong_cookie_is_refused_too() {
    let binary = acceptance_tests::provider_binary().expect("the provider builds");
    let output = Command::new(&binary.path)
        .env("TF_PLUGIN_MAGIC_COOKIE", "not-the-cookie")
        .output()
        .expect("the binary runs");
    assert!(!output.status.success());
}

#[test]
fn version_flag_prints_the_version() {
    let binary = acceptance_tests::provider_binary().expect("the provider builds");
    let output = Command::new(&binary.path)
        .arg("--version")
        .output()
        .expect("the binary runs");
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.starts_with("terraform-provider-cvm "), "{stdout}");
}
