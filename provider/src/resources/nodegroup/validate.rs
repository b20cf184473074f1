//! Plan-time checks of a `cvm_nodegroup` configuration, each reported on
//! the attribute it is about; unknown values are left for later.

use tf_protocol::value::Attr;
use tf_protocol::{AttributePath, Diagnostics};

use super::model::{NodegroupModel, ScalingModel, TaintModel, UpdateConfigModel};
use super::{MAX_NAME_LENGTH, NAME_SUFFIX_LENGTH, OWNER_TAG, TAINT_EFFECTS};
use crate::aws::ami::{DEFAULT_ARCHITECTURE, DEFAULT_UBUNTU_RELEASE, validate_release};
use crate::aws::instance_types::{architecture_of, is_instance_type};
use crate::kube::labels::{check_label_key, check_label_value};
use crate::sysbox::compatibility::{Severity, check_os_and_kernel};

/// The oldest (GA) kernel of each Ubuntu release, which is what Sysbox is
/// checked against: Canonical's EKS images may ship a newer (HWE or
/// `linux-aws`) kernel, never an older one.
const UBUNTU_KERNELS: &[(&str, &str, &str)] = &[
    ("20.04", "Ubuntu 20.04 LTS", "5.4.0"),
    ("22.04", "Ubuntu 22.04 LTS", "5.15.0"),
    ("24.04", "Ubuntu 24.04 LTS", "6.8.0"),
];

/// Node labels the Sysbox installer sets and removes itself (its install
/// state): a configured value would fight it.
const SYSBOX_INSTALLER_LABELS: &[&str] = &["sysbox-runtime", "crio-runtime"];
/// The taint key the Sysbox installer adds while it works.
const SYSBOX_INSTALLER_TAINT: &str = "sysbox-runtime";
/// Largest size EKS's API carries (its sizes are 32-bit integers).
const MAX_SIZE: i64 = i32::MAX as i64;
/// AWS tag limits: tags per resource, key and value lengths.
const MAX_TAGS: usize = 50;
const MAX_TAG_KEY_LENGTH: usize = 128;
const MAX_TAG_VALUE_LENGTH: usize = 256;
/// Longest EKS cluster name.
const MAX_CLUSTER_NAME_LENGTH: usize = 100;

/// Whether `name` is a valid node group name; why not otherwise.
fn check_name(name: &str, max: usize) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if name.len() > max {
        return Err(format!(
            "must be at most {max} characters long; {name:?} has {}",
            name.len()
        ));
    }
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !first_ok || !rest_ok {
        return Err(format!(
            "must start with a letter or digit and contain only letters, digits, '-' and '_'; got {name:?}"
        ));
    }
    Ok(())
}

