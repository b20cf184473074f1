//! Plans whose inputs are not known yet: a configuration that creates the
//! VPC, the cluster and the node group in one apply hands the provider
//! values that are unknown at plan, whole or element by element.
//!
//! The configurations are generated from `terraform providers schema -json`,
//! so every resource and data source the provider has is covered, with every
//! argument it takes set to a value that Terraform knows only at apply:
//! `uuid()` is impure, so Terraform evaluates it as unknown while it plans.
//! Lists get one unknown element, maps one unknown value, nested blocks one
//! block whose arguments are unknown. The provider block points at ports
//! where nothing listens: planning unknowns must not need an API.

use std::fmt::Write as _;

use acceptance_tests::{self as acc, Action, Workdir};
use serde_json::Value;

/// A string Terraform knows only at apply (empty then).
const UNKNOWN_STRING: &str = "local.later";

/// Provider blocks that name services nothing answers on.
fn provider_config() -> String {
    let blocks = r#"  coder {
    url           = "http://127.0.0.1:9"
    session_token = "unused-token"
  }
  kubernetes {
    host  = "https://127.0.0.1:9"
    token = "unused-token"
  }
  aws {
    region     = "us-east-1"
    access_key = "test"
    secret_key = "test"
    endpoints {
      eks = "http://127.0.0.1:9"
      ec2 = "http://127.0.0.1:9"
      ssm = "http://127.0.0.1:9"
      sts = "http://127.0.0.1:9"
    }
  }"#;
    format!(
        "{}\nlocals {{\n  later = substr(uuid(), 0, 0)\n}}\n",
        acc::provider_config(blocks)
    )
}

/// Arguments left out because they are alternatives to ones that are set
/// (setting both, even to unknowns, is an error the provider must report).
/// Write-only arguments are left out too: Terraform 1.0's schema JSON does
/// not mark them, and it cannot send them.
fn left_out(type_name: &str, attribute: &str) -> bool {
    matches!(
        (type_name, attribute),
        ("cvm_nodegroup", "name_prefix")
            | ("cvm_nodegroup", "max_unavailable_percentage")
            | (
                "cvm_registry" | "cvm_image_pull_secret",
                "password_wo" | "password_wo_version"
            )
    )
}

/// An expression of Terraform type `ty` (schema JSON form) that is unknown
/// at plan, with unknown elements for collections.
fn unknown_of(ty: &Value) -> String {
    match ty {
        Value::String(primitive) => match primitive.as_str() {
            "string" => UNKNOWN_STRING.to_owned(),
            "number" => format!("length({UNKNOWN_STRING}) + 3"),
            "bool" => format!("{UNKNOWN_STRING} == \"\""),
            other => panic!("no unknown expression for type {other}"),
        },
        Value::Array(parts) => {
            let kind = parts[0].as_str().unwrap_or_default();
            match kind {
                "list" => format!("[{}]", unknown_of(&parts[1])),
                "set" => format!("toset([{}])", unknown_of(&parts[1])),
                "map" => format!("{{ k = {} }}", unknown_of(&parts[1])),
                "object" => {
                    let mut out = String::from("{");
                    for (name, ty) in parts[1].as_object().into_iter().flatten() {
                        let _ = write!(out, " {name} = {},", unknown_of(ty));
                    }
                    out.push_str(" }");
                    out
                }
                other => panic!("no unknown expression for type {other}"),
            }
        }
        other => panic!("unexpected type JSON {other}"),
    }
}

/// A value for a nested attribute (schema JSON `nested_type`): one element
/// whose arguments are unknown.
fn unknown_nested(nested: &Value) -> String {
    let mut object = String::from("{");
    for (name, attribute) in nested["attributes"].as_object().into_iter().flatten() {
        if attribute["required"] == true || attribute["optional"] == true {
            let value = match attribute.get("nested_type") {
                Some(inner) => unknown_nested(inner),
                None => unknown_of(&attribute["type"]),
            };
            let _ = write!(object, " {name} = {value},");
        }
    }
    object.push_str(" }");
    match nested["nesting_mode"].as_str() {
        Some("list" | "set") => format!("[{object}]"),
        Some("map") => format!("{{ k = {object} }}"),
        _ => object,
    }
}

