//! Acceptance tests for `cvm_nodegroup` on a real `moto_server` (one per test and Terraform
//! version), on every available Terraform: create (AMI looked up in SSM under a test prefix, or
//! given), update in place, replace, import, drift, out-of-band delete, destroy, empty re-plans,
//! a fault-injecting proxy with API call counts, and a bad-input matrix.
//!
//! The provider is configured with an explicit `aws` block (static test keys, every endpoint
//! pointed at moto or at the [`FaultProxy`]), never with `AWS_*` variables.
//!
//! What moto cannot do, and how these tests deal with it (see `tests/moto_stack.rs`):
//! - It has no UpdateNodegroupVersion (a bare HTML 404), so a new AMI or disk size cannot be
//!   rolled out. [`ami_and_tag_changes_moto_cannot_apply_fail_clearly_and_keep_the_state`]
//!   asserts that the apply fails with a clear "does not implement" diagnostic and that the
//!   state keeps the AMI actually in use. The successful rollout path is covered by unit tests
//!   on hand-written EKS answers in `provider/src/resources/nodegroup/`.
//! - It cannot tag node group ARNs (TagResource answers ResourceNotFoundException), so a tags
//!   change is likewise asserted to fail on the `tags` attribute with the old tags kept.
//! - Its node groups are ACTIVE at once and never fail, so CREATE_FAILED/DEGRADED and the waits
//!   are covered by those unit tests too; here every create and delete returns without polling.
//! - It keeps no `updateConfig` and reports no `CUSTOM` AMI type; the provider keeps the
//!   configured values for what moto drops, which the empty re-plans check.
//!
//! Needs `scripts/moto install` once and the provider built (`cargo build -p
//! terraform-provider-cvm`, or the harness builds it).

use std::collections::BTreeMap;

use acceptance_tests::moto::{
    ClusterFixture, Error as MotoError, FaultConfig, FaultProxy, Moto, MotoClient,
};
use acceptance_tests::{self as acc, Action, Terraform, Workdir, collapse_whitespace};
use base64::Engine as _;
use serde_json::{Value, json};

const CLUSTER: &str = "demo";
const KUBERNETES_VERSION: &str = "1.31";
/// Where the tests put copies of Canonical's parameters (moto refuses `/aws/...`).
const PREFIX: &str = "/test/canonical/ubuntu";
/// The AMI id put in SSM for Ubuntu 22.04, Kubernetes 1.31, amd64.
const LOOKED_UP_AMI: &str = "ami-0a1b2c3d4e5f60718";
/// An AMI id given directly.
const GIVEN_AMI: &str = "ami-0fedcba9876543210";
const ADDRESS: &str = "cvm_nodegroup.main";

fn moto_error(e: MotoError) -> acc::Error {
    acc::Error::Assertion(format!("moto: {e}"))
}

/// A moto server with an ACTIVE cluster `demo` (Kubernetes 1.31, two subnets, a node role) and
/// Canonical's 22.04 parameter under [`PREFIX`].
struct Stack {
    moto: Moto,
    fixture: ClusterFixture,
}

impl Stack {
    fn start() -> Result<Stack, acc::Error> {
        let moto = Moto::start().map_err(moto_error)?;
        let fixture = moto
            .create_cluster_fixture(CLUSTER, KUBERNETES_VERSION)
            .map_err(moto_error)?;
        moto.put_parameter(
            &parameter_name("22.04", "eks", "ebs-gp2"),
            LOOKED_UP_AMI,
            Some("aws:ec2:image"),
        )
        .map_err(moto_error)?;
        Ok(Stack { moto, fixture })
    }

    /// A working directory whose provider talks to `endpoint` (moto, or a proxy in front).
    fn workdir(&self, tf: &Terraform, endpoint: &str) -> Result<Workdir, acc::Error> {
        let mut wd = Workdir::new(tf)?;
        // Nothing of the developer's AWS setup may leak into the provider.
        wd.env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true");
        wd.write_file("provider.tf", &provider_config(endpoint))?;
        Ok(wd)
    }

    fn subnets(&self) -> &[String] {
        &self.fixture.network.subnet_ids
    }

    /// A node group spec with this stack's cluster, role and first subnet.
    fn spec(&self, name: &str) -> Spec {
        Spec {
            name: name.to_string(),
            node_role_arn: self.fixture.node_role_arn.clone(),
            subnet_ids: vec![self.subnets()[0].clone()],
            ..Spec::default()
        }
    }
}

fn parameter_name(release: &str, product: &str, volume: &str) -> String {
    format!(
        "{PREFIX}/{product}/{release}/{KUBERNETES_VERSION}/stable/current/amd64/hvm/{volume}/ami-id"
    )
}

fn provider_config(endpoint: &str) -> String {
    acc::provider_config(&acceptance_tests::moto::aws_provider_block(endpoint))
}

/// Where the node group's AMI comes from.
#[derive(Debug, Clone)]
enum Ami {
    /// Looked up by the resource under [`PREFIX`] (`ami_parameter_prefix`).
    Lookup,
    /// `ami_id = "<id>"`.
    Given(String),
    /// `ami_id` from a `cvm_ubuntu_ami` data source reading [`PREFIX`].
    DataSource,
}

/// The inputs of one `cvm_nodegroup` the tests vary.
#[derive(Debug, Clone)]
struct Spec {
    name: String,
    node_role_arn: String,
    subnet_ids: Vec<String>,
    instance_types: Vec<String>,
    scaling: (i64, i64, i64),
    labels: BTreeMap<String, String>,
    taints: Vec<(String, Option<String>, String)>,
    ami: Ami,
    /// Extra attribute lines.
    extra: String,
}

impl Default for Spec {
    fn default() -> Spec {
        Spec {
            name: "ubuntu".to_string(),
            node_role_arn: String::new(),
            subnet_ids: Vec::new(),
            instance_types: vec!["m6i.xlarge".to_string()],
            scaling: (1, 3, 2),
            labels: BTreeMap::from([("team".to_string(), "cvm".to_string())]),
            taints: vec![(
                "dedicated".to_string(),
                Some("cvm".to_string()),
                "NO_SCHEDULE".to_string(),
            )],
            ami: Ami::Lookup,
            extra: String::new(),
        }
    }
}

