//! The provider through Pulumi's "Any Terraform Provider": the real `pulumi` CLI, YAML language
//! host and pulumi-terraform-bridge plugin (built by `scripts/fetch-pulumi`), a Pulumi YAML
//! program, the Coder v1 emulator and the test cluster. Every Pulumi command is also checked for a provider process
//! left running after it (the harness's `provider_processes`).

use acceptance_tests::coder::{CoderEmulator, sha256_hex};
use acceptance_tests::installer_double::InstallerDouble;
use acceptance_tests::kube::{KubeCluster, NodeInfo};
use acceptance_tests::pulumi::PulumiProject;
use acceptance_tests::{self as acc, Workdir};
use serde_json::{Value, json};

/// `workspace_image` → `WorkspaceImage`.
fn pascal_case(snake: &str) -> String {
    snake
        .split('_')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_uppercase().chain(chars).collect()
            })
        })
        .collect()
}

/// The Pulumi token of a Terraform resource type: `cvm_registry` → `cvm:index/registry:Registry`.
fn resource_token(terraform_type: &str) -> String {
    let name = pascal_case(terraform_type.trim_start_matches("cvm_"));
    let module = {
        let mut chars = name.chars();
        chars.next().map_or_else(String::new, |first| {
            first.to_lowercase().chain(chars).collect()
        })
    };
    format!("cvm:index/{module}:{name}")
}

/// The Pulumi token of a Terraform data source: `cvm_workspace_image` →
/// `cvm:index/getWorkspaceImage:getWorkspaceImage`.
fn function_token(terraform_type: &str) -> String {
    let name = format!(
        "get{}",
        pascal_case(terraform_type.trim_start_matches("cvm_"))
    );
    format!("cvm:index/{name}:{name}")
}

fn first_terraform() -> acc::Terraform {
    acc::terraforms()
        .into_iter()
        .next()
        .expect("a Terraform to compare with")
}

/// A project configured for `coder`, its token in `CODER_SESSION_TOKEN`.
fn project_for(coder: &CoderEmulator, token: &str) -> Result<PulumiProject, acc::Error> {
    let mut project = PulumiProject::new()?;
    project.env("CODER_SESSION_TOKEN", token);
    project.ok(&["config", "set", "--path", "cvm:coder.url", &coder.url])?;
    Ok(project)
}

fn registry_program(name: &str, host: &str, password: &str) -> String {
    format!(
        r#"resources:
  team:
    type: cvm:index/registry:Registry
    properties:
      friendlyName: {name}
      registry: {host}
      username: robot
      password: {password}
outputs:
  id: ${{team.id}}
"#
    )
}

fn stored_registries(coder: &CoderEmulator) -> Result<Vec<Value>, acc::Error> {
    Ok(coder.state()?["registries"]
        .as_array()
        .cloned()
        .unwrap_or_default())
}

#[test]
fn package_add_records_the_package_and_the_schema_has_every_resource_and_data_source() {
    let project = PulumiProject::new().unwrap();
    let packages = project.packages();
    assert!(
        packages.contains("source: terraform-provider"),
        "{packages}"
    );
    let provider = acc::provider_binary().unwrap();
    assert!(
        packages.contains(&provider.path.to_string_lossy().into_owned()),
        "{packages}"
    );

    // What the provider serves, as Terraform reads it (an independent client).
    let terraform = first_terraform();
    let wd = Workdir::new(&terraform).unwrap();
    wd.config("terraform {\n  required_providers {\n    cvm = { source = \"cvm-provider/cvm\" }\n  }\n}\n")
        .unwrap();
    let tf_schema = wd.schema_json().unwrap();
    let served = tf_schema["provider_schemas"]
        .as_object()
        .and_then(|all| all.values().next())
        .cloned()
        .expect("the provider's schema");
    let resources: Vec<String> = served["resource_schemas"]
        .as_object()
        .expect("resources")
        .keys()
        .cloned()
        .collect();
    let data_sources: Vec<String> = served["data_source_schemas"]
        .as_object()
        .expect("data sources")
        .keys()
        .cloned()
        .collect();
    assert!(resources.len() >= 7 && data_sources.len() >= 4);

    let schema = project.schema().unwrap();
    assert_eq!(schema["name"], json!("cvm"));
    for resource in &resources {
        let token = resource_token(resource);
        assert!(
            schema["resources"].get(&token).is_some(),
            "{resource} ({token}) missing from Pulumi's schema"
        );
    }
    for data_source in &data_sources {
        let token = function_token(data_source);
        assert!(
            schema["functions"].get(&token).is_some(),
            "{data_source} ({token}) missing from Pulumi's schema"
        );
    }
    // Nothing more than the provider serves (the bridge's own terraformConfig aside).
    let pulumi_resources = schema["resources"].as_object().unwrap().len();
    assert_eq!(pulumi_resources, resources.len());
    for key in ["url", "sessionToken"] {
        assert!(
            schema["types"]["cvm:config/coder:coder"]["properties"]
                .get(key)
                .is_some(),
            "config cvm:coder has no {key}"
        );
    }
}

