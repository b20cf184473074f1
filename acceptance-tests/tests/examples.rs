//! The examples under `examples/` are applied as they are, and every docs
//! page shows its example verbatim, so the documentation cannot rot.

use std::path::{Path, PathBuf};

use acceptance_tests::coder::CoderEmulator;
use acceptance_tests::coder_v2::CoderV2;
use acceptance_tests::{self as acc, State, Terraform, Workdir};

const REQUIRED_PROVIDERS: &str = r#"
terraform {
  required_providers {
    cvm = { source = "cvm-provider/cvm" }
  }
}
"#;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn read(relative: &str) -> String {
    let path = repo().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Applies `example` (with the provider configured from the environment) and
/// checks the re-plan is empty; returns the directory, still holding what
/// was applied, and the state.
fn applied_example(
    tf: &Terraform,
    coder: Option<&CoderEmulator>,
    example: &str,
) -> Result<(Workdir, State), acc::Error> {
    let mut wd = Workdir::new(tf)?;
    if let Some(coder) = coder {
        wd.env("CODER_URL", &coder.url)
            .env("CODER_SESSION_TOKEN", &coder.token);
    }
    wd.config(REQUIRED_PROVIDERS)?;
    wd.write_file("example.tf", &read(example))?;
    wd.apply()?;
    wd.assert_plan_empty()?;
    let state = wd.show()?;
    Ok((wd, state))
}

/// [`applied_example`], then destroy; returns the state before the destroy.
fn apply_example(
    tf: &Terraform,
    coder: Option<&CoderEmulator>,
    example: &str,
) -> Result<State, acc::Error> {
    let (wd, state) = applied_example(tf, coder, example)?;
    wd.destroy()?;
    Ok(state)
}

/// The `terraform import ADDRESS ID` command of an example's `import.sh`.
fn import_command(script: &str) -> (String, String) {
    let text = read(script);
    let line = text
        .lines()
        .find(|l| l.starts_with("terraform import "))
        .unwrap_or_else(|| panic!("{script} has no `terraform import` line"));
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(
        words.len(),
        4,
        "{script}: `terraform import ADDRESS ID`, got {line:?}"
    );
    (words[2].to_owned(), words[3].to_owned())
}

/// Runs the example's `import.sh` import into a fresh directory and compares
/// it with the applied state. `id` replaces the script's id when the script
/// can only show a placeholder (an id the server chooses).
fn import_as_scripted(
    wd: &Workdir,
    state: &State,
    script: &str,
    id: Option<&str>,
    ignore: &[&str],
) -> Result<(), acc::Error> {
    let (address, scripted_id) = import_command(script);
    // The address is the one the example declares.
    state.resource(&address)?;
    wd.import_and_compare(&address, id.unwrap_or(&scripted_id), ignore)
}

#[test]
fn resource_examples_apply_cleanly() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let coder = CoderEmulator::start()?;
        let (wd, state) = applied_example(
            tf,
            Some(&coder),
            "examples/resources/cvm_settings/resource.tf",
        )?;
        assert_eq!(
            coder.settings()?["enable_container_vms"],
            serde_json::json!(true)
        );
        import_as_scripted(
            &wd,
            &state,
            "examples/resources/cvm_settings/import.sh",
            None,
            &["extra_settings"],
        )?;
        wd.destroy()?;

        let (wd, state) = applied_example(
            tf,
            Some(&coder),
            "examples/resources/cvm_registry/resource.tf",
        )?;
        let id = state.output("registry_id")?;
        let id = id.as_str().unwrap_or_default();
        assert!(!id.is_empty(), "the example outputs the registry id");
        import_as_scripted(
            &wd,
            &state,
            "examples/resources/cvm_registry/import.sh",
            Some(id),
            &["username", "password"],
        )?;
        wd.destroy()?;
        Ok(())
    });
}

