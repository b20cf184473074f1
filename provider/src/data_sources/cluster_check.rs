//! `cvm_cluster_check`: can this cluster run CVMs, and if not, why? Reads
//! the nodes and the installer's namespace and judges them with the Sysbox
//! compatibility rules, before anything is installed. Once the installer
//! DaemonSet exists, it also tells per node which taints the installer does
//! not tolerate and why an installer pod does not run (the scheduler's
//! reason for a Pending pod, a failing container), as
//! [`diagnosis`](crate::sysbox::diagnosis) reads it.

use std::collections::BTreeMap;

use async_trait::async_trait;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Event, Namespace, Node, Pod};
use serde::{Deserialize, Serialize};
use tf_framework::schema::{Attribute, Block, Schema};
use tf_framework::{Ctx, DataSource, ToDiagnostic};
use tf_protocol::Diagnostics;
use tf_protocol::value::{Attr, Type};

use crate::image_reference::image_reference;
use crate::kube::labels;
use crate::kube::names::{self, Grammar};
use crate::provider::ProviderData;
use crate::sysbox::compatibility::{NodeFacts, SysboxRelease, check_node};
use crate::sysbox::diagnosis::{self, Observed};
use crate::sysbox::installer::{INSTALL_DAEMON_SET, INSTALL_LABEL, INSTALL_VALUE};

/// The installer image used when none is configured.
pub const DEFAULT_INSTALLER_IMAGE: &str =
    "registry.nestybox.com/nestybox/sysbox-deploy-k8s:v0.7.1-0";

/// The namespace the installer runs in unless configured otherwise.
pub const DEFAULT_NAMESPACE: &str = "kube-system";

/// The PodSecurity label that decides whether privileged pods may run.
const ENFORCE_LABEL: &str = "pod-security.kubernetes.io/enforce";

/// The `cvm_cluster_check` data source.
#[derive(Debug, Default)]
pub struct ClusterCheck;

/// Configuration and result of `cvm_cluster_check`.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterCheckModel {
    /// Namespace the installer will run in.
    pub namespace: Attr<String>,
    /// Installer image (its tag is the Sysbox release).
    pub installer_image: Attr<String>,
    /// Labels selecting the nodes to check.
    pub node_selector: Attr<BTreeMap<String, String>>,
    /// Whether cached CVMs are wanted.
    pub caching: Attr<bool>,
    /// Per-node verdicts.
    pub nodes: Attr<Vec<NodeVerdict>>,
    /// Whether the namespace admits privileged pods with hostPath volumes.
    pub namespace_allows_privileged: Attr<bool>,
    /// Every checked node supported, at least one node, namespace fine.
    pub ready: Attr<bool>,
    /// One paragraph for people.
    pub summary: Attr<String>,
}

/// One node's verdict.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeVerdict {
    /// Node name.
    pub name: String,
    /// `osImage`.
    pub os_image: String,
    /// `kernelVersion`.
    pub kernel_version: String,
    /// `containerRuntimeVersion`.
    pub container_runtime: String,
    /// `kubeletVersion`.
    pub kubelet_version: String,
    /// `architecture`.
    pub architecture: String,
    /// Whether Sysbox can run there.
    pub supported: bool,
    /// Why not, and notes.
    pub reasons: Vec<String>,
    /// `NoSchedule`/`NoExecute` taints the installer DaemonSet does not
    /// tolerate, as `key=value:Effect`.
    pub untolerated_taints: Vec<String>,
    /// What the installer does on the node and what to do about it.
    pub installer: String,
}

fn node_type() -> Type {
    Type::object([
        ("name", Type::String),
        ("os_image", Type::String),
        ("kernel_version", Type::String),
        ("container_runtime", Type::String),
        ("kubelet_version", Type::String),
        ("architecture", Type::String),
        ("supported", Type::Bool),
        ("reasons", Type::list(Type::String)),
        ("untolerated_taints", Type::list(Type::String)),
        ("installer", Type::String),
    ])
}

