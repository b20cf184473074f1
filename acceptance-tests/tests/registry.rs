//! Acceptance tests for `cvm_registry`, against the Coder v1 emulator, on
//! every available Terraform.

use acceptance_tests::coder::CoderEmulator;
use acceptance_tests::{self as acc, Action, Terraform};
use serde_json::json;

fn registry(name: &str, host: &str, password: &str) -> String {
    format!(
        r#"
resource "cvm_registry" "main" {{
  friendly_name = "{name}"
  registry      = "{host}"
  username      = "robot"
  password      = "{password}"
}}
"#
    )
}

fn registry_state(coder: &CoderEmulator, id: &str) -> Result<serde_json::Value, acc::Error> {
    let state = coder.state()?;
    let found = state["registries"]
        .as_array()
        .and_then(|all| all.iter().find(|r| r["id"] == json!(id)))
        .cloned();
    found.ok_or_else(|| {
        acc::Error::Assertion(format!("registry {id} not in emulator state {state}"))
    })
}

#[test]
fn create_update_replace_import_and_destroy() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let coder = CoderEmulator::start()?;
        let wd = coder.workdir(tf)?;
        wd.config(&coder.config(&registry("team", "registry.example.com", "s3cret-1")))?;
        wd.apply()?;
        wd.assert_plan_empty()?;
        let state = wd.show()?;
        let main = state.resource("cvm_registry.main")?;
        let id = main.str("id")?;
        assert_eq!(main.str("organization_id")?, "default");
        assert!(!main.str("created_at")?.is_empty());
        let stored = registry_state(&coder, &id)?;
        assert_eq!(stored["friendly_name"], json!("team"));
        assert_eq!(stored["password_sha256"], json!(sha256_hex("s3cret-1")));

        // Update in place: only the name changes, and only it is sent.
        wd.config(&coder.config(&registry(
            "team-renamed",
            "registry.example.com",
            "s3cret-1",
        )))?;
        assert_eq!(wd.plan()?.actions("cvm_registry.main")?, vec!["update"]);
        wd.apply()?;
        wd.assert_plan_empty()?;
        let last_patch = coder.last_request_body("PATCH /api/v0/registries/{id}")?;
        assert_eq!(last_patch, json!({"friendly_name": "team-renamed"}));
        assert_eq!(wd.show()?.resource("cvm_registry.main")?.str("id")?, id);

        // A new password is sent (and never echoed back).
        wd.config(&coder.config(&registry(
            "team-renamed",
            "registry.example.com",
            "s3cret-2",
        )))?;
        wd.apply()?;
        wd.assert_plan_empty()?;
        assert_eq!(
            registry_state(&coder, &id)?["password_sha256"],
            json!(sha256_hex("s3cret-2"))
        );

        // Another organization: replaced, with a new id.
        wd.config(&coder.config(
            r#"
            resource "cvm_registry" "main" {
              organization_id = "platform"
              friendly_name   = "team-renamed"
              registry        = "registry.example.com"
              username        = "robot"
              password        = "s3cret-2"
            }
            "#,
        ))?;
        let plan = wd.plan()?;
        assert_eq!(plan.actions("cvm_registry.main")?, vec!["delete", "create"]);
        wd.apply()?;
        wd.assert_plan_empty()?;
        let new_id = wd.show()?.resource("cvm_registry.main")?.str("id")?;
        assert_ne!(new_id, id);

        // Import: everything matches except the credentials Coder never returns.
        wd.import_and_compare("cvm_registry.main", &new_id, &["username", "password"])?;

        wd.destroy()?;
        let remaining = coder.state()?["registries"].as_array().map_or(0, Vec::len);
        assert_eq!(remaining, 0);
        Ok(())
    });
}

#[test]
fn drift_and_out_of_band_delete_are_planned() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let coder = CoderEmulator::start()?;
        let wd = coder.workdir(tf)?;
        wd.config(&coder.config(&registry("team", "registry.example.com", "pw")))?;
        wd.apply()?;
        let id = wd.show()?.resource("cvm_registry.main")?.str("id")?;

        // Renamed in the UI: the plan puts the name back.
        coder.patch_registry(&id, json!({"friendly_name": "clicked"}))?;
        assert_eq!(wd.plan()?.actions("cvm_registry.main")?, vec!["update"]);
        wd.apply()?;
        wd.assert_plan_empty()?;
        assert_eq!(registry_state(&coder, &id)?["friendly_name"], json!("team"));

        // Deleted in the UI: the plan recreates it.
        coder.delete_registry_out_of_band(&id)?;
        assert_eq!(wd.plan()?.actions("cvm_registry.main")?, vec!["create"]);
        wd.apply()?;
        wd.assert_plan_empty()?;
        let new_id = wd.show()?.resource("cvm_registry.main")?.str("id")?;
        assert_ne!(new_id, id);
        Ok(())
    });
}

