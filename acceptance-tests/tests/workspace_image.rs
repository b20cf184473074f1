//! Acceptance tests for `data.cvm_workspace_image` and the provider's
//! schema, on every available Terraform.

use acceptance_tests::{self as acc, Action, Terraform, Workdir};

const PROVIDER: &str = r#"
terraform {
  required_providers {
    cvm = { source = "cvm-provider/cvm" }
  }
}
"#;

fn config(body: &str) -> String {
    format!("{PROVIDER}\n{body}")
}

#[test]
fn renders_applies_replans_empty_and_destroys() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let wd = Workdir::new(tf)?;
        wd.config(&config(
            r#"
            data "cvm_workspace_image" "dev" {
              base_image = "ubuntu:20.04"
              packages   = ["git", "curl"]
              user       = "coder"
            }
            output "dockerfile" { value = data.cvm_workspace_image.dev.dockerfile }
            output "init"       { value = data.cvm_workspace_image.dev.init_path }
            "#,
        ))?;
        wd.apply()?;
        wd.assert_plan_empty()?;

        let state = wd.show()?;
        let image = state.data("data.cvm_workspace_image.dev")?;
        let dockerfile = image.str("dockerfile")?;
        assert!(dockerfile.contains("FROM ubuntu:20.04\n"), "{dockerfile}");
        assert!(
            dockerfile.contains("RUN ln -sf /lib/systemd/systemd /sbin/init"),
            "{dockerfile}"
        );
        assert!(
            dockerfile.contains("RUN systemctl enable docker"),
            "{dockerfile}"
        );
        assert!(dockerfile.contains("/etc/sudoers.d/coder"), "{dockerfile}");
        assert_eq!(image.str("init_path")?, "/sbin/init");
        assert_eq!(state.output("init")?, serde_json::json!("/sbin/init"));

        wd.destroy()?;
        assert!(!wd.show()?.has_managed_resources());
        Ok(())
    });
}

#[test]
fn defaults_apply_when_only_the_block_is_given() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let wd = Workdir::new(tf)?;
        wd.config(&config(r#"data "cvm_workspace_image" "min" {}"#))?;
        wd.apply()?;
        wd.assert_plan_empty()?;
        let state = wd.show()?;
        let dockerfile = state
            .data("data.cvm_workspace_image.min")?
            .str("dockerfile")?;
        assert!(dockerfile.contains("FROM ubuntu:22.04\n"), "{dockerfile}");
        assert!(dockerfile.contains("docker.io"), "{dockerfile}");
        assert!(!dockerfile.contains("sudo"), "{dockerfile}");
        Ok(())
    });
}

#[test]
fn schema_json_shows_the_provider_and_data_source() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let wd = Workdir::new(tf)?;
        wd.config(PROVIDER)?;
        let schema = wd.schema_json()?;
        let provider = &schema["provider_schemas"][wd.provider_address().as_str()];
        assert!(provider.is_object(), "provider missing from {schema}");
        let attrs = &provider["data_source_schemas"]["cvm_workspace_image"]["block"]["attributes"];
        for name in [
            "base_image",
            "packages",
            "docker",
            "user",
            "dockerfile",
            "init_path",
        ] {
            assert!(attrs[name].is_object(), "{name} missing from {attrs}");
        }
        assert_eq!(attrs["dockerfile"]["computed"], serde_json::json!(true));
        let token = &provider["provider"]["block"]["block_types"]["coder"]["block"]["attributes"]["session_token"];
        assert_eq!(token["sensitive"], serde_json::json!(true));
        let kubernetes =
            &provider["provider"]["block"]["block_types"]["kubernetes"]["block"]["attributes"];
        for secret in ["token", "client_key"] {
            assert_eq!(
                kubernetes[secret]["sensitive"],
                serde_json::json!(true),
                "kubernetes.{secret}"
            );
        }
        Ok(())
    });
}

/// Each bad input is an error pointing at the attribute: Terraform prints
/// the configuration line the diagnostic's path resolves to.
#[test]
fn bad_input_is_reported_on_the_attribute() {
    let cases: &[(&str, &str, &str)] = &[
        (
            r#"base_image = """#,
            "must not be empty",
            r#"base_image = """#,
        ),
        (
            r#"base_image = "Ubuntu Latest""#,
            "not an image reference",
            r#"base_image = "Ubuntu Latest""#,
        ),
        (
            r#"base_image = "ubuntu:""#,
            "tag",
            r#"base_image = "ubuntu:""#,
        ),
        (
            r#"packages = ["git", "curl; rm -rf /"]"#,
            "is not an apt package name",
            r#"packages = \["git", "curl; rm -rf /"\]"#,
        ),
        (
            r#"packages = ["$(id)"]"#,
            "is not an apt package name",
            r#"packages = \["\$\(id\)"\]"#,
        ),
        (r#"user = "Root!""#, "Linux user name", r#"user = "Root!""#),
    ];
    acc::run(|tf| -> Result<(), acc::Error> {
        let wd = Workdir::new(tf)?;
        for (attribute, message, source_line) in cases {
            wd.config(&config(&format!(
                "data \"cvm_workspace_image\" \"bad\" {{\n  {attribute}\n}}\n"
            )))?;
            let out = wd.expect_error(Action::Plan, message)?;
            // The attribute's own source line is shown under the message.
            let line =
                regex::Regex::new(source_line).map_err(|e| acc::Error::Assertion(e.to_string()))?;
            assert!(
                line.is_match(&out),
                "the diagnostic does not point at {attribute}:\n{out}"
            );
            assert!(!out.contains("panic"), "{out}");
        }
        Ok(())
    });
}

#[test]
fn bad_coder_url_is_reported_on_the_provider_attribute() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let wd = Workdir::new(tf)?;
        wd.config(&config(
            r#"
            provider "cvm" {
              coder {
                url = "coder.example.com"
              }
            }
            data "cvm_workspace_image" "x" {}
            "#,
        ))?;
        let out = wd.expect_error(Action::Plan, "Invalid Coder URL")?;
        assert!(out.contains(r#"url = "coder.example.com""#), "{out}");
        Ok(())
    });
}

#[test]
fn parse_image_reference_function_works_on_terraform_1_8_and_later() {
    acc::run_where(
        Terraform::supports_functions,
        "provider functions need Terraform 1.8",
        |tf| -> Result<(), acc::Error> {
            let wd = Workdir::new(tf)?;
            wd.config(&config(
                r#"
                output "ref" {
                  value = provider::cvm::parse_image_reference("registry.example.com:5000/team/dev:2024")
                }
                output "hub" {
                  value = provider::cvm::parse_image_reference("ubuntu")
                }
                "#,
            ))?;
            wd.apply()?;
            wd.assert_plan_empty()?;
            let state = wd.show()?;
            let parsed = state.output("ref")?;
            assert_eq!(parsed["registry"], "registry.example.com:5000");
            assert_eq!(parsed["repository"], "team/dev");
            assert_eq!(parsed["tag"], "2024");
            assert!(parsed["digest"].is_null());
            assert_eq!(state.output("hub")?["repository"], "library/ubuntu");

            wd.config(&config(
                r#"output "bad" { value = provider::cvm::parse_image_reference("Not An Image") }"#,
            ))?;
            wd.expect_error(Action::Plan, "Not An Image")?;
            Ok(())
        },
    );
}