/// The tag of an image reference (`…:v0.7.1-0` → `v0.7.1-0`).
pub fn image_tag(image: &str) -> &str {
    let last = image.rsplit('/').next().unwrap_or(image);
    last.split_once(':').map_or("", |(_, tag)| tag)
}

/// Facts a node reports, verbatim.
pub fn node_facts(node: &Node) -> NodeFacts {
    let info = node.status.as_ref().and_then(|s| s.node_info.as_ref());
    let get = |f: fn(&k8s_openapi::api::core::v1::NodeSystemInfo) -> &String| {
        info.map(f).cloned().unwrap_or_default()
    };
    NodeFacts {
        os_image: get(|i| &i.os_image),
        kernel_version: get(|i| &i.kernel_version),
        container_runtime_version: get(|i| &i.container_runtime_version),
        kubelet_version: get(|i| &i.kubelet_version),
        architecture: get(|i| &i.architecture),
        operating_system: get(|i| &i.operating_system),
    }
}

/// Whether a namespace's PodSecurity labels admit the installer's
/// privileged, hostPath-mounting pods; the reason when not.
pub fn namespace_verdict(namespace: &str, labels: &BTreeMap<String, String>) -> Result<(), String> {
    match labels.get(ENFORCE_LABEL).map(String::as_str) {
        None | Some("privileged") => Ok(()),
        Some(level) => Err(format!(
            "namespace {namespace:?} enforces the {level:?} Pod Security Standard, which refuses the \
             privileged pods and hostPath volumes the Sysbox installer needs: label it \
             {ENFORCE_LABEL}=privileged, or install into a namespace that allows privileged pods"
        )),
    }
}

#[async_trait]
impl DataSource for ClusterCheck {
    type Data = ProviderData;
    type Model = ClusterCheckModel;

