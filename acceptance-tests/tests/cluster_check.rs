//! Acceptance tests for `data.cvm_cluster_check` against a real
//! kube-apiserver; the test plays the node side by creating Node objects
//! with the node info real kubelets report.

use acceptance_tests::kube::{KubeCluster, NodeInfo, NodeOptions, Taint};
use acceptance_tests::{self as acc, Action, Workdir};
use serde_json::Value;

fn node(os_image: &str, kernel: &str, runtime: &str, kubelet: &str, arch: &str) -> NodeInfo {
    NodeInfo {
        os_image: os_image.to_owned(),
        kernel_version: kernel.to_owned(),
        container_runtime_version: runtime.to_owned(),
        kubelet_version: kubelet.to_owned(),
        architecture: arch.to_owned(),
    }
}

fn config(cluster: &KubeCluster, body: &str) -> String {
    format!("{}{body}", acc::provider_config(&cluster.provider_block()))
}

fn verdict<'a>(nodes: &'a Value, name: &str) -> &'a Value {
    nodes
        .as_array()
        .and_then(|all| all.iter().find(|n| n["name"] == name))
        .unwrap_or_else(|| panic!("node {name} missing from {nodes}"))
}

fn reasons(v: &Value) -> String {
    v["reasons"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(" | ")
        })
        .unwrap_or_default()
}

