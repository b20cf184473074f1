//! Planning `cvm_nodegroup`: the computed values known at plan time, and
//! what an in-place update has to change.

use tf_protocol::value::Attr;

use super::model::{NodegroupModel, effective_labels};
use crate::aws::eks::NodegroupConfigChange;

/// The UpdateNodegroupConfig change from `prior` to `plan`.
pub(super) fn config_change(
    prior: &NodegroupModel,
    plan: &NodegroupModel,
) -> NodegroupConfigChange {
    let mut change = NodegroupConfigChange::default();
    let prior_labels = prior
        .node_labels
        .known()
        .cloned()
        .unwrap_or_else(|| effective_labels(prior.labels.known(), prior.wants_sysbox()));
    let planned_labels = effective_labels(plan.labels.known(), plan.wants_sysbox());
    change.diff_labels(&prior_labels, &planned_labels);
    change.diff_taints(&prior.taint_specs(), &plan.taint_specs());
    let (before, after) = (prior.scaling_spec(), plan.scaling_spec());
    if before != after {
        let ignore = plan
            .ignore_desired_size_drift
            .known()
            .copied()
            .unwrap_or(false);
        let mut scaling = after;
        if ignore && before.desired_size == after.desired_size {
            // Leave the size an autoscaler chose alone.
            scaling.desired_size = None;
        }
        change.scaling = Some(scaling);
    }
    let planned_update = plan.update_config_spec();
    if planned_update.is_some() && planned_update != prior.update_config_spec() {
        change.update_config = planned_update;
    }
    change
}

/// Whether the plan needs a new launch template version.
pub(super) fn needs_new_template(prior: &NodegroupModel, plan: &NodegroupModel) -> bool {
    !plan.resolved_ami_id.is_known()
        || plan.resolved_ami_id != prior.resolved_ami_id
        || plan.disk_size_gib != prior.disk_size_gib
        || !plan.launch_template_version.is_known()
}

