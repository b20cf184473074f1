//! The local stack `examples/complete` runs against: moto (EKS, EC2, SSM), the test Kubernetes
//! cluster ([`KubeCluster`]), the Coder v1 emulator, the Sysbox installer double, and the
//! **node joiner**.
//!
//! moto creates node groups but no EC2 instances, and nothing would register them with the
//! Kubernetes API. The node joiner is the demo's stand-in for instances joining the cluster: for
//! every node group moto holds, it creates `desiredSize` kwok nodes named `<nodegroup>-<i>`,
//! labelled and tainted as EKS registers its nodes (the node group's labels and
//! `eks.amazonaws.com/nodegroup`, the node group's taints), reporting Ubuntu 22.04 node info; it
//! deletes them when the node group goes or shrinks. Used by `scripts/demo` (through the `demo-stack` binary) and by
//! the test of `examples/complete`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::coder::CoderEmulator;
use crate::installer_double::InstallerDouble;
use crate::kube::{KubeApi, KubeCluster, NodeInfo, NodeOptions, Taint};
use crate::moto::{ClusterFixture, Moto, MotoClient, REGION};

/// The EKS cluster the demo's node groups join.
pub const CLUSTER_NAME: &str = "cvm-demo";
/// Its Kubernetes version (and the kubelet version the joined nodes report).
pub const KUBERNETES_VERSION: &str = "1.33";
/// Where the copies of Canonical's AMI parameters live (moto refuses names under `/aws`).
pub const AMI_PARAMETER_PREFIX: &str = "/demo/canonical/ubuntu";
/// The AMI id the copied parameters hold.
pub const DEMO_AMI: &str = "ami-0c0ffee0c0ffee000";

/// How often the joiner looks at moto.
const JOIN_TICK: Duration = Duration::from_millis(250);

/// Everything `examples/complete` talks to; stopped on drop.
pub struct DemoStack {
    /// moto, serving EKS, EC2, IAM and SSM.
    pub moto: Moto,
    /// The Kubernetes API server.
    pub kube: KubeCluster,
    /// The Coder v1 emulator.
    pub coder: CoderEmulator,
    /// The EKS cluster, its network and node role, in moto.
    pub fixture: ClusterFixture,
    // Dropped (stopped) before the cluster they talk to.
    joiner: NodeJoiner,
    installer: InstallerDouble,
}

impl std::fmt::Debug for DemoStack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DemoStack")
            .field("moto", &self.moto.endpoint())
            .field("kube", &self.kube.server_url())
            .field("coder", &self.coder.url)
            .finish_non_exhaustive()
    }
}

impl DemoStack {
    /// Starts every part on loopback and creates the EKS cluster and AMI parameters.
    pub fn start() -> Result<DemoStack, crate::Error> {
        let moto = Moto::start()?;
        let fixture = moto.create_cluster_fixture(CLUSTER_NAME, KUBERNETES_VERSION)?;
        for (release, volume) in [("20.04", "gp2"), ("22.04", "gp2"), ("24.04", "gp3")] {
            for arch in ["amd64", "arm64"] {
                moto.put_parameter(
                    &format!(
                        "{AMI_PARAMETER_PREFIX}/eks/{release}/{KUBERNETES_VERSION}/stable/current/{arch}/hvm/ebs-{volume}/ami-id"
                    ),
                    DEMO_AMI,
                    None,
                )?;
            }
        }
        let kube = KubeCluster::start()?;
        let coder = CoderEmulator::start()?;
        let installer = InstallerDouble::start(kube.api());
        let joiner = NodeJoiner::start(MotoClient::new(moto.endpoint()), kube.api());
        Ok(DemoStack {
            moto,
            kube,
            coder,
            fixture,
            joiner,
            installer,
        })
    }

    /// The environment Terraform needs: where moto, the API server and Coder are.
    pub fn env(&self) -> Vec<(String, String)> {
        let mut env: Vec<(String, String)> = self
            .moto
            .aws_env()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        env.push((
            "KUBECONFIG".to_owned(),
            self.kube.kubeconfig_path().display().to_string(),
        ));
        env.push(("CODER_URL".to_owned(), self.coder.url.clone()));
        env.push(("CODER_SESSION_TOKEN".to_owned(), self.coder.token.clone()));
        env
    }

    /// `terraform.tfvars` for `examples/complete`.
    pub fn tfvars(&self) -> String {
        let subnets: Vec<String> = self
            .fixture
            .network
            .subnet_ids
            .iter()
            .map(|s| format!("{s:?}"))
            .collect();
        format!(
            "aws_region           = {REGION:?}\ncluster_name         = {:?}\nkubernetes_version   = {KUBERNETES_VERSION:?}\nnode_role_arn        = {:?}\nsubnet_ids           = [{}]\nami_parameter_prefix = {AMI_PARAMETER_PREFIX:?}\n",
            self.fixture.cluster_name,
            self.fixture.node_role_arn,
            subnets.join(", "),
        )
    }

