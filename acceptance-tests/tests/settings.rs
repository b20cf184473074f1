//! Acceptance tests for `cvm_settings`, against the Coder v1 emulator, on
//! every available Terraform.

use acceptance_tests::coder::CoderEmulator;
use acceptance_tests::{self as acc, Action};
use serde_json::json;

#[test]
fn create_update_import_and_destroy_restores_the_previous_values() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let coder = CoderEmulator::start()?;
        // Values an admin set by hand before Terraform.
        coder.set_settings(json!({"enable_tun_device": true, "enable_p2p": true}))?;
        let wd = coder.workdir(tf)?;

        wd.config(&coder.config(
            r#"
            resource "cvm_settings" "main" {
              enabled     = true
              gpu_vendor  = "nvidia"
              tun_device  = false
            }
            "#,
        ))?;
        wd.apply()?;
        wd.assert_plan_empty()?;
        let settings = coder.settings()?;
        assert_eq!(settings["enable_container_vms"], json!(true));
        assert_eq!(settings["gpu_vendor"], json!("nvidia"));
        assert_eq!(settings["enable_tun_device"], json!(false));
        // Read-modify-write: keys the provider does not know survive.
        assert_eq!(settings["enable_p2p"], json!(true));
        let state = wd.show()?;
        let main = state.resource("cvm_settings.main")?;
        assert_eq!(main.str("id")?, "settings");
        // Unmanaged switches show the deployment's values.
        assert_eq!(main.get("fuse_device")?, json!(false));

        // Update in place: GPUs off, caching on.
        wd.config(&coder.config(
            r#"
            resource "cvm_settings" "main" {
              enabled    = true
              gpu_vendor = ""
              tun_device = false
              caching {
                enabled           = true
                auto_load_shiftfs = true
              }
              extra_settings = {
                enable_workspaces_as_code = jsonencode(true)
              }
            }
            "#,
        ))?;
        let plan = wd.plan()?;
        assert_eq!(plan.actions("cvm_settings.main")?, vec!["update"]);
        wd.apply()?;
        wd.assert_plan_empty()?;
        let settings = coder.settings()?;
        assert_eq!(settings["enable_cvm_caching"], json!(true));
        assert_eq!(settings["enable_shiftfs_auto_load"], json!(true));
        assert_eq!(settings["enable_workspaces_as_code"], json!(true));
        assert_eq!(settings["gpu_vendor"], json!(""));

        wd.import_and_compare("cvm_settings.main", "settings", &["extra_settings"])?;

        wd.destroy()?;
        let settings = coder.settings()?;
        assert_eq!(settings["enable_container_vms"], json!(false));
        assert_eq!(settings["gpu_vendor"], json!(""));
        assert_eq!(
            settings["enable_tun_device"],
            json!(true),
            "restored to the admin's value"
        );
        assert_eq!(settings["enable_cvm_caching"], json!(false));
        assert_eq!(settings["enable_workspaces_as_code"], json!(false));
        assert_eq!(settings["enable_p2p"], json!(true));
        Ok(())
    });
}

#[test]
fn a_change_made_in_the_ui_shows_in_the_next_plan() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let coder = CoderEmulator::start()?;
        let wd = coder.workdir(tf)?;
        wd.config(&coder.config(
            r#"
            resource "cvm_settings" "main" {
              enabled        = true
              extra_settings = { enable_workspaces_as_code = jsonencode(true) }
            }
            "#,
        ))?;
        wd.apply()?;
        wd.assert_plan_empty()?;

        coder.set_settings(
            json!({"enable_container_vms": false, "enable_workspaces_as_code": false}),
        )?;
        let plan = wd.plan()?;
        assert_eq!(plan.actions("cvm_settings.main")?, vec!["update"]);
        wd.apply()?;
        wd.assert_plan_empty()?;
        assert_eq!(coder.settings()?["enable_container_vms"], json!(true));
        assert_eq!(coder.settings()?["enable_workspaces_as_code"], json!(true));

        // A change to an unmanaged switch is shown in state, not planned.
        coder.set_settings(json!({"enable_fuse_device": true}))?;
        wd.assert_plan_empty()?;
        wd.refresh()?;
        let state = wd.show()?;
        assert_eq!(
            state.resource("cvm_settings.main")?.get("fuse_device")?,
            json!(true)
        );
        Ok(())
    });
}

#[test]
fn bad_input_is_reported_on_the_attribute() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let coder = CoderEmulator::start()?;
        let wd = coder.workdir(tf)?;
        let cases = [
            (
                r#"resource "cvm_settings" "s" { gpu_vendor = "amd" }"#,
                "AMD GPUs",
                r#"gpu_vendor = "amd""#,
            ),
            (
                r#"resource "cvm_settings" "s" {
                     enabled = false
                     caching { enabled = true }
                   }"#,
                "Caching Needs CVMs",
                "caching { enabled = true }",
            ),
            (
                r#"resource "cvm_settings" "s" {
                     enabled    = true
                     gpu_vendor = "nvidia"
                     caching { enabled = true }
                   }"#,
                "GPUs are not supported with cached CVMs",
                r#"gpu_vendor = "nvidia""#,
            ),
            (
                r#"resource "cvm_settings" "s" {
                     extra_settings = { enable_container_vms = "true" }
                   }"#,
                "managed by the enabled attribute",
                "extra_settings",
            ),
        ];
        for (body, message, source) in cases {
            wd.config(&coder.config(body))?;
            let out = wd.expect_error(Action::Plan, message)?;
            assert!(
                out.contains(source),
                "diagnostic does not point at {source}:\n{out}"
            );
            assert!(!out.contains("panic"), "{out}");
        }
        // Nothing reached the server.
        let counts = coder.request_counts()?;
        assert!(
            !counts.keys().any(|k| k.starts_with("PUT")),
            "a bad plan wrote settings: {counts:?}"
        );
        Ok(())
    });
}

#[test]
fn caching_warns_that_it_is_alpha() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let coder = CoderEmulator::start()?;
        let wd = coder.workdir(tf)?;
        wd.config(&coder.config(
            r#"
            resource "cvm_settings" "main" {
              enabled = true
              caching { enabled = true }
            }
            "#,
        ))?;
        let out = wd.apply()?;
        let text = format!("{}{}", out.stdout, out.stderr);
        assert!(text.contains("Cached CVMs Are Alpha"), "{text}");
        assert!(text.contains("secure boot"), "{text}");
        Ok(())
    });
}
