//! Benchmark of `cvm_nodegroup` at scale (not a test: it prints figures, and exits non-zero
//! when a run did not end as it must).
//!
//! Two runs against moto, each behind the counting proxy: 50 node groups with `-parallelism=10`
//! and no faults, then 500 node groups with `-parallelism=20` and 20% of the EKS and EC2
//! requests answered with a throttling error (seeded; SSM is not faulted). Each run plans,
//! applies, re-plans and destroys, and prints the wall time of each step, the AWS API calls it
//! made per operation, and what creating one node group costs (the calls per group besides the
//! lookups every group of one cluster shares, and those shared ones). moto answers at once and
//! node groups are ACTIVE on creation, so the times measure the provider and Terraform, not EKS.
//!
//! Asserted, for each run: after the apply moto holds every node group and its launch template
//! and the state holds every group with its computed attributes known; the re-plan is empty;
//! after the destroy moto holds no node group and no launch template.
//!
//! Usage: `scripts/bench` (release build), or
//! `CVM_PROVIDER_BINARY=<binary> cargo run -p acceptance-tests --bin bench-nodegroups`.

use std::collections::BTreeMap;
use std::time::Instant;

use acceptance_tests::moto::{FaultConfig, FaultProxy, Moto, aws_provider_block};
use acceptance_tests::{self as acc, Terraform, Workdir};

/// The provider's attempts per AWS request in the throttled run. At a 20% throttle rate with
/// no cap on faults in a row, `n` attempts fail a request with probability 0.2^n: 3 attempts
/// would fail about one request in 125, the provider's default of 8 one in 390,000 (some 3,000
/// requests are made); 12 make a failed run about one in 100 million.
const THROTTLED_MAX_ATTEMPTS: u32 = 12;
/// The throttled run's fault seed.
const SEED: u64 = 10;

/// One benchmark run.
struct Run {
    groups: usize,
    parallelism: usize,
    faults: FaultConfig,
    /// `max_attempts` in the provider's `aws` block; `None`: the provider's default.
    max_attempts: Option<u32>,
}

/// A step's figures: wall time, requests the provider sent (retries included), requests that
/// reached moto per operation, and the proxy's table.
struct Step {
    name: &'static str,
    wall: f64,
    sent: u64,
    forwarded: BTreeMap<String, u64>,
    report: String,
}

fn fail(message: String) -> Box<dyn std::error::Error> {
    message.into()
}

/// Operations made once per provider process for every node group of one cluster.
const SHARED_OPERATIONS: [&str; 2] = ["eks:DescribeCluster", "ssm:GetParameter"];
/// Computed attributes every created node group must have in the state.
const COMPUTED: [&str; 8] = [
    "id",
    "arn",
    "status",
    "resolved_ami_id",
    "kubernetes_version",
    "launch_template_id",
    "launch_template_name",
    "launch_template_version",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let terraform = acc::terraforms()
        .into_iter()
        .next()
        .ok_or("no Terraform found (scripts/fetch-terraform)")?;
    let runs = [
        Run {
            groups: 50,
            parallelism: 10,
            faults: FaultConfig::none(),
            max_attempts: None,
        },
        Run {
            groups: 500,
            parallelism: 20,
            faults: FaultConfig {
                services: &["eks", "ec2"],
                max_consecutive_faults: u32::MAX,
                ..FaultConfig::new(0.2, 0.0, SEED)
            },
            max_attempts: Some(THROTTLED_MAX_ATTEMPTS),
        },
    ];
    for run in &runs {
        bench(&terraform, run)?;
        println!();
    }
    Ok(())
}

