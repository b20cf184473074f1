//! The test cluster: start it, register a Ubuntu 22.04 node (kwok plays its kubelet), label it,
//! read it back, create a namespace with Pod Security labels; and show that it schedules as a
//! real cluster does: DaemonSets get a Running pod per matching node, an untolerated NoSchedule
//! taint keeps pods off a node, and a RuntimeClass's node selector steers pods.
//!
//! Needs `scripts/kube-peers build` once; without the binaries these tests fail and say so.

use std::time::Duration;

use acceptance_tests::kube::{KubeCluster, NodeInfo, NodeOptions, Taint};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);

fn start() -> KubeCluster {
    match KubeCluster::start() {
        Ok(cluster) => cluster,
        Err(e) => panic!("starting the test cluster failed: {e}"),
    }
}

fn node_with_labels(cluster: &KubeCluster, name: &str, labels: &[(&str, &str)]) {
    let options = NodeOptions {
        labels: labels
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect(),
        ..NodeOptions::default()
    };
    cluster
        .create_node_with(name, &NodeInfo::ubuntu_22_04(), &options)
        .unwrap_or_else(|e| panic!("node {name}: {e}"));
}

/// A DaemonSet in `default` running one pause container, with `pod_spec` merged into its pod spec.
fn daemonset(cluster: &KubeCluster, name: &str, pod_spec: Value) {
    let mut spec = json!({
        "containers": [{ "name": "main", "image": "registry.k8s.io/pause:3.10" }],
    });
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), pod_spec.as_object()) {
        spec.extend(extra.clone());
    }
    cluster
        .request(
            "POST",
            "/apis/apps/v1/namespaces/default/daemonsets",
            Some(json!({
                "apiVersion": "apps/v1",
                "kind": "DaemonSet",
                "metadata": { "name": name },
                "spec": {
                    "selector": { "matchLabels": { "app": name } },
                    "template": { "metadata": { "labels": { "app": name } }, "spec": spec },
                },
            })),
        )
        .expect("create DaemonSet");
}

/// Waits until the DaemonSet's controller counts `ready` ready pods out of `ready` desired.
fn wait_daemonset_ready(cluster: &KubeCluster, name: &str, ready: u64) -> Value {
    cluster
        .wait_for(
            "/apis/apps/v1/namespaces/default/daemonsets",
            name,
            WAIT,
            &format!("DaemonSet {name} with {ready} ready pods"),
            |ds| {
                ds["status"]["observedGeneration"] == ds["metadata"]["generation"]
                    && ds["status"]["desiredNumberScheduled"] == ready
                    && ds["status"]["numberReady"] == ready
            },
        )
        .expect("DaemonSet ready")
}

/// A bare pod in `default` running one pause container, with `pod_spec` merged into its spec.
fn pod(cluster: &KubeCluster, name: &str, pod_spec: Value) -> Value {
    let mut spec = json!({
        "containers": [{ "name": "main", "image": "registry.k8s.io/pause:3.10" }],
    });
    if let (Some(spec), Some(extra)) = (spec.as_object_mut(), pod_spec.as_object()) {
        spec.extend(extra.clone());
    }
    cluster
        .request(
            "POST",
            "/api/v1/namespaces/default/pods",
            Some(json!({
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": { "name": name },
                "spec": spec,
            })),
        )
        .expect("create pod")
}

fn wait_pod(cluster: &KubeCluster, name: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    cluster
        .wait_for("/api/v1/namespaces/default/pods", name, WAIT, what, done)
        .unwrap_or_else(|e| panic!("pod {name}: {e}"))
}

fn condition<'a>(object: &'a Value, kind: &str) -> &'a Value {
    object["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == kind))
        .unwrap_or(&Value::Null)
}

fn running_and_ready(pod: &Value) -> bool {
    pod["status"]["phase"] == "Running" && condition(pod, "Ready")["status"] == "True"
}

fn unschedulable(pod: &Value) -> bool {
    let scheduled = condition(pod, "PodScheduled");
    scheduled["status"] == "False" && scheduled["reason"] == "Unschedulable"
}

/// The node of each pod matching `selector`, sorted, for pods Running and Ready.
fn running_on(cluster: &KubeCluster, selector: &str) -> Vec<String> {
    let mut nodes: Vec<String> = cluster
        .pods(selector)
        .expect("list pods")
        .iter()
        .filter(|p| running_and_ready(p))
        .filter_map(|p| p["spec"]["nodeName"].as_str().map(str::to_owned))
        .collect();
    nodes.sort();
    nodes
}

