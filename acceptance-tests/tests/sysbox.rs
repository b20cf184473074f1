//! Acceptance tests for `cvm_sysbox` against a real kube-apiserver, on every available Terraform.
//!
//! The cluster schedules (kube-scheduler, kube-controller-manager, kwok nodes that run the pods
//! bound to them), so the installer DaemonSets get real pods where their tolerations allow; the
//! [`InstallerDouble`] plays the installer script's effect on the host, labelling nodes as the
//! real `sysbox-deploy-k8s` script does. Tests that need the installer to do nothing simply do
//! not start it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use acceptance_tests::installer_double::InstallerDouble;
use acceptance_tests::kube::{KubeCluster, NodeInfo, NodeOptions, Taint};
use acceptance_tests::{self as acc, Action, Workdir};
use serde_json::{Value, json};

fn config(cluster: &KubeCluster, body: &str) -> String {
    format!("{}{body}", acc::provider_config(&cluster.provider_block()))
}

fn sysbox(extra: &str) -> String {
    format!(
        r#"
resource "cvm_sysbox" "main" {{
  node_selector = {{ "example.com/role" = "cvm" }}
  {extra}
  timeouts {{
    create = "2m"
    update = "2m"
    delete = "2m"
  }}
}}
"#
    )
}

fn cvm_node(cluster: &KubeCluster, name: &str) -> Result<(), acc::Error> {
    cluster.create_node(name, &NodeInfo::ubuntu_22_04())?;
    cluster.label_node(name, "example.com/role", Some("cvm"))?;
    Ok(())
}

fn strings(value: &Value) -> Vec<String> {
    let mut all: Vec<String> = value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    all.sort();
    all
}