#[test]
fn mixed_nodes_get_the_expected_verdicts_and_reasons() {
    let cluster = KubeCluster::start().expect("a kube-apiserver (scripts/kube-peers build)");
    let containerd = "containerd://2.1.5";
    let nodes = [
        (
            "focal-old",
            node(
                "Ubuntu 20.04.6 LTS",
                "5.4.0-1103-aws",
                containerd,
                "v1.33.5",
                "amd64",
            ),
        ),
        (
            "focal-new",
            node(
                "Ubuntu 20.04.6 LTS",
                "5.15.0-1072-aws",
                containerd,
                "v1.33.5",
                "amd64",
            ),
        ),
        (
            "jammy",
            node(
                "Ubuntu 22.04.5 LTS",
                "6.8.0-1021-aws",
                containerd,
                "v1.34.2",
                "amd64",
            ),
        ),
        (
            "noble-arm",
            node(
                "Ubuntu 24.04.1 LTS",
                "6.8.0-1019-aws",
                containerd,
                "v1.35.0",
                "arm64",
            ),
        ),
        (
            "bionic-ancient",
            node(
                "Ubuntu 18.04.6 LTS",
                "4.15.0-213-generic",
                containerd,
                "v1.33.5",
                "amd64",
            ),
        ),
        (
            "al2",
            node(
                "Amazon Linux 2",
                "5.10.225-213.878.amzn2.x86_64",
                containerd,
                "v1.33.5",
                "amd64",
            ),
        ),
        (
            "bottlerocket",
            node(
                "Bottlerocket OS 1.20.0 (aws-k8s-1.33)",
                "6.1.102",
                containerd,
                "v1.33.5",
                "amd64",
            ),
        ),
        (
            "old-k8s",
            node(
                "Ubuntu 22.04.5 LTS",
                "6.8.0-1021-aws",
                containerd,
                "v1.30.4",
                "amd64",
            ),
        ),
    ];
    for (name, info) in &nodes {
        cluster.create_node(name, info).expect("node created");
    }
    acc::run(|tf| -> Result<(), acc::Error> {
        let wd = Workdir::new(tf)?;
        wd.config(&config(&cluster, r#"data "cvm_cluster_check" "all" {}"#))?;
        wd.apply()?;
        wd.assert_plan_empty()?;
        let state = wd.show()?;
        let check = state.data("data.cvm_cluster_check.all")?;
        let all = check.get("nodes")?;
        assert_eq!(all.as_array().map(Vec::len), Some(nodes.len()));
        for supported in ["focal-old", "focal-new", "jammy", "noble-arm"] {
            let v = verdict(&all, supported);
            assert_eq!(v["supported"], true, "{supported}: {}", reasons(v));
        }
        assert!(
            reasons(verdict(&all, "focal-old")).contains("shiftfs"),
            "5.4 needs shiftfs"
        );
        for (unsupported, why) in [
            ("bionic-ancient", "kernel"),
            ("al2", "Amazon Linux"),
            ("bottlerocket", "Bottlerocket"),
            ("old-k8s", "1.30"),
        ] {
            let v = verdict(&all, unsupported);
            assert_eq!(v["supported"], false, "{unsupported}");
            assert!(
                reasons(v).contains(why),
                "{unsupported}: expected {why:?} in {}",
                reasons(v)
            );
        }
        assert_eq!(check.get("namespace_allows_privileged")?, true);
        assert_eq!(check.get("ready")?, false);
        let summary = check.str("summary")?;
        assert!(summary.contains("4 of 8"), "{summary}");

        // Selecting only the good nodes makes the cluster ready.
        Ok(())
    });
    for (name, _) in &nodes[..4] {
        cluster
            .label_node(name, "cvm", Some("yes"))
            .expect("labelled");
    }
    acc::run(|tf| -> Result<(), acc::Error> {
        let wd = Workdir::new(tf)?;
        wd.config(&config(
            &cluster,
            r#"
            data "cvm_cluster_check" "cvm" {
              node_selector = { cvm = "yes" }
            }
            output "ready" { value = data.cvm_cluster_check.cvm.ready }
            "#,
        ))?;
        wd.apply()?;
        assert_eq!(wd.show()?.output("ready")?, true);
        Ok(())
    });
}

#[test]
fn a_namespace_enforcing_baseline_or_restricted_is_reported() {
    let cluster = KubeCluster::start().expect("a kube-apiserver (scripts/kube-peers build)");
    cluster
        .create_node("jammy", &NodeInfo::ubuntu_22_04())
        .expect("node created");
    for level in ["baseline", "restricted"] {
        cluster
            .create_namespace(
                &format!("sysbox-{level}"),
                &[("pod-security.kubernetes.io/enforce", level)],
            )
            .expect("namespace created");
    }
    acc::run(|tf| -> Result<(), acc::Error> {
        let wd = Workdir::new(tf)?;
        for level in ["baseline", "restricted"] {
            wd.config(&config(
                &cluster,
                &format!(
                    r#"
                    data "cvm_cluster_check" "ns" {{
                      namespace = "sysbox-{level}"
                    }}
                    output "privileged" {{ value = data.cvm_cluster_check.ns.namespace_allows_privileged }}
                    output "summary" {{ value = data.cvm_cluster_check.ns.summary }}
                    "#
                ),
            ))?;
            wd.apply()?;
            let state = wd.show()?;
            assert_eq!(state.output("privileged")?, false);
            let summary = state.output("summary")?;
            assert!(
                summary.as_str().is_some_and(|s| s.contains(level)),
                "{summary}"
            );
        }
        Ok(())
    });
}

#[test]
fn a_missing_kubernetes_configuration_names_what_to_set() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let mut wd = Workdir::new(tf)?;
        wd.env("KUBECONFIG", "/nonexistent/kubeconfig");
        wd.env("HOME", "/nonexistent");
        wd.config(
            r#"
terraform {
  required_providers {
    cvm = { source = "cvm-provider/cvm" }
  }
}
data "cvm_cluster_check" "x" {}
"#,
        )?;
        wd.expect_error(Action::Plan, "(?i)kubeconfig|config_path")?;
        Ok(())
    });
}

