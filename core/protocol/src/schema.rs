//! Schemas as Terraform receives them: blocks of attributes and nested
//! blocks, each attribute with a type or nested attributes, and flags
//! (required, optional, computed, sensitive, write-only).
//!
//! This module is pure description. Behaviour (validators, plan modifiers,
//! defaults) is attached by the framework layer, which produces these values.

use std::collections::BTreeMap;

use crate::value::{ObjectType, Type};

/// A versioned schema: the provider's configuration, a resource, or a data
/// source.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Schema {
    /// State schema version; bumping it makes Terraform ask for an upgrade.
    pub version: i64,
    /// The top-level block.
    pub block: Block,
}

/// A block: attributes and nested blocks.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Block {
    /// Attributes, in declaration order.
    pub attributes: Vec<Attribute>,
    /// Nested blocks, in declaration order.
    pub blocks: Vec<NestedBlock>,
    /// Markdown description.
    pub description: String,
    /// Set when the whole block is deprecated: what to use instead.
    pub deprecation: Option<String>,
}

/// What an attribute holds: a value of a type, or attributes of its own.
#[derive(Clone, Debug, PartialEq)]
pub enum AttributeKind {
    /// A value of this type.
    Type(Type),
    /// Nested attributes (protocol 6), nested as given.
    Nested(NestedAttributes),
}

/// Nested attributes and how they repeat.
#[derive(Clone, Debug, PartialEq)]
pub struct NestedAttributes {
    /// The attributes of each element.
    pub attributes: Vec<Attribute>,
    /// Single object, or a list, set or map of objects.
    pub nesting: Nesting,
}

/// How nested attributes or blocks repeat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nesting {
    /// One object (or null).
    Single,
    /// One object that is never null: Terraform fills in absent blocks.
    /// Only for blocks.
    Group,
    /// An ordered list.
    List,
    /// A set.
    Set,
    /// A map keyed by label.
    Map,
}

/// One attribute.
#[derive(Clone, Debug, PartialEq)]
pub struct Attribute {
    /// Its name: lower case letters, digits and underscores.
    pub name: String,
    /// Its type or nested attributes.
    pub kind: AttributeKind,
    /// Markdown description.
    pub description: String,
    /// The configuration must set it.
    pub required: bool,
    /// The configuration may set it.
    pub optional: bool,
    /// The provider may set it.
    pub computed: bool,
    /// Terraform hides it in output.
    pub sensitive: bool,
    /// Never stored in plan or state (Terraform 1.11 and later).
    pub write_only: bool,
    /// Set when deprecated: what to use instead.
    pub deprecation: Option<String>,
}

/// A nested block type.
#[derive(Clone, Debug, PartialEq)]
pub struct NestedBlock {
    /// The block's type name as written in configuration.
    pub type_name: String,
    /// Its contents.
    pub block: Block,
    /// How it repeats.
    pub nesting: Nesting,
    /// Fewest blocks allowed.
    pub min_items: i64,
    /// Most blocks allowed (0: no limit).
    pub max_items: i64,
}

impl Attribute {
    /// The type of this attribute's value.
    pub fn value_type(&self) -> Type {
        match &self.kind {
            AttributeKind::Type(ty) => ty.clone(),
            AttributeKind::Nested(nested) => nested.value_type(),
        }
    }
}

impl NestedAttributes {
    /// The type of the whole nested value.
    pub fn value_type(&self) -> Type {
        // Optional nested attributes are ordinary attributes of the object
        // type: cty's optional-attribute marker only matters for type
        // constraints written by users, not for schema-implied types.
        let object = Type::Object(ObjectType {
            attributes: attributes_type(&self.attributes),
            optional: Default::default(),
        });
        wrap(object, self.nesting)
    }
}

impl Block {
    /// The object type a value of this block has.
    pub fn value_type(&self) -> Type {
        let mut attributes = attributes_type(&self.attributes);
        for nested in &self.blocks {
            attributes.insert(nested.type_name.clone(), nested.value_type());
        }
        Type::Object(ObjectType {
            attributes,
            optional: Default::default(),
        })
    }

    /// The attribute called `name`, if any.
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// The nested block type called `name`, if any.
    pub fn nested_block(&self, name: &str) -> Option<&NestedBlock> {
        self.blocks.iter().find(|b| b.type_name == name)
    }

    /// Paths of every sensitive or write-only attribute, for log redaction
    /// and tests.
    pub fn secret_attribute_names(&self) -> Vec<String> {
        let mut out = Vec::new();
        for a in &self.attributes {
            if a.sensitive || a.write_only {
                out.push(a.name.clone());
            }
        }
        for b in &self.blocks {
            out.extend(
                b.block
                    .secret_attribute_names()
                    .into_iter()
                    .map(|n| format!("{}.{n}", b.type_name)),
            );
        }
        out
    }
}

impl NestedBlock {
    /// The type of all blocks of this kind together.
    pub fn value_type(&self) -> Type {
        wrap(self.block.value_type(), self.nesting)
    }
}

fn attributes_type(attributes: &[Attribute]) -> BTreeMap<String, Type> {
    attributes
        .iter()
        .map(|a| (a.name.clone(), a.value_type()))
        .collect()
}

fn wrap(object: Type, nesting: Nesting) -> Type {
    match nesting {
        Nesting::Single | Nesting::Group => object,
        Nesting::List => Type::List(Box::new(object)),
        Nesting::Set => Type::Set(Box::new(object)),
        Nesting::Map => Type::Map(Box::new(object)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string_attr(name: &str) -> Attribute {
        Attribute {
            name: name.into(),
            kind: AttributeKind::Type(Type::String),
            description: String::new(),
            required: false,
            optional: true,
            computed: false,
            sensitive: false,
            write_only: false,
            deprecation: None,
        }
    }

    #[test]
    fn block_type_includes_nested_blocks_and_attributes() {
        let block = Block {
            attributes: vec![string_attr("name")],
            blocks: vec![NestedBlock {
                type_name: "timeouts".into(),
                block: Block {
                    attributes: vec![string_attr("create")],
                    ..Default::default()
                },
                nesting: Nesting::Single,
                min_items: 0,
                max_items: 0,
            }],
            ..Default::default()
        };
        let Type::Object(object) = block.value_type() else {
            panic!("a block is an object");
        };
        assert_eq!(object.attributes["name"], Type::String);
        assert!(matches!(object.attributes["timeouts"], Type::Object(_)));
    }

    #[test]
    fn nested_attributes_wrap_by_nesting() {
        let nested = NestedAttributes {
            attributes: vec![string_attr("key")],
            nesting: Nesting::List,
        };
        assert!(matches!(nested.value_type(), Type::List(_)));
    }
}