fn exists(cluster: &KubeCluster, path: &str) -> Result<bool, acc::Error> {
    match cluster.get(path) {
        Ok(_) => Ok(true),
        Err(acceptance_tests::kube::Error::Api { status: 404, .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Every Sysbox object and label there is, as readable lines; empty when nothing is left.
fn sysbox_leftovers(cluster: &KubeCluster) -> Result<Vec<String>, acc::Error> {
    let mut left = Vec::new();
    for path in [
        "/apis/apps/v1/namespaces/kube-system/daemonsets/sysbox-deploy-k8s",
        "/apis/apps/v1/namespaces/kube-system/daemonsets/sysbox-cleanup-k8s",
        "/apis/node.k8s.io/v1/runtimeclasses/sysbox-runc",
        "/apis/rbac.authorization.k8s.io/v1/clusterroles/sysbox-node-labeler",
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/sysbox-label-node-rb",
        "/api/v1/namespaces/kube-system/serviceaccounts/sysbox-label-node",
        "/api/v1/namespaces/kube-system/configmaps/sysbox-operational-attributes",
    ] {
        if exists(cluster, path)? {
            left.push(path.to_owned());
        }
    }
    let nodes = cluster.get("/api/v1/nodes")?;
    for node in nodes["items"].as_array().into_iter().flatten() {
        for (key, value) in node["metadata"]["labels"].as_object().into_iter().flatten() {
            if key.starts_with("sysbox-") {
                left.push(format!("node {}: {key}={value}", node["metadata"]["name"]));
            }
        }
    }
    Ok(left)
}

fn install_image(cluster: &KubeCluster) -> Result<Value, acc::Error> {
    let ds = cluster.get("/apis/apps/v1/namespaces/kube-system/daemonsets/sysbox-deploy-k8s")?;
    Ok(ds["spec"]["template"]["spec"]["containers"][0]["image"].clone())
}

#[test]
fn create_update_import_drift_and_destroy() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let cluster = KubeCluster::start()?;
        cvm_node(&cluster, "cvm-a")?;
        cvm_node(&cluster, "cvm-b")?;
        cluster.create_node("other", &NodeInfo::ubuntu_22_04())?;
        let double = InstallerDouble::start(cluster.api());
        let wd = Workdir::new(tf)?;

        // Create: objects applied, targets labelled, waited for.
        wd.config(&config(&cluster, &sysbox("")))?;
        wd.apply()?;
        let state = wd.show()?;
        let main = state.resource("cvm_sysbox.main")?;
        assert_eq!(strings(&main.get("ready_nodes")?), ["cvm-a", "cvm-b"]);
        assert_eq!(main.str("runtime_class_name")?, "sysbox-runc");
        assert_eq!(main.str("id")?, "kube-system");
        assert_eq!(
            main.get("installed_objects")?.as_array().map(Vec::len),
            Some(6)
        );
        for node in ["cvm-a", "cvm-b"] {
            let labels = cluster.node_labels(node)?;
            assert_eq!(labels["sysbox-install"], "yes", "{node}");
            assert_eq!(labels["sysbox-runtime"], "running", "{node}");
        }
        assert!(!cluster.node_labels("other")?.contains_key("sysbox-install"));
        let ds =
            cluster.get("/apis/apps/v1/namespaces/kube-system/daemonsets/sysbox-deploy-k8s")?;
        let managers: Vec<&str> = ds["metadata"]["managedFields"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|f| f["operation"] == "Apply")
            .filter_map(|f| f["manager"].as_str())
            .collect();
        assert_eq!(
            managers,
            ["terraform-provider-cvm"],
            "one server-side apply manager"
        );
        assert_eq!(
            install_image(&cluster)?,
            json!("registry.nestybox.com/nestybox/sysbox-deploy-k8s:v0.7.1-0")
        );
        let rc = cluster.get("/apis/node.k8s.io/v1/runtimeclasses/sysbox-runc")?;
        assert_eq!(
            rc["scheduling"]["nodeSelector"],
            json!({"sysbox-runtime": "running"})
        );
        wd.assert_plan_empty()?;

        // Update: a new image rolls the DaemonSet and every node installs again.
        let image =
            r#"installer_image = "registry.example.com/nestybox/sysbox-deploy-k8s:v0.7.1-0""#;
        wd.config(&config(&cluster, &sysbox(image)))?;
        assert_eq!(wd.plan()?.actions("cvm_sysbox.main")?, vec!["update"]);
        let before = double.journal().len();
        wd.apply()?;
        wd.assert_plan_empty()?;
        assert_eq!(
            install_image(&cluster)?,
            json!("registry.example.com/nestybox/sysbox-deploy-k8s:v0.7.1-0")
        );
        let reinstalls = double.journal()[before..]
            .iter()
            .filter(|l| l.contains("installer pod started (generation 2)"))
            .count();
        assert_eq!(
            reinstalls,
            2,
            "both nodes reinstalled: {:?}",
            double.journal()
        );

        // Update: a node added by name is labelled; taken out again, it is unlabelled.
        let with_other = format!("{image}\n  nodes = [\"other\"]");
        wd.config(&config(&cluster, &sysbox(&with_other)))?;
        wd.apply()?;
        wd.assert_plan_empty()?;
        assert_eq!(
            strings(&wd.show()?.resource("cvm_sysbox.main")?.get("ready_nodes")?),
            ["cvm-a", "cvm-b", "other"]
        );
        assert_eq!(cluster.node_labels("other")?["sysbox-install"], "yes");
        wd.config(&config(&cluster, &sysbox(image)))?;
        wd.apply()?;
        wd.assert_plan_empty()?;
        assert!(!cluster.node_labels("other")?.contains_key("sysbox-install"));

        // Drift: an object deleted and a label removed out of band are planned back.
        cluster.delete("/apis/node.k8s.io/v1/runtimeclasses/sysbox-runc")?;
        cluster.label_node("cvm-b", "sysbox-install", None)?;
        let plan = wd.plan()?;
        assert_eq!(plan.actions("cvm_sysbox.main")?, vec!["update"]);
        wd.apply()?;
        wd.assert_plan_empty()?;
        assert!(exists(
            &cluster,
            "/apis/node.k8s.io/v1/runtimeclasses/sysbox-runc"
        )?);
        assert_eq!(cluster.node_labels("cvm-b")?["sysbox-install"], "yes");

        // Import by namespace: the nodes come back by name, not by selector.
        wd.import_and_compare(
            "cvm_sysbox.main",
            "kube-system",
            &["node_selector", "nodes"],
        )?;

        // Destroy: the documented uninstall, and nothing is left.
        wd.destroy()?;
        let journal = double.journal();
        assert!(
            journal.iter().any(|l| l == "cvm-a: cleanup pod started"),
            "the cleanup DaemonSet ran: {journal:?}"
        );
        assert_eq!(sysbox_leftovers(&cluster)?, Vec::<String>::new());
        Ok(())
    });
}

#[test]
fn without_the_installer_apply_times_out_naming_each_node_and_keeps_state() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let cluster = KubeCluster::start()?;
        cvm_node(&cluster, "cvm-a")?;
        cluster.label_node("cvm-a", "sysbox-runtime", Some("installing"))?;
        cvm_node(&cluster, "cvm-b")?;
        let wd = Workdir::new(tf)?;
        let body = r#"
resource "cvm_sysbox" "main" {
  node_selector = { "example.com/role" = "cvm" }
  timeouts {
    create = "8s"
  }
}
"#;
        wd.config(&config(&cluster, body))?;
        wd.expect_error(
            Action::Apply,
            r"Sysbox is not running on 2 of 2 target node\(s\) after \d+s: cvm-a \(sysbox-runtime=installing\), cvm-b \(no sysbox-runtime label\)",
        )?;
        // The objects exist and are in state (tainted), so the next apply or destroy finds them.
        let state = wd.show()?;
        let main = state.resource("cvm_sysbox.main")?;
        assert_eq!(
            main.get("installed_objects")?.as_array().map(Vec::len),
            Some(6)
        );
        assert!(exists(
            &cluster,
            "/apis/apps/v1/namespaces/kube-system/daemonsets/sysbox-deploy-k8s"
        )?);
        let plan = wd.plan()?;
        assert_eq!(plan.actions("cvm_sysbox.main")?, vec!["delete", "create"]);

        // No node runs Sysbox, so destroy has nothing to clean up on nodes.
        cluster.label_node("cvm-a", "sysbox-runtime", None)?;
        wd.destroy()?;
        assert_eq!(sysbox_leftovers(&cluster)?, Vec::<String>::new());
        Ok(())
    });
}

