//! Conversions between the generated protocol types and the protocol
//! layer's own types. The only place that touches both.

use tf_protocol::schema as wire;
use tf_protocol::value::{self, Type, ValueError};
use tf_protocol::{AttributePath, Diagnostic, Diagnostics, PathStep, Severity, Value};
use tfplugin_proto::tfplugin6 as pb;

use crate::function::{Parameter, Signature};

/// Decodes a value sent by Terraform; absent or empty means null.
pub(crate) fn decode(value: Option<&pb::DynamicValue>, ty: &Type) -> Result<Value, ValueError> {
    match value {
        Some(v) if !v.msgpack.is_empty() => value::decode_msgpack(&v.msgpack, ty),
        Some(v) if !v.json.is_empty() => value::decode_json(&v.json, ty),
        _ => Ok(Value::Null),
    }
}

/// Encodes a value for Terraform, always as msgpack.
pub(crate) fn encode(value: &Value, ty: &Type) -> Result<pb::DynamicValue, ValueError> {
    Ok(pb::DynamicValue {
        msgpack: value::encode_msgpack(value, ty)?,
        json: Vec::new(),
    })
}

/// The diagnostic for a value Terraform sent that does not fit the schema.
pub(crate) fn bad_value(what: &str, error: &ValueError) -> Diagnostic {
    Diagnostic::error(
        "Invalid Value From Terraform",
        format!(
            "The {what} sent by Terraform does not match the provider's schema: {error}. \
             This is a bug in the provider or in Terraform; please report it."
        ),
    )
}

/// The diagnostic for a value the provider produced that cannot be encoded.
pub(crate) fn unencodable(what: &str, error: &ValueError) -> Diagnostic {
    Diagnostic::error(
        "Provider Produced an Invalid Value",
        format!(
            "The {what} could not be encoded: {error}. This is always a bug in the provider; please report it."
        ),
    )
}

pub(crate) fn path(path: &AttributePath) -> pb::AttributePath {
    use pb::attribute_path::step::Selector;
    pb::AttributePath {
        steps: path
            .steps()
            .iter()
            .map(|step| pb::attribute_path::Step {
                selector: Some(match step {
                    PathStep::Attribute(name) => Selector::AttributeName(name.clone()),
                    PathStep::ElementKeyString(key) => Selector::ElementKeyString(key.clone()),
                    PathStep::ElementKeyInt(index) => Selector::ElementKeyInt(*index),
                }),
            })
            .collect(),
    }
}

pub(crate) fn diagnostics(diagnostics: Diagnostics) -> Vec<pb::Diagnostic> {
    diagnostics
        .into_iter()
        .map(|d| pb::Diagnostic {
            severity: match d.severity {
                Severity::Error => pb::diagnostic::Severity::Error,
                Severity::Warning => pb::diagnostic::Severity::Warning,
            } as i32,
            summary: d.summary,
            detail: d.detail,
            attribute: d.attribute.as_ref().map(path),
        })
        .collect()
}

pub(crate) fn schema(schema: &wire::Schema) -> pb::Schema {
    pb::Schema {
        version: schema.version,
        block: Some(block(&schema.block)),
    }
}

fn block(b: &wire::Block) -> pb::schema::Block {
    pb::schema::Block {
        version: 0,
        attributes: b.attributes.iter().map(attribute).collect(),
        block_types: b.blocks.iter().map(nested_block).collect(),
        description: b.description.clone(),
        description_kind: pb::StringKind::Markdown as i32,
        deprecated: b.deprecation.is_some(),
        deprecation_message: b.deprecation.clone().unwrap_or_default(),
    }
}

fn attribute(a: &wire::Attribute) -> pb::schema::Attribute {
    let (ty, nested_type) = match &a.kind {
        wire::AttributeKind::Type(ty) => (ty.to_json(), None),
        wire::AttributeKind::Nested(nested) => (
            Vec::new(),
            Some(pb::schema::Object {
                attributes: nested.attributes.iter().map(attribute).collect(),
                nesting: object_nesting(nested.nesting) as i32,
                ..Default::default()
            }),
        ),
    };
    pb::schema::Attribute {
        name: a.name.clone(),
        r#type: ty,
        nested_type,
        description: a.description.clone(),
        required: a.required,
        optional: a.optional,
        computed: a.computed,
        sensitive: a.sensitive,
        description_kind: pb::StringKind::Markdown as i32,
        deprecated: a.deprecation.is_some(),
        write_only: a.write_only,
        deprecation_message: a.deprecation.clone().unwrap_or_default(),
    }
}

fn object_nesting(n: wire::Nesting) -> pb::schema::object::NestingMode {
    use pb::schema::object::NestingMode;
    match n {
        // Nested attributes have no group mode; a single object is closest.
        wire::Nesting::Single | wire::Nesting::Group => NestingMode::Single,
        wire::Nesting::List => NestingMode::List,
        wire::Nesting::Set => NestingMode::Set,
        wire::Nesting::Map => NestingMode::Map,
    }
}

fn nested_block(b: &wire::NestedBlock) -> pb::schema::NestedBlock {
    use pb::schema::nested_block::NestingMode;
    let nesting = match b.nesting {
        wire::Nesting::Single => NestingMode::Single,
        wire::Nesting::Group => NestingMode::Group,
        wire::Nesting::List => NestingMode::List,
        wire::Nesting::Set => NestingMode::Set,
        wire::Nesting::Map => NestingMode::Map,
    };
    pb::schema::NestedBlock {
        type_name: b.type_name.clone(),
        block: Some(block(&b.block)),
        nesting: nesting as i32,
        min_items: b.min_items,
        max_items: b.max_items,
    }
}

fn parameter(p: &Parameter) -> pb::function::Parameter {
    pb::function::Parameter {
        name: p.name.clone(),
        r#type: p.ty.to_json(),
        allow_null_value: p.allow_null,
        allow_unknown_values: false,
        description: p.description.clone(),
        description_kind: pb::StringKind::Markdown as i32,
    }
}

pub(crate) fn function(s: &Signature) -> pb::Function {
    pb::Function {
        parameters: s.parameters.iter().map(parameter).collect(),
        variadic_parameter: s.variadic.as_ref().map(parameter),
        r#return: Some(pb::function::Return {
            r#type: s.returns.to_json(),
        }),
        summary: s.summary.clone(),
        description: s.description.clone(),
        description_kind: pb::StringKind::Markdown as i32,
        deprecation_message: s.deprecation.clone().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_become_steps() {
        use pb::attribute_path::step::Selector;
        let p = path(&AttributePath::attr("taints").index(2).attribute("key"));
        let selectors: Vec<_> = p.steps.into_iter().filter_map(|s| s.selector).collect();
        assert_eq!(
            selectors,
            vec![
                Selector::AttributeName("taints".into()),
                Selector::ElementKeyInt(2),
                Selector::AttributeName("key".into()),
            ]
        );
    }

    #[test]
    fn diagnostics_never_have_invalid_severity() {
        let mut d = Diagnostics::new();
        d.error("a", "b");
        d.warning("c", "d");
        let out = diagnostics(d);
        assert_eq!(out[0].severity, pb::diagnostic::Severity::Error as i32);
        assert_eq!(out[1].severity, pb::diagnostic::Severity::Warning as i32);
    }

    #[test]
    fn absent_value_is_null() {
        assert_eq!(decode(None, &Type::String), Ok(Value::Null));
    }
}
