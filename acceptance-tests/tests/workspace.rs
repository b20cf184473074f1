//! Acceptance tests for `cvm_workspace` on the scheduling test cluster (kube-apiserver, etcd,
//! kube-scheduler, kube-controller-manager and kwok), on every available Terraform.
//!
//! What is real: the API server (its RuntimeClass admission merges `sysbox-runc`'s node selector
//! into the pod), the scheduler (placing the pod only on a node labelled
//! `sysbox-runtime=running`, respecting taints), the PersistentVolume binder (binding the home
//! claim to a PersistentVolume the test provisions statically, as an administrator would), and
//! the garbage of deletions. kwok plays each node's kubelet: it reports a scheduled pod Running
//! and runs no container, so no image is pulled and no agent connects; what is asserted is what
//! the API server stores.

use std::collections::BTreeMap;

use acceptance_tests::kube::{self, KubeCluster, NodeInfo, NodeOptions, Taint};
use acceptance_tests::{self as acc, Action, Terraform};
use serde_json::{Value, json};

/// Per client: its namespace, its Sysbox node and storage class (they share one cluster).
struct Fixture {
    namespace: String,
    /// A node running Sysbox (`sysbox-runtime=running`, containerd 2.1).
    sysbox_node: String,
    /// A label every node of this client has, for `node_selector`.
    client_label: (String, String),
    storage_class: String,
}

fn fixture(cluster: &KubeCluster, tf: &Terraform, test: &str) -> Result<Fixture, acc::Error> {
    let tag = format!("{test}-{}", tf.tag().replace('.', "-"));
    cluster.create_namespace(&tag, &[])?;
    let client_label = ("cvm-test/client".to_owned(), tag.clone());
    let info = NodeInfo {
        container_runtime_version: "containerd://2.1.4".into(),
        kernel_version: "6.8.0-1021-aws".into(),
        os_image: "Ubuntu 24.04.2 LTS".into(),
        ..NodeInfo::ubuntu_22_04()
    };
    let sysbox_node = format!("{tag}-sysbox");
    // A node without Sysbox, matching node_selector too: no sysbox-runc pod may land there.
    let plain_node = format!("{tag}-plain");
    let mut labels = BTreeMap::from([client_label.clone()]);
    cluster.create_node_with(
        &plain_node,
        &info,
        &NodeOptions {
            labels: labels.clone(),
            ..NodeOptions::default()
        },
    )?;
    labels.insert("sysbox-runtime".into(), "running".into());
    cluster.create_node_with(
        &sysbox_node,
        &info,
        &NodeOptions {
            labels,
            ..NodeOptions::default()
        },
    )?;
    cluster.create_sysbox_runtime_class()?;
    Ok(Fixture {
        namespace: tag.clone(),
        sysbox_node,
        client_label,
        storage_class: format!("static-{tag}"),
    })
}

/// A PersistentVolume of the fixture's storage class, for one home claim to bind to.
fn provision_volume(cluster: &KubeCluster, fx: &Fixture, name: &str) -> Result<(), acc::Error> {
    cluster.request(
        "POST",
        "/api/v1/persistentvolumes",
        Some(json!({
            "apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": { "name": name },
            "spec": {
                "capacity": { "storage": "10Gi" },
                "accessModes": ["ReadWriteOnce"],
                "persistentVolumeReclaimPolicy": "Retain",
                "storageClassName": fx.storage_class,
                "hostPath": { "path": format!("/tmp/{name}") },
            },
        })),
    )?;
    Ok(())
}

fn workspace(fx: &Fixture, name: &str, extra: &str) -> String {
    format!(
        r#"
resource "cvm_workspace" "dev" {{
  namespace         = "{namespace}"
  name              = "{name}"
  image             = "codercom/enterprise-base:ubuntu"
  agent_token       = "agent-token-1"
  agent_init_script = "echo init"
  storage_class     = "{storage_class}"
  node_selector     = {{ "{label_key}" = "{label_value}" }}
  {extra}
}}
"#,
        namespace = fx.namespace,
        storage_class = fx.storage_class,
        label_key = fx.client_label.0,
        label_value = fx.client_label.1,
    )
}