#[test]
fn plan_time_checks_refuse_strict_namespaces_and_unsupported_nodes() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let cluster = KubeCluster::start()?;
        cvm_node(&cluster, "cvm-a")?;
        for level in ["baseline", "restricted"] {
            cluster.create_namespace(
                &format!("strict-{level}"),
                &[("pod-security.kubernetes.io/enforce", level)],
            )?;
        }
        let wd = Workdir::new(tf)?;
        for level in ["baseline", "restricted"] {
            let body = format!(
                r#"
resource "cvm_sysbox" "main" {{
  namespace     = "strict-{level}"
  node_selector = {{ "example.com/role" = "cvm" }}
}}
"#
            );
            wd.config(&config(&cluster, &body))?;
            wd.expect_error(
                Action::Plan,
                &format!(r#"(?i)Namespace Refuses Privileged Pods.*namespace "strict-{level}" enforces the "{level}" Pod Security Standard"#),
            )?;
        }

        // An Amazon Linux 2 node among the targets: an error naming it and why...
        cluster.create_node(
            "al2",
            &NodeInfo {
                os_image: "Amazon Linux 2".to_owned(),
                kernel_version: "5.10.228-219.884.amzn2.x86_64".to_owned(),
                ..NodeInfo::ubuntu_22_04()
            },
        )?;
        cluster.label_node("al2", "example.com/role", Some("cvm"))?;
        wd.config(&config(&cluster, &sysbox("")))?;
        let stderr = wd.expect_error(
            Action::Plan,
            r#"Node Cannot Run Sysbox.*Node "al2" cannot run Sysbox"#,
        )?;
        assert!(stderr.contains("node_selector"), "{stderr}");
        assert!(!stderr.contains("\"cvm-a\""), "{stderr}");

        // ...which allow_unsupported_nodes turns into a warning.
        wd.config(&config(&cluster, &sysbox("allow_unsupported_nodes = true")))?;
        let plan = wd.terraform_ok(&["plan", "-input=false", "-no-color"])?;
        assert!(
            plan.stdout.contains("Node Cannot Run Sysbox"),
            "{}",
            plan.stdout
        );
        Ok(())
    });
}

#[test]
fn api_server_stopped_during_apply_is_retried_then_reported_and_state_kept() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let mut cluster = KubeCluster::start()?;
        cvm_node(&cluster, "cvm-a")?;
        let mut wd = Workdir::new(tf)?;
        // The cluster is gone at the end: nothing to destroy with.
        wd.keep_resources_on_drop();
        let body = r#"
resource "cvm_sysbox" "main" {
  node_selector = { "example.com/role" = "cvm" }
  timeouts {
    create = "25s"
  }
}
"#;
        wd.config(&config(&cluster, body))?;
        // A thread stops the API server once the installer is applied and the provider waits;
        // meanwhile this thread runs the apply.
        let stopper = std::thread::spawn(move || -> Result<KubeCluster, acc::Error> {
            let started = Instant::now();
            while !exists(&cluster, "/apis/node.k8s.io/v1/runtimeclasses/sysbox-runc")? {
                if started.elapsed() > Duration::from_secs(60) {
                    return Err(acc::Error::Assertion(
                        "apply never created the objects".into(),
                    ));
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            std::thread::sleep(Duration::from_secs(1));
            cluster.stop();
            Ok(cluster)
        });
        let stderr = wd.expect_error(
            Action::Apply,
            r"Kubernetes API Server Unreachable.*did not answer while .*: retried \d+ time\(s\) over \d+s",
        )?;
        let _cluster = stopper.join().expect("the stopper thread")?;
        let flat = stderr.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(flat.contains("kept in state"), "{stderr}");
        let state = wd.show()?;
        let main = state.resource("cvm_sysbox.main")?;
        assert_eq!(
            main.get("installed_objects")?.as_array().map(Vec::len),
            Some(6)
        );
        Ok(())
    });
}

#[test]
fn min_ready_nodes_waits_for_nodes_still_joining() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let cluster = KubeCluster::start()?;
        cvm_node(&cluster, "cvm-a")?;
        let _double = InstallerDouble::start(cluster.api());
        let mut wd = Workdir::new(tf)?;
        wd.capture_provider_log("INFO");
        wd.config(&config(&cluster, &sysbox("min_ready_nodes = 2")))?;
        // The second node joins once the provider has said it saw one node and is waiting, as a
        // new node group's would; the log line is the only signal, so a provider that did not
        // wait would finish with one ready node (or the joiner would report no such line).
        let api = cluster.api();
        let log_path = wd.path().join("terraform.log");
        let waiting = "min_ready_nodes: 1 of 2 node(s) carry example.com/role=cvm; waiting";
        let joiner = std::thread::spawn(move || -> Result<(), acc::Error> {
            let limit = Instant::now() + Duration::from_secs(120);
            loop {
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                if log.contains(waiting) {
                    break;
                }
                if Instant::now() > limit {
                    return Err(acc::Error::Assertion(format!(
                        "the provider never logged {waiting:?}:\n{log}"
                    )));
                }
                // Polling the log file: the wait is for the line, not for the time.
                std::thread::sleep(Duration::from_millis(100));
            }
            api.create_node("cvm-b", &NodeInfo::ubuntu_22_04())?;
            api.label_node("cvm-b", "example.com/role", Some("cvm"))?;
            Ok(())
        });
        let applied = wd.apply();
        joiner.join().expect("the joiner thread")?;
        applied?;
        let log = wd.log()?;
        let saw_one = log.find(waiting).expect("the joiner saw this line");
        let saw_two = log
            .find("min_ready_nodes: 2 of 2 node(s) carry example.com/role=cvm")
            .ok_or_else(|| {
                acc::Error::Assertion(format!("the provider never saw cvm-b join:\n{log}"))
            })?;
        assert!(saw_one < saw_two, "the wait ended before it began:\n{log}");
        let labelled = log
            .find("target nodes labelled sysbox-install=yes")
            .ok_or_else(|| acc::Error::Assertion(format!("no labelling line:\n{log}")))?;
        assert!(
            saw_two < labelled,
            "nodes were labelled before the wait ended:\n{log}"
        );
        let state = wd.show()?;
        assert_eq!(
            strings(&state.resource("cvm_sysbox.main")?.get("ready_nodes")?),
            ["cvm-a", "cvm-b"]
        );
        assert_eq!(cluster.node_labels("cvm-b")?["sysbox-install"], "yes");
        wd.assert_plan_empty()?;

        // Without enough nodes the apply stops at the timeout, saying how many joined.
        wd.destroy()?;
        let body = r#"