#[test]
fn node_and_namespace_round_trip() {
    let mut cluster = start();
    assert!(cluster.server_url().starts_with("https://127.0.0.1:"));
    assert!(cluster.kubeconfig_path().is_file());
    assert!(!cluster.token().is_empty());

    let version = cluster.get("/version").expect("GET /version");
    assert_eq!(version["gitVersion"], "v1.35.4", "{version}");

    let info = NodeInfo::ubuntu_22_04();
    // create_node returns once kwok has reported the node Ready: what is stored then is what
    // kwok kept of the node info the test gave.
    let node = cluster.create_node("worker-1", &info).expect("create node");
    assert_eq!(condition(&node, "Ready")["status"], "True", "{node}");
    let stored = &node["status"]["nodeInfo"];
    assert_eq!(stored["osImage"], "Ubuntu 22.04.5 LTS", "{node}");
    assert_eq!(stored["kernelVersion"], info.kernel_version.as_str());
    assert_eq!(
        stored["containerRuntimeVersion"],
        info.container_runtime_version.as_str()
    );
    assert_eq!(stored["kubeletVersion"], info.kubelet_version.as_str());
    assert_eq!(stored["architecture"], "amd64");

    cluster
        .label_node("worker-1", "sysbox-runtime", Some("running"))
        .expect("label node");
    let labels = cluster.node_labels("worker-1").expect("node labels");
    assert_eq!(
        labels.get("sysbox-runtime").map(String::as_str),
        Some("running")
    );
    assert_eq!(
        labels.get("kubernetes.io/os").map(String::as_str),
        Some("linux")
    );

    // kwok renews the node's Lease, as a kubelet does; the node lifecycle controller reads it.
    let lease = cluster
        .wait_for(
            "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases",
            "worker-1",
            WAIT,
            "the Lease of worker-1",
            |lease| lease["spec"]["renewTime"].is_string(),
        )
        .expect("node lease");
    assert_eq!(
        lease["metadata"]["ownerReferences"][0]["name"], "worker-1",
        "{lease}"
    );
    assert_eq!(
        node["status"]["allocatable"]["pods"], "110",
        "the allocatable the harness gave: {node}"
    );

    cluster
        .label_node("worker-1", "sysbox-runtime", None)
        .expect("remove label");
    let labels = cluster.node_labels("worker-1").expect("node labels");
    assert!(!labels.contains_key("sysbox-runtime"), "{labels:?}");

    let namespace = cluster
        .create_namespace(
            "sysbox-installer",
            &[
                ("pod-security.kubernetes.io/enforce", "privileged"),
                ("pod-security.kubernetes.io/warn", "baseline"),
            ],
        )
        .expect("create namespace");
    assert_eq!(
        namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"], "privileged",
        "{namespace}"
    );
    // PodSecurity admission validates the labels: an unknown level is rejected.
    let rejected = cluster.create_namespace(
        "bad-psa",
        &[("pod-security.kubernetes.io/enforce", "lenient")],
    );
    assert!(
        rejected.is_err(),
        "an invalid Pod Security level was accepted"
    );

    cluster.delete_node("worker-1").expect("delete node");
    let gone = cluster.get("/api/v1/nodes/worker-1");
    assert!(
        matches!(
            gone,
            Err(acceptance_tests::kube::Error::Api { status: 404, .. })
        ),
        "{gone:?}"
    );

    let dir = cluster
        .kubeconfig_path()
        .parent()
        .map(std::path::Path::to_path_buf);
    cluster.stop();
    if let Some(dir) = dir {
        assert!(
            !dir.join("etcd-data").exists(),
            "stop left etcd's data behind"
        );
    }
}

#[test]
fn a_daemonset_runs_a_pod_on_each_matching_node() {
    let cluster = start();
    node_with_labels(&cluster, "worker-a", &[("example.com/role", "cvm")]);
    node_with_labels(&cluster, "worker-b", &[("example.com/role", "cvm")]);
    node_with_labels(&cluster, "other", &[]);

    daemonset(
        &cluster,
        "probe",
        json!({ "nodeSelector": { "example.com/role": "cvm" } }),
    );
    let ds = wait_daemonset_ready(&cluster, "probe", 2);
    assert_eq!(ds["status"]["numberAvailable"], 2, "{ds}");
    assert_eq!(running_on(&cluster, "app=probe"), ["worker-a", "worker-b"]);

    // A node that starts matching gets its pod too.
    cluster
        .label_node("other", "example.com/role", Some("cvm"))
        .expect("label");
    wait_daemonset_ready(&cluster, "probe", 3);
    assert_eq!(
        running_on(&cluster, "app=probe"),
        ["other", "worker-a", "worker-b"]
    );
}

