//! `cvm_ubuntu_ami`: Canonical's Ubuntu EKS AMI for a Kubernetes version,
//! Ubuntu release, architecture and Pro flag, read from the SSM parameters
//! Canonical publishes (see [`crate::aws::ami`]); combinations Canonical
//! does not build are refused at validation with the list of those it does.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tf_framework::schema::{Attribute, Block, Schema};
use tf_framework::{Ctx, DataSource, ToDiagnostic, validate};
use tf_protocol::value::Attr;
use tf_protocol::{AttributePath, Diagnostics};

use crate::aws::ami::{
    ARCHITECTURES, AmiQuery, DEFAULT_ARCHITECTURE, DEFAULT_PARAMETER_PREFIX,
    DEFAULT_UBUNTU_RELEASE, release_validator, supported_images, validate_release,
};
use crate::provider::ProviderData;

/// The `cvm_ubuntu_ami` data source.
#[derive(Debug, Default)]
pub struct UbuntuAmi;

/// Configuration and result of `cvm_ubuntu_ami`.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UbuntuAmiModel {
    /// Kubernetes version, e.g. `1.31`.
    pub kubernetes_version: Attr<String>,
    /// Ubuntu release.
    pub ubuntu_release: Attr<String>,
    /// `amd64` or `arm64`.
    pub architecture: Attr<String>,
    /// Ubuntu Pro.
    pub pro: Attr<bool>,
    /// SSM prefix.
    pub parameter_prefix: Attr<String>,
    /// The AMI id.
    pub ami_id: Attr<String>,
    /// The SSM parameter read.
    pub parameter_name: Attr<String>,
}

impl UbuntuAmiModel {
    /// The query, with defaults for what is not set.
    pub fn query(&self) -> AmiQuery {
        AmiQuery {
            kubernetes_version: self.kubernetes_version.known().cloned().unwrap_or_default(),
            ubuntu_release: self
                .ubuntu_release
                .known()
                .cloned()
                .unwrap_or_else(|| DEFAULT_UBUNTU_RELEASE.to_owned()),
            architecture: self
                .architecture
                .known()
                .cloned()
                .unwrap_or_else(|| DEFAULT_ARCHITECTURE.to_owned()),
            pro: self.pro.known().copied().unwrap_or(false),
            parameter_prefix: self
                .parameter_prefix
                .known()
                .cloned()
                .unwrap_or_else(|| DEFAULT_PARAMETER_PREFIX.to_owned()),
        }
    }
}

#[async_trait]
impl DataSource for UbuntuAmi {
    type Data = ProviderData;
    type Model = UbuntuAmiModel;

    fn type_name(&self) -> &'static str {
        "cvm_ubuntu_ami"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            Block::new(
                "Canonical's Ubuntu EKS AMI for a Kubernetes version, Ubuntu release, \
                 architecture and Pro flag, read from the SSM parameters Canonical publishes. \
                 Combinations Canonical does not build are refused with the list of those it does.",
            )
            .attribute(
                Attribute::string("kubernetes_version")
                    .required()
                    .validate(validate::matches(
                        r"^1\.[0-9]+$",
                        "must be a Kubernetes minor version such as \"1.31\"",
                    ))
                    .description("Kubernetes version of the cluster, e.g. `1.31`."),
            )
            .attribute(
                Attribute::string("ubuntu_release")
                    .optional()
                    .validate(release_validator())
                    .description(format!(
                        "Ubuntu release: `20.04`, `22.04` or `24.04`. Default `{DEFAULT_UBUNTU_RELEASE}`. \
                         Images exist for: {}.",
                        supported_images()
                    )),
            )
            .attribute(
                Attribute::string("architecture")
                    .optional()
                    .validate(validate::one_of(ARCHITECTURES))
                    .description("CPU architecture: `amd64` or `arm64`. Default `amd64`."),
            )
            .attribute(
                Attribute::bool("pro")
                    .optional()
                    .description("Ubuntu Pro image (`eks-pro`). Default `false`."),
            )
            .attribute(
                Attribute::string("parameter_prefix")
                    .optional()
                    .validate(validate::matches(
                        r"^/[A-Za-z0-9_./-]*$",
                        "must be an SSM parameter path starting with \"/\"",
                    ))
                    .description(format!(
                        "SSM path under which the `eks/...` parameters are read. Default \
                         `{DEFAULT_PARAMETER_PREFIX}`; change it to read copies of the parameters, \
                         e.g. in a test account or moto, which refuses names under `/aws`."
                    )),
            )
            .attribute(
                Attribute::string("ami_id")
                    .computed()
                    .description("The AMI id, e.g. `ami-0123456789abcdef0`."),
            )
            .attribute(
                Attribute::string("parameter_name")
                    .computed()
                    .description("The SSM parameter the AMI id was read from."),
            ),
        )
    }

    async fn validate(&self, config: &UbuntuAmiModel, diagnostics: &mut Diagnostics) {
        validate_release(
            &config.ubuntu_release,
            &config.pro,
            &config.kubernetes_version,
            AttributePath::attr("ubuntu_release"),
            AttributePath::attr("kubernetes_version"),
            diagnostics,
        );
    }

    async fn read(
        &self,
        ctx: &Ctx<ProviderData>,
        mut config: UbuntuAmiModel,
        diagnostics: &mut Diagnostics,
    ) -> Option<UbuntuAmiModel> {
        let query = config.query();
        if let Err(reason) = query.parameter_name() {
            diagnostics.attribute_error(
                AttributePath::attr("ubuntu_release"),
                "Unsupported Ubuntu EKS Image",
                reason,
            );
            return None;
        }
        let clients = match ctx.data().aws().await {
            Ok(clients) => clients,
            Err(e) => {
                diagnostics.push(e.to_diagnostic(None));
                return None;
            }
        };
        match query.resolve(&clients.ssm).await {
            Ok(found) => {
                config.ami_id = Attr::Known(found.ami_id);
                config.parameter_name = Attr::Known(found.parameter_name);
                Some(config)
            }
            Err(e) => {
                diagnostics.push(e.to_diagnostic(None));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_validators_compile() {
        let schema = UbuntuAmi.schema();
        for attribute in &schema.block.attributes {
            for validator in &attribute.validators {
                let mut d = Diagnostics::new();
                validator.validate(
                    &tf_protocol::Value::String("/x".into()),
                    &AttributePath::attr(&attribute.name),
                    &mut d,
                );
                assert!(
                    d.iter().all(|d| d.summary != "Invalid Validator"),
                    "{}",
                    attribute.name
                );
            }
        }
    }
}