/// The Coder v2 resource's example on the real Coder v2 server: applied, imported as its
/// `import.sh` says (an empty difference), destroyed.
#[test]
fn coder_v2_resource_example_applies_cleanly() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let coder = CoderV2::shared()?;
        let mut wd = Workdir::new(tf)?;
        wd.env("CODER_URL", &coder.url)
            .env("CODER_SESSION_TOKEN", &coder.token);
        wd.config(REQUIRED_PROVIDERS)?;
        wd.write_file(
            "example.tf",
            &read("examples/resources/cvm_coder_template/resource.tf"),
        )?;
        wd.apply()?;
        wd.assert_plan_empty()?;
        let state = wd.show()?;
        let version = state.output("template_version")?;
        let template = coder.template("cvm-ubuntu")?;
        assert_eq!(
            template.as_ref().map(|t| t["active_version_id"].clone()),
            Some(version)
        );
        import_as_scripted(
            &wd,
            &state,
            "examples/resources/cvm_coder_template/import.sh",
            None,
            &[],
        )?;
        wd.destroy()?;
        assert!(coder.template("cvm-ubuntu")?.is_none());
        Ok(())
    });
}

/// The ready CVM template example pushes the rendered files to the real Coder v2 server, whose
/// provisioner imports them (tests/workspace_build.rs builds workspaces of it).
#[test]
fn workspace_template_example_imports_on_coder_v2() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let coder = CoderV2::shared()?;
        let mut wd = Workdir::new(tf)?;
        wd.env("CODER_URL", &coder.url)
            .env("CODER_SESSION_TOKEN", &coder.token);
        wd.config(REQUIRED_PROVIDERS)?;
        wd.write_file(
            "example.tf",
            &read("examples/data-sources/cvm_workspace_template/data-source.tf"),
        )?;
        wd.apply()?;
        wd.assert_plan_empty()?;
        let template = coder
            .template("cvm")?
            .ok_or_else(|| acc::Error::Assertion("no template cvm".into()))?;
        let version = template["active_version_id"].as_str().unwrap_or_default();
        let files = coder.version_files(version)?;
        assert!(
            files["main.tf"].contains(r#"image_pull_secret = "team-registry""#),
            "{files:?}"
        );
        wd.destroy()?;
        assert!(coder.template("cvm")?.is_none());
        Ok(())
    });
}

/// The provider block example configures the provider: a data source that
/// needs no connection makes Terraform configure it with that block.
#[test]
fn provider_example_configures_the_provider() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let wd = Workdir::new(tf)?;
        wd.config(&read("examples/provider/provider.tf"))?;
        wd.write_file(
            "use.tf",
            r#"
data "cvm_workspace_image" "base" {}
output "init_path" { value = data.cvm_workspace_image.base.init_path }
"#,
        )?;
        wd.apply()?;
        assert_eq!(
            wd.show()?.output("init_path")?,
            serde_json::json!("/sbin/init")
        );
        wd.assert_plan_empty()?;
        Ok(())
    });
}

#[test]
fn data_source_examples_apply_cleanly() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let state = apply_example(
            tf,
            None,
            "examples/data-sources/cvm_workspace_image/data-source.tf",
        )?;
        let dockerfile = state.output("dockerfile")?;
        let dockerfile = dockerfile.as_str().unwrap_or_default();
        assert!(dockerfile.contains("\nFROM ubuntu:22.04\n"), "{dockerfile}");
        assert!(dockerfile.contains("build-essential"), "{dockerfile}");
        Ok(())
    });
}

#[test]
fn cluster_check_example_applies_against_a_real_api_server() {
    let cluster = acceptance_tests::kube::KubeCluster::start().expect("a kube-apiserver");
    acc::run(|tf| -> Result<(), acc::Error> {
        let mut wd = Workdir::new(tf)?;
        wd.env(
            "KUBECONFIG",
            &cluster.kubeconfig_path().display().to_string(),
        );
        wd.config(REQUIRED_PROVIDERS)?;
        wd.write_file(
            "example.tf",
            &read("examples/data-sources/cvm_cluster_check/data-source.tf"),
        )?;
        wd.apply()?;
        wd.assert_plan_empty()?;
        Ok(())
    });
}

