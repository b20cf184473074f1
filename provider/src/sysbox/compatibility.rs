//! Can a node run Sysbox? Pure rules over the strings Kubernetes reports in
//! `node.status.nodeInfo`, so the provider can refuse an unsuitable node
//! before the installer DaemonSet half-configures it.
//!
//! All distro knowledge lives in [`DISTRO_RULES`]; the rest of the module
//! reads the node's strings and applies that table plus the kernel,
//! runtime, Kubernetes-version and architecture rules of the installer.

use std::fmt;

/// A kernel (or other) version as `major.minor`, ordered numerically.
pub type MajorMinor = (u32, u32);

/// Below this kernel, Sysbox has no ID-mapped mounts and needs shiftfs.
const IDMAPPED_MOUNTS: MajorMinor = (5, 12);
/// Below this kernel, shiftfs is still recommended (ID-mapped mounts do not
/// cover every filesystem yet).
const SHIFTFS_RECOMMENDED_BELOW: MajorMinor = (5, 19);
/// The kernels the installer builds shiftfs for with DKMS (inclusive).
const SHIFTFS_BUILD_RANGE: (MajorMinor, MajorMinor) = ((5, 4), (6, 2));
/// First containerd release the v0.7 installer configures directly
/// (2.0.1–2.0.4 have a user-namespace bug).
const CONTAINERD_DIRECT: (u32, u32, u32) = (2, 0, 5);

/// What a node reports in `status.nodeInfo`, verbatim.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeFacts {
    /// `osImage`, e.g. `Ubuntu 22.04.5 LTS`.
    pub os_image: String,
    /// `kernelVersion`, e.g. `6.8.0-1021-aws`.
    pub kernel_version: String,
    /// `containerRuntimeVersion`, e.g. `containerd://2.1.5`.
    pub container_runtime_version: String,
    /// `kubeletVersion`, e.g. `v1.33.4-eks-abc`.
    pub kubelet_version: String,
    /// `architecture`, e.g. `amd64`.
    pub architecture: String,
    /// `operatingSystem`, e.g. `linux`.
    pub operating_system: String,
}

/// A `sysbox-deploy-k8s` installer image tag and what it supports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SysboxRelease {
    /// The tag as given, e.g. `v0.7.1-0`.
    pub tag: String,
    /// The Sysbox version the tag names, if it could be read.
    pub version: Option<(u32, u32, u32)>,
    /// Oldest and newest supported Kubernetes minor (`1.x`), when known.
    pub kubernetes_minors: Option<(u32, u32)>,
}

impl SysboxRelease {
    /// Reads an installer image tag; unknown or unreadable tags give a
    /// release with no known Kubernetes range (never an error).
    pub fn from_tag(tag: &str) -> Self {
        let version = parse_triple(tag.trim().trim_start_matches('v'));
        let kubernetes_minors = match version {
            Some((0, 7, _)) => Some((32, 35)),
            Some((0, 6, _)) => Some((28, 31)),
            _ => None,
        };
        Self {
            tag: tag.to_owned(),
            version,
            kubernetes_minors,
        }
    }

    /// Whether this release configures containerd itself instead of
    /// switching the node to CRI-O (new in v0.7.0).
    fn configures_containerd(&self) -> bool {
        self.version.is_some_and(|v| v >= (0, 7, 0))
    }
}

/// How much a [`Reason`] matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// Sysbox will not work (or will not install) on this node.
    Blocking,
    /// Sysbox works, but the user should know this.
    Note,
}

/// One finding, phrased so the user can act on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reason {
    /// Whether this finding makes the node unsupported.
    pub severity: Severity,
    /// A sentence naming the fact and what to do.
    pub message: String,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The outcome of checking a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// True when no reason is [`Severity::Blocking`].
    pub supported: bool,
    /// Every finding, blocking ones and notes, in checking order.
    pub reasons: Vec<Reason>,
}

impl Verdict {
    fn from_reasons(reasons: Vec<Reason>) -> Self {
        let supported = reasons.iter().all(|r| r.severity == Severity::Note);
        Self { supported, reasons }
    }
}

/// A node's distribution, as read from `osImage`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Distro {
    /// Ubuntu 24.04 Noble.
    Ubuntu2404,
    /// Ubuntu 22.04 Jammy.
    Ubuntu2204,
    /// Ubuntu 20.04 Focal.
    Ubuntu2004,
    /// Ubuntu 18.04 Bionic.
    Ubuntu1804,
    /// Debian 10 or 11.
    Debian,
    /// Fedora, Rocky, Alma, CentOS Stream or RHEL.
    RhelFamily,
    /// Amazon Linux 2.
    AmazonLinux2,
    /// Amazon Linux 2023.
    AmazonLinux2023,
    /// Flatcar Container Linux.
    Flatcar,
    /// Bottlerocket.
    Bottlerocket,
}