fn hcl_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("{i:?}")).collect();
    format!("[{}]", quoted.join(", "))
}

impl Spec {
    fn hcl(&self) -> String {
        let labels: Vec<String> = self
            .labels
            .iter()
            .map(|(k, v)| format!("    {k:?} = {v:?}"))
            .collect();
        let taints: Vec<String> = self
            .taints
            .iter()
            .map(|(key, value, effect)| {
                let value = value
                    .as_ref()
                    .map(|v| format!("    value  = {v:?}\n"))
                    .unwrap_or_default();
                format!("  taints {{\n    key    = {key:?}\n{value}    effect = {effect:?}\n  }}")
            })
            .collect();
        let (ami, data) = match &self.ami {
            Ami::Lookup => (format!("ami_parameter_prefix = {PREFIX:?}"), String::new()),
            Ami::Given(id) => (format!("ami_id = {id:?}"), String::new()),
            Ami::DataSource => (
                "ami_id = data.cvm_ubuntu_ami.main.ami_id".to_string(),
                format!(
                    r#"
data "cvm_ubuntu_ami" "main" {{
  kubernetes_version = "{KUBERNETES_VERSION}"
  parameter_prefix   = "{PREFIX}"
}}
"#
                ),
            ),
        };
        let (min, max, desired) = self.scaling;
        format!(
            r#"{data}
resource "cvm_nodegroup" "main" {{
  cluster_name   = "{CLUSTER}"
  name           = "{name}"
  node_role_arn  = "{role}"
  subnet_ids     = {subnets}
  instance_types = {types}
  {ami}
  labels = {{
{labels}
  }}
{taints}
  scaling {{
    min_size     = {min}
    max_size     = {max}
    desired_size = {desired}
  }}
{extra}
}}
"#,
            name = self.name,
            role = self.node_role_arn,
            subnets = hcl_list(&self.subnet_ids),
            types = hcl_list(&self.instance_types),
            labels = labels.join("\n"),
            taints = taints.join("\n"),
            extra = self.extra,
        )
    }
}

/// The node group as moto holds it.
fn described(moto: &MotoClient, name: &str) -> Result<Value, acc::Error> {
    moto.describe_nodegroup(CLUSTER, name)
        .map_err(moto_error)?
        .ok_or_else(|| acc::Error::Assertion(format!("node group {name} is not in moto")))
}

fn template_ids(moto: &MotoClient) -> Result<Vec<String>, acc::Error> {
    let mut ids: Vec<String> = moto
        .launch_templates()
        .map_err(moto_error)?
        .into_iter()
        .map(|t| t.id)
        .collect();
    ids.sort();
    Ok(ids)
}

/// The `cvm:nodegroup` owner tag of launch template `id` as moto stores it, if it has one.
fn owner_tag(moto: &MotoClient, id: &str) -> Result<Option<String>, acc::Error> {
    let xml = moto
        .ec2("DescribeLaunchTemplates", &[("LaunchTemplateId.1", id)])
        .map_err(moto_error)?;
    Ok(xml
        .split_once("<key>cvm:nodegroup</key>")
        .and_then(|(_, rest)| rest.split_once("<value>"))
        .and_then(|(_, rest)| rest.split_once("</value>"))
        .map(|(value, _)| value.to_string()))
}

/// Every launch template moto holds, with its owner tag.
fn owned_templates(moto: &MotoClient) -> Result<Vec<(String, Option<String>)>, acc::Error> {
    template_ids(moto)?
        .into_iter()
        .map(|id| Ok((id.clone(), owner_tag(moto, &id)?)))
        .collect()
}

