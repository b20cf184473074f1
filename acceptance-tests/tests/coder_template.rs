//! Acceptance tests for `cvm_coder_template`, against a real Coder v2.30.0 server (built by
//! `scripts/coder-v2`), on every available Terraform. What the provider did is checked on the
//! server: the templates, versions and files Coder holds.

use acceptance_tests::coder::CoderEmulator;
use acceptance_tests::coder_v2::{CoderV2, FaultProxy};
use acceptance_tests::{self as acc, Action, Terraform};
use serde_json::{Value, json};

const ADDRESS: &str = "cvm_coder_template.t";

/// A template Coder's provisioner imports offline: only `coder/coder`, from its mirror.
fn main_tf(comment: &str) -> String {
    format!(
        "# {comment}\n\
         terraform {{\n  required_providers {{\n    coder = {{ source = \"coder/coder\" }}\n  }}\n}}\n\
         data \"coder_workspace\" \"me\" {{}}\n\
         resource \"coder_agent\" \"main\" {{\n  os   = \"linux\"\n  arch = \"amd64\"\n}}\n"
    )
}

/// A template name of this test's and client's own, as Coder allows (letters, digits, hyphens).
fn name(prefix: &str, tf: &Terraform) -> String {
    let tag: String = tf
        .tag()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("{prefix}-{tag}")
}

/// `cvm_coder_template.t` with `main.tf` as its only file and the given extra attributes.
fn template(name: &str, main_tf: &str, extra: &str) -> String {
    format!(
        "resource \"cvm_coder_template\" \"t\" {{\n  name = \"{name}\"\n{extra}\n  files = {{\n    \"main.tf\" = {}\n  }}\n}}\n",
        serde_json::to_string(main_tf).unwrap_or_default()
    )
}

fn str_of(value: &Value, key: &str) -> String {
    value[key].as_str().unwrap_or_default().to_owned()
}

fn server_template(coder: &CoderV2, name: &str) -> Result<Value, acc::Error> {
    coder
        .template(name)?
        .ok_or_else(|| acc::Error::Assertion(format!("template {name} is not on the server")))
}