fn bench(terraform: &Terraform, run: &Run) -> Result<(), Box<dyn std::error::Error>> {
    let moto = Moto::start()?;
    let cluster = "bench";
    let fixture = moto.create_cluster_fixture(cluster, "1.33")?;
    let prefix = "/bench/canonical/ubuntu";
    moto.put_parameter(
        &format!("{prefix}/eks/22.04/1.33/stable/current/amd64/hvm/ebs-gp2/ami-id"),
        "ami-0123456789abcdef0",
        None,
    )?;
    let proxy = FaultProxy::start(moto.endpoint(), run.faults)?;

    let subnets: Vec<String> = fixture
        .network
        .subnet_ids
        .iter()
        .map(|s| format!("{s:?}"))
        .collect();
    let mut aws_block = aws_provider_block(proxy.endpoint());
    if let Some(attempts) = run.max_attempts {
        aws_block = aws_block.replacen(
            "  aws {\n",
            &format!("  aws {{\n    max_attempts = {attempts}\n"),
            1,
        );
    }
    let groups = run.groups;
    let config = format!(
        r#"
{provider}
resource "cvm_nodegroup" "bench" {{
  count                = {groups}
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
        provider = acc::provider_config(&aws_block),
        role = fixture.node_role_arn,
        subnets = subnets.join(", "),
    );
    let wd = Workdir::new(terraform)?;
    wd.config(&config)?;
    let faults = if run.faults.throttle_share > 0.0 {
        format!(
            "{:.0}% of {} requests throttled (seed {}, no cap on faults in a row)",
            run.faults.throttle_share * 100.0,
            run.faults.services.join("/").to_uppercase(),
            run.faults.seed
        )
    } else {
        "no faults".to_owned()
    };
    let attempts = run.max_attempts.map_or_else(
        || "the provider's default max_attempts".to_owned(),
        |n| format!("max_attempts = {n} in the provider block"),
    );
    println!(
        "{groups} cvm_nodegroup, -parallelism={}, Terraform {}, moto behind the proxy: {faults}; {attempts}\n",
        run.parallelism,
        terraform.version_string()
    );
    println!(
        "{:<28} {:>9} {:>10} {:>10}",
        "step", "wall (s)", "API calls", "sent"
    );
    let parallelism = format!("-parallelism={}", run.parallelism);
    let mut steps = Vec::new();
    for (name, args) in [
        ("plan (create)", vec!["plan", "-input=false", "-no-color"]),
        (
            "apply (create)",
            vec!["apply", "-auto-approve", "-input=false", "-no-color"],
        ),
        (
            "plan (refresh, no changes)",
            vec!["plan", "-input=false", "-no-color", "-detailed-exitcode"],
        ),
        (
            "destroy",
            vec!["destroy", "-auto-approve", "-input=false", "-no-color"],
        ),
    ] {
        let mut args = args;
        args.push(&parallelism);
        proxy.reset_counts();
        let started = Instant::now();
        // `-detailed-exitcode` exits 2 for a plan with changes, which terraform_ok refuses.
        wd.terraform_ok(&args)?;
        let wall = started.elapsed().as_secs_f64();
        let stats = proxy.stats();
        let step = Step {
            name,
            wall,
            sent: proxy.total_requests(),
            forwarded: stats
                .iter()
                .map(|(action, s)| (action.clone(), s.forwarded()))
                .filter(|(_, n)| *n > 0)
                .collect(),
            report: proxy.report(),
        };
        let total: u64 = step.forwarded.values().sum();
        println!(
            "{:<28} {:>9.2} {:>10} {:>10}",
            step.name, step.wall, total, step.sent
        );
        match name {
            "apply (create)" => check_created(&wd, &moto, cluster, groups)?,
            "destroy" => check_destroyed(&moto, cluster)?,
            _ => {}
        }
        steps.push(step);
    }
    let create = &steps[1].forwarded;
    let shared: u64 = SHARED_OPERATIONS
        .iter()
        .filter_map(|op| create.get(*op))
        .sum();
    let total: u64 = create.values().sum();
    let per_group = (total - shared) as f64 / groups as f64;
    println!(
        "\ncreate: {per_group:.2} calls per node group ({}) + {shared} shared ({})",
        create
            .iter()
            .filter(|(op, _)| !SHARED_OPERATIONS.contains(&op.as_str()))
            .map(|(op, n)| format!("{op} {n}"))
            .collect::<Vec<_>>()
            .join(", "),
        SHARED_OPERATIONS
            .iter()
            .map(|op| format!("{op} {}", create.get(*op).copied().unwrap_or(0)))
            .collect::<Vec<_>>()
            .join(", "),
    );
    println!(
        "asserted: {groups} node groups and launch templates in moto, {groups} complete in state, empty re-plan, nothing left after destroy\n"
    );
    for step in steps {
        println!("{}:\n{}", step.name, step.report);
    }
    Ok(())
}

/// moto holds `groups` node groups, each with its launch template, and the state holds each
/// with every computed attribute known.
fn check_created(
    wd: &Workdir,
    moto: &Moto,
    cluster: &str,
    groups: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let in_moto = moto.list_nodegroups(cluster)?;
    if in_moto.len() != groups {
        return Err(fail(format!(
            "moto holds {} node groups after the apply, not {groups}",
            in_moto.len()
        )));
    }
    let templates = moto.launch_templates()?;
    if templates.len() != groups {
        return Err(fail(format!(
            "moto holds {} launch templates after the apply, not {groups}",
            templates.len()
        )));
    }
    let template_ids: Vec<&str> = templates.iter().map(|t| t.id.as_str()).collect();
    let state = wd.show()?;
    let addresses = state.addresses();
    if addresses.len() != groups {
        return Err(fail(format!(
            "the state holds {} resources, not {groups}",
            addresses.len()
        )));
    }
    for index in 0..groups {
        let address = format!("cvm_nodegroup.bench[{index}]");
        let group = state.resource(&address)?;
        if let Some(missing) = COMPUTED.iter().find(|path| !group.is_set(path)) {
            return Err(fail(format!("{address} has no {missing} in the state")));
        }
        if group.str("status")? != "ACTIVE" {
            return Err(fail(format!(
                "{address} is {} in the state",
                group.str("status")?
            )));
        }
        let name = group.str("name")?;
        if !in_moto.contains(&name) {
            return Err(fail(format!("{address} ({name}) is not in moto")));
        }
        let template = group.str("launch_template_id")?;
        if !template_ids.contains(&template.as_str()) {
            return Err(fail(format!(
                "{address}'s launch template {template} is not in moto"
            )));
        }
    }
    Ok(())
}

/// moto holds no node group and no launch template.
fn check_destroyed(moto: &Moto, cluster: &str) -> Result<(), Box<dyn std::error::Error>> {
    let groups = moto.list_nodegroups(cluster)?;
    let templates = moto.launch_templates()?;
    if groups.is_empty() && templates.is_empty() {
        Ok(())
    } else {
        Err(fail(format!(
            "left after the destroy: {} node groups {groups:?}, {} launch templates",
            groups.len(),
            templates.len()
        )))
    }
}
