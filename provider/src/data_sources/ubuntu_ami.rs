//! `cvm_ubuntu_ami`: Canonical's Ubuntu EKS AMI for a Kubernetes version,
//! Ubuntu release, architecture and Pro flag, read from the SSM parameters
//! Canonical publishes:
//!
//! `<prefix>/{eks|eks-pro}/<release>/<k8s>/stable/current/<arch>/hvm/<volume>/ami-id`
//!
//! where `<volume>` is `ebs-gp2` up to 22.04 and `ebs-gp3` from 24.04 on.
//! Which releases exist for which Kubernetes versions follows eksctl's
//! gates ([`UBUNTU_IMAGES`]); [`check_release`] is shared with
//! `cvm_nodegroup`'s plan-time validation.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tf_framework::schema::{Attribute, Block, Schema};
use tf_framework::{Ctx, DataSource, ToDiagnostic, validate};
use tf_protocol::value::Attr;
use tf_protocol::{AttributePath, Diagnostics};

use crate::provider::ProviderData;

/// Where Canonical publishes its AMI ids in SSM.
pub const DEFAULT_PARAMETER_PREFIX: &str = "/aws/service/canonical/ubuntu";
/// The Ubuntu release used when none is given.
pub const DEFAULT_UBUNTU_RELEASE: &str = "22.04";
/// The architecture used when none is given.
pub const DEFAULT_ARCHITECTURE: &str = "amd64";
/// Architectures Canonical builds EKS images for.
pub const ARCHITECTURES: &[&str] = &["amd64", "arm64"];

/// One family of Canonical EKS images and the Kubernetes minors
/// (`1.x`) it exists for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UbuntuImage {
    /// `20.04`, `22.04`, `24.04`.
    pub release: &'static str,
    /// Ubuntu Pro.
    pub pro: bool,
    /// Oldest Kubernetes minor.
    pub min_minor: u32,
    /// Newest Kubernetes minor, if the family stopped.
    pub max_minor: Option<u32>,
    /// EBS volume type in the parameter path.
    pub volume: &'static str,
}

/// Canonical's EKS image families (eksctl's `validateVersionForUbuntu` and
/// SSM resolver).
pub const UBUNTU_IMAGES: &[UbuntuImage] = &[
    image("20.04", false, 21, Some(29), "ebs-gp2"),
    image("20.04", true, 27, Some(29), "ebs-gp2"),
    image("22.04", false, 29, None, "ebs-gp2"),
    image("22.04", true, 29, None, "ebs-gp2"),
    image("24.04", false, 31, None, "ebs-gp3"),
    image("24.04", true, 31, None, "ebs-gp3"),
];

const fn image(
    release: &'static str,
    pro: bool,
    min_minor: u32,
    max_minor: Option<u32>,
    volume: &'static str,
) -> UbuntuImage {
    UbuntuImage {
        release,
        pro,
        min_minor,
        max_minor,
        volume,
    }
}

impl UbuntuImage {
    fn name(&self) -> String {
        let pro = if self.pro { " Pro" } else { "" };
        format!("Ubuntu{pro} {}", self.release)
    }

    fn versions(&self) -> String {
        match self.max_minor {
            Some(max) => format!("Kubernetes 1.{}–1.{max}", self.min_minor),
            None => format!("Kubernetes 1.{} or later", self.min_minor),
        }
    }

    fn supports(&self, minor: u32) -> bool {
        minor >= self.min_minor && self.max_minor.is_none_or(|max| minor <= max)
    }
}

/// The Ubuntu releases Canonical builds EKS images of.
pub fn ubuntu_releases() -> Vec<&'static str> {
    let mut releases: Vec<&str> = UBUNTU_IMAGES.iter().map(|i| i.release).collect();
    releases.dedup();
    releases
}

/// Every image family and its Kubernetes versions, for messages.
pub fn supported_images() -> String {
    let parts: Vec<String> = UBUNTU_IMAGES
        .iter()
        .map(|i| format!("{} ({})", i.name(), i.versions()))
        .collect();
    parts.join(", ")
}

