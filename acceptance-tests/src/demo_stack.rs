//! The local stack the complete examples run against: moto (EKS, EC2, SSM), the test Kubernetes
//! cluster ([`KubeCluster`]), Coder (the real Coder v2 server and a real image registry for
//! `examples/complete`, or the Coder v1 emulator for `examples/coder-v1`), and three stand-ins for
//! what a cloud would do that nothing here does:
//!
//! * the **node joiner**: moto creates node groups but no EC2 instances, and nothing would register
//!   them with the Kubernetes API. For every node group moto holds, the joiner creates
//!   `desiredSize` kwok nodes named `<nodegroup>-<i>`, labelled and tainted as EKS registers its
//!   nodes (the node group's labels and `eks.amazonaws.com/nodegroup`, the node group's taints),
//!   reporting Ubuntu 22.04 with containerd 2.1; it deletes them when the node group goes or
//!   shrinks;
//! * the **Sysbox installer double** ([`InstallerDouble`]): plays the installer's pods;
//! * the **volume provisioner**: plays EKS's EBS CSI driver for the default StorageClass
//!   [`VOLUME_CLASS`]: for each claim of that class waiting for a volume it creates a
//!   PersistentVolume bound to it (the PV controller of kube-controller-manager then binds the
//!   claim), and deletes the volumes whose claims are gone.
//!
//! Used by `scripts/demo` (through the `demo-stack` binary) and by the tests of both examples.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{Value, json};

use crate::coder::CoderEmulator;
use crate::coder_v2::CoderV2;
use crate::installer_double::InstallerDouble;
use crate::kube::{KubeApi, KubeCluster, NodeInfo, NodeOptions, Taint};
use crate::moto::{ClusterFixture, Moto, MotoClient, REGION};
use crate::registry::Registry;

/// The EKS cluster the demo's node groups join.
pub const CLUSTER_NAME: &str = "cvm-demo";
/// Its Kubernetes version (and the kubelet version the joined nodes report).
pub const KUBERNETES_VERSION: &str = "1.33";
/// Where the copies of Canonical's AMI parameters live (moto refuses names under `/aws`).
pub const AMI_PARAMETER_PREFIX: &str = "/demo/canonical/ubuntu";
/// The AMI id the copied parameters hold.
pub const DEMO_AMI: &str = "ami-0c0ffee0c0ffee000";
/// The namespace CVM workspaces run in: `examples/complete`'s default, which the stack creates
/// (as a cluster's setup, e.g. Coder's Helm chart, would).
pub const WORKSPACE_NAMESPACE: &str = "coder-workspaces";
/// The default StorageClass, served by the volume provisioner.
pub const VOLUME_CLASS: &str = "demo-ebs";
/// The provisioner name of [`VOLUME_CLASS`], and the `pv.kubernetes.io/provisioned-by` of the
/// volumes it makes.
const VOLUME_PROVISIONER: &str = "demo.cvm.local/volume-provisioner";

/// How often the stand-ins look at moto and the API server.
const TICK: Duration = Duration::from_millis(250);

/// Which Coder the stack serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generation {
    /// The Coder v1 emulator (`examples/coder-v1`).
    V1,
    /// The real Coder v2 server and the image registry (`examples/complete`).
    V2,
}

/// The Coder deployment of the stack.
pub enum StackCoder {
    /// The Coder v1 emulator.
    V1(CoderEmulator),
    /// The real Coder v2 server, whose provisioners reach the cluster through its kubeconfig,
    /// and the registry the pull secret logs in to.
    V2 {
        /// The server.
        server: CoderV2,
        /// The registry (TLS from a test CA, one user).
        registry: &'static Registry,
    },
}

/// Everything the complete examples talk to; stopped on drop.
pub struct DemoStack {
    /// moto, serving EKS, EC2, IAM and SSM.
    pub moto: Moto,
    /// The Kubernetes API server.
    pub kube: KubeCluster,
    /// Coder.
    pub coder: StackCoder,
    /// The EKS cluster, its network and node role, in moto.
    pub fixture: ClusterFixture,
    // Dropped (stopped) before the cluster they talk to.
    joiner: StandIn,
    volumes: StandIn,
    installer: InstallerDouble,
}