resource "cvm_sysbox" "main" {
  node_selector   = { "example.com/role" = "cvm" }
  min_ready_nodes = 3
  timeouts {
    create = "5s"
  }
}
"#;
        wd.config(&config(&cluster, body))?;
        wd.expect_error(
            Action::Apply,
            r"only 2 of the 3 node\(s\) wanted \(min_ready_nodes\) carry example.com/role=cvm",
        )?;
        Ok(())
    });
}

fn taint(key: &str, value: &str, effect: &str) -> Taint {
    Taint {
        key: key.to_owned(),
        value: value.to_owned(),
        effect: effect.to_owned(),
    }
}

/// The install DaemonSet's tolerations as stored, as `key=value:Effect` (operator `Equal`).
fn stored_tolerations(cluster: &KubeCluster, daemon_set: &str) -> Result<Vec<String>, acc::Error> {
    let ds = cluster.get(&format!(
        "/apis/apps/v1/namespaces/kube-system/daemonsets/{daemon_set}"
    ))?;
    Ok(ds["spec"]["template"]["spec"]["tolerations"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            format!(
                "{}={}:{} ({})",
                t["key"].as_str().unwrap_or_default(),
                t["value"].as_str().unwrap_or_default(),
                t["effect"].as_str().unwrap_or_default(),
                t["operator"].as_str().unwrap_or_default(),
            )
        })
        .collect())
}

/// `tolerated_taints` of a state or plan value, as `key=value:Effect`.
fn tolerated(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            format!(
                "{}={}:{}",
                t["key"].as_str().unwrap_or_default(),
                t["value"].as_str().unwrap_or_default(),
                t["effect"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

/// Creates `namespace` (with its default ServiceAccount, which pods need) if it is not there.
fn ensure_namespace(cluster: &KubeCluster, namespace: &str) -> Result<(), acc::Error> {
    let conflict_is_fine = |result: Result<Value, acceptance_tests::kube::Error>| match result {
        Ok(_) | Err(acceptance_tests::kube::Error::Api { status: 409, .. }) => Ok(()),
        Err(e) => Err(acc::Error::from(e)),
    };
    conflict_is_fine(cluster.create_namespace(namespace, &[]))?;
    conflict_is_fine(cluster.request(
        "POST",
        &format!("/api/v1/namespaces/{namespace}/serviceaccounts"),
        Some(json!({ "apiVersion": "v1", "kind": "ServiceAccount", "metadata": { "name": "default" } })),
    ))
}

/// Creates a pod bound to `node`, a CVM workspace when `runtime_class` is `Some("sysbox-runc")`.
fn pod_on(
    cluster: &KubeCluster,
    namespace: &str,
    name: &str,
    node: &str,
    runtime_class: Option<&str>,
) -> Result<(), acc::Error> {
    ensure_namespace(cluster, namespace)?;
    cluster.request(
        "POST",
        &format!("/api/v1/namespaces/{namespace}/pods"),
        Some(json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": { "name": name },
            "spec": {
                "nodeName": node,
                "runtimeClassName": runtime_class,
                "automountServiceAccountToken": false,
                "containers": [{ "name": "workspace", "image": "registry.example.com/workspace:1" }],
            },
        })),
    )?;
    Ok(())
}

#[test]
fn a_new_installer_pod_is_waited_for_not_the_old_label() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let cluster = KubeCluster::start()?;
        cvm_node(&cluster, "cvm-a")?;
        cvm_node(&cluster, "cvm-b")?;
        // Each step of the double's script takes a second: a wait that trusted the previous
        // installer's sysbox-runtime=running would end as soon as the DaemonSet has rolled,
        // seconds before the new script has finished on the last node.
        let double = InstallerDouble::start_with_tick(cluster.api(), Duration::from_secs(1));
        let wd = Workdir::new(tf)?;
        wd.config(&config(&cluster, &sysbox("")))?;
        wd.apply()?;
        wd.config(&config(
            &cluster,
            &sysbox(
                r#"installer_image = "registry.example.com/nestybox/sysbox-deploy-k8s:v0.7.1-0""#,
            ),
        ))?;
        wd.apply()?;
        let journal = double.journal();
        let generation = cluster
            .get("/apis/apps/v1/namespaces/kube-system/daemonsets/sysbox-deploy-k8s")?["metadata"]
            ["generation"]
            .as_i64()
            .unwrap_or_default();
        for node in ["cvm-a", "cvm-b"] {
            let started = format!("{node}: installer pod started (generation {generation})");
            let done = format!("{node}: taint sysbox-runtime removed");
            let at = journal.iter().position(|line| *line == started);
            assert!(
                at.is_some_and(|at| journal[at..].contains(&done)),
                "the apply returned before the new installer finished on {node}: {journal:#?}"
            );
        }
        let state = wd.show()?;
        assert_eq!(
            state.resource("cvm_sysbox.main")?.get("ready_nodes")?,
            json!(["cvm-a", "cvm-b"])
        );
        wd.assert_plan_empty()?;

        // A node that lost sysbox-install=yes loses its installer pod; labelled again by the
        // apply, it gets a new one, whose script runs again under the old running label.
        cluster.label_node("cvm-b", "sysbox-install", None)?;
        let limit = Instant::now() + Duration::from_secs(60);
        while cluster
            .pods("sysbox-install=yes")?
            .iter()
            .any(|p| p["spec"]["nodeName"] == "cvm-b")
        {
            assert!(Instant::now() < limit, "cvm-b's installer pod never went");
            std::thread::sleep(Duration::from_millis(100));
        }
        let before = double.journal().len();
        wd.apply()?;
        let journal = double.journal();
        let since = &journal[before..];
        let at = since
            .iter()
            .position(|line| line.starts_with("cvm-b: installer pod started"));
        assert!(
            at.is_some_and(
                |at| since[at..].contains(&"cvm-b: taint sysbox-runtime removed".to_owned())
            ),
            "the apply returned before the new installer finished on cvm-b: {since:#?}"
        );
        wd.assert_plan_empty()?;
        wd.destroy()?;
        assert_eq!(sysbox_leftovers(&cluster)?, Vec::<String>::new());
        Ok(())
    });
}