fn config(cluster: &KubeCluster, body: &str) -> String {
    format!("{}{body}", acc::provider_config(&cluster.provider_block()))
}

fn pod_path(fx: &Fixture, name: &str) -> String {
    format!("/api/v1/namespaces/{}/pods/{name}", fx.namespace)
}

fn claim_path(fx: &Fixture, name: &str) -> String {
    format!(
        "/api/v1/namespaces/{}/persistentvolumeclaims/{name}-home",
        fx.namespace
    )
}

fn is_gone(cluster: &KubeCluster, path: &str) -> Result<bool, acc::Error> {
    match cluster.get(path) {
        Ok(_) => Ok(false),
        Err(kube::Error::Api { status: 404, .. }) => Ok(true),
        Err(e) => Err(e.into()),
    }
}

fn assert_runs_on_sysbox(
    cluster: &KubeCluster,
    fx: &Fixture,
    wd: &acc::Workdir,
    name: &str,
) -> Result<Value, acc::Error> {
    let pod = cluster.get(&pod_path(fx, name))?;
    assert_eq!(pod["status"]["phase"], "Running", "{pod}");
    assert_eq!(pod["spec"]["nodeName"], json!(fx.sysbox_node), "{pod}");
    assert_eq!(pod["spec"]["runtimeClassName"], "sysbox-runc");
    // Merged in from the RuntimeClass by the API server.
    assert_eq!(pod["spec"]["nodeSelector"]["sysbox-runtime"], "running");
    let state = wd.show()?;
    let dev = state.resource("cvm_workspace.dev")?;
    assert_eq!(
        dev.str("pod_uid")?,
        pod["metadata"]["uid"].as_str().unwrap_or_default()
    );
    assert_eq!(dev.str("node_name")?, fx.sysbox_node);
    Ok(pod)
}

