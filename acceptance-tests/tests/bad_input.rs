//! Bad input is refused at validate time, on the attribute that holds it, with a sentence saying
//! what is allowed, and before the provider calls anything.
//!
//! Each case runs the real `terraform validate -json` and reads the diagnostics Terraform prints:
//! the summary and detail the provider wrote, and the source range Terraform resolved the
//! diagnostic's attribute path to (the highlighted expression of the offending attribute). Then
//! `terraform plan` must fail the same way, and the peers must have seen no request: the Coder
//! emulator's request log stays empty, and the Kubernetes API server is a socket nobody accepts
//! on, whose backlog must still be empty.

use std::net::TcpListener;

use acceptance_tests::coder::CoderEmulator;
use acceptance_tests::{self as acc, Action, Terraform, Workdir};
use serde_json::Value;

/// One bad input: the configuration body, and what the diagnostic must say and point at.
struct Case {
    /// Resource, data source or provider block text.
    body: String,
    /// The diagnostic's summary, exactly.
    summary: &'static str,
    /// Text the detail must contain (what is allowed).
    detail: &'static str,
    /// The source text Terraform highlights for the diagnostic's attribute path: the
    /// attribute's whole expression, or for a map element (the path ends in a key) the text
    /// inside the element's quotes.
    highlight: String,
}

fn case(body: &str, summary: &'static str, detail: &'static str, highlight: &str) -> Case {
    Case {
        body: body.to_owned(),
        summary,
        detail,
        highlight: highlight.to_owned(),
    }
}

const REQUIRED_PROVIDERS: &str = r#"
terraform {
  required_providers {
    cvm = { source = "cvm-provider/cvm" }
  }
}
"#;

/// An error diagnostic of `terraform validate -json`, with the highlighted source text.
#[derive(Debug)]
struct Diagnostic {
    summary: String,
    detail: String,
    highlighted: String,
}

fn diagnostics(json: &Value) -> Vec<Diagnostic> {
    json["diagnostics"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["severity"] == "error")
        .map(|d| {
            let code = d["snippet"]["code"].as_str().unwrap_or_default();
            let start = d["snippet"]["highlight_start_offset"].as_u64();
            let end = d["snippet"]["highlight_end_offset"].as_u64();
            let highlighted = match (start, end) {
                (Some(s), Some(e)) => code
                    .get(usize::try_from(s).unwrap_or(0)..usize::try_from(e).unwrap_or(0))
                    .unwrap_or_default()
                    .to_owned(),
                _ => String::new(),
            };
            Diagnostic {
                summary: d["summary"].as_str().unwrap_or_default().to_owned(),
                detail: d["detail"].as_str().unwrap_or_default().to_owned(),
                highlighted,
            }
        })
        .collect()
}

/// Runs `terraform validate -json` on the current configuration: it must fail with exactly one
/// error, the one `case` describes. Then `terraform plan` must fail with the same summary.
fn refused(wd: &Workdir, case: &Case) -> Result<(), acc::Error> {
    let output = wd.terraform_raw(&["validate", "-json", "-no-color"])?;
    let json: Value = serde_json::from_str(&output.stdout).map_err(|e| {
        acc::Error::Assertion(format!(
            "`terraform validate -json` printed no JSON ({e}):\n{}\n{}",
            output.stdout, output.stderr
        ))
    })?;
    let found = diagnostics(&json);
    let context = || format!("case:\n{}\nvalidate printed:\n{}", case.body, output.stdout);
    if output.status.success() || json["valid"] != Value::Bool(false) {
        return Err(acc::Error::Assertion(format!(
            "validate accepted the bad input; {}",
            context()
        )));
    }
    if found.len() != 1 {
        return Err(acc::Error::Assertion(format!(
            "expected exactly one error, got {found:#?}; {}",
            context()
        )));
    }
    let d = &found[0];
    if d.summary != case.summary || !d.detail.contains(case.detail) {
        return Err(acc::Error::Assertion(format!(
            "expected {:?} with a detail containing {:?}, got {d:#?}; {}",
            case.summary,
            case.detail,
            context()
        )));
    }
    if d.highlighted != case.highlight {
        return Err(acc::Error::Assertion(format!(
            "the diagnostic points at {:?}, not at {:?}; {}",
            d.highlighted,
            case.highlight,
            context()
        )));
    }
    wd.expect_error(Action::Plan, &regex::escape(case.summary))?;
    Ok(())
}

