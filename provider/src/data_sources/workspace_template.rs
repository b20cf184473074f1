//! `cvm_workspace_template`: the files of the ready CVM template for Coder
//! v2 ([`crate::template`]), for `cvm_coder_template.files` or to start a
//! template of one's own from.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tf_framework::schema::{Attribute, Block, Schema};
use tf_framework::{Ctx, DataSource, validate};
use tf_protocol::value::{Attr, Type};
use tf_protocol::{AttributePath, Diagnostics};

use crate::image_reference::image_reference;
use crate::kube::names::{self, Grammar};
use crate::provider::ProviderData;
use crate::template::CvmTemplate;
use crate::workspace::pod::Style;

/// The `cvm_workspace_template` data source.
#[derive(Debug, Default)]
pub struct WorkspaceTemplate;

/// Configuration and result of `cvm_workspace_template`.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceTemplateModel {
    /// Namespace of the workspaces.
    pub namespace: Attr<String>,
    /// `sysbox-runc` or `envbox`.
    pub style: Attr<String>,
    /// The default image.
    pub image: Attr<String>,
    /// Default CPU count.
    pub cpu: Attr<i64>,
    /// Largest CPU count a user may pick.
    pub max_cpu: Attr<i64>,
    /// Default memory, GiB.
    pub memory_gib: Attr<i64>,
    /// Largest memory, GiB.
    pub max_memory_gib: Attr<i64>,
    /// Default home volume size, GiB.
    pub home_size_gib: Attr<i64>,
    /// Secret for the image's registry.
    pub image_pull_secret: Attr<String>,
    /// Storage class of the home volumes.
    pub storage_class: Attr<String>,
    /// The rendered files.
    pub files: Attr<BTreeMap<String, String>>,
}

fn number(attr: &Attr<i64>, default: i64) -> i64 {
    attr.known().copied().unwrap_or(default)
}

#[async_trait]
impl DataSource for WorkspaceTemplate {
    type Data = ProviderData;
    type Model = WorkspaceTemplateModel;

    fn type_name(&self) -> &'static str {
        "cvm_workspace_template"
    }

    fn schema(&self) -> Schema {
        let count = |name: &str, default: i64, what: &str| {
            Attribute::number(name)
                .optional()
                .validate(validate::between(1, 4096))
                .description(format!("{what} Default {default}."))
        };
        Schema::new(
            Block::new(
                "The files of a ready Coder v2 template of CVM workspaces: `coder_agent` plus a \
                 `cvm_workspace` whose CPU, memory, home size and image are parameters users \
                 pick, with the home volume kept while a workspace is stopped. Give `files` to \
                 `cvm_coder_template`, or start a template of your own from them.",
            )
            .attribute(
                Attribute::string("namespace")
                    .optional()
                    .validate(names::kube_name("namespace", Grammar::Dns1123Label))
                    .description("Namespace of the workspaces. Default: the namespace of the provider's connection where the template runs (inside a pod, the pod's own)."),
            )
            .attribute(
                Attribute::string("style")
                    .optional()
                    .validate(validate::one_of(&Style::NAMES))
                    .description("`sysbox-runc` (default) or `envbox`, as in `cvm_workspace`."),
            )
            .attribute(
                Attribute::string("image")
                    .optional()
                    .validate(image_reference())
                    .description("The image offered by default. Default `codercom/enterprise-base:ubuntu`."),
            )
            .attribute(count("cpu", 2, "CPU cores offered by default."))
            .attribute(count("max_cpu", 8, "The most CPU cores a user may pick."))
            .attribute(count("memory_gib", 4, "Memory offered by default, GiB."))
            .attribute(count("max_memory_gib", 16, "The most memory a user may pick, GiB."))
            .attribute(count("home_size_gib", 10, "Home volume size offered by default, GiB."))
            .attribute(
                Attribute::string("image_pull_secret")
                    .optional()
                    .validate(names::kube_name("Secret", Grammar::Dns1123Subdomain))
                    .description("Name of a `cvm_image_pull_secret` in the workspaces' namespace, for a private image."),
            )
            .attribute(
                Attribute::string("storage_class")
                    .optional()
                    .validate(validate::non_empty())
                    .description("Storage class of the home volumes. Default: the cluster's default class."),
            )
            .attribute(
                Attribute::map("files", Type::String)
                    .computed()
                    .description("The template's files: `main.tf` and `README.md`."),
            ),
        )
    }

    async fn validate(&self, config: &WorkspaceTemplateModel, diagnostics: &mut Diagnostics) {
        for (low, high, path) in [
            (&config.cpu, &config.max_cpu, "max_cpu"),
            (&config.memory_gib, &config.max_memory_gib, "max_memory_gib"),
        ] {
            let (low, high) = match (low, high) {
                (Attr::Known(l), Attr::Known(h)) => (*l, *h),
                (Attr::Known(l), Attr::Null) => (*l, if path == "max_cpu" { 8 } else { 16 }),
                _ => continue,
            };
            if high < low {
                diagnostics.attribute_error(
                    AttributePath::attr(path),
                    "Maximum Below Default",
                    format!("{path} ({high}) is below the default it bounds ({low})."),
                );
            }
        }
    }

    async fn read(
        &self,
        _ctx: &Ctx<ProviderData>,
        mut config: WorkspaceTemplateModel,
        diagnostics: &mut Diagnostics,
    ) -> Option<WorkspaceTemplateModel> {
        self.validate(&config, diagnostics).await;
        if diagnostics.has_error() {
            return None;
        }
        let template = CvmTemplate {
            namespace: config.namespace.known().cloned(),
            style: config
                .style
                .known()
                .cloned()
                .unwrap_or_else(|| "sysbox-runc".to_owned()),
            image: config
                .image
                .known()
                .cloned()
                .unwrap_or_else(|| "codercom/enterprise-base:ubuntu".to_owned()),
            cpu: (number(&config.cpu, 2), number(&config.max_cpu, 8)),
            memory_gib: (
                number(&config.memory_gib, 4),
                number(&config.max_memory_gib, 16),
            ),
            home_size_gib: number(&config.home_size_gib, 10),
            image_pull_secret: config.image_pull_secret.known().cloned(),
            storage_class: config.storage_class.known().cloned(),
        };
        config.files = Attr::Known(template.files());
        Some(config)
    }
}
