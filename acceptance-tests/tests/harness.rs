//! Tests of the acceptance-test harness itself. None of them needs the provider: the live ones
//! use only outputs and Terraform's built-in `terraform_data` resource.

use std::panic::{AssertUnwindSafe, catch_unwind};
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
fn discovery_finds_path_terraform_and_cached_1_0_3() {
    let path_var = std::env::var_os("PATH");
    let found =
        discover(None, path_var.as_deref(), &acc::cache_dir()).unwrap_or_else(|e| panic!("{e}"));
    // Terraform comes first; OpenTofu (numbered independently) after it.
    let products: Vec<_> = found.iter().map(|t| t.product).collect();
    assert!(
        products.windows(2).all(|w| w[0] <= w[1]),
        "Terraform first: {products:?}"
    );
    let versions: Vec<_> = found
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
    // The PATH one is the newest unless it is older than 1.0.3 itself.
    let on_path = acc::find_on_path("terraform", path_var.as_deref()).unwrap();
    let probed = Terraform::probe(&on_path).unwrap();
    assert!(versions.contains(&probed.version));
}

#[test]
fn discovery_without_cached_1_0_3_fails_with_the_fix() {
    let empty_cache = tempfile::tempdir().unwrap();
    let path_var = std::env::var_os("PATH");
    match discover(None, path_var.as_deref(), empty_cache.path()) {
        Err(Error::Discovery { reason, fix }) => {
            assert!(reason.contains("1.0.3"), "{reason}");
            assert!(fix.contains("scripts/fetch-terraform"), "{fix}");
        }
        other => panic!("expected a discovery error, got {other:?}"),
    }
}

#[test]
fn discovery_without_terraform_on_path_fails_with_the_fix() {
    let empty_dir = tempfile::tempdir().unwrap();
    let path_var = empty_dir.path().as_os_str().to_owned();
    match discover(None, Some(&path_var), &acc::cache_dir()) {
        Err(Error::Discovery { reason, fix }) => {
            assert!(reason.contains("PATH"), "{reason}");
            assert!(fix.contains(acc::PATHS_ENV), "{fix}");
        }
        other => panic!("expected a discovery error, got {other:?}"),
    }
}

#[test]
fn discovery_override_list_is_used_as_is() {
    let cached = acc::cached_terraform_path(&acc::cache_dir());
    let list = cached.display().to_string();
    let found = discover(Some(&list), None, Path::new("/nonexistent")).unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].version, (1, 0, 3));
    assert_eq!(found[0].path, cached);

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
    let all = acc::terraforms();
    let oldest = all.last().unwrap().clone();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        acc::run(|tf| {
            if tf.path == oldest.path {
                Err(format!("broken on {}", tf.version_string()))
            } else {
                Ok(())
            }
        })
    }));
    let message = *outcome.unwrap_err().downcast::<String>().unwrap();
    assert!(
        message.contains(&format!("failed on 1 of {}", all.len())),
        "{message}"
    );
    assert!(
        message.contains(&format!("broken on {}", oldest.version_string())),
        "{message}"
    );

    let outcome = catch_unwind(AssertUnwindSafe(|| {
        acc::run_where(|_| false, "nothing qualifies", |_| Ok::<(), Error>(()))
    }));
    let message = *outcome.unwrap_err().downcast::<String>().unwrap();
    assert!(message.contains("nothing qualifies"), "{message}");
}