#[test]
fn workspace_image_through_pulumi_is_byte_identical_to_terraform() {
    let terraform = first_terraform();
    let wd = Workdir::new(&terraform).unwrap();
    wd.config(
        r#"
terraform {
  required_providers {
    cvm = { source = "cvm-provider/cvm" }
  }
}
data "cvm_workspace_image" "dev" {
  base_image = "ubuntu:20.04"
  packages   = ["git", "curl"]
  user       = "coder"
}
output "dockerfile" { value = data.cvm_workspace_image.dev.dockerfile }
output "init"       { value = data.cvm_workspace_image.dev.init_path }
"#,
    )
    .unwrap();
    wd.apply().unwrap();
    let state = wd.show().unwrap();
    let tf_dockerfile = state.output("dockerfile").unwrap();
    let tf_init = state.output("init").unwrap();

    let project = PulumiProject::new().unwrap();
    project
        .write_program(
            r#"variables:
  image:
    fn::invoke:
      function: cvm:index/getWorkspaceImage:getWorkspaceImage
      arguments:
        baseImage: ubuntu:20.04
        packages: [git, curl]
        user: coder
outputs:
  dockerfile: ${image.dockerfile}
  init: ${image.initPath}
"#,
        )
        .unwrap();
    project.up().unwrap();
    let outputs = project.outputs().unwrap();
    assert!(
        tf_dockerfile
            .as_str()
            .is_some_and(|d| d.contains("FROM ubuntu:20.04"))
    );
    assert_eq!(outputs["dockerfile"], tf_dockerfile);
    assert_eq!(outputs["init"], tf_init);
    project.ok(&["destroy", "--yes"]).unwrap();
}

#[test]
fn registry_create_update_refresh_import_and_destroy_through_pulumi() {
    let coder = CoderEmulator::start().unwrap();
    let project = project_for(&coder, &coder.token).unwrap();

    project
        .write_program(&registry_program(
            "team",
            "registry.example.com",
            "s3cret-1",
        ))
        .unwrap();
    project.up().unwrap();
    let id = project.outputs().unwrap()["id"]
        .as_str()
        .expect("an id output")
        .to_owned();
    let stored = stored_registries(&coder).unwrap();
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(stored[0]["id"], json!(id));
    assert_eq!(stored[0]["friendly_name"], json!("team"));
    assert_eq!(stored[0]["registry"], json!("registry.example.com"));
    assert_eq!(stored[0]["password_sha256"], json!(sha256_hex("s3cret-1")));

    // An update in place sends only the changed field.
    project
        .write_program(&registry_program(
            "team-renamed",
            "registry.example.com",
            "s3cret-1",
        ))
        .unwrap();
    project.up().unwrap();
    assert_eq!(
        coder
            .last_request_body("PATCH /api/v0/registries/{id}")
            .unwrap(),
        json!({"friendly_name": "team-renamed"})
    );
    assert_eq!(project.outputs().unwrap()["id"], json!(id));

    project.ok(&["refresh", "--yes", "--skip-preview"]).unwrap();
    project.ok(&["preview", "--expect-no-changes"]).unwrap();

    // Drift made outside Pulumi is found by refresh and put back by up.
    coder
        .patch_registry(&id, json!({"friendly_name": "changed-by-hand"}))
        .unwrap();
    let drifted = project
        .pulumi(&["preview", "--expect-no-changes", "--refresh"])
        .unwrap();
    assert!(!drifted.status.success(), "{}", drifted.stdout);
    project
        .ok(&["up", "--yes", "--skip-preview", "--refresh"])
        .unwrap();
    assert_eq!(
        stored_registries(&coder).unwrap()[0]["friendly_name"],
        json!("team-renamed")
    );

    // Forget it, then import it by id.
    let state = project.state().unwrap();
    let urn = state["deployment"]["resources"]
        .as_array()
        .and_then(|all| {
            all.iter()
                .find(|r| r["type"] == json!("cvm:index/registry:Registry"))
        })
        .and_then(|r| r["urn"].as_str())
        .expect("the registry in the stack")
        .to_owned();
    project.ok(&["state", "delete", &urn, "--yes"]).unwrap();
    project
        .ok(&[
            "import",
            "cvm:index/registry:Registry",
            "team",
            &id,
            "--yes",
            "--protect=false",
        ])
        .unwrap();
    let imported = project.state().unwrap();
    let registry = imported["deployment"]["resources"]
        .as_array()
        .and_then(|all| {
            all.iter()
                .find(|r| r["type"] == json!("cvm:index/registry:Registry"))
        })
        .cloned()
        .expect("the imported registry");
    assert_eq!(registry["id"], json!(id));
    assert_eq!(registry["outputs"]["friendlyName"], json!("team-renamed"));
    assert_eq!(
        registry["outputs"]["registry"],
        json!("registry.example.com")
    );

    project.ok(&["destroy", "--yes", "--skip-preview"]).unwrap();
    assert!(stored_registries(&coder).unwrap().is_empty());
}