/// The owner tag's value for node group `name`: `<cluster>:<name>:<token>`, the token 32 hex
/// digits.
fn is_owner_of(tag: Option<&str>, name: &str) -> bool {
    tag.and_then(|t| t.strip_prefix(&format!("{CLUSTER}:{name}:")))
        .is_some_and(|token| token.len() == 32 && token.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Node group names and launch template ids moto still has.
fn leftovers(moto: &MotoClient) -> Result<(Vec<String>, Vec<String>), acc::Error> {
    Ok((
        moto.list_nodegroups(CLUSTER).map_err(moto_error)?,
        template_ids(moto)?,
    ))
}

fn check(condition: bool, message: impl FnOnce() -> String) -> Result<(), acc::Error> {
    if condition {
        Ok(())
    } else {
        Err(acc::Error::Assertion(message()))
    }
}

/// Checks what moto holds after a create: the node group uses the launch template the state
/// names, which carries `ami` and the bootstrap user data, and the labels include the Sysbox one.
fn check_created(
    wd: &Workdir,
    moto: &MotoClient,
    name: &str,
    ami: &str,
) -> Result<String, acc::Error> {
    let state = wd.show()?;
    let ng = state.resource(ADDRESS)?;
    let template_id = ng.str("launch_template_id")?;
    assert_eq!(ng.str("id")?, format!("{CLUSTER}:{name}"));
    assert_eq!(ng.str("status")?, "ACTIVE");
    assert_eq!(ng.str("resolved_ami_id")?, ami);
    assert_eq!(ng.str("kubernetes_version")?, KUBERNETES_VERSION);
    assert_eq!(ng.get("launch_template_version")?, json!(1));
    assert_eq!(ng.get("node_labels.sysbox-install")?, json!("yes"));

    let group = described(moto, name)?;
    assert_eq!(group["status"], "ACTIVE", "{group}");
    assert_eq!(
        group["launchTemplate"]["id"],
        json!(template_id),
        "CreateNodegroup had no launch template: {group}"
    );
    assert_eq!(
        group["launchTemplate"]["name"],
        json!(format!("cvm-{CLUSTER}-{name}"))
    );
    assert_eq!(group["labels"]["sysbox-install"], "yes", "{group}");
    assert_eq!(group["nodegroupArn"], json!(ng.str("arn")?));

    let templates = moto.launch_templates().map_err(moto_error)?;
    check(templates.iter().any(|t| t.id == template_id), || {
        format!("launch template {template_id} is not in moto: {templates:?}")
    })?;
    // Owned: tagged with the node group it belongs to and this resource's token.
    let tag = owner_tag(moto, &template_id)?;
    check(is_owner_of(tag.as_deref(), name), || {
        format!("launch template {template_id} is not tagged as owned by {name}: {tag:?}")
    })?;
    let versions = moto
        .launch_template_versions(&template_id)
        .map_err(moto_error)?;
    assert_eq!(versions.len(), 1, "{versions:?}");
    assert_eq!(versions[0].image_id.as_deref(), Some(ami));
    // The user data bootstraps the node into the cluster and hands the kubelet the labels.
    let user_data = versions[0]
        .user_data
        .as_deref()
        .and_then(|u| base64::engine::general_purpose::STANDARD.decode(u).ok())
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .unwrap_or_default();
    check(
        user_data.contains(&format!("/etc/eks/bootstrap.sh '{CLUSTER}'"))
            && user_data.contains("--node-labels=")
            && user_data.contains("sysbox-install=yes"),
        || format!("the launch template's user data does not bootstrap the node: {user_data}"),
    )?;
    Ok(template_id)
}

#[test]
fn create_update_replace_import_and_destroy() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let stack = Stack::start()?;
        let moto: &MotoClient = &stack.moto;
        let wd = stack.workdir(tf, moto.endpoint())?;

        // Create, the AMI looked up in SSM under the test prefix.
        let mut spec = stack.spec("ubuntu");
        wd.config(&spec.hcl())?;
        assert_eq!(wd.plan()?.actions(ADDRESS)?, vec!["create"]);
        wd.apply()?;
        let template_id = check_created(&wd, moto, "ubuntu", LOOKED_UP_AMI)?;
        let group = described(moto, "ubuntu")?;
        assert_eq!(
            group["scalingConfig"],
            json!({"minSize": 1, "maxSize": 3, "desiredSize": 2})
        );
        assert_eq!(group["labels"]["team"], "cvm", "{group}");
        assert_eq!(
            group["taints"],
            json!([{"key": "dedicated", "value": "cvm", "effect": "NO_SCHEDULE"}])
        );
        assert_eq!(group["instanceTypes"], json!(["m6i.xlarge"]), "{group}");
        wd.assert_plan_empty()?;

        // Update in place: sizes, labels and taints through UpdateNodegroupConfig.
        spec.scaling = (2, 5, 4);
        spec.labels = BTreeMap::from([("tier".to_string(), "cvm".to_string())]);
        spec.taints = vec![("sysbox".to_string(), None, "PREFER_NO_SCHEDULE".to_string())];
        wd.config(&spec.hcl())?;
        assert_eq!(wd.plan()?.actions(ADDRESS)?, vec!["update"]);
        wd.apply()?;
        wd.assert_plan_empty()?;
        let group = described(moto, "ubuntu")?;
        assert_eq!(
            group["scalingConfig"],
            json!({"minSize": 2, "maxSize": 5, "desiredSize": 4})
        );
        assert_eq!(
            group["labels"],
            json!({"tier": "cvm", "sysbox-install": "yes"}),
            "the old label is removed, the Sysbox label kept"
        );
        assert_eq!(
            group["taints"],
            json!([{"key": "sysbox", "effect": "PREFER_NO_SCHEDULE"}])
        );
        let state = wd.show()?;
        let ng = state.resource(ADDRESS)?;
        assert_eq!(ng.str("launch_template_id")?, template_id, "same template");
        assert_eq!(ng.get("launch_template_version")?, json!(1), "no rollout");

        // Replace: EKS cannot change instance types; the old launch template goes with it.
        spec.instance_types = vec!["m6i.2xlarge".to_string()];
        wd.config(&spec.hcl())?;
        assert_eq!(wd.plan()?.actions(ADDRESS)?, vec!["delete", "create"]);
        wd.apply()?;
        wd.assert_plan_empty()?;
        let new_template = check_created(&wd, moto, "ubuntu", LOOKED_UP_AMI)?;
        assert_ne!(new_template, template_id);
        assert_eq!(template_ids(moto)?, vec![new_template.clone()]);
        assert_eq!(
            described(moto, "ubuntu")?["instanceTypes"],
            json!(["m6i.2xlarge"])
        );

        // Import by `cluster:name`. Not comparable, because an import cannot know them:
        // `ami_parameter_prefix` (where copies of Canonical's parameters were read is not
        // recorded anywhere in AWS; import fills in the default `/aws/service/...`), and
        // `timeouts` (configuration only, ignored by the harness anyway).
        wd.import_and_compare(
            ADDRESS,
            &format!("{CLUSTER}:ubuntu"),
            &["ami_parameter_prefix"],
        )?;

        // Destroy: no node group and no launch template left.
        wd.destroy()?;
        assert_eq!(leftovers(moto)?, (Vec::new(), Vec::new()));
        Ok(())
    });
}

#[test]
fn given_ami_creates_without_a_lookup_and_subnet_changes_replace() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let stack = Stack::start()?;
        let moto: &MotoClient = &stack.moto;
        let wd = stack.workdir(tf, moto.endpoint())?;

        // An explicit AMI id: no SSM parameter is needed for Ubuntu 24.04 here.
        let mut spec = stack.spec("given");
        spec.ami = Ami::Given(GIVEN_AMI.to_string());
        spec.extra = "  ubuntu_release = \"24.04\"\n  install_sysbox = true\n".to_string();
        wd.config(&spec.hcl())?;
        wd.apply()?;
        let template_id = check_created(&wd, moto, "given", GIVEN_AMI)?;
        wd.assert_plan_empty()?;

        // Another subnet set: EKS cannot move a node group, so it is replaced.
        spec.subnet_ids = stack.subnets().to_vec();
        wd.config(&spec.hcl())?;
        assert_eq!(wd.plan()?.actions(ADDRESS)?, vec!["delete", "create"]);
        wd.apply()?;
        wd.assert_plan_empty()?;
        let new_template = check_created(&wd, moto, "given", GIVEN_AMI)?;
        assert_ne!(new_template, template_id);
        assert_eq!(template_ids(moto)?, vec![new_template]);
        let mut subnets: Vec<String> = described(moto, "given")?["subnets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect();
        subnets.sort();
        let mut expected = stack.subnets().to_vec();
        expected.sort();
        assert_eq!(subnets, expected);

        wd.destroy()?;
        assert_eq!(leftovers(moto)?, (Vec::new(), Vec::new()));
        Ok(())
    });
}