#[test]
fn a_sysbox_runc_workspace_starts_stops_and_goes() {
    let cluster = KubeCluster::start().expect("a kube-apiserver (scripts/kube-peers build)");
    acc::run(|tf| -> Result<(), acc::Error> {
        let fx = fixture(&cluster, tf, "ws")?;
        provision_volume(&cluster, &fx, &format!("{}-home-1", fx.namespace))?;
        let wd = acc::Workdir::new(tf)?;
        let name = "alice-dev";
        wd.config(&config(&cluster, &workspace(&fx, name, "")))?;
        wd.apply()?;
        wd.assert_plan_empty()?;
        let pod = assert_runs_on_sysbox(&cluster, &fx, &wd, name)?;
        // containerd 2.1 on the nodes: the user namespace through hostUsers.
        assert_eq!(pod["spec"]["hostUsers"], json!(false), "{pod}");
        let container = &pod["spec"]["containers"][0];
        assert_eq!(container["image"], "codercom/enterprise-base:ubuntu");
        assert_eq!(container["args"], json!(["echo init"]));
        assert_eq!(container["resources"]["limits"]["memory"], "4Gi");
        assert_eq!(
            pod["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"],
            "alice-dev-home"
        );
        let claim = cluster.get(&claim_path(&fx, name))?;
        assert_eq!(claim["status"]["phase"], "Bound", "{claim}");
        let claim_uid = claim["metadata"]["uid"].clone();
        let state = wd.show()?;
        assert_eq!(
            state.resource("cvm_workspace.dev")?.str("user_namespace")?,
            "host-users-false"
        );

        // Stop: the pod goes, the home volume stays.
        wd.config(&config(&cluster, &workspace(&fx, name, "running = false")))?;
        wd.apply()?;
        wd.assert_plan_empty()?;
        assert!(
            is_gone(&cluster, &pod_path(&fx, name))?,
            "the pod of a stopped workspace is there"
        );
        assert_eq!(
            cluster.get(&claim_path(&fx, name))?["metadata"]["uid"],
            claim_uid
        );

        // Start: a new pod on the Sysbox node, with the same home volume.
        wd.config(&config(&cluster, &workspace(&fx, name, "running = true")))?;
        wd.apply()?;
        wd.assert_plan_empty()?;
        let started = assert_runs_on_sysbox(&cluster, &fx, &wd, name)?;
        assert_ne!(started["metadata"]["uid"], pod["metadata"]["uid"]);
        assert_eq!(
            cluster.get(&claim_path(&fx, name))?["metadata"]["uid"],
            claim_uid
        );

        // What the cluster adds to a pod (a CNI's annotation, a webhook's label) is no drift.
        cluster.merge_patch(
            &pod_path(&fx, name),
            json!({ "metadata": {
                "annotations": { "cni.projectcalico.org/podIP": "10.0.0.7/32" },
                "labels": { "security.example.com/scanned": "true" },
            } }),
        )?;
        wd.assert_plan_empty()?;

        // Deleted outside Terraform: a new pod is planned and made.
        // (A pod being deleted already counts as gone to the refresh.)
        cluster.delete(&pod_path(&fx, name))?;
        assert_eq!(wd.plan()?.actions("cvm_workspace.dev")?, vec!["update"]);
        wd.apply()?;
        wd.assert_plan_empty()?;
        assert_runs_on_sysbox(&cluster, &fx, &wd, name)?;

        // A new image and a node directory mounted read-only: the pod is made anew (pods are
        // immutable).
        let before = cluster.get(&pod_path(&fx, name))?["metadata"]["uid"].clone();
        let mounted = "running = true\n  mount {\n    path      = \"/opt/tools\"\n    host_path = \"/srv/tools\"\n    read_only = true\n  }";
        wd.config(&config(
            &cluster,
            &workspace(&fx, name, mounted).replace(
                "codercom/enterprise-base:ubuntu",
                "codercom/enterprise-base:ubuntu-noble",
            ),
        ))?;
        wd.apply()?;
        wd.assert_plan_empty()?;
        let replaced = assert_runs_on_sysbox(&cluster, &fx, &wd, name)?;
        assert_ne!(replaced["metadata"]["uid"], before);
        assert_eq!(
            replaced["spec"]["containers"][0]["image"],
            "codercom/enterprise-base:ubuntu-noble"
        );
        assert_eq!(
            replaced["spec"]["containers"][0]["volumeMounts"][1],
            json!({ "name": "mount-0", "mountPath": "/opt/tools", "readOnly": true })
        );
        let volume = replaced["spec"]["volumes"]
            .as_array()
            .and_then(|v| v.iter().find(|v| v["name"] == "mount-0"))
            .cloned();
        assert_eq!(
            volume.map(|v| v["hostPath"].clone()),
            Some(json!({ "path": "/srv/tools", "type": "Directory" }))
        );

        wd.import_and_compare(
            "cvm_workspace.dev",
            &format!("{}/{name}", fx.namespace),
            &["timeouts"],
        )?;

        wd.destroy()?;
        assert!(is_gone(&cluster, &pod_path(&fx, name))?);
        assert!(is_gone(&cluster, &claim_path(&fx, name))?);
        Ok(())
    });
}