#[test]
fn a_target_nodes_taints_are_tolerated_and_a_taint_change_updates_the_daemon_set_in_place() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let cluster = KubeCluster::start()?;
        cvm_node(&cluster, "cvm-a")?;
        cvm_node(&cluster, "cvm-b")?;
        cluster.taint_node("cvm-a", &Taint::no_schedule("dedicated", "cvm"))?;
        cluster.taint_node("cvm-a", &taint("soft", "x", "PreferNoSchedule"))?;
        let _double = InstallerDouble::start(cluster.api());
        let wd = Workdir::new(tf)?;
        wd.config(&config(&cluster, &sysbox("")))?;

        // Worked out at apply from the nodes' taints then, so that a taint added after the
        // plan is tolerated too.
        let plan = wd.plan()?;
        let change = &plan.json()["resource_changes"][0]["change"];
        assert_eq!(
            change["after_unknown"]["tolerated_taints"],
            json!(true),
            "{change}"
        );
        wd.apply()?;
        assert_eq!(
            stored_tolerations(&cluster, "sysbox-deploy-k8s")?,
            [
                "sysbox-runtime=not-running:NoSchedule (Equal)",
                "dedicated=cvm:NoSchedule (Equal)"
            ]
        );
        let state = wd.show()?;
        assert_eq!(
            tolerated(&state.resource("cvm_sysbox.main")?.get("tolerated_taints")?),
            [
                "sysbox-runtime=not-running:NoSchedule",
                "dedicated=cvm:NoSchedule"
            ]
        );
        wd.assert_plan_empty()?;
        let generation = |c: &KubeCluster| -> Result<Value, acc::Error> {
            Ok(c.get("/apis/apps/v1/namespaces/kube-system/daemonsets/sysbox-deploy-k8s")?
                ["metadata"]["generation"]
                .clone())
        };
        let before = generation(&cluster)?;

        // A taint added to a target node: the plan updates the tolerations in place, and its
        // warning names the change.
        cluster.taint_node("cvm-b", &taint("gpu", "true", "NoExecute"))?;
        let plan = wd.plan()?;
        assert_eq!(plan.actions("cvm_sysbox.main")?, vec!["update"]);
        let change = &plan.json()["resource_changes"][0]["change"];
        assert_eq!(
            change["after_unknown"]["tolerated_taints"],
            json!(true),
            "{change}"
        );
        let shown = plan_text(&wd, &[])?;
        assert!(
            shown.contains("Installer Tolerations Change")
                && shown.contains("is updated in place to tolerate gpu=true:NoExecute."),
            "{shown}"
        );
        wd.apply()?;
        assert_eq!(
            stored_tolerations(&cluster, "sysbox-deploy-k8s")?,
            [
                "sysbox-runtime=not-running:NoSchedule (Equal)",
                "dedicated=cvm:NoSchedule (Equal)",
                "gpu=true:NoExecute (Equal)"
            ]
        );
        assert_ne!(generation(&cluster)?, before, "the pod template changed");
        wd.assert_plan_empty()?;

        // Removed again: the toleration goes too.
        cluster.untaint_node("cvm-b", "gpu")?;
        assert_eq!(wd.plan()?.actions("cvm_sysbox.main")?, vec!["update"]);
        let shown = plan_text(&wd, &[])?;
        assert!(
            shown.contains("no longer to tolerate gpu=true:NoExecute."),
            "{shown}"
        );
        wd.apply()?;
        assert_eq!(
            stored_tolerations(&cluster, "sysbox-deploy-k8s")?,
            [
                "sysbox-runtime=not-running:NoSchedule (Equal)",
                "dedicated=cvm:NoSchedule (Equal)"
            ]
        );
        wd.assert_plan_empty()?;

        // A toleration widened outside Terraform is drift, put back.
        let ds_path = "/apis/apps/v1/namespaces/kube-system/daemonsets/sysbox-deploy-k8s";
        cluster.merge_patch(
            ds_path,
            json!({ "spec": { "template": { "spec": { "tolerations": [{ "operator": "Exists" }] } } } }),
        )?;
        assert_eq!(wd.plan()?.actions("cvm_sysbox.main")?, vec!["update"]);
        wd.apply()?;
        assert_eq!(
            stored_tolerations(&cluster, "sysbox-deploy-k8s")?,
            [
                "sysbox-runtime=not-running:NoSchedule (Equal)",
                "dedicated=cvm:NoSchedule (Equal)"
            ]
        );
        wd.destroy()?;
        assert_eq!(sysbox_leftovers(&cluster)?, Vec::<String>::new());
        Ok(())
    });
}

