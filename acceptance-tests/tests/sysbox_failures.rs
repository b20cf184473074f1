//! Acceptance tests for `cvm_sysbox` when the installer cannot finish, on a cluster that
//! schedules (kube-scheduler, kube-controller-manager, kwok nodes): the error names each node
//! with what the cluster says about it, and what was created stays in state.
//!
//! The installer's pods run on kwok nodes. The failure tests start no installer double (which
//! would play the script's effect on the host), so a pod that runs never makes its node report
//! Sysbox: what keeps a node from it is the cluster's doing (a taint, a full node) or that. The
//! replacement test starts it, for the nodes that do get Sysbox.

use std::time::{Duration, Instant};

use acceptance_tests::installer_double::{FAIL_ANNOTATION, InstallerDouble};
use acceptance_tests::kube::{KubeApi, KubeCluster, NodeInfo, NodeOptions, Taint};
use acceptance_tests::{self as acc, Workdir};
use serde_json::{Value, json};

const ROLE: &str = "example.com/role";

fn config(cluster: &KubeCluster, body: &str) -> String {
    format!("{}{body}", acc::provider_config(&cluster.provider_block()))
}

fn sysbox(create_timeout: &str) -> String {
    format!(
        r#"
resource "cvm_sysbox" "main" {{
  node_selector = {{ "{ROLE}" = "cvm" }}
  timeouts {{
    create = "{create_timeout}"
    delete = "2m"
  }}
}}
"#
    )
}

fn cvm_node(api: &KubeApi, name: &str, pods: u32) -> Result<(), acc::Error> {
    let options = NodeOptions {
        labels: [(ROLE.to_owned(), "cvm".to_owned())].into(),
        pods,
        ..NodeOptions::default()
    };
    api.create_node_with(name, &NodeInfo::ubuntu_22_04(), &options)?;
    Ok(())
}

/// A plain pod bound to `node` (no scheduler involved), to take up room there.
fn occupy(api: &KubeApi, node: &str) -> Result<(), acc::Error> {
    api.request(
        "POST",
        "/api/v1/namespaces/default/pods",
        Some(json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": { "name": format!("tenant-on-{node}") },
            "spec": {
                "nodeName": node,
                "containers": [{ "name": "app", "image": "example.com/app:1" }],
            },
        })),
    )?;
    Ok(())
}

/// `terraform plan -out=<file>`.
fn plan_out(wd: &Workdir, file: &str) -> Result<(), acc::Error> {
    wd.terraform_ok(&["plan", "-input=false", "-no-color", &format!("-out={file}")])?;
    Ok(())
}