#[test]
fn a_bad_token_and_a_bad_input_are_the_providers_diagnostics_as_pulumi_errors() {
    let coder = CoderEmulator::start().unwrap();

    let project = project_for(&coder, "not-the-token").unwrap();
    project
        .write_program(&registry_program("team", "registry.example.com", "pw"))
        .unwrap();
    let refused = project.pulumi(&["up", "--yes", "--skip-preview"]).unwrap();
    assert!(!refused.status.success());
    let text = format!("{}{}", refused.stdout, refused.stderr);
    assert!(text.contains("Coder Rejected the Session Token"), "{text}");
    assert!(text.contains("CODER_SESSION_TOKEN"), "{text}");
    assert!(
        !text.contains("not-the-token"),
        "the token was printed: {text}"
    );
    assert!(stored_registries(&coder).unwrap().is_empty());

    let project = project_for(&coder, &coder.token).unwrap();
    project
        .write_program(&registry_program(
            "team",
            "https://registry.example.com",
            "pw",
        ))
        .unwrap();
    let before = coder.request_log().unwrap().len();
    let refused = project.pulumi(&["up", "--yes", "--skip-preview"]).unwrap();
    assert!(!refused.status.success());
    let text = format!("{}{}", refused.stdout, refused.stderr);
    assert!(text.contains("Invalid Registry Host"), "{text}");
    assert!(text.contains("no scheme or path"), "{text}");
    let calls: Vec<_> = coder
        .request_log()
        .unwrap()
        .into_iter()
        .skip(before)
        .collect();
    assert!(
        calls.iter().all(|call| call.method != "POST"),
        "a bad input reached Coder: {calls:?}"
    );
    assert!(stored_registries(&coder).unwrap().is_empty());
}

fn sysbox_program(installer_image: Option<&str>) -> String {
    let image = installer_image.map_or_else(String::new, |image| {
        format!("      installerImage: {image}\n")
    });
    format!(
        r#"resources:
  sysbox:
    type: cvm:index/sysbox:Sysbox
    properties:
      nodeSelector:
        example.com/role: cvm
{image}outputs:
  readyNodes: ${{sysbox.readyNodes}}
  runtimeClass: ${{sysbox.runtimeClassName}}
"#
    )
}

/// The installer image of the Sysbox DaemonSet on `cluster`.
fn installer_image(cluster: &KubeCluster) -> Value {
    cluster
        .get("/apis/apps/v1/namespaces/kube-system/daemonsets/sysbox-deploy-k8s")
        .unwrap()["spec"]["template"]["spec"]["containers"][0]["image"]
        .clone()
}

/// Whether `path` exists on `cluster`.
fn exists(cluster: &KubeCluster, path: &str) -> bool {
    match cluster.get(path) {
        Ok(_) => true,
        Err(acceptance_tests::kube::Error::Api { status: 404, .. }) => false,
        Err(e) => panic!("GET {path}: {e}"),
    }
}