#[test]
fn ami_from_the_ubuntu_ami_data_source() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let stack = Stack::start()?;
        let moto: &MotoClient = &stack.moto;
        let wd = stack.workdir(tf, moto.endpoint())?;
        let mut spec = stack.spec("from-data");
        spec.ami = Ami::DataSource;
        wd.config(&spec.hcl())?;
        wd.apply()?;
        check_created(&wd, moto, "from-data", LOOKED_UP_AMI)?;
        wd.assert_plan_empty()?;
        wd.destroy()?;
        assert_eq!(leftovers(moto)?, (Vec::new(), Vec::new()));
        Ok(())
    });
}

#[test]
fn drift_ignored_desired_size_and_out_of_band_delete() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let stack = Stack::start()?;
        let moto: &MotoClient = &stack.moto;
        let wd = stack.workdir(tf, moto.endpoint())?;
        let mut spec = stack.spec("drifting");
        wd.config(&spec.hcl())?;
        wd.apply()?;

        // Sizes and labels changed out of band: the plan puts them back in place.
        moto.update_nodegroup_config(
            CLUSTER,
            "drifting",
            json!({
                "scalingConfig": {"minSize": 1, "maxSize": 6, "desiredSize": 5},
                "labels": {"addOrUpdateLabels": {"intruder": "yes"}, "removeLabels": []},
            }),
        )
        .map_err(moto_error)?;
        let plan = wd.plan()?;
        assert_eq!(plan.actions(ADDRESS)?, vec!["update"]);
        let planned = plan.planned(ADDRESS)?;
        assert_eq!(planned.get("scaling.desired_size")?, json!(2));
        wd.apply()?;
        wd.assert_plan_empty()?;
        let group = described(moto, "drifting")?;
        assert_eq!(
            group["scalingConfig"],
            json!({"minSize": 1, "maxSize": 3, "desiredSize": 2})
        );
        check(group["labels"].get("intruder").is_none(), || {
            format!("the out-of-band label was not removed: {group}")
        })?;

        // With ignore_desired_size_drift, an autoscaler's desired size is left alone...
        spec.extra = "  ignore_desired_size_drift = true\n".to_string();
        wd.config(&spec.hcl())?;
        wd.apply()?;
        wd.assert_plan_empty()?;
        moto.update_nodegroup_config(
            CLUSTER,
            "drifting",
            json!({"scalingConfig": {"minSize": 1, "maxSize": 3, "desiredSize": 3}}),
        )
        .map_err(moto_error)?;
        wd.assert_plan_empty()?;
        // ...but other size drift still shows, and fixing it keeps the autoscaler's choice.
        moto.update_nodegroup_config(
            CLUSTER,
            "drifting",
            json!({"scalingConfig": {"minSize": 1, "maxSize": 4, "desiredSize": 3}}),
        )
        .map_err(moto_error)?;
        assert_eq!(wd.plan()?.actions(ADDRESS)?, vec!["update"]);
        wd.apply()?;
        wd.assert_plan_empty()?;
        let scaling = described(moto, "drifting")?["scalingConfig"].clone();
        assert_eq!(scaling["maxSize"], 3, "{scaling}");
        assert_eq!(scaling["desiredSize"], 3, "{scaling}");

        // Deleted out of band while its launch template remains: the refresh keeps it as
        // DELETED and the plan replaces it, so the replacement's delete removes the template
        // it left and the create makes a new one (nothing orphaned, nothing adopted).
        let template_id = wd.show()?.resource(ADDRESS)?.str("launch_template_id")?;
        let old_tag = owner_tag(moto, &template_id)?;
        moto.delete_nodegroup(CLUSTER, "drifting")
            .map_err(moto_error)?;
        let plan = wd.plan()?;
        assert_eq!(plan.actions(ADDRESS)?, vec!["delete", "create"]);
        wd.apply()?;
        wd.assert_plan_empty()?;
        let group = described(moto, "drifting")?;
        assert_eq!(group["labels"]["sysbox-install"], "yes");
        let templates = owned_templates(moto)?;
        assert_eq!(templates.len(), 1, "{templates:?}");
        let (new_id, new_tag) = &templates[0];
        check(is_owner_of(new_tag.as_deref(), "drifting"), || {
            format!("the new launch template is not this resource's: {templates:?}")
        })?;
        check(new_id != &template_id && new_tag != &old_tag, || {
            format!(
                "the old launch template {template_id} ({old_tag:?}) was adopted: {templates:?}"
            )
        })?;
        let state = wd.show()?;
        assert_eq!(state.resource(ADDRESS)?.str("launch_template_id")?, *new_id);
        assert_eq!(group["launchTemplate"]["id"], json!(new_id));
        assert_eq!(state.resource(ADDRESS)?.str("status")?, "ACTIVE");

        wd.destroy()?;
        assert_eq!(leftovers(moto)?, (Vec::new(), Vec::new()));
        Ok(())
    });
}