#[test]
fn sysbox_example_installs_and_uninstalls_against_a_real_api_server() {
    use acceptance_tests::installer_double::InstallerDouble;
    use acceptance_tests::kube::{KubeCluster, NodeInfo};

    acc::run(|tf| -> Result<(), acc::Error> {
        let cluster = KubeCluster::start()?;
        for name in ["cvm-1", "cvm-2"] {
            cluster.create_node(name, &NodeInfo::ubuntu_22_04())?;
            cluster.label_node(name, "example.com/cvm", Some("true"))?;
        }
        // The test cluster has no kubelets: the double plays the installer's pods.
        let _installer = InstallerDouble::start(cluster.api());
        let mut wd = Workdir::new(tf)?;
        wd.env(
            "KUBECONFIG",
            &cluster.kubeconfig_path().display().to_string(),
        );
        wd.config(REQUIRED_PROVIDERS)?;
        wd.write_file(
            "example.tf",
            &read("examples/resources/cvm_sysbox/resource.tf"),
        )?;
        wd.apply()?;
        wd.assert_plan_empty()?;
        let state = wd.show()?;
        let ready = state.output("nodes_ready_for_cvms")?;
        assert_eq!(ready, serde_json::json!(["cvm-1", "cvm-2"]));
        import_as_scripted(
            &wd,
            &state,
            "examples/resources/cvm_sysbox/import.sh",
            None,
            &["node_selector", "nodes"],
        )?;
        wd.destroy()?;
        Ok(())
    });
}

#[test]
fn image_pull_secret_example_applies_against_a_real_api_server() {
    let cluster = acceptance_tests::kube::KubeCluster::start().expect("a kube-apiserver");
    // The credential check logs in to a real registry (scripts/registry).
    let registry = acceptance_tests::registry::Registry::shared()
        .expect("a registry (scripts/registry build)");
    // The clients run one after another, so they can share the example's fixed name.
    acc::run(|tf| -> Result<(), acc::Error> {
        let mut wd = Workdir::new(tf)?;
        wd.env(
            "KUBECONFIG",
            &cluster.kubeconfig_path().display().to_string(),
        );
        wd.env("TF_VAR_registry", &registry.address)
            .env("TF_VAR_registry_username", &registry.username)
            .env("TF_VAR_registry_password", &registry.password)
            .env("TF_VAR_registry_ca", &registry.ca_pem);
        wd.config(REQUIRED_PROVIDERS)?;
        wd.write_file(
            "example.tf",
            &read("examples/resources/cvm_image_pull_secret/resource.tf"),
        )?;
        wd.apply()?;
        wd.assert_plan_empty()?;
        let state = wd.show()?;
        let secret = cluster.get("/api/v1/namespaces/default/secrets/team-registry")?;
        assert_eq!(secret["type"], "kubernetes.io/dockerconfigjson");
        import_as_scripted(
            &wd,
            &state,
            "examples/resources/cvm_image_pull_secret/import.sh",
            None,
            &[
                "password",
                "password_wo_version",
                "ca_certificate",
                "timeouts",
            ],
        )?;
        wd.destroy()?;
        Ok(())
    });
}