/// Whether a distro has shiftfs, which Sysbox needs below kernel 5.12 and
/// cached CVMs need always.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shiftfs {
    /// Available (the installer can build it with DKMS).
    Available,
    /// Only the deprecated Sysbox Enterprise Edition shipped it.
    EnterpriseOnly,
    /// Not available for this distro at all.
    Unavailable,
}

/// One row of the distro table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DistroRule {
    /// Which distro the row is about.
    pub distro: Distro,
    /// How messages name it.
    pub name: &'static str,
    /// Oldest kernel Sysbox supports on it, when it has one.
    pub min_kernel: Option<MajorMinor>,
    /// Whether shiftfs exists for it.
    pub shiftfs: Shiftfs,
    /// Whether `sysbox-deploy-k8s` installs on it.
    pub installer_supported: bool,
}

/// Sysbox's distro compatibility, one row per distro (docs/distro-compat.md
/// at v0.7.0; Bottlerocket is absent there, so unsupported).
pub const DISTRO_RULES: &[DistroRule] = &[
    row(
        Distro::Ubuntu2404,
        "Ubuntu 24.04",
        Some((6, 8)),
        Shiftfs::Available,
        true,
    ),
    row(
        Distro::Ubuntu2204,
        "Ubuntu 22.04",
        Some((5, 15)),
        Shiftfs::Available,
        true,
    ),
    row(
        Distro::Ubuntu2004,
        "Ubuntu 20.04",
        Some((5, 4)),
        Shiftfs::Available,
        true,
    ),
    row(
        Distro::Ubuntu1804,
        "Ubuntu 18.04",
        Some((5, 3)),
        Shiftfs::Available,
        true,
    ),
    row(
        Distro::Debian,
        "Debian",
        Some((5, 5)),
        Shiftfs::Available,
        false,
    ),
    row(
        Distro::RhelFamily,
        "RHEL-family Linux",
        Some((5, 12)),
        Shiftfs::Unavailable,
        false,
    ),
    row(
        Distro::AmazonLinux2,
        "Amazon Linux 2",
        Some((5, 12)),
        Shiftfs::Unavailable,
        false,
    ),
    row(
        Distro::AmazonLinux2023,
        "Amazon Linux 2023",
        Some((6, 1)),
        Shiftfs::Unavailable,
        false,
    ),
    row(
        Distro::Flatcar,
        "Flatcar",
        Some((5, 10)),
        Shiftfs::EnterpriseOnly,
        true,
    ),
    row(
        Distro::Bottlerocket,
        "Bottlerocket",
        None,
        Shiftfs::Unavailable,
        false,
    ),
];

const fn row(
    distro: Distro,
    name: &'static str,
    min_kernel: Option<MajorMinor>,
    shiftfs: Shiftfs,
    installer_supported: bool,
) -> DistroRule {
    DistroRule {
        distro,
        name,
        min_kernel,
        shiftfs,
        installer_supported,
    }
}

/// The table row for `distro`.
pub fn rule_for(distro: Distro) -> Option<&'static DistroRule> {
    DISTRO_RULES.iter().find(|r| r.distro == distro)
}

/// Why a node string could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FactError {
    /// `osImage` names no distro Sysbox knows.
    #[error("Sysbox does not support the OS image {0:?}; use Ubuntu 20.04, 22.04 or 24.04")]
    UnknownDistro(String),
    /// An Ubuntu release outside the supported ones.
    #[error("Ubuntu {0} is not a Sysbox release; use Ubuntu 20.04, 22.04 or 24.04")]
    UnknownUbuntu(String),
    /// `kernelVersion` has no `major.minor`.
    #[error("could not read the kernel version {0:?} (expected something like 5.15.0-1019-aws)")]
    Kernel(String),
    /// `kubeletVersion` has no `v1.minor`.
    #[error("could not read the kubelet version {0:?} (expected something like v1.33.4)")]
    Kubelet(String),
    /// `containerRuntimeVersion` is not `name://version`.
    #[error(
        "could not read the container runtime version {0:?} (expected something like containerd://2.1.5)"
    )]
    Runtime(String),
}