/// The minor of a Kubernetes version such as `1.31`.
pub fn kubernetes_minor(version: &str) -> Result<u32, String> {
    let text = version.trim().trim_start_matches('v');
    let minor = text
        .strip_prefix("1.")
        .and_then(|rest| rest.split(['.', '-']).next())
        .and_then(|m| m.parse::<u32>().ok());
    minor.ok_or_else(|| format!("{version:?} is not a Kubernetes version such as \"1.31\""))
}

/// The image family for `release` (and `pro`) if it exists for Kubernetes
/// `kubernetes_version`; otherwise a sentence listing what is supported.
pub fn check_release(
    release: &str,
    pro: bool,
    kubernetes_version: &str,
) -> Result<&'static UbuntuImage, String> {
    let minor = kubernetes_minor(kubernetes_version)?;
    let family = UBUNTU_IMAGES
        .iter()
        .find(|i| i.release == release && i.pro == pro);
    let Some(family) = family else {
        return Err(format!(
            "Canonical publishes no EKS image for Ubuntu {release:?}{}. Supported: {}.",
            if pro { " Pro" } else { "" },
            supported_images()
        ));
    };
    if family.supports(minor) {
        return Ok(family);
    }
    let fitting: Vec<String> = UBUNTU_IMAGES
        .iter()
        .filter(|i| i.supports(minor))
        .map(UbuntuImage::name)
        .collect();
    let fitting = if fitting.is_empty() {
        "none".to_owned()
    } else {
        fitting.join(", ")
    };
    Err(format!(
        "{} EKS images exist for {} only, not for Kubernetes {kubernetes_version}. For \
         Kubernetes {kubernetes_version} use: {fitting}. All supported: {}.",
        family.name(),
        family.versions(),
        supported_images()
    ))
}

/// What to look up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AmiQuery {
    /// Kubernetes version, e.g. `1.31`.
    pub kubernetes_version: String,
    /// Ubuntu release, e.g. `22.04`.
    pub ubuntu_release: String,
    /// `amd64` or `arm64`.
    pub architecture: String,
    /// Ubuntu Pro.
    pub pro: bool,
    /// SSM prefix, default [`DEFAULT_PARAMETER_PREFIX`].
    pub parameter_prefix: String,
}

impl AmiQuery {
    /// The SSM parameter that holds the AMI id, or why there is none.
    pub fn parameter_name(&self) -> Result<String, String> {
        if !ARCHITECTURES.contains(&self.architecture.as_str()) {
            return Err(format!(
                "Canonical builds EKS images for amd64 and arm64, not {:?}.",
                self.architecture
            ));
        }
        let family = check_release(&self.ubuntu_release, self.pro, &self.kubernetes_version)?;
        let minor = kubernetes_minor(&self.kubernetes_version)?;
        let product = if self.pro { "eks-pro" } else { "eks" };
        Ok(format!(
            "{}/{product}/{}/1.{minor}/stable/current/{}/hvm/{}/ami-id",
            self.parameter_prefix.trim_end_matches('/'),
            family.release,
            self.architecture,
            family.volume
        ))
    }

    /// Reads the AMI id from SSM.
    pub async fn resolve(
        &self,
        ssm: &crate::aws::ssm::SsmClient,
    ) -> Result<ResolvedAmi, AmiLookupError> {
        let parameter_name = self.parameter_name().map_err(AmiLookupError::Unsupported)?;
        match ssm.get_parameter(&parameter_name).await {
            Ok(Some(ami_id)) => Ok(ResolvedAmi {
                ami_id,
                parameter_name,
            }),
            Ok(None) => Err(AmiLookupError::NotPublished { parameter_name }),
            Err(e) => Err(AmiLookupError::Aws(e)),
        }
    }
}

/// An AMI id and where it was read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedAmi {
    /// `ami-…`.
    pub ami_id: String,
    /// The SSM parameter.
    pub parameter_name: String,
}