/// The workspace example on the scheduling cluster: a node reporting Sysbox (as `cvm_sysbox`
/// leaves it), the RuntimeClass `cvm_sysbox` creates, and per client a PersistentVolume without a
/// storage class for the home claim (the test cluster has no default class or provisioner).
#[test]
fn workspace_example_runs_on_a_sysbox_node() {
    use acceptance_tests::kube::{KubeCluster, NodeInfo, NodeOptions};
    use serde_json::json;

    let cluster = KubeCluster::start().expect("a kube-apiserver");
    let info = NodeInfo {
        container_runtime_version: "containerd://2.1.4".into(),
        ..NodeInfo::ubuntu_22_04()
    };
    let options = NodeOptions {
        labels: [("sysbox-runtime".to_owned(), "running".to_owned())].into(),
        ..NodeOptions::default()
    };
    cluster
        .create_node_with("example-sysbox", &info, &options)
        .expect("a node");
    cluster
        .create_sysbox_runtime_class()
        .expect("the RuntimeClass");
    acc::run(|tf| -> Result<(), acc::Error> {
        cluster.request(
            "POST",
            "/api/v1/persistentvolumes",
            Some(json!({
                "apiVersion": "v1", "kind": "PersistentVolume",
                "metadata": { "name": format!("example-home-{}", tf.tag().replace('.', "-")) },
                "spec": {
                    "capacity": { "storage": "10Gi" }, "accessModes": ["ReadWriteOnce"],
                    "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "",
                    "hostPath": { "path": "/tmp/example-home" },
                },
            })),
        )?;
        let mut wd = Workdir::new(tf)?;
        wd.env(
            "KUBECONFIG",
            &cluster.kubeconfig_path().display().to_string(),
        )
        .env("TF_VAR_agent_token", "example-agent-token");
        wd.config(REQUIRED_PROVIDERS)?;
        wd.write_file(
            "example.tf",
            &read("examples/resources/cvm_workspace/resource.tf"),
        )?;
        wd.apply()?;
        wd.assert_plan_empty()?;
        let state = wd.show()?;
        let pod = cluster.get("/api/v1/namespaces/default/pods/coder-alice-dev")?;
        assert_eq!(pod["status"]["phase"], "Running");
        assert_eq!(pod["spec"]["nodeName"], "example-sysbox");
        import_as_scripted(
            &wd,
            &state,
            "examples/resources/cvm_workspace/import.sh",
            None,
            &["timeouts", "toleration"],
        )?;
        wd.destroy()?;
        Ok(())
    });
}

/// The AWS examples on moto: the cluster, network and role come from moto, and Canonical's AMI
/// parameters are copied under a test prefix (moto refuses names under `/aws`), which the examples
/// take as a variable.
#[test]
fn aws_examples_apply_against_moto() {
    use acceptance_tests::moto::Moto;

    acc::run(|tf| -> Result<(), acc::Error> {
        let moto = Moto::start()?;
        let fixture = moto.create_cluster_fixture("demo", "1.33")?;
        let prefix = "/test/canonical/ubuntu";
        moto.put_parameter(
            &format!("{prefix}/eks/22.04/1.33/stable/current/amd64/hvm/ebs-gp2/ami-id"),
            "ami-0123456789abcdef0",
            None,
        )?;
        moto.put_parameter(
            &format!("{prefix}/eks/24.04/1.33/stable/current/arm64/hvm/ebs-gp3/ami-id"),
            "ami-0fedcba9876543210",
            None,
        )?;
        let subnets: Vec<String> = fixture
            .network
            .subnet_ids
            .iter()
            .map(|s| format!("{s:?}"))
            .collect();
        let vars = format!(
            "cluster_name = {:?}\nnode_role_arn = {:?}\nsubnet_ids = [{}]\nami_parameter_prefix = {prefix:?}\n",
            fixture.cluster_name,
            fixture.node_role_arn,
            subnets.join(", ")
        );
        for (example, only_vars) in [
            ("examples/data-sources/cvm_ubuntu_ami/data-source.tf", true),
            ("examples/resources/cvm_nodegroup/resource.tf", false),
        ] {
            let mut wd = Workdir::new(tf)?;
            for (key, value) in moto.aws_env() {
                wd.env(key, &value);
            }
            wd.config(REQUIRED_PROVIDERS)?;
            wd.write_file("example.tf", &read(example))?;
            let vars = if only_vars {
                format!("ami_parameter_prefix = {prefix:?}\n")
            } else {
                vars.clone()
            };
            wd.write_file("terraform.tfvars", &vars)?;
            wd.apply()?;
            wd.assert_plan_empty()?;
            if !only_vars {
                let state = wd.show()?;
                let id = state.output("nodegroup_id")?;
                let id = id.as_str().unwrap_or_default();
                assert_eq!(id, format!("{}:cvm-nodes", fixture.cluster_name));
                // The script shows the id's shape: cluster name, ':', node group name.
                let (_, scripted) = import_command("examples/resources/cvm_nodegroup/import.sh");
                assert!(scripted.ends_with(":cvm-nodes"), "{scripted}");
                import_as_scripted(
                    &wd,
                    &state,
                    "examples/resources/cvm_nodegroup/import.sh",
                    Some(id),
                    &["ami_parameter_prefix"],
                )?;
            }
            wd.destroy()?;
        }
        assert!(moto.list_nodegroups("demo")?.is_empty());
        Ok(())
    });
}