/// Checks of the configuration with attribute paths; unknown values are
/// skipped.
pub(super) fn check_config(config: &NodegroupModel, diagnostics: &mut Diagnostics) {
    match (&config.name, &config.name_prefix) {
        (Attr::Known(_), Attr::Known(_)) => diagnostics.attribute_error(
            AttributePath::attr("name_prefix"),
            "Conflicting Names",
            "Set name or name_prefix, not both.",
        ),
        (Attr::Known(name), _) => {
            if let Err(reason) = check_name(name, MAX_NAME_LENGTH) {
                diagnostics.attribute_error(
                    AttributePath::attr("name"),
                    "Invalid Node Group Name",
                    format!("name {reason}."),
                );
            }
        }
        (_, Attr::Known(prefix)) => {
            if let Err(reason) = check_name(prefix, MAX_NAME_LENGTH - NAME_SUFFIX_LENGTH) {
                diagnostics.attribute_error(
                    AttributePath::attr("name_prefix"),
                    "Invalid Node Group Name Prefix",
                    format!(
                        "name_prefix {reason} ({NAME_SUFFIX_LENGTH} random characters are appended)."
                    ),
                );
            }
        }
        _ => {}
    }

    if let Attr::Known(cluster) = &config.cluster_name
        && let Err(reason) = check_name(cluster, MAX_CLUSTER_NAME_LENGTH)
    {
        diagnostics.attribute_error(
            AttributePath::attr("cluster_name"),
            "Invalid Cluster Name",
            format!("cluster_name {reason} (EKS cluster names are at most 100 of those)."),
        );
    }

    if let Some(scaling) = &config.scaling {
        check_scaling(scaling, diagnostics);
    }

    if let Attr::Known(subnets) = &config.subnet_ids {
        for subnet in subnets {
            if !is_aws_id(subnet, "subnet-") {
                diagnostics.attribute_error(
                    AttributePath::attr("subnet_ids"),
                    "Invalid Subnet Id",
                    format!(
                        "{subnet:?} is not a subnet id: subnet ids are \"subnet-\" and 8 or 17 \
                         hexadecimal digits, e.g. subnet-0123456789abcdef0."
                    ),
                );
            }
        }
    }

    if let Attr::Known(types) = &config.instance_types {
        check_instance_types(types, &config.architecture, diagnostics);
    }

    if let Attr::Known(tags) = &config.tags {
        check_tags(tags, diagnostics);
    }

    if let Attr::Known(labels) = &config.labels {
        for (key, value) in labels {
            if SYSBOX_INSTALLER_LABELS.contains(&key.as_str()) {
                diagnostics.attribute_error(
                    AttributePath::attr("labels").key(key.clone()),
                    "Label Owned by the Sysbox Installer",
                    format!(
                        "The Sysbox installer sets and removes the {key:?} label itself to \
                         report its progress; remove it from labels (the installer's own \
                         labels are {}).",
                        SYSBOX_INSTALLER_LABELS.join(", ")
                    ),
                );
                continue;
            }
            if check_label_key(key).is_err() || check_label_value(value).is_err() {
                diagnostics.attribute_error(
                    AttributePath::attr("labels").key(key.clone()),
                    "Invalid Kubernetes Label",
                    format!(
                        "Label {key:?}={value:?} is not a valid Kubernetes label: keys are an \
                         optional DNS prefix and '/', then at most 63 letters, digits, '-', '_' \
                         or '.'; values are at most 63 of those, starting and ending with a \
                         letter or digit."
                    ),
                );
            }
        }
    }

    if let Attr::Known(taints) = &config.taints {
        check_taints(taints, diagnostics);
    }

    if let Attr::Known(update_config) = &config.update_config {
        check_update_config(update_config, diagnostics);
    }

    validate_release(
        &config.ubuntu_release,
        &config.pro,
        &config.kubernetes_version,
        AttributePath::attr("ubuntu_release"),
        AttributePath::attr("kubernetes_version"),
        diagnostics,
    );

    if config.install_sysbox != Attr::Known(false) {
        match &config.ubuntu_release {
            Attr::Known(release) => check_sysbox_release(release, diagnostics),
            Attr::Null => check_sysbox_release(DEFAULT_UBUNTU_RELEASE, diagnostics),
            Attr::Unknown => {}
        }
    }
}

fn check_scaling(scaling: &ScalingModel, diagnostics: &mut Diagnostics) {
    let path = |name: &str| AttributePath::attr("scaling").attribute(name);
    let (min, max, desired) = (
        scaling.min_size.known().copied(),
        scaling.max_size.known().copied(),
        scaling.desired_size.known().copied(),
    );
    for (name, value) in [
        ("min_size", min),
        ("max_size", max),
        ("desired_size", desired),
    ] {
        if let Some(value) = value
            && value > MAX_SIZE
        {
            diagnostics.attribute_error(
                path(name),
                "Invalid Scaling",
                format!(
                    "scaling.{name} must be at most {MAX_SIZE}, the largest size EKS accepts; \
                     got {value}. (A node group's real limit is the EKS service quota of nodes \
                     per managed node group.)"
                ),
            );
        }
    }
    if let Some(min) = min
        && min < 0
    {
        diagnostics.attribute_error(
            path("min_size"),
            "Invalid Scaling",
            format!("scaling.min_size must be 0 or more; got {min}."),
        );
    }
    if let Some(max) = max
        && max < 1
    {
        diagnostics.attribute_error(
            path("max_size"),
            "Invalid Scaling",
            format!("scaling.max_size must be at least 1; got {max}."),
        );
    }
    if let (Some(min), Some(max)) = (min, max)
        && min > max
    {
        diagnostics.attribute_error(
            path("min_size"),
            "Invalid Scaling",
            format!("scaling.min_size ({min}) must not exceed scaling.max_size ({max})."),
        );
    }
    if let Some(desired) = desired {
        if let Some(min) = min
            && desired < min
        {
            diagnostics.attribute_error(
                path("desired_size"),
                "Invalid Scaling",
                format!(
                    "scaling.desired_size ({desired}) must be at least scaling.min_size ({min})."
                ),
            );
        }
        if let Some(max) = max
            && desired > max
        {
            diagnostics.attribute_error(
                path("desired_size"),
                "Invalid Scaling",
                format!(
                    "scaling.desired_size ({desired}) must not exceed scaling.max_size ({max})."
                ),
            );
        }
    }
}

