//! Benchmark of the provider core (not a test: it prints figures).
//!
//! Prints, as medians over several runs:
//! * process start → handshake line on stdout, with AutoMTLS on (a
//!   P-521 client certificate like Terraform's);
//! * wall time of `terraform providers schema -json`;
//! * the provider's peak RSS during `terraform apply` (measured by GNU
//!   time wrapped around the provider).
//!
//! Usage: `scripts/bench` (builds the release provider first), or
//! `CVM_PROVIDER_BINARY=<release binary> cargo run -p acceptance-tests --bin bench-core`.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use acceptance_tests::{self as acc, PROVIDER_SOURCE, Workdir};

const HANDSHAKE_RUNS: usize = 31;
const SCHEMA_RUNS: usize = 11;
const APPLY_RUNS: usize = 5;

const CONFIG: &str = r#"
terraform {
  required_providers {
    cvm = { source = "cvm-provider/cvm" }
  }
}
data "cvm_workspace_image" "bench" {
  packages = ["git", "curl"]
  user     = "coder"
}
output "dockerfile" { value = data.cvm_workspace_image.bench.dockerfile }
"#;

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn client_cert_pem() -> String {
    let key =
        rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512).expect("P-521 key generation");
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned()]).expect("certificate params");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params
        .self_signed(&key)
        .expect("self-signed certificate")
        .pem()
}

/// Milliseconds from spawning the provider to reading its handshake line.
fn handshake_ms(binary: &Path, cert: &str) -> f64 {
    let started = Instant::now();
    let mut child = Command::new(binary)
        .env(
            "TF_PLUGIN_MAGIC_COOKIE",
            "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2",
        )
        .env("PLUGIN_PROTOCOL_VERSIONS", "5,6")
        .env("PLUGIN_CLIENT_CERT", cert)
        .env_remove("TF_LOG")
        .env_remove("TF_LOG_PROVIDER")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the provider starts");
    let mut line = String::new();
    let stdout = child.stdout.take().expect("piped stdout");
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("a handshake line");
    let elapsed = started.elapsed();
    assert!(
        line.starts_with("1|6|unix|"),
        "unexpected handshake {line:?}"
    );
    // SIGTERM lets the provider remove its socket directory.
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = child.wait();
    elapsed.as_secs_f64() * 1000.0
}

fn main() {
    let binary = acc::provider_binary().expect("the provider binary");
    let terraform = acc::terraforms()
        .into_iter()
        .next()
        .expect("a Terraform to benchmark with");
    println!(
        "provider: {}\nterraform: {} ({})\nmachine: {} CPUs",
        binary.path.display(),
        terraform.version_string(),
        terraform.path.display(),
        std::thread::available_parallelism().map_or(0, usize::from)
    );

    let cert = client_cert_pem();
    let _warm = handshake_ms(&binary.path, &cert);
    let handshakes: Vec<f64> = (0..HANDSHAKE_RUNS)
        .map(|_| handshake_ms(&binary.path, &cert))
        .collect();

    let wd = Workdir::new(&terraform).expect("a working directory");
    wd.config(CONFIG).expect("configuration written");
    let schema_times: Vec<f64> = (0..SCHEMA_RUNS)
        .map(|_| {
            let started = Instant::now();
            wd.schema_json().expect("providers schema -json");
            started.elapsed().as_secs_f64() * 1000.0
        })
        .collect();

    // GNU time around the provider records each launch's peak RSS (KiB).
    let wrap_dir = tempfile::tempdir().expect("a temporary directory");
    let rss_file = wrap_dir.path().join("rss.txt");
    let overrides = wrap_dir.path().join("overrides");
    std::fs::create_dir(&overrides).expect("overrides directory");
    let wrapper = overrides.join("terraform-provider-cvm");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexec /usr/bin/time -a -o '{}' -f '%M' '{}' \"$@\"\n",
            rss_file.display(),
            binary.path.display()
        ),
    )
    .expect("wrapper written");
    let _ = Command::new("chmod").arg("+x").arg(&wrapper).status();
    let mut peaks = Vec::new();
    let mut apply_times = Vec::new();
    for _ in 0..APPLY_RUNS {
        let _ = std::fs::remove_file(&rss_file);
        let wd = Workdir::with_overrides(&terraform, &[(PROVIDER_SOURCE, &overrides)])
            .expect("a working directory");
        wd.config(CONFIG).expect("configuration written");
        let started = Instant::now();
        wd.apply().expect("terraform apply");
        apply_times.push(started.elapsed().as_secs_f64() * 1000.0);
        // Give the last provider process time to exit and GNU time to write.
        std::thread::sleep(Duration::from_millis(300));
        let text = std::fs::read_to_string(&rss_file).unwrap_or_default();
        let peak_kib = text
            .lines()
            .filter_map(|l| l.trim().parse::<f64>().ok())
            .fold(0.0, f64::max);
        peaks.push(peak_kib / 1024.0);
    }

    println!();
    println!("| measure (median) | value | target |");
    println!("|---|---|---|");
    println!(
        "| process start → handshake line ({HANDSHAKE_RUNS} runs, AutoMTLS) | {:.2} ms | ≤ 5 ms |",
        median(handshakes)
    );
    println!(
        "| `terraform providers schema -json` ({SCHEMA_RUNS} runs) | {:.0} ms | — |",
        median(schema_times)
    );
    println!(
        "| `terraform apply` of a cvm_workspace_image ({APPLY_RUNS} runs) | {:.0} ms | — |",
        median(apply_times)
    );
    println!(
        "| provider peak RSS during apply ({APPLY_RUNS} runs) | {:.1} MiB | ≤ 20 MiB |",
        median(peaks)
    );
}
