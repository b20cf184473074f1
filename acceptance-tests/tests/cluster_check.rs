//! Acceptance tests for `data.cvm_cluster_check` against a real
//! kube-apiserver; the test plays the node side by creating Node objects
//! with the node info real kubelets report.

use acceptance_tests::kube::{KubeCluster, NodeInfo};
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
