//! Tests of the acceptance-test harness itself. None of them needs the provider: the live ones
//! use only outputs and Terraform's built-in `terraform_data` resource.

use std::path::Path;

use acceptance_tests::{
    self as acc, Action, Error, Plan, Product, State, Terraform, Workdir, collapse_whitespace,
    discover, flatten, parse_product, parse_version, parse_version_json, strip_ansi,
    strip_diagnostic_decoration,
};
use serde_json::json;

// ---------------------------------------------------------------------------------------------
// Terraform discovery
// ---------------------------------------------------------------------------------------------

#[test]
fn versions_parse() {
    assert_eq!(parse_version("1.11.4"), Some((1, 11, 4)));
    assert_eq!(parse_version("v1.0.3"), Some((1, 0, 3)));
    assert_eq!(parse_version("1.12.0-beta1"), Some((1, 12, 0)));
    assert_eq!(parse_version("1.9.0+ent"), Some((1, 9, 0)));
    assert_eq!(parse_version("1.2"), None);
    assert_eq!(parse_version("1.2.3.4"), None);
    assert_eq!(parse_version("one.two.three"), None);

    let out = r#"{
  "terraform_version": "1.0.3",
  "platform": "linux_amd64",
  "provider_selections": {},
  "terraform_outdated": false
}"#;
    assert_eq!(parse_version_json(out).unwrap(), (1, 0, 3));
    assert!(parse_version_json("Terraform v1.0.3").is_err());
    assert!(parse_version_json("{}").is_err());
}

#[test]
fn version_features() {
    let tf = |version| Terraform {
        path: "terraform".into(),
        version,
        product: Product::Terraform,
    };
    assert!(!tf((1, 0, 3)).supports_functions());
    assert!(tf((1, 8, 0)).supports_functions());
    assert!(!tf((1, 10, 5)).supports_write_only());
    assert!(tf((1, 11, 0)).supports_write_only());
    assert!(tf((1, 11, 4)).at_least(1, 11, 4));
    assert!(!tf((1, 11, 4)).at_least(1, 11, 5));
    assert_eq!(tf((1, 0, 3)).version_string(), "1.0.3");
    assert_eq!(tf((1, 0, 3)).label(), "Terraform 1.0.3");
    assert!(!tf((1, 0, 3)).is_opentofu());

    // OpenTofu numbers its releases independently of Terraform.
    let tofu = |version| Terraform {
        path: "tofu".into(),
        version,
        product: Product::OpenTofu,
    };
    assert!(tofu((1, 11, 6)).is_opentofu());
    assert_eq!(tofu((1, 11, 6)).label(), "OpenTofu 1.11.6");
    assert!(!tofu((1, 6, 2)).supports_functions());
    assert!(tofu((1, 7, 0)).supports_functions());
    assert!(!tofu((1, 10, 6)).supports_ephemeral_resources());
    assert!(tofu((1, 11, 0)).supports_ephemeral_resources());
    assert!(!tofu((1, 10, 6)).supports_write_only());
    assert!(tofu((1, 11, 0)).supports_write_only());
    assert!(tofu((1, 6, 0)).supports_terraform_data());
    assert_eq!(
        tofu((1, 11, 6)).provider_address("cvm-provider/cvm"),
        "registry.opentofu.org/cvm-provider/cvm"
    );
    assert_eq!(
        tf((1, 11, 4)).provider_address("cvm-provider/cvm"),
        "registry.terraform.io/cvm-provider/cvm"
    );
    assert_eq!(
        parse_product("OpenTofu v1.11.6\non linux_amd64\n"),
        Product::OpenTofu
    );
    assert_eq!(parse_product("Terraform v1.0.3\n"), Product::Terraform);
}

