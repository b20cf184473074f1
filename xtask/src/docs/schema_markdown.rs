//! Markdown for schemas and types, in the registry's usual shape:
//! `### Required` / `### Optional` / `### Read-Only` lists, then one
//! `Nested Schema for` section per block, nested attribute or object.

use std::fmt::Write as _;

use tf_framework::schema::{Attribute, AttributeKind, Block, Nesting};
use tf_protocol::Value;
use tf_protocol::value::{ObjectType, Type};

/// Which list an attribute or block goes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Group {
    Required,
    Optional,
    ReadOnly,
}

impl Group {
    const ALL: [Group; 3] = [Group::Required, Group::Optional, Group::ReadOnly];

    fn title(self) -> &'static str {
        match self {
            Group::Required => "Required",
            Group::Optional => "Optional",
            Group::ReadOnly => "Read-Only",
        }
    }

    fn of(attribute: &Attribute) -> Group {
        if attribute.required {
            Group::Required
        } else if !attribute.optional && attribute.computed {
            Group::ReadOnly
        } else {
            Group::Optional
        }
    }
}

/// What a `Nested Schema for` section describes.
enum Nested<'a> {
    Block(&'a Block),
    Attributes(&'a [Attribute]),
    Object {
        object: &'a ObjectType,
        read_only: bool,
    },
}

/// One item waiting for its `Nested Schema for` section.
struct Pending<'a> {
    anchor: String,
    path: String,
    nested: Nested<'a>,
}

/// One line of a Required/Optional/Read-Only list.
struct Line {
    group: Group,
    text: String,
}

/// The `## Schema` section of `block` (no trailing newline).
pub fn schema_section(block: &Block) -> String {
    let mut pending = Vec::new();
    let lines = block_lines(block, "", &mut pending);
    let mut out = String::from("## Schema");
    for group in Group::ALL {
        let items: Vec<&Line> = lines.iter().filter(|l| l.group == group).collect();
        if items.is_empty() {
            continue;
        }
        let _ = write!(out, "\n\n### {}\n", group.title());
        for line in items {
            let _ = write!(out, "\n{}", line.text);
        }
    }
    render_pending(&mut out, pending);
    out
}

/// Appends the sections of `pending`, each followed by its own nested ones.
fn render_pending(out: &mut String, pending: Vec<Pending<'_>>) {
    for item in pending {
        let mut children = Vec::new();
        let _ = write!(
            out,
            "\n\n<a id=\"{}\"></a>\n### Nested Schema for `{}`",
            item.anchor, item.path
        );
        let lines = match item.nested {
            Nested::Block(block) => {
                if !block.description.trim().is_empty() {
                    let _ = write!(out, "\n\n{}", block.description.trim());
                }
                block_lines(block, &item.path, &mut children)
            }
            Nested::Attributes(attributes) => attributes
                .iter()
                .map(|a| attribute_line(a, &item.path, &mut children))
                .collect(),
            Nested::Object { object, read_only } => {
                object_lines(object, read_only, &item.path, &mut children)
            }
        };
        for group in Group::ALL {
            let items: Vec<&Line> = lines.iter().filter(|l| l.group == group).collect();
            if items.is_empty() {
                continue;
            }
            let _ = write!(out, "\n\n{}:\n", group.title());
            for line in items {
                let _ = write!(out, "\n{}", line.text);
            }
        }
        render_pending(out, children);
    }
}

fn child_path(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}.{name}")
    }
}

fn anchor(kind: &str, path: &str) -> String {
    format!("{kind}--{}", path.replace('.', "--"))
}

