//! The real kube-apiserver peer: start it, register a Ubuntu 22.04 node the way a kubelet would,
//! label it, read it back, and create a namespace with Pod Security labels.
//!
//! Needs `scripts/kube-peers build` once; without the binaries this test fails and says so.

use acceptance_tests::kube::{KubeCluster, NodeInfo};

#[test]
fn node_and_namespace_round_trip() {
    let mut cluster = match KubeCluster::start() {
        Ok(cluster) => cluster,
        Err(e) => panic!("starting the kube-apiserver test peer failed: {e}"),
    };
    assert!(cluster.server_url().starts_with("https://127.0.0.1:"));
    assert!(cluster.kubeconfig_path().is_file());
    assert!(!cluster.token().is_empty());

    let version = cluster.get("/version").expect("GET /version");
    assert_eq!(version["gitVersion"], "v1.35.4", "{version}");

    let info = NodeInfo::ubuntu_22_04();
    let node = cluster.create_node("worker-1", &info).expect("create node");
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

    // Read back through a plain GET, including the Ready condition set through /status.
    let node = cluster.get("/api/v1/nodes/worker-1").expect("get node");
    let ready = node["status"]["conditions"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["type"] == "Ready"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(ready["status"], "True", "{node}");

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

    cluster
        .delete("/api/v1/nodes/worker-1")
        .expect("delete node");
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
