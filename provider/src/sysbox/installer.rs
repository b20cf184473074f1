//! The Kubernetes objects of the Sysbox installer (`sysbox-deploy-k8s`),
//! as the upstream install and uninstall manifests describe them, built for
//! a namespace and an installer image.
//!
//! The installer is a privileged DaemonSet on the nodes labelled
//! `sysbox-install=yes`. It installs Sysbox on its node and reports progress
//! in the node label `sysbox-runtime` (`installing`, then `running`). The
//! cleanup DaemonSet runs on nodes labelled `sysbox-runtime=running`,
//! uninstalls, and removes that label.
//!
//! # Tolerations
//!
//! Upstream's DaemonSets tolerate only the installer's own taint
//! (`sysbox-runtime=not-running:NoSchedule`), so on a node with any other
//! NoSchedule taint the installer pod is never created (nestybox/sysbox#721).
//! Here both DaemonSets tolerate exactly the taints that keep pods off the
//! nodes they are meant for ([`tolerated_taints`]): every `NoSchedule` and
//! `NoExecute` taint found on those nodes, by key, value and effect
//! (`operator: Equal`, no `tolerationSeconds`), plus the installer's own.
//! Left out are `PreferNoSchedule` (it never keeps a pod off a node) and the
//! taints Kubernetes itself sets for a node's condition or lifecycle
//! (`node.kubernetes.io/*`, `node.cloudprovider.kubernetes.io/*`): the
//! DaemonSet controller already tolerates those it is safe to (not-ready,
//! unreachable, pressure, unschedulable), and tolerating the others
//! (out-of-service, an uninitialised or shut-down cloud node) would run a
//! privileged installer where nothing should run; they also come and go
//! with the node's health, which would make the tolerations flap.
//!
//! No blanket `operator: Exists`: it would tolerate every taint there will
//! ever be, so the privileged installer would stay on a node an admin taints
//! `NoExecute` to drain it, and land on tainted nodes that are not targets
//! if someone labels them by mistake. Exact tolerations widen only when a
//! plan shows them widening.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{ConfigMap, Node, ServiceAccount, Taint, Toleration};
use k8s_openapi::api::node::v1::RuntimeClass;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Label an administrator puts on a node to have Sysbox installed there.
pub const INSTALL_LABEL: &str = "sysbox-install";
/// Value of [`INSTALL_LABEL`] that selects a node.
pub const INSTALL_VALUE: &str = "yes";
/// Label the installer sets on its node: `installing`, `running`, `removing`.
pub const RUNTIME_LABEL: &str = "sysbox-runtime";
/// Value of [`RUNTIME_LABEL`] once Sysbox runs on the node.
pub const RUNNING: &str = "running";
/// Value of [`RUNTIME_LABEL`] while the cleanup DaemonSet uninstalls.
pub const REMOVING: &str = "removing";
/// Value of the taint (key [`RUNTIME_LABEL`]) the installer puts on its node
/// while Sysbox is not running there.
const NOT_RUNNING: &str = "not-running";
/// The taint the installer's script puts on a node while it works, as
/// `key=value:Effect`.
pub const INSTALLER_TAINT: &str = "sysbox-runtime=not-running:NoSchedule";

/// Whether a node's taint is the one the installer's script sets while it
/// works (`sysbox-runtime=not-running`, whatever its effect).
pub fn is_installer_taint(taint: &Taint) -> bool {
    taint.key == RUNTIME_LABEL && taint.value.as_deref() == Some(NOT_RUNNING)
}

/// The ServiceAccount both DaemonSets run as.
pub const SERVICE_ACCOUNT: &str = "sysbox-label-node";
/// The ClusterRole that lets the installer label its node.
pub const CLUSTER_ROLE: &str = "sysbox-node-labeler";
/// The binding of [`CLUSTER_ROLE`] to [`SERVICE_ACCOUNT`].
pub const CLUSTER_ROLE_BINDING: &str = "sysbox-label-node-rb";
/// The ConfigMap with the Sysbox daemons' settings.
pub const CONFIG_MAP: &str = "sysbox-operational-attributes";
/// The install DaemonSet.
pub const INSTALL_DAEMON_SET: &str = "sysbox-deploy-k8s";
/// The cleanup (uninstall) DaemonSet.
pub const CLEANUP_DAEMON_SET: &str = "sysbox-cleanup-k8s";
/// The RuntimeClass pods name to run under Sysbox.
pub const RUNTIME_CLASS: &str = "sysbox-runc";