fn check_taints(taints: &[TaintModel], diagnostics: &mut Diagnostics) {
    let path = AttributePath::attr("taints");
    if taints.len() > 50 {
        diagnostics.attribute_error(
            path.clone(),
            "Too Many Taints",
            format!(
                "EKS accepts at most 50 taints per node group; got {}.",
                taints.len()
            ),
        );
    }
    for taint in taints {
        if let Attr::Known(key) = &taint.key
            && key == SYSBOX_INSTALLER_TAINT
        {
            diagnostics.attribute_error(
                path.clone(),
                "Taint Owned by the Sysbox Installer",
                format!(
                    "The Sysbox installer adds and removes the {key:?} taint itself while it \
                     installs; use another taint key."
                ),
            );
        }
        if let Attr::Known(key) = &taint.key
            && check_label_key(key).is_err()
        {
            diagnostics.attribute_error(
                path.clone(),
                "Invalid Taint",
                format!("Taint key {key:?} is not a valid Kubernetes taint key."),
            );
        }
        if let Attr::Known(value) = &taint.value
            && check_label_value(value).is_err()
        {
            diagnostics.attribute_error(
                path.clone(),
                "Invalid Taint",
                format!("Taint value {value:?} is not a valid Kubernetes taint value."),
            );
        }
        if let Attr::Known(effect) = &taint.effect
            && !TAINT_EFFECTS.contains(&effect.as_str())
        {
            let hint = crate::aws::user_data::kubelet_effect(effect)
                .filter(|_| !effect.contains('_'))
                .map(|_| " (EKS spells effects in upper case with underscores, e.g. NO_SCHEDULE)")
                .unwrap_or_default();
            diagnostics.attribute_error(
                path.clone(),
                "Invalid Taint",
                format!(
                    "Taint effect {effect:?} must be one of NO_SCHEDULE, NO_EXECUTE or PREFER_NO_SCHEDULE{hint}."
                ),
            );
        }
    }
}

fn check_update_config(config: &UpdateConfigModel, diagnostics: &mut Diagnostics) {
    let path = |name: &str| AttributePath::attr("update_config").attribute(name);
    match (&config.max_unavailable, &config.max_unavailable_percentage) {
        (Attr::Known(_), Attr::Known(_)) => diagnostics.attribute_error(
            path("max_unavailable_percentage"),
            "Conflicting Update Limits",
            "Set update_config.max_unavailable or update_config.max_unavailable_percentage, not both.",
        ),
        (Attr::Null, Attr::Null) => diagnostics.attribute_error(
            AttributePath::attr("update_config"),
            "Missing Update Limit",
            "Set update_config.max_unavailable or update_config.max_unavailable_percentage.",
        ),
        _ => {}
    }
    if let Attr::Known(n) = config.max_unavailable
        && !(1..=100).contains(&n)
    {
        diagnostics.attribute_error(
            path("max_unavailable"),
            "Invalid Update Limit",
            format!("update_config.max_unavailable must be between 1 and 100; got {n}."),
        );
    }
    if let Attr::Known(n) = config.max_unavailable_percentage
        && !(1..=100).contains(&n)
    {
        diagnostics.attribute_error(
            path("max_unavailable_percentage"),
            "Invalid Update Limit",
            format!("update_config.max_unavailable_percentage must be between 1 and 100; got {n}."),
        );
    }
}

/// Whether `id` is `prefix` and 8 or 17 lower-case hexadecimal digits.
fn is_aws_id(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix).is_some_and(|hex| {
        (hex.len() == 8 || hex.len() == 17)
            && hex
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    })
}

