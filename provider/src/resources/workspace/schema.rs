//! The schema of `cvm_workspace` and the checks on its configuration.

use tf_framework::schema::{Attribute, Block, NestedBlock, Schema};
use tf_framework::timeouts::Operation;
use tf_framework::{Timeouts, validate};
use tf_protocol::value::Type;
use tf_protocol::{AttributePath, Diagnostics, Value};

use super::model::{
    DEFAULT_CPU, DEFAULT_ENVBOX_IMAGE, DEFAULT_HOME_SIZE, DEFAULT_MEMORY, DEFAULT_STYLE,
    DEFAULT_USERNAME, WorkspaceModel,
};
use super::{CREATE_TIMEOUT, DELETE_TIMEOUT, READ_TIMEOUT};
use crate::image_reference::image_reference;
use crate::kube::labels;
use crate::kube::names::{self, Grammar};
use crate::kube::quantity::quantity;
use crate::workspace::pod::{Style, UserNamespace};

fn string(value: &str) -> Value {
    Value::String(value.to_owned())
}

fn toleration_block() -> Block {
    Block::new(
        "A taint of the nodes the workspace tolerates (a node group's `taints`, for example).",
    )
    .attribute(
        Attribute::string("key")
            .required()
            .validate(validate::non_empty())
            .description("Taint key."),
    )
    .attribute(
        Attribute::string("value")
            .optional()
            .description("Taint value; unset tolerates every value of the key."),
    )
    .attribute(
        Attribute::string("effect")
            .optional()
            .validate(validate::one_of(&[
                "NoSchedule",
                "PreferNoSchedule",
                "NoExecute",
            ]))
            .description(
                "`NoSchedule`, `PreferNoSchedule` or `NoExecute`; unset tolerates every effect.",
            ),
    )
}

fn mount_block() -> Block {
    Block::new(
        "A volume the workspace mounts besides its home: an existing claim (shared data, a \
         cache) or a directory of the node. Give `claim` or `host_path`.",
    )
    .attribute(
        Attribute::string("path")
            .required()
            .validate(mount_path())
            .description("Where the workspace sees it, an absolute path, e.g. `/data`."),
    )
    .attribute(
        Attribute::string("claim")
            .optional()
            .validate(names::kube_name(
                "PersistentVolumeClaim",
                Grammar::Dns1123Subdomain,
            ))
            .description("Name of a PersistentVolumeClaim in the workspace's namespace."),
    )
    .attribute(
        Attribute::string("host_path")
            .optional()
            .validate(mount_path())
            .description("A directory of the node, an absolute path."),
    )
    .attribute(
        Attribute::bool("read_only")
            .optional()
            .description("Mount it read-only. Default false."),
    )
}

/// An absolute path envbox can pass on: `CODER_MOUNTS` separates mounts with `,` and their parts
/// with `:`.
fn mount_path() -> validate::Matches {
    validate::matches(
        r"^/[^,:]*$",
        "must be an absolute path without `,` or `:` (envbox's CODER_MOUNTS separators)",
    )
}

