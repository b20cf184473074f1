//! Acceptance tests of the provider's connection to Coder: configuration
//! errors, a Coder v2 deployment, retries through faults, an unreachable
//! deployment, and secrets kept out of logs.

use std::time::{Duration, Instant};

use acceptance_tests::coder::CoderEmulator;
use acceptance_tests::{self as acc, Action, Workdir};
use serde_json::json;

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
        // The v2 emulator answers 200 with its web page outside /api/v2, as Coder v2 does, so
        // only /api/v2/buildinfo tells it apart.
        let coder = CoderEmulator::start_v2()?;
        let mut wd = Workdir::new(tf)?;
        wd.env("CODER_SESSION_TOKEN", &coder.token);
        wd.config(&both_resources(&coder.url, "", "pw"))?;
        let detail = format!(
            "The deployment at {}/ is Coder 2.18.0, a Coder v2 deployment: Coder v2 has no \
             site-wide CVM switch and no registry API, which this resource manages (they are \
             Coder v1's). In Coder v2, CVMs are chosen per template: manage the template with \
             cvm_coder_template (its workspace pod gets the sysbox-runc runtime class, or runs \
             in envbox), and keep image pull credentials in Kubernetes docker-registry secrets. \
             Point coder.url at a Coder v1 deployment to use cvm_settings and cvm_registry.",
            coder.url
        );
        let out = wd.expect_error(Action::Apply, &regex::escape(&detail))?;
        assert!(out.contains("Error: Coder v2 Has No Such Setting"), "{out}");
        assert!(!out.contains("Http://"), "the URL was capitalised:\n{out}");
        // Nothing was written to the v1 routes (which are web pages there).
        let requests = coder.request_log()?;
        assert!(requests.iter().all(|r| r.method == "GET"), "{requests:#?}");
        assert!(
            requests.iter().any(|r| r.path == "/api/v2/buildinfo"),
            "{requests:#?}"
        );
        Ok(())
    });
}

#[test]
fn apply_succeeds_while_30_percent_of_answers_are_503_or_429() {
    /// The fault plan's seed: the same requests in the same order get the same faults.
    const SEED: u64 = 30;
    acc::run(|tf| -> Result<(), acc::Error> {
        let coder = CoderEmulator::start()?;
        coder.faults(0.3, &[503, 429], SEED)?;
        let mut wd = Workdir::new(tf)?;
        wd.env("CODER_SESSION_TOKEN", &coder.token);
        // One operation at a time: the provider's requests then arrive in an order that does not
        // depend on scheduling (so the seed replays the same faults), and each retry is the
        // request right after its fault.
        for command in ["plan", "apply", "destroy"] {
            wd.env(&format!("TF_CLI_ARGS_{command}"), "-parallelism=1");
        }
        wd.config(&both_resources(&coder.url, "", "pw"))?;
        wd.apply()?;
        let state = coder.state()?;
        assert_eq!(
            state["registries"].as_array().map(Vec::len),
            Some(1),
            "a retried create made more than one registry: {state}"
        );
        assert_eq!(state["settings"]["enable_process_logging"], json!(true));
        wd.assert_plan_empty()?;
        wd.destroy()?;
        assert_eq!(coder.state()?["registries"], json!([]));

        // The faults really happened, and each was retried: the request right after a fault
        // is the same call (method, path, query and body), until one is answered without a
        // fault and without a retryable status.
        let log = coder.request_log()?;
        let faults: Vec<usize> = (0..log.len()).filter(|&i| log[i].fault).collect();
        let statuses: Vec<Option<u16>> = faults.iter().map(|&i| log[i].status).collect();
        assert!(
            faults.len() >= 3 && statuses.contains(&Some(503)) && statuses.contains(&Some(429)),
            "seed {SEED}: expected several 503 and 429 faults, got {statuses:?} in {} requests",
            log.len()
        );
        for &i in &faults {
            let fault = &log[i];
            let next = log.get(i + 1).unwrap_or_else(|| {
                panic!("seed {SEED}: the fault on request {fault:?} was never retried")
            });
            assert!(
                next.same_call_as(fault),
                "seed {SEED}: after the fault on {fault:?} came a different call {next:?}"
            );
        }
        for (i, request) in log.iter().enumerate() {
            let follows_fault = i > 0 && log[i - 1].fault;
            if follows_fault && !request.fault {
                assert!(
                    !matches!(request.status, Some(429 | 502 | 503 | 504) | None),
                    "seed {SEED}: a retry ended in {request:?}"
                );
            }
        }
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