/// Reads the distro from an `osImage` such as `Ubuntu 22.04.5 LTS`.
pub fn parse_distro(os_image: &str) -> Result<Distro, FactError> {
    let text = os_image.trim();
    let lower = text.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix("ubuntu") {
        let release = rest.split_whitespace().next().unwrap_or_default();
        let major_minor = parse_major_minor(release);
        return match major_minor {
            Some((24, 4)) => Ok(Distro::Ubuntu2404),
            Some((22, 4)) => Ok(Distro::Ubuntu2204),
            Some((20, 4)) => Ok(Distro::Ubuntu2004),
            Some((18, 4)) => Ok(Distro::Ubuntu1804),
            _ if release.is_empty() => Err(FactError::UnknownUbuntu("(no release)".to_owned())),
            _ => Err(FactError::UnknownUbuntu(release.to_owned())),
        };
    }
    // Order matters: "Amazon Linux 2023" also starts with "Amazon Linux 2".
    let prefixes: &[(&str, Distro)] = &[
        ("amazon linux 2023", Distro::AmazonLinux2023),
        ("amazon linux 2", Distro::AmazonLinux2),
        ("bottlerocket", Distro::Bottlerocket),
        ("flatcar", Distro::Flatcar),
        ("debian", Distro::Debian),
        ("red hat", Distro::RhelFamily),
        ("rhel", Distro::RhelFamily),
        ("rocky", Distro::RhelFamily),
        ("almalinux", Distro::RhelFamily),
        ("centos", Distro::RhelFamily),
        ("fedora", Distro::RhelFamily),
    ];
    prefixes
        .iter()
        .find(|(prefix, _)| lower.starts_with(prefix))
        .map(|(_, distro)| *distro)
        .ok_or_else(|| FactError::UnknownDistro(text.to_owned()))
}

/// Reads `major.minor` from a kernel release such as `5.15.0-1019-aws`.
pub fn parse_kernel(kernel_version: &str) -> Result<MajorMinor, FactError> {
    parse_major_minor(kernel_version.trim())
        .ok_or_else(|| FactError::Kernel(kernel_version.to_owned()))
}

/// Reads the Kubernetes minor from a kubelet version such as
/// `v1.33.4-eks-abc` (only Kubernetes 1.x exists).
pub fn parse_kubelet_minor(kubelet_version: &str) -> Result<u32, FactError> {
    match parse_major_minor(kubelet_version.trim().trim_start_matches('v')) {
        Some((1, minor)) => Ok(minor),
        _ => Err(FactError::Kubelet(kubelet_version.to_owned())),
    }
}

/// Splits a `containerRuntimeVersion` such as `containerd://2.1.5` into the
/// runtime name and its `major.minor.patch` (missing parts read as 0).
pub fn parse_runtime(runtime_version: &str) -> Result<(String, (u32, u32, u32)), FactError> {
    let error = || FactError::Runtime(runtime_version.to_owned());
    let (name, version) = runtime_version.trim().split_once("://").ok_or_else(error)?;
    if name.is_empty() {
        return Err(error());
    }
    let version = parse_triple(version.trim_start_matches('v')).ok_or_else(error)?;
    Ok((name.to_ascii_lowercase(), version))
}

/// `major.minor` from the start of `text`; anything after the minor's
/// digits (`.0-1019-aws`, `-eks`) is ignored.
fn parse_major_minor(text: &str) -> Option<MajorMinor> {
    let (major, rest) = text.split_once('.')?;
    Some((major.parse().ok()?, leading_number(rest)?))
}

/// `major.minor[.patch]` from the start of `text`, patch 0 when absent.
fn parse_triple(text: &str) -> Option<(u32, u32, u32)> {
    let (major, minor) = parse_major_minor(text)?;
    let patch = text
        .splitn(3, '.')
        .nth(2)
        .and_then(leading_number)
        .unwrap_or(0);
    Some((major, minor, patch))
}

/// The decimal number `text` starts with, if any.
fn leading_number(text: &str) -> Option<u32> {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    text[..end].parse().ok()
}

fn blocking(message: impl Into<String>) -> Reason {
    Reason {
        severity: Severity::Blocking,
        message: message.into(),
    }
}

fn note(message: impl Into<String>) -> Reason {
    Reason {
        severity: Severity::Note,
        message: message.into(),
    }
}

fn show(version: MajorMinor) -> String {
    format!("{}.{}", version.0, version.1)
}