/// Two configurations with the same cluster and node group names: the second one's apply is
/// refused on the launch template's name conflict and creates nothing; its destroy leaves the
/// first one's node group and launch template as they were; the first then destroys cleanly.
/// An existing node group under a launch template of this resource's own but made by another
/// configuration is refused the same way.
#[test]
fn a_second_configuration_with_the_same_names_takes_nothing_over() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let stack = Stack::start()?;
        let moto: &MotoClient = &stack.moto;
        let spec = stack.spec("shared");
        let first = stack.workdir(tf, moto.endpoint())?;
        first.config(&spec.hcl())?;
        first.apply()?;
        let first_template = first.show()?.resource(ADDRESS)?.str("launch_template_id")?;
        let templates_before = owned_templates(moto)?;
        let group_before = described(moto, "shared")?;
        let versions_before = moto
            .launch_template_versions(&first_template)
            .map_err(moto_error)?;

        let second = stack.workdir(tf, moto.endpoint())?;
        second.config(&spec.hcl())?;
        let stderr = second.expect_error(Action::Apply, "Launch Template Already Exists")?;
        let text = collapse_whitespace(&stderr);
        check(
            text.contains(
                "The launch template cvm-demo-shared already exists and was not created by this \
                 resource; to manage it with this configuration, import it: terraform import \
                 cvm_nodegroup.<resource name> demo:shared",
            ),
            || format!("no import advice: {text}"),
        )?;
        check(!second.show()?.has_managed_resources(), || {
            "the refused create left state behind".to_string()
        })?;
        assert_eq!(owned_templates(moto)?, templates_before);
        assert_eq!(
            moto.launch_template_versions(&first_template)
                .map_err(moto_error)?,
            versions_before,
            "the second configuration added a version to the first one's template"
        );
        assert_eq!(
            moto.list_nodegroups(CLUSTER).map_err(moto_error)?,
            vec!["shared"]
        );
        assert_eq!(described(moto, "shared")?, group_before);

        second.destroy()?;
        assert_eq!(owned_templates(moto)?, templates_before);
        assert_eq!(described(moto, "shared")?, group_before);

        // The first one's template gone behind its back, the second one makes its own
        // template, meets the first one's node group on CreateNodegroup, refuses it, and
        // deletes only the template it made.
        moto.ec2(
            "DeleteLaunchTemplate",
            &[("LaunchTemplateId", first_template.as_str())],
        )
        .map_err(moto_error)?;
        let stderr = second.expect_error(Action::Apply, "EKS Node Group Already Exists")?;
        let text = collapse_whitespace(&stderr);
        check(
            text.contains(
                "The EKS node group shared already exists and was not created by this resource",
            ) && text.contains("terraform import cvm_nodegroup.<resource name> demo:shared"),
            || format!("no import advice: {text}"),
        )?;
        check(!second.show()?.has_managed_resources(), || {
            "the refused create left state behind".to_string()
        })?;
        assert_eq!(template_ids(moto)?, Vec::<String>::new());
        assert_eq!(described(moto, "shared")?, group_before);

        first.destroy()?;
        assert_eq!(leftovers(moto)?, (Vec::new(), Vec::new()));
        Ok(())
    });
}

#[test]
fn ami_and_tag_changes_moto_cannot_apply_fail_clearly_and_keep_the_state() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let stack = Stack::start()?;
        let moto: &MotoClient = &stack.moto;
        let wd = stack.workdir(tf, moto.endpoint())?;
        let mut spec = stack.spec("limits");
        spec.ami = Ami::Given(GIVEN_AMI.to_string());
        wd.config(&spec.hcl())?;
        wd.apply()?;
        let before = wd.show()?.resource(ADDRESS)?.values().clone();

        // A new AMI needs UpdateNodegroupVersion, which moto lacks.
        let mut new_ami = spec.clone();
        new_ami.ami = Ami::Given("ami-0123456789abcdef0".to_string());
        wd.config(&new_ami.hcl())?;
        assert_eq!(wd.plan()?.actions(ADDRESS)?, vec!["update"]);
        let stderr = wd.expect_error(
            Action::Apply,
            r"AWS UpdateNodegroupVersion Failed[\s\S]*does not implement this operation",
        )?;
        println!("[{tf}] a new AMI on moto:{stderr}");
        check(!stderr.contains("panic"), || stderr.clone())?;
        let after = wd.show()?.resource(ADDRESS)?.values().clone();
        assert_eq!(after["resolved_ami_id"], json!(GIVEN_AMI));
        assert_eq!(after["ami_id"], json!(GIVEN_AMI));
        assert_eq!(after["launch_template_version"], json!(1));
        let group = described(moto, "limits")?;
        assert_eq!(group["launchTemplate"]["version"], "1", "{group}");
        // The version made for the rollout stays in EC2 unused (the node group never
        // pointed at it); it goes with the template when the node group is destroyed.
        let versions = moto
            .launch_template_versions(after["launch_template_id"].as_str().unwrap_or_default())
            .map_err(moto_error)?;
        let mut versions: Vec<(u64, Option<String>)> = versions
            .into_iter()
            .map(|v| (v.version, v.image_id))
            .collect();
        versions.sort();
        assert_eq!(
            versions,
            vec![
                (1, Some(GIVEN_AMI.to_string())),
                (2, Some("ami-0123456789abcdef0".to_string())),
            ],
            "version 1 in use, version 2 made for the rollout and left unused"
        );
        // Back to the AMI in use: nothing to do.
        wd.config(&spec.hcl())?;
        wd.assert_plan_empty()?;

        // Tags: moto cannot tag node groups; the error names the attribute, the old tags stay.
        let mut tagged = spec.clone();
        tagged.extra = "  tags = { owner = \"cvm\" }\n".to_string();
        wd.config(&tagged.hcl())?;
        assert_eq!(wd.plan()?.actions(ADDRESS)?, vec!["update"]);
        let stderr = wd.expect_error(
            Action::Apply,
            r#"AWS TagResource Failed .*in resource "cvm_nodegroup" "main": \d+: tags = \{ owner = "cvm" \}"#,
        )?;
        println!("[{tf}] a tags change on moto:{stderr}");
        check(!stderr.contains("panic"), || stderr.clone())?;
        let after = wd.show()?.resource(ADDRESS)?.values().clone();
        assert_eq!(after["tags"], before["tags"], "{after}");
        wd.config(&spec.hcl())?;
        wd.assert_plan_empty()?;

        wd.destroy()?;
        assert_eq!(leftovers(moto)?, (Vec::new(), Vec::new()));
        Ok(())
    });
}