/// The body of a block with every argument unknown, and one of each nested
/// block.
fn unknown_body(type_name: &str, block: &Value, indent: usize, names: &mut Vec<String>) -> String {
    let pad = " ".repeat(indent);
    let mut out = String::new();
    for (name, attribute) in block["attributes"].as_object().into_iter().flatten() {
        let configurable = attribute["required"] == true || attribute["optional"] == true;
        if !configurable || attribute["write_only"] == true || left_out(type_name, name) {
            continue;
        }
        let value = match attribute.get("nested_type") {
            Some(nested) => unknown_nested(nested),
            None => unknown_of(&attribute["type"]),
        };
        let _ = writeln!(out, "{pad}{name} = {value}");
        if indent == 2 {
            names.push(name.clone());
        }
    }
    for (name, nested) in block["block_types"].as_object().into_iter().flatten() {
        let body = unknown_body(type_name, &nested["block"], indent + 2, &mut Vec::new());
        let _ = writeln!(out, "{pad}{name} {{\n{body}{pad}}}");
    }
    out
}

/// Whether any part of a plan's `after_unknown` entry says unknown.
fn shows_unknown(after_unknown: &Value) -> bool {
    match after_unknown {
        Value::Bool(b) => *b,
        Value::Array(items) => items.iter().any(shows_unknown),
        Value::Object(items) => items.values().any(shows_unknown),
        _ => false,
    }
}

#[test]
fn every_resource_and_data_source_plans_with_every_input_unknown() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let wd = Workdir::new(tf)?;
        wd.config(&provider_config())?;
        let schema = wd.schema_json()?;
        let provider = schema["provider_schemas"]
            .as_object()
            .and_then(|p| p.values().next())
            .cloned()
            .ok_or_else(|| acc::Error::Assertion("no provider in the schema JSON".into()))?;

        let mut config = provider_config();
        let mut expected = Vec::new();
        for (kind, section) in [
            ("resource", "resource_schemas"),
            ("data", "data_source_schemas"),
        ] {
            for (type_name, schema) in provider[section].as_object().into_iter().flatten() {
                let mut names = Vec::new();
                let body = unknown_body(type_name, &schema["block"], 2, &mut names);
                let _ = writeln!(config, "{kind} \"{type_name}\" \"later\" {{\n{body}}}");
                let address = match kind {
                    "data" => format!("data.{type_name}.later"),
                    _ => format!("{type_name}.later"),
                };
                expected.push((address, names));
            }
        }
        wd.config(&config)?;
        let plan = wd.plan()?;

        let changes = plan.json()["resource_changes"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for (address, names) in &expected {
            let change = changes
                .iter()
                .find(|c| c["address"] == address.as_str())
                .ok_or_else(|| {
                    acc::Error::Assertion(format!("the plan has no change for {address}"))
                })?;
            let actions = &change["change"]["actions"];
            if address.starts_with("data.") {
                // Read once its configuration is known, at apply.
                assert_eq!(actions, &serde_json::json!(["read"]), "{address}");
                continue;
            }
            assert_eq!(actions, &serde_json::json!(["create"]), "{address}");
            let after_unknown = &change["change"]["after_unknown"];
            for name in names {
                assert!(
                    shows_unknown(&after_unknown[name.as_str()]),
                    "{address}.{name} should show as known after apply: {after_unknown}"
                );
            }
        }
        assert!(
            expected.len() >= 7,
            "fewer types than the provider has: {expected:?}"
        );
        Ok(())
    });
}

/// A value unknown at plan is checked when it becomes known: Terraform plans
/// again at apply, and the provider refuses it there, before any API call
/// (nothing listens on the provider's endpoints, so a call would fail with
/// a connection error instead of this diagnostic).
#[test]
fn a_value_known_only_at_apply_is_checked_before_any_api_call() {
    acc::run(|tf| -> Result<(), acc::Error> {
        let wd = Workdir::new(tf)?;
        wd.config(&format!(
            r#"{}
resource "cvm_registry" "later" {{
  friendly_name = "Internal"
  registry      = "registry.example.com"
  username      = "robot"
  password      = "not-a-secret"
  timeouts {{
    create = "${{local.later}}ten minutes"
  }}
}}
"#,
            provider_config()
        ))?;
        let plan = wd.plan()?;
        assert_eq!(plan.actions("cvm_registry.later")?, ["create"]);
        wd.expect_error(Action::Apply, r"Invalid Duration.*ten minutes")?;
        Ok(())
    });
}
