//! `cvm_workspace_image`: renders the Dockerfile of a workspace image that
//! runs well as a CVM — systemd as `/sbin/init`, Docker installed and
//! started by systemd, and optionally a non-root user with sudo.
//!
//! Coder starts `/sbin/init` as PID 1 when the image has one; systemd then
//! starts Docker, so `docker` works in the workspace without privileges.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tf_framework::schema::{Attribute, Block, Schema};
use tf_framework::{Ctx, DataSource, validate};
use tf_protocol::value::{Attr, Type};
use tf_protocol::{AttributePath, Diagnostics};

use crate::image_reference::image_reference;
use crate::provider::ProviderData;

/// The base image used when none is configured.
pub const DEFAULT_BASE_IMAGE: &str = "ubuntu:22.04";

/// Where Coder looks for the init program.
pub const INIT_PATH: &str = "/sbin/init";

/// Where Debian and Ubuntu install systemd.
const SYSTEMD_PATH: &str = "/lib/systemd/systemd";

/// The `cvm_workspace_image` data source.
#[derive(Debug, Default)]
pub struct WorkspaceImage;

/// Configuration and result of `cvm_workspace_image`.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceImageModel {
    /// The image to build on.
    pub base_image: Attr<String>,
    /// Extra apt packages.
    pub packages: Attr<Vec<Attr<String>>>,
    /// Whether to install Docker.
    pub docker: Attr<bool>,
    /// A non-root user to create, with passwordless sudo.
    pub user: Attr<String>,
    /// The rendered Dockerfile.
    pub dockerfile: Attr<String>,
    /// Where the init program is.
    pub init_path: Attr<String>,
}

#[async_trait]
impl DataSource for WorkspaceImage {
    type Data = ProviderData;
    type Model = WorkspaceImageModel;

    fn type_name(&self) -> &'static str {
        "cvm_workspace_image"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            Block::new(
                "Renders the Dockerfile of a workspace image for container-based virtual \
                 machines (CVMs): systemd linked as `/sbin/init` so Coder runs it as PID 1, \
                 Docker installed and enabled as a systemd service, and optionally a non-root \
                 user with sudo. The base image must be Debian- or Ubuntu-based (the Dockerfile \
                 uses apt).",
            )
            .attribute(
                Attribute::string("base_image")
                    .optional()
                    .validate(image_reference())
                    .description(format!(
                        "Image to build on, e.g. `ubuntu:22.04` or \
                         `registry.example.com/base/ubuntu:22.04`. Default `{DEFAULT_BASE_IMAGE}`."
                    )),
            )
            .attribute(
                Attribute::list("packages", Type::String)
                    .optional()
                    .description(
                        "Extra apt packages to install, e.g. `[\"git\", \"curl\"]`. A package may \
                         pin a version as `name=version`.",
                    ),
            )
            .attribute(
                Attribute::bool("docker")
                    .optional()
                    .description("Install Docker and start it with systemd. Default `true`."),
            )
            .attribute(
                Attribute::string("user")
                    .optional()
                    .validate(validate::matches(
                        "^[a-z_][a-z0-9_-]{0,31}$",
                        "must be a Linux user name: lower-case letters, digits, '_' and '-', \
                         starting with a letter or '_', at most 32 characters",
                    ))
                    .description(
                        "A non-root user to create with passwordless sudo (and membership of the \
                         `docker` group when Docker is installed).",
                    ),
            )
            .attribute(
                Attribute::string("dockerfile")
                    .computed()
                    .description("The rendered Dockerfile."),
            )
            .attribute(
                Attribute::string("init_path")
                    .computed()
                    .description("Path of the init program Coder starts as PID 1: `/sbin/init`."),
            ),
        )
    }

    async fn validate(&self, config: &WorkspaceImageModel, diagnostics: &mut Diagnostics) {
        if let Attr::Known(packages) = &config.packages {
            for (i, package) in packages.iter().enumerate() {
                if let Attr::Known(name) = package
                    && let Err(reason) = check_package(name)
                {
                    let index = i64::try_from(i).unwrap_or(i64::MAX);
                    diagnostics.attribute_error(
                        AttributePath::attr("packages").index(index),
                        "Invalid Package Name",
                        format!("{name:?} is not an apt package name: {reason}."),
                    );
                }
            }
        }
    }

    async fn read(
        &self,
        _ctx: &Ctx<ProviderData>,
        mut config: WorkspaceImageModel,
        diagnostics: &mut Diagnostics,
    ) -> Option<WorkspaceImageModel> {
        self.validate(&config, diagnostics).await;
        if diagnostics.has_error() {
            return None;
        }
        let spec = ImageSpec {
            base_image: config
                .base_image
                .known()
                .cloned()
                .unwrap_or_else(|| DEFAULT_BASE_IMAGE.to_owned()),
            packages: config
                .packages
                .known()
                .map(|p| p.iter().filter_map(|p| p.known().cloned()).collect())
                .unwrap_or_default(),
            docker: config.docker.known().copied().unwrap_or(true),
            user: config.user.known().cloned(),
        };
        config.dockerfile = Attr::Known(spec.render());
        config.init_path = Attr::Known(INIT_PATH.to_owned());
        Some(config)
    }
}