impl std::fmt::Debug for DemoStack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let coder = match &self.coder {
            StackCoder::V1(emulator) => format!("v1 emulator {}", emulator.url),
            StackCoder::V2 { server, registry } => {
                format!("v2 {}, registry {}", server.url, registry.address)
            }
        };
        f.debug_struct("DemoStack")
            .field("moto", &self.moto.endpoint())
            .field("kube", &self.kube.server_url())
            .field("coder", &coder)
            .finish_non_exhaustive()
    }
}

impl DemoStack {
    /// Starts every part on loopback and creates the EKS cluster, the AMI parameters, the
    /// default StorageClass and (for Coder v2) the workspace namespace.
    pub fn start(generation: Generation) -> Result<DemoStack, crate::Error> {
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
        kube.request(
            "POST",
            "/apis/storage.k8s.io/v1/storageclasses",
            Some(json!({
                "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
                "metadata": {
                    "name": VOLUME_CLASS,
                    "annotations": { "storageclass.kubernetes.io/is-default-class": "true" },
                },
                "provisioner": VOLUME_PROVISIONER,
                "reclaimPolicy": "Delete",
                "volumeBindingMode": "Immediate",
            })),
        )?;
        let coder = match generation {
            Generation::V1 => StackCoder::V1(CoderEmulator::start()?),
            Generation::V2 => {
                kube.create_namespace(WORKSPACE_NAMESPACE, &[])?;
                let kubeconfig = kube.kubeconfig_path().display().to_string();
                StackCoder::V2 {
                    server: CoderV2::start_with_env(&[("KUBECONFIG", kubeconfig.as_str())])?,
                    registry: Registry::shared()?,
                }
            }
        };
        let installer = InstallerDouble::start(kube.api());
        let joiner = {
            let (moto, kube) = (MotoClient::new(moto.endpoint()), kube.api());
            StandIn::start("joiner", move |note| join_nodes(&moto, &kube, note))
        };
        let volumes = {
            let kube = kube.api();
            StandIn::start("volume provisioner", move |note| {
                provision_volumes(&kube, note)
            })
        };
        Ok(DemoStack {
            moto,
            kube,
            coder,
            fixture,
            joiner,
            volumes,
            installer,
        })
    }

    /// The Coder v2 server, when the stack serves v2.
    pub fn coder_v2(&self) -> Result<&CoderV2, crate::Error> {
        match &self.coder {
            StackCoder::V2 { server, .. } => Ok(server),
            StackCoder::V1(_) => Err(crate::Error::Assertion(
                "this stack serves Coder v1; start it with Generation::V2".into(),
            )),
        }
    }

    /// The Coder v1 emulator, when the stack serves v1.
    pub fn coder_v1(&self) -> Result<&CoderEmulator, crate::Error> {
        match &self.coder {
            StackCoder::V1(emulator) => Ok(emulator),
            StackCoder::V2 { .. } => Err(crate::Error::Assertion(
                "this stack serves Coder v2; start it with Generation::V1".into(),
            )),
        }
    }

    /// The environment Terraform needs: where moto, the API server and Coder are (and, for v2,
    /// the registry password as `TF_VAR_registry_password`). `CVM_DEMO_KUBE_CA` names the
    /// cluster CA for `demo-stack workspace`.
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
        env.push((
            "CVM_DEMO_KUBE_CA".to_owned(),
            self.kube.ca_path().display().to_string(),
        ));
        let (url, token) = match &self.coder {
            StackCoder::V1(emulator) => (&emulator.url, &emulator.token),
            StackCoder::V2 { server, registry } => {
                env.push((
                    "TF_VAR_registry_password".to_owned(),
                    registry.password.clone(),
                ));
                (&server.url, &server.token)
            }
        };
        env.push(("CODER_URL".to_owned(), url.clone()));
        env.push(("CODER_SESSION_TOKEN".to_owned(), token.clone()));
        env
    }

    /// `terraform.tfvars` for the example of the stack's generation.
    pub fn tfvars(&self) -> String {
        let subnets: Vec<String> = self
            .fixture
            .network
            .subnet_ids
            .iter()
            .map(|s| format!("{s:?}"))
            .collect();
        let mut vars = format!(
            "aws_region           = {REGION:?}\ncluster_name         = {:?}\nkubernetes_version   = {KUBERNETES_VERSION:?}\nnode_role_arn        = {:?}\nsubnet_ids           = [{}]\nami_parameter_prefix = {AMI_PARAMETER_PREFIX:?}\n",
            self.fixture.cluster_name,
            self.fixture.node_role_arn,
            subnets.join(", "),
        );
        if let StackCoder::V2 { registry, .. } = &self.coder {
            vars.push_str(&format!(
                "registry             = {:?}\nregistry_username    = {:?}\nregistry_ca          = <<-EOT\n{}EOT\n",
                registry.address, registry.username, registry.ca_pem,
            ));
        }
        vars
    }

    /// What the node joiner did, in order.
    pub fn joiner_journal(&self) -> Vec<String> {
        self.joiner.journal()
    }

    /// What the volume provisioner did, in order.
    pub fn volume_journal(&self) -> Vec<String> {
        self.volumes.journal()
    }

    /// What the installer double did, in order.
    pub fn installer_journal(&self) -> Vec<String> {
        self.installer.journal()
    }
}

