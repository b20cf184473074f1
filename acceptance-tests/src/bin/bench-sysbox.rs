//! Benchmark of `cvm_sysbox` on many nodes (not a test: it prints figures, and exits non-zero
//! when a run did not end as it must).
//!
//! The scheduling test cluster (kube-apiserver with an audit log, scheduler, controller manager,
//! kwok) gets 100 kwok nodes; the installer double plays each installer pod's effect on its node
//! as soon as kwok runs the pod. `cvm_sysbox` then installs on all of them, is re-planned and
//! destroyed. Each step prints its wall time and the Kubernetes API requests the provider made
//! (from the API server's audit log, by the provider's User-Agent), by verb and resource.
//!
//! The install runs twice, with the double taking one tick (0.3 s) per step and then ten times as long:
//! the provider's wait is a watch, so its requests must not grow with the wait's length (the
//! figures show it; a difference of more than the few requests a watch restart costs fails).
//!
//! Asserted, for each run: after the apply every node reports `sysbox-runtime=running` and the
//! state's `ready_nodes` names all of them; the re-plan is empty; after the destroy no installer
//! DaemonSet and no node label `sysbox-runtime` or `sysbox-install` remain.
//!
//! Usage: `scripts/bench` (release build), or
//! `CVM_PROVIDER_BINARY=<binary> cargo run -p acceptance-tests --bin bench-sysbox`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use acceptance_tests::installer_double::{InstallerDouble, TICK};
use acceptance_tests::kube::{KubeCluster, NodeInfo, NodeOptions};
use acceptance_tests::{self as acc, Terraform, Workdir};
use serde_json::Value;

/// Nodes in the cluster.
const NODES: usize = 100;
/// The label that selects the target nodes.
const TARGET_LABEL: (&str, &str) = ("cvm-bench", "yes");
/// The provider's User-Agent prefix (provider/src/kube/client.rs).
const PROVIDER_AGENT: &str = "terraform-provider-cvm/";
/// How many more requests the slow run may make than the fast one: a watch the API server
/// ends (it closes watches after a few minutes) is re-established with a list and a watch.
const WATCH_RESTART_ALLOWANCE: u64 = 4;

fn fail(message: String) -> Box<dyn std::error::Error> {
    message.into()
}

/// The provider's requests in the audit log from line `from` on, by `VERB resource`.
fn provider_requests(audit: &Path, from: usize) -> Result<(BTreeMap<String, u64>, usize), String> {
    let text = std::fs::read_to_string(audit)
        .map_err(|e| format!("reading the audit log {}: {e}", audit.display()))?;
    let lines: Vec<&str> = text.lines().collect();
    let mut counts = BTreeMap::new();
    for line in lines.iter().skip(from) {
        let event: Value = serde_json::from_str(line)
            .map_err(|e| format!("an audit log line is not JSON ({e}): {line}"))?;
        let agent = event["userAgent"].as_str().unwrap_or_default();
        if !agent.starts_with(PROVIDER_AGENT) {
            continue;
        }
        let resource = match event["objectRef"]["resource"].as_str() {
            Some(r) => match event["objectRef"]["subresource"].as_str() {
                Some(sub) => format!("{r}/{sub}"),
                None => r.to_string(),
            },
            None => event["requestURI"]
                .as_str()
                .unwrap_or("?")
                .split('?')
                .next()
                .unwrap_or("?")
                .to_string(),
        };
        let verb = event["verb"].as_str().unwrap_or("?");
        *counts.entry(format!("{verb} {resource}")).or_insert(0) += 1;
    }
    Ok((counts, lines.len()))
}

fn total(counts: &BTreeMap<String, u64>) -> u64 {
    counts.values().sum()
}

/// A step's figures.
struct Step {
    name: String,
    wall: f64,
    requests: BTreeMap<String, u64>,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let terraform = acc::terraforms()
        .into_iter()
        .next()
        .ok_or("no Terraform found (scripts/fetch-terraform)")?;
    let cluster = KubeCluster::start_audited()?;
    let audit = cluster.audit_log_path();

    let started = Instant::now();
    let options = NodeOptions {
        labels: [(TARGET_LABEL.0.to_string(), TARGET_LABEL.1.to_string())].into(),
        ..NodeOptions::default()
    };
    let nodes: Vec<String> = (0..NODES).map(|i| format!("bench-node-{i:03}")).collect();
    for node in &nodes {
        cluster.create_node_with(node, &NodeInfo::ubuntu_22_04(), &options)?;
    }
    println!(
        "{NODES} kwok nodes Ready in {:.1} s; Terraform {}\n",
        started.elapsed().as_secs_f64(),
        terraform.version_string()
    );