/// Each instance type is `<family>.<size>`, and its family's architecture
/// fits `architecture`. Families the naming rules do not cover are allowed
/// with a warning.
fn check_instance_types(
    types: &[String],
    architecture: &Attr<String>,
    diagnostics: &mut Diagnostics,
) {
    let wanted = match architecture {
        Attr::Known(a) => a.as_str(),
        Attr::Null => DEFAULT_ARCHITECTURE,
        Attr::Unknown => "",
    };
    for (i, name) in types.iter().enumerate() {
        let path = AttributePath::attr("instance_types").index(i as i64);
        if !is_instance_type(name) {
            diagnostics.attribute_error(
                path,
                "Invalid Instance Type",
                format!(
                    "{name:?} is not an EC2 instance type: a family, '.', and a size, in lower \
                     case, e.g. m6i.xlarge."
                ),
            );
            continue;
        }
        if wanted.is_empty() {
            continue;
        }
        match architecture_of(name).name() {
            Some(found) if found != wanted => diagnostics.attribute_error(
                path,
                "Instance Type Does Not Fit the Architecture",
                format!(
                    "{name} is an {found} instance type, but architecture is {wanted:?}: the \
                     {wanted} AMI cannot boot on it. Set architecture = \"{found}\" or choose \
                     {wanted} instance types (Graviton, arm64, families have a 'g' after the \
                     generation, e.g. m7g, c7gn, t4g, or are a1)."
                ),
            ),
            Some(_) => {}
            None => diagnostics.attribute_warning(
                path,
                "Unknown Instance Family",
                format!(
                    "The provider cannot tell the CPU architecture of {name} from its name; make \
                     sure it runs {wanted} AMIs (architecture = {wanted:?})."
                ),
            ),
        }
    }
}

/// AWS tag limits, and the tag the provider writes itself.
fn check_tags(tags: &std::collections::BTreeMap<String, String>, diagnostics: &mut Diagnostics) {
    if tags.len() > MAX_TAGS - 1 {
        diagnostics.attribute_error(
            AttributePath::attr("tags"),
            "Too Many Tags",
            format!(
                "AWS resources take at most {MAX_TAGS} tags and the provider adds {OWNER_TAG} to \
                 the launch template: set at most {} tags; got {}.",
                MAX_TAGS - 1,
                tags.len()
            ),
        );
    }
    for (key, value) in tags {
        let path = AttributePath::attr("tags").key(key.clone());
        let reason = if key.is_empty() || key.chars().count() > MAX_TAG_KEY_LENGTH {
            Some(format!(
                "tag keys are 1 to {MAX_TAG_KEY_LENGTH} characters; {key:?} has {}",
                key.chars().count()
            ))
        } else if key.to_ascii_lowercase().starts_with("aws:") {
            Some(format!(
                "tag keys starting with \"aws:\" are reserved for AWS; got {key:?}"
            ))
        } else if key == OWNER_TAG {
            Some(format!(
                "the provider writes the {OWNER_TAG} tag itself to mark what it owns"
            ))
        } else if value.chars().count() > MAX_TAG_VALUE_LENGTH {
            Some(format!(
                "tag values are at most {MAX_TAG_VALUE_LENGTH} characters; the value of {key:?} \
                 has {}",
                value.chars().count()
            ))
        } else {
            None
        };
        if let Some(reason) = reason {
            diagnostics.attribute_error(
                path,
                "Invalid Tag",
                format!("{}.", tf_framework::diagnostic::capitalised(&reason)),
            );
        }
    }
}