fn guarded(nodes: &[&str], extra: &str) -> String {
    let nodes: Vec<String> = nodes.iter().map(|n| format!("{n:?}")).collect();
    format!(
        r#"
resource "cvm_sysbox" "main" {{
  nodes = [{}]
  {extra}
  timeouts {{
    create = "2m"
    update = "2m"
    delete = "2m"
  }}
}}
"#,
        nodes.join(", ")
    )
}

/// Plans and returns Terraform's human-readable output with whitespace collapsed.
fn plan_text(wd: &Workdir, args: &[&str]) -> Result<String, acc::Error> {
    let mut all = vec!["plan", "-input=false", "-no-color"];
    all.extend_from_slice(args);
    let out = wd.terraform_ok(&all)?;
    Ok(format!("{} {}", out.stdout, out.stderr)
        .replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" "))
}

#[test]
fn running_workspaces_are_named_at_plan_and_refused_at_apply_unless_allowed() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let cluster = KubeCluster::start()?;
        for node in ["cvm-a", "cvm-b"] {
            cluster.create_node(node, &NodeInfo::ubuntu_22_04())?;
        }
        let _double = InstallerDouble::start(cluster.api());
        let wd = Workdir::new(tf)?;
        wd.config(&config(&cluster, &guarded(&["cvm-a", "cvm-b"], "")))?;
        wd.apply()?;
        // A CVM workspace on cvm-a, and pods that are not workspaces or are elsewhere.
        pod_on(&cluster, "coder", "ws-alice", "cvm-a", Some("sysbox-runc"))?;
        pod_on(&cluster, "coder", "plain-pod", "cvm-a", None)?;
        pod_on(&cluster, "coder", "ws-bob", "cvm-b", Some("sysbox-runc"))?;
        let ds_path = "/apis/apps/v1/namespaces/kube-system/daemonsets/sysbox-deploy-k8s";
        let default_image = install_image(&cluster)?;

        // A new installer image: the plan names every workspace on the targets...
        let image =
            r#"installer_image = "registry.example.com/nestybox/sysbox-deploy-k8s:v0.7.1-0""#;
        wd.config(&config(&cluster, &guarded(&["cvm-a", "cvm-b"], image)))?;
        let plan = plan_text(&wd, &[])?;
        assert!(plan.contains("CVM Workspaces Would Be Disrupted"), "{plan}");
        assert!(plan.contains("coder/ws-alice on node cvm-a"), "{plan}");
        assert!(plan.contains("coder/ws-bob on node cvm-b"), "{plan}");
        assert!(!plan.contains("plain-pod"), "{plan}");
        // ...and the apply refuses, changing nothing.
        wd.expect_error(
            Action::Apply,
            r"CVM Workspaces Running.*installer_image.*coder/ws-alice on node cvm-a.*Stop those workspaces first",
        )?;
        assert_eq!(install_image(&cluster)?, default_image);

        // cvm-a dropped from the targets: only its workspace is named.
        wd.config(&config(&cluster, &guarded(&["cvm-b"], "")))?;
        let plan = plan_text(&wd, &[])?;
        assert!(plan.contains("coder/ws-alice on node cvm-a"), "{plan}");
        assert!(!plan.contains("ws-bob"), "{plan}");
        wd.expect_error(
            Action::Apply,
            r"CVM Workspaces Running.*Node\(s\) cvm-a leave the targets.*coder/ws-alice",
        )?;
        assert_eq!(cluster.node_labels("cvm-a")?["sysbox-install"], "yes");

        // With the switch both go through.
        let allowed = format!("{image}\n  allow_disrupting_workspaces = true");
        wd.config(&config(&cluster, &guarded(&["cvm-b"], &allowed)))?;
        let plan = plan_text(&wd, &[])?;
        assert!(
            plan.contains("allow_disrupting_workspaces is true"),
            "{plan}"
        );
        wd.apply()?;
        assert_eq!(
            install_image(&cluster)?,
            json!("registry.example.com/nestybox/sysbox-deploy-k8s:v0.7.1-0")
        );
        assert!(!cluster.node_labels("cvm-a")?.contains_key("sysbox-install"));
        wd.assert_plan_empty()?;

        // The switch off again changes nothing in the cluster...
        let generation = cluster.get(ds_path)?["metadata"]["generation"].clone();
        wd.config(&config(&cluster, &guarded(&["cvm-b"], image)))?;
        wd.apply()?;
        assert_eq!(cluster.get(ds_path)?["metadata"]["generation"], generation);
        // ...and a destroy is warned about (where the client plans destroys) and refused.
        if tf.at_least(1, 3, 0) || tf.is_opentofu() {
            let plan = plan_text(&wd, &["-destroy"])?;
            assert!(plan.contains("CVM Workspaces Would Be Disrupted"), "{plan}");
            assert!(plan.contains("coder/ws-bob on node cvm-b"), "{plan}");
        }
        wd.expect_error(
            Action::Destroy,
            r"CVM Workspaces Running.*Destroying cvm_sysbox uninstalls Sysbox.*coder/ws-bob on node cvm-b.*apply that first",
        )?;
        assert!(exists(&cluster, ds_path)?, "nothing was uninstalled");

        // Allowed (in state first), the destroy goes through.
        wd.config(&config(&cluster, &guarded(&["cvm-b"], &allowed)))?;
        wd.apply()?;
        wd.destroy()?;
        assert_eq!(sysbox_leftovers(&cluster)?, Vec::<String>::new());
        Ok(())
    });
}