/// Polls `done` until it holds: the wait is for the cluster's state, not for a time.
fn wait_until(
    what: &str,
    mut done: impl FnMut() -> Result<bool, acc::Error>,
) -> Result<(), acc::Error> {
    let limit = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !done()? {
        if std::time::Instant::now() > limit {
            return Err(acc::Error::Assertion(format!("never saw {what}")));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Ok(())
}

/// The installer pod for `node`, bound or not (the DaemonSet controller names the node in the
/// pod's required node affinity).
fn installer_pod(cluster: &KubeCluster, node: &str) -> Result<Option<Value>, acc::Error> {
    Ok(cluster.pods("sysbox-install=yes")?.into_iter().find(|p| {
        p["spec"]["nodeName"] == node
            || p["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
                ["nodeSelectorTerms"][0]["matchFields"][0]["values"][0]
                == node
    }))
}

#[test]
fn the_installer_is_judged_per_node_once_deployed() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let cluster = KubeCluster::start()?;
        let role = |pods| NodeOptions {
            labels: [("example.com/role".to_owned(), "cvm".to_owned())].into(),
            pods,
            ..NodeOptions::default()
        };
        let info = NodeInfo::ubuntu_22_04();
        // Room for one pod, taken by a tenant: the installer pod stays Pending.
        cluster.create_node_with("cvm-full", &info, &role(1))?;
        cluster.request(
            "POST",
            "/api/v1/namespaces/default/pods",
            Some(serde_json::json!({
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": { "name": "tenant" },
                "spec": { "nodeName": "cvm-full", "containers": [{ "name": "app", "image": "example.com/app:1" }] },
            })),
        )?;
        cluster.create_node_with("cvm-tainted", &info, &role(110))?;
        let installer = Workdir::new(tf)?;
        installer.config(&config(
            &cluster,
            r#"
resource "cvm_sysbox" "main" {
  node_selector = { "example.com/role" = "cvm" }
  wait          = false
}
"#,
        ))?;
        installer.apply()?;
        // A NoExecute taint the installer does not tolerate evicts its pod and keeps it off.
        cluster.taint_node(
            "cvm-tainted",
            &Taint {
                key: "evict".to_owned(),
                value: "now".to_owned(),
                effect: "NoExecute".to_owned(),
            },
        )?;
        wait_until("the installer pod evicted from cvm-tainted", || {
            Ok(installer_pod(&cluster, "cvm-tainted")?.is_none())
        })?;
        wait_until(
            "the scheduler's verdict on cvm-full's installer pod",
            || {
                Ok(installer_pod(&cluster, "cvm-full")?.is_some_and(|p| {
                    p["status"]["conditions"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|c| c["type"] == "PodScheduled" && c["reason"] == "Unschedulable")
                }))
            },
        )?;

        let check = Workdir::new(tf)?;
        check.config(&config(
            &cluster,
            r#"data "cvm_cluster_check" "cvm" { node_selector = { "example.com/role" = "cvm" } }"#,
        ))?;
        check.apply()?;
        let state = check.show()?;
        let data = state.data("data.cvm_cluster_check.cvm")?;
        let nodes = data.get("nodes")?;
        let tainted = verdict(&nodes, "cvm-tainted");
        assert_eq!(
            tainted["untolerated_taints"],
            serde_json::json!(["evict=now:NoExecute"])
        );
        let sentence = tainted["installer"].as_str().unwrap_or_default();
        assert!(
            sentence.starts_with(
                "no installer pod: the DaemonSet does not tolerate the node's taint evict=now:NoExecute"
            ) && sentence.contains("plans a toleration"),
            "{sentence}"
        );
        let full = verdict(&nodes, "cvm-full");
        assert_eq!(full["untolerated_taints"], serde_json::json!([]));
        let sentence = full["installer"].as_str().unwrap_or_default();
        assert!(
            sentence.contains("is Pending, not scheduled: the scheduler says \"0/")
                && sentence.contains("Too many pods")
                && sentence.contains("free capacity on the node"),
            "{sentence}"
        );
        let summary = data.str("summary")?;
        assert!(summary.contains("cvm-full: installer pod"), "{summary}");
        Ok(())
    });
}