/// Checks an apt package name (optionally `name=version`) and rejects
/// anything a shell would interpret.
fn check_package(text: &str) -> Result<(), &'static str> {
    let (name, version) = match text.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (text, None),
    };
    let name_ok = name.len() >= 2
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b));
    if !name_ok {
        return Err(
            "names are at least two lower-case letters, digits, '+', '-' or '.', starting with a letter or digit",
        );
    }
    if let Some(v) = version {
        let version_ok = !v.is_empty()
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.~:".contains(&b));
        if !version_ok {
            return Err("a pinned version is letters, digits, '+', '-', '.', '~' or ':'");
        }
    }
    Ok(())
}

/// What goes into the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSpec {
    /// Base image reference.
    pub base_image: String,
    /// Extra packages.
    pub packages: Vec<String>,
    /// Install Docker.
    pub docker: bool,
    /// Non-root user.
    pub user: Option<String>,
}

impl ImageSpec {
    /// The Dockerfile text. Deterministic: the same spec renders the same
    /// bytes, so plans stay empty.
    pub fn render(&self) -> String {
        let mut packages: Vec<&str> = vec!["ca-certificates", "systemd"];
        if self.docker {
            packages.push("docker.io");
        }
        if self.user.is_some() {
            packages.push("sudo");
        }
        packages.extend(self.packages.iter().map(String::as_str));
        packages.sort_unstable();
        packages.dedup();

        let mut out = String::new();
        out.push_str("# Rendered by terraform-provider-cvm (cvm_workspace_image).\n");
        out.push_str(&format!("FROM {}\n\n", self.base_image));
        out.push_str("ENV DEBIAN_FRONTEND=noninteractive\n");
        out.push_str(
            "RUN apt-get update \\\n    && apt-get install -y --no-install-recommends \\\n",
        );
        for p in &packages {
            out.push_str(&format!("        {p} \\\n"));
        }
        out.push_str("    && rm -rf /var/lib/apt/lists/*\n\n");
        if self.docker {
            out.push_str("# Start Docker with systemd when the CVM boots.\n");
            out.push_str("RUN systemctl enable docker\n\n");
        }
        out.push_str("# Coder runs /sbin/init as PID 1 when it exists: make it systemd.\n");
        out.push_str(&format!("RUN ln -sf {SYSTEMD_PATH} {INIT_PATH}\n"));
        if let Some(user) = &self.user {
            out.push('\n');
            out.push_str(&format!(
                "# A non-root user with passwordless sudo. init still runs as root.\n\
                 RUN useradd --create-home --shell /bin/bash {user} \\\n    \
                 && echo '{user} ALL=(ALL) NOPASSWD:ALL' > /etc/sudoers.d/{user} \\\n    \
                 && chmod 0440 /etc/sudoers.d/{user}"
            ));
            if self.docker {
                out.push_str(&format!(" \\\n    && usermod -aG docker {user}"));
            }
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_systemd_init_and_docker_service() {
        let spec = ImageSpec {
            base_image: "ubuntu:20.04".into(),
            packages: vec!["git".into(), "curl".into()],
            docker: true,
            user: Some("coder".into()),
        };
        let text = spec.render();
        assert!(text.contains("FROM ubuntu:20.04\n"));
        assert!(text.contains("RUN ln -sf /lib/systemd/systemd /sbin/init\n"));
        assert!(text.contains("RUN systemctl enable docker\n"));
        assert!(text.contains("docker.io \\\n"));
        assert!(text.contains("/etc/sudoers.d/coder"));
        assert!(text.contains("usermod -aG docker coder"));
        // Sorted, so reordering packages does not change the Dockerfile.
        let curl = text.find("curl").expect("curl listed");
        let git = text.find("        git").expect("git listed");
        assert!(curl < git);
    }

    #[test]
    fn without_docker_or_user() {
        let spec = ImageSpec {
            base_image: "debian:12".into(),
            packages: vec![],
            docker: false,
            user: None,
        };
        let text = spec.render();
        assert!(!text.contains("docker"));
        assert!(!text.contains("sudo"));
        assert!(text.contains("/sbin/init"));
    }

    #[test]
    fn package_names_reject_shell_metacharacters() {
        for good in ["git", "build-essential", "libc6=2.35-0ubuntu3", "g++"] {
            assert!(check_package(good).is_ok(), "{good}");
        }
        for bad in [
            "git; rm -rf /",
            "$(curl x)",
            "a",
            "Git",
            "git`id`",
            "pkg=1 2",
            "x|y",
            "",
        ] {
            assert!(check_package(bad).is_err(), "{bad}");
        }
    }
}