    /// What the node joiner did, in order.
    pub fn joiner_journal(&self) -> Vec<String> {
        self.joiner.journal()
    }

    /// What the installer double did, in order.
    pub fn installer_journal(&self) -> Vec<String> {
        self.installer.journal()
    }
}

/// The thread that turns moto's node groups into Kubernetes nodes.
#[derive(Debug)]
struct NodeJoiner {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    journal: Arc<Mutex<Vec<String>>>,
}

impl NodeJoiner {
    fn start(moto: MotoClient, kube: KubeApi) -> NodeJoiner {
        let stop = Arc::new(AtomicBool::new(false));
        let journal: Arc<Mutex<Vec<String>>> = Arc::default();
        let thread = {
            let stop = Arc::clone(&stop);
            let journal = Arc::clone(&journal);
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Err(e) = join_nodes(&moto, &kube, &journal)
                        && let Ok(mut j) = journal.lock()
                    {
                        j.push(format!("joiner error: {e}"));
                    }
                    std::thread::sleep(JOIN_TICK);
                }
            })
        };
        NodeJoiner {
            stop,
            thread: Some(thread),
            journal,
        }
    }

    fn journal(&self) -> Vec<String> {
        self.journal.lock().map(|j| j.clone()).unwrap_or_default()
    }
}

impl Drop for NodeJoiner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The label EKS puts on every node of a managed node group.
const NODEGROUP_LABEL: &str = "eks.amazonaws.com/nodegroup";

/// The Kubernetes name of an EKS taint effect (`NO_SCHEDULE` is `NoSchedule`, and so on).
fn kubernetes_effect(eks: &str) -> String {
    match eks {
        "NO_SCHEDULE" => "NoSchedule",
        "NO_EXECUTE" => "NoExecute",
        "PREFER_NO_SCHEDULE" => "PreferNoSchedule",
        other => other,
    }
    .to_owned()
}

/// One pass: the nodes each node group should have exist, no others.
fn join_nodes(
    moto: &MotoClient,
    kube: &KubeApi,
    journal: &Mutex<Vec<String>>,
) -> Result<(), crate::Error> {
    let note = |line: String| {
        if let Ok(mut j) = journal.lock() {
            j.push(line);
        }
    };
    let mut wanted: BTreeMap<String, NodeOptions> = BTreeMap::new();
    for name in moto.list_nodegroups(CLUSTER_NAME)? {
        let Some(nodegroup) = moto.describe_nodegroup(CLUSTER_NAME, &name)? else {
            continue;
        };
        let desired = nodegroup["scalingConfig"]["desiredSize"]
            .as_u64()
            .unwrap_or(0);
        let mut labels: BTreeMap<String, String> = nodegroup["labels"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
            .collect();
        labels.insert(NODEGROUP_LABEL.to_owned(), name.clone());
        // EKS registers a node group's taints with each of its nodes.
        let taints = nodegroup["taints"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| Taint {
                key: t["key"].as_str().unwrap_or_default().to_owned(),
                value: t["value"].as_str().unwrap_or_default().to_owned(),
                effect: kubernetes_effect(t["effect"].as_str().unwrap_or_default()),
            })
            .collect::<Vec<_>>();
        let options = NodeOptions {
            labels,
            taints,
            ..NodeOptions::default()
        };
        for i in 0..desired {
            wanted.insert(format!("{name}-{i}"), options.clone());
        }
    }

    let nodes = kube.get(&format!("/api/v1/nodes?labelSelector={NODEGROUP_LABEL}"))?;
    let existing: BTreeSet<String> = nodes["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["metadata"]["name"].as_str().map(str::to_owned))
        .collect();
    for (name, options) in &wanted {
        if existing.contains(name) {
            continue;
        }
        let info = NodeInfo {
            kubelet_version: format!("v{KUBERNETES_VERSION}.5"),
            ..NodeInfo::ubuntu_22_04()
        };
        kube.create_node_with(name, &info, options)?;
        note(format!(
            "{name}: joined the cluster (node group {})",
            options.labels[NODEGROUP_LABEL]
        ));
    }
    for name in existing.difference(&wanted.keys().cloned().collect()) {
        kube.delete(&format!("/api/v1/nodes/{name}"))?;
        note(format!("{name}: left the cluster"));
    }
    Ok(())
}
