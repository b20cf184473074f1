//! The objects of one CVM workspace: its pod, in one of two styles, and the
//! claim of its home volume.
//!
//! * **sysbox-runc**: the workspace image itself runs as a Sysbox container
//!   (`runtimeClassName: sysbox-runc`; the RuntimeClass's node selector,
//!   merged in by the API server, keeps it on nodes reporting
//!   `sysbox-runtime=running`). Sysbox needs the pod in a user namespace:
//!   `hostUsers: false` where the nodes run containerd 2.0.5 or later, the
//!   CRI-O annotation `io.kubernetes.cri-o.userns-mode` where the installer
//!   switched them to CRI-O ([`UserNamespace`]).
//! * **envbox**: Coder's envbox image runs privileged and starts the
//!   workspace image inside, with its own Sysbox. The inner image's layers
//!   are cached on the home volume, so a restarted workspace does not pull
//!   them again (v2's counterpart of v1's cached CVMs).
//!
//! The home volume is mounted at `/home/<user>` in either style; the claim
//! is a separate object so that it outlives the pod when a workspace stops.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, EnvVar, EnvVarSource, HostPathVolumeSource, LocalObjectReference,
    PersistentVolumeClaim, PersistentVolumeClaimSpec, PersistentVolumeClaimVolumeSource, Pod,
    PodSpec, ResourceFieldSelector, ResourceRequirements, SecretKeySelector, SecurityContext,
    Toleration, Volume, VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::sysbox::installer::RUNTIME_CLASS;

/// Label on every object of a workspace, with the workspace's name.
pub const WORKSPACE_LABEL: &str = "cvm.coder.com/workspace";
/// Label marking objects this provider manages.
const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "terraform-provider-cvm");
/// The CRI-O annotation that puts a pod in a user namespace of its own.
pub const CRIO_USERNS_ANNOTATION: &str = "io.kubernetes.cri-o.userns-mode";
/// Its value: an automatically chosen range of 65536 IDs, as Sysbox asks.
const CRIO_USERNS_VALUE: &str = "auto:size=65536";
/// The container's name in either style.
pub const CONTAINER: &str = "dev";
/// The Secret key a `kubernetes.io/dockerconfigjson` Secret holds.
const DOCKER_CONFIG_KEY: &str = ".dockerconfigjson";

/// How the workspace runs as a CVM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// The image runs under the node's Sysbox (`sysbox-runc`).
    SysboxRunc,
    /// envbox runs privileged and the image inside it.
    Envbox,
}

impl Style {
    /// The names the schema accepts.
    pub const NAMES: [&'static str; 2] = ["sysbox-runc", "envbox"];

    /// The style named `name` (one of [`Style::NAMES`]).
    pub fn from_name(name: &str) -> Option<Style> {
        match name {
            "sysbox-runc" => Some(Style::SysboxRunc),
            "envbox" => Some(Style::Envbox),
            _ => None,
        }
    }
}

/// How a sysbox-runc pod gets its user namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserNamespace {
    /// `hostUsers: false` (containerd 2.0.5 or later).
    HostUsersFalse,
    /// The CRI-O annotation (nodes the installer switched to CRI-O).
    CrioAnnotation,
}

impl UserNamespace {
    /// The names the schema accepts.
    pub const NAMES: [&'static str; 2] = ["host-users-false", "cri-o-annotation"];

    /// The setting named `name` (one of [`UserNamespace::NAMES`]).
    pub fn from_name(name: &str) -> Option<UserNamespace> {
        match name {
            "host-users-false" => Some(UserNamespace::HostUsersFalse),
            "cri-o-annotation" => Some(UserNamespace::CrioAnnotation),
            _ => None,
        }
    }

    /// The schema's name of this setting.
    pub fn name(self) -> &'static str {
        match self {
            UserNamespace::HostUsersFalse => "host-users-false",
            UserNamespace::CrioAnnotation => "cri-o-annotation",
        }
    }