/// The lines of a block's attributes, then its nested blocks.
fn block_lines<'a>(block: &'a Block, path: &str, pending: &mut Vec<Pending<'a>>) -> Vec<Line> {
    let mut lines: Vec<Line> = block
        .attributes
        .iter()
        .map(|a| attribute_line(a, path, pending))
        .collect();
    for nested in &block.blocks {
        let child = child_path(path, &nested.type_name);
        let anchor = anchor("nestedblock", &child);
        let mut label = match nested.nesting {
            Nesting::Single | Nesting::Group => "Block".to_owned(),
            Nesting::List => "Block List".to_owned(),
            Nesting::Set => "Block Set".to_owned(),
            Nesting::Map => "Block Map".to_owned(),
        };
        if nested.min_items > 0 {
            let _ = write!(label, ", Min: {}", nested.min_items);
        }
        let single = matches!(nested.nesting, Nesting::Single | Nesting::Group);
        if nested.max_items > 0 && !(single && nested.max_items == 1) {
            let _ = write!(label, ", Max: {}", nested.max_items);
        }
        if nested.block.deprecation.is_some() {
            label.push_str(", Deprecated");
        }
        let mut text = format!("- `{}` ({label})", nested.type_name);
        push_sentence(&mut text, &nested.block.description);
        if let Some(message) = &nested.block.deprecation {
            push_sentence(&mut text, &format!("**Deprecated:** {message}"));
        }
        let _ = write!(text, " (see [below for nested schema](#{anchor}))");
        pending.push(Pending {
            anchor,
            path: child,
            nested: Nested::Block(&nested.block),
        });
        lines.push(Line {
            group: if nested.min_items > 0 {
                Group::Required
            } else {
                Group::Optional
            },
            text,
        });
    }
    lines
}

fn attribute_line<'a>(
    attribute: &'a Attribute,
    path: &str,
    pending: &mut Vec<Pending<'a>>,
) -> Line {
    let group = Group::of(attribute);
    let child = child_path(path, &attribute.name);
    let (mut label, nested) = match &attribute.kind {
        AttributeKind::Type(ty) => (
            type_label(ty),
            object_of(ty).map(|object| {
                (
                    anchor("nestedobjatt", &child),
                    Nested::Object {
                        object,
                        read_only: group == Group::ReadOnly,
                    },
                )
            }),
        ),
        AttributeKind::Nested {
            attributes,
            nesting,
        } => (
            match nesting {
                Nesting::Single | Nesting::Group => "Attributes",
                Nesting::List => "Attributes List",
                Nesting::Set => "Attributes Set",
                Nesting::Map => "Attributes Map",
            }
            .to_owned(),
            Some((
                anchor("nestedatt", &child),
                Nested::Attributes(attributes.as_slice()),
            )),
        ),
    };
    if attribute.sensitive {
        label.push_str(", Sensitive");
    }
    if attribute.write_only {
        label.push_str(", Write-only");
    }
    if attribute.deprecation.is_some() {
        label.push_str(", Deprecated");
    }
    let mut text = format!("- `{}` ({label})", attribute.name);
    push_sentence(&mut text, &attribute.description);
    if let Some(default) = attribute.default.as_ref().and_then(value_literal)
        && !attribute.description.contains("Default")
        && !attribute.description.contains("default")
    {
        push_sentence(&mut text, &format!("Default `{default}`."));
    }
    if let Some(message) = &attribute.deprecation {
        push_sentence(&mut text, &format!("**Deprecated:** {message}"));
    }
    if let Some((anchor, nested)) = nested {
        let _ = write!(text, " (see [below for nested schema](#{anchor}))");
        pending.push(Pending {
            anchor,
            path: child,
            nested,
        });
    }
    Line { group, text }
}

fn object_lines<'a>(
    object: &'a ObjectType,
    read_only: bool,
    path: &str,
    pending: &mut Vec<Pending<'a>>,
) -> Vec<Line> {
    object
        .attributes
        .iter()
        .map(|(name, ty)| {
            let group = if read_only {
                Group::ReadOnly
            } else if object.optional.contains(name) {
                Group::Optional
            } else {
                Group::Required
            };
            let child = child_path(path, name);
            let mut text = format!("- `{name}` ({})", type_label(ty));
            if let Some(inner) = object_of(ty) {
                let anchor = anchor("nestedobjatt", &child);
                let _ = write!(text, " (see [below for nested schema](#{anchor}))");
                pending.push(Pending {
                    anchor,
                    path: child,
                    nested: Nested::Object {
                        object: inner,
                        read_only,
                    },
                });
            }
            Line { group, text }
        })
        .collect()
}

/// Appends ` sentence` when it is not blank.
fn push_sentence(text: &mut String, sentence: &str) {
    let sentence = sentence.trim();
    if !sentence.is_empty() {
        text.push(' ');
        text.push_str(sentence);
    }
}

/// The object an attribute of type `ty` holds (directly or as elements).
fn object_of(ty: &Type) -> Option<&ObjectType> {
    match ty {
        Type::Object(object) => Some(object),
        Type::List(inner) | Type::Set(inner) | Type::Map(inner) => match inner.as_ref() {
            Type::Object(object) => Some(object),
            _ => None,
        },
        _ => None,
    }
}