/// Requests per operation that reached moto (faulted attempts left out): what the provider
/// asked for, not how often it had to retry.
fn forwarded(proxy: &FaultProxy) -> BTreeMap<String, u64> {
    proxy
        .stats()
        .into_iter()
        .map(|(action, s)| (action, s.forwarded()))
        .filter(|(_, n)| *n > 0)
        .collect()
}

fn total(counts: &BTreeMap<String, u64>) -> u64 {
    counts.values().sum()
}

/// Runs one Terraform step through the proxy and returns the calls that reached moto, printing
/// the proxy's table; adds the step's injected faults to `faults` (throttled, 5xx).
fn counted<T>(
    tf: &Terraform,
    proxy: &FaultProxy,
    step: &str,
    faults: &mut (u64, u64),
    run: impl FnOnce() -> Result<T, acc::Error>,
) -> Result<BTreeMap<String, u64>, acc::Error> {
    proxy.reset_counts();
    run()?;
    for s in proxy.stats().values() {
        faults.0 += s.throttled;
        faults.1 += s.server_errors;
    }
    println!("[{tf}] {step} through the fault proxy:\n{}", proxy.report());
    Ok(forwarded(proxy))
}

/// The fault proxy's seed: with the order in which Terraform sends the requests it injects both
/// kinds of fault (3 throttles and 4 server errors in this test).
const SEED: u64 = 2;

#[test]
fn apply_replan_update_and_destroy_succeed_through_faults_with_few_api_calls() {
    // Measured on moto 5.2.5 (groups are ACTIVE at once and gone at once, so no polling), the
    // calls that reached moto, retries of injected faults left out:
    //   create  4 = DescribeCluster, GetParameter, CreateLaunchTemplate, CreateNodegroup
    //   refresh 1 = DescribeNodegroup
    //   update  2 = refresh + UpdateNodegroupConfig (moto's update is Successful at once)
    //   destroy 4 = refresh + DeleteNodegroup, DescribeNodegroup (gone), DeleteLaunchTemplate
    const MAX_CREATE_CALLS: u64 = 5;
    const MAX_REFRESH_CALLS: u64 = 1;
    const MAX_UPDATE_CALLS: u64 = 3;
    const MAX_DESTROY_CALLS: u64 = 5;
    acc::run(|tf| -> Result<(), acc::Error> {
        let stack = Stack::start()?;
        // 20% throttling and 10% HTTP 500, at most two faults in a row per operation (the
        // provider's SDK clients make up to 8 attempts).
        let proxy = FaultProxy::start(stack.moto.endpoint(), FaultConfig::new(0.2, 0.1, SEED))
            .map_err(moto_error)?;
        let wd = stack.workdir(tf, proxy.endpoint())?;
        let mut spec = stack.spec("faulty");
        wd.config(&spec.hcl())?;
        let mut faults = (0, 0);

        let create = counted(tf, &proxy, "create", &mut faults, || wd.apply())?;
        let refresh = counted(tf, &proxy, "refresh", &mut faults, || {
            wd.assert_plan_empty()
        })?;
        spec.scaling = (1, 4, 3);
        wd.config(&spec.hcl())?;
        let update = counted(tf, &proxy, "update", &mut faults, || wd.apply())?;
        let refresh2 = counted(tf, &proxy, "refresh", &mut faults, || {
            wd.assert_plan_empty()
        })?;
        let destroy = counted(tf, &proxy, "destroy", &mut faults, || wd.destroy())?;

        println!(
            "[{tf}] API calls reaching moto (retries excluded): create {} {create:?}; \
             refresh {} {refresh:?}; update {} {update:?}; destroy {} {destroy:?}; \
             bounds create <= {MAX_CREATE_CALLS}, refresh <= {MAX_REFRESH_CALLS}, \
             update <= {MAX_UPDATE_CALLS}, destroy <= {MAX_DESTROY_CALLS}; \
             injected {} throttles and {} server errors",
            total(&create),
            total(&refresh),
            total(&update),
            total(&destroy),
            faults.0,
            faults.1,
        );
        check(faults.0 > 0 && faults.1 > 0, || {
            format!("seed {SEED} injected {faults:?} (throttles, 5xx): pick another")
        })?;
        assert_eq!(create.get("eks:CreateNodegroup"), Some(&1), "{create:?}");
        assert_eq!(
            create.get("ec2:CreateLaunchTemplate"),
            Some(&1),
            "{create:?}"
        );
        assert_eq!(
            update.get("eks:UpdateNodegroupConfig"),
            Some(&1),
            "{update:?}"
        );
        for (step, counts, max) in [
            ("create", &create, MAX_CREATE_CALLS),
            ("refresh", &refresh, MAX_REFRESH_CALLS),
            ("refresh after update", &refresh2, MAX_REFRESH_CALLS),
            ("update", &update, MAX_UPDATE_CALLS),
            ("destroy", &destroy, MAX_DESTROY_CALLS),
        ] {
            check(total(counts) <= max, || {
                format!(
                    "{step} made {} calls (at most {max}): {counts:?}",
                    total(counts)
                )
            })?;
        }
        let group = stack
            .moto
            .describe_nodegroup(CLUSTER, "faulty")
            .map_err(moto_error)?;
        check(group.is_none(), || format!("left behind: {group:?}"))?;
        assert_eq!(leftovers(&stack.moto)?, (Vec::new(), Vec::new()));
        Ok(())
    });
}

/// One bad input: the resource name, its configuration, the diagnostic's summary, the start of
/// the configuration line Terraform shows for the attribute the error is on, and a phrase of the
/// detail (a regular expression).
struct BadInput {
    case: &'static str,
    hcl: String,
    summary: &'static str,
    line: &'static str,
    detail: &'static str,
}