    /// The setting a node's runtime needs, from its
    /// `status.nodeInfo.containerRuntimeVersion` (`containerd://2.1.4`,
    /// `cri-o://1.32.0`); `None` when the runtime cannot run Sysbox pods
    /// (containerd before 2.0.5 without the installer's CRI-O, or another).
    pub fn for_runtime(runtime_version: &str) -> Option<UserNamespace> {
        let (runtime, version) = runtime_version.split_once("://")?;
        match runtime {
            "cri-o" => Some(UserNamespace::CrioAnnotation),
            "containerd" => {
                let version = version.trim_start_matches('v');
                let numbers: Vec<u64> = version
                    .split(|c: char| !c.is_ascii_digit())
                    .take(3)
                    .map(|n| n.parse().unwrap_or(0))
                    .collect();
                let at_least = |want: [u64; 3]| {
                    let have = [0, 1, 2].map(|i| numbers.get(i).copied().unwrap_or(0));
                    have >= want
                };
                at_least([2, 0, 5]).then_some(UserNamespace::HostUsersFalse)
            }
            _ => None,
        }
    }
}

/// Where an extra volume of the workspace comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountSource {
    /// An existing PersistentVolumeClaim in the namespace (shared data, say).
    Claim(String),
    /// A directory of the node.
    HostPath(String),
}

/// A volume the workspace mounts besides its home.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraMount {
    /// Where the workspace sees it.
    pub path: String,
    /// What it is.
    pub source: MountSource,
    /// Mounted read-only.
    pub read_only: bool,
}

/// The pod volume of the `index`th extra mount.
pub fn extra_volume_name(index: usize) -> String {
    format!("mount-{index}")
}

/// Where envbox's outer container holds the `index`th extra mount, passed on to the inner one
/// through `CODER_MOUNTS`.
pub fn envbox_mount_point(index: usize) -> String {
    format!("/var/coder/mounts/{index}")
}

/// Where envbox's outer container sees the node's `/usr/lib`, for GPUs (`CODER_USR_LIB_DIR`).
const ENVBOX_USR_LIB: &str = "/var/coder/usr/lib";

/// The extended resource NVIDIA's device plugin offers GPUs as.
pub const GPU_RESOURCE: &str = "nvidia.com/gpu";

/// Everything the workspace's objects are made of.
#[derive(Debug, Clone)]
pub struct WorkspaceSpec {
    /// Namespace of the pod and the claim.
    pub namespace: String,
    /// Name of the pod; the claim is `<name>-home`.
    pub name: String,
    /// How the workspace runs as a CVM.
    pub style: Style,
    /// The workspace image (envbox's inner image).
    pub image: String,
    /// The image of envbox itself.
    pub envbox_image: String,
    /// The user the workspace runs as; its home is the volume.
    pub username: String,
    /// `coder_agent`'s token.
    pub agent_token: String,
    /// `coder_agent`'s `init_script`, run as the workspace starts.
    pub init_script: Option<String>,
    /// The Coder deployment's URL, for envbox.
    pub agent_url: Option<String>,
    /// CPU, requested and limited alike (a Kubernetes quantity).
    pub cpu: String,
    /// Memory, requested and limited alike (a Kubernetes quantity).
    pub memory: String,
    /// Size the home volume claim requests.
    pub home_size: String,
    /// Storage class of the claim; `None`: the cluster's default.
    pub storage_class: Option<String>,
    /// Name of a `kubernetes.io/dockerconfigjson` Secret in the namespace.
    pub image_pull_secret: Option<String>,
    /// Node labels the pod must land on.
    pub node_selector: BTreeMap<String, String>,
    /// Labels of the pod and claim, besides the provider's.
    pub labels: BTreeMap<String, String>,
    /// Annotations of the pod.
    pub annotations: BTreeMap<String, String>,
    /// sysbox-runc only.
    pub user_namespace: Option<UserNamespace>,
    /// envbox only: add `/dev/net/tun` to the inner container.
    pub add_tun: bool,
    /// envbox only: add `/dev/fuse` to the inner container.
    pub add_fuse: bool,
    /// envbox only: the inner Docker's bridge network.
    pub docker_bridge_cidr: Option<String>,
    /// Taints the pod tolerates.
    pub tolerations: Vec<Toleration>,
    /// Volumes besides the home volume.
    pub mounts: Vec<ExtraMount>,
    /// envbox only: NVIDIA GPUs passed to the inner container.
    pub gpus: u32,
}