#[test]
fn create_replan_change_content_and_metadata_import_and_destroy() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let coder = CoderV2::shared()?;
        let name = name("life", tf);
        let wd = coder.workdir(tf)?;
        let first = main_tf("first");
        wd.config(&coder.config(&template(&name, &first, "  display_name = \"CVM\"")))?;
        wd.apply()?;

        let stored = server_template(coder, &name)?;
        let state = wd.show()?;
        let t = state.resource(ADDRESS)?;
        assert_eq!(t.str("id")?, str_of(&stored, "id"));
        assert_eq!(str_of(&stored, "display_name"), "CVM");
        let version = t.str("version_id")?;
        assert_eq!(str_of(&stored, "active_version_id"), version);
        assert_eq!(t.str("active_version_id")?, version);
        assert_eq!(
            t.str("organization")?,
            str_of(&coder.default_organization()?, "name")
        );
        let template_id = str_of(&stored, "id");
        assert_eq!(coder.versions(&template_id)?.len(), 1);
        assert_eq!(
            coder.version_files(&version)?,
            [("main.tf".to_owned(), first.clone())].into()
        );

        // A re-plan makes no version.
        wd.assert_plan_empty()?;
        assert_eq!(coder.versions(&template_id)?.len(), 1);

        // Metadata only: in place, no new version, and the template's other settings (changed
        // outside Terraform here) are sent back as they are, not reset.
        coder.ok(
            "PATCH",
            &format!("/api/v2/templates/{template_id}"),
            Some(
                json!({"name": name, "activity_bump_ms": 7_200_000, "default_ttl_ms": 3_600_000,
                        "display_name": "CVM", "allow_user_autostart": true,
                        "allow_user_autostop": true}),
            ),
        )?;
        let extra =
            "  display_name = \"CVM\"\n  description = \"Ubuntu CVMs\"\n  icon = \"/icon/k8s.png\"";
        wd.config(&coder.config(&template(&name, &first, extra)))?;
        assert_eq!(wd.plan()?.actions(ADDRESS)?, vec!["update"]);
        wd.apply()?;
        wd.assert_plan_empty()?;
        let stored = server_template(coder, &name)?;
        assert_eq!(str_of(&stored, "description"), "Ubuntu CVMs");
        assert_eq!(str_of(&stored, "icon"), "/icon/k8s.png");
        assert_eq!(stored["activity_bump_ms"], json!(7_200_000));
        assert_eq!(stored["default_ttl_ms"], json!(3_600_000));
        assert_eq!(coder.versions(&template_id)?.len(), 1);

        // New content: exactly one new version, and it is the active one.
        let second = main_tf("second");
        wd.config(&coder.config(&template(&name, &second, extra)))?;
        let plan = wd.plan()?;
        assert_eq!(plan.actions(ADDRESS)?, vec!["update"]);
        assert!(plan.is_unknown(ADDRESS, "version_id")?);
        wd.apply()?;
        wd.assert_plan_empty()?;
        let versions = coder.versions(&template_id)?;
        assert_eq!(versions.len(), 2, "{versions:#?}");
        let state = wd.show()?;
        let new_version = state.resource(ADDRESS)?.str("version_id")?;
        assert_ne!(new_version, version);
        assert_eq!(
            str_of(&server_template(coder, &name)?, "active_version_id"),
            new_version
        );
        assert_eq!(
            coder.version_files(&new_version)?,
            [("main.tf".to_owned(), second)].into()
        );

        // Import by organization/name reads the same attributes, files included.
        let org = state.resource(ADDRESS)?.str("organization")?;
        wd.import_and_compare(ADDRESS, &format!("{org}/{name}"), &[])?;

        wd.destroy()?;
        assert!(
            coder.template(&name)?.is_none(),
            "the template is still on the server"
        );
        Ok(())
    });
}

#[test]
fn a_version_activated_outside_is_activated_again_and_a_deleted_template_is_recreated() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let coder = CoderV2::shared()?;
        let name = name("drift", tf);
        let wd = coder.workdir(tf)?;
        wd.config(&coder.config(&template(&name, &main_tf("ours"), "")))?;
        wd.apply()?;
        let ours = wd.show()?.resource(ADDRESS)?.str("version_id")?;
        let stored = server_template(coder, &name)?;

        let theirs = coder.push_version(&stored, &[("main.tf", &main_tf("theirs"))])?;
        coder.ok(
            "PATCH",
            &format!("/api/v2/templates/{}/versions", str_of(&stored, "id")),
            Some(json!({"id": theirs})),
        )?;
        let plan = wd.plan()?;
        assert_eq!(plan.actions(ADDRESS)?, vec!["update"]);
        assert_eq!(plan.planned(ADDRESS)?.str("active_version_id")?, ours);
        wd.apply()?;
        assert_eq!(
            str_of(&server_template(coder, &name)?, "active_version_id"),
            ours
        );
        wd.assert_plan_empty()?;

        // Deleted outside: planned as a create, and created again.
        coder.ok(
            "DELETE",
            &format!("/api/v2/templates/{}", str_of(&stored, "id")),
            None,
        )?;
        assert_eq!(wd.plan()?.actions(ADDRESS)?, vec!["create"]);
        wd.apply()?;
        let again = server_template(coder, &name)?;
        assert_ne!(str_of(&again, "id"), str_of(&stored, "id"));
        wd.assert_plan_empty()?;
        wd.destroy()?;
        Ok(())
    });
}

