//! `cvm_cluster_check`: can this cluster run CVMs, and if not, why? Reads
//! the nodes and the installer's namespace and judges them with the Sysbox
//! compatibility rules, before anything is installed.

use std::collections::BTreeMap;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::{Namespace, Node};
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
                 installer's namespace admits privileged pods with hostPath volumes.",
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
                    .description("One entry per checked node: its facts, `supported`, and `reasons` (blocking findings and notes)."),
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
        let namespaces: ::kube::Api<Namespace> = ::kube::Api::all(client);
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
                NodeVerdict {
                    name: node.metadata.name.clone().unwrap_or_default(),
                    os_image: facts.os_image,
                    kernel_version: facts.kernel_version,
                    container_runtime: facts.container_runtime_version,
                    kubelet_version: facts.kubelet_version,
                    architecture: facts.architecture,
                    supported: verdict.supported,
                    reasons: verdict.reasons.iter().map(ToString::to_string).collect(),
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