/// A working directory for `examples/<example>` against the demo stack: the stack's environment,
/// the example's `main.tf` and the stack's `terraform.tfvars`.
fn stack_workdir(
    tf: &Terraform,
    stack: &acceptance_tests::demo_stack::DemoStack,
    example: &str,
) -> Result<Workdir, acc::Error> {
    let mut wd = Workdir::new(tf)?;
    for (key, value) in stack.env() {
        wd.env(&key, &value);
    }
    wd.write_file("main.tf", &read(&format!("examples/{example}/main.tf")))?;
    wd.write_file("terraform.tfvars", &stack.tfvars())?;
    Ok(wd)
}

/// The cluster half both complete examples share, as their outputs say: Sysbox runs on both
/// joined nodes, and the check passes them.
fn assert_sysbox_on_both_nodes(
    state: &State,
    stack: &acceptance_tests::demo_stack::DemoStack,
) -> Result<(), acc::Error> {
    assert_eq!(
        state.output("nodes_ready_for_cvms")?,
        serde_json::json!(["cvm-nodes-0", "cvm-nodes-1"]),
        "joiner: {:?}",
        stack.joiner_journal()
    );
    let summary = state.output("cluster_check")?;
    assert!(
        summary
            .as_str()
            .is_some_and(|s| s.starts_with("2 of 2 node(s)")),
        "{summary}"
    );
    Ok(())
}

