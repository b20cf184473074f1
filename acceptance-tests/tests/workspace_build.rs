//! The proof of #13 end to end: the ready CVM template (`data.cvm_workspace_template`) pushed with
//! `cvm_coder_template` to a real Coder v2 server, and a workspace created, stopped, started and
//! deleted through Coder's API as a user would. Coder's provisioner runs Terraform with `coder`
//! and this provider from its filesystem mirror, and the provider creates the CVM pod and home
//! volume in the scheduling test cluster (the server gets the cluster's KUBECONFIG, as a
//! provisioner outside the cluster would).
//!
//! Nothing is emulated but the kubelet (kwok): it reports a scheduled pod Running and runs no
//! container, so no image is pulled and the agent never connects. What is asserted is what
//! the build can show: the build succeeded, and the API server holds the pod (on the node that
//! reports Sysbox, and on no other) and the home volume claim; after a stop only the claim, after
//! a start a new pod with the same claim, after a delete neither.

use std::collections::BTreeMap;

use acceptance_tests::coder_v2::CoderV2;
use acceptance_tests::kube::{KubeCluster, NodeInfo, NodeOptions};
use acceptance_tests::{self as acc, Terraform};
use serde_json::{Value, json};

fn tag(tf: &Terraform) -> String {
    tf.tag().replace('.', "-")
}

/// The workspace's pods and claims in `namespace`, by its Coder id.
fn objects(
    cluster: &KubeCluster,
    namespace: &str,
    workspace_id: &str,
) -> Result<(Vec<Value>, Vec<Value>), acc::Error> {
    let selector = format!("com.coder.workspace.id%3D{workspace_id}");
    let pods = cluster.get(&format!(
        "/api/v1/namespaces/{namespace}/pods?labelSelector={selector}"
    ))?;
    let claims = cluster.get(&format!(
        "/api/v1/namespaces/{namespace}/persistentvolumeclaims?labelSelector={selector}"
    ))?;
    let items = |v: &Value| v["items"].as_array().cloned().unwrap_or_default();
    Ok((items(&pods), items(&claims)))
}

