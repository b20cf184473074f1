//! Acceptance tests for the `cvm_ubuntu_ami` data source on a real `moto_server`, on every
//! available Terraform: the AMI id read from SSM at Canonical's path layout under a test prefix
//! (moto refuses names under `/aws`, so `parameter_prefix` points at copies), the gp2/gp3 rule
//! by release, the Pro path, the eksctl version gates, and a missing parameter.
//!
//! The provider is configured with an explicit `aws` block (static test keys, endpoints at moto).
//! Needs `scripts/moto install` once.

use acceptance_tests::moto::{Error as MotoError, Moto};
use acceptance_tests::{self as acc, Action, Terraform, Workdir};
use serde_json::json;

const PREFIX: &str = "/test/canonical/ubuntu";

fn moto_error(e: MotoError) -> acc::Error {
    acc::Error::Assertion(format!("moto: {e}"))
}

fn workdir(tf: &Terraform, moto: &Moto) -> Result<Workdir, acc::Error> {
    let mut wd = Workdir::new(tf)?;
    // Nothing of the developer's AWS setup may leak into the provider.
    wd.env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    wd.write_file(
        "provider.tf",
        &acc::provider_config(&acceptance_tests::moto::aws_provider_block(moto.endpoint())),
    )?;
    Ok(wd)
}

/// Canonical's parameter path for one image, under [`PREFIX`].
fn parameter(product: &str, release: &str, version: &str, arch: &str, volume: &str) -> String {
    format!("{PREFIX}/{product}/{release}/{version}/stable/current/{arch}/hvm/{volume}/ami-id")
}

/// A `cvm_ubuntu_ami` data source named `name` with the given extra arguments.
fn lookup(name: &str, version: &str, extra: &str) -> String {
    format!(
        r#"
data "cvm_ubuntu_ami" "{name}" {{
  kubernetes_version = "{version}"
  parameter_prefix   = "{PREFIX}"
  {extra}
}}
"#
    )
}

#[test]
fn lookups_read_canonicals_parameter_layout() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let moto = Moto::start().map_err(moto_error)?;
        // (data source, arguments, Kubernetes version, parameter, AMI id)
        let cases = [
            (
                "jammy",
                "",
                "1.31",
                parameter("eks", "22.04", "1.31", "amd64", "ebs-gp2"),
                "ami-0aaaaaaaaaaaaaaa1",
            ),
            (
                "noble",
                r#"ubuntu_release = "24.04""#,
                "1.31",
                parameter("eks", "24.04", "1.31", "amd64", "ebs-gp3"),
                "ami-0bbbbbbbbbbbbbbb2",
            ),
            (
                "jammy_pro_arm",
                "ubuntu_release = \"22.04\"\n  pro = true\n  architecture = \"arm64\"",
                "1.30",
                parameter("eks-pro", "22.04", "1.30", "arm64", "ebs-gp2"),
                "ami-0ccccccccccccccc3",
            ),
            (
                "focal",
                r#"ubuntu_release = "20.04""#,
                "1.29",
                parameter("eks", "20.04", "1.29", "amd64", "ebs-gp2"),
                "ami-0ddddddddddddddd4",
            ),
            (
                "noble_pro",
                "ubuntu_release = \"24.04\"\n  pro = true",
                "1.32",
                parameter("eks-pro", "24.04", "1.32", "amd64", "ebs-gp3"),
                "ami-0eeeeeeeeeeeeeee5",
            ),
        ];
        // A gp2 copy of the 24.04 image must not be what the lookup finds.
        moto.put_parameter(
            &parameter("eks", "24.04", "1.31", "amd64", "ebs-gp2"),
            "ami-0fffffffffffffff6",
            Some("aws:ec2:image"),
        )
        .map_err(moto_error)?;
        let mut config = String::new();
        for (name, extra, version, parameter, ami) in &cases {
            moto.put_parameter(parameter, ami, Some("aws:ec2:image"))
                .map_err(moto_error)?;
            config.push_str(&lookup(name, version, extra));
        }
        let wd = workdir(tf, &moto)?;
        wd.config(&config)?;
        wd.apply()?;
        let state = wd.show()?;
        for (name, _, _, parameter, ami) in &cases {
            let data = state.data(&format!("cvm_ubuntu_ami.{name}"))?;
            assert_eq!(data.str("ami_id")?, *ami, "{name}");
            assert_eq!(data.str("parameter_name")?, *parameter, "{name}");
        }
        // Data sources only: the next plan has nothing to do.
        wd.assert_plan_empty()?;
        Ok(())
    });
}