/// Where a Coder v2 workspace's CVM runs, as the API server tells it.
#[derive(Debug, Clone)]
pub struct Placement {
    /// Coder's id of the workspace.
    pub workspace_id: String,
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name.
    pub pod: String,
    /// `status.phase` of the pod.
    pub phase: String,
    /// `spec.runtimeClassName` of the pod.
    pub runtime_class: String,
    /// The node the scheduler put it on.
    pub node: String,
    /// That node's `sysbox-runtime` label.
    pub node_sysbox: String,
    /// The home volume's claim and its `status.phase`.
    pub claim: (String, String),
}

impl std::fmt::Display for Placement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "pod {}/{} {} on node {} (sysbox-runtime={}), runtime class {}; home volume claim {} {}",
            self.namespace,
            self.pod,
            self.phase,
            self.node,
            self.node_sysbox,
            self.runtime_class,
            self.claim.0,
            self.claim.1,
        )
    }
}

/// Creates a workspace of `template` as Coder's first user would, through Coder's API, waits until
/// its build succeeded, and reads where its CVM runs.
pub fn create_workspace(
    coder: &CoderV2,
    kube: &KubeApi,
    template: &str,
    name: &str,
) -> Result<Placement, crate::Error> {
    let template = coder
        .template(template)?
        .ok_or_else(|| crate::Error::CoderV2(format!("no template {template}")))?;
    let workspace = coder.create_workspace(&template, name)?;
    placement(kube, workspace["id"].as_str().unwrap_or_default())
}

/// Deletes the first user's workspace `name` (a delete build), if there is one; returns whether
/// there was.
pub fn delete_workspace(coder: &CoderV2, name: &str) -> Result<bool, crate::Error> {
    match coder.workspace(name)? {
        Some(workspace) => coder.delete_workspace(&workspace).map(|()| true),
        None => Ok(false),
    }
}

/// The pod and claim labelled with the workspace's id (the template labels them so).
pub fn placement(kube: &KubeApi, workspace_id: &str) -> Result<Placement, crate::Error> {
    let selector = format!("labelSelector=com.coder.workspace.id%3D{workspace_id}");
    let only = |kind: &str, list: Value| -> Result<Value, crate::Error> {
        match list["items"].as_array().map(Vec::as_slice) {
            Some([one]) => Ok(one.clone()),
            _ => Err(crate::Error::Assertion(format!(
                "not one {kind} of workspace {workspace_id}: {list}"
            ))),
        }
    };
    let pod = only("pod", kube.get(&format!("/api/v1/pods?{selector}"))?)?;
    let claim = only(
        "claim",
        kube.get(&format!("/api/v1/persistentvolumeclaims?{selector}"))?,
    )?;
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let node = text(&pod["spec"]["nodeName"]);
    let node_sysbox = if node.is_empty() {
        String::new()
    } else {
        text(&kube.get(&format!("/api/v1/nodes/{node}"))?["metadata"]["labels"]["sysbox-runtime"])
    };
    Ok(Placement {
        workspace_id: workspace_id.to_owned(),
        namespace: text(&pod["metadata"]["namespace"]),
        pod: text(&pod["metadata"]["name"]),
        phase: text(&pod["status"]["phase"]),
        runtime_class: text(&pod["spec"]["runtimeClassName"]),
        node,
        node_sysbox,
        claim: (
            text(&claim["metadata"]["name"]),
            text(&claim["status"]["phase"]),
        ),
    })
}