    fn type_name(&self) -> &'static str {
        "cvm_cluster_check"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            Block::new(
                "Tells, before anything is installed, whether the cluster can run Sysbox \
                 container-based virtual machines (CVMs), and why not: per node the OS image, \
                 kernel, container runtime, Kubernetes version and architecture, and whether the \
                 installer's namespace admits privileged pods with hostPath volumes. Once the \
                 installer runs, it also tells per node which taints it does not tolerate and \
                 why its pod does not run there.",
            )
            .attribute(
                Attribute::string("namespace")
                    .optional()
                    .validate(names::kube_name("namespace", Grammar::Dns1123Label))
                    .description(format!("Namespace the Sysbox installer runs in. Default `{DEFAULT_NAMESPACE}`.")),
            )
            .attribute(
                Attribute::string("installer_image")
                    .optional()
                    .validate(image_reference())
                    .description(format!(
                        "The sysbox-deploy-k8s image whose Sysbox release the nodes are checked against. Default `{DEFAULT_INSTALLER_IMAGE}`."
                    )),
            )
            .attribute(
                Attribute::map("node_selector", Type::String)
                    .optional()
                    .validate(labels::labels())
                    .description("Labels of the nodes to check; all nodes when unset."),
            )
            .attribute(
                Attribute::bool("caching")
                    .optional()
                    .description("Also check what cached CVMs need (shiftfs). Default `false`."),
            )
            .attribute(
                Attribute::list("nodes", node_type())
                    .computed()
                    .description(
                        "One entry per checked node: its facts, `supported`, and `reasons` (blocking findings and notes); \
                         `untolerated_taints`, the node's `NoSchedule`/`NoExecute` taints that the installer DaemonSet in `namespace` does \
                         not tolerate (with the tolerations the DaemonSet controller adds; empty while the installer is not deployed, as \
                         `cvm_sysbox` plans tolerations for the taints its target nodes have); and `installer`, a sentence on the \
                         installer's pod there: why it is Pending (the scheduler's reason), failing (the container's last state) or has \
                         not finished, and what to do.",
                    ),
            )
            .attribute(
                Attribute::bool("namespace_allows_privileged")
                    .computed()
                    .description("Whether the namespace's Pod Security labels admit privileged pods and hostPath volumes."),
            )
            .attribute(
                Attribute::bool("ready")
                    .computed()
                    .description("True when at least one node was checked, every checked node is supported, and the namespace allows privileged pods."),
            )
            .attribute(
                Attribute::string("summary")
                    .computed()
                    .description("A short account of the verdict for people."),
            ),
        )
    }

    async fn read(
        &self,
        ctx: &Ctx<ProviderData>,
        mut config: ClusterCheckModel,
        diagnostics: &mut Diagnostics,
    ) -> Option<ClusterCheckModel> {
        let client = match ctx.data().kube().await {
            Ok(client) => client,
            Err(e) => {
                diagnostics.push(e.to_diagnostic(None));
                return None;
            }
        };
        let namespace = config
            .namespace
            .known()
            .cloned()
            .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
        let image = config
            .installer_image
            .known()
            .cloned()
            .unwrap_or_else(|| DEFAULT_INSTALLER_IMAGE.to_owned());
        let release = SysboxRelease::from_tag(image_tag(&image));
        let caching = config.caching.known().copied().unwrap_or(false);
        let selector = config
            .node_selector
            .known()
            .map(|labels| {
                labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();

        let nodes_api: ::kube::Api<Node> = ::kube::Api::all(client.clone());
        let params = ::kube::api::ListParams::default().labels(&selector);
        let listed = tokio::select! {
            () = ctx.cancellation().cancelled() => return None,
            listed = nodes_api.list(&params) => listed,
        };
        let nodes = match listed {
            Ok(list) => list.items,
            Err(e) => {
                diagnostics.error(
                    "Unable to List Nodes",
                    format!("Listing the cluster's nodes failed: {e}. The provider's Kubernetes identity needs list on nodes."),
                );
                return None;
            }
        };
        let namespaces: ::kube::Api<Namespace> = ::kube::Api::all(client.clone());
        let installer = tokio::select! {
            () = ctx.cancellation().cancelled() => return None,
            found = read_installer(&client, &namespace) => found,
        };
        let namespace_labels = match namespaces.get_opt(&namespace).await {
            Ok(found) => found.and_then(|n| n.metadata.labels).unwrap_or_default(),
            Err(e) => {
                diagnostics.error(
                    "Unable to Read Namespace",
                    format!("Reading namespace {namespace:?} failed: {e}."),
                );
                return None;
            }
        };

        let verdicts: Vec<NodeVerdict> = nodes
            .iter()
            .map(|node| {
                let facts = node_facts(node);
                let verdict = check_node(&facts, &release, caching);
                let (untolerated_taints, installer) =
                    installer_on_node(node, &nodes, &installer, &namespace);
                NodeVerdict {
                    name: node.metadata.name.clone().unwrap_or_default(),
                    os_image: facts.os_image,
                    kernel_version: facts.kernel_version,
                    container_runtime: facts.container_runtime_version,
                    kubelet_version: facts.kubelet_version,
                    architecture: facts.architecture,
                    supported: verdict.supported,
                    reasons: verdict.reasons.iter().map(ToString::to_string).collect(),
                    untolerated_taints,
                    installer,
                }
            })
            .collect();
        let namespace_check = namespace_verdict(&namespace, &namespace_labels);
        let supported = verdicts.iter().filter(|v| v.supported).count();
        let ready = !verdicts.is_empty() && supported == verdicts.len() && namespace_check.is_ok();
        let mut summary = format!(
            "{supported} of {} node(s) can run Sysbox {}.",
            verdicts.len(),
            release.tag
        );
        for v in verdicts.iter().filter(|v| !v.supported) {
            summary.push_str(&format!(" {}: {}.", v.name, v.reasons.join("; ")));
        }
        if let Ok(Some(view)) = &installer {
            let targets: Vec<String> = nodes
                .iter()
                .filter(|n| is_install_target(n))
                .filter_map(|n| n.metadata.name.clone())
                .collect();
            for d in diagnosis::diagnose(&targets, &view.observed(&nodes), &namespace) {
                summary.push_str(&format!(" {d}"));
            }
        }
        match &namespace_check {
            Ok(()) => {
                summary.push_str(&format!(" Namespace {namespace:?} allows privileged pods."))
            }
            Err(reason) => summary.push_str(&format!(" {reason}.")),
        }
        if verdicts.is_empty() {
            summary.push_str(" No node matched the selector.");
        }

        config.nodes = Attr::Known(verdicts);
        config.namespace_allows_privileged = Attr::Known(namespace_check.is_ok());
        config.ready = Attr::Known(ready);
        config.summary = Attr::Known(summary);
        Some(config)
    }
}

/// What the cluster shows of a deployed installer: its DaemonSet, its pods
/// and the events about pods in its namespace.
#[derive(Debug, Default)]
struct InstallerView {
    daemon_set: DaemonSet,
    pods: Vec<Pod>,
    events: Vec<Event>,
}

impl InstallerView {
    fn observed<'a>(&'a self, nodes: &'a [Node]) -> Observed<'a> {
        Observed {
            nodes,
            daemon_set: Some(&self.daemon_set),
            pods: &self.pods,
            events: &self.events,
            ..Observed::default()
        }
    }
}

/// Reads the install DaemonSet in `namespace` with its pods and their
/// events: `None` when it is not deployed, the error's text when the
/// provider may not read them (the check goes on without).
async fn read_installer(
    client: &::kube::Client,
    namespace: &str,
) -> Result<Option<InstallerView>, String> {
    let daemon_sets: ::kube::Api<DaemonSet> = ::kube::Api::namespaced(client.clone(), namespace);
    let action = format!("reading DaemonSet {namespace}/{INSTALL_DAEMON_SET}");
    let failed = |action: &str, e: ::kube::Error| format!("{action} failed: {e}");
    let Some(daemon_set) = daemon_sets
        .get_opt(INSTALL_DAEMON_SET)
        .await
        .map_err(|e| failed(&action, e))?
    else {
        return Ok(None);
    };
    let pods: ::kube::Api<Pod> = ::kube::Api::namespaced(client.clone(), namespace);
    let pod_labels = format!("{INSTALL_LABEL}={INSTALL_VALUE}");
    let pods = pods
        .list(&::kube::api::ListParams::default().labels(&pod_labels))
        .await
        .map_err(|e| failed("listing the installer's pods", e))?
        .items;
    // Events only repeat the scheduler's message a Pending pod carries.
    let events: ::kube::Api<Event> = ::kube::Api::namespaced(client.clone(), namespace);
    let events = events
        .list(&::kube::api::ListParams::default().fields("involvedObject.kind=Pod"))
        .await
        .map(|l| l.items)
        .unwrap_or_default();
    Ok(Some(InstallerView {
        daemon_set,
        pods,
        events,
    }))
}

/// Whether the installer DaemonSet selects the node.
fn is_install_target(node: &Node) -> bool {
    node.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(INSTALL_LABEL))
        .is_some_and(|v| v == INSTALL_VALUE)
}