/// Checks every fact of a node against `release`; `want_caching` adds the
/// shiftfs requirement of cached CVMs.
pub fn check_node(facts: &NodeFacts, release: &SysboxRelease, want_caching: bool) -> Verdict {
    let mut reasons = Vec::new();
    check_platform(facts, &mut reasons);
    distro_and_kernel_reasons(
        &facts.os_image,
        &facts.kernel_version,
        want_caching,
        &mut reasons,
    );
    kubernetes_reasons(&facts.kubelet_version, release, &mut reasons);
    runtime_reasons(&facts.container_runtime_version, release, &mut reasons);
    Verdict::from_reasons(reasons)
}

/// Checks only the distro and kernel (what the `sysbox_supported` function
/// is given); architecture, runtime and Kubernetes version are not looked at.
pub fn check_os_and_kernel(os_image: &str, kernel_version: &str, want_caching: bool) -> Verdict {
    let mut reasons = Vec::new();
    distro_and_kernel_reasons(os_image, kernel_version, want_caching, &mut reasons);
    Verdict::from_reasons(reasons)
}

fn check_platform(facts: &NodeFacts, reasons: &mut Vec<Reason>) {
    let os = facts.operating_system.trim();
    if !os.eq_ignore_ascii_case("linux") {
        reasons.push(blocking(format!(
            "Sysbox runs only on Linux nodes; this node reports operating system {os:?}"
        )));
    }
    match facts.architecture.trim() {
        "amd64" | "arm64" => {}
        other => reasons.push(blocking(format!(
            "Sysbox supports only amd64 and arm64 nodes; this node is {other:?}"
        ))),
    }
}

fn distro_and_kernel_reasons(
    os_image: &str,
    kernel_version: &str,
    want_caching: bool,
    reasons: &mut Vec<Reason>,
) {
    let rule = match parse_distro(os_image) {
        Ok(distro) => rule_for(distro),
        Err(e) => {
            reasons.push(blocking(e.to_string()));
            None
        }
    };
    let kernel = match parse_kernel(kernel_version) {
        Ok(k) => Some(k),
        Err(e) => {
            reasons.push(blocking(e.to_string()));
            None
        }
    };
    let Some(rule) = rule else { return };
    if !rule.installer_supported {
        reasons.push(blocking(format!(
            "{} is not supported by the Sysbox Kubernetes installer; use Ubuntu 22.04 or 24.04 nodes",
            rule.name
        )));
    }
    let Some(kernel) = kernel else { return };
    if let Some(min) = rule.min_kernel
        && kernel < min
    {
        reasons.push(blocking(format!(
            "{} needs kernel {} or later; this node runs {}",
            rule.name,
            show(min),
            show(kernel)
        )));
    }
    shiftfs_reasons(rule, kernel, want_caching, reasons);
}

fn shiftfs_reasons(
    rule: &DistroRule,
    kernel: MajorMinor,
    want_caching: bool,
    reasons: &mut Vec<Reason>,
) {
    let buildable = kernel >= SHIFTFS_BUILD_RANGE.0 && kernel <= SHIFTFS_BUILD_RANGE.1;
    let k = show(kernel);
    if kernel < IDMAPPED_MOUNTS {
        match rule.shiftfs {
            Shiftfs::Available if buildable => reasons.push(note(format!(
                "kernel {k} is below 5.12: Sysbox needs the shiftfs module, which Ubuntu cloud \
                 images do not ship; the installer builds it with DKMS, which needs kernel headers \
                 and fails under Secure Boot (check with `modinfo shiftfs`)"
            ))),
            Shiftfs::Available => reasons.push(note(format!(
                "kernel {k} is below 5.12: Sysbox needs the shiftfs module and the installer \
                 cannot build it for this kernel; install shiftfs yourself or use kernel 5.12 or later"
            ))),
            Shiftfs::EnterpriseOnly => reasons.push(blocking(format!(
                "kernel {k} is below 5.12: Sysbox needs the shiftfs module, which Sysbox CE does not \
                 provide for {}; use kernel 5.12 or later",
                rule.name
            ))),
            Shiftfs::Unavailable => reasons.push(blocking(format!(
                "kernel {k} is below 5.12: Sysbox needs the shiftfs module, which does not exist \
                 for {}; use kernel 5.12 or later",
                rule.name
            ))),
        }
    } else if kernel < SHIFTFS_RECOMMENDED_BELOW
        && rule.shiftfs == Shiftfs::Available
        && !want_caching
    {
        reasons.push(note(format!(
            "kernel {k} has ID-mapped mounts, but not on every filesystem; shiftfs is recommended below 5.19"
        )));
    }
    if rule.shiftfs == Shiftfs::EnterpriseOnly {
        reasons.push(note(format!(
            "shiftfs for {} shipped only with the deprecated Sysbox Enterprise Edition, so Sysbox CE relies on ID-mapped mounts there",
            rule.name
        )));
    }
    if !want_caching {
        return;
    }
    // Cached CVMs need shiftfs whatever the kernel.
    match rule.shiftfs {
        Shiftfs::Available if buildable => reasons.push(note(format!(
            "cached CVMs need the shiftfs module: the installer builds it for kernel {k} with DKMS \
             (needs kernel headers, fails under Secure Boot); check with `modinfo shiftfs`"
        ))),
        Shiftfs::Available => reasons.push(blocking(format!(
            "cached CVMs need the shiftfs module, which is built only for kernels 5.4 to 6.2; this \
             node runs {k}: disable caching or use a node image that ships shiftfs"
        ))),
        Shiftfs::EnterpriseOnly | Shiftfs::Unavailable => reasons.push(blocking(format!(
            "cached CVMs need the shiftfs module, which is not available for {}; disable caching \
             or use Ubuntu nodes",
            rule.name
        ))),
    }
}