/// The pods matching `selector`, as `node: phase`, sorted; terminating pods are left out.
fn pods_by_node(cluster: &KubeCluster, selector: &str) -> Result<Vec<String>, acc::Error> {
    let mut pods: Vec<String> = cluster
        .pods(selector)?
        .iter()
        .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
        .map(|p| {
            format!(
                "{}: {}",
                p["spec"]["nodeName"].as_str().unwrap_or("(unscheduled)"),
                p["status"]["phase"].as_str().unwrap_or_default()
            )
        })
        .collect();
    pods.sort();
    Ok(pods)
}

#[test]
fn tainted_target_nodes_get_an_installer_pod_and_cvm_pods_land_only_where_sysbox_runs() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let cluster = KubeCluster::start()?;
        // Two nodes of a dedicated CVM group, tainted as such groups are, and a plain node.
        let dedicated = Taint::no_schedule("dedicated", "cvm");
        let tainted = NodeOptions {
            labels: BTreeMap::from([("example.com/role".to_owned(), "cvm".to_owned())]),
            taints: vec![dedicated.clone()],
            ..NodeOptions::default()
        };
        for node in ["cvm-a", "cvm-b"] {
            cluster.create_node_with(node, &NodeInfo::ubuntu_22_04(), &tainted)?;
        }
        cluster.create_node("plain", &NodeInfo::ubuntu_22_04())?;
        let _double = InstallerDouble::start(cluster.api());
        let wd = Workdir::new(tf)?;
        wd.config(&config(&cluster, &sysbox("")))?;
        wd.apply()?;

        // The DaemonSet controller made an installer pod on each tainted node, and kwok ran it.
        assert_eq!(
            pods_by_node(&cluster, "sysbox-install=yes")?,
            ["cvm-a: Running", "cvm-b: Running"]
        );
        assert_eq!(
            stored_tolerations(&cluster, "sysbox-deploy-k8s")?,
            [
                "sysbox-runtime=not-running:NoSchedule (Equal)",
                "dedicated=cvm:NoSchedule (Equal)"
            ]
        );
        for node in ["cvm-a", "cvm-b"] {
            assert_eq!(
                cluster.node_labels(node)?["sysbox-runtime"],
                "running",
                "{node}"
            );
        }
        assert!(!cluster.node_labels("plain")?.contains_key("sysbox-runtime"));
        wd.assert_plan_empty()?;

        // A CVM pod that tolerates the group's taint and would rather run on the plain node
        // still lands where Sysbox runs: the RuntimeClass's scheduling rule.
        ensure_namespace(&cluster, "coder")?;
        for i in 0..3 {
            let name = format!("cvm-{i}");
            let created = cluster.request(
                "POST",
                "/api/v1/namespaces/coder/pods",
                Some(json!({
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": { "name": name },
                    "spec": {
                        "runtimeClassName": "sysbox-runc",
                        "automountServiceAccountToken": false,
                        "tolerations": [{ "key": "dedicated", "operator": "Equal", "value": "cvm", "effect": "NoSchedule" }],
                        "affinity": { "nodeAffinity": { "preferredDuringSchedulingIgnoredDuringExecution": [{
                            "weight": 100,
                            "preference": { "matchExpressions": [{ "key": "kubernetes.io/hostname", "operator": "In", "values": ["plain"] }] },
                        }] } },
                        "containers": [{ "name": "workspace", "image": "registry.example.com/workspace:1" }],
                    },
                })),
            )?;
            assert_eq!(
                created["spec"]["nodeSelector"]["sysbox-runtime"], "running",
                "{created}"
            );
            let running = cluster.wait_for(
                "/api/v1/namespaces/coder/pods",
                &name,
                Duration::from_secs(60),
                "the CVM pod Running",
                |p| p["status"]["phase"] == "Running",
            )?;
            let node = running["spec"]["nodeName"].as_str().unwrap_or_default();
            assert!(node == "cvm-a" || node == "cvm-b", "{name} ran on {node}");
            // Stopped again (at once), so that destroy has no workspace to refuse for.
            cluster.delete(&format!(
                "/api/v1/namespaces/coder/pods/{name}?gracePeriodSeconds=0"
            ))?;
        }

        // Destroy leaves no DaemonSet, installer pod, Sysbox label or taint; the group's taint stays.
        wd.destroy()?;
        assert_eq!(sysbox_leftovers(&cluster)?, Vec::<String>::new());
        assert_eq!(
            pods_by_node(&cluster, "sysbox-install=yes")?,
            Vec::<String>::new()
        );
        assert_eq!(
            pods_by_node(&cluster, "sysbox-cleanup=yes")?,
            Vec::<String>::new()
        );
        for node in ["cvm-a", "cvm-b"] {
            assert_eq!(
                cluster.node_taints(node)?,
                ["dedicated=cvm:NoSchedule"],
                "{node}"
            );
        }
        Ok(())
    });
}