/// The field manager of every object the provider applies, so that
/// server-side apply knows which fields are ours.
pub const FIELD_MANAGER: &str = "terraform-provider-cvm";

/// The installer objects of one installation, in the order they are
/// applied (the DaemonSet needs the others).
#[derive(Debug, Clone)]
pub struct InstallerObjects {
    /// `ServiceAccount` `sysbox-label-node`.
    pub service_account: ServiceAccount,
    /// `ClusterRole` `sysbox-node-labeler`.
    pub cluster_role: ClusterRole,
    /// `ClusterRoleBinding` `sysbox-label-node-rb`.
    pub binding: ClusterRoleBinding,
    /// `ConfigMap` `sysbox-operational-attributes`.
    pub config_map: ConfigMap,
    /// `DaemonSet` `sysbox-deploy-k8s`.
    pub daemon_set: DaemonSet,
    /// `RuntimeClass` `sysbox-runc`.
    pub runtime_class: RuntimeClass,
}

/// Host paths the installer mounts, and where; the cleanup DaemonSet needs
/// all but the sysctl and modules-load directories.
const HOST_MOUNTS: &[(&str, &str, bool)] = &[
    ("etc", "/etc", true),
    ("os-release", "/etc/os-release", true),
    ("dbus", "/var/run/dbus", true),
    ("run-systemd", "/run/systemd", true),
    ("lib-systemd", "/lib/systemd/system", true),
    ("etc-systemd", "/etc/systemd/system", true),
    ("lib-sysctl", "/lib/sysctl.d", false),
    ("opt-lib-sysctl", "/opt/lib/sysctl.d", false),
    ("usr-bin", "/usr/bin/", true),
    ("opt-bin", "/opt/bin/", true),
    ("usr-local-bin", "/usr/local/bin/", true),
    ("opt-local-bin", "/opt/local/bin/", true),
    ("usr-lib-mod-load", "/usr/lib/modules-load.d", false),
    ("opt-lib-mod-load", "/opt/lib/modules-load.d", false),
    ("run", "/run", true),
    ("var-lib", "/var/lib", true),
];

/// Where a host path appears inside the installer container.
fn mount_path(host: &str) -> String {
    match host {
        "/etc/os-release" => "/mnt/host/os-release".to_owned(),
        "/var/run/dbus" | "/run/systemd" => host.to_owned(),
        other => format!("/mnt/host{}", other.trim_end_matches('/')),
    }
}

/// A taint the installer's pods tolerate: exactly this key, value (empty
/// for a taint without one) and effect.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToleratedTaint {
    /// The taint's key.
    pub key: String,
    /// The taint's value; empty when it has none.
    pub value: String,
    /// `NoSchedule` or `NoExecute`.
    pub effect: String,
}

impl ToleratedTaint {
    /// The taint the installer puts on its node while it installs.
    fn installers_own() -> Self {
        Self {
            key: RUNTIME_LABEL.to_owned(),
            value: NOT_RUNNING.to_owned(),
            effect: "NoSchedule".to_owned(),
        }
    }

    fn toleration(&self) -> serde_json::Value {
        json!({
            "key": self.key,
            "operator": "Equal",
            "value": self.value,
            "effect": self.effect,
        })
    }
}

impl std::fmt::Display for ToleratedTaint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.value.is_empty() {
            write!(f, "{}:{}", self.key, self.effect)
        } else {
            write!(f, "{}={}:{}", self.key, self.value, self.effect)
        }
    }
}

/// Whether a taint is one Kubernetes sets itself for a node's condition or
/// lifecycle (see the module documentation).
fn set_by_kubernetes(key: &str) -> bool {
    key.starts_with("node.kubernetes.io/") || key.starts_with("node.cloudprovider.kubernetes.io/")
}

/// What the installer's pods tolerate to run on `nodes`: the installer's
/// own taint first, then every `NoSchedule` and `NoExecute` taint of those
/// nodes not set by Kubernetes itself, once each, in order.
pub fn tolerated_taints<'a>(nodes: impl IntoIterator<Item = &'a Node>) -> Vec<ToleratedTaint> {
    let own = ToleratedTaint::installers_own();
    let found: BTreeSet<ToleratedTaint> = nodes
        .into_iter()
        .filter_map(|node| node.spec.as_ref()?.taints.as_ref())
        .flatten()
        .filter(|taint| matches!(taint.effect.as_str(), "NoSchedule" | "NoExecute"))
        .filter(|taint| !set_by_kubernetes(&taint.key))
        .map(|taint| ToleratedTaint {
            key: taint.key.clone(),
            value: taint.value.clone().unwrap_or_default(),
            effect: taint.effect.clone(),
        })
        .filter(|taint| *taint != own)
        .collect();
    std::iter::once(own).chain(found).collect()
}