/// The schema.
pub fn schema() -> Schema {
    Schema::new(
        Block::new(
            "One Coder v2 workspace as a container-based virtual machine (CVM): a pod that runs \
             the workspace image under Sysbox (`sysbox-runc`) or inside envbox, and a home \
             volume that outlives the pod. Used inside a Coder template, with `running = \
             data.coder_workspace.me.start_count == 1`: a stopped workspace keeps its home \
             volume, a deleted one loses both. The apply waits until the pod runs, and otherwise \
             fails with what the cluster says.",
        )
        .attribute(
            Attribute::string("id")
                .computed()
                .use_state_for_unknown()
                .description("`namespace/name`; also the import id."),
        )
        .attribute(
            Attribute::string("namespace")
                .optional()
                .computed()
                .use_state_for_unknown()
                .validate(names::kube_name("namespace", Grammar::Dns1123Label))
                .requires_replace("pods and volume claims cannot move to another namespace")
                .description(
                    "Namespace of the pod and the home volume claim. Defaults to the provider's \
                     default namespace: inside a pod (Coder's provisioner), the pod's own.",
                ),
        )
        .attribute(
            Attribute::string("name")
                .required()
                .validate(names::kube_name("pod", Grammar::Dns1123Label))
                .requires_replace("the home volume claim is named after the workspace")
                .description(
                    "Name of the pod; the home volume claim is `<name>-home`. A unique name per \
                     workspace, e.g. `coder-${data.coder_workspace.me.id}`.",
                ),
        )
        .attribute(
            Attribute::string("style")
                .default(string(DEFAULT_STYLE))
                .validate(validate::one_of(&Style::NAMES))
                .description(
                    "`sysbox-runc`: the image runs under the node's Sysbox \
                     (`runtimeClassName: sysbox-runc`, on nodes where `cvm_sysbox` runs). \
                     `envbox`: Coder's envbox runs privileged and the image inside it, with its \
                     own Sysbox, on any node.",
                ),
        )
        .attribute(
            Attribute::string("image")
                .required()
                .validate(image_reference())
                .description("The workspace image (envbox's inner image)."),
        )
        .attribute(
            Attribute::string("envbox_image")
                .default(string(DEFAULT_ENVBOX_IMAGE))
                .validate(image_reference())
                .description("envbox's own image (style `envbox`)."),
        )
        .attribute(
            Attribute::string("username")
                .default(string(DEFAULT_USERNAME))
                .validate(names::kube_name("user", Grammar::Dns1123Label))
                .description("The user of the workspace image; the home volume is mounted at `/home/<username>`."),
        )
        .attribute(
            Attribute::string("agent_token")
                .required()
                .sensitive()
                .description("`coder_agent.<name>.token`."),
        )
        .attribute(
            Attribute::string("agent_init_script")
                .optional()
                .description(
                    "`coder_agent.<name>.init_script`: started as the workspace starts (the \
                     container's command for `sysbox-runc`, envbox's bootstrap script). Unset, \
                     the image's own entrypoint runs.",
                ),
        )
        .attribute(
            Attribute::string("agent_url")
                .optional()
                .description("The Coder deployment's URL for the agent (`data.coder_workspace.me.access_url`)."),
        )
        .attribute(
            Attribute::bool("running")
                .default(Value::Bool(true))
                .description(
                    "Whether the pod exists: `data.coder_workspace.me.start_count == 1`. false \
                     deletes the pod and keeps the home volume.",
                ),
        )
        .attribute(
            Attribute::string("cpu")
                .default(string(DEFAULT_CPU))
                .validate(quantity())
                .description("CPU, requested and limited (a Kubernetes quantity)."),
        )
        .attribute(
            Attribute::string("memory")
                .default(string(DEFAULT_MEMORY))
                .validate(quantity())
                .description("Memory, requested and limited (a Kubernetes quantity)."),
        )
        .attribute(
            Attribute::string("home_size")
                .default(string(DEFAULT_HOME_SIZE))
                .validate(quantity())
                .description(
                    "Size of the home volume. A larger size expands the claim in place (the \
                     storage class must allow expansion); Kubernetes refuses a smaller one.",
                ),
        )
        .attribute(
            Attribute::string("storage_class")
                .optional()
                .computed()
                .use_state_for_unknown()
                .requires_replace("a volume claim's storage class is immutable")
                .description("Storage class of the home volume; unset, the cluster's default class."),
        )
        .attribute(
            Attribute::string("image_pull_secret")
                .optional()
                .validate(names::kube_name("Secret", Grammar::Dns1123Subdomain))
                .description(
                    "Name of a `kubernetes.io/dockerconfigjson` Secret in the namespace (a \
                     `cvm_image_pull_secret`): the pod's `imagePullSecrets` for `sysbox-runc`, \
                     envbox's `CODER_IMAGE_PULL_SECRET` for `envbox`.",
                ),
        )
        .attribute(
            Attribute::map("node_selector", Type::String)
                .optional()
                .validate(labels::labels())
                .description(
                    "Node labels the pod must land on, besides the `sysbox-runtime=running` that \
                     the `sysbox-runc` RuntimeClass adds.",
                ),
        )
        .attribute(
            Attribute::map("labels", Type::String)
                .optional()
                .validate(labels::labels())
                .description("Labels of the pod and the claim."),
        )
        .attribute(
            Attribute::map("annotations", Type::String)
                .optional()
                .description("Annotations of the pod."),
        )
        .attribute(
            Attribute::string("user_namespace")
                .optional()
                .computed()
                .validate(validate::one_of(&UserNamespace::NAMES))
                .description(
                    "How a `sysbox-runc` pod gets its user namespace: `host-users-false` \
                     (`hostUsers: false`, for containerd 2.0.5 or later) or `cri-o-annotation` \
                     (`io.kubernetes.cri-o.userns-mode`, for nodes the Sysbox installer switched \
                     to CRI-O). Unset, it is chosen from the container runtime the nodes the pod \
                     can run on report.",
                ),
        )
        .attribute(
            Attribute::bool("add_tun")
                .default(Value::Bool(false))
                .description("envbox: give the workspace `/dev/net/tun` (VPNs)."),
        )
        .attribute(
            Attribute::bool("add_fuse")
                .default(Value::Bool(false))
                .description("envbox: give the workspace `/dev/fuse`."),
        )
        .attribute(
            Attribute::string("docker_bridge_cidr")
                .optional()
                .description("envbox: the inner Docker's bridge network, e.g. `172.20.0.1/16`."),
        )
        .attribute(
            Attribute::string("home_claim")
                .computed()
                .description("Name of the home volume claim."),
        )
        .attribute(
            Attribute::string("pod_uid")
                .computed()
                .description("UID of the pod while the workspace runs; null while it is stopped."),
        )
        .attribute(
            Attribute::string("node_name")
                .computed()
                .description("The node the pod runs on; null while it is stopped."),
        )
        .attribute(
            Attribute::number("gpus")
                .optional()
                .validate(validate::between(0, 16))
                .description(
                    "envbox: NVIDIA GPUs for the workspace. The pod asks for `nvidia.com/gpu` \
                     (NVIDIA's device plugin must offer them on the nodes), and envbox passes \
                     them and the driver's libraries from the node's `/usr/lib` to the inner \
                     container. Default none.",
                ),
        )
        .block(NestedBlock::set("toleration", toleration_block()))
        .block(NestedBlock::list("mount", mount_block()))
        .block(Timeouts::block(&[
            (Operation::Create, CREATE_TIMEOUT),
            (Operation::Read, READ_TIMEOUT),
            (Operation::Update, CREATE_TIMEOUT),
            (Operation::Delete, DELETE_TIMEOUT),
        ])),
    )
}