#[test]
fn bad_inputs_are_diagnosed_at_plan_on_their_attributes() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let stack = Stack::start()?;
        let moto: &MotoClient = &stack.moto;
        // Through a proxy that counts: bad input is refused before any AWS call.
        let proxy = FaultProxy::start(moto.endpoint(), FaultConfig::none()).map_err(moto_error)?;
        let wd = stack.workdir(tf, proxy.endpoint())?;
        let base = stack.spec("bad");
        let with = |case: &str, edit: &dyn Fn(&mut Spec)| {
            let mut spec = base.clone();
            edit(&mut spec);
            spec.hcl().replace(
                "\"cvm_nodegroup\" \"main\"",
                &format!("\"cvm_nodegroup\" \"{case}\""),
            )
        };
        let cases = vec![
            BadInput {
                case: "min_over_desired",
                hcl: with("min_over_desired", &|s| s.scaling = (3, 5, 2)),
                summary: "Invalid Scaling",
                line: "desired_size = 2",
                detail: r#"scaling\.desired_size \(2\) must be at least scaling\.min_size \(3\)"#,
            },
            BadInput {
                case: "desired_over_max",
                hcl: with("desired_over_max", &|s| s.scaling = (1, 3, 4)),
                summary: "Invalid Scaling",
                line: "desired_size = 4",
                detail: r#"scaling\.desired_size \(4\) must not exceed scaling\.max_size \(3\)"#,
            },
            BadInput {
                case: "min_over_max",
                hcl: with("min_over_max", &|s| s.scaling = (4, 3, 3)),
                summary: "Invalid Scaling",
                line: "min_size = 4",
                detail: r#"scaling\.min_size \(4\) must not exceed scaling\.max_size \(3\)"#,
            },
            BadInput {
                case: "no_subnets",
                hcl: with("no_subnets", &|s| s.subnet_ids = Vec::new()),
                summary: "",
                line: "subnet_ids = []",
                detail: r#"subnet_ids must not be empty"#,
            },
            BadInput {
                case: "no_instance_types",
                hcl: with("no_instance_types", &|s| s.instance_types = Vec::new()),
                summary: "",
                line: "instance_types = []",
                detail: r#"instance_types must not be empty"#,
            },
            BadInput {
                case: "long_name",
                hcl: with("long_name", &|s| s.name = "n".repeat(64)),
                summary: "Invalid Node Group Name",
                line: "name = \"nnnn",
                detail: r#"at most 63 characters"#,
            },
            BadInput {
                case: "bad_chars",
                hcl: with("bad_chars", &|s| s.name = "-has space".to_string()),
                summary: "Invalid Node Group Name",
                line: "name = \"-has space\"",
                detail: r#"only letters, digits"#,
            },
            BadInput {
                case: "focal_on_131",
                hcl: with("focal_on_131", &|s| {
                    s.extra = "  ubuntu_release = \"20.04\"\n  kubernetes_version = \"1.31\"\n"
                        .to_string();
                }),
                summary: "Unsupported Ubuntu EKS Image",
                line: "ubuntu_release = \"20.04\"",
                detail: r#"Ubuntu 20\.04 EKS images exist for Kubernetes 1\.21.1\.29 only.*use: Ubuntu 22\.04"#,
            },
            BadInput {
                case: "bad_taint_effect",
                hcl: with("bad_taint_effect", &|s| {
                    s.taints = vec![("k".to_string(), None, "NoSchedule".to_string())];
                }),
                summary: "Invalid Taint",
                // A set of blocks has no range of its own: Terraform shows the resource.
                line: "resource \"cvm_nodegroup\" \"bad_taint_effect\" {",
                detail: r#"Taint effect "NoSchedule" must be one of NO_SCHEDULE"#,
            },
            BadInput {
                case: "bad_label",
                hcl: with("bad_label", &|s| {
                    s.labels = BTreeMap::from([("bad key".to_string(), "x".to_string())]);
                }),
                summary: "Invalid Kubernetes Label",
                line: "\"bad key\" = \"x\"",
                detail: r#""bad key"="x" is not a valid Kubernetes label"#,
            },
            BadInput {
                case: "both_update_limits",
                hcl: with("both_update_limits", &|s| {
                    s.extra = "  update_config = { max_unavailable = 1, max_unavailable_percentage = 10 }\n".to_string();
                }),
                summary: "Conflicting Update Limits",
                // Terraform cannot point into an object expression: it shows the resource.
                line: "resource \"cvm_nodegroup\" \"both_update_limits\" {",
                detail: r#"update_config\.max_unavailable or update_config\.max_unavailable_percentage, not both"#,
            },
            BadInput {
                case: "bad_role",
                hcl: with("bad_role", &|s| s.node_role_arn = "eks-node".to_string()),
                summary: "",
                line: "node_role_arn = \"eks-node\"",
                detail: r#"node_role_arn must be an IAM role ARN"#,
            },
            BadInput {
                case: "bad_capacity",
                hcl: with("bad_capacity", &|s| {
                    s.extra = "  capacity_type = \"RESERVED\"\n".to_string();
                }),
                summary: "",
                line: "capacity_type = \"RESERVED\"",
                detail: r#"capacity_type must be one of"#,
            },
            BadInput {
                case: "small_disk",
                hcl: with("small_disk", &|s| {
                    s.extra = "  disk_size_gib = 4\n".to_string();
                }),
                summary: "",
                line: "disk_size_gib = 4",
                detail: r#"disk_size_gib must be between 8 and 16384"#,
            },
            BadInput {
                case: "max_beyond_eks",
                hcl: with("max_beyond_eks", &|s| s.scaling = (1, 5_000_000_000, 2)),
                summary: "Invalid Scaling",
                line: "max_size = 5000000000",
                detail: r#"scaling\.max_size must be at most 2147483647, the largest size EKS accepts"#,
            },
            BadInput {
                case: "installer_label",
                hcl: with("installer_label", &|s| {
                    s.labels =
                        BTreeMap::from([("sysbox-runtime".to_string(), "running".to_string())]);
                }),
                summary: "Label Owned by the Sysbox Installer",
                line: "\"sysbox-runtime\" = \"running\"",
                detail: r#"The Sysbox installer sets and removes the "sysbox-runtime" label itself"#,
            },
            BadInput {
                case: "crio_label",
                hcl: with("crio_label", &|s| {
                    s.labels =
                        BTreeMap::from([("crio-runtime".to_string(), "running".to_string())]);
                }),
                summary: "Label Owned by the Sysbox Installer",
                line: "\"crio-runtime\" = \"running\"",
                detail: r#"the "crio-runtime" label itself"#,
            },
            BadInput {
                case: "graviton_for_amd64",
                hcl: with("graviton_for_amd64", &|s| {
                    s.instance_types = vec!["m7g.xlarge".to_string()];
                }),
                summary: "Instance Type Does Not Fit the Architecture",
                line: "instance_types = [\"m7g.xlarge\"]",
                detail: r#"m7g\.xlarge is an arm64 instance type, but architecture is "amd64""#,
            },
            BadInput {
                case: "x86_for_arm64",
                hcl: with("x86_for_arm64", &|s| {
                    s.extra = "  architecture = \"arm64\"\n".to_string();
                }),
                summary: "Instance Type Does Not Fit the Architecture",
                line: "instance_types = [\"m6i.xlarge\"]",
                detail: r#"m6i\.xlarge is an amd64 instance type, but architecture is "arm64""#,
            },
            BadInput {
                case: "not_an_instance_type",
                hcl: with("not_an_instance_type", &|s| {
                    s.instance_types = vec!["m6i".to_string()];
                }),
                summary: "Invalid Instance Type",
                line: "instance_types = [\"m6i\"]",
                detail: r#""m6i" is not an EC2 instance type"#,
            },
            BadInput {
                case: "bad_subnet",
                hcl: with("bad_subnet", &|s| {
                    s.subnet_ids = vec!["sg-0123".to_string()]
                }),
                summary: "Invalid Subnet Id",
                line: "subnet_ids = [\"sg-0123\"]",
                detail: r#""sg-0123" is not a subnet id"#,
            },
            BadInput {
                case: "reserved_tag",
                hcl: with("reserved_tag", &|s| {
                    s.extra = "  tags = {\n    \"aws:team\" = \"cvm\"\n  }\n".to_string();
                }),
                summary: "Invalid Tag",
                line: "\"aws:team\" = \"cvm\"",
                detail: r#"Tag keys starting with "aws:" are reserved for AWS"#,
            },
            BadInput {
                case: "installer_taint",
                hcl: with("installer_taint", &|s| {
                    s.taints = vec![(
                        "sysbox-runtime".to_string(),
                        Some("not-running".to_string()),
                        "NO_SCHEDULE".to_string(),
                    )];
                }),
                summary: "Taint Owned by the Sysbox Installer",
                line: "resource \"cvm_nodegroup\" \"installer_taint\" {",
                detail: r#"adds and removes the "sysbox-runtime" taint itself"#,
            },
            BadInput {
                case: "bad_cluster",
                hcl: with("bad_cluster", &|s| {
                    s.extra = String::new();
                })
                .replace("cluster_name   = \"demo\"", "cluster_name   = \"-demo\""),
                summary: "Invalid Cluster Name",
                line: "cluster_name = \"-demo\"",
                detail: r#"cluster_name must start with a letter or digit"#,
            },
        ];
        let all: Vec<&str> = cases.iter().map(|c| c.hcl.as_str()).collect();
        wd.config(&all.join("\n"))?;
        let stderr = wd.expect_error(Action::Plan, "Error: ")?;
        check(!stderr.to_lowercase().contains("panic"), || stderr.clone())?;
        // One chunk per diagnostic, so a match cannot span two of them.
        let text = collapse_whitespace(&stderr);
        let diagnostics: Vec<&str> = text.split("Error: ").skip(1).collect();
        let mut missing = Vec::new();
        for case in &cases {
            // `<summary> [with cvm_nodegroup.<case>,] on main.tf line N, in resource
            // "cvm_nodegroup" "<case>": N: <the attribute's line>`.
            let pattern = format!(
                r#"^{summary}.*in resource "cvm_nodegroup" "{case}": \d+: +{line}.*{detail}"#,
                summary = regex::escape(case.summary),
                case = case.case,
                line = regex::escape(case.line).replace(' ', " +"),
                detail = case.detail,
            );
            let re =
                regex::Regex::new(&pattern).map_err(|e| acc::Error::Assertion(e.to_string()))?;
            if !diagnostics.iter().any(|d| re.is_match(d)) {
                missing.push(format!("{}: /{pattern}/", case.case));
            }
        }
        check(missing.is_empty(), || {
            format!(
                "no diagnostic on the right attribute for:\n  {}\n--- stderr ---\n{stderr}",
                missing.join("\n  ")
            )
        })?;
        assert_eq!(
            proxy.total_requests(),
            0,
            "bad input reached AWS: {:?}",
            proxy.counts()
        );
        assert_eq!(leftovers(moto)?, (Vec::new(), Vec::new()));
        Ok(())
    });
}

