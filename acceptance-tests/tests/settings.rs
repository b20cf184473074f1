//! Acceptance tests for `cvm_settings`, against the Coder v1 emulator, on
//! every available Terraform.
//!
//! The emulator's settings PUT replaces the whole object (its default, since the public record
//! does not say that Coder v1 merges): a provider that sent only the keys it manages would switch
//! every other deployment setting off, and these tests would see it in the bodies it sent.

use acceptance_tests::coder::CoderEmulator;
use acceptance_tests::{self as acc, Action};
use serde_json::{Value, json};

/// The settings route.
const PUT_SETTINGS: &str = "PUT /api/v0/workspaces/config";

/// Deployment settings that the configurations below never manage: switches the provider has
/// attributes for (left unset), and keys it has never heard of, of every JSON type.
fn unmanaged_settings() -> Value {
    json!({
        "enable_tun_device": true,
        "enable_process_logging": true,
        "enable_workspaces_as_code": true,
        "enable_p2p": true,
        "cvm_bridge_cidr": "172.19.0.0/30",
        "workspace_idle_minutes": 90,
        "gpu_nodes": {"selector": {"nvidia.com/gpu": "present"}, "taints": ["gpu"]},
        "allowed_kernels": ["5.15", "6.8"],
        "banner": null,
    })
}

#[test]
fn every_write_sends_back_the_settings_it_does_not_manage() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let coder = CoderEmulator::start()?;
        assert_eq!(coder.state()?["settings_put"], json!("replace"));
        coder.set_settings(unmanaged_settings())?;
        let before = coder.settings()?;
        let before = before
            .as_object()
            .expect("the settings are an object")
            .clone();
        // The keys the configurations below manage, at one point or another.
        let managed = ["enable_container_vms", "gpu_vendor", "enable_fuse_device"];
        let untouched: Vec<(&String, &Value)> = before
            .iter()
            .filter(|(key, _)| !managed.contains(&key.as_str()))
            .collect();
        let assert_untouched = |what: &str, object: &Value| {
            for (key, value) in &untouched {
                assert_eq!(
                    object.get(key.as_str()),
                    Some(*value),
                    "{what} dropped or changed {key:?}, which the configuration does not \
                     manage:\n{object:#}"
                );
            }
        };
        let wd = coder.workdir(tf)?;

        wd.config(&coder.config(r#"resource "cvm_settings" "main" { enabled = true }"#))?;
        wd.apply()?;
        let stored = coder.settings()?;
        assert_eq!(stored["enable_container_vms"], json!(true));
        assert_untouched("the settings after create", &stored);

        wd.config(&coder.config(
            r#"
            resource "cvm_settings" "main" {
              enabled     = true
              gpu_vendor  = "nvidia"
              fuse_device = true
            }
            "#,
        ))?;
        wd.apply()?;
        wd.assert_plan_empty()?;
        let stored = coder.settings()?;
        assert_eq!(stored["gpu_vendor"], json!("nvidia"));
        assert_eq!(stored["enable_fuse_device"], json!(true));
        assert_untouched("the settings after update", &stored);

        wd.destroy()?;
        // Destroy put the managed keys back, and nothing else moved.
        assert_eq!(coder.settings()?, Value::Object(before.clone()));

        // What the provider sent: create, update and destroy each PUT the whole object.
        let puts: Vec<_> = coder
            .request_log()?
            .into_iter()
            .filter(|r| r.route == PUT_SETTINGS)
            .collect();
        assert_eq!(
            puts.len(),
            3,
            "one PUT per create, update and destroy: {puts:#?}"
        );
        for put in &puts {
            assert_eq!(put.status, Some(200), "{put:?}");
            let body = put.body.clone().unwrap_or(Value::Null);
            assert_untouched(&format!("PUT #{}", put.seq), &body);
        }
        assert_eq!(
            puts[0].body.as_ref().unwrap()["enable_container_vms"],
            json!(true)
        );
        assert_eq!(
            puts[1].body.as_ref().unwrap()["gpu_vendor"],
            json!("nvidia")
        );
        assert_eq!(
            puts[2].body.as_ref().unwrap(),
            &Value::Object(before),
            "destroy sends the original object back"
        );
        Ok(())
    });
}

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