fn io_error(action: &str, e: std::io::Error) -> acc::Error {
    acc::Error::Assertion(format!("{action}: {e}"))
}

/// A provider block for a Kubernetes API server at `listener`, which never accepts.
fn kube_provider(listener: &TcpListener) -> Result<String, acc::Error> {
    let address = listener
        .local_addr()
        .map_err(|e| io_error("reading the listener's address", e))?;
    Ok(acc::provider_config(&format!(
        "  kubernetes {{\n    host  = \"https://{address}\"\n    token = \"not-used\"\n  }}\n"
    )))
}

/// Asserts that nobody connected to `listener`.
fn no_connection(listener: &TcpListener) -> Result<(), acc::Error> {
    listener
        .set_nonblocking(true)
        .map_err(|e| io_error("making the listener non-blocking", e))?;
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(()),
        Ok((_, peer)) => Err(acc::Error::Assertion(format!(
            "the provider connected to the Kubernetes API server (from {peer}) although the \
             configuration is invalid"
        ))),
        Err(e) => Err(io_error("checking the listener", e)),
    }
}

/// Runs every case against a Kubernetes host nothing answers on, and checks nothing connected.
fn refused_before_kubernetes(tf: &Terraform, cases: &[Case]) -> Result<(), acc::Error> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| io_error("binding a loopback listener", e))?;
    let provider = kube_provider(&listener)?;
    let wd = Workdir::new(tf)?;
    for case in cases {
        wd.config(&format!("{provider}\n{}", case.body))?;
        refused(&wd, case)?;
    }
    no_connection(&listener)?;
    // The check sees a connection when there is one.
    let _client = std::net::TcpStream::connect(
        listener
            .local_addr()
            .map_err(|e| io_error("reading the listener's address", e))?,
    )
    .map_err(|e| io_error("connecting to the listener", e))?;
    assert!(
        no_connection(&listener).is_err(),
        "the listener did not notice a connection"
    );
    Ok(())
}

/// Runs every case against the Coder emulator, and checks it received no request.
fn refused_before_coder(tf: &Terraform, cases: &[Case]) -> Result<(), acc::Error> {
    let coder = CoderEmulator::start()?;
    let wd = coder.workdir(tf)?;
    for case in cases {
        wd.config(&coder.config(&case.body))?;
        refused(&wd, case)?;
    }
    let counts = coder.request_counts()?;
    assert!(
        counts.values().all(|n| *n == 0),
        "the provider called Coder although the configuration is invalid: {counts:?}"
    );
    Ok(())
}

fn sysbox(attributes: &str) -> String {
    format!(
        "resource \"cvm_sysbox\" \"bad\" {{\n  node_selector = {{ \"example.com/cvm\" = \"true\" }}\n  {attributes}\n}}\n"
    )
}