#[test]
fn a_broken_template_fails_with_the_provisioners_log_and_nothing_is_activated() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let coder = CoderV2::shared()?;
        let name = name("broken", tf);
        let wd = coder.workdir(tf)?;
        // Valid HCL that Terraform rejects at plan: the provisioner's log says why.
        let broken = format!(
            "{}\nresource \"coder_agent\" \"main\" {{\n  os = \"linux\"\n  arch = \"amd64\"\n}}\n",
            main_tf("dup")
        );

        // On create: nothing is made.
        wd.config(&coder.config(&template(&name, &broken, "")))?;
        wd.expect_error(Action::Apply, r"Coder Could Not Import the Template")?;
        let out = wd.expect_error(
            Action::Apply,
            r#"Duplicate resource "coder_agent" configuration"#,
        )?;
        assert!(out.contains("files"), "the error is not on files:\n{out}");
        assert!(
            coder.template(&name)?.is_none(),
            "a template was made from a failed import"
        );

        // On update: the template keeps its version, and state its content hash.
        wd.config(&coder.config(&template(&name, &main_tf("good"), "")))?;
        wd.apply()?;
        let before = wd.show()?;
        let good = before.resource(ADDRESS)?.str("version_id")?;
        let hash = before.resource(ADDRESS)?.str("content_hash")?;
        wd.config(&coder.config(&template(&name, &broken, "")))?;
        wd.expect_error(
            Action::Apply,
            r#"Duplicate resource "coder_agent" configuration"#,
        )?;
        let stored = server_template(coder, &name)?;
        assert_eq!(str_of(&stored, "active_version_id"), good);
        let after = wd.show()?;
        assert_eq!(after.resource(ADDRESS)?.str("content_hash")?, hash);
        assert_eq!(after.resource(ADDRESS)?.str("version_id")?, good);
        // The failed version is archived: only the good one is listed.
        assert_eq!(coder.versions(&str_of(&stored, "id"))?.len(), 1);
        // The change is still pending.
        assert_eq!(wd.plan()?.actions(ADDRESS)?, vec!["update"]);
        wd.config(&coder.config(&template(&name, &main_tf("good"), "")))?;
        wd.assert_plan_empty()?;
        wd.destroy()?;
        Ok(())
    });
}

#[test]
fn destroy_is_refused_while_a_workspace_uses_the_template_and_names_it() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let coder = CoderV2::shared()?;
        let name = name("used", tf);
        let wd = coder.workdir(tf)?;
        wd.config(&coder.config(&template(&name, &main_tf("used"), "")))?;
        wd.apply()?;
        let stored = server_template(coder, &name)?;
        let workspace_name = format!("ws-{}", &name[5..].replace('-', ""));
        let workspace = coder.create_workspace(&stored, &workspace_name)?;
        // Named at plan (a warning; Terraform asks providers to plan destroys since 1.3),
        // refused at apply.
        if tf.at_least(1, 3, 0) {
            let plan = wd.terraform_ok(&["plan", "-destroy", "-input=false", "-no-color"])?;
            let plan = acc::collapse_whitespace(&acc::strip_diagnostic_decoration(&format!(
                "{}\n{}",
                plan.stdout, plan.stderr
            )));
            assert!(
                plan.contains("Warning: Template Still in Use")
                    && plan.contains(&format!("admin/{workspace_name}")),
                "no warning naming the workspace in the destroy plan:\n{plan}"
            );
        }
        let out = wd.expect_error(Action::Destroy, "Template Still in Use")?;
        assert!(
            out.contains(&format!("admin/{workspace_name}")),
            "the workspace is not named:\n{out}"
        );
        assert!(coder.template(&name)?.is_some());
        assert_eq!(
            wd.show()?.resource(ADDRESS)?.str("id")?,
            str_of(&stored, "id")
        );
        coder.delete_workspace(&workspace)?;
        wd.destroy()?;
        assert!(coder.template(&name)?.is_none());
        Ok(())
    });
}