#[test]
fn delete_is_refused_while_images_use_the_registry() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let coder = CoderEmulator::start()?;
        let wd = coder.workdir(tf)?;
        wd.config(&coder.config(&registry("team", "registry.example.com", "pw")))?;
        wd.apply()?;
        let id = wd.show()?.resource("cvm_registry.main")?.str("id")?;
        let image = coder.create_image(&id)?;

        wd.expect_error(Action::Destroy, "(?i)in use|images")?;
        assert!(
            wd.show()?.has_managed_resources(),
            "the registry left the state"
        );

        coder.delete_image(&image)?;
        wd.destroy()?;
        assert!(!wd.show()?.has_managed_resources());
        Ok(())
    });
}

#[test]
fn write_only_password_stays_out_of_state() {
    acc::run_where(
        Terraform::supports_write_only,
        "write-only attributes need Terraform 1.11",
        |tf| -> Result<(), acc::Error> {
            let coder = CoderEmulator::start()?;
            let wd = coder.workdir(tf)?;
            let body = |password: &str, version: u32| {
                format!(
                    r#"
                    resource "cvm_registry" "main" {{
                      friendly_name       = "wo"
                      registry            = "registry.example.com:5000"
                      username            = "robot"
                      password_wo         = "{password}"
                      password_wo_version = {version}
                    }}
                    "#
                )
            };
            wd.config(&coder.config(&body("wo-secret-1", 1)))?;
            wd.apply()?;
            wd.assert_plan_empty()?;
            let state_file = std::fs::read_to_string(wd.path().join("terraform.tfstate"))
                .map_err(|e| acc::Error::Assertion(e.to_string()))?;
            assert!(
                !state_file.contains("wo-secret-1"),
                "the write-only password is in state"
            );
            let id = wd.show()?.resource("cvm_registry.main")?.str("id")?;
            assert_eq!(
                registry_state(&coder, &id)?["password_sha256"],
                json!(sha256_hex("wo-secret-1"))
            );

            // A new password alone is invisible; with a new version it is sent.
            wd.config(&coder.config(&body("wo-secret-2", 1)))?;
            wd.assert_plan_empty()?;
            wd.config(&coder.config(&body("wo-secret-2", 2)))?;
            wd.apply()?;
            wd.assert_plan_empty()?;
            assert_eq!(
                registry_state(&coder, &id)?["password_sha256"],
                json!(sha256_hex("wo-secret-2"))
            );
            let state_file = std::fs::read_to_string(wd.path().join("terraform.tfstate"))
                .map_err(|e| acc::Error::Assertion(e.to_string()))?;
            assert!(!state_file.contains("wo-secret-2"));
            Ok(())
        },
    );
}

#[test]
fn write_only_password_is_refused_by_older_terraform() {
    acc::run_where(
        |tf: &Terraform| !tf.supports_write_only(),
        "only Terraform before 1.11 lacks write-only attributes",
        |tf| -> Result<(), acc::Error> {
            let coder = CoderEmulator::start()?;
            let wd = coder.workdir(tf)?;
            wd.config(&coder.config(
                r#"
                resource "cvm_registry" "main" {
                  friendly_name       = "wo"
                  registry            = "registry.example.com"
                  username            = "robot"
                  password_wo         = "never-stored"
                  password_wo_version = 1
                }
                "#,
            ))?;
            wd.expect_error(Action::Plan, "Write-Only Attribute Not Supported")?;
            Ok(())
        },
    );
}

#[test]
fn bad_input_is_reported_on_the_attribute() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let coder = CoderEmulator::start()?;
        let wd = coder.workdir(tf)?;
        let cases = [
            (
                r#"resource "cvm_registry" "r" {
                     friendly_name = ""
                     registry      = "registry.example.com"
                     username      = "robot"
                     password      = "pw"
                   }"#,
                "must not be empty",
                r#"friendly_name = """#,
            ),
            (
                r#"resource "cvm_registry" "r" {
                     friendly_name = "x"
                     registry      = "https://registry.example.com/v2"
                     username      = "robot"
                     password      = "pw"
                   }"#,
                "registry host name",
                r#"registry      = "https://registry.example.com/v2""#,
            ),
            (
                r#"resource "cvm_registry" "r" {
                     friendly_name       = "x"
                     registry            = "registry.example.com"
                     username            = "robot"
                     password            = "pw"
                     password_wo         = "pw"
                     password_wo_version = 1
                   }"#,
                "Two Passwords Given",
                r#"password_wo         = "pw""#,
            ),
            (
                r#"resource "cvm_registry" "r" {
                     friendly_name = "x"
                     registry      = "registry.example.com"
                     username      = "robot"
                   }"#,
                "Missing Password",
                r#"resource "cvm_registry" "r""#,
            ),
        ];
        for (body, message, source) in cases {
            // Terraform before 1.11 refuses write-only attributes first.
            if body.contains("password_wo") && !tf.supports_write_only() {
                continue;
            }
            wd.config(&coder.config(body))?;
            let out = wd.expect_error(Action::Plan, message)?;
            assert!(
                out.contains(source),
                "diagnostic does not point at {source}:\n{out}"
            );
            assert!(!out.contains("panic"), "{out}");
        }
        // The secret given in a bad configuration is not echoed.
        Ok(())
    });
}

fn sha256_hex(text: &str) -> String {
    acceptance_tests::coder::sha256_hex(text)
}