/// `terraform apply <file>`, required to fail; its stderr with whitespace collapsed and how long
/// it took.
fn apply_saved_plan_fails(wd: &Workdir, file: &str) -> Result<(String, Duration), acc::Error> {
    let started = Instant::now();
    let output = wd.terraform_raw(&["apply", "-input=false", "-no-color", file])?;
    let took = started.elapsed();
    eprintln!("{}", output.stderr);
    if output.status.success() {
        return Err(acc::Error::Assertion(format!(
            "apply of the saved plan succeeded:\n{}",
            output.stdout
        )));
    }
    let flat = output
        .stderr
        .replace('│', " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    Ok((flat, took))
}

/// The saved `cvm_sysbox.main` after a failed create: in state with every installer object.
fn assert_kept_in_state(wd: &Workdir) -> Result<Value, acc::Error> {
    let state = wd.show()?;
    let main = state.resource("cvm_sysbox.main")?;
    assert_eq!(
        main.get("installed_objects")?.as_array().map(Vec::len),
        Some(6),
        "every installer object is in state"
    );
    main.get("ready_nodes")
}

#[test]
fn a_taint_added_after_the_plan_is_tolerated_and_a_node_joining_with_another_is_named() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let cluster = KubeCluster::start()?;
        cvm_node(&cluster, "cvm-a", 110)?;
        // No installer double: the pods run, but nothing plays their script, so no node ever
        // reports Sysbox running.
        let wd = Workdir::new(tf)?;
        wd.config(&config(&cluster, &sysbox("20s")))?;
        plan_out(&wd, "tfplan")?;
        // Between plan and apply the node is tainted: the apply works the tolerations out from
        // the nodes then, so the installer pod still runs there.
        cluster.taint_node("cvm-a", &Taint::no_schedule("maintenance", "kernel"))?;
        // Once the provider waits, a node joins the group with a taint the DaemonSet was not
        // applied to tolerate: the provider labels it, the DaemonSet controller makes no pod.
        let api = cluster.api();
        let joiner =
            std::thread::spawn(move || -> Result<(), acc::Error> {
                wait_until("cvm-a's installer pod running", || {
                    Ok(installer_pod(&api, "cvm-a")?
                        .is_some_and(|p| p["status"]["phase"] == "Running"))
                })?;
                let options = NodeOptions {
                    labels: [(ROLE.to_owned(), "cvm".to_owned())].into(),
                    taints: vec![Taint::no_schedule("dedicated", "gpu")],
                    ..NodeOptions::default()
                };
                api.create_node_with("cvm-b", &NodeInfo::ubuntu_22_04(), &options)?;
                Ok(())
            });
        let failed = apply_saved_plan_fails(&wd, "tfplan");
        joiner.join().expect("the joiner thread")?;
        let (stderr, took) = failed?;
        assert!(
            took < Duration::from_secs(40),
            "the apply took {took:?} with timeouts.create = 20s"
        );
        assert!(
            stderr.contains("Sysbox is not running on 2 of 2 target node(s)"),
            "{stderr}"
        );
        assert!(
            stderr.contains(
                "cvm-b: no installer pod: the DaemonSet does not tolerate the node's taint \
                 dedicated=gpu:NoSchedule"
            ),
            "{stderr}"
        );
        assert!(
            stderr.contains("run terraform apply again so that cvm_sysbox plans a toleration"),
            "{stderr}"
        );
        let running = regex::Regex::new(
            r"cvm-a: installer pod sysbox-deploy-k8s-[a-z0-9]+ runs, but the node reports no sysbox-runtime label yet\..*see the pod's log",
        )
        .expect("a valid pattern");
        assert!(running.is_match(&stderr), "{stderr}");
        let ready = assert_kept_in_state(&wd)?;
        assert_eq!(ready, json!([]));
        let state = wd.show()?;
        let stored = state.resource("cvm_sysbox.main")?.get("tolerated_taints")?;
        assert_eq!(
            stored,
            json!([
                { "key": "sysbox-runtime", "value": "not-running", "effect": "NoSchedule" },
                { "key": "maintenance", "value": "kernel", "effect": "NoSchedule" },
            ]),
            "the taint added after the plan is tolerated, the joiner's is not"
        );
        Ok(())
    });
}

#[test]
fn a_pod_that_does_not_fit_quotes_the_scheduler() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let cluster = KubeCluster::start()?;
        // Room for one pod, taken by a tenant: the installer pod cannot be scheduled.
        cvm_node(&cluster, "cvm-full", 1)?;
        occupy(&cluster, "cvm-full")?;
        let wd = Workdir::new(tf)?;
        wd.config(&config(&cluster, &sysbox("20s")))?;
        let (stderr, _) = {
            let started = Instant::now();
            let output =
                wd.terraform_raw(&["apply", "-auto-approve", "-input=false", "-no-color"])?;
            assert!(
                !output.status.success(),
                "apply succeeded: {}",
                output.stdout
            );
            let flat = output
                .stderr
                .replace('│', " ")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            (flat, started.elapsed())
        };
        let pending = regex::Regex::new(
            r#"cvm-full: installer pod sysbox-deploy-k8s-[a-z0-9]+ is Pending, not scheduled: the scheduler says "0/1 nodes are available: 1 Too many pods\."#,
        )
        .expect("a valid pattern");
        assert!(pending.is_match(&stderr), "{stderr}");
        assert!(stderr.contains("free capacity on the node"), "{stderr}");
        let ready = assert_kept_in_state(&wd)?;
        assert_eq!(ready, json!([]));
        Ok(())
    });
}

