//! Benchmark of `cvm_nodegroup` at scale (not a test: it prints figures).
//!
//! Plans, applies, re-plans and destroys 50 node groups with `-parallelism=10` against moto,
//! behind the counting proxy (no faults injected), and prints the wall time of each step and the
//! AWS API calls it made, per operation. moto answers at once and node groups are ACTIVE on
//! creation, so the times measure the provider and Terraform, not EKS.
//!
//! Usage: `scripts/bench` (release build), or
//! `CVM_PROVIDER_BINARY=<binary> cargo run -p acceptance-tests --bin bench-nodegroups`.

use std::time::Instant;

use acceptance_tests::moto::{FaultConfig, FaultProxy, Moto, aws_provider_block};
use acceptance_tests::{self as acc, Workdir};

const NODE_GROUPS: usize = 50;
const PARALLELISM: &str = "-parallelism=10";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let terraform = acc::terraforms()
        .into_iter()
        .next()
        .ok_or("no Terraform found (scripts/fetch-terraform)")?;
    let moto = Moto::start()?;
    let fixture = moto.create_cluster_fixture("bench", "1.33")?;
    let prefix = "/bench/canonical/ubuntu";
    moto.put_parameter(
        &format!("{prefix}/eks/22.04/1.33/stable/current/amd64/hvm/ebs-gp2/ami-id"),
        "ami-0123456789abcdef0",
        None,
    )?;
    let proxy = FaultProxy::start(moto.endpoint(), FaultConfig::none())?;

    let subnets: Vec<String> = fixture
        .network
        .subnet_ids
        .iter()
        .map(|s| format!("{s:?}"))
        .collect();
    let endpoint = proxy.endpoint();
    let config = format!(
        r#"
{provider}
resource "cvm_nodegroup" "bench" {{
  count                = {NODE_GROUPS}
  cluster_name         = "{cluster}"
  name                 = "bench-${{count.index}}"
  node_role_arn        = "{role}"
  subnet_ids           = [{subnets}]
  instance_types       = ["m6i.2xlarge"]
  ami_parameter_prefix = "{prefix}"
  scaling {{
    min_size     = 1
    max_size     = 3
    desired_size = 2
  }}
}}
"#,
        provider = acc::provider_config(&aws_provider_block(endpoint)),
        cluster = fixture.cluster_name,
        role = fixture.node_role_arn,
        subnets = subnets.join(", "),
    );
    let wd = Workdir::new(&terraform)?;
    wd.config(&config)?;
    println!(
        "{NODE_GROUPS} cvm_nodegroup, {PARALLELISM}, Terraform {}, moto behind a counting proxy\n",
        terraform.version_string()
    );
    println!("{:<28} {:>9} {:>10}", "step", "wall (s)", "API calls");
    let mut details = Vec::new();
    for (step, args) in [
        (
            "plan (create)",
            vec!["plan", "-input=false", "-no-color", PARALLELISM],
        ),
        (
            "apply (create)",
            vec![
                "apply",
                "-auto-approve",
                "-input=false",
                "-no-color",
                PARALLELISM,
            ],
        ),
        (
            "plan (refresh, no changes)",
            vec!["plan", "-input=false", "-no-color", PARALLELISM],
        ),
        (
            "destroy",
            vec![
                "destroy",
                "-auto-approve",
                "-input=false",
                "-no-color",
                PARALLELISM,
            ],
        ),
    ] {
        proxy.reset_counts();
        let started = Instant::now();
        wd.terraform_ok(&args)?;
        let wall = started.elapsed().as_secs_f64();
        println!("{step:<28} {wall:>9.2} {:>10}", proxy.total_requests());
        details.push((step, proxy.report()));
    }
    println!();
    for (step, report) in details {
        println!("{step}:\n{report}");
    }
    Ok(())
}