#[test]
fn a_directory_and_variables_make_one_version_each_change_and_import_back() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let coder = CoderV2::shared()?;
        let name = name("dir", tf);
        let wd = coder.workdir(tf)?;
        let dir = wd.path().join("template");
        std::fs::create_dir_all(dir.join("modules/none"))
            .map_err(|e| acc::Error::Assertion(format!("creating the template directory: {e}")))?;
        let write = |path: &str, text: &str| {
            std::fs::write(dir.join(path), text)
                .map_err(|e| acc::Error::Assertion(format!("writing {path}: {e}")))
        };
        write("main.tf", &main_tf("dir"))?;
        write(
            "variables.tf",
            "variable \"greeting\" {\n  type    = string\n  default = \"hello\"\n}\n",
        )?;
        write("modules/none/README.md", "not Terraform\n")?;
        let config = |greeting: &str| {
            coder.config(&format!(
                "resource \"cvm_coder_template\" \"t\" {{\n  name = \"{name}\"\n  directory = \"${{path.module}}/template\"\n  variables = {{ greeting = \"{greeting}\" }}\n}}\n"
            ))
        };
        wd.config(&config("hi"))?;
        wd.apply()?;
        wd.assert_plan_empty()?;
        let stored = server_template(coder, &name)?;
        let template_id = str_of(&stored, "id");
        let version = str_of(&stored, "active_version_id");
        let files = coder.version_files(&version)?;
        assert_eq!(
            files.keys().collect::<Vec<_>>(),
            ["main.tf", "modules/none/README.md", "variables.tf"]
        );
        let variables = coder.ok(
            "GET",
            &format!("/api/v2/templateversions/{version}/variables"),
            None,
        )?;
        assert_eq!(variables[0]["name"], json!("greeting"));
        assert_eq!(variables[0]["value"], json!("hi"));

        // A variable change makes one version.
        wd.config(&config("hey"))?;
        wd.apply()?;
        wd.assert_plan_empty()?;
        assert_eq!(coder.versions(&template_id)?.len(), 2);

        // A file changed in the directory is seen at plan, and makes one version.
        write("main.tf", &main_tf("dir, changed"))?;
        assert_eq!(wd.plan()?.actions(ADDRESS)?, vec!["update"]);
        wd.apply()?;
        wd.assert_plan_empty()?;
        let versions = coder.versions(&template_id)?;
        assert_eq!(versions.len(), 3);
        let active = str_of(&server_template(coder, &name)?, "active_version_id");
        assert_eq!(
            coder.version_files(&active)?["main.tf"],
            main_tf("dir, changed")
        );

        wd.destroy()?;
        Ok(())
    });
}

#[test]
fn a_template_using_this_provider_imports_and_builds_a_workspace_on_the_server() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let coder = CoderV2::shared()?;
        let name = name("ours", tf);
        let wd = coder.workdir(tf)?;
        // The provisioner installs `cvm` from the server's mirror, as it does `coder`.
        let uses_cvm = main_tf("ours").replace(
            "    coder = { source = \"coder/coder\" }\n",
            "    coder = { source = \"coder/coder\" }\n    cvm   = { source = \"cvm-provider/cvm\" }\n",
        ) + "data \"cvm_workspace_image\" \"base\" {}\n\
               output \"init\" {\n  value = data.cvm_workspace_image.base.init_path\n}\n";
        wd.config(&coder.config(&template(&name, &uses_cvm, "")))?;
        wd.apply()?;
        let stored = server_template(coder, &name)?;
        let workspace_name = format!("ws-{}", name.replace('-', ""));
        let workspace = coder.create_workspace(&stored, &workspace_name)?;
        coder.delete_workspace(&workspace)?;
        wd.destroy()?;
        Ok(())
    });
}

