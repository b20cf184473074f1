//! The state and configuration of `cvm_workspace`, and the workspace spec
//! it makes.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Toleration;
use serde::{Deserialize, Serialize};
use tf_framework::Timeouts;
use tf_protocol::value::Attr;

use crate::workspace::pod::{ExtraMount, MountSource, Style, UserNamespace, WorkspaceSpec};

/// Defaults, also in the schema.
pub const DEFAULT_STYLE: &str = "sysbox-runc";
pub const DEFAULT_ENVBOX_IMAGE: &str = "ghcr.io/coder/envbox:0.6.7";
pub const DEFAULT_USERNAME: &str = "coder";
pub const DEFAULT_CPU: &str = "2";
pub const DEFAULT_MEMORY: &str = "4Gi";
pub const DEFAULT_HOME_SIZE: &str = "10Gi";

/// One toleration of the workspace pod.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TolerationModel {
    /// Taint key.
    pub key: Attr<String>,
    /// Taint value; null tolerates every value of the key.
    pub value: Attr<String>,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`; null: every effect.
    pub effect: Attr<String>,
}

/// One extra volume of the workspace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MountModel {
    /// Where the workspace sees it.
    pub path: Attr<String>,
    /// An existing claim in the namespace.
    pub claim: Attr<String>,
    /// A directory of the node.
    pub host_path: Attr<String>,
    /// Mounted read-only; null is false.
    pub read_only: Attr<bool>,
}

/// State and configuration of `cvm_workspace`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceModel {
    /// `namespace/name`; also the import id.
    pub id: Attr<String>,
    pub namespace: Attr<String>,
    pub name: Attr<String>,
    pub style: Attr<String>,
    pub image: Attr<String>,
    pub envbox_image: Attr<String>,
    pub username: Attr<String>,
    pub agent_token: Attr<String>,
    pub agent_init_script: Attr<String>,
    pub agent_url: Attr<String>,
    /// Whether the pod exists (Coder's `start_count == 1`).
    pub running: Attr<bool>,
    pub cpu: Attr<String>,
    pub memory: Attr<String>,
    pub home_size: Attr<String>,
    pub storage_class: Attr<String>,
    pub image_pull_secret: Attr<String>,
    pub node_selector: Attr<BTreeMap<String, String>>,
    pub labels: Attr<BTreeMap<String, String>>,
    pub annotations: Attr<BTreeMap<String, String>>,
    pub user_namespace: Attr<String>,
    pub add_tun: Attr<bool>,
    pub add_fuse: Attr<bool>,
    pub docker_bridge_cidr: Attr<String>,
    pub toleration: Attr<Vec<TolerationModel>>,
    /// envbox: NVIDIA GPUs; null is none.
    pub gpus: Attr<i64>,
    pub mount: Attr<Vec<MountModel>>,
    /// The home volume claim's name.
    pub home_claim: Attr<String>,
    /// UID of the running pod; null while stopped (or once it is gone).
    pub pod_uid: Attr<String>,
    /// The node the pod runs on.
    pub node_name: Attr<String>,
    pub timeouts: Option<Timeouts>,
}

fn text(attr: &Attr<String>, default: &str) -> String {
    attr.known().cloned().unwrap_or_else(|| default.to_owned())
}

fn map(attr: &Attr<BTreeMap<String, String>>) -> BTreeMap<String, String> {
    attr.known().cloned().unwrap_or_default()
}

impl WorkspaceModel {
    pub fn namespace(&self) -> String {
        self.namespace.known().cloned().unwrap_or_default()
    }

    pub fn name(&self) -> String {
        self.name.known().cloned().unwrap_or_default()
    }

    pub fn style(&self) -> Style {
        Style::from_name(&text(&self.style, DEFAULT_STYLE)).unwrap_or(Style::SysboxRunc)
    }

    /// Whether the pod should exist.
    pub fn running(&self) -> bool {
        self.running.known() != Some(&false)
    }

    /// The configured user-namespace setting, if any.
    pub fn user_namespace(&self) -> Option<UserNamespace> {
        self.user_namespace
            .known()
            .and_then(|n| UserNamespace::from_name(n))
    }

    /// What the pod is made of, for telling whether a change needs a new
    /// pod (everything but the home volume's size and the computed
    /// attributes).
    pub fn pod_inputs(&self) -> impl PartialEq + '_ {
        (
            (
                self.style.known(),
                self.image.known(),
                self.envbox_image.known(),
                self.username.known(),
                self.agent_token.known(),
                self.agent_init_script.known(),
                self.agent_url.known(),
            ),
            (
                self.cpu.known(),
                self.memory.known(),
                self.image_pull_secret.known(),
                self.node_selector.known(),
                self.labels.known(),
                self.annotations.known(),
            ),
            (
                self.add_tun.known(),
                self.add_fuse.known(),
                self.docker_bridge_cidr.known(),
                self.toleration.known(),
                self.gpus.known(),
                self.mount.known(),
            ),
        )
    }

    /// The pod's tolerations.
    pub fn tolerations(&self) -> Vec<Toleration> {
        self.toleration
            .known()
            .into_iter()
            .flatten()
            .map(|t| {
                let value = t.value.known().cloned();
                Toleration {
                    key: t.key.known().cloned(),
                    operator: Some(if value.is_some() { "Equal" } else { "Exists" }.to_owned()),
                    value,
                    effect: t.effect.known().cloned(),
                    toleration_seconds: None,
                }
            })
            .collect()
    }

    /// The extra volumes, as configured (a mount naming neither source is refused at validate).
    pub fn mounts(&self) -> Vec<ExtraMount> {
        self.mount
            .known()
            .into_iter()
            .flatten()
            .filter_map(|m| {
                let source = match (m.claim.known(), m.host_path.known()) {
                    (Some(claim), _) => MountSource::Claim(claim.clone()),
                    (None, Some(path)) => MountSource::HostPath(path.clone()),
                    (None, None) => return None,
                };
                Some(ExtraMount {
                    path: m.path.known().cloned().unwrap_or_default(),
                    source,
                    read_only: m.read_only.known() == Some(&true),
                })
            })
            .collect()
    }

    /// The spec of the workspace's objects, with `user_namespace` as
    /// chosen.
    pub fn spec(&self, user_namespace: Option<UserNamespace>) -> WorkspaceSpec {
        WorkspaceSpec {
            namespace: self.namespace(),
            name: self.name(),
            style: self.style(),
            image: text(&self.image, ""),
            envbox_image: text(&self.envbox_image, DEFAULT_ENVBOX_IMAGE),
            username: text(&self.username, DEFAULT_USERNAME),
            agent_token: text(&self.agent_token, ""),
            init_script: self.agent_init_script.known().cloned(),
            agent_url: self.agent_url.known().cloned(),
            cpu: text(&self.cpu, DEFAULT_CPU),
            memory: text(&self.memory, DEFAULT_MEMORY),
            home_size: text(&self.home_size, DEFAULT_HOME_SIZE),
            storage_class: self.storage_class.known().cloned(),
            image_pull_secret: self.image_pull_secret.known().cloned(),
            node_selector: map(&self.node_selector),
            labels: map(&self.labels),
            annotations: map(&self.annotations),
            user_namespace,
            add_tun: self.add_tun.known() == Some(&true),
            add_fuse: self.add_fuse.known() == Some(&true),
            docker_bridge_cidr: self.docker_bridge_cidr.known().cloned(),
            tolerations: self.tolerations(),
            mounts: self.mounts(),
            gpus: self
                .gpus
                .known()
                .and_then(|n| u32::try_from(*n).ok())
                .unwrap_or(0),
        }
    }
}