#[test]
fn an_untolerated_no_schedule_taint_keeps_pods_off_a_node() {
    let cluster = start();
    node_with_labels(&cluster, "free", &[]);
    let tainted = NodeOptions {
        taints: vec![Taint::no_schedule("dedicated", "cvm")],
        ..NodeOptions::default()
    };
    cluster
        .create_node_with("tainted", &NodeInfo::ubuntu_22_04(), &tainted)
        .expect("tainted node");
    assert_eq!(
        cluster.node_taints("tainted").expect("taints"),
        ["dedicated=cvm:NoSchedule"]
    );

    // The DaemonSet controller makes no pod for the tainted node...
    daemonset(&cluster, "untolerant", json!({}));
    let ds = wait_daemonset_ready(&cluster, "untolerant", 1);
    assert_eq!(ds["status"]["currentNumberScheduled"], 1, "{ds}");
    assert_eq!(running_on(&cluster, "app=untolerant"), ["free"]);
    // ...but does for a DaemonSet that tolerates the taint.
    daemonset(
        &cluster,
        "tolerant",
        json!({ "tolerations": [{ "key": "dedicated", "operator": "Exists", "effect": "NoSchedule" }] }),
    );
    wait_daemonset_ready(&cluster, "tolerant", 2);
    assert_eq!(running_on(&cluster, "app=tolerant"), ["free", "tainted"]);

    // The scheduler leaves a pod that wants only the tainted node Pending, and says why.
    let only_tainted = json!({ "nodeSelector": { "kubernetes.io/hostname": "tainted" } });
    pod(&cluster, "pinned", only_tainted);
    let pending = wait_pod(
        &cluster,
        "pinned",
        "PodScheduled=False/Unschedulable",
        unschedulable,
    );
    assert_eq!(pending["status"]["phase"], "Pending", "{pending}");
    let message = condition(&pending, "PodScheduled")["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(message.contains("untolerated taint"), "{message}");

    // Once the taint is gone the same pod is scheduled there and runs.
    cluster
        .untaint_node("tainted", "dedicated")
        .expect("untaint");
    assert!(cluster.node_taints("tainted").expect("taints").is_empty());
    let running = wait_pod(&cluster, "pinned", "Running and Ready", running_and_ready);
    assert_eq!(running["spec"]["nodeName"], "tainted", "{running}");

    // And a taint added back keeps new pods off again (existing ones stay: NoSchedule).
    cluster
        .taint_node("tainted", &Taint::no_schedule("dedicated", "cvm"))
        .expect("taint");
    pod(
        &cluster,
        "pinned-again",
        json!({ "nodeSelector": { "kubernetes.io/hostname": "tainted" } }),
    );
    wait_pod(
        &cluster,
        "pinned-again",
        "PodScheduled=False/Unschedulable",
        unschedulable,
    );
}

#[test]
fn a_runtime_class_node_selector_steers_pods_to_sysbox_nodes() {
    let cluster = start();
    node_with_labels(&cluster, "plain-a", &[]);
    node_with_labels(&cluster, "plain-b", &[]);
    cluster
        .request(
            "POST",
            "/apis/node.k8s.io/v1/runtimeclasses",
            Some(json!({
                "apiVersion": "node.k8s.io/v1",
                "kind": "RuntimeClass",
                "metadata": { "name": "sysbox-runc" },
                "handler": "sysbox-runc",
                "scheduling": { "nodeSelector": { "sysbox-runtime": "running" } },
            })),
        )
        .expect("RuntimeClass");

    // The RuntimeClass admission adds the class's node selector to the pod...
    let created = pod(
        &cluster,
        "cvm",
        json!({ "runtimeClassName": "sysbox-runc" }),
    );
    assert_eq!(
        created["spec"]["nodeSelector"]["sysbox-runtime"], "running",
        "{created}"
    );
    // ...so with no Sysbox node it stays Pending...
    wait_pod(
        &cluster,
        "cvm",
        "PodScheduled=False/Unschedulable",
        unschedulable,
    );
    // ...and lands on the node that becomes one, not on the others.
    node_with_labels(&cluster, "sysbox", &[("sysbox-runtime", "running")]);
    let running = wait_pod(&cluster, "cvm", "Running and Ready", running_and_ready);
    assert_eq!(running["spec"]["nodeName"], "sysbox", "{running}");
    for i in 0..3 {
        let name = format!("cvm-{i}");
        pod(
            &cluster,
            &name,
            json!({ "runtimeClassName": "sysbox-runc" }),
        );
        let running = wait_pod(&cluster, &name, "Running and Ready", running_and_ready);
        assert_eq!(running["spec"]["nodeName"], "sysbox", "{running}");
    }
}

/// The installer double acts on installer pods that run, not on DaemonSets: a node whose pod
/// runs gets Sysbox (taint, `installing`, `running`, taint lifted), a node the pod cannot reach
/// (untolerated taint) gets nothing, and a node marked to fail shows a crashing container.
#[test]
fn the_installer_double_plays_the_script_on_nodes_whose_installer_pod_runs() {
    use acceptance_tests::installer_double::{FAIL_ANNOTATION, InstallerDouble};
    let cluster = start();
    for name in ["good", "failing", "tainted"] {
        let options = NodeOptions {
            labels: [("sysbox-install".to_string(), "yes".to_string())].into(),
            taints: if name == "tainted" {
                vec![Taint::no_schedule("dedicated", "cvm")]
            } else {
                Vec::new()
            },
            ..NodeOptions::default()
        };
        cluster
            .create_node_with(name, &NodeInfo::ubuntu_22_04(), &options)
            .expect("node");
    }
    cluster
        .merge_patch(
            "/api/v1/nodes/failing",
            json!({ "metadata": { "annotations": { FAIL_ANNOTATION: "sysbox-deploy-k8s: unsupported kernel" } } }),
        )
        .expect("annotate");
    let mut double = InstallerDouble::start(cluster.api());
    // An installer DaemonSet as the provider makes it: it tolerates only the script's own taint.
    daemonset(
        &cluster,
        "sysbox-deploy-k8s",
        json!({
            "nodeSelector": { "sysbox-install": "yes" },
            "tolerations": [{ "key": "sysbox-runtime", "operator": "Equal", "value": "not-running", "effect": "NoSchedule" }],
        }),
    );

    let good = cluster
        .wait_for(
            "/api/v1/nodes",
            "good",
            WAIT,
            "good labelled sysbox-runtime=running without the not-running taint",
            |node| {
                node["metadata"]["labels"]["sysbox-runtime"] == "running"
                    && !node["spec"]["taints"].to_string().contains("not-running")
            },
        )
        .expect("good node installed");
    assert!(
        good["spec"]["taints"]
            .as_array()
            .is_none_or(|t| t.is_empty()),
        "{good}"
    );
    // The failing node's pod reports a crashing container, which kwok leaves as written.
    let pods = cluster.pods("app=sysbox-deploy-k8s").expect("pods");
    let failing = pods
        .iter()
        .find(|p| p["spec"]["nodeName"] == "failing")
        .expect("a pod on the failing node");
    let name = failing["metadata"]["name"].as_str().expect("pod name");
    let crashed = wait_pod(&cluster, name, "a crashing container", |pod| {
        pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    });
    let status = &crashed["status"]["containerStatuses"][0];
    assert_eq!(status["ready"], false, "{crashed}");
    assert_eq!(
        status["lastState"]["terminated"]["exitCode"], 1,
        "{crashed}"
    );
    assert_eq!(
        status["lastState"]["terminated"]["message"],
        "sysbox-deploy-k8s: unsupported kernel"
    );
    assert_eq!(condition(&crashed, "Ready")["status"], "False");
    // Its log, as `kubectl logs` reads it (the API server asks kwok, the node's kubelet).
    let log = cluster.pod_log("default", name).expect("pod log");
    assert!(
        log.ends_with("sysbox-deploy-k8s: unsupported kernel\n"),
        "{log:?}"
    );
    // The DaemonSet controller counts it scheduled but not ready; it is still crashing (kwok
    // did not overwrite it), and the node got nothing.
    let ds = cluster
        .wait_for(
            "/apis/apps/v1/namespaces/default/daemonsets",
            "sysbox-deploy-k8s",
            WAIT,
            "2 pods scheduled, 1 ready",
            |ds| ds["status"]["desiredNumberScheduled"] == 2 && ds["status"]["numberReady"] == 1,
        )
        .expect("DaemonSet status");
    assert_eq!(ds["status"]["numberUnavailable"], 1, "{ds}");
    let again = cluster
        .get(&format!("/api/v1/namespaces/default/pods/{name}"))
        .expect("pod");
    assert_eq!(
        again["status"]["containerStatuses"][0]["state"]["waiting"]["reason"], "CrashLoopBackOff",
        "{again}"
    );
    assert!(
        !cluster
            .node_labels("failing")
            .expect("labels")
            .contains_key("sysbox-runtime")
    );

    // The tainted node never got an installer pod, so it never gets Sysbox.
    assert!(
        pods.iter().all(|p| p["spec"]["nodeName"] != "tainted"),
        "{pods:?}"
    );
    assert!(
        !cluster
            .node_labels("tainted")
            .expect("labels")
            .contains_key("sysbox-runtime")
    );
    // Stopped, so that its journal is complete.
    double.stop();
    let journal = double.journal();
    let steps: Vec<&str> = journal
        .iter()
        .filter_map(|l| l.strip_prefix("good: "))
        .collect();
    assert_eq!(
        steps,
        [
            "installer pod started (generation 1)",
            "tainted sysbox-runtime=not-running:NoSchedule",
            "sysbox-runtime=installing",
            "sysbox-runtime=running",
            "taint sysbox-runtime removed",
        ],
        "{journal:?}"
    );
    assert!(
        !journal.iter().any(|l| l.starts_with("tainted:")),
        "{journal:?}"
    );
}