#[test]
fn an_unsupported_release_for_the_clusters_version_fails_at_apply_without_leftovers() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let stack = Stack::start()?;
        let moto: &MotoClient = &stack.moto;
        let wd = stack.workdir(tf, moto.endpoint())?;
        // The Kubernetes version comes from the cluster (1.31) only at apply.
        let mut spec = stack.spec("focal");
        spec.extra = "  ubuntu_release = \"20.04\"\n".to_string();
        wd.config(&spec.hcl())?;
        let stderr = wd.expect_error(
            Action::Apply,
            r"Unsupported Ubuntu EKS Image[\s\S]*Ubuntu 20\.04 EKS images exist for Kubernetes 1\.21.1\.29 only[\s\S]*Ubuntu 22\.04",
        )?;
        check(!stderr.to_lowercase().contains("panic"), || stderr.clone())?;
        check(!wd.show()?.has_managed_resources(), || {
            "a failed create left state behind".to_string()
        })?;

        // A missing parameter: a clear error naming it, and nothing created.
        let mut spec = stack.spec("jammy-missing");
        spec.extra = "  pro = true\n".to_string();
        wd.config(&spec.hcl())?;
        wd.expect_error(
            Action::Apply,
            r"Ubuntu EKS Image Not Found[\s\S]*/test/canonical/ubuntu/eks-pro/22\.04/1\.31/stable/current/amd64/hvm/ebs-gp2/ami-id",
        )?;
        assert_eq!(leftovers(moto)?, (Vec::new(), Vec::new()));
        Ok(())
    });
}