/// Checks across attributes.
pub fn check(config: &WorkspaceModel, diagnostics: &mut Diagnostics) {
    let envbox = config.style.known().map(String::as_str) == Some("envbox");
    if envbox && !config.user_namespace.is_null() {
        diagnostics.attribute_error(
            AttributePath::attr("user_namespace"),
            "Setting for Another Style",
            "user_namespace is for style sysbox-runc; envbox makes its own user namespaces.",
        );
    }
    let sysbox =
        config.style.known().map(String::as_str) == Some("sysbox-runc") || config.style.is_null();
    if sysbox {
        for (attribute, set) in [
            ("gpus", config.gpus.known().is_some_and(|n| *n > 0)),
            ("add_tun", config.add_tun.known() == Some(&true)),
            ("add_fuse", config.add_fuse.known() == Some(&true)),
            ("docker_bridge_cidr", !config.docker_bridge_cidr.is_null()),
        ] {
            if set {
                diagnostics.attribute_error(
                    AttributePath::attr(attribute),
                    "Setting for Another Style",
                    format!(
                        "{attribute} is for style envbox; set style = \"envbox\" or remove it."
                    ),
                );
            }
        }
    }
    let mut paths = std::collections::BTreeSet::new();
    for (i, mount) in config.mount.known().into_iter().flatten().enumerate() {
        let at = |name: &str| AttributePath::attr("mount").index(i as i64).attribute(name);
        let unknown = mount.claim.is_unknown() || mount.host_path.is_unknown();
        if !unknown && mount.claim.is_null() == mount.host_path.is_null() {
            diagnostics.attribute_error(
                at("claim"),
                "One Source per Mount",
                "Give a mount either claim (a PersistentVolumeClaim) or host_path (a directory of \
                 the node), not both and not neither.",
            );
        }
        if let Some(path) = mount.path.known() {
            let home = format!(
                "/home/{}",
                config.username.known().map_or("coder", String::as_str)
            );
            if path == &home || path.starts_with(&format!("{home}/")) || !paths.insert(path.clone())
            {
                diagnostics.attribute_error(
                    at("path"),
                    "Mount Path Taken",
                    format!(
                        "{path} is already mounted (the home volume is at {home}); give each \
                         mount a path of its own outside the home directory."
                    ),
                );
            }
        }
    }
}