impl WorkspaceSpec {
    /// The home volume claim's name.
    pub fn claim_name(&self) -> String {
        claim_name(&self.name)
    }

    fn labels(&self) -> BTreeMap<String, String> {
        let mut labels = self.labels.clone();
        labels.insert(WORKSPACE_LABEL.to_owned(), self.name.clone());
        labels.insert(MANAGED_BY.0.to_owned(), MANAGED_BY.1.to_owned());
        labels
    }

    fn home(&self) -> String {
        format!("/home/{}", self.username)
    }

    /// The home volume's claim.
    pub fn claim(&self) -> PersistentVolumeClaim {
        PersistentVolumeClaim {
            metadata: ObjectMeta {
                name: Some(self.claim_name()),
                namespace: Some(self.namespace.clone()),
                labels: Some(self.labels()),
                ..ObjectMeta::default()
            },
            spec: Some(PersistentVolumeClaimSpec {
                access_modes: Some(vec!["ReadWriteOnce".to_owned()]),
                storage_class_name: self.storage_class.clone(),
                resources: Some(VolumeResourceRequirements {
                    requests: Some(BTreeMap::from([(
                        "storage".to_owned(),
                        Quantity(self.home_size.clone()),
                    )])),
                    ..VolumeResourceRequirements::default()
                }),
                ..PersistentVolumeClaimSpec::default()
            }),
            ..PersistentVolumeClaim::default()
        }
    }