    let mut fast_install = None;
    for slowdown in [1u32, 10] {
        let double = InstallerDouble::start_with_tick(cluster.api(), TICK * slowdown);
        let steps = bench(&terraform, &cluster, &audit, &nodes, slowdown)?;
        drop(double);
        let install = total(&steps[1].requests);
        println!(
            "\n{:<34} {:>9} {:>9}",
            format!("cvm_sysbox on {NODES} nodes, double ×{slowdown}"),
            "wall (s)",
            "requests"
        );
        for step in &steps {
            println!(
                "{:<34} {:>9.2} {:>9}",
                step.name,
                step.wall,
                total(&step.requests)
            );
        }
        for step in &steps {
            println!("\n{}:", step.name);
            for (what, n) in &step.requests {
                println!("  {what:<48} {n:>6}");
            }
        }
        match fast_install {
            None => fast_install = Some((install, steps[1].wall)),
            Some((fast, fast_wall)) => {
                println!(
                    "\nthe installer's steps ×{slowdown} as long: apply {fast_wall:.1} s → {:.1} s, the provider's requests {fast} → {install}",
                    steps[1].wall
                );
                if install > fast + WATCH_RESTART_ALLOWANCE {
                    return Err(fail(format!(
                        "the install made {install} requests when the installer took {slowdown}× as long, {fast} before: the wait polls"
                    )));
                }
            }
        }
    }
    println!(
        "\nasserted per run: every node sysbox-runtime=running and in ready_nodes, empty re-plan, no DaemonSet or Sysbox label left after destroy"
    );
    Ok(())
}

fn bench(
    terraform: &Terraform,
    cluster: &KubeCluster,
    audit: &Path,
    nodes: &[String],
    slowdown: u32,
) -> Result<Vec<Step>, Box<dyn std::error::Error>> {
    let config = format!(
        r#"
{provider}
resource "cvm_sysbox" "bench" {{
  node_selector = {{ "{key}" = "{value}" }}
  timeouts {{
    create = "15m"
    delete = "15m"
  }}
}}
"#,
        provider = acc::provider_config(&cluster.provider_block()),
        key = TARGET_LABEL.0,
        value = TARGET_LABEL.1,
    );
    let wd = Workdir::new(terraform)?;
    wd.config(&config)?;
    let mut steps = Vec::new();
    let (_, mut seen) = provider_requests(audit, 0)?;
    for (name, args) in [
        ("plan (create)", vec!["plan", "-input=false", "-no-color"]),
        (
            "apply (install, wait)",
            vec!["apply", "-auto-approve", "-input=false", "-no-color"],
        ),
        (
            "plan (refresh, no changes)",
            vec!["plan", "-input=false", "-no-color", "-detailed-exitcode"],
        ),
        (
            "destroy (cleanup, wait)",
            vec!["destroy", "-auto-approve", "-input=false", "-no-color"],
        ),
    ] {
        let started = Instant::now();
        // `-detailed-exitcode` exits 2 for a plan with changes, which terraform_ok refuses.
        wd.terraform_ok(&args)?;
        let wall = started.elapsed().as_secs_f64();
        let (requests, lines) = provider_requests(audit, seen)?;
        seen = lines;
        match name {
            "apply (install, wait)" => check_installed(&wd, cluster, nodes)?,
            "destroy (cleanup, wait)" => check_removed(cluster, nodes)?,
            _ => {}
        }
        steps.push(Step {
            name: format!("{name}{}", if slowdown > 1 { " (slow)" } else { "" }),
            wall,
            requests,
        });
    }
    Ok(steps)
}

fn check_installed(
    wd: &Workdir,
    cluster: &KubeCluster,
    nodes: &[String],
) -> Result<(), Box<dyn std::error::Error>> {
    for node in nodes {
        let labels = cluster.node_labels(node)?;
        if labels.get("sysbox-runtime").map(String::as_str) != Some("running") {
            return Err(fail(format!(
                "{node} is not sysbox-runtime=running after the apply: {labels:?}"
            )));
        }
    }
    let state = wd.show()?;
    let sysbox = state.resource("cvm_sysbox.bench")?;
    let ready: Vec<String> = sysbox
        .get("ready_nodes")?
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n.as_str().map(str::to_string))
        .collect();
    if ready.len() != nodes.len() || nodes.iter().any(|n| !ready.contains(n)) {
        return Err(fail(format!(
            "ready_nodes in the state has {} names, not the {} nodes",
            ready.len(),
            nodes.len()
        )));
    }
    Ok(())
}

fn check_removed(
    cluster: &KubeCluster,
    nodes: &[String],
) -> Result<(), Box<dyn std::error::Error>> {
    let daemon_sets = cluster.get("/apis/apps/v1/daemonsets")?;
    let left: Vec<&str> = daemon_sets["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["metadata"]["name"].as_str())
        .filter(|n| n.starts_with("sysbox-"))
        .collect();
    if !left.is_empty() {
        return Err(fail(format!("DaemonSets left after the destroy: {left:?}")));
    }
    for node in nodes {
        let labels = cluster.node_labels(node)?;
        if labels.contains_key("sysbox-runtime") || labels.contains_key("sysbox-install") {
            return Err(fail(format!(
                "{node} keeps a Sysbox label after the destroy: {labels:?}"
            )));
        }
    }
    Ok(())
}