/// What a DaemonSet's pods tolerate, in its order. A toleration wider than
/// one taint (`operator: Exists`) shows with value `*`, so that it differs
/// from anything [`tolerated_taints`] gives.
pub fn daemon_set_tolerated_taints(daemon_set: &DaemonSet) -> Vec<ToleratedTaint> {
    let tolerations: &[Toleration] = daemon_set
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or_default();
    tolerations
        .iter()
        .map(|t| ToleratedTaint {
            key: t.key.clone().unwrap_or_default(),
            value: if t.operator.as_deref() == Some("Exists") {
                "*".to_owned()
            } else {
                t.value.clone().unwrap_or_default()
            },
            effect: t.effect.clone().unwrap_or_default(),
        })
        .collect()
}

/// The pod template shared by both DaemonSets.
fn pod_spec(
    image: &str,
    action: &str,
    for_install: bool,
    tolerated: &[ToleratedTaint],
) -> serde_json::Value {
    let mounts: Vec<_> = HOST_MOUNTS
        .iter()
        .filter(|(_, _, cleanup_too)| for_install || *cleanup_too)
        .collect();
    let volumes: Vec<_> = mounts
        .iter()
        .map(|(name, host, _)| json!({ "name": name, "hostPath": { "path": host } }))
        .collect();
    let volume_mounts: Vec<_> = mounts
        .iter()
        .map(|(name, host, _)| json!({ "name": name, "mountPath": mount_path(host) }))
        .collect();
    let mut env = vec![json!({
        "name": "NODE_NAME",
        "valueFrom": { "fieldRef": { "fieldPath": "spec.nodeName" } },
    })];
    if for_install {
        for key in ["SYSBOX_MGR_CONFIG", "SYSBOX_FS_CONFIG"] {
            env.push(json!({
                "name": key,
                "valueFrom": { "configMapKeyRef": { "name": CONFIG_MAP, "key": key } },
            }));
        }
    }
    json!({
        "serviceAccountName": SERVICE_ACCOUNT,
        "nodeSelector": if for_install {
            json!({ INSTALL_LABEL: INSTALL_VALUE })
        } else {
            json!({ RUNTIME_LABEL: RUNNING })
        },
        "tolerations": tolerations(tolerated),
        "containers": [{
            "name": if for_install { INSTALL_DAEMON_SET } else { CLEANUP_DAEMON_SET },
            "image": image,
            "imagePullPolicy": "Always",
            "command": ["bash", "-c", format!("/opt/sysbox/scripts/sysbox-deploy-k8s.sh ce {action}")],
            "env": env,
            "securityContext": { "privileged": true },
            "volumeMounts": volume_mounts,
        }],
        "volumes": volumes,
    })
}

/// The tolerations for `tolerated`, always with the installer's own taint.
fn tolerations(tolerated: &[ToleratedTaint]) -> Vec<serde_json::Value> {
    let own = ToleratedTaint::installers_own();
    let mut all: Vec<&ToleratedTaint> = vec![&own];
    all.extend(tolerated.iter().filter(|t| **t != own));
    all.into_iter().map(ToleratedTaint::toleration).collect()
}

fn daemon_set(
    namespace: &str,
    name: &str,
    pod_label: (&str, &str),
    spec: serde_json::Value,
) -> DaemonSet {
    let (key, value) = pod_label;
    typed(json!({
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": { "name": name, "namespace": namespace },
        "spec": {
            "selector": { "matchLabels": { key: value } },
            "updateStrategy": { "type": "RollingUpdate", "rollingUpdate": { "maxUnavailable": 1 } },
            "template": {
                "metadata": { "labels": { key: value } },
                "spec": spec,
            },
        },
    }))
}

/// Converts a JSON manifest into its typed object.
fn typed<T: serde::de::DeserializeOwned>(manifest: serde_json::Value) -> T {
    // The manifests are literals in this file, checked by the unit tests:
    // they always match their k8s-openapi types.
    serde_json::from_value(manifest)
        .unwrap_or_else(|e| panic!("installer manifest is invalid: {e}"))
}