    /// The workspace's pod.
    pub fn pod(&self) -> Pod {
        let mut annotations = self.annotations.clone();
        let (container, mut volumes) = match self.style {
            Style::SysboxRunc => (self.sysbox_container(), Vec::new()),
            Style::Envbox => self.envbox_container(),
        };
        volumes.insert(
            0,
            Volume {
                name: "home".to_owned(),
                persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                    claim_name: self.claim_name(),
                    read_only: None,
                }),
                ..Volume::default()
            },
        );
        volumes.extend(self.mounts.iter().enumerate().map(|(i, m)| {
            let name = extra_volume_name(i);
            match &m.source {
                MountSource::Claim(claim) => Volume {
                    name,
                    persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                        claim_name: claim.clone(),
                        read_only: m.read_only.then_some(true),
                    }),
                    ..Volume::default()
                },
                MountSource::HostPath(path) => Volume {
                    name,
                    host_path: Some(HostPathVolumeSource {
                        path: path.clone(),
                        type_: Some("Directory".to_owned()),
                    }),
                    ..Volume::default()
                },
            }
        }));
        let mut spec = PodSpec {
            containers: vec![container],
            volumes: Some(volumes),
            node_selector: (!self.node_selector.is_empty()).then(|| self.node_selector.clone()),
            tolerations: (!self.tolerations.is_empty()).then(|| self.tolerations.clone()),
            image_pull_secrets: self
                .image_pull_secret
                .as_ref()
                .filter(|_| self.style == Style::SysboxRunc)
                .map(|name| vec![LocalObjectReference { name: name.clone() }]),
            termination_grace_period_seconds: Some(30),
            ..PodSpec::default()
        };
        if self.style == Style::SysboxRunc {
            spec.runtime_class_name = Some(RUNTIME_CLASS.to_owned());
            match self.user_namespace {
                Some(UserNamespace::HostUsersFalse) => spec.host_users = Some(false),
                Some(UserNamespace::CrioAnnotation) => {
                    annotations.insert(
                        CRIO_USERNS_ANNOTATION.to_owned(),
                        CRIO_USERNS_VALUE.to_owned(),
                    );
                }
                None => {}
            }
        }
        Pod {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                namespace: Some(self.namespace.clone()),
                labels: Some(self.labels()),
                annotations: (!annotations.is_empty()).then_some(annotations),
                ..ObjectMeta::default()
            },
            spec: Some(spec),
            ..Pod::default()
        }
    }

    fn resources(&self) -> ResourceRequirements {
        let both = BTreeMap::from([
            ("cpu".to_owned(), Quantity(self.cpu.clone())),
            ("memory".to_owned(), Quantity(self.memory.clone())),
        ]);
        let mut limits = both.clone();
        if self.style == Style::Envbox && self.gpus > 0 {
            // An extended resource is requested by its limit alone.
            limits.insert(GPU_RESOURCE.to_owned(), Quantity(self.gpus.to_string()));
        }
        ResourceRequirements {
            limits: Some(limits),
            requests: Some(both),
            ..ResourceRequirements::default()
        }
    }

    fn sysbox_container(&self) -> Container {
        let mut env = vec![value_env("CODER_AGENT_TOKEN", &self.agent_token)];
        if let Some(url) = &self.agent_url {
            env.push(value_env("CODER_AGENT_URL", url));
        }
        Container {
            name: CONTAINER.to_owned(),
            image: Some(self.image.clone()),
            // The agent's init script starts the agent, which runs the
            // template's startup script (where dockerd is started).
            command: self
                .init_script
                .as_ref()
                .map(|_| vec!["sh".to_owned(), "-c".to_owned()]),
            args: self.init_script.clone().map(|s| vec![s]),
            env: Some(env),
            resources: Some(self.resources()),
            volume_mounts: Some(
                std::iter::once(mount("home", &self.home(), None, false))
                    .chain(
                        self.mounts
                            .iter()
                            .enumerate()
                            .map(|(i, m)| mount(&extra_volume_name(i), &m.path, None, m.read_only)),
                    )
                    .collect(),
            ),
            ..Container::default()
        }
    }

    fn envbox_container(&self) -> (Container, Vec<Volume>) {
        let mut env = vec![
            value_env("CODER_AGENT_TOKEN", &self.agent_token),
            value_env("CODER_INNER_IMAGE", &self.image),
            value_env("CODER_INNER_USERNAME", &self.username),
            value_env("CODER_INNER_HOSTNAME", &self.name),
            value_env(
                "CODER_BOOTSTRAP_SCRIPT",
                self.init_script.as_deref().unwrap_or(""),
            ),
            // The home volume, mounted in the outer container below, goes
            // into the inner one at the same place; the extra mounts from
            // where the outer container holds them.
            value_env("CODER_MOUNTS", &self.envbox_mounts()),
            value_env("CODER_ADD_TUN", &self.add_tun.to_string()),
            value_env("CODER_ADD_FUSE", &self.add_fuse.to_string()),
            resource_env("CODER_CPUS", "limits.cpu"),
            resource_env("CODER_MEMORY", "limits.memory"),
        ];
        if let Some(url) = &self.agent_url {
            env.push(value_env("CODER_AGENT_URL", url));
        }
        if let Some(cidr) = &self.docker_bridge_cidr {
            env.push(value_env("CODER_DOCKER_BRIDGE_CIDR", cidr));
        }
        if self.gpus > 0 {
            env.push(value_env("CODER_ADD_GPU", "true"));
            env.push(value_env("CODER_USR_LIB_DIR", ENVBOX_USR_LIB));
        }
        if let Some(secret) = &self.image_pull_secret {
            env.push(EnvVar {
                name: "CODER_IMAGE_PULL_SECRET".to_owned(),
                value_from: Some(EnvVarSource {
                    secret_key_ref: Some(SecretKeySelector {
                        name: secret.clone(),
                        key: DOCKER_CONFIG_KEY.to_owned(),
                        optional: None,
                    }),
                    ..EnvVarSource::default()
                }),
                ..EnvVar::default()
            });
        }
        let mut mounts = vec![
            mount("home", &self.home(), Some("home"), false),
            // The inner image and its containers, kept across restarts.
            mount("home", "/var/lib/coder/docker", Some("cache/docker"), false),
            mount(
                "home",
                "/var/lib/coder/containers",
                Some("cache/containers"),
                false,
            ),
            mount("home", "/var/lib/docker", Some("envbox/docker"), false),
            mount(
                "home",
                "/var/lib/containers",
                Some("envbox/containers"),
                false,
            ),
            mount("sysbox", "/var/lib/sysbox", None, false),
            // envbox's Sysbox needs the node's kernel sources and modules.
            mount("usr-src", "/usr/src", None, true),
            mount("lib-modules", "/lib/modules", None, true),
        ];
        mounts.extend(self.mounts.iter().enumerate().map(|(i, m)| {
            mount(
                &extra_volume_name(i),
                &envbox_mount_point(i),
                None,
                m.read_only,
            )
        }));
        let mut volumes = vec![
            Volume {
                name: "sysbox".to_owned(),
                empty_dir: Some(Default::default()),
                ..Volume::default()
            },
            host_path("usr-src", "/usr/src"),
            host_path("lib-modules", "/lib/modules"),
        ];
        if self.gpus > 0 {
            // envbox finds the GPU driver's libraries there.
            mounts.push(mount("usr-lib", ENVBOX_USR_LIB, None, true));
            volumes.push(host_path("usr-lib", "/usr/lib"));
        }
        let container = Container {
            name: CONTAINER.to_owned(),
            image: Some(self.envbox_image.clone()),
            command: Some(vec!["/envbox".to_owned(), "docker".to_owned()]),
            env: Some(env),
            resources: Some(self.resources()),
            security_context: Some(SecurityContext {
                privileged: Some(true),
                ..SecurityContext::default()
            }),
            tty: Some(true),
            stdin: Some(true),
            volume_mounts: Some(mounts),
            ..Container::default()
        };
        (container, volumes)
    }
}