/// Why no AMI id was found.
#[derive(Debug, thiserror::Error)]
pub enum AmiLookupError {
    /// The combination does not exist.
    #[error("{0}")]
    Unsupported(String),
    /// The parameter does not exist.
    #[error(
        "SSM parameter {parameter_name} does not exist: Canonical has not published this image \
         in this region (or, with moto, the parameter was not put under parameter_prefix)"
    )]
    NotPublished {
        /// The parameter looked up.
        parameter_name: String,
    },
    /// SSM failed.
    #[error("reading the AMI id from SSM")]
    Aws(#[source] crate::aws::AwsError),
}

impl ToDiagnostic for AmiLookupError {
    fn to_diagnostic(&self, attribute: Option<AttributePath>) -> tf_protocol::Diagnostic {
        let diagnostic = match self {
            Self::Aws(e) => return e.to_diagnostic(attribute),
            Self::Unsupported(reason) => {
                tf_protocol::Diagnostic::error("Unsupported Ubuntu EKS Image", reason.clone())
            }
            Self::NotPublished { .. } => tf_protocol::Diagnostic::error(
                "Ubuntu EKS Image Not Found",
                format!(
                    "{}. Check the region, the Kubernetes version and ubuntu_release, or give \
                     the AMI id directly.",
                    tf_framework::diagnostic::capitalised(&self.to_string())
                ),
            ),
        };
        match attribute {
            Some(path) => diagnostic.at(path),
            None => diagnostic,
        }
    }
}

/// Checks a release, Pro flag and Kubernetes version together, reporting
/// at `release_path`; silent while any of them is unknown.
pub fn validate_release(
    release: &Attr<String>,
    pro: &Attr<bool>,
    kubernetes_version: &Attr<String>,
    release_path: AttributePath,
    version_path: AttributePath,
    diagnostics: &mut Diagnostics,
) {
    let release = match release {
        Attr::Known(r) => r.as_str(),
        Attr::Null => DEFAULT_UBUNTU_RELEASE,
        Attr::Unknown => return,
    };
    let pro = match pro {
        Attr::Known(p) => *p,
        Attr::Null => false,
        Attr::Unknown => return,
    };
    let Attr::Known(version) = kubernetes_version else {
        return;
    };
    if let Err(reason) = kubernetes_minor(version) {
        diagnostics.attribute_error(
            version_path,
            "Invalid Kubernetes Version",
            format!("{reason}."),
        );
        return;
    }
    if let Err(reason) = check_release(release, pro, version) {
        diagnostics.attribute_error(release_path, "Unsupported Ubuntu EKS Image", reason);
    }
}

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