impl InstallerObjects {
    /// The objects for `namespace` with the installer `image`, whose pods
    /// tolerate `tolerated` (and the installer's own taint).
    pub fn new(namespace: &str, image: &str, tolerated: &[ToleratedTaint]) -> Self {
        Self {
            service_account: typed(json!({
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": { "name": SERVICE_ACCOUNT, "namespace": namespace },
            })),
            cluster_role: typed(json!({
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": { "name": CLUSTER_ROLE },
                "rules": [
                    { "apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "patch"] },
                    { "apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "delete", "watch"] },
                ],
            })),
            binding: typed(json!({
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": { "name": CLUSTER_ROLE_BINDING },
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": CLUSTER_ROLE,
                },
                "subjects": [{ "kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": namespace }],
            })),
            config_map: typed(json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": { "name": CONFIG_MAP, "namespace": namespace },
                "data": { "SYSBOX_MGR_CONFIG": "", "SYSBOX_FS_CONFIG": "" },
            })),
            daemon_set: daemon_set(
                namespace,
                INSTALL_DAEMON_SET,
                (INSTALL_LABEL, INSTALL_VALUE),
                pod_spec(image, "install", true, tolerated),
            ),
            runtime_class: typed(json!({
                "apiVersion": "node.k8s.io/v1",
                "kind": "RuntimeClass",
                "metadata": { "name": RUNTIME_CLASS },
                "handler": RUNTIME_CLASS,
                "scheduling": { "nodeSelector": { RUNTIME_LABEL: RUNNING } },
            })),
        }
    }
}

/// The cleanup DaemonSet that uninstalls Sysbox from every node labelled
/// `sysbox-runtime=running`, its pods tolerating `tolerated`.
pub fn cleanup_daemon_set(namespace: &str, image: &str, tolerated: &[ToleratedTaint]) -> DaemonSet {
    daemon_set(
        namespace,
        CLEANUP_DAEMON_SET,
        ("sysbox-cleanup", "yes"),
        pod_spec(image, "cleanup", false, tolerated),
    )
}

/// The image of a DaemonSet's first container.
pub fn daemon_set_image(daemon_set: &DaemonSet) -> Option<&str> {
    daemon_set
        .spec
        .as_ref()?
        .template
        .spec
        .as_ref()?
        .containers
        .first()?
        .image
        .as_deref()
}

/// The node selector of a DaemonSet's pods.
pub fn daemon_set_node_selector(daemon_set: &DaemonSet) -> BTreeMap<String, String> {
    daemon_set
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|s| s.node_selector.clone())
        .unwrap_or_default()
}

/// Whether a DaemonSet found in the cluster still does what `wanted` does:
/// same image, command, node selector and privilege. Fields the API server
/// defaults are ignored.
pub fn daemon_set_matches(found: &DaemonSet, wanted: &DaemonSet) -> bool {
    let container = |d: &DaemonSet| {
        d.spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .and_then(|s| s.containers.first())
            .map(|c| {
                (
                    c.image.clone(),
                    c.command.clone(),
                    c.security_context.as_ref().and_then(|s| s.privileged),
                )
            })
    };
    container(found) == container(wanted)
        && daemon_set_node_selector(found) == daemon_set_node_selector(wanted)
}

/// Whether a RuntimeClass found in the cluster has the handler and
/// scheduling of `wanted`.
pub fn runtime_class_matches(found: &RuntimeClass, wanted: &RuntimeClass) -> bool {
    let selector = |r: &RuntimeClass| r.scheduling.as_ref().and_then(|s| s.node_selector.clone());
    found.handler == wanted.handler && selector(found) == selector(wanted)
}

/// Whether a ClusterRole found in the cluster grants at least what
/// `wanted` grants.
pub fn cluster_role_matches(found: &ClusterRole, wanted: &ClusterRole) -> bool {
    let rules = |r: &ClusterRole| r.rules.clone().unwrap_or_default();
    let found = rules(found);
    rules(wanted).iter().all(|rule| found.contains(rule))
}

