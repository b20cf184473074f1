//! How many AWS calls creating many `cvm_nodegroup`s of one cluster costs, counted on the wire
//! by the [`FaultProxy`] in front of a real `moto_server`: the cluster's DescribeCluster and
//! each distinct AMI parameter's GetParameter are made once per provider process and shared by
//! every create; each group adds only its CreateLaunchTemplate and CreateNodegroup. A refresh
//! still asks AWS about every group.
//!
//! Needs `scripts/moto install` once and the provider built.

use std::collections::BTreeMap;

use acceptance_tests::moto::{
    Error as MotoError, FaultConfig, FaultProxy, Moto, aws_provider_block,
};
use acceptance_tests::{self as acc, Workdir};

const CLUSTER: &str = "shared";
const KUBERNETES_VERSION: &str = "1.31";
/// Two copies of Canonical's parameters, so that two distinct parameters are looked up: the
/// resource name of the groups using it, its prefix, its AMI id.
const PREFIXES: [(&str, &str, &str); 2] = [
    ("a", "/calls/a/canonical/ubuntu", "ami-0aaaaaaaaaaaaaaa1"),
    ("b", "/calls/b/canonical/ubuntu", "ami-0bbbbbbbbbbbbbbb2"),
];
/// Groups per prefix: five node groups in all.
const GROUPS: [usize; 2] = [3, 2];

fn moto_error(e: MotoError) -> acc::Error {
    acc::Error::Assertion(format!("moto: {e}"))
}

fn check(condition: bool, message: impl FnOnce() -> String) -> Result<(), acc::Error> {
    if condition {
        Ok(())
    } else {
        Err(acc::Error::Assertion(message()))
    }
}

/// Requests per operation that reached moto.
fn forwarded(proxy: &FaultProxy) -> BTreeMap<String, u64> {
    proxy
        .stats()
        .into_iter()
        .map(|(action, s)| (action, s.forwarded()))
        .filter(|(_, n)| *n > 0)
        .collect()
}

#[test]
fn one_apply_looks_the_cluster_and_each_ami_parameter_up_once() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let moto = Moto::start().map_err(moto_error)?;
        let fixture = moto
            .create_cluster_fixture(CLUSTER, KUBERNETES_VERSION)
            .map_err(moto_error)?;
        let mut resources = String::new();
        for ((label, prefix, ami), count) in PREFIXES.iter().zip(GROUPS) {
            moto.put_parameter(
                &format!(
                    "{prefix}/eks/22.04/{KUBERNETES_VERSION}/stable/current/amd64/hvm/ebs-gp2/ami-id"
                ),
                ami,
                Some("aws:ec2:image"),
            )
            .map_err(moto_error)?;
            resources.push_str(&format!(
                r#"
resource "cvm_nodegroup" "{label}" {{
  count                = {count}
  cluster_name         = "{CLUSTER}"
  name                 = "{label}-${{count.index}}"
  node_role_arn        = "{role}"
  subnet_ids           = ["{subnet}"]
  instance_types       = ["m6i.xlarge"]
  ami_parameter_prefix = "{prefix}"
  scaling {{
    min_size     = 1
    max_size     = 2
    desired_size = 1
  }}
}}
"#,
                role = fixture.node_role_arn,
                subnet = fixture.network.subnet_ids[0],
            ));
        }
        let proxy = FaultProxy::start(moto.endpoint(), FaultConfig::none()).map_err(moto_error)?;
        let mut wd = Workdir::new(tf)?;
        wd.env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true");
        wd.config(&format!(
            "{}\n{resources}",
            acc::provider_config(&aws_provider_block(proxy.endpoint()))
        ))?;
        let groups: u64 = GROUPS.iter().sum::<usize>() as u64;

        proxy.reset_counts();
        wd.apply()?;
        let create = forwarded(&proxy);
        println!(
            "[{tf}] apply creating {groups} node groups:\n{}",
            proxy.report()
        );
        let expected: BTreeMap<String, u64> = [
            ("eks:DescribeCluster", 1),
            ("ssm:GetParameter", PREFIXES.len() as u64),
            ("ec2:CreateLaunchTemplate", groups),
            ("eks:CreateNodegroup", groups),
        ]
        .into_iter()
        .map(|(action, n)| (action.to_owned(), n))
        .collect();
        check(create == expected, || {
            format!("the create's calls: {create:?}, expected {expected:?}")
        })?;

        // Each group's template carries the AMI of its own parameter: sharing keeps keys apart.
        let templates = moto.launch_templates().map_err(moto_error)?;
        check(templates.len() as u64 == groups, || {
            format!("launch templates in moto: {templates:?}")
        })?;
        for template in &templates {
            let versions = moto
                .launch_template_versions(&template.id)
                .map_err(moto_error)?;
            let want = if template.name.contains("-a-") {
                PREFIXES[0].2
            } else {
                PREFIXES[1].2
            };
            check(
                versions.iter().all(|v| v.image_id.as_deref() == Some(want)),
                || format!("{} should use {want}: {versions:?}", template.name),
            )?;
        }

        // A refresh is not served from the shared lookups: every group is read again.
        proxy.reset_counts();
        wd.assert_plan_empty()?;
        let refresh = forwarded(&proxy);
        check(
            refresh.get("eks:DescribeNodegroup") == Some(&groups),
            || format!("the refresh's calls: {refresh:?}"),
        )?;

        wd.destroy()?;
        let left = moto.list_nodegroups(CLUSTER).map_err(moto_error)?;
        check(left.is_empty(), || format!("left behind: {left:?}"))?;
        Ok(())
    });
}