fn kubernetes_reasons(kubelet_version: &str, release: &SysboxRelease, reasons: &mut Vec<Reason>) {
    let minor = match parse_kubelet_minor(kubelet_version) {
        Ok(m) => m,
        Err(e) => {
            reasons.push(blocking(e.to_string()));
            return;
        }
    };
    match release.kubernetes_minors {
        Some((oldest, newest)) if minor < oldest || minor > newest => reasons.push(blocking(format!(
            "Kubernetes 1.{minor} is outside the versions sysbox-deploy-k8s {} supports (1.{oldest}–1.{newest})",
            release.tag
        ))),
        Some(_) => {}
        None => reasons.push(note(format!(
            "sysbox-deploy-k8s {:?} is not a release this provider knows (v0.6.x, v0.7.x), so Kubernetes 1.{minor} was not checked against it",
            release.tag
        ))),
    }
}

fn runtime_reasons(runtime_version: &str, release: &SysboxRelease, reasons: &mut Vec<Reason>) {
    let (name, version) = match parse_runtime(runtime_version) {
        Ok(parsed) => parsed,
        Err(e) => {
            reasons.push(blocking(e.to_string()));
            return;
        }
    };
    let shown = format!("{}.{}", version.0, version.1);
    match name.as_str() {
        "containerd" => {
            if release.version == Some((0, 7, 0)) && version.0 >= 2 {
                reasons.push(blocking(
                    "Sysbox v0.7.0 with containerd 2.x fails to start pods (mount through procfd); use v0.7.1",
                ));
            } else if !release.configures_containerd() || version < CONTAINERD_DIRECT {
                reasons.push(note(format!(
                    "containerd {shown} means the installer switches the node to CRI-O and restarts the kubelet"
                )));
            }
        }
        "cri-o" => reasons.push(note(
            "the node already runs CRI-O (perhaps from an earlier Sysbox install); the installer keeps it",
        )),
        other => reasons.push(blocking(format!(
            "the Sysbox installer works only with containerd or CRI-O; this node runs {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os_kernel(os: &str, kernel: &str) -> Verdict {
        check_os_and_kernel(os, kernel, false)
    }

    fn has(verdict: &Verdict, severity: Severity, text: &str) -> bool {
        verdict
            .reasons
            .iter()
            .any(|r| r.severity == severity && r.message.contains(text))
    }

    fn node(os: &str, kernel: &str, runtime: &str, kubelet: &str, arch: &str) -> NodeFacts {
        NodeFacts {
            os_image: os.into(),
            kernel_version: kernel.into(),
            container_runtime_version: runtime.into(),
            kubelet_version: kubelet.into(),
            architecture: arch.into(),
            operating_system: "linux".into(),
        }
    }

    fn good(os: &str, kernel: &str) -> NodeFacts {
        node(os, kernel, "containerd://2.1.5", "v1.33.4-eks-abc", "amd64")
    }

    fn v071() -> SysboxRelease {
        SysboxRelease::from_tag("v0.7.1-0")
    }

    // One test per table row: at the minimum kernel and just below it.

    #[test]
    fn row_ubuntu_2404() {
        assert!(os_kernel("Ubuntu 24.04.1 LTS", "6.8.0-1021-aws").supported);
        let v = os_kernel("Ubuntu 24.04 LTS", "6.7.0");
        assert!(has(
            &v,
            Severity::Blocking,
            "Ubuntu 24.04 needs kernel 6.8 or later; this node runs 6.7"
        ));
    }

    #[test]
    fn row_ubuntu_2204() {
        assert!(os_kernel("Ubuntu 22.04.5 LTS", "5.15.0-1019-aws").supported);
        assert!(!os_kernel("Ubuntu 22.04.5 LTS", "5.14.0").supported);
    }

    #[test]
    fn row_ubuntu_2004() {
        assert!(os_kernel("Ubuntu 20.04.6 LTS", "5.4.0-1100-aws").supported);
        let v = os_kernel("Ubuntu 20.04.6 LTS", "5.3.0-generic");
        assert!(has(
            &v,
            Severity::Blocking,
            "Ubuntu 20.04 needs kernel 5.4 or later; this node runs 5.3"
        ));
    }

    #[test]
    fn row_ubuntu_1804() {
        assert!(os_kernel("Ubuntu 18.04.6 LTS", "5.3.0-1035-aws").supported);
        assert!(!os_kernel("Ubuntu 18.04.6 LTS", "5.2.0").supported);
    }

    #[test]
    fn row_debian() {
        let v = os_kernel("Debian GNU/Linux 11 (bullseye)", "5.10.0-28-cloud-amd64");
        assert!(has(
            &v,
            Severity::Blocking,
            "Debian is not supported by the Sysbox Kubernetes installer"
        ));
        assert!(!has(&v, Severity::Blocking, "needs kernel"));
        let v = os_kernel("Debian GNU/Linux 10 (buster)", "5.4.0");
        assert!(has(
            &v,
            Severity::Blocking,
            "Debian needs kernel 5.5 or later"
        ));
    }

    #[test]
    fn row_rhel_family() {
        for os in [
            "Rocky Linux 9.4 (Blue Onyx)",
            "Red Hat Enterprise Linux 9.4",
            "Fedora Linux 40",
            "AlmaLinux 9.4",
            "CentOS Stream 9",
        ] {
            let v = os_kernel(os, "5.14.0-427.el9.x86_64");
            assert!(
                has(&v, Severity::Blocking, "RHEL-family Linux is not supported"),
                "{os}"
            );
            assert!(!has(&v, Severity::Blocking, "needs kernel"), "{os}");
        }
        let v = os_kernel("Rocky Linux 8.10", "4.18.0-553.el8");
        assert!(has(
            &v,
            Severity::Blocking,
            "needs kernel 5.12 or later; this node runs 4.18"
        ));
    }

    #[test]
    fn row_amazon_linux_2() {
        let v = os_kernel("Amazon Linux 2", "5.10.225-213.878.amzn2.x86_64");
        assert!(!v.supported);
        assert!(has(
            &v,
            Severity::Blocking,
            "Amazon Linux 2 is not supported by the Sysbox Kubernetes installer"
        ));
        assert!(has(
            &v,
            Severity::Blocking,
            "Amazon Linux 2 needs kernel 5.12 or later; this node runs 5.10"
        ));
        let v = os_kernel("Amazon Linux 2", "5.15.0");
        assert!(!has(&v, Severity::Blocking, "needs kernel"));
    }

    #[test]
    fn row_amazon_linux_2023() {
        let v = os_kernel(
            "Amazon Linux 2023.6.20241010",
            "6.1.109-118.189.amzn2023.x86_64",
        );
        assert!(has(
            &v,
            Severity::Blocking,
            "Amazon Linux 2023 is not supported"
        ));
        assert!(!has(&v, Severity::Blocking, "needs kernel"));
        let v = os_kernel("Amazon Linux 2023", "6.0.0");
        assert!(has(
            &v,
            Severity::Blocking,
            "Amazon Linux 2023 needs kernel 6.1 or later"
        ));
    }

    #[test]
    fn row_flatcar() {
        let v = os_kernel(
            "Flatcar Container Linux by Kinvolk 3975.2.2 (Oklo)",
            "6.6.60-flatcar",
        );
        assert!(v.supported);
        assert!(has(&v, Severity::Note, "Enterprise Edition"));
        let v = os_kernel(
            "Flatcar Container Linux by Kinvolk 2905.2.0",
            "5.10.0-flatcar",
        );
        assert!(has(
            &v,
            Severity::Blocking,
            "Sysbox CE does not provide for Flatcar"
        ));
        let v = os_kernel("Flatcar Container Linux", "5.9.0");
        assert!(has(
            &v,
            Severity::Blocking,
            "Flatcar needs kernel 5.10 or later"
        ));
    }

    #[test]
    fn row_bottlerocket() {
        let v = os_kernel("Bottlerocket OS 1.26.2 (aws-k8s-1.31)", "6.1.112");
        assert!(has(
            &v,
            Severity::Blocking,
            "Bottlerocket is not supported by the Sysbox Kubernetes installer"
        ));
    }

    #[test]
    fn every_row_is_reachable_from_an_os_image() {
        assert_eq!(DISTRO_RULES.len(), 10);
        for rule in DISTRO_RULES {
            assert_eq!(rule_for(rule.distro), Some(rule));
        }
    }

    #[test]
    fn ubuntu_2004_kernel_54_needs_shiftfs() {
        let v = os_kernel("Ubuntu 20.04.6 LTS", "5.4.0-1103-aws");
        assert!(v.supported);
        assert!(has(
            &v,
            Severity::Note,
            "kernel 5.4 is below 5.12: Sysbox needs the shiftfs module, which Ubuntu cloud images do not ship"
        ));
    }

    #[test]
    fn ubuntu_2004_kernel_515_uses_idmapped_mounts() {
        let v = os_kernel("Ubuntu 20.04.6 LTS", "5.15.0-1072-aws");
        assert!(v.supported);
        assert!(!has(&v, Severity::Note, "needs the shiftfs"));
        assert!(has(&v, Severity::Note, "shiftfs is recommended"));
    }

    #[test]
    fn ubuntu_2204_with_515_and_68() {
        assert!(os_kernel("Ubuntu 22.04.5 LTS", "5.15.0-1019-aws").supported);
        let v = os_kernel("Ubuntu 22.04.5 LTS", "6.8.0-1021-aws");
        assert!(v.supported);
        assert!(v.reasons.is_empty(), "{:?}", v.reasons);
    }

    #[test]
    fn full_node_ubuntu_2404_68_is_clean() {
        let v = check_node(
            &good("Ubuntu 24.04.1 LTS", "6.8.0-1021-aws"),
            &v071(),
            false,
        );
        assert!(v.supported);
        assert!(v.reasons.is_empty(), "{:?}", v.reasons);
    }

    #[test]
    fn caching_needs_buildable_shiftfs() {
        let v = check_node(
            &good("Ubuntu 22.04.5 LTS", "5.15.0-1019-aws"),
            &v071(),
            true,
        );
        assert!(v.supported);
        assert!(has(
            &v,
            Severity::Note,
            "cached CVMs need the shiftfs module"
        ));
        let v = check_node(&good("Ubuntu 24.04.1 LTS", "6.8.0-1021-aws"), &v071(), true);
        assert!(has(
            &v,
            Severity::Blocking,
            "cached CVMs need the shiftfs module, which is built only for kernels 5.4 to 6.2"
        ));
        let v = check_os_and_kernel("Amazon Linux 2023", "6.1.0", true);
        assert!(has(
            &v,
            Severity::Blocking,
            "not available for Amazon Linux 2023"
        ));
    }

    #[test]
    fn arm64_is_fine_and_s390x_is_refused() {
        let ok = node(
            "Ubuntu 22.04.5 LTS",
            "6.8.0-1021-aws",
            "containerd://2.1.5",
            "v1.33.4",
            "arm64",
        );
        assert!(check_node(&ok, &v071(), false).supported);
        let bad = NodeFacts {
            architecture: "s390x".into(),
            ..ok
        };
        let v = check_node(&bad, &v071(), false);
        assert!(has(&v, Severity::Blocking, "only amd64 and arm64"));
        let windows = NodeFacts {
            operating_system: "windows".into(),
            ..good("Ubuntu 22.04.5 LTS", "6.8.0")
        };
        assert!(!check_node(&windows, &v071(), false).supported);
    }

    #[test]
    fn kubernetes_version_must_be_in_the_release_range() {
        let mut facts = good("Ubuntu 22.04.5 LTS", "6.8.0-1021-aws");
        facts.kubelet_version = "v1.30.2-eks-1552ad0".into();
        let v = check_node(&facts, &v071(), false);
        assert!(has(
            &v,
            Severity::Blocking,
            "Kubernetes 1.30 is outside the versions sysbox-deploy-k8s v0.7.1-0 supports (1.32–1.35)"
        ));
        let v = check_node(&facts, &SysboxRelease::from_tag("v0.6.7-0"), false);
        assert!(!has(&v, Severity::Blocking, "Kubernetes"));
        facts.kubelet_version = "v1.36.0".into();
        assert!(!check_node(&facts, &v071(), false).supported);
        let v = check_node(&facts, &SysboxRelease::from_tag("latest"), false);
        assert!(v.supported);
        assert!(has(
            &v,
            Severity::Note,
            "\"latest\" is not a release this provider knows"
        ));
    }

    #[test]
    fn containerd_17_switches_to_crio() {
        let mut facts = good("Ubuntu 22.04.5 LTS", "6.8.0-1021-aws");
        facts.container_runtime_version = "containerd://1.7.27".into();
        let v = check_node(&facts, &v071(), false);
        assert!(v.supported);
        assert!(has(
            &v,
            Severity::Note,
            "containerd 1.7 means the installer switches the node to CRI-O and restarts the kubelet"
        ));
        facts.container_runtime_version = "containerd://2.0.4".into();
        assert!(has(
            &check_node(&facts, &v071(), false),
            Severity::Note,
            "CRI-O"
        ));
        facts.container_runtime_version = "containerd://2.0.5".into();
        assert!(check_node(&facts, &v071(), false).reasons.is_empty());
    }

    #[test]
    fn v070_with_containerd_2_is_blocking() {
        let facts = good("Ubuntu 24.04.1 LTS", "6.8.0-1021-aws");
        let v = check_node(&facts, &SysboxRelease::from_tag("v0.7.0-0"), false);
        assert!(has(
            &v,
            Severity::Blocking,
            "Sysbox v0.7.0 with containerd 2.x fails to start pods (mount through procfd); use v0.7.1"
        ));
    }

    #[test]
    fn other_runtimes() {
        let mut facts = good("Ubuntu 22.04.5 LTS", "6.8.0");
        facts.container_runtime_version = "cri-o://1.32.1".into();
        assert!(check_node(&facts, &v071(), false).supported);
        facts.container_runtime_version = "docker://24.0.7".into();
        assert!(!check_node(&facts, &v071(), false).supported);
    }

    #[test]
    fn garbage_is_blocking_never_a_panic() {
        let facts = NodeFacts {
            os_image: "??".into(),
            kernel_version: "linux".into(),
            container_runtime_version: "containerd".into(),
            kubelet_version: "v2.x".into(),
            architecture: String::new(),
            operating_system: "linux".into(),
        };
        let v = check_node(&facts, &SysboxRelease::from_tag("ü.☃"), true);
        assert!(!v.supported);
        for text in [
            "OS image",
            "kernel version",
            "kubelet version",
            "container runtime version",
            "amd64",
        ] {
            assert!(has(&v, Severity::Blocking, text), "{text}: {:?}", v.reasons);
        }
        let v = os_kernel("Ubuntu", "");
        assert!(has(&v, Severity::Blocking, "(no release)"));
        assert!(has(
            &v,
            Severity::Blocking,
            "could not read the kernel version"
        ));
        assert!(!os_kernel("Ubuntu 23.10", "6.5.0").supported);
        for weird in [
            "",
            ".",
            "5.",
            ".5",
            "99999999999.1",
            "5.15",
            "v1.",
            "://1.2",
            "x://",
        ] {
            let _ = check_node(
                &node(weird, weird, weird, weird, weird),
                &SysboxRelease::from_tag(weird),
                true,
            );
        }
    }

    #[test]
    fn parsing_helpers() {
        assert_eq!(parse_kernel("5.15.0-1019-aws"), Ok((5, 15)));
        assert_eq!(parse_kernel("6.1.109-118.189.amzn2023.x86_64"), Ok((6, 1)));
        assert_eq!(parse_kubelet_minor("v1.33.4-eks-abc"), Ok(33));
        assert_eq!(
            parse_runtime("containerd://1.7.27-k3s1"),
            Ok(("containerd".into(), (1, 7, 27)))
        );
        assert_eq!(
            parse_runtime("containerd://2.1"),
            Ok(("containerd".into(), (2, 1, 0)))
        );
        assert_eq!(parse_distro("Ubuntu 22.04.5 LTS"), Ok(Distro::Ubuntu2204));
        assert_eq!(
            parse_distro("Amazon Linux 2023.6"),
            Ok(Distro::AmazonLinux2023)
        );
        assert_eq!(SysboxRelease::from_tag("v0.7.1-0").version, Some((0, 7, 1)));
    }
}