#[test]
fn a_workspace_that_cannot_be_placed_says_why() {
    let cluster = KubeCluster::start().expect("a kube-apiserver (scripts/kube-peers build)");
    acc::run(|tf| -> Result<(), acc::Error> {
        let fx = fixture(&cluster, tf, "wsx")?;
        provision_volume(&cluster, &fx, &format!("{}-home-1", fx.namespace))?;
        // The Sysbox node is tainted: the workspace does not tolerate it, and the other node
        // has no Sysbox.
        cluster.taint_node(&fx.sysbox_node, &Taint::no_schedule("dedicated", "cvm"))?;
        let wd = acc::Workdir::new(tf)?;
        let name = "bob-dev";
        let short = "timeouts {\n    create = \"20s\"\n    update = \"60s\"\n  }";
        wd.config(&config(&cluster, &workspace(&fx, name, short)))?;
        wd.expect_error(
            Action::Apply,
            r"Error: Workspace Not Running.*is not running after \d+s\. The scheduler cannot place the pod: 0/\d+ nodes are available:.*untolerated taint.*add a toleration block",
        )?;
        let pod = cluster.get(&pod_path(&fx, name))?;
        assert_eq!(
            pod["status"]["phase"], "Pending",
            "left for inspection: {pod}"
        );
        assert!(pod["spec"]["nodeName"].is_null());

        // Tolerated, it runs on the Sysbox node (the failed create tainted the resource, so it
        // is replaced).
        let tolerated = format!(
            "{short}\n  toleration {{\n    key    = \"dedicated\"\n    value  = \"cvm\"\n    effect = \"NoSchedule\"\n  }}"
        );
        provision_volume(&cluster, &fx, &format!("{}-home-2", fx.namespace))?;
        wd.config(&config(&cluster, &workspace(&fx, name, &tolerated)))?;
        wd.apply()?;
        wd.assert_plan_empty()?;
        let pod = assert_runs_on_sysbox(&cluster, &fx, &wd, name)?;
        assert_eq!(pod["spec"]["tolerations"][0]["key"], "dedicated", "{pod}");
        // The cluster added tolerations of its own (not-ready, unreachable): the import takes
        // only the workspace's.
        assert!(
            pod["spec"]["tolerations"]
                .as_array()
                .is_some_and(|t| t.len() > 1),
            "{pod}"
        );
        wd.import_and_compare(
            "cvm_workspace.dev",
            &format!("{}/{name}", fx.namespace),
            &["timeouts"],
        )?;
        wd.destroy()?;
        cluster.untaint_node(&fx.sysbox_node, "dedicated")?;

        // No node with Sysbox matches at all: refused before a pod is made.
        let nowhere = workspace(&fx, "carol-dev", "").replace(
            &format!("\"{}\" = \"{}\"", fx.client_label.0, fx.client_label.1),
            "\"cvm-test/client\" = \"nobody\"",
        );
        wd.config(&config(&cluster, &nowhere))?;
        wd.expect_error(
            Action::Apply,
            r"Error: No Node for the Workspace.*No node matches cvm-test/client=nobody,sysbox-runtime=running",
        )?;
        assert!(is_gone(&cluster, &pod_path(&fx, "carol-dev"))?);
        wd.destroy()?;
        assert!(is_gone(&cluster, &pod_path(&fx, name))?);
        assert!(is_gone(&cluster, &claim_path(&fx, "carol-dev"))?);
        Ok(())
    });
}