#[test]
fn cvm_sysbox_bad_input_is_refused_before_any_api_call() {
    let cases = [
        case(
            &sysbox(r#"namespace = "Bad_NS""#),
            "Invalid Kubernetes Name",
            "a namespace name is a DNS-1123 label: 1 to 63 lower-case letters, digits and '-'",
            r#""Bad_NS""#,
        ),
        case(
            &sysbox(&format!("namespace = \"{}\"", "n".repeat(64))),
            "Invalid Kubernetes Name",
            "it is 64 characters long, more than 63",
            &format!("\"{}\"", "n".repeat(64)),
        ),
        case(
            &sysbox(r#"installer_image = "Not An Image""#),
            "Invalid Image Reference",
            "an optional registry host, a repository of lower-case components",
            r#""Not An Image""#,
        ),
        case(
            &sysbox(r#"installer_image = "registry.nestybox.com/nestybox/sysbox-deploy-k8s:""#),
            "Invalid Image Reference",
            "must be 1 to 128 letters, digits",
            r#""registry.nestybox.com/nestybox/sysbox-deploy-k8s:""#,
        ),
        case(
            "resource \"cvm_sysbox\" \"bad\" {\n  node_selector = { \"bad key\" = \"x\" }\n}\n",
            "Invalid Label Key",
            "label keys are an optional DNS-1123 subdomain prefix and '/'",
            "x",
        ),
        case(
            "resource \"cvm_sysbox\" \"bad\" {\n  node_selector = { \"example.com/cvm\" = \"no way\" }\n}\n",
            "Invalid Label Value",
            "label values are empty or 1 to 63 of the same characters",
            "no way",
        ),
        case(
            &sysbox(r#"nodes = ["ip-10-0-1-5.ec2.internal", "Node_1"]"#),
            "Invalid Kubernetes Name",
            "a node name is a DNS-1123 subdomain",
            r#"["ip-10-0-1-5.ec2.internal", "Node_1"]"#,
        ),
        case(
            &sysbox("min_ready_nodes = -1"),
            "Invalid Value",
            "must be between 0 and 10000",
            "-1",
        ),
        case(
            &sysbox("timeouts {\n    create = \"soon\"\n  }"),
            "Invalid Duration",
            "must be a duration such as \"30s\", \"10m\" or \"1h30m\"",
            r#""soon""#,
        ),
    ];
    acc::run(|tf| refused_before_kubernetes(tf, &cases));
}

/// A `cvm_image_pull_secret` with one argument set to `line`.
fn pull_secret(line: &str) -> String {
    let mut lines = vec![
        r#"namespace = "ws""#.to_owned(),
        r#"name      = "team-registry""#.to_owned(),
        r#"registry  = "registry.example.com""#.to_owned(),
        r#"username  = "robot""#.to_owned(),
        r#"password  = "s3cret""#.to_owned(),
    ];
    let key = line.split('=').next().unwrap_or_default().trim();
    lines.retain(|l| l.split('=').next().unwrap_or_default().trim() != key);
    lines.push(line.to_owned());
    format!(
        "resource \"cvm_image_pull_secret\" \"bad\" {{\n  {}\n}}\n",
        lines.join("\n  ")
    )
}

#[test]
fn cvm_image_pull_secret_bad_input_is_refused_before_any_api_call() {
    let cases = [
        case(
            &pull_secret(r#"namespace = "Team_NS""#),
            "Invalid Kubernetes Name",
            "a namespace name is a DNS-1123 label",
            r#""Team_NS""#,
        ),
        case(
            &pull_secret(r#"registry = "https://registry.example.com""#),
            "Invalid Registry Host",
            "(no scheme or path)",
            r#""https://registry.example.com""#,
        ),
        case(
            &pull_secret(r#"ca_certificate = "not a certificate""#),
            "Invalid Value",
            "must be PEM text starting with -----BEGIN CERTIFICATE-----",
            r#""not a certificate""#,
        ),
    ];
    acc::run(|tf| refused_before_kubernetes(tf, &cases));
}

#[test]
fn cvm_cluster_check_bad_input_is_refused_before_any_api_call() {
    let check =
        |attributes: &str| format!("data \"cvm_cluster_check\" \"bad\" {{\n  {attributes}\n}}\n");
    let cases = [
        case(
            &check(r#"namespace = "kube_system""#),
            "Invalid Kubernetes Name",
            "a namespace name is a DNS-1123 label",
            r#""kube_system""#,
        ),
        case(
            &check(r#"installer_image = "sysbox deploy""#),
            "Invalid Image Reference",
            "is not an image reference",
            r#""sysbox deploy""#,
        ),
        case(
            &check(r#"node_selector = { "Example.com/cvm" = "true" }"#),
            "Invalid Label Key",
            "its prefix \"Example.com\" is not a DNS-1123 subdomain",
            "true",
        ),
    ];
    acc::run(|tf| refused_before_kubernetes(tf, &cases));
}

#[test]
fn provider_block_bad_input_is_refused_before_any_api_call() {
    // A data source that needs no connection, so the provider block is what is checked.
    let with = |blocks: &str| {
        format!(
            "{}\ndata \"cvm_workspace_image\" \"x\" {{}}\n",
            acc::provider_config(blocks)
        )
    };
    let cases = [
        case(
            &with("  coder {\n    url = \"coder.example.com\"\n  }\n"),
            "Invalid Coder URL",
            "Set coder.url to the deployment's base URL",
            r#""coder.example.com""#,
        ),
        case(
            &with(
                "  coder {\n    url     = \"https://coder.example.com\"\n    headers = { \"X Proxy\" = \"a\" }\n  }\n",
            ),
            "Invalid Header Name",
            "a header name is one or more letters, digits",
            "a",
        ),
        case(
            &with(
                "  coder {\n    url     = \"https://coder.example.com\"\n    headers = { \"X-Proxy\" = \"a\\nb\" }\n  }\n",
            ),
            "Invalid Header Value",
            "a header value is visible characters, spaces and tabs",
            r"a\nb",
        ),
        case(
            &with("  kubernetes {\n    host  = \"kube.test:6443\"\n    token = \"t\"\n  }\n"),
            "Invalid Kubernetes Host",
            "Set it to the API server's URL, e.g. https://10.0.0.1:6443",
            r#""kube.test:6443""#,
        ),
        case(
            &with(
                "  kubernetes {\n    host  = \"https://user:pw@10.0.0.1:6443\"\n    token = \"t\"\n  }\n",
            ),
            "Invalid Kubernetes Host",
            "it must not carry credentials",
            r#""https://user:pw@10.0.0.1:6443""#,
        ),
        case(
            &with("  kubernetes {\n    config_context = \"\"\n  }\n"),
            "Empty Value",
            "must not be empty",
            r#""""#,
        ),
        case(
            &with("  aws {\n    region = \"Europe (Ireland)\"\n  }\n"),
            "Invalid Value",
            "must be an AWS region code such as eu-west-1",
            r#""Europe (Ireland)""#,
        ),
        case(
            &with("  aws {\n    endpoints {\n      eks = \"127.0.0.1:5000\"\n    }\n  }\n"),
            "Invalid AWS Setting",
            "of aws.endpoints.eks is not usable: it is not a URL",
            r#""127.0.0.1:5000""#,
        ),
        case(
            &with(
                "  aws {\n    assume_role {\n      role_arn     = \"arn:aws:iam::123456789012:role/t\"\n      session_name = \"terraform run\"\n    }\n  }\n",
            ),
            "Invalid Value",
            "must be 2 to 64 letters, digits",
            r#""terraform run""#,
        ),
    ];
    acc::run(|tf| -> Result<(), acc::Error> {
        let wd = Workdir::new(tf)?;
        for case in &cases {
            wd.config(&case.body)?;
            refused(&wd, case)?;
        }
        Ok(())
    });
}

#[test]
fn cvm_settings_bad_input_is_refused_before_any_api_call() {
    let settings =
        |attributes: &str| format!("resource \"cvm_settings\" \"bad\" {{\n  {attributes}\n}}\n");
    let cases = [
        case(
            &settings(r#"gpu_vendor = "amd""#),
            "Invalid Value",
            "Coder does not support AMD GPUs in CVMs",
            r#""amd""#,
        ),
        case(
            &settings(r#"extra_settings = { "workspace_autostart" = "yes please" }"#),
            "Invalid JSON Value",
            "must be a JSON-encoded value, e.g. jsonencode(true)",
            "yes please",
        ),
        case(
            &settings("timeouts {\n    update = \"1 fortnight\"\n  }"),
            "Invalid Duration",
            "must be a duration",
            r#""1 fortnight""#,
        ),
    ];
    acc::run(|tf| refused_before_coder(tf, &cases));
}

#[test]
fn cvm_registry_bad_input_is_refused_before_any_api_call() {
    let registry = |host: &str| {
        format!(
            "resource \"cvm_registry\" \"bad\" {{\n  friendly_name = \"team\"\n  registry      = \"{host}\"\n  username      = \"robot\"\n  password      = \"pw\"\n}}\n"
        )
    };
    let cases = [
        case(
            &registry("https://registry.example.com"),
            "Invalid Registry Host",
            "must be a registry host name with an optional port, e.g. registry.example.com:5000 (no scheme or path)",
            r#""https://registry.example.com""#,
        ),
        case(
            &registry("registry..example.com"),
            "Invalid Registry Host",
            "Each dot-separated part is letters, digits and '-'",
            r#""registry..example.com""#,
        ),
        case(
            &registry("registry.example.com:99999"),
            "Invalid Registry Host",
            "a port is 1 to 65535",
            r#""registry.example.com:99999""#,
        ),
        case(
            "resource \"cvm_registry\" \"bad\" {\n  friendly_name = \" \"\n  registry      = \"registry.example.com\"\n  username      = \"robot\"\n  password      = \"pw\"\n}\n",
            "Empty Value",
            "must not be empty",
            r#"" ""#,
        ),
    ];
    acc::run(|tf| refused_before_coder(tf, &cases));
}

#[test]
fn cvm_workspace_image_bad_input_is_refused_at_validate_time() {
    let image =
        |attributes: &str| format!("data \"cvm_workspace_image\" \"bad\" {{\n  {attributes}\n}}\n");
    let cases = [
        case(
            &image(r#"base_image = "Ubuntu Latest""#),
            "Invalid Image Reference",
            "an optional registry host, a repository of lower-case components",
            r#""Ubuntu Latest""#,
        ),
        case(
            &image(r#"base_image = "ubuntu@sha256:abc""#),
            "Invalid Image Reference",
            "must look like sha256:<64 hex digits>",
            r#""ubuntu@sha256:abc""#,
        ),
        case(
            &image(r#"user = "Root!""#),
            "Invalid Value",
            "must be a Linux user name",
            r#""Root!""#,
        ),
    ];
    acc::run(|tf| -> Result<(), acc::Error> {
        let wd = Workdir::new(tf)?;
        for case in &cases {
            wd.config(&format!("{REQUIRED_PROVIDERS}{}", case.body))?;
            refused(&wd, case)?;
        }
        Ok(())
    });
}

fn workspace(body: &str) -> String {
    format!(
        "resource \"cvm_workspace\" \"bad\" {{\n  namespace   = \"ws\"\n  name        = \"dev\"\n  image       = \"codercom/enterprise-base:ubuntu\"\n  agent_token = \"agent-token-1\"\n  {body}\n}}\n"
    )
}

#[test]
fn cvm_workspace_bad_input_is_refused_before_any_api_call() {
    let cases = [
        case(
            &workspace(
                "mount {\n    path      = \"/data\"\n    claim     = \"shared\"\n    host_path = \"/srv/data\"\n  }",
            ),
            "One Source per Mount",
            "either claim (a PersistentVolumeClaim) or host_path",
            r#""shared""#,
        ),
        case(
            &workspace("mount {\n    path  = \"data\"\n    claim = \"shared\"\n  }"),
            "Invalid Value",
            "must be an absolute path without `,` or `:`",
            r#""data""#,
        ),
        case(
            &workspace("mount {\n    path  = \"/home/coder/data\"\n    claim = \"shared\"\n  }"),
            "Mount Path Taken",
            "the home volume is at /home/coder",
            r#""/home/coder/data""#,
        ),
        case(
            &workspace("gpus = 1"),
            "Setting for Another Style",
            "gpus is for style envbox",
            "1",
        ),
    ];
    acc::run(|tf| refused_before_kubernetes(tf, &cases));
}