impl WorkspaceSpec {
    /// envbox's `CODER_MOUNTS`: `outer:inner[:ro]`, comma-separated.
    fn envbox_mounts(&self) -> String {
        std::iter::once(format!("{0}:{0}", self.home()))
            .chain(self.mounts.iter().enumerate().map(|(i, m)| {
                let ro = if m.read_only { ":ro" } else { "" };
                format!("{}:{}{ro}", envbox_mount_point(i), m.path)
            }))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// The home volume claim's name of workspace `name`.
pub fn claim_name(name: &str) -> String {
    format!("{name}-home")
}

fn value_env(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: Some(value.to_owned()),
        ..EnvVar::default()
    }
}

fn resource_env(name: &str, resource: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value_from: Some(EnvVarSource {
            resource_field_ref: Some(ResourceFieldSelector {
                container_name: Some(CONTAINER.to_owned()),
                resource: resource.to_owned(),
                divisor: None,
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

fn mount(volume: &str, path: &str, sub_path: Option<&str>, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: volume.to_owned(),
        mount_path: path.to_owned(),
        sub_path: sub_path.map(str::to_owned),
        read_only: read_only.then_some(true),
        ..VolumeMount::default()
    }
}

fn host_path(name: &str, path: &str) -> Volume {
    Volume {
        name: name.to_owned(),
        host_path: Some(HostPathVolumeSource {
            path: path.to_owned(),
            type_: Some("Directory".to_owned()),
        }),
        ..Volume::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(style: Style) -> WorkspaceSpec {
        WorkspaceSpec {
            namespace: "ws".into(),
            name: "alice-dev".into(),
            style,
            image: "codercom/enterprise-base:ubuntu".into(),
            envbox_image: "ghcr.io/coder/envbox:0.6.7".into(),
            username: "coder".into(),
            agent_token: "token-1".into(),
            init_script: Some("echo start".into()),
            agent_url: Some("https://coder.example.com".into()),
            cpu: "2".into(),
            memory: "4Gi".into(),
            home_size: "10Gi".into(),
            storage_class: None,
            image_pull_secret: Some("team-registry".into()),
            node_selector: BTreeMap::new(),
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
            user_namespace: Some(UserNamespace::HostUsersFalse),
            add_tun: true,
            add_fuse: false,
            docker_bridge_cidr: None,
            tolerations: Vec::new(),
            mounts: Vec::new(),
            gpus: 0,
        }
    }

    fn env<'a>(container: &'a Container, name: &str) -> Option<&'a EnvVar> {
        container.env.as_ref()?.iter().find(|e| e.name == name)
    }

    #[test]
    fn user_namespace_follows_the_node_runtime() {
        use UserNamespace::*;
        for (runtime, wanted) in [
            ("containerd://2.0.5", Some(HostUsersFalse)),
            ("containerd://2.1.4", Some(HostUsersFalse)),
            ("containerd://v2.0.6-k3s1", Some(HostUsersFalse)),
            ("containerd://2.0.4", None),
            ("containerd://1.7.27", None),
            ("cri-o://1.32.0", Some(CrioAnnotation)),
            ("docker://24.0.7", None),
            ("garbage", None),
        ] {
            assert_eq!(UserNamespace::for_runtime(runtime), wanted, "{runtime}");
        }
    }

    #[test]
    fn a_sysbox_runc_pod() {
        let pod = spec(Style::SysboxRunc).pod();
        let spec_ = pod.spec.as_ref().unwrap();
        assert_eq!(spec_.runtime_class_name.as_deref(), Some("sysbox-runc"));
        assert_eq!(spec_.host_users, Some(false));
        assert_eq!(
            spec_.image_pull_secrets.as_ref().unwrap()[0].name,
            "team-registry"
        );
        let c = &spec_.containers[0];
        assert_eq!(c.image.as_deref(), Some("codercom/enterprise-base:ubuntu"));
        assert_eq!(c.args.as_ref().unwrap(), &["echo start"]);
        assert_eq!(
            env(c, "CODER_AGENT_TOKEN").unwrap().value.as_deref(),
            Some("token-1")
        );
        assert_eq!(
            c.security_context, None,
            "Sysbox pods must not be privileged"
        );
        assert_eq!(
            c.volume_mounts.as_ref().unwrap()[0].mount_path,
            "/home/coder"
        );
        let volumes = spec_.volumes.as_ref().unwrap();
        assert_eq!(
            volumes[0]
                .persistent_volume_claim
                .as_ref()
                .unwrap()
                .claim_name,
            "alice-dev-home"
        );
        assert_eq!(
            pod.metadata.labels.as_ref().unwrap()[WORKSPACE_LABEL],
            "alice-dev"
        );

        let mut crio = spec(Style::SysboxRunc);
        crio.user_namespace = Some(UserNamespace::CrioAnnotation);
        let pod = crio.pod();
        assert_eq!(pod.spec.as_ref().unwrap().host_users, None);
        assert_eq!(
            pod.metadata.annotations.as_ref().unwrap()[CRIO_USERNS_ANNOTATION],
            "auto:size=65536"
        );
    }

    #[test]
    fn an_envbox_pod() {
        let pod = spec(Style::Envbox).pod();
        let spec_ = pod.spec.as_ref().unwrap();
        assert_eq!(spec_.runtime_class_name, None);
        assert_eq!(spec_.host_users, None);
        assert_eq!(
            spec_.image_pull_secrets, None,
            "envbox pulls the inner image"
        );
        let c = &spec_.containers[0];
        assert_eq!(c.image.as_deref(), Some("ghcr.io/coder/envbox:0.6.7"));
        assert_eq!(c.security_context.as_ref().unwrap().privileged, Some(true));
        assert_eq!(
            env(c, "CODER_INNER_IMAGE").unwrap().value.as_deref(),
            Some("codercom/enterprise-base:ubuntu")
        );
        assert_eq!(
            env(c, "CODER_BOOTSTRAP_SCRIPT").unwrap().value.as_deref(),
            Some("echo start")
        );
        assert_eq!(
            env(c, "CODER_ADD_TUN").unwrap().value.as_deref(),
            Some("true")
        );
        let pull = env(c, "CODER_IMAGE_PULL_SECRET").unwrap();
        let secret = pull
            .value_from
            .as_ref()
            .unwrap()
            .secret_key_ref
            .as_ref()
            .unwrap();
        assert_eq!(
            (secret.name.as_str(), secret.key.as_str()),
            ("team-registry", ".dockerconfigjson")
        );
        let cpus = env(c, "CODER_CPUS").unwrap().value_from.as_ref().unwrap();
        assert_eq!(
            cpus.resource_field_ref.as_ref().unwrap().resource,
            "limits.cpu"
        );
        let cache = c
            .volume_mounts
            .as_ref()
            .unwrap()
            .iter()
            .find(|m| m.mount_path == "/var/lib/coder/docker")
            .unwrap();
        assert_eq!(
            (cache.name.as_str(), cache.sub_path.as_deref()),
            ("home", Some("cache/docker"))
        );
    }

    #[test]
    fn the_home_claim() {
        let mut s = spec(Style::SysboxRunc);
        s.storage_class = Some("gp3".into());
        let claim = s.claim();
        assert_eq!(claim.metadata.name.as_deref(), Some("alice-dev-home"));
        let claim_spec = claim.spec.unwrap();
        assert_eq!(claim_spec.storage_class_name.as_deref(), Some("gp3"));
        assert_eq!(
            claim_spec.resources.unwrap().requests.unwrap()["storage"].0,
            "10Gi"
        );
    }

    #[test]
    fn envbox_passes_gpus_and_extra_mounts_to_the_inner_container() {
        let spec = WorkspaceSpec {
            gpus: 2,
            mounts: vec![
                ExtraMount {
                    path: "/data".into(),
                    source: MountSource::Claim("shared".into()),
                    read_only: true,
                },
                ExtraMount {
                    path: "/scratch".into(),
                    source: MountSource::HostPath("/mnt/scratch".into()),
                    read_only: false,
                },
            ],
            ..spec(Style::Envbox)
        };
        let pod = spec.pod();
        let pod_spec = pod.spec.as_ref().unwrap();
        let container = &pod_spec.containers[0];
        assert_eq!(
            env(container, "CODER_MOUNTS").and_then(|e| e.value.as_deref()),
            Some(
                "/home/coder:/home/coder,/var/coder/mounts/0:/data:ro,/var/coder/mounts/1:/scratch"
            )
        );
        assert_eq!(
            env(container, "CODER_ADD_GPU").and_then(|e| e.value.as_deref()),
            Some("true")
        );
        let limits = container
            .resources
            .as_ref()
            .unwrap()
            .limits
            .as_ref()
            .unwrap();
        assert_eq!(limits[GPU_RESOURCE].0, "2");
        let requests = container
            .resources
            .as_ref()
            .unwrap()
            .requests
            .as_ref()
            .unwrap();
        assert!(!requests.contains_key(GPU_RESOURCE));
        let volume = |name: &str| {
            pod_spec
                .volumes
                .iter()
                .flatten()
                .find(|v| v.name == name)
                .unwrap()
        };
        let claim = volume("mount-0").persistent_volume_claim.as_ref().unwrap();
        assert_eq!(
            (claim.claim_name.as_str(), claim.read_only),
            ("shared", Some(true))
        );
        assert_eq!(
            volume("mount-1").host_path.as_ref().unwrap().path,
            "/mnt/scratch"
        );
        assert_eq!(
            volume("usr-lib").host_path.as_ref().unwrap().path,
            "/usr/lib"
        );
    }

    #[test]
    fn sysbox_runc_mounts_extra_volumes_in_place_and_asks_for_no_gpu() {
        let spec = WorkspaceSpec {
            gpus: 1,
            mounts: vec![ExtraMount {
                path: "/data".into(),
                source: MountSource::Claim("shared".into()),
                read_only: false,
            }],
            ..spec(Style::SysboxRunc)
        };
        let pod = spec.pod();
        let container = &pod.spec.as_ref().unwrap().containers[0];
        let mounts = container.volume_mounts.as_ref().unwrap();
        assert_eq!(
            (
                mounts[1].name.as_str(),
                mounts[1].mount_path.as_str(),
                mounts[1].read_only
            ),
            ("mount-0", "/data", None)
        );
        let limits = container
            .resources
            .as_ref()
            .unwrap()
            .limits
            .as_ref()
            .unwrap();
        assert!(!limits.contains_key(GPU_RESOURCE));
    }
}