#[test]
fn a_cvm_workspace_is_built_stopped_started_and_deleted_by_coder() {
    let cluster = KubeCluster::start().expect("a kube-apiserver (scripts/kube-peers build)");
    let kubeconfig = cluster.kubeconfig_path().display().to_string();
    let coder = CoderV2::start_with_env(&[("KUBECONFIG", kubeconfig.as_str())])
        .expect("a Coder v2 server (scripts/coder-v2 build)");
    cluster
        .create_sysbox_runtime_class()
        .expect("the RuntimeClass cvm_sysbox makes");
    let info = NodeInfo {
        container_runtime_version: "containerd://2.1.4".into(),
        ..NodeInfo::ubuntu_22_04()
    };
    // One node with Sysbox, one without: the scheduler must choose the first.
    cluster
        .create_node_with("build-plain", &info, &NodeOptions::default())
        .expect("a node");
    let sysbox = NodeOptions {
        labels: BTreeMap::from([("sysbox-runtime".to_owned(), "running".to_owned())]),
        ..NodeOptions::default()
    };
    cluster
        .create_node_with("build-sysbox", &info, &sysbox)
        .expect("a Sysbox node");

    acc::run(|tf| -> Result<(), acc::Error> {
        let tag = tag(tf);
        let namespace = format!("coder-{tag}");
        cluster.create_namespace(&namespace, &[])?;
        let class = format!("static-{tag}");
        cluster.request(
            "POST",
            "/api/v1/persistentvolumes",
            Some(json!({
                "apiVersion": "v1", "kind": "PersistentVolume",
                "metadata": { "name": format!("build-home-{tag}") },
                "spec": {
                    "capacity": { "storage": "10Gi" }, "accessModes": ["ReadWriteOnce"],
                    "persistentVolumeReclaimPolicy": "Retain", "storageClassName": class,
                    "hostPath": { "path": format!("/tmp/build-home-{tag}") },
                },
            })),
        )?;
        let template_name = format!("cvm-{tag}");
        let wd = coder.workdir(tf)?;
        wd.config(&coder.config(&format!(
            r#"
data "cvm_workspace_template" "cvm" {{
  namespace     = "{namespace}"
  storage_class = "{class}"
}}

resource "cvm_coder_template" "cvm" {{
  name  = "{template_name}"
  files = data.cvm_workspace_template.cvm.files
}}
"#
        )))?;
        // The import on the server is the template's check: Coder's provisioner ran Terraform
        // on the rendered files.
        wd.apply()?;
        wd.assert_plan_empty()?;
        let template = coder
            .template(&template_name)?
            .ok_or_else(|| acc::Error::Assertion(format!("no template {template_name}")))?;
        let version = template["active_version_id"].as_str().unwrap_or_default();
        let parameters = coder.ok(
            "GET",
            &format!("/api/v2/templateversions/{version}/rich-parameters"),
            None,
        )?;
        let mut names: Vec<&str> = parameters
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p["name"].as_str())
            .collect();
        names.sort_unstable();
        assert_eq!(
            names,
            ["cpu", "home_size", "image", "memory"],
            "{parameters}"
        );

        let workspace = coder.create_workspace(&template, &format!("w{}", tag.replace('-', "")))?;
        let id = workspace["id"].as_str().unwrap_or_default().to_owned();
        let (pods, claims) = objects(&cluster, &namespace, &id)?;
        assert_eq!(pods.len(), 1, "{pods:#?}");
        let pod = &pods[0];
        assert_eq!(pod["status"]["phase"], "Running", "{pod}");
        assert_eq!(pod["spec"]["nodeName"], "build-sysbox", "{pod}");
        assert_eq!(pod["spec"]["runtimeClassName"], "sysbox-runc");
        assert_eq!(pod["spec"]["hostUsers"], json!(false));
        let container = &pod["spec"]["containers"][0];
        assert_eq!(container["image"], "codercom/enterprise-base:ubuntu");
        assert_eq!(container["resources"]["limits"]["cpu"], "2");
        assert_eq!(container["resources"]["limits"]["memory"], "4Gi");
        // The agent's init script, as coder_agent rendered it for this build.
        let script = container["args"][0].as_str().unwrap_or_default();
        assert!(
            script.contains("CODER_AGENT_URL") || script.contains("coder"),
            "{script}"
        );
        assert_eq!(claims.len(), 1, "{claims:#?}");
        let claim_uid = claims[0]["metadata"]["uid"].clone();

        // Stop: the pod goes, the home volume stays.
        coder.build(&workspace, "stop")?;
        let (pods, claims) = objects(&cluster, &namespace, &id)?;
        assert!(pods.is_empty(), "a stopped workspace has a pod: {pods:#?}");
        assert_eq!(claims.len(), 1);
        assert_eq!(claims[0]["metadata"]["uid"], claim_uid);

        // Start: a pod again on the Sysbox node, with the same home volume.
        coder.build(&workspace, "start")?;
        let (pods, claims) = objects(&cluster, &namespace, &id)?;
        assert_eq!(pods.len(), 1, "{pods:#?}");
        assert_eq!(pods[0]["spec"]["nodeName"], "build-sysbox");
        assert_eq!(pods[0]["status"]["phase"], "Running");
        assert_ne!(pods[0]["metadata"]["uid"], pod["metadata"]["uid"]);
        assert_eq!(claims[0]["metadata"]["uid"], claim_uid);

        // Delete: neither is left.
        coder.delete_workspace(&workspace)?;
        let (pods, claims) = objects(&cluster, &namespace, &id)?;
        assert!(
            pods.is_empty() && claims.is_empty(),
            "{pods:#?} {claims:#?}"
        );
        wd.destroy()?;
        Ok(())
    });
}