#[test]
fn discovery_finds_cached_1_0_3_and_any_path_terraform() {
    let path_var = std::env::var_os("PATH");
    let found =
        discover(None, path_var.as_deref(), &acc::cache_dir()).unwrap_or_else(|e| panic!("{e}"));
    // Terraform comes first; OpenTofu (numbered independently) after it.
    let products: Vec<_> = found.clients.iter().map(|t| t.product).collect();
    assert!(
        products.windows(2).all(|w| w[0] <= w[1]),
        "Terraform first: {products:?}"
    );
    let versions: Vec<_> = found
        .clients
        .iter()
        .filter(|t| !t.is_opentofu())
        .map(|t| t.version)
        .collect();
    assert!(
        versions.contains(&acc::OLDEST_SUPPORTED),
        "1.0.3 missing: {versions:?}"
    );
    assert!(versions.iter().all(|v| *v >= (1, 0, 0)));
    assert!(
        versions.windows(2).all(|w| w[0] > w[1]),
        "not sorted newest first without duplicates: {versions:?}"
    );
    // A terraform on PATH runs the tests (or is skipped, with the reason); none is a skip.
    match acc::find_on_path("terraform", path_var.as_deref()) {
        Some(on_path) => {
            let probed = Terraform::probe(&on_path).unwrap();
            assert!(
                found.clients.contains(&probed)
                    || found
                        .skipped
                        .iter()
                        .any(|s| s.candidate.contains(&on_path.display().to_string())),
                "{found:?}"
            );
        }
        None => assert!(
            found
                .skipped
                .iter()
                .any(|s| s.candidate == "`terraform` on PATH"),
            "{found:?}"
        ),
    }
}

#[test]
fn discovery_without_cached_1_0_3_fails_with_the_fix() {
    let empty_cache = tempfile::tempdir().unwrap();
    let empty_path = tempfile::tempdir().unwrap();
    let path_var = empty_path.path().as_os_str().to_owned();
    match discover(None, Some(&path_var), empty_cache.path()) {
        Err(Error::Discovery { reason, fix }) => {
            assert!(reason.contains("1.0.3"), "{reason}");
            assert!(fix.contains("scripts/fetch-terraform"), "{fix}");
        }
        other => panic!("expected a discovery error, got {other:?}"),
    }
}