/// Whether a binding found in the cluster binds `wanted`'s role to its
/// subjects.
pub fn binding_matches(found: &ClusterRoleBinding, wanted: &ClusterRoleBinding) -> bool {
    found.role_ref == wanted.role_ref && found.subjects == wanted.subjects
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_daemon_set_runs_on_labelled_nodes_with_the_image() {
        let objects = InstallerObjects::new("kube-system", "example.com/sysbox-deploy-k8s:v9", &[]);
        let ds = &objects.daemon_set;
        assert_eq!(ds.metadata.namespace.as_deref(), Some("kube-system"));
        assert_eq!(
            daemon_set_image(ds),
            Some("example.com/sysbox-deploy-k8s:v9")
        );
        assert_eq!(
            daemon_set_node_selector(ds),
            BTreeMap::from([("sysbox-install".to_owned(), "yes".to_owned())])
        );
        let pod = ds
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .expect("pod spec");
        assert_eq!(pod.service_account_name.as_deref(), Some(SERVICE_ACCOUNT));
        let container = &pod.containers[0];
        assert_eq!(
            container.command.as_ref().expect("command")[2],
            "/opt/sysbox/scripts/sysbox-deploy-k8s.sh ce install"
        );
        assert_eq!(
            container.volume_mounts.as_ref().map(Vec::len),
            Some(HOST_MOUNTS.len())
        );
        let env: Vec<_> = container
            .env
            .iter()
            .flatten()
            .map(|e| e.name.as_str())
            .collect();
        assert_eq!(env, ["NODE_NAME", "SYSBOX_MGR_CONFIG", "SYSBOX_FS_CONFIG"]);
        let toleration = &pod.tolerations.as_ref().expect("tolerations")[0];
        assert_eq!(toleration.value.as_deref(), Some("not-running"));
    }

    #[test]
    fn mounts_follow_the_upstream_layout() {
        assert_eq!(mount_path("/etc"), "/mnt/host/etc");
        assert_eq!(mount_path("/etc/os-release"), "/mnt/host/os-release");
        assert_eq!(mount_path("/var/run/dbus"), "/var/run/dbus");
        assert_eq!(mount_path("/usr/bin/"), "/mnt/host/usr/bin");
        assert_eq!(mount_path("/var/lib"), "/mnt/host/var/lib");
    }

    #[test]
    fn cleanup_daemon_set_runs_where_sysbox_runs_without_config() {
        let ds = cleanup_daemon_set("sysbox", "img:v1", &[]);
        assert_eq!(ds.metadata.name.as_deref(), Some(CLEANUP_DAEMON_SET));
        assert_eq!(
            daemon_set_node_selector(&ds),
            BTreeMap::from([("sysbox-runtime".to_owned(), "running".to_owned())])
        );
        let pod = ds
            .spec
            .as_ref()
            .and_then(|s| s.template.spec.as_ref())
            .expect("pod spec");
        let container = &pod.containers[0];
        assert!(container.command.as_ref().expect("command")[2].ends_with("ce cleanup"));
        assert_eq!(container.env.as_ref().map(Vec::len), Some(1));
        assert_eq!(container.volume_mounts.as_ref().map(Vec::len), Some(12));
    }

    #[test]
    fn runtime_class_schedules_onto_running_nodes() {
        let objects = InstallerObjects::new("kube-system", "img:v1", &[]);
        let rc = &objects.runtime_class;
        assert_eq!(rc.handler, "sysbox-runc");
        assert!(runtime_class_matches(rc, rc));
        let mut other = rc.clone();
        other.handler = "runc".to_owned();
        assert!(!runtime_class_matches(&other, rc));
    }

    #[test]
    fn changed_daemon_sets_do_not_match() {
        let wanted = InstallerObjects::new("kube-system", "img:v1", &[]).daemon_set;
        assert!(daemon_set_matches(&wanted, &wanted));
        let newer = InstallerObjects::new("kube-system", "img:v2", &[]).daemon_set;
        assert!(!daemon_set_matches(&newer, &wanted));
        let mut unprivileged = wanted.clone();
        if let Some(pod) = unprivileged
            .spec
            .as_mut()
            .and_then(|s| s.template.spec.as_mut())
        {
            pod.containers[0].security_context = None;
        }
        assert!(!daemon_set_matches(&unprivileged, &wanted));
    }

    #[test]
    fn roles_and_bindings_compare_their_grants() {
        let objects = InstallerObjects::new("kube-system", "img:v1", &[]);
        assert!(cluster_role_matches(
            &objects.cluster_role,
            &objects.cluster_role
        ));
        let mut narrowed = objects.cluster_role.clone();
        narrowed.rules = Some(vec![]);
        assert!(!cluster_role_matches(&narrowed, &objects.cluster_role));
        assert!(binding_matches(&objects.binding, &objects.binding));
        let elsewhere = InstallerObjects::new("other", "img:v1", &[]).binding;
        assert!(!binding_matches(&elsewhere, &objects.binding));
    }

    fn node(taints: &[(&str, Option<&str>, &str)]) -> Node {
        serde_json::from_value(json!({
            "metadata": { "name": "n" },
            "spec": { "taints": taints.iter().map(|(key, value, effect)| {
                json!({ "key": key, "value": value, "effect": effect })
            }).collect::<Vec<_>>() },
        }))
        .expect("a node")
    }

    fn shown(taints: &[ToleratedTaint]) -> Vec<String> {
        taints.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn tolerated_taints_are_the_blocking_taints_of_the_targets_plus_the_installers_own() {
        let a = node(&[
            ("dedicated", Some("cvm"), "NoSchedule"),
            ("maintenance", None, "NoExecute"),
            ("soft", Some("x"), "PreferNoSchedule"),
        ]);
        let b = node(&[
            ("dedicated", Some("cvm"), "NoSchedule"),
            ("dedicated", Some("cvm"), "NoExecute"),
            ("gpu", Some("true"), "NoSchedule"),
        ]);
        assert_eq!(
            shown(&tolerated_taints([&a, &b])),
            [
                "sysbox-runtime=not-running:NoSchedule",
                "dedicated=cvm:NoExecute",
                "dedicated=cvm:NoSchedule",
                "gpu=true:NoSchedule",
                "maintenance:NoExecute",
            ],
            "each once, PreferNoSchedule left out"
        );
        assert_eq!(
            shown(&tolerated_taints(std::iter::empty())),
            ["sysbox-runtime=not-running:NoSchedule"],
            "no targets: only the installer's own"
        );
    }

    #[test]
    fn taints_kubernetes_sets_itself_are_not_tolerated() {
        let n = node(&[
            ("node.kubernetes.io/not-ready", None, "NoExecute"),
            ("node.kubernetes.io/unschedulable", None, "NoSchedule"),
            (
                "node.kubernetes.io/out-of-service",
                Some("nodeshutdown"),
                "NoExecute",
            ),
            (
                "node.cloudprovider.kubernetes.io/uninitialized",
                Some("true"),
                "NoSchedule",
            ),
            // The installer's own taint, present while it installs, once.
            ("sysbox-runtime", Some("not-running"), "NoSchedule"),
        ]);
        assert_eq!(
            shown(&tolerated_taints([&n])),
            ["sysbox-runtime=not-running:NoSchedule"]
        );
    }

    #[test]
    fn daemon_sets_tolerate_exactly_the_given_taints_and_read_back_the_same() {
        let tainted = node(&[
            ("dedicated", Some("cvm"), "NoSchedule"),
            ("bare", None, "NoExecute"),
        ]);
        let tolerated = tolerated_taints([&tainted]);
        let install = InstallerObjects::new("kube-system", "img:v1", &tolerated).daemon_set;
        let cleanup = cleanup_daemon_set("kube-system", "img:v1", &tolerated);
        for ds in [&install, &cleanup] {
            let pod = ds
                .spec
                .as_ref()
                .and_then(|s| s.template.spec.as_ref())
                .expect("pod spec");
            let tolerations = pod.tolerations.as_ref().expect("tolerations");
            assert_eq!(tolerations.len(), 3);
            assert!(
                tolerations
                    .iter()
                    .all(|t| t.operator.as_deref() == Some("Equal")
                        && t.toleration_seconds.is_none()),
                "exact tolerations only: {tolerations:?}"
            );
            assert_eq!(daemon_set_tolerated_taints(ds), tolerated);
        }
        // As stored by the API server: an empty value is omitted.
        let stored: DaemonSet = serde_json::from_value(json!({
            "spec": {
                "selector": {},
                "template": { "spec": { "containers": [], "tolerations": [
                    { "key": "sysbox-runtime", "operator": "Equal", "value": "not-running", "effect": "NoSchedule" },
                    { "key": "bare", "operator": "Equal", "effect": "NoExecute" },
                    { "operator": "Exists" },
                ] } },
            },
        }))
        .expect("a DaemonSet");
        assert_eq!(
            shown(&daemon_set_tolerated_taints(&stored)),
            [
                "sysbox-runtime=not-running:NoSchedule",
                "bare:NoExecute",
                "=*:"
            ],
            "an Exists toleration never equals a computed one"
        );
        // The installer's own taint is never doubled, nor dropped.
        let doubled = InstallerObjects::new("kube-system", "img:v1", &tolerated[..1]).daemon_set;
        assert_eq!(daemon_set_tolerated_taints(&doubled), tolerated[..1]);
    }
}