/// Plans the computed values that can be known now.
pub(super) fn plan_computed(
    config: &NodegroupModel,
    prior: Option<&NodegroupModel>,
    plan: &mut NodegroupModel,
) {
    if let (Attr::Known(cluster), Attr::Known(name)) = (&plan.cluster_name, &plan.name) {
        plan.id = Attr::Known(format!("{cluster}:{name}"));
    }
    plan.node_labels = match (&plan.labels, &plan.install_sysbox) {
        (Attr::Unknown, _) | (_, Attr::Unknown) => Attr::Unknown,
        (labels, sysbox) => Attr::Known(effective_labels(
            labels.known(),
            sysbox.known().copied().unwrap_or(true),
        )),
    };
    let Some(prior) = prior else {
        plan.resolved_ami_id = match &config.ami_id {
            Attr::Known(ami) => Attr::Known(ami.clone()),
            _ => Attr::Unknown,
        };
        return;
    };
    let lookup_changed = plan.ubuntu_release != prior.ubuntu_release
        || plan.architecture != prior.architecture
        || plan.pro != prior.pro
        || plan.kubernetes_version != prior.kubernetes_version;
    // `ami_parameter_prefix` says where copies of the same parameters are
    // read, not which image: changing it (or importing, which cannot know
    // it) does not roll the nodes.
    plan.resolved_ami_id = match &config.ami_id {
        Attr::Known(ami) => Attr::Known(ami.clone()),
        Attr::Unknown => Attr::Unknown,
        Attr::Null if !lookup_changed && prior.resolved_ami_id.is_known() => {
            prior.resolved_ami_id.clone()
        }
        Attr::Null => Attr::Unknown,
    };
    let new_version =
        plan.resolved_ami_id != prior.resolved_ami_id || plan.disk_size_gib != prior.disk_size_gib;
    plan.launch_template_version = if new_version {
        Attr::Unknown
    } else {
        prior.launch_template_version
    };
    if plan.update_config.is_unknown() && config.update_config.is_null() {
        plan.update_config = prior.update_config.clone();
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::aws::eks::ScalingSpec;
    use crate::resources::nodegroup::model::{ScalingModel, TaintModel};
    use crate::resources::nodegroup::test_support::{created, known, plan};

    #[test]
    fn plan_knows_id_and_node_labels_and_looks_the_ami_up_at_create() {
        let config = plan();
        let mut planned = plan();
        plan_computed(&config, None, &mut planned);
        assert_eq!(planned.id, known("demo:ubuntu".into()));
        assert_eq!(
            planned
                .node_labels
                .known()
                .and_then(|l| l.get("sysbox-install"))
                .map(String::as_str),
            Some("yes")
        );
        assert!(planned.resolved_ami_id.is_unknown());
        let mut given = plan();
        given.ami_id = known("ami-0fed".into());
        let mut planned = given.clone();
        plan_computed(&given, None, &mut planned);
        assert_eq!(planned.resolved_ami_id, known("ami-0fed".into()));
    }

    #[test]
    fn plan_keeps_the_ami_until_its_inputs_change() {
        let prior = created();
        let mut config = prior.clone();
        config.ami_id = Attr::Null;
        let mut planned = prior.clone();
        planned.resolved_ami_id = Attr::Unknown;
        planned.launch_template_version = Attr::Unknown;
        plan_computed(&config, Some(&prior), &mut planned);
        assert_eq!(planned.resolved_ami_id, known("ami-0123".into()));
        assert_eq!(planned.launch_template_version, known(1));
        assert!(!needs_new_template(&prior, &planned));

        let mut newer = prior.clone();
        newer.kubernetes_version = known("1.32".into());
        let mut planned = newer.clone();
        plan_computed(&newer, Some(&prior), &mut planned);
        assert!(planned.resolved_ami_id.is_unknown());
        assert!(planned.launch_template_version.is_unknown());
        assert!(needs_new_template(&prior, &planned));

        let mut bigger = prior.clone();
        bigger.disk_size_gib = known(100);
        let mut planned = bigger.clone();
        plan_computed(&bigger, Some(&prior), &mut planned);
        assert_eq!(planned.resolved_ami_id, known("ami-0123".into()));
        assert!(planned.launch_template_version.is_unknown());
    }

    #[test]
    fn config_changes_carry_only_the_differences() {
        let prior = created();
        let mut plan = prior.clone();
        plan.labels = known(BTreeMap::from([("tier".into(), "gold".into())]));
        plan.taints = known(vec![TaintModel {
            key: known("dedicated".into()),
            value: known("other".into()),
            effect: known("NO_SCHEDULE".into()),
        }]);
        plan.scaling = Some(ScalingModel {
            min_size: known(1),
            max_size: known(5),
            desired_size: known(2),
        });
        let change = config_change(&prior, &plan);
        assert_eq!(
            change.add_labels,
            BTreeMap::from([("tier".into(), "gold".into())])
        );
        assert_eq!(change.remove_labels, vec!["team".to_owned()]);
        assert_eq!(change.add_taints.len(), 1);
        assert!(
            change.remove_taints.is_empty(),
            "same key and effect: updated, not removed"
        );
        assert_eq!(
            change.scaling,
            Some(ScalingSpec {
                min_size: Some(1),
                max_size: Some(5),
                desired_size: Some(2)
            })
        );
        assert!(config_change(&prior, &prior).is_empty());

        plan.ignore_desired_size_drift = known(true);
        let change = config_change(&prior, &plan);
        assert_eq!(change.scaling.and_then(|s| s.desired_size), None);

        let mut no_sysbox = prior.clone();
        no_sysbox.install_sysbox = known(false);
        let change = config_change(&prior, &no_sysbox);
        assert_eq!(change.remove_labels, vec!["sysbox-install".to_owned()]);
    }
}