/// A thread that plays a part of the cloud: runs a pass every [`TICK`] until dropped, keeping a
/// journal of what it did (and of the passes that failed).
struct StandIn {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    journal: Arc<Mutex<Vec<String>>>,
}

impl StandIn {
    fn start(
        part: &'static str,
        mut pass: impl FnMut(&dyn Fn(String)) -> Result<(), crate::Error> + Send + 'static,
    ) -> StandIn {
        let stop = Arc::new(AtomicBool::new(false));
        let journal: Arc<Mutex<Vec<String>>> = Arc::default();
        let thread = {
            let stop = Arc::clone(&stop);
            let journal = Arc::clone(&journal);
            std::thread::spawn(move || {
                let note = |line: String| {
                    if let Ok(mut j) = journal.lock() {
                        j.push(line);
                    }
                };
                while !stop.load(Ordering::Relaxed) {
                    if let Err(e) = pass(&note) {
                        note(format!("{part} error: {e}"));
                    }
                    std::thread::sleep(TICK);
                }
            })
        };
        StandIn {
            stop,
            thread: Some(thread),
            journal,
        }
    }

    fn journal(&self) -> Vec<String> {
        self.journal.lock().map(|j| j.clone()).unwrap_or_default()
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One pass of the volume provisioner: a volume for each claim of [`VOLUME_CLASS`] that waits for
/// one, and none left whose claim is gone.
fn provision_volumes(kube: &KubeApi, note: &dyn Fn(String)) -> Result<(), crate::Error> {
    let items = |list: Value| list["items"].as_array().cloned().unwrap_or_default();
    let volumes = items(kube.get("/api/v1/persistentvolumes")?);
    let ours = |pv: &&Value| {
        pv["metadata"]["annotations"]["pv.kubernetes.io/provisioned-by"] == VOLUME_PROVISIONER
    };
    let existing: BTreeSet<String> = volumes
        .iter()
        .filter_map(|pv| pv["metadata"]["name"].as_str().map(str::to_owned))
        .collect();
    for claim in items(kube.get("/api/v1/persistentvolumeclaims")?) {
        let (metadata, spec) = (&claim["metadata"], &claim["spec"]);
        let waiting = spec["storageClassName"] == VOLUME_CLASS
            && claim["status"]["phase"] == "Pending"
            && spec["volumeName"].as_str().unwrap_or_default().is_empty()
            && metadata["deletionTimestamp"].is_null();
        let uid = metadata["uid"].as_str().unwrap_or_default();
        let name = format!("pvc-{uid}");
        if !waiting || existing.contains(&name) {
            continue;
        }
        kube.request(
            "POST",
            "/api/v1/persistentvolumes",
            Some(json!({
                "apiVersion": "v1", "kind": "PersistentVolume",
                "metadata": {
                    "name": name,
                    "annotations": { "pv.kubernetes.io/provisioned-by": VOLUME_PROVISIONER },
                },
                "spec": {
                    "capacity": { "storage": spec["resources"]["requests"]["storage"] },
                    "accessModes": spec["accessModes"],
                    "persistentVolumeReclaimPolicy": "Delete",
                    "storageClassName": VOLUME_CLASS,
                    "claimRef": {
                        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
                        "namespace": metadata["namespace"], "name": metadata["name"], "uid": uid,
                    },
                    // Never used: kwok runs no containers.
                    "hostPath": { "path": format!("/var/lib/demo-volumes/{uid}") },
                },
            })),
        )?;
        note(format!(
            "{name}: provisioned for claim {}/{}",
            metadata["namespace"].as_str().unwrap_or_default(),
            metadata["name"].as_str().unwrap_or_default()
        ));
    }
    for pv in volumes.iter().filter(ours) {
        if pv["status"]["phase"] == "Released" {
            let name = pv["metadata"]["name"].as_str().unwrap_or_default();
            kube.delete(&format!("/api/v1/persistentvolumes/{name}"))?;
            note(format!("{name}: deleted (its claim is gone)"));
        }
    }
    Ok(())
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
    note: &dyn Fn(String),
) -> Result<(), crate::Error> {
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
        // containerd 2.1: CVM pods run with `hostUsers: false` (containerd >= 2.0.5).
        let info = NodeInfo {
            kubelet_version: format!("v{KUBERNETES_VERSION}.5"),
            container_runtime_version: "containerd://2.1.4".to_owned(),
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