#[test]
fn a_failing_installer_pod_is_named_with_its_last_state_and_log() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let cluster = KubeCluster::start()?;
        cvm_node(&cluster, "cvm-a", 110)?;
        cvm_node(&cluster, "cvm-bad", 110)?;
        let why = "this kernel lacks the modules Sysbox needs";
        cluster.merge_patch(
            "/api/v1/nodes/cvm-bad",
            json!({ "metadata": { "annotations": { FAIL_ANNOTATION: why } } }),
        )?;
        let double = InstallerDouble::start(cluster.api());
        let wd = Workdir::new(tf)?;
        wd.config(&config(&cluster, &sysbox("25s")))?;
        let started = Instant::now();
        let output = wd.terraform_raw(&["apply", "-auto-approve", "-input=false", "-no-color"])?;
        let took = started.elapsed();
        eprintln!("{}", output.stderr);
        assert!(
            !output.status.success(),
            "apply succeeded: {}",
            output.stdout
        );
        assert!(took < Duration::from_secs(45), "the apply took {took:?}");
        assert!(
            double
                .journal()
                .iter()
                .any(|l| l.starts_with("cvm-bad: installer failed")),
            "the double failed the install: {:?}",
            double.journal()
        );
        let stderr = output.stderr.replace('│', " ");
        let flat = stderr.split_whitespace().collect::<Vec<_>>().join(" ");
        let failing = regex::Regex::new(&format!(
            r"cvm-bad: installer pod sysbox-deploy-k8s-[a-z0-9]+ is failing: container sysbox-deploy-k8s is waiting: CrashLoopBackOff[^;]*; its last run terminated with exit code 1 \(Error\): {why}"
        ))
        .expect("a valid pattern");
        assert!(failing.is_match(&flat), "{flat}");
        // The log tail, as the API server served it from the node, line by line.
        assert!(stderr.contains("Last lines of its log:"), "{stderr}");
        let log_lines: Vec<&str> = stderr.lines().map(str::trim).collect();
        assert!(
            log_lines.contains(&"Installing Sysbox on node cvm-bad") && log_lines.contains(&why),
            "{stderr}"
        );
        assert!(!flat.contains("cvm-a:"), "cvm-a is ready: {flat}");
        let ready = assert_kept_in_state(&wd)?;
        assert_eq!(ready, json!(["cvm-a"]));
        Ok(())
    });
}

/// The installer pod for `node`, bound or not (the DaemonSet controller names the node in the
/// pod's required node affinity).
fn installer_pod(api: &KubeApi, node: &str) -> Result<Option<Value>, acc::Error> {
    Ok(api.pods("sysbox-install=yes")?.into_iter().find(|p| {
        p["spec"]["nodeName"] == node
            || p["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
                ["nodeSelectorTerms"][0]["matchFields"][0]["values"][0]
                == node
    }))
}

/// Polls `done` until it holds: the wait is for the cluster's state, not for a time.
fn wait_until(
    what: &str,
    mut done: impl FnMut() -> Result<bool, acc::Error>,
) -> Result<(), acc::Error> {
    let limit = Instant::now() + Duration::from_secs(90);
    while !done()? {
        if Instant::now() > limit {
            return Err(acc::Error::Assertion(format!("never saw {what}")));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

#[test]
fn a_node_replaced_during_the_wait_ends_ready_without_the_old_name() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let cluster = KubeCluster::start()?;
        cvm_node(&cluster, "cvm-a", 110)?;
        // The old node is full, so its installer pod stays Pending: the DaemonSet never finishes
        // rolling out while the node is a target, and the wait cannot end until the node is
        // drained and replaced.
        cvm_node(&cluster, "cvm-old", 1)?;
        occupy(&cluster, "cvm-old")?;
        let _double = InstallerDouble::start(cluster.api());
        let wd = Workdir::new(tf)?;
        wd.config(&config(&cluster, &sysbox("60s")))?;
        let api = cluster.api();
        // Once the provider waits (cvm-a runs Sysbox, cvm-old has its installer pod), a new node
        // of the same group joins and the old one leaves.
        let replacer = std::thread::spawn(move || -> Result<(), acc::Error> {
            wait_until("cvm-a running Sysbox and cvm-old's installer pod", || {
                let a = api.node_labels("cvm-a")?;
                Ok(
                    a.get("sysbox-runtime").map(String::as_str) == Some("running")
                        && installer_pod(&api, "cvm-old")?.is_some(),
                )
            })?;
            // The replacement joins before the old node leaves (as a rolling replacement does):
            // the other way round, the wait could end in between with cvm-a as the only target.
            cvm_node(&api, "cvm-new", 110)?;
            api.delete_node("cvm-old")?;
            Ok(())
        });
        let applied = wd.apply();
        replacer.join().expect("the replacer thread")?;
        applied?;
        let state = wd.show()?;
        let main = state.resource("cvm_sysbox.main")?;
        assert_eq!(main.get("ready_nodes")?, json!(["cvm-a", "cvm-new"]));
        let new = cluster.node_labels("cvm-new")?;
        assert_eq!(new.get("sysbox-install").map(String::as_str), Some("yes"));
        assert_eq!(
            new.get("sysbox-runtime").map(String::as_str),
            Some("running")
        );
        wd.assert_plan_empty()?;
        Ok(())
    });
}