/// `examples/complete` against the demo's local stack with the real Coder v2 server (what
/// `scripts/demo` runs): plan, apply (the registry checks the pull secret's credentials, Coder's
/// provisioner imports the rendered template), an empty re-plan; then a workspace created through
/// Coder's API as a user would, whose build puts its CVM pod on a node where Sysbox runs, with its
/// home volume bound (by the stack's volume provisioner); then its delete build, and a destroy that
/// leaves nothing behind. kwok runs no containers: no image is pulled and no agent connects.
#[test]
fn complete_example_builds_a_cvm_workspace_on_coder_v2() {
    use acceptance_tests::demo_stack::{
        self, CLUSTER_NAME, DemoStack, Generation, VOLUME_CLASS, WORKSPACE_NAMESPACE,
    };

    let stack = DemoStack::start(Generation::V2).expect("the demo stack with Coder v2");
    let coder = stack.coder_v2().expect("Coder v2");
    acc::run(|tf| -> Result<(), acc::Error> {
        let wd = stack_workdir(tf, &stack, "complete")?;
        let plan = wd.plan()?;
        assert_eq!(plan.actions("cvm_coder_template.cvm")?, vec!["create"]);
        wd.apply()?;
        let state = wd.show()?;
        assert_sysbox_on_both_nodes(&state, &stack)?;
        // The Secret holds what the registry accepted.
        let secret = stack.kube.get(&format!(
            "/api/v1/namespaces/{WORKSPACE_NAMESPACE}/secrets/team-registry"
        ))?;
        assert_eq!(secret["type"], "kubernetes.io/dockerconfigjson");
        let template = coder
            .template("cvm-ubuntu")?
            .ok_or_else(|| acc::Error::Assertion("no template cvm-ubuntu in Coder".into()))?;
        assert_eq!(
            Some(template["active_version_id"].clone()),
            state.output("template_version").ok()
        );
        wd.assert_plan_empty()?;

        let name = format!("demo{}", tf.tag().replace(['.', '-'], ""));
        let placement =
            demo_stack::create_workspace(coder, &stack.kube.api(), "cvm-ubuntu", &name)?;
        assert_eq!(placement.phase, "Running", "{placement}");
        assert_eq!(placement.namespace, WORKSPACE_NAMESPACE);
        assert_eq!(placement.runtime_class, "sysbox-runc");
        assert!(
            placement.node.starts_with("cvm-nodes-") && placement.node_sysbox == "running",
            "{placement}"
        );
        assert_eq!(placement.claim.1, "Bound", "{placement}");
        // What the build sent: the template's image from the registry, pulled with the Secret.
        let pod = stack.kube.get(&format!(
            "/api/v1/namespaces/{}/pods/{}",
            placement.namespace, placement.pod
        ))?;
        let registry = match &stack.coder {
            demo_stack::StackCoder::V2 { registry, .. } => registry.address.clone(),
            demo_stack::StackCoder::V1(_) => unreachable!("a v2 stack"),
        };
        assert_eq!(
            pod["spec"]["containers"][0]["image"],
            format!("{registry}/team/dev:2026.12")
        );
        assert_eq!(pod["spec"]["imagePullSecrets"][0]["name"], "team-registry");
        let claim = stack.kube.get(&format!(
            "/api/v1/namespaces/{}/persistentvolumeclaims/{}",
            placement.namespace, placement.claim.0
        ))?;
        assert_eq!(claim["spec"]["storageClassName"], VOLUME_CLASS);
        let volume = claim["spec"]["volumeName"]
            .as_str()
            .unwrap_or_default()
            .to_owned();

        assert!(demo_stack::delete_workspace(coder, &name)?);
        assert!(coder.workspace(&name)?.is_none());
        let pods = stack.kube.get(&format!(
            "/api/v1/namespaces/{WORKSPACE_NAMESPACE}/pods?labelSelector=com.coder.workspace.id%3D{}",
            placement.workspace_id
        ))?;
        assert_eq!(pods["items"], serde_json::json!([]), "{pods}");
        wd.destroy()?;
        assert!(stack.moto.list_nodegroups(CLUSTER_NAME)?.is_empty());
        assert!(coder.template("cvm-ubuntu")?.is_none());
        let secret = stack.kube.get(&format!(
            "/api/v1/namespaces/{WORKSPACE_NAMESPACE}/secrets/team-registry"
        ));
        assert!(
            matches!(
                secret,
                Err(acceptance_tests::kube::Error::Api { status: 404, .. })
            ),
            "{secret:?}"
        );
        // The claim went with the workspace; its volume goes once the PV controller released it.
        let deleted = format!("{volume}: deleted (its claim is gone)");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !stack.volume_journal().contains(&deleted) {
            assert!(
                std::time::Instant::now() < deadline,
                "{:?}",
                stack.volume_journal()
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        let volume = stack
            .kube
            .get(&format!("/api/v1/persistentvolumes/{volume}"));
        assert!(
            matches!(
                volume,
                Err(acceptance_tests::kube::Error::Api { status: 404, .. })
            ),
            "{volume:?}"
        );
        Ok(())
    });
}

/// `examples/coder-v1` against the demo's local stack with the Coder v1 emulator: plan, apply,
/// an empty re-plan, and a destroy that leaves nothing behind.
#[test]
fn coder_v1_example_applies_against_the_local_stack() {
    use acceptance_tests::demo_stack::{CLUSTER_NAME, DemoStack, Generation};

    acc::run(|tf| -> Result<(), acc::Error> {
        let stack = DemoStack::start(Generation::V1)?;
        let wd = stack_workdir(tf, &stack, "coder-v1")?;
        let plan = wd.plan()?;
        assert_eq!(plan.actions("cvm_sysbox.cvm")?, vec!["create"]);
        wd.apply()?;
        let state = wd.show()?;
        assert_sysbox_on_both_nodes(&state, &stack)?;
        assert_eq!(state.output("coder_cvms_enabled")?, serde_json::json!(true));
        assert_eq!(
            state.output("runtime_class")?,
            serde_json::json!("sysbox-runc")
        );
        wd.assert_plan_empty()?;
        wd.destroy()?;
        assert!(stack.moto.list_nodegroups(CLUSTER_NAME)?.is_empty());
        let settings = stack.coder_v1()?.settings()?;
        assert_eq!(settings["enable_container_vms"], serde_json::json!(false));
        Ok(())
    });
}

#[test]
fn function_examples_apply_cleanly() {
    acc::run_where(
        Terraform::supports_functions,
        "provider functions need Terraform 1.8",
        |tf| -> Result<(), acc::Error> {
            let state = apply_example(
                tf,
                None,
                "examples/functions/parse_image_reference/function.tf",
            )?;
            assert_eq!(
                state.output("workspace_registry")?,
                serde_json::json!("registry.example.com:5000")
            );

            let state = apply_example(tf, None, "examples/functions/sysbox_supported/function.tf")?;
            assert_eq!(state.output("node_supported")?, serde_json::json!(true));
            let reasons = state.output("node_reasons")?;
            let reasons: Vec<&str> = reasons
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(serde_json::Value::as_str)
                .collect();
            assert!(
                reasons
                    .iter()
                    .any(|r| r.starts_with("Amazon Linux 2 is not supported")),
                "{reasons:?}"
            );
            Ok(())
        },
    );
}

#[test]
fn docs_pages_show_their_examples_verbatim() {
    let pages = [
        ("docs/index.md", "examples/provider/provider.tf"),
        ("docs/guides/pulumi.md", "examples/pulumi/Pulumi.yaml"),
        (
            "docs/resources/settings.md",
            "examples/resources/cvm_settings/resource.tf",
        ),
        (
            "docs/resources/settings.md",
            "examples/resources/cvm_settings/import.sh",
        ),
        (
            "docs/resources/registry.md",
            "examples/resources/cvm_registry/resource.tf",
        ),
        (
            "docs/resources/registry.md",
            "examples/resources/cvm_registry/import.sh",
        ),
        (
            "docs/data-sources/workspace_image.md",
            "examples/data-sources/cvm_workspace_image/data-source.tf",
        ),
        (
            "docs/functions/parse_image_reference.md",
            "examples/functions/parse_image_reference/function.tf",
        ),
        (
            "docs/data-sources/cluster_check.md",
            "examples/data-sources/cvm_cluster_check/data-source.tf",
        ),
        (
            "docs/resources/sysbox.md",
            "examples/resources/cvm_sysbox/resource.tf",
        ),
        (
            "docs/resources/sysbox.md",
            "examples/resources/cvm_sysbox/import.sh",
        ),
        (
            "docs/resources/nodegroup.md",
            "examples/resources/cvm_nodegroup/resource.tf",
        ),
        (
            "docs/resources/nodegroup.md",
            "examples/resources/cvm_nodegroup/import.sh",
        ),
        (
            "docs/data-sources/ubuntu_ami.md",
            "examples/data-sources/cvm_ubuntu_ami/data-source.tf",
        ),
        (
            "docs/functions/sysbox_supported.md",
            "examples/functions/sysbox_supported/function.tf",
        ),
        (
            "docs/resources/image_pull_secret.md",
            "examples/resources/cvm_image_pull_secret/resource.tf",
        ),
        (
            "docs/resources/workspace.md",
            "examples/resources/cvm_workspace/resource.tf",
        ),
        (
            "docs/data-sources/workspace_template.md",
            "examples/data-sources/cvm_workspace_template/data-source.tf",
        ),
    ];
    for (page, example) in pages {
        let text = read(page);
        let snippet = read(example);
        assert!(
            text.contains(snippet.trim_end()),
            "{page} does not show {example} as it is"
        );
    }
}