/// A type as the registry's schema lists name it: `String`, `List of Object`.
pub fn type_label(ty: &Type) -> String {
    match ty {
        Type::String => "String".to_owned(),
        Type::Number => "Number".to_owned(),
        Type::Bool => "Boolean".to_owned(),
        Type::Dynamic => "Dynamic".to_owned(),
        Type::List(inner) => format!("List of {}", type_label(inner)),
        Type::Set(inner) => format!("Set of {}", type_label(inner)),
        Type::Map(inner) => format!("Map of {}", type_label(inner)),
        Type::Object(_) => "Object".to_owned(),
        Type::Tuple(_) => "Tuple".to_owned(),
    }
}

/// A type in Terraform's type-constraint syntax; objects and tuples are
/// spelled out only when `full`.
pub fn type_expression(ty: &Type, full: bool) -> String {
    match ty {
        Type::String => "string".to_owned(),
        Type::Number => "number".to_owned(),
        Type::Bool => "bool".to_owned(),
        Type::Dynamic => "dynamic".to_owned(),
        Type::List(inner) => format!("list({})", type_expression(inner, full)),
        Type::Set(inner) => format!("set({})", type_expression(inner, full)),
        Type::Map(inner) => format!("map({})", type_expression(inner, full)),
        Type::Object(object) if full => {
            let fields: Vec<String> = object
                .attributes
                .iter()
                .map(|(name, ty)| format!("{name} = {}", type_expression(ty, true)))
                .collect();
            format!("object({{ {} }})", fields.join(", "))
        }
        Type::Object(_) => "object".to_owned(),
        Type::Tuple(elements) if full => {
            let elements: Vec<String> = elements
                .iter()
                .map(|ty| type_expression(ty, true))
                .collect();
            format!("tuple([{}])", elements.join(", "))
        }
        Type::Tuple(_) => "tuple".to_owned(),
    }
}

/// A primitive default as it is written in configuration; `None` for the
/// rest (their description should say what they default to).
fn value_literal(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if s.is_empty() => Some("\"\"".to_owned()),
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tf_framework::schema::NestedBlock;

    #[test]
    fn groups_flags_defaults_and_nested_blocks() {
        let block = Block::new("x")
            .attribute(
                Attribute::string("name")
                    .required()
                    .description("The name."),
            )
            .attribute(
                Attribute::string("password")
                    .optional()
                    .sensitive()
                    .description("Secret."),
            )
            .attribute(Attribute::string("password_wo").optional().write_only())
            .attribute(
                Attribute::bool("docker")
                    .default(true)
                    .description("Docker."),
            )
            .attribute(Attribute::string("id").computed().description("Id."))
            .attribute(
                Attribute::list(
                    "nodes",
                    Type::object([("name", Type::String), ("ok", Type::Bool)]),
                )
                .computed(),
            )
            .block(NestedBlock::single(
                "caching",
                Block::new("Cache.").attribute(Attribute::bool("enabled").required()),
            ));
        let text = schema_section(&block);
        let expected = "## Schema

### Required

- `name` (String) The name.

### Optional

- `password` (String, Sensitive) Secret.
- `password_wo` (String, Write-only)
- `docker` (Boolean) Docker. Default `true`.
- `caching` (Block) Cache. (see [below for nested schema](#nestedblock--caching))

### Read-Only

- `id` (String) Id.
- `nodes` (List of Object) (see [below for nested schema](#nestedobjatt--nodes))

<a id=\"nestedobjatt--nodes\"></a>
### Nested Schema for `nodes`

Read-Only:

- `name` (String)
- `ok` (Boolean)

<a id=\"nestedblock--caching\"></a>
### Nested Schema for `caching`

Cache.

Required:

- `enabled` (Boolean)";
        assert_eq!(text, expected);
    }

    #[test]
    fn type_expressions() {
        let ty = Type::object([
            ("supported", Type::Bool),
            ("reasons", Type::List(Box::new(Type::String))),
        ]);
        assert_eq!(type_expression(&ty, false), "object");
        assert_eq!(
            type_expression(&ty, true),
            "object({ reasons = list(string), supported = bool })"
        );
        assert_eq!(
            type_label(&Type::Map(Box::new(Type::String))),
            "Map of String"
        );
    }
}