/// A tainted `cvm_nodegroup` (moto) whose nodes the demo's joiner registers with the group's
/// taint, and `cvm_sysbox` on them in the same apply: the tolerations cannot be known at plan
/// (the nodes have not joined), so the apply computes them once `min_ready_nodes` have.
#[test]
fn a_tainted_node_group_and_sysbox_in_one_apply() {
    use acceptance_tests::demo_stack::{DemoStack, Generation};

    acc::run(|tf| -> Result<(), acc::Error> {
        let stack = DemoStack::start(Generation::V1)?;
        let mut wd = Workdir::new(tf)?;
        for (key, value) in stack.env() {
            wd.env(&key, &value);
        }
        wd.write_file("terraform.tfvars", &stack.tfvars())?;
        wd.config(
            r#"
terraform {
  required_providers {
    cvm = { source = "cvm-provider/cvm" }
  }
}
provider "cvm" {
  aws { region = var.aws_region }
}
variable "aws_region" { type = string }
variable "cluster_name" { type = string }
variable "kubernetes_version" { type = string }
variable "node_role_arn" { type = string }
variable "subnet_ids" { type = list(string) }
variable "ami_parameter_prefix" { type = string }

data "cvm_ubuntu_ami" "ubuntu" {
  kubernetes_version = var.kubernetes_version
  ubuntu_release     = "22.04"
  parameter_prefix   = var.ami_parameter_prefix
}

resource "cvm_nodegroup" "cvm" {
  cluster_name   = var.cluster_name
  name           = "cvm-nodes"
  node_role_arn  = var.node_role_arn
  subnet_ids     = var.subnet_ids
  instance_types = ["m6i.2xlarge"]
  ami_id         = data.cvm_ubuntu_ami.ubuntu.ami_id
  taints {
    key    = "example.com/cvm"
    value  = "true"
    effect = "NO_SCHEDULE"
  }
  scaling {
    min_size     = 1
    max_size     = 3
    desired_size = 2
  }
}

resource "cvm_sysbox" "cvm" {
  node_selector   = { "eks.amazonaws.com/nodegroup" = cvm_nodegroup.cvm.name }
  min_ready_nodes = cvm_nodegroup.cvm.scaling.desired_size
  timeouts {
    create = "3m"
    delete = "3m"
  }
}
"#,
        )?;
        let plan = wd.plan()?;
        let sysbox = plan.json()["resource_changes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["address"] == "cvm_sysbox.cvm")
            .cloned()
            .unwrap_or_default();
        assert_eq!(
            sysbox["change"]["after_unknown"]["tolerated_taints"],
            json!(true),
            "no node has joined at plan: {sysbox}"
        );
        wd.apply()?;
        let nodes = ["cvm-nodes-0", "cvm-nodes-1"];
        for node in nodes {
            assert_eq!(
                stack.kube.node_taints(node)?,
                ["example.com/cvm=true:NoSchedule"],
                "the joiner registers the group's taint: {:?}",
                stack.joiner_journal()
            );
            assert_eq!(
                stack.kube.node_labels(node)?["sysbox-runtime"],
                "running",
                "{node}"
            );
        }
        assert_eq!(
            pods_by_node(&stack.kube, "sysbox-install=yes")?,
            ["cvm-nodes-0: Running", "cvm-nodes-1: Running"]
        );
        let tolerations = stored_tolerations(&stack.kube, "sysbox-deploy-k8s")?;
        assert_eq!(
            tolerations,
            [
                "sysbox-runtime=not-running:NoSchedule (Equal)",
                "example.com/cvm=true:NoSchedule (Equal)"
            ]
        );
        let state = wd.show()?;
        assert_eq!(
            strings(&state.resource("cvm_sysbox.cvm")?.get("ready_nodes")?),
            nodes
        );
        wd.assert_plan_empty()?;

        wd.destroy()?;
        assert_eq!(sysbox_leftovers(&stack.kube)?, Vec::<String>::new());
        assert_eq!(
            pods_by_node(&stack.kube, "sysbox-install=yes")?,
            Vec::<String>::new()
        );
        assert_eq!(
            pods_by_node(&stack.kube, "sysbox-cleanup=yes")?,
            Vec::<String>::new()
        );
        Ok(())
    });
}