#[test]
fn sysbox_create_update_refresh_import_and_destroy_through_pulumi() {
    let cluster = KubeCluster::start().unwrap();
    for node in ["cvm-a", "cvm-b"] {
        cluster
            .create_node(node, &NodeInfo::ubuntu_22_04())
            .unwrap();
        cluster
            .label_node(node, "example.com/role", Some("cvm"))
            .unwrap();
    }
    cluster
        .create_node("other", &NodeInfo::ubuntu_22_04())
        .unwrap();
    let _double = InstallerDouble::start(cluster.api());
    let project = PulumiProject::new().unwrap();
    let kubeconfig = cluster.kubeconfig_path().to_string_lossy().into_owned();
    project
        .ok(&[
            "config",
            "set",
            "--path",
            "cvm:kubernetes.configPath",
            &kubeconfig,
        ])
        .unwrap();

    project.write_program(&sysbox_program(None)).unwrap();
    project.up().unwrap();
    let outputs = project.outputs().unwrap();
    assert_eq!(outputs["readyNodes"], json!(["cvm-a", "cvm-b"]));
    assert_eq!(outputs["runtimeClass"], json!("sysbox-runc"));
    for node in ["cvm-a", "cvm-b"] {
        assert_eq!(
            cluster.node_labels(node).unwrap()["sysbox-runtime"],
            "running"
        );
    }
    assert!(
        !cluster
            .node_labels("other")
            .unwrap()
            .contains_key("sysbox-install")
    );
    assert_eq!(
        installer_image(&cluster),
        json!("registry.nestybox.com/nestybox/sysbox-deploy-k8s:v0.7.1-0")
    );
    project.ok(&["preview", "--expect-no-changes"]).unwrap();

    let image = "registry.example.com/nestybox/sysbox-deploy-k8s:v0.7.1-0";
    project.write_program(&sysbox_program(Some(image))).unwrap();
    project.up().unwrap();
    assert_eq!(installer_image(&cluster), json!(image));
    project.ok(&["refresh", "--yes", "--skip-preview"]).unwrap();
    project.ok(&["preview", "--expect-no-changes"]).unwrap();

    // Forget it, then import it by namespace.
    let urn = project.state().unwrap()["deployment"]["resources"]
        .as_array()
        .and_then(|all| {
            all.iter()
                .find(|r| r["type"] == json!("cvm:index/sysbox:Sysbox"))
        })
        .and_then(|r| r["urn"].as_str())
        .expect("cvm_sysbox in the stack")
        .to_owned();
    project.ok(&["state", "delete", &urn, "--yes"]).unwrap();
    project
        .ok(&[
            "import",
            "cvm:index/sysbox:Sysbox",
            "sysbox",
            "kube-system",
            "--yes",
            "--protect=false",
        ])
        .unwrap();
    let imported = project.state().unwrap()["deployment"]["resources"]
        .as_array()
        .and_then(|all| {
            all.iter()
                .find(|r| r["type"] == json!("cvm:index/sysbox:Sysbox"))
        })
        .cloned()
        .expect("the imported cvm_sysbox");
    assert_eq!(imported["id"], json!("kube-system"));
    assert_eq!(imported["outputs"]["installerImage"], json!(image));

    project.ok(&["destroy", "--yes", "--skip-preview"]).unwrap();
    for path in [
        "/apis/apps/v1/namespaces/kube-system/daemonsets/sysbox-deploy-k8s",
        "/apis/node.k8s.io/v1/runtimeclasses/sysbox-runc",
    ] {
        assert!(!exists(&cluster, path), "{path} is left after destroy");
    }
    for node in ["cvm-a", "cvm-b"] {
        let labels = cluster.node_labels(node).unwrap();
        assert!(
            !labels.keys().any(|key| key.starts_with("sysbox-")),
            "{node} keeps {labels:?}"
        );
    }
}

#[test]
fn the_documented_pulumi_example_runs_with_its_config_in_pulumis_spelling() {
    let coder = CoderEmulator::start().unwrap();
    let project = PulumiProject::new().unwrap();
    let example = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/pulumi/Pulumi.yaml"),
    )
    .unwrap();
    project.write_project(&example).unwrap();
    project
        .ok(&["config", "set", "--path", "cvm:coder.url", &coder.url])
        .unwrap();
    project
        .ok(&[
            "config",
            "set",
            "--secret",
            "--path",
            "cvm:coder.sessionToken",
            &coder.token,
        ])
        .unwrap();
    project
        .ok(&[
            "config",
            "set",
            "--secret",
            "registryPassword",
            "example-s3cret",
        ])
        .unwrap();
    project.up().unwrap();

    let outputs = project.outputs().unwrap();
    let stored = stored_registries(&coder).unwrap();
    assert_eq!(stored.len(), 1, "{stored:?}");
    assert_eq!(outputs["registryId"], stored[0]["id"]);
    assert_eq!(
        stored[0]["password_sha256"],
        json!(sha256_hex("example-s3cret"))
    );
    assert!(
        outputs["dockerfile"]
            .as_str()
            .is_some_and(|d| d.contains("FROM ubuntu:22.04")),
        "{outputs}"
    );
    // Secrets are kept encrypted in Pulumi's state, never in plain text.
    let state = project.stored_state_text().unwrap();
    assert!(
        !state.contains(&coder.token),
        "the session token is in the state in plain text"
    );
    assert!(
        !state.contains("example-s3cret"),
        "the password is in the state in plain text"
    );

    project.ok(&["preview", "--expect-no-changes"]).unwrap();
    project.ok(&["destroy", "--yes", "--skip-preview"]).unwrap();
    assert!(stored_registries(&coder).unwrap().is_empty());
}