#[test]
fn unsupported_combinations_list_what_is_supported() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let moto = Moto::start().map_err(moto_error)?;
        let wd = workdir(tf, &moto)?;

        // Ubuntu 20.04 stopped at Kubernetes 1.29: the error is on ubuntu_release and lists
        // what exists for 1.31 and overall.
        wd.config(&lookup("focal", "1.31", r#"ubuntu_release = "20.04""#))?;
        let stderr = wd.expect_error(
            Action::Plan,
            r#"Error: Unsupported Ubuntu EKS Image .*on main\.tf line \d+, in data "cvm_ubuntu_ami" "focal": \d+: ubuntu_release = "20\.04" Ubuntu 20\.04 EKS images exist for Kubernetes 1\.21.1\.29 only, not for Kubernetes 1\.31\. For Kubernetes 1\.31 use: Ubuntu 22\.04, Ubuntu Pro 22\.04, Ubuntu 24\.04, Ubuntu Pro 24\.04\. All supported: Ubuntu 20\.04 \(Kubernetes 1\.21.1\.29\)"#,
        )?;
        check_no_panic(&stderr)?;

        // Ubuntu Pro 20.04 starts at 1.27; 24.04 at 1.31.
        wd.config(&lookup(
            "focal_pro",
            "1.26",
            "ubuntu_release = \"20.04\"\n  pro = true",
        ))?;
        wd.expect_error(
            Action::Plan,
            r"Unsupported Ubuntu EKS Image[\s\S]*Ubuntu Pro 20\.04 EKS images exist for Kubernetes 1\.27.1\.29 only",
        )?;
        wd.config(&lookup("noble", "1.30", r#"ubuntu_release = "24.04""#))?;
        wd.expect_error(
            Action::Plan,
            r"Unsupported Ubuntu EKS Image[\s\S]*Ubuntu 24\.04 EKS images exist for Kubernetes 1\.31 or later only[\s\S]*For Kubernetes 1\.30 use: Ubuntu 22\.04, Ubuntu Pro 22\.04",
        )?;

        // Releases and architectures Canonical does not build, and a malformed version.
        wd.config(&lookup("bionic", "1.31", r#"ubuntu_release = "18.04""#))?;
        let stderr = wd.expect_error(Action::Plan, r"ubuntu_release[\s\S]*18\.04")?;
        check_no_panic(&stderr)?;
        wd.config(&lookup("s390x", "1.31", r#"architecture = "s390x""#))?;
        wd.expect_error(Action::Plan, r#"architecture[\s\S]*"amd64", "arm64""#)?;
        wd.config(&lookup("bad_version", "latest", ""))?;
        let stderr = wd.expect_error(
            Action::Plan,
            r#"kubernetes_version = "latest"[\s\S]*Kubernetes minor version such as "1\.31""#,
        )?;
        check_no_panic(&stderr)?;
        Ok(())
    });
}

#[test]
fn a_missing_parameter_is_a_clear_error() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let moto = Moto::start().map_err(moto_error)?;
        let wd = workdir(tf, &moto)?;
        // Supported, but nothing published at the prefix.
        wd.config(&lookup("noble", "1.33", r#"ubuntu_release = "24.04""#))?;
        let stderr = wd.expect_error(
            Action::Plan,
            r"Error: Ubuntu EKS Image Not Found[\s\S]*SSM parameter /test/canonical/ubuntu/eks/24\.04/1\.33/stable/current/amd64/hvm/ebs-gp3/ami-id does not exist[\s\S]*give the AMI id directly",
        )?;
        check_no_panic(&stderr)?;

        // Once it is published, the same configuration works.
        moto.put_parameter(
            &parameter("eks", "24.04", "1.33", "amd64", "ebs-gp3"),
            "ami-0123456789abcdef0",
            Some("aws:ec2:image"),
        )
        .map_err(moto_error)?;
        wd.apply()?;
        let state = wd.show()?;
        assert_eq!(
            state.data("cvm_ubuntu_ami.noble")?.get("ami_id")?,
            json!("ami-0123456789abcdef0")
        );
        Ok(())
    });
}

fn check_no_panic(stderr: &str) -> Result<(), acc::Error> {
    if stderr.to_lowercase().contains("panic") {
        Err(acc::Error::Assertion(format!(
            "the provider panicked:\n{stderr}"
        )))
    } else {
        Ok(())
    }
}