#[test]
fn an_envbox_workspace_runs_privileged_with_the_image_inside() {
    let cluster = KubeCluster::start().expect("a kube-apiserver (scripts/kube-peers build)");
    acc::run(|tf| -> Result<(), acc::Error> {
        let fx = fixture(&cluster, tf, "wse")?;
        provision_volume(&cluster, &fx, &format!("{}-home-1", fx.namespace))?;
        // A shared claim the workspace mounts besides its home.
        provision_volume(&cluster, &fx, &format!("{}-shared-1", fx.namespace))?;
        cluster.request(
            "POST",
            &format!("/api/v1/namespaces/{}/persistentvolumeclaims", fx.namespace),
            Some(json!({
                "apiVersion": "v1", "kind": "PersistentVolumeClaim",
                "metadata": { "name": "shared-data" },
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "storageClassName": fx.storage_class,
                    "resources": { "requests": { "storage": "10Gi" } },
                },
            })),
        )?;
        // Only the Sysbox node offers a GPU (as NVIDIA's device plugin would report it).
        let gpu = json!({ "nvidia.com/gpu": "1" });
        cluster.merge_patch(
            &format!("/api/v1/nodes/{}/status", fx.sysbox_node),
            json!({ "status": { "capacity": gpu, "allocatable": gpu } }),
        )?;
        let wd = acc::Workdir::new(tf)?;
        let name = "dana-dev";
        let extra = "style = \"envbox\"\n  add_tun = true\n  gpus = 1\n  image_pull_secret = \"team-registry\"\n  agent_url = \"https://coder.example.com\"\n  mount {\n    path      = \"/data\"\n    claim     = \"shared-data\"\n    read_only = true\n  }\n  mount {\n    path      = \"/scratch\"\n    host_path = \"/mnt/scratch\"\n  }";
        wd.config(&config(&cluster, &workspace(&fx, name, extra)))?;
        // envbox reads the pull secret through the environment: the Secret must exist.
        cluster.request(
            "POST",
            &format!("/api/v1/namespaces/{}/secrets", fx.namespace),
            Some(json!({
                "apiVersion": "v1", "kind": "Secret",
                "metadata": { "name": "team-registry" },
                "type": "kubernetes.io/dockerconfigjson",
                "data": { ".dockerconfigjson": "e30=" },
            })),
        )?;
        wd.apply()?;
        wd.assert_plan_empty()?;
        let pod = cluster.get(&pod_path(&fx, name))?;
        assert_eq!(pod["status"]["phase"], "Running", "{pod}");
        assert!(pod["spec"]["runtimeClassName"].is_null());
        assert!(pod["spec"]["hostUsers"].is_null());
        let container = &pod["spec"]["containers"][0];
        assert_eq!(container["image"], "ghcr.io/coder/envbox:0.6.7");
        assert_eq!(container["securityContext"]["privileged"], true);
        let env: BTreeMap<String, Value> = container["env"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|e| (e["name"].as_str().unwrap_or_default().to_owned(), e.clone()))
            .collect();
        assert_eq!(
            env["CODER_INNER_IMAGE"]["value"],
            "codercom/enterprise-base:ubuntu"
        );
        assert_eq!(env["CODER_ADD_TUN"]["value"], "true");
        assert_eq!(env["CODER_AGENT_URL"]["value"], "https://coder.example.com");
        // The GPU: asked of the scheduler (so only the node offering one fits) and passed on.
        assert_eq!(pod["spec"]["nodeName"], fx.sysbox_node.as_str(), "{pod}");
        assert_eq!(container["resources"]["limits"]["nvidia.com/gpu"], "1");
        assert_eq!(env["CODER_ADD_GPU"]["value"], "true");
        assert_eq!(env["CODER_USR_LIB_DIR"]["value"], "/var/coder/usr/lib");
        // The extra mounts: volumes of the pod, held by the outer container, passed inside.
        assert_eq!(
            env["CODER_MOUNTS"]["value"],
            "/home/coder:/home/coder,/var/coder/mounts/0:/data:ro,/var/coder/mounts/1:/scratch"
        );
        let volumes: BTreeMap<String, Value> = pod["spec"]["volumes"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| (v["name"].as_str().unwrap_or_default().to_owned(), v.clone()))
            .collect();
        assert_eq!(
            volumes["mount-0"]["persistentVolumeClaim"],
            json!({ "claimName": "shared-data", "readOnly": true })
        );
        assert_eq!(volumes["mount-1"]["hostPath"]["path"], "/mnt/scratch");
        assert_eq!(volumes["usr-lib"]["hostPath"]["path"], "/usr/lib");
        assert_eq!(
            env["CODER_IMAGE_PULL_SECRET"]["valueFrom"]["secretKeyRef"]["name"],
            "team-registry"
        );
        let state = wd.show()?;
        assert!(
            state
                .resource("cvm_workspace.dev")?
                .get("user_namespace")?
                .is_null()
        );
        wd.import_and_compare(
            "cvm_workspace.dev",
            &format!("{}/{name}", fx.namespace),
            &["timeouts"],
        )?;
        wd.destroy()?;
        assert!(is_gone(&cluster, &pod_path(&fx, name))?);
        assert!(is_gone(&cluster, &claim_path(&fx, name))?);
        Ok(())
    });
}