/// Writes an executable at `path` that answers `version -json` and `version` as `product`
/// (`Terraform` or `OpenTofu`) at `version` does, and nothing else: enough for discovery.
fn fake_client(path: &Path, product: &str, version: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let script = format!(
        "#!/bin/sh\nif [ \"$2\" = -json ]; then echo '{{\"terraform_version\": \"{version}\"}}'; \
         else echo '{product} v{version}'; echo 'on linux_amd64'; fi\n"
    );
    std::fs::write(path, script).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A cache directory holding a fake Terraform 1.0.3 and, if `opentofu` is true, a fake
/// OpenTofu 1.11.6 where `scripts/fetch-opentofu` puts it.
fn fake_cache(opentofu: bool) -> tempfile::TempDir {
    let cache = tempfile::tempdir().unwrap();
    fake_client(
        &acc::cached_terraform_path(cache.path()),
        "Terraform",
        "1.0.3",
    );
    if opentofu {
        fake_client(
            &cache.path().join("opentofu/1.11.6/tofu"),
            "OpenTofu",
            "1.11.6",
        );
    }
    cache
}

fn labels(found: &acc::Discovery) -> Vec<String> {
    found.clients.iter().map(Terraform::label).collect()
}

#[test]
fn discovery_without_terraform_on_path_runs_1_0_3_and_opentofu() {
    let cache = fake_cache(true);
    let empty_path = tempfile::tempdir().unwrap();
    let path_var = empty_path.path().as_os_str().to_owned();
    let found = discover(None, Some(&path_var), cache.path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(labels(&found), ["Terraform 1.0.3", "OpenTofu 1.11.6"]);
    assert_eq!(
        found.clients[0].path,
        acc::cached_terraform_path(cache.path())
    );
    assert_eq!(found.skipped.len(), 1, "{:?}", found.skipped);
    assert_eq!(found.skipped[0].candidate, "`terraform` on PATH");
    assert!(
        found.skipped[0].reason.contains("there is none"),
        "{:?}",
        found.skipped
    );

    // The same with no PATH at all.
    let found = discover(None, None, cache.path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(labels(&found), ["Terraform 1.0.3", "OpenTofu 1.11.6"]);
}

#[test]
fn discovery_reports_every_candidate_it_leaves_out() {
    // No OpenTofu built: a skip that names the command that builds it.
    let cache = fake_cache(false);
    let bin = tempfile::tempdir().unwrap();
    fake_client(&bin.path().join("terraform"), "Terraform", "1.11.4");
    let path_var = bin.path().as_os_str().to_owned();
    let found = discover(None, Some(&path_var), cache.path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(labels(&found), ["Terraform 1.11.4", "Terraform 1.0.3"]);
    assert_eq!(found.clients[0].path, bin.path().join("terraform"));
    assert_eq!(found.skipped.len(), 1, "{:?}", found.skipped);
    assert_eq!(found.skipped[0].candidate, "OpenTofu");
    assert!(
        found.skipped[0]
            .reason
            .contains(acc::OPENTOFU_FETCH_COMMAND),
        "{:?}",
        found.skipped
    );

    // A PATH terraform older than 1.0 is left out, with the reason.
    let cache = fake_cache(true);
    fake_client(&bin.path().join("terraform"), "Terraform", "0.15.5");
    let found = discover(None, Some(&path_var), cache.path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(labels(&found), ["Terraform 1.0.3", "OpenTofu 1.11.6"]);
    assert_eq!(found.skipped.len(), 1, "{:?}", found.skipped);
    assert!(
        found.skipped[0].candidate.contains("Terraform 0.15.5"),
        "{:?}",
        found.skipped
    );
    assert!(
        found.skipped[0].reason.contains("older than 1.0"),
        "{:?}",
        found.skipped
    );

    // A PATH terraform of the same version as the cached one runs once: the PATH one, and the
    // cached one is reported as the duplicate.
    fake_client(&bin.path().join("terraform"), "Terraform", "1.0.3");
    fake_client(&bin.path().join("tofu"), "OpenTofu", "1.11.6");
    let found = discover(None, Some(&path_var), cache.path()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(labels(&found), ["Terraform 1.0.3", "OpenTofu 1.11.6"]);
    assert_eq!(found.clients[0].path, bin.path().join("terraform"));
    assert_eq!(found.clients[1].path, bin.path().join("tofu"));
    let skipped: Vec<_> = found.skipped.iter().map(|s| s.candidate.as_str()).collect();
    assert_eq!(skipped.len(), 2, "{:?}", found.skipped);
    assert!(skipped[0].starts_with("Terraform 1.0.3 ("), "{skipped:?}");
    assert!(skipped[1].starts_with("OpenTofu 1.11.6 ("), "{skipped:?}");
    assert!(
        found
            .skipped
            .iter()
            .all(|s| s.reason.starts_with("the same version as ")),
        "{:?}",
        found.skipped
    );

    // A PATH terraform that does not run is an error, not a skip.
    std::fs::write(bin.path().join("terraform"), "#!/bin/sh\nexit 3\n").unwrap();
    assert!(matches!(
        discover(None, Some(&path_var), cache.path()),
        Err(Error::Discovery { .. })
    ));
}

#[test]
fn discovery_override_list_is_used_as_is() {
    let cache = fake_cache(true);
    let cached = acc::cached_terraform_path(cache.path());
    let list = cached.display().to_string();
    let found = discover(Some(&list), None, Path::new("/nonexistent")).unwrap();
    assert_eq!(found.clients.len(), 1);
    assert_eq!(found.clients[0].version, (1, 0, 3));
    assert_eq!(found.clients[0].path, cached);
    assert_eq!(found.skipped.len(), 1, "{:?}", found.skipped);
    assert!(
        found.skipped[0].reason.contains(acc::PATHS_ENV),
        "{:?}",
        found.skipped
    );

    let bad = format!("{list}:/nonexistent/terraform");
    assert!(matches!(
        discover(Some(&bad), None, Path::new("/nonexistent")),
        Err(Error::Discovery { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// State and plan JSON
// ---------------------------------------------------------------------------------------------

fn canned_state() -> State {
    let state = json!({
        "format_version": "1.0",
        "terraform_version": "1.11.4",
        "values": {
            "outputs": {
                "image": {"sensitive": false, "value": "ubuntu:24.04", "type": "string"},
                "ports": {"sensitive": false, "value": [80, 443]}
            },
            "root_module": {
                "resources": [
                    {
                        "address": "cvm_workspace_image.main",
                        "mode": "managed",
                        "type": "cvm_workspace_image",
                        "name": "main",
                        "provider_name": "registry.terraform.io/cvm-provider/cvm",
                        "values": {
                            "id": "img-1",
                            "caching": {"enabled": true, "ttl": null},
                            "labels": {"role": "dev"},
                            "taints": [{"key": "gpu", "effect": "NoSchedule"}],
                            "tags": [],
                            "timeouts": null
                        },
                        "sensitive_values": {}
                    },
                    {
                        "address": "data.cvm_node_pool.pool",
                        "mode": "data",
                        "type": "cvm_node_pool",
                        "name": "pool",
                        "values": {"name": "pool-a", "nodes": 3}
                    }
                ],
                "child_modules": [{
                    "address": "module.m",
                    "resources": [{
                        "address": "module.m.cvm_workspace_image.each[0]",
                        "mode": "managed",
                        "index": 0,
                        "values": {"id": "img-m0"}
                    }]
                }]
            }
        }
    });
    State::from_json(&state.to_string()).unwrap()
}

#[test]
fn state_query_api() {
    let state = canned_state();
    let image = state.resource("cvm_workspace_image.main").unwrap();
    assert_eq!(image.get("id").unwrap(), json!("img-1"));
    assert_eq!(image.str("id").unwrap(), "img-1");
    assert_eq!(image.get("caching.enabled").unwrap(), json!(true));
    assert_eq!(image.get("caching.ttl").unwrap(), json!(null));
    assert!(!image.is_set("caching.ttl"));
    assert!(image.is_set("caching.enabled"));
    assert_eq!(image.get("labels.role").unwrap(), json!("dev"));
    assert_eq!(image.get("taints.0.key").unwrap(), json!("gpu"));
    assert_eq!(image.get("taints.#").unwrap(), json!(1));
    assert_eq!(image.get("tags.#").unwrap(), json!(0));
    assert_eq!(image.get("labels.#").unwrap(), json!(1));

    let missing = image.get("caching.size").unwrap_err().to_string();
    assert!(missing.contains("caching.size"), "{missing}");
    let missing = image.get("nope").unwrap_err().to_string();
    assert!(missing.contains("labels"), "lists what exists: {missing}");
    assert!(image.get("taints.1.key").is_err());
    assert!(image.get("taints.x").is_err());
    assert!(image.str("caching.enabled").is_err());

    let pool = state.data("cvm_node_pool.pool").unwrap();
    assert_eq!(pool.get("nodes").unwrap(), json!(3));
    assert_eq!(
        state
            .data("data.cvm_node_pool.pool")
            .unwrap()
            .get("name")
            .unwrap(),
        json!("pool-a")
    );
    // A data source is not a managed resource and vice versa.
    assert!(state.resource("data.cvm_node_pool.pool").is_err());
    assert!(state.data("cvm_workspace_image.main").is_err());

    let nested = state
        .resource("module.m.cvm_workspace_image.each[0]")
        .unwrap();
    assert_eq!(nested.str("id").unwrap(), "img-m0");

    assert_eq!(state.output("image").unwrap(), json!("ubuntu:24.04"));
    assert_eq!(state.output("ports").unwrap(), json!([80, 443]));
    let missing = state.output("nope").unwrap_err().to_string();
    assert!(
        missing.contains("image") && missing.contains("ports"),
        "{missing}"
    );

    let unknown = state
        .resource("cvm_workspace_image.other")
        .unwrap_err()
        .to_string();
    assert!(unknown.contains("cvm_workspace_image.main"), "{unknown}");
    assert_eq!(state.addresses().len(), 3);
    assert!(state.has_managed_resources());
}

#[test]
fn empty_state_parses() {
    // What `terraform show -json` prints for a directory without state.
    let state = State::from_json(r#"{"format_version":"1.0"}"#).unwrap();
    assert!(!state.has_managed_resources());
    assert!(state.addresses().is_empty());
    assert!(state.output("x").is_err());
    assert!(State::from_json("not json").is_err());
}

#[test]
fn plan_query_api() {
    let plan = json!({
        "format_version": "1.2",
        "resource_changes": [
            {"address": "cvm_a.same", "change": {"actions": ["no-op"], "after": {"id": "1"}}},
            {"address": "cvm_a.changed", "change": {
                "actions": ["update"],
                "after": {"id": "2", "size": 3, "labels": {"a": "b"}},
                "after_unknown": {"status": true, "labels": {}}
            }},
            {"address": "cvm_a.replaced", "change": {"actions": ["delete", "create"]}}
        ],
        "output_changes": {
            "kept": {"actions": ["no-op"]},
            "new": {"actions": ["create"]}
        }
    });
    let plan = Plan::from_json(&plan.to_string()).unwrap();
    assert_eq!(plan.resource_changes().len(), 3);
    assert_eq!(plan.output_changes().len(), 2);
    let pending: Vec<_> = plan
        .pending_changes()
        .into_iter()
        .map(|c| format!("{} {}", c.address, c.actions.join("+")))
        .collect();
    assert_eq!(
        pending,
        [
            "cvm_a.changed update",
            "cvm_a.replaced delete+create",
            "output.new create"
        ]
    );
    assert!(!plan.is_empty());
    assert_eq!(plan.actions("cvm_a.same").unwrap(), ["no-op"]);
    let changed = plan.planned("cvm_a.changed").unwrap();
    assert_eq!(changed.address(), "cvm_a.changed");
    assert_eq!(changed.get("size").unwrap(), json!(3));
    assert_eq!(changed.get("labels.a").unwrap(), json!("b"));
    assert!(plan.is_unknown("cvm_a.changed", "status").unwrap());
    assert!(!plan.is_unknown("cvm_a.changed", "size").unwrap());
    assert!(plan.actions("cvm_a.nope").is_err());

    let empty = Plan::from_json(
        r#"{"resource_changes":[{"address":"x.y","change":{"actions":["no-op"]}}],
            "output_changes":{"o":{"actions":["no-op"]}}}"#,
    )
    .unwrap();
    assert!(empty.is_empty());
    // Terraform 1.0 omits both keys when nothing is configured.
    assert!(
        Plan::from_json(r#"{"format_version":"0.2"}"#)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn flatten_gives_flatmap_style_keys() {
    let flat = flatten(&json!({
        "id": "x",
        "labels": {"a": "1"},
        "list": [{"k": true}, {"k": false}],
        "empty": [],
        "none": null,
        "obj": {}
    }));
    let keys: Vec<_> = flat.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "empty.#", "id", "labels.a", "list.#", "list.0.k", "list.1.k", "none", "obj.#"
        ]
    );
    assert_eq!(flat["list.#"], json!(2));
    assert_eq!(flat["none"], json!(null));
}

// ---------------------------------------------------------------------------------------------
// Diagnostic text
// ---------------------------------------------------------------------------------------------

#[test]
fn ansi_and_box_drawing_are_stripped() {
    let colored = "\u{1b}[31m╷\u{1b}[0m\u{1b}[0m\n\
                   \u{1b}[31m│\u{1b}[0m \u{1b}[0m\u{1b}[1m\u{1b}[31mError: \u{1b}[0m\u{1b}[0m\u{1b}[1mInvalid image\u{1b}[0m\n\
                   \u{1b}[31m│\u{1b}[0m \u{1b}[0m\n\
                   \u{1b}[31m│\u{1b}[0m \u{1b}[0m  with cvm_workspace_image.main,\n\
                   \u{1b}[31m│\u{1b}[0m \u{1b}[0mThe image \"x\" is not a valid OCI reference: it must\n\
                   \u{1b}[31m│\u{1b}[0m \u{1b}[0mcontain a repository name.\n\
                   \u{1b}[31m╵\u{1b}[0m\u{1b}[0m\n";
    let cleaned = strip_diagnostic_decoration(colored);
    assert_eq!(
        cleaned,
        "Error: Invalid image\n\n  with cvm_workspace_image.main,\nThe image \"x\" is not a valid OCI reference: it must\ncontain a repository name.\n"
    );
    assert_eq!(
        collapse_whitespace(&cleaned),
        "Error: Invalid image with cvm_workspace_image.main, The image \"x\" is not a valid OCI reference: it must contain a repository name."
    );
    // OSC hyperlinks and lone escapes go too; other text is untouched.
    assert_eq!(
        strip_ansi("a\u{1b}]8;;http://x\u{7}link\u{1b}]8;;\u{1b}\\b\u{1b}"),
        "alinkb"
    );
    assert_eq!(strip_ansi("│ plain │"), "│ plain │");
    // A `│` that is not a line prefix stays.
    assert_eq!(strip_diagnostic_decoration("a │ b"), "a │ b\n");
}

// ---------------------------------------------------------------------------------------------
// Live: real Terraform, no provider (outputs and the built-in terraform_data resource)
// ---------------------------------------------------------------------------------------------

#[test]
fn workdir_plans_applies_and_reports_changes() {
    acc::run(|tf| -> Result<(), Error> {
        let mut wd = Workdir::with_overrides(tf, &[])?;
        wd.capture_log("DEBUG");
        wd.config(r#"output "greeting" { value = "hello" }"#)?;
        let plan = wd.plan()?;
        assert_eq!(plan.pending_changes().len(), 1, "{:?}", plan.json());
        wd.apply()?;
        wd.assert_plan_empty()?;
        assert_eq!(wd.show()?.output("greeting")?, json!("hello"));

        wd.config(r#"output "greeting" { value = "changed" }"#)?;
        let err = wd.assert_plan_empty().unwrap_err().to_string();
        assert!(err.contains("output.greeting: update"), "{err}");
        assert!(err.contains(&tf.label()), "{err}");

        // Each product logs its own name: "Terraform version: …" / "OpenTofu version: …".
        let logged_version = format!("{} version", tf.product.name());
        assert!(wd.log()?.contains(&logged_version), "log was captured");
        Ok(())
    });
}

#[test]
fn expect_error_matches_wrapped_diagnostics() {
    acc::run(|tf| -> Result<(), Error> {
        let wd = Workdir::with_overrides(tf, &[])?;
        wd.config(r#"output "x" { value = var.undeclared_variable_with_a_long_name }"#)?;
        let stderr = wd.expect_error(Action::Plan, r"Reference to undeclared input variable")?;
        assert!(!stderr.contains('│'), "{stderr}");
        // The explanation spans lines in Terraform's output; matching sees it as one.
        wd.expect_error(
            Action::Plan,
            r#"An input variable with the name "undeclared_variable_with_a_long_name" has not been declared"#,
        )?;
        let mismatch = wd.expect_error(Action::Plan, "no such text").unwrap_err();
        assert!(
            mismatch.to_string().contains("does not match"),
            "{mismatch}"
        );

        wd.config(r#"output "x" { value = 1 }"#)?;
        let success = wd.expect_error(Action::Apply, "anything").unwrap_err();
        assert!(success.to_string().contains("succeeded"), "{success}");
        assert!(matches!(
            wd.expect_error(Action::Plan, "("),
            Err(Error::Regex { .. })
        ));
        Ok(())
    });
}

fn terraform_data_config(marker: &Path) -> String {
    format!(
        r#"
resource "terraform_data" "thing" {{
  input = "hello"
  provisioner "local-exec" {{
    when    = destroy
    command = "touch {}"
  }}
}}
output "thing" {{ value = terraform_data.thing.output }}
"#,
        marker.display()
    )
}

#[test]
fn import_and_compare_reports_differences() {
    acc::run_where(
        Terraform::supports_terraform_data,
        "terraform_data needs Terraform 1.4",
        |tf| -> Result<(), Error> {
            let markers = tempfile::tempdir().map_err(|e| Error::Assertion(e.to_string()))?;
            let wd = Workdir::with_overrides(tf, &[])?;
            wd.config(&terraform_data_config(&markers.path().join("destroyed")))?;
            wd.apply()?;
            let state = wd.show()?;
            let thing = state.resource("terraform_data.thing")?;
            assert_eq!(thing.get("output")?, json!("hello"));
            let id = thing.str("id")?;

            // terraform_data cannot read input/output back on import.
            wd.import_and_compare("terraform_data.thing", &id, &["input", "output"])?;
            let err = wd
                .import_and_compare("terraform_data.thing", &id, &["input"])
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("output: applied = \"hello\", imported = null"),
                "{err}"
            );
            assert!(!err.contains("input:"), "{err}");

            // The imported copy must not have been destroyed.
            assert!(!markers.path().join("destroyed").exists());
            wd.destroy()?;
            assert!(markers.path().join("destroyed").exists());
            assert!(!wd.show()?.has_managed_resources());
            Ok(())
        },
    );
}

#[test]
fn dropping_a_workdir_destroys_its_resources() {
    acc::run_where(
        Terraform::supports_terraform_data,
        "terraform_data needs Terraform 1.4",
        |tf| -> Result<(), Error> {
            let markers = tempfile::tempdir().map_err(|e| Error::Assertion(e.to_string()))?;
            let marker = markers.path().join("destroyed");
            {
                let wd = Workdir::with_overrides(tf, &[])?;
                wd.config(&terraform_data_config(&marker))?;
                wd.apply()?;
                assert!(!marker.exists());
            }
            assert!(marker.exists(), "drop ran terraform destroy");
            Ok(())
        },
    );
}

#[test]
fn run_reports_the_failing_version() {
    // run_on only hands the clients to the body, so they need not exist.
    let client = |product, version| Terraform {
        path: format!("/fake/{product:?}-{version:?}").into(),
        version,
        product,
    };
    let clients = [
        client(Product::Terraform, (1, 11, 4)),
        client(Product::Terraform, (1, 0, 3)),
        client(Product::OpenTofu, (1, 11, 6)),
    ];
    let mut tried = Vec::new();
    let runs = acc::run_on(
        &clients,
        |_| true,
        "",
        |tf| {
            tried.push(tf.label());
            match tf.version {
                (1, 0, 3) => Err(format!("broken on {}", tf.version_string())),
                (1, 11, 6) => panic!("panicked on {}", tf.label()),
                _ => Ok(()),
            }
        },
    );
    // Every client is tried, in order, even after failures.
    assert_eq!(
        tried,
        ["Terraform 1.11.4", "Terraform 1.0.3", "OpenTofu 1.11.6"]
    );
    let message = runs.verdict().unwrap_err();
    assert!(message.contains("failed on 2 of 3"), "{message}");
    assert!(
        message.contains("Terraform 1.0.3 (/fake/Terraform-(1, 0, 3)):\nbroken on 1.0.3"),
        "{message}"
    );
    assert!(
        message.contains("panicked:\npanicked on OpenTofu 1.11.6"),
        "{message}"
    );
    assert!(!message.contains("1.11.4"), "{message}");

    let runs = acc::run_on(&clients, Terraform::is_opentofu, "only OpenTofu", |_| {
        Ok::<(), Error>(())
    });
    assert!(runs.verdict().is_ok());
    assert_eq!(runs.ran.len(), 1);
    assert_eq!(runs.skipped, clients[..2]);

    let runs = acc::run_on(
        &clients,
        |_| false,
        "nothing qualifies",
        |_| Ok::<(), Error>(()),
    );
    let message = runs.verdict().unwrap_err();
    assert!(message.contains("nothing qualifies"), "{message}");
}

// ---------------------------------------------------------------------------------------------
// scripts/test's closing lines
// ---------------------------------------------------------------------------------------------

/// Runs `scripts/test --summary` on a cargo log and acceptance records written here by hand,
/// and returns its exit code and output.
fn summary_of(log: &str, records: &[&str], cargo_status: i32) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("cargo-test.log");
    std::fs::write(&log_path, log).unwrap();
    let report_dir = dir.path().join("acceptance");
    std::fs::create_dir(&report_dir).unwrap();
    for (i, record) in records.iter().enumerate() {
        std::fs::write(report_dir.join(format!("acc-{i}.tsv")), record).unwrap();
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/test");
    let output = std::process::Command::new("bash")
        .arg(script)
        .arg("--summary")
        .arg(&log_path)
        .arg(&report_dir)
        .arg(cargo_status.to_string())
        .output()
        .unwrap();
    assert!(output.stderr.is_empty(), "{output:?}");
    (
        output.status.code().unwrap(),
        String::from_utf8(output.stdout).unwrap(),
    )
}

const PASSING_LOG: &str = "\
   Compiling tf-core v0.1.0
     Running unittests src/lib.rs (/t/debug/deps/tf_core-0a1b)

running 4 tests
test a ... ok
test b ... ignored
test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s

\u{1b}[1m\u{1b}[92m     Running\u{1b}[0m tests/harness.rs (/t/debug/deps/harness-2c3d)

running 7 tests
test result: \u{1b}[32mok\u{1b}[0m. 7 passed; 0 failed; 0 ignored; 0 measured; 3 filtered out; finished in 1.00s

   Doc-tests tf_core

running 0 tests
test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s
";

#[test]
fn summary_counts_every_test_binary() {
    let records = [
        "client\tTerraform 1.0.3\t/c/terraform\n\
         client\tOpenTofu 1.11.6\t/c/tofu\n\
         not-run\t`terraform` on PATH\tthere is none\n\
         ran\tTerraform 1.0.3\t/c/terraform\tplan_a\tok\n\
         ran\tOpenTofu 1.11.6\t/c/tofu\tplan_a\tok\n\
         skipped\tTerraform 1.0.3\t/c/terraform\tfunction_b\tprovider functions need 1.8\n\
         ran\tOpenTofu 1.11.6\t/c/tofu\tfunction_b\tok\n",
        "client\tTerraform 1.0.3\t/c/terraform\n\
         client\tOpenTofu 1.11.6\t/c/tofu\n\
         not-run\t`terraform` on PATH\tthere is none\n\
         skipped\tTerraform 1.0.3\t/c/terraform\tfunction_c\tprovider functions need 1.8\n\
         skipped\tTerraform 1.0.3\t/c/terraform\tdata_d\tterraform_data needs Terraform 1.4\n\
         ran\tOpenTofu 1.11.6\t/c/tofu\tfunction_c\tok\n\
         ran\tOpenTofu 1.11.6\t/c/tofu\tdata_d\tok\n",
    ];
    let (code, out) = summary_of(PASSING_LOG, &records, 0);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out,
        "10 passed, 0 failed, 1 skipped\n\
         Acceptance tests ran on Terraform 1.0.3 (/c/terraform): 1 test, 0 failed; 3 skipped it \
         (provider functions need 1.8: 2; terraform_data needs Terraform 1.4: 1)\n\
         Acceptance tests ran on OpenTofu 1.11.6 (/c/tofu): 4 tests, 0 failed\n\
         Not run: `terraform` on PATH: there is none\n"
    );

    // No acceptance test in the run.
    let (code, out) = summary_of(PASSING_LOG, &[], 0);
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        out,
        "10 passed, 0 failed, 1 skipped\nAcceptance tests: none ran in this run\n"
    );
}

#[test]
fn summary_reports_failures_and_dead_test_binaries() {
    let log = format!(
        "{PASSING_LOG}     Running tests/settings.rs (/t/debug/deps/settings-4e5f)

running 3 tests
test keeps_other_keys ... FAILED
test result: FAILED. 1 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 9.1s

error: test failed, to rerun pass `-p acceptance-tests --test settings`
     Running tests/sysbox.rs (/t/debug/deps/sysbox-6a7b)

running 2 tests
error: test failed, to rerun pass `-p acceptance-tests --test sysbox`

Caused by:
  process didn't exit successfully: `/t/debug/deps/sysbox-6a7b` (signal: 6, SIGABRT: process abort signal)
error: 2 targets failed:
    `-p acceptance-tests --test settings`
    `-p acceptance-tests --test sysbox`
"
    );
    let records = ["client\tOpenTofu 1.11.6\t/c/tofu\n\
                    ran\tOpenTofu 1.11.6\t/c/tofu\tkeeps_other_keys\tfailed\n\
                    ran\tOpenTofu 1.11.6\t/c/tofu\treplaces_object\tok\n"];
    let (code, out) = summary_of(&log, &records, 101);
    assert_eq!(code, 1, "{out}");
    assert_eq!(
        out,
        "11 passed, 3 failed, 1 skipped\n\
         Failed without a test result (the test binary died; see its output above): \
         tests/sysbox.rs (/t/debug/deps/sysbox-6a7b)\n\
         Acceptance tests ran on OpenTofu 1.11.6 (/c/tofu): 2 tests, 1 failed\n  \
         failed on it: keeps_other_keys\n"
    );

    // cargo failed before any test ran (a build error): still a failure.
    let (code, out) = summary_of("error: could not compile `tf-core`\n", &[], 101);
    assert_eq!(code, 1, "{out}");
    assert!(out.starts_with("0 passed, 1 failed, 0 skipped\n"), "{out}");
    assert!(out.contains("exited with status 101"), "{out}");

    // Discovery failed in a test process: the reason and the fix are among the closing lines.
    let records =
        ["discovery-failed\tTerraform 1.0.3 is not in the cache\trun `scripts/fetch-terraform`\n"];
    let (_, out) = summary_of(PASSING_LOG, &records, 0);
    assert!(
        out.ends_with(
            "Acceptance tests found no client to run on: Terraform 1.0.3 is not in the cache \
             (fix: run `scripts/fetch-terraform`)\n"
        ),
        "{out}"
    );
}
