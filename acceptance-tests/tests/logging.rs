//! Acceptance tests for the provider's logs as Terraform shows them: the
//! level Terraform asked for, and secrets never written at any level.

use acceptance_tests::{self as acc, Workdir};

const SECRET_TOKEN: &str = "tok-SECRET-5f1c2a9e";
const SECRET_ENV_TOKEN: &str = "envtok-SECRET-83b0d7";

fn config(extra: &str) -> String {
    let provider = acc::provider_config(&format!(
        "  coder {{\n    url           = \"http://127.0.0.1:9\"\n    {extra}\n  }}"
    ));
    format!(
        r#"{provider}
data "cvm_workspace_image" "x" {{
  user = "coder"
}}
"#
    )
}

/// `TF_LOG_PROVIDER=DEBUG` brings the provider's debug lines into
/// Terraform's log as DEBUG, and nothing finer.
#[test]
fn provider_debug_lines_reach_terraforms_log_at_debug() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let mut wd = Workdir::new(tf)?;
        wd.capture_provider_log("DEBUG");
        wd.config(&config(""))?;
        wd.apply()?;
        let log = wd.log()?;
        let provider_lines: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("provider.terraform-provider-cvm"))
            .collect();
        let debug_request = provider_lines.iter().any(|l| {
            l.contains("[DEBUG] provider.terraform-provider-cvm: received request")
                && l.contains("tf_rpc=ReadDataSource")
        });
        assert!(
            debug_request,
            "no DEBUG 'received request' line for ReadDataSource in:\n{}",
            provider_lines.join("\n")
        );
        assert!(
            !provider_lines
                .iter()
                .any(|l| l.contains("[TRACE] provider.terraform-provider-cvm:")),
            "TRACE lines leaked through a DEBUG filter"
        );
        Ok(())
    });
}

/// Without any log variable the provider writes nothing: Terraform's log
/// then has no provider lines even at TRACE for core.
#[test]
fn provider_is_silent_when_no_provider_level_is_set() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let mut wd = Workdir::new(tf)?;
        let log_path = wd.path().join("core.log").display().to_string();
        wd.env("TF_LOG_CORE", "TRACE").env("TF_LOG_PATH", &log_path);
        wd.config(&config(""))?;
        wd.apply()?;
        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
        assert!(!log.is_empty(), "Terraform wrote no core log");
        assert!(
            !log.contains("provider.terraform-provider-cvm: received request"),
            "the provider logged without being asked"
        );
        Ok(())
    });
}

/// A full TRACE log (Terraform and provider) of plan, apply and destroy
/// never contains the session token, whether it comes from configuration
/// or from the environment.
#[test]
fn trace_log_never_contains_secrets() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let mut wd = Workdir::new(tf)?;
        wd.capture_log("TRACE");
        wd.env("CODER_SESSION_TOKEN", SECRET_ENV_TOKEN);
        wd.config(&config(&format!(r#"session_token = "{SECRET_TOKEN}""#)))?;
        wd.apply()?;
        wd.plan()?;
        wd.destroy()?;
        // The environment token is used when the configuration has none.
        wd.config(&config(""))?;
        wd.apply()?;
        wd.destroy()?;
        let log = wd.log()?;
        assert!(
            log.contains("[TRACE]") && log.contains("provider.terraform-provider-cvm"),
            "the TRACE log did not capture the provider"
        );
        assert!(
            log.contains("configuring the cvm provider"),
            "the provider's configure step is not in the log"
        );
        for secret in [SECRET_TOKEN, SECRET_ENV_TOKEN] {
            if let Some(line) = log.lines().find(|l| l.contains(secret)) {
                panic!("secret {secret} found in the TRACE log: {line}");
            }
        }
        Ok(())
    });
}