/// The taints of `node` the deployed installer does not tolerate, and a
/// sentence on the installer there.
fn installer_on_node(
    node: &Node,
    nodes: &[Node],
    installer: &Result<Option<InstallerView>, String>,
    namespace: &str,
) -> (Vec<String>, String) {
    let view = match installer {
        Err(why) => {
            return (
                Vec::new(),
                format!("The installer could not be read: {why}."),
            );
        }
        Ok(None) => {
            return (
                Vec::new(),
                format!(
                    "The installer is not deployed in namespace {namespace:?}; cvm_sysbox \
                     tolerates the NoSchedule and NoExecute taints its target nodes have when \
                     it is planned."
                ),
            );
        }
        Ok(Some(view)) => view,
    };
    let untolerated: Vec<String> = diagnosis::untolerated_taints(
        &diagnosis::daemon_set_pod_tolerations(&view.daemon_set),
        diagnosis::node_taints(node),
    )
    .into_iter()
    .map(diagnosis::taint_text)
    .collect();
    let name = node.metadata.name.clone().unwrap_or_default();
    let sentence = if is_install_target(node) {
        diagnosis::diagnose([&name], &view.observed(nodes), namespace)
            .first()
            .map_or_else(
                || "Sysbox runs here (sysbox-runtime=running).".to_owned(),
                diagnosis::NodeDiagnosis::sentence,
            )
    } else if untolerated.is_empty() {
        format!("Not a target of the installer (no {INSTALL_LABEL}={INSTALL_VALUE} label).")
    } else {
        format!(
            "Not a target of the installer (no {INSTALL_LABEL}={INSTALL_VALUE} label); as a \
             target, the installer would not tolerate its taint {}: run terraform apply again \
             so that cvm_sysbox plans a toleration for it, or remove the taint.",
            untolerated.join(", ")
        )
    };
    (untolerated, sentence)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tf_protocol::Value;

    #[test]
    fn image_tags_are_read_from_the_last_component() {
        assert_eq!(image_tag(DEFAULT_INSTALLER_IMAGE), "v0.7.1-0");
        assert_eq!(
            image_tag("registry.local:5000/sysbox-deploy-k8s:v0.6.7-0"),
            "v0.6.7-0"
        );
        assert_eq!(image_tag("registry.local:5000/sysbox-deploy-k8s"), "");
    }

    #[test]
    fn pod_security_levels() {
        let labels = |level: &str| BTreeMap::from([(ENFORCE_LABEL.to_owned(), level.to_owned())]);
        assert!(namespace_verdict("kube-system", &BTreeMap::new()).is_ok());
        assert!(namespace_verdict("kube-system", &labels("privileged")).is_ok());
        let err = namespace_verdict("sysbox", &labels("baseline")).expect_err("baseline refuses");
        assert!(err.contains("baseline") && err.contains("privileged"));
        assert!(namespace_verdict("sysbox", &labels("restricted")).is_err());
    }

    #[test]
    fn the_deployed_installer_is_judged_per_node() {
        let typed = |v: serde_json::Value| -> Node { serde_json::from_value(v).expect("a node") };
        let target = typed(serde_json::json!({
            "metadata": { "name": "t", "labels": { "sysbox-install": "yes" } },
            "spec": { "taints": [{ "key": "late", "value": "x", "effect": "NoSchedule" }] },
        }));
        let bystander = typed(serde_json::json!({
            "metadata": { "name": "b" },
            "spec": { "taints": [
                { "key": "gpu", "effect": "NoExecute" },
                { "key": "soft", "effect": "PreferNoSchedule" },
            ] },
        }));
        let nodes = vec![target, bystander];
        let view = InstallerView {
            daemon_set: crate::sysbox::installer::InstallerObjects::new(
                "kube-system",
                "img:v1",
                &[],
            )
            .daemon_set,
            ..InstallerView::default()
        };
        let installed = Ok(Some(view));
        let (taints, sentence) = installer_on_node(&nodes[0], &nodes, &installed, "kube-system");
        assert_eq!(taints, vec!["late=x:NoSchedule"]);
        assert!(
            sentence.starts_with("no installer pod: the DaemonSet does not tolerate the node's taint late=x:NoSchedule"),
            "{sentence}"
        );
        let (taints, sentence) = installer_on_node(&nodes[1], &nodes, &installed, "kube-system");
        assert_eq!(taints, vec!["gpu:NoExecute"]);
        assert!(
            sentence.contains("would not tolerate its taint gpu:NoExecute"),
            "{sentence}"
        );
        let (taints, sentence) = installer_on_node(&nodes[1], &nodes, &Ok(None), "kube-system");
        assert!(taints.is_empty());
        assert!(sentence.contains("not deployed"), "{sentence}");
    }

    #[test]
    fn node_type_matches_the_model() {
        let v = NodeVerdict {
            name: "n".into(),
            supported: true,
            ..Default::default()
        };
        let value = tf_protocol::value::to_value(&vec![v])
            .and_then(|v| v.conform(&Type::list(node_type())))
            .expect("conforms");
        assert!(matches!(value, Value::List(_)));
    }
}
