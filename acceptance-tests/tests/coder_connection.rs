//! Acceptance tests of the provider's connection to Coder: configuration
//! errors, a Coder v2 deployment, retries through faults, an unreachable
//! deployment, and secrets kept out of logs.

use std::time::{Duration, Instant};

use acceptance_tests::coder::CoderEmulator;
use acceptance_tests::{self as acc, Action, Workdir};

const PROVIDER_HEAD: &str = r#"
terraform {
  required_providers {
    cvm = { source = "cvm-provider/cvm" }
  }
}
"#;

fn both_resources(url: &str, token_line: &str, password: &str) -> String {
    format!(
        r#"{PROVIDER_HEAD}
provider "cvm" {{
  coder {{
    url = "{url}"
    {token_line}
  }}
}}
resource "cvm_settings" "main" {{
  enabled        = true
  process_logging = true
}}
resource "cvm_registry" "main" {{
  friendly_name = "team"
  registry      = "registry.example.com"
  username      = "robot"
  password      = "{password}"
}}
"#
    )
}

#[test]
fn a_missing_token_is_reported_only_when_a_coder_resource_is_used() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let coder = CoderEmulator::start()?;
        let wd = Workdir::new(tf)?;
        // No Coder resource: the provider works without a token.
        wd.config(&format!(
            "{PROVIDER_HEAD}\nprovider \"cvm\" {{\n  coder {{ url = \"{}\" }}\n}}\ndata \"cvm_workspace_image\" \"x\" {{}}\n",
            coder.url
        ))?;
        wd.apply()?;
        // A Coder resource: the error names what to set.
        wd.config(&both_resources(&coder.url, "", "pw"))?;
        wd.expect_error(Action::Apply, "CODER_SESSION_TOKEN")?;
        Ok(())
    });
}

#[test]
fn a_coder_v2_deployment_is_refused_with_what_v2_offers_instead() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let coder = CoderEmulator::start_v2()?;
        let mut wd = Workdir::new(tf)?;
        wd.env("CODER_SESSION_TOKEN", &coder.token);
        wd.config(&both_resources(&coder.url, "", "pw"))?;
        let out = wd.expect_error(Action::Apply, "Coder v2")?;
        assert!(
            out.contains("template"),
            "no hint at what v2 offers:\n{out}"
        );
        Ok(())
    });
}

#[test]
fn apply_succeeds_while_30_percent_of_answers_are_503_or_429() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let coder = CoderEmulator::start()?;
        coder.faults(0.3, &[503, 429])?;
        let mut wd = Workdir::new(tf)?;
        wd.env("CODER_SESSION_TOKEN", &coder.token);
        wd.capture_provider_log("DEBUG");
        wd.config(&both_resources(&coder.url, "", "pw"))?;
        wd.apply()?;
        wd.assert_plan_empty()?;
        wd.destroy()?;
        // The faults really happened, and were retried.
        let log = wd.log()?;
        let faulted = log
            .lines()
            .filter(|l| {
                l.contains("Coder API call")
                    && (l.contains("status=503") || l.contains("status=429"))
            })
            .count();
        assert!(faulted > 0, "no 503 or 429 reached the provider:\n{log}");
        assert!(log.contains("attempt=2"), "nothing was retried");
        Ok(())
    });
}

#[test]
fn an_unreachable_deployment_fails_within_the_timeout_and_keeps_state() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let mut coder = CoderEmulator::start()?;
        let mut wd = Workdir::new(tf)?;
        wd.env("CODER_SESSION_TOKEN", &coder.token);
        let url = coder.url.clone();
        let with_timeouts = |name: &str| {
            format!(
                r#"{PROVIDER_HEAD}
provider "cvm" {{
  coder {{ url = "{url}" }}
}}
resource "cvm_registry" "main" {{
  friendly_name = "{name}"
  registry      = "registry.example.com"
  username      = "robot"
  password      = "pw"
  timeouts {{
    read   = "8s"
    update = "8s"
    delete = "8s"
  }}
}}
"#
            )
        };
        wd.config(&with_timeouts("team"))?;
        wd.apply()?;
        let id = wd.show()?.resource("cvm_registry.main")?.str("id")?;
        coder.stop();

        wd.config(&with_timeouts("renamed"))?;
        let started = Instant::now();
        let out = wd.expect_error(Action::Apply, &regex::escape(url.trim_end_matches('/')))?;
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "took {:?} to give up:\n{out}",
            started.elapsed()
        );
        // Nothing already created is lost from state.
        let state = wd.show()?;
        assert_eq!(state.resource("cvm_registry.main")?.str("id")?, id);
        wd.keep_resources_on_drop();
        Ok(())
    });
}

#[test]
fn a_trace_log_of_create_update_destroy_holds_no_token_or_password() {
    const TOKEN_IN_CONFIG: &str = "cfg-token-7d1e";
    acc::run(|tf| -> Result<(), acc::Error> {
        let coder = CoderEmulator::start_with_token(TOKEN_IN_CONFIG)?;
        let mut wd = Workdir::new(tf)?;
        wd.capture_log("TRACE");
        let token_line = format!(r#"session_token = "{TOKEN_IN_CONFIG}""#);
        wd.config(&both_resources(&coder.url, &token_line, "registry-pass-1"))?;
        wd.apply()?;
        wd.config(&both_resources(&coder.url, &token_line, "registry-pass-2"))?;
        wd.apply()?;
        wd.destroy()?;
        let log = wd.log()?;
        assert!(
            log.contains("provider.terraform-provider-cvm"),
            "no provider lines in the log"
        );
        for secret in [TOKEN_IN_CONFIG, "registry-pass-1", "registry-pass-2"] {
            if let Some(line) = log.lines().find(|l| l.contains(secret)) {
                panic!("{secret} appears in the TRACE log: {line}");
            }
        }
        Ok(())
    });
}
