//! Canonical's Ubuntu EKS AMIs: which releases exist for which Kubernetes
//! versions, and where their ids are published in SSM:
//!
//! `<prefix>/{eks|eks-pro}/<release>/<k8s>/stable/current/<arch>/hvm/<volume>/ami-id`
//!
//! where `<volume>` is `ebs-gp2` up to 22.04 and `ebs-gp3` from 24.04 on.
//! Which releases exist for which Kubernetes versions follows eksctl's
//! gates ([`UBUNTU_IMAGES`]). Shared by `cvm_ubuntu_ami` and
//! `cvm_nodegroup`.

use tf_framework::{ToDiagnostic, validate};
use tf_protocol::value::Attr;
use tf_protocol::{AttributePath, Diagnostics};

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
struct UbuntuImage {
    /// `20.04`, `22.04`, `24.04`.
    release: &'static str,
    /// Ubuntu Pro.
    pro: bool,
    /// Oldest Kubernetes minor.
    min_minor: u32,
    /// Newest Kubernetes minor, if the family stopped.
    max_minor: Option<u32>,
    /// EBS volume type in the parameter path.
    volume: &'static str,
}

/// Canonical's EKS image families (eksctl's `validateVersionForUbuntu` and
/// SSM resolver).
const UBUNTU_IMAGES: &[UbuntuImage] = &[
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
fn kubernetes_minor(version: &str) -> Result<u32, String> {
    let text = version.trim().trim_start_matches('v');
    let minor = text
        .strip_prefix("1.")
        .and_then(|rest| rest.split(['.', '-']).next())
        .and_then(|m| m.parse::<u32>().ok());
    minor.ok_or_else(|| format!("{version:?} is not a Kubernetes version such as \"1.31\""))
}

/// The image family for `release` (and `pro`) if it exists for Kubernetes
/// `kubernetes_version`; otherwise a sentence listing what is supported.
fn check_release(
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

    /// Reads the AMI id from SSM now.
    pub async fn resolve(
        &self,
        ssm: &crate::aws::ssm::SsmClient,
    ) -> Result<ResolvedAmi, AmiLookupError> {
        let parameter_name = self.parameter_name().map_err(AmiLookupError::Unsupported)?;
        let answer = ssm.get_parameter(&parameter_name).await;
        Self::resolved(parameter_name, answer)
    }

    /// The AMI id for a create: read from SSM once per provider process for
    /// each parameter (see [`shared_lookups`](crate::aws::shared_lookups)).
    pub async fn resolve_for_create(
        &self,
        clients: &crate::aws::AwsClients,
    ) -> Result<ResolvedAmi, AmiLookupError> {
        let parameter_name = self.parameter_name().map_err(AmiLookupError::Unsupported)?;
        let answer = clients
            .shared
            .parameter(&clients.ssm, &parameter_name)
            .await;
        Self::resolved(parameter_name, answer)
    }

    fn resolved(
        parameter_name: String,
        answer: Result<Option<String>, crate::aws::AwsError>,
    ) -> Result<ResolvedAmi, AmiLookupError> {
        match answer {
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

/// The `ubuntu_release` validator shared with `cvm_nodegroup`.
pub fn release_validator() -> validate::OneOf {
    validate::one_of(&ubuntu_releases())
        .rejecting("18.04", "Canonical builds no EKS images of Ubuntu 18.04.")
        .rejecting(
            "26.04",
            "This provider does not know Ubuntu 26.04 EKS images yet; give the AMI id directly.",
        )
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
}