/// Checks that Sysbox runs on `release`'s kernel with the shared Sysbox
/// compatibility rules; blocking findings are errors. Notes (shiftfs
/// advice) are left to `cvm_cluster_check`, which sees the real kernel:
/// a warning on every plan would only be noise.
pub(super) fn check_sysbox_release(release: &str, diagnostics: &mut Diagnostics) {
    let Some((_, os_image, kernel)) = UBUNTU_KERNELS.iter().find(|(r, _, _)| *r == release) else {
        return;
    };
    let verdict = check_os_and_kernel(os_image, kernel, false);
    for reason in verdict
        .reasons
        .iter()
        .filter(|r| r.severity == Severity::Blocking)
    {
        diagnostics.attribute_error(
            AttributePath::attr("ubuntu_release"),
            "Sysbox Does Not Support This Ubuntu Release",
            format!(
                "Ubuntu {release} nodes cannot run Sysbox: {reason}. Choose another \
                 ubuntu_release, or set install_sysbox = false."
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::resources::nodegroup::apply::generated_name;
    use crate::resources::nodegroup::test_support::{known, plan};

    fn errors_at(config: &NodegroupModel) -> Vec<String> {
        crate::resources::check_errors(config, check_config)
    }

    // ---- validation ----

    #[test]
    fn a_good_configuration_passes() {
        assert!(errors_at(&plan()).is_empty(), "{:?}", errors_at(&plan()));
    }

    #[test]
    fn sizes_must_be_ordered() {
        let mut config = plan();
        config.scaling = Some(ScalingModel {
            min_size: known(3),
            max_size: known(2),
            desired_size: known(5),
        });
        let errors = errors_at(&config);
        assert!(
            errors.contains(&"scaling.min_size".to_owned()),
            "{errors:?}"
        );
        assert!(
            errors.contains(&"scaling.desired_size".to_owned()),
            "{errors:?}"
        );
        config.scaling = Some(ScalingModel {
            min_size: known(2),
            max_size: known(4),
            desired_size: known(1),
        });
        assert_eq!(errors_at(&config), vec!["scaling.desired_size"]);
        config.scaling = Some(ScalingModel {
            min_size: known(0),
            max_size: known(0),
            desired_size: known(0),
        });
        assert_eq!(errors_at(&config), vec!["scaling.max_size"]);
        // Unknown sizes are checked at apply.
        config.scaling = Some(ScalingModel {
            min_size: Attr::Unknown,
            max_size: known(2),
            desired_size: known(1),
        });
        assert!(errors_at(&config).is_empty());
    }

    #[test]
    fn names_are_checked_for_length_and_characters() {
        let mut config = plan();
        config.name = known("a".repeat(64));
        assert_eq!(errors_at(&config), vec!["name"]);
        config.name = known("-bad".into());
        assert_eq!(errors_at(&config), vec!["name"]);
        config.name = known("has space".into());
        assert_eq!(errors_at(&config), vec!["name"]);
        config.name = known("ok_name-1".into());
        assert!(errors_at(&config).is_empty());
        config.name_prefix = known("p-".into());
        assert_eq!(errors_at(&config), vec!["name_prefix"]);
        config.name = Attr::Null;
        assert!(errors_at(&config).is_empty());
        config.name_prefix = known("p".repeat(54));
        assert_eq!(errors_at(&config), vec!["name_prefix"]);
        assert_eq!(generated_name("cvm-").len(), 4 + NAME_SUFFIX_LENGTH);
        assert!(check_name(&generated_name("cvm-"), MAX_NAME_LENGTH).is_ok());
    }

    #[test]
    fn labels_taints_and_update_limits_are_checked() {
        let mut config = plan();
        config.labels = known(BTreeMap::from([("bad key".into(), "x".into())]));
        assert_eq!(errors_at(&config), vec!["labels[\"bad key\"]"]);
        config.labels = known(BTreeMap::from([("example.com/role".into(), "cvm".into())]));
        assert!(errors_at(&config).is_empty());
        config.taints = known(vec![TaintModel {
            key: known("k".into()),
            value: Attr::Null,
            effect: known("NoSchedule".into()),
        }]);
        let mut d = Diagnostics::new();
        check_config(&config, &mut d);
        let diag = d.iter().find(|d| d.is_error()).expect("an error");
        assert_eq!(diag.attribute, Some(AttributePath::attr("taints")));
        assert!(diag.detail.contains("NO_SCHEDULE"), "{}", diag.detail);
        config.taints = Attr::Null;
        config.update_config = known(UpdateConfigModel {
            max_unavailable: known(1),
            max_unavailable_percentage: known(10),
        });
        assert_eq!(
            errors_at(&config),
            vec!["update_config.max_unavailable_percentage"]
        );
        config.update_config = known(UpdateConfigModel {
            max_unavailable: known(0),
            max_unavailable_percentage: Attr::Null,
        });
        assert_eq!(errors_at(&config), vec!["update_config.max_unavailable"]);
    }

    #[test]
    fn sizes_beyond_what_eks_carries_are_refused() {
        let mut config = plan();
        config.scaling = Some(ScalingModel {
            min_size: known(1),
            max_size: known(5_000_000_000),
            desired_size: known(2),
        });
        assert_eq!(errors_at(&config), vec!["scaling.max_size"]);
    }

    #[test]
    fn labels_and_taints_of_the_sysbox_installer_are_refused() {
        let mut config = plan();
        config.labels = known(BTreeMap::from([
            ("sysbox-runtime".into(), "running".into()),
            ("crio-runtime".into(), "running".into()),
        ]));
        assert_eq!(
            errors_at(&config),
            vec!["labels[\"crio-runtime\"]", "labels[\"sysbox-runtime\"]"]
        );
        config.labels = Attr::Null;
        config.taints = known(vec![TaintModel {
            key: known("sysbox-runtime".into()),
            value: known("not-running".into()),
            effect: known("NO_SCHEDULE".into()),
        }]);
        assert_eq!(errors_at(&config), vec!["taints"]);
    }

    #[test]
    fn instance_types_must_fit_the_architecture() {
        let mut config = plan();
        config.instance_types = known(vec!["m6i.xlarge".into(), "m7g.xlarge".into()]);
        assert_eq!(errors_at(&config), vec!["instance_types[1]"]);
        config.architecture = known("arm64".into());
        assert_eq!(errors_at(&config), vec!["instance_types[0]"]);
        config.instance_types = known(vec!["c7gn.large".into(), "a1.large".into()]);
        assert!(errors_at(&config).is_empty());
        // Unknown families: allowed, with a warning on the type.
        config.instance_types = known(vec!["mac2.metal".into()]);
        let mut d = Diagnostics::new();
        check_config(&config, &mut d);
        assert!(!d.has_error());
        let warning = d.iter().next().expect("a warning");
        assert_eq!(
            warning.attribute,
            Some(AttributePath::attr("instance_types").index(0))
        );
        config.instance_types = known(vec!["m6i".into()]);
        assert_eq!(errors_at(&config), vec!["instance_types[0]"]);
    }

    #[test]
    fn cluster_subnets_and_tags_follow_their_grammars() {
        let mut config = plan();
        config.subnet_ids = known(vec![
            "subnet-0123456789abcdef0".into(),
            "subnet-12345678".into(),
        ]);
        assert!(errors_at(&config).is_empty());
        config.subnet_ids = known(vec!["sg-0123".into()]);
        assert_eq!(errors_at(&config), vec!["subnet_ids"]);
        config.subnet_ids = known(vec!["subnet-12345678".into()]);
        config.cluster_name = known("-demo".into());
        assert_eq!(errors_at(&config), vec!["cluster_name"]);
        config.cluster_name = known("demo".into());
        config.tags = known(BTreeMap::from([
            ("aws:owner".into(), "x".into()),
            ("cvm:nodegroup".into(), "x".into()),
            ("k".repeat(129), "x".into()),
            ("long".into(), "v".repeat(257)),
        ]));
        assert_eq!(errors_at(&config).len(), 4, "{:?}", errors_at(&config));
        config.tags = known((0..50).map(|i| (format!("k{i}"), "v".into())).collect());
        assert_eq!(errors_at(&config), vec!["tags"]);
    }

    #[test]
    fn ubuntu_release_must_exist_for_the_kubernetes_version() {
        let mut config = plan();
        config.ubuntu_release = known("20.04".into());
        config.kubernetes_version = known("1.31".into());
        assert_eq!(errors_at(&config), vec!["ubuntu_release"]);
        config.kubernetes_version = known("1.29".into());
        assert!(errors_at(&config).is_empty());
        config.ubuntu_release = known("24.04".into());
        assert_eq!(errors_at(&config), vec!["ubuntu_release"]);
    }

    #[test]
    fn sysbox_rules_are_shared_with_the_compatibility_checks() {
        // Every release offered runs Sysbox (20.04's GA kernel 5.4 needs
        // shiftfs, which the installer builds): no error, and no warning on
        // every plan.
        for release in crate::aws::ami::ubuntu_releases() {
            assert!(
                UBUNTU_KERNELS.iter().any(|(r, _, _)| *r == release),
                "{release}"
            );
            let mut d = Diagnostics::new();
            check_sysbox_release(release, &mut d);
            assert_eq!(d.iter().count(), 0, "{release}");
        }
        // The rules themselves come from the compatibility module: an
        // unsupported distro/kernel pair is blocking there.
        let verdict = check_os_and_kernel("Amazon Linux 2", "4.14.0", false);
        assert!(!verdict.supported);
    }
}