#[test]
fn converges_while_a_proxy_answers_30_percent_of_requests_with_503_or_429() {
    /// The fault plan's seed.
    const SEED: u64 = 12;
    acc::run(|tf| -> Result<(), acc::Error> {
        let coder = CoderV2::shared()?;
        let proxy = FaultProxy::start(&coder.url, 0.3, SEED)?;
        let name = name("faults", tf);
        let wd = coder.workdir(tf)?;
        wd.config(&CoderV2::config_at(
            &proxy.url,
            &template(&name, &main_tf("faults"), ""),
        ))?;
        wd.apply()?;
        wd.assert_plan_empty()?;
        let stored = server_template(coder, &name)?;
        // Retried uploads and creates made one template with one version.
        assert_eq!(coder.versions(&str_of(&stored, "id"))?.len(), 1);
        wd.config(&CoderV2::config_at(
            &proxy.url,
            &template(&name, &main_tf("faults 2"), "  description = \"d\""),
        ))?;
        wd.apply()?;
        assert_eq!(coder.versions(&str_of(&stored, "id"))?.len(), 2);
        wd.destroy()?;
        assert!(coder.template(&name)?.is_none());

        let log = proxy.log();
        let faults: Vec<usize> = (0..log.len()).filter(|&i| log[i].fault.is_some()).collect();
        assert!(
            faults.len() >= 5,
            "too few faults to mean anything: {log:#?}"
        );
        for status in [503, 429] {
            assert!(
                log.iter().any(|r| r.fault == Some(status)),
                "no {status} was injected"
            );
        }
        // Every faulted request was sent again.
        for i in faults {
            let again = log[i + 1..]
                .iter()
                .any(|r| r.method == log[i].method && r.target == log[i].target);
            assert!(again, "{} {} was not retried", log[i].method, log[i].target);
        }
        Ok(())
    });
}

#[test]
fn a_wrong_token_fails_clearly_and_no_token_reaches_a_trace_log() {
    const WRONG: &str = "wrong-token-3f9c2a";
    acc::run(|tf| -> Result<(), acc::Error> {
        let coder = CoderV2::shared()?;
        let name = name("token", tf);
        let mut wd = acc::Workdir::new(tf)?;
        wd.capture_log("TRACE");
        wd.env("CODER_SESSION_TOKEN", WRONG);
        wd.config(&coder.config(&template(&name, &main_tf("token"), "")))?;
        wd.expect_error(Action::Apply, "Coder Rejected the Session Token")?;
        assert!(coder.template(&name)?.is_none());
        // The right token, in the configuration this time.
        let token_line = format!("    session_token = \"{}\"\n", coder.token);
        let config = coder
            .config(&template(&name, &main_tf("token"), ""))
            .replace("  coder {\n", &format!("  coder {{\n{token_line}"));
        wd.env("CODER_SESSION_TOKEN", "");
        wd.config(&config)?;
        wd.apply()?;
        wd.destroy()?;
        let log = wd.log()?;
        assert!(
            log.contains("provider.terraform-provider-cvm"),
            "no provider lines in the log"
        );
        for secret in [WRONG, coder.token.as_str()] {
            if let Some(line) = log.lines().find(|l| l.contains(secret)) {
                panic!("a token appears in the TRACE log: {line}");
            }
        }
        Ok(())
    });
}

#[test]
fn each_generation_refuses_the_other_generations_resources() {
    acc::run(|tf| -> Result<(), acc::Error> {
        // cvm_coder_template on Coder v1 (the emulator).
        let v1 = CoderEmulator::start()?;
        let wd = v1.workdir(tf)?;
        wd.config(&v1.config(&template("t", &main_tf("v1"), "")))?;
        let out = wd.expect_error(Action::Apply, "This Resource Needs Coder v2")?;
        assert!(out.contains("cvm_settings"), "{out}");
        assert!(v1.request_log()?.iter().all(|r| r.method == "GET"));

        // cvm_settings on the real Coder v2.
        let coder = CoderV2::shared()?;
        let wd = coder.workdir(tf)?;
        wd.config(&coder.config("resource \"cvm_settings\" \"s\" {\n  enabled = true\n}\n"))?;
        let out = wd.expect_error(Action::Apply, "Coder v2 Has No Such Setting")?;
        assert!(out.contains("cvm_coder_template"), "{out}");
        assert!(
            acc::collapse_whitespace(&out).contains("is Coder 2.30.0, a Coder v2 deployment"),
            "{out}"
        );
        Ok(())
    });
}