/// The `ubuntu_release` validator shared with `cvm_nodegroup`.
pub fn release_validator() -> validate::OneOf {
    validate::one_of(&ubuntu_releases())
        .rejecting("18.04", "Canonical builds no EKS images of Ubuntu 18.04.")
        .rejecting(
            "26.04",
            "This provider does not know Ubuntu 26.04 EKS images yet; give the AMI id directly.",
        )
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

    fn query(release: &str, version: &str, arch: &str, pro: bool) -> AmiQuery {
        AmiQuery {
            kubernetes_version: version.into(),
            ubuntu_release: release.into(),
            architecture: arch.into(),
            pro,
            parameter_prefix: DEFAULT_PARAMETER_PREFIX.into(),
        }
    }

    #[test]
    fn parameter_paths_follow_canonicals_layout_and_the_gp2_gp3_rule() {
        assert_eq!(
            query("20.04", "1.26", "amd64", false)
                .parameter_name()
                .unwrap(),
            "/aws/service/canonical/ubuntu/eks/20.04/1.26/stable/current/amd64/hvm/ebs-gp2/ami-id"
        );
        assert_eq!(
            query("22.04", "1.31", "arm64", true)
                .parameter_name()
                .unwrap(),
            "/aws/service/canonical/ubuntu/eks-pro/22.04/1.31/stable/current/arm64/hvm/ebs-gp2/ami-id"
        );
        assert_eq!(
            query("24.04", "1.33", "amd64", false)
                .parameter_name()
                .unwrap(),
            "/aws/service/canonical/ubuntu/eks/24.04/1.33/stable/current/amd64/hvm/ebs-gp3/ami-id"
        );
        let mut moto = query("22.04", "1.31", "amd64", false);
        moto.parameter_prefix = "/test/canonical/ubuntu/".into();
        assert_eq!(
            moto.parameter_name().unwrap(),
            "/test/canonical/ubuntu/eks/22.04/1.31/stable/current/amd64/hvm/ebs-gp2/ami-id"
        );
    }

    #[test]
    fn eksctl_version_gates_apply() {
        assert!(check_release("20.04", false, "1.21").is_ok());
        assert!(check_release("20.04", false, "1.29").is_ok());
        assert!(check_release("20.04", false, "1.30").is_err());
        assert!(check_release("20.04", true, "1.26").is_err());
        assert!(check_release("20.04", true, "1.27").is_ok());
        assert!(check_release("22.04", false, "1.28").is_err());
        assert!(check_release("22.04", true, "1.29").is_ok());
        assert!(check_release("24.04", false, "1.30").is_err());
        assert!(check_release("24.04", false, "1.31").is_ok());
        assert!(check_release("24.04", true, "1.35").is_ok());
    }

    #[test]
    fn unsupported_combinations_list_what_is_supported() {
        let reason = check_release("20.04", false, "1.31").unwrap_err();
        assert!(
            reason.contains("Ubuntu 20.04 EKS images exist for Kubernetes 1.21–1.29 only"),
            "{reason}"
        );
        assert!(
            reason.contains("use: Ubuntu 22.04, Ubuntu Pro 22.04, Ubuntu 24.04, Ubuntu Pro 24.04"),
            "{reason}"
        );
        assert!(
            reason.contains("Ubuntu 24.04 (Kubernetes 1.31 or later)"),
            "{reason}"
        );
        let reason = check_release("18.04", false, "1.31").unwrap_err();
        assert!(
            reason.contains("no EKS image for Ubuntu \"18.04\""),
            "{reason}"
        );
        assert!(
            reason.contains("Supported: Ubuntu 20.04 (Kubernetes 1.21–1.29)"),
            "{reason}"
        );
        let reason = query("22.04", "1.31", "s390x", false)
            .parameter_name()
            .unwrap_err();
        assert!(reason.contains("amd64 and arm64"), "{reason}");
        assert!(check_release("22.04", false, "latest").is_err());
    }

    #[test]
    fn kubernetes_minor_reads_common_spellings() {
        assert_eq!(kubernetes_minor("1.31"), Ok(31));
        assert_eq!(kubernetes_minor("v1.33.4-eks-abc"), Ok(33));
        assert!(kubernetes_minor("2.0").is_err());
        assert!(kubernetes_minor("").is_err());
    }

    #[test]
    fn validation_points_at_the_release_and_waits_for_unknowns() {
        let mut d = Diagnostics::new();
        validate_release(
            &Attr::Known("20.04".into()),
            &Attr::Null,
            &Attr::Known("1.31".into()),
            AttributePath::attr("ubuntu_release"),
            AttributePath::attr("kubernetes_version"),
            &mut d,
        );
        let diag = d.iter().next().expect("one error");
        assert_eq!(diag.attribute, Some(AttributePath::attr("ubuntu_release")));

        let mut d = Diagnostics::new();
        validate_release(
            &Attr::Known("20.04".into()),
            &Attr::Null,
            &Attr::Unknown,
            AttributePath::attr("ubuntu_release"),
            AttributePath::attr("kubernetes_version"),
            &mut d,
        );
        assert!(!d.has_error());

        let mut d = Diagnostics::new();
        validate_release(
            &Attr::Null,
            &Attr::Null,
            &Attr::Known("one".into()),
            AttributePath::attr("ubuntu_release"),
            AttributePath::attr("kubernetes_version"),
            &mut d,
        );
        let diag = d.iter().next().expect("one error");
        assert_eq!(
            diag.attribute,
            Some(AttributePath::attr("kubernetes_version"))
        );
    }

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
