//! Declaring schemas once: attributes and blocks with their flags,
//! descriptions, validators, plan modifiers and defaults.
//!
//! A resource builds a [`Schema`] with these builders. The framework sends
//! the pure description to Terraform ([`Schema::to_protocol`]) and uses the
//! behaviour attached here when it validates and plans.

use std::sync::Arc;

use tf_protocol::Value;
use tf_protocol::schema as wire;
use tf_protocol::value::Type;

use crate::plan::PlanModifier;
use crate::validate::Validator;

pub use tf_protocol::schema::Nesting;

/// A schema with behaviour: what a resource, data source or provider
/// configuration looks like, and how its values are checked and planned.
#[derive(Clone, Debug, Default)]
pub struct Schema {
    /// State schema version (bump it, and implement an upgrade, when the
    /// stored shape changes).
    pub version: i64,
    /// The top-level block.
    pub block: Block,
}

/// A block of attributes and nested blocks.
#[derive(Clone, Debug, Default)]
pub struct Block {
    /// Attributes, in declaration order.
    pub attributes: Vec<Attribute>,
    /// Nested block types, in declaration order.
    pub blocks: Vec<NestedBlock>,
    /// Markdown description.
    pub description: String,
    /// Deprecation message, if deprecated.
    pub deprecation: Option<String>,
}

/// What an attribute holds.
#[derive(Clone, Debug)]
pub enum AttributeKind {
    /// A value of a type.
    Type(Type),
    /// Nested attributes.
    Nested {
        /// The attributes of each element.
        attributes: Vec<Attribute>,
        /// How elements repeat.
        nesting: Nesting,
    },
}

/// One attribute, with its behaviour.
#[derive(Clone, Debug)]
pub struct Attribute {
    /// Name.
    pub name: String,
    /// Type or nested attributes.
    pub kind: AttributeKind,
    /// Markdown description.
    pub description: String,
    /// Must be set in configuration.
    pub required: bool,
    /// May be set in configuration.
    pub optional: bool,
    /// Set by the provider.
    pub computed: bool,
    /// Hidden in Terraform's output and never logged.
    pub sensitive: bool,
    /// Not stored in plan or state (Terraform 1.11 and later).
    pub write_only: bool,
    /// Deprecation message, if deprecated.
    pub deprecation: Option<String>,
    /// Checks run on known configuration values.
    pub validators: Vec<Arc<dyn Validator>>,
    /// Plan modifiers, run in order.
    pub plan_modifiers: Vec<PlanModifier>,
    /// The value planned when configuration leaves it null (the attribute
    /// must be optional and computed).
    pub default: Option<Value>,
}

/// A nested block type.
#[derive(Clone, Debug)]
pub struct NestedBlock {
    /// The block's name in configuration.
    pub type_name: String,
    /// Its contents.
    pub block: Block,
    /// How it repeats.
    pub nesting: Nesting,
    /// Fewest blocks.
    pub min_items: i64,
    /// Most blocks (0: no limit).
    pub max_items: i64,
}

impl Schema {
    /// A version-0 schema with this top-level block.
    pub fn new(block: Block) -> Self {
        Self { version: 0, block }
    }

    /// The same schema at state version `version`.
    #[must_use]
    pub fn version(mut self, version: i64) -> Self {
        self.version = version;
        self
    }

    /// The pure description Terraform receives.
    pub fn to_protocol(&self) -> wire::Schema {
        wire::Schema {
            version: self.version,
            block: self.block.to_protocol(),
        }
    }

    /// The object type of a value of this schema.
    pub fn value_type(&self) -> Type {
        self.block.to_protocol().value_type()
    }
}

impl Block {
    /// An empty block with a description.
    pub fn new(description: impl Into<String>) -> Self {
        Self {
            description: description.into(),
            ..Default::default()
        }
    }

    /// Adds an attribute.
    #[must_use]
    pub fn attribute(mut self, attribute: Attribute) -> Self {
        self.attributes.push(attribute);
        self
    }

    /// Adds a nested block type.
    #[must_use]
    pub fn block(mut self, block: NestedBlock) -> Self {
        self.blocks.push(block);
        self
    }

    /// Marks the whole block deprecated.
    #[must_use]
    pub fn deprecated(mut self, message: impl Into<String>) -> Self {
        self.deprecation = Some(message.into());
        self
    }

    /// The attribute called `name`.
    pub fn get_attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// The pure description Terraform receives.
    pub fn to_protocol(&self) -> wire::Block {
        wire::Block {
            attributes: self.attributes.iter().map(Attribute::to_protocol).collect(),
            blocks: self.blocks.iter().map(NestedBlock::to_protocol).collect(),
            description: self.description.clone(),
            deprecation: self.deprecation.clone(),
        }
    }
}

impl Attribute {
    fn with_kind(name: &str, kind: AttributeKind) -> Self {
        Self {
            name: name.to_owned(),
            kind,
            description: String::new(),
            required: false,
            optional: false,
            computed: false,
            sensitive: false,
            write_only: false,
            deprecation: None,
            validators: Vec::new(),
            plan_modifiers: Vec::new(),
            default: None,
        }
    }

    /// An attribute of any type.
    pub fn of_type(name: &str, ty: Type) -> Self {
        Self::with_kind(name, AttributeKind::Type(ty))
    }

    /// A string attribute.
    pub fn string(name: &str) -> Self {
        Self::of_type(name, Type::String)
    }

    /// A number attribute.
    pub fn number(name: &str) -> Self {
        Self::of_type(name, Type::Number)
    }

    /// A bool attribute.
    pub fn bool(name: &str) -> Self {
        Self::of_type(name, Type::Bool)
    }

    /// A list attribute.
    pub fn list(name: &str, element: Type) -> Self {
        Self::of_type(name, Type::List(Box::new(element)))
    }

    /// A set attribute.
    pub fn set(name: &str, element: Type) -> Self {
        Self::of_type(name, Type::Set(Box::new(element)))
    }

    /// A map attribute.
    pub fn map(name: &str, element: Type) -> Self {
        Self::of_type(name, Type::Map(Box::new(element)))
    }

    /// Nested attributes.
    pub fn nested(name: &str, nesting: Nesting, attributes: Vec<Attribute>) -> Self {
        Self::with_kind(
            name,
            AttributeKind::Nested {
                attributes,
                nesting,
            },
        )
    }

    /// Must be set.
    #[must_use]
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    /// May be set.
    #[must_use]
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }

    /// Set by the provider.
    #[must_use]
    pub fn computed(mut self) -> Self {
        self.computed = true;
        self
    }

    /// Sensitive: hidden in output, never logged.
    #[must_use]
    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }

    /// Write-only: kept out of plan and state.
    #[must_use]
    pub fn write_only(mut self) -> Self {
        self.write_only = true;
        self
    }

    /// Markdown description.
    #[must_use]
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = text.into();
        self
    }

    /// Deprecated, with what to use instead.
    #[must_use]
    pub fn deprecated(mut self, message: impl Into<String>) -> Self {
        self.deprecation = Some(message.into());
        self
    }

    /// Adds a validator.
    #[must_use]
    pub fn validate(mut self, validator: impl Validator + 'static) -> Self {
        self.validators.push(Arc::new(validator));
        self
    }

    /// Adds a plan modifier.
    #[must_use]
    pub fn plan_modifier(mut self, modifier: PlanModifier) -> Self {
        self.plan_modifiers.push(modifier);
        self
    }

    /// Changing this value replaces the resource; `reason` says why in logs
    /// and in the plan's warning.
    #[must_use]
    pub fn requires_replace(self, reason: &str) -> Self {
        self.plan_modifier(PlanModifier::RequiresReplace {
            reason: reason.to_owned(),
        })
    }

    /// Keeps the prior state's value instead of "(known after apply)" when
    /// the provider never changes it after create.
    #[must_use]
    pub fn use_state_for_unknown(self) -> Self {
        self.plan_modifier(PlanModifier::UseStateForUnknown)
    }

    /// The value planned when configuration leaves it null. Makes the
    /// attribute optional and computed.
    #[must_use]
    pub fn default(mut self, value: impl Into<Value>) -> Self {
        self.default = Some(value.into());
        self.optional = true;
        self.computed = true;
        self
    }

    /// Whether the attribute is a secret (sensitive or write-only).
    pub fn is_secret(&self) -> bool {
        self.sensitive || self.write_only
    }

    /// The pure description Terraform receives.
    pub fn to_protocol(&self) -> wire::Attribute {
        let kind = match &self.kind {
            AttributeKind::Type(ty) => wire::AttributeKind::Type(ty.clone()),
            AttributeKind::Nested {
                attributes,
                nesting,
            } => wire::AttributeKind::Nested(wire::NestedAttributes {
                attributes: attributes.iter().map(Attribute::to_protocol).collect(),
                nesting: *nesting,
            }),
        };
        wire::Attribute {
            name: self.name.clone(),
            kind,
            description: self.description.clone(),
            required: self.required,
            optional: self.optional,
            computed: self.computed,
            sensitive: self.sensitive,
            write_only: self.write_only,
            deprecation: self.deprecation.clone(),
        }
    }

    /// The type of this attribute's value.
    pub fn value_type(&self) -> Type {
        self.to_protocol().value_type()
    }
}

impl NestedBlock {
    /// At most one block.
    pub fn single(type_name: &str, block: Block) -> Self {
        Self {
            type_name: type_name.to_owned(),
            block,
            nesting: Nesting::Single,
            min_items: 0,
            max_items: 0,
        }
    }

    /// An ordered list of blocks.
    pub fn list(type_name: &str, block: Block) -> Self {
        Self {
            nesting: Nesting::List,
            ..Self::single(type_name, block)
        }
    }

    /// A set of blocks.
    pub fn set(type_name: &str, block: Block) -> Self {
        Self {
            nesting: Nesting::Set,
            ..Self::single(type_name, block)
        }
    }

    /// Sets the fewest and most blocks allowed (0: no limit).
    #[must_use]
    pub fn items(mut self, min: i64, max: i64) -> Self {
        self.min_items = min;
        self.max_items = max;
        self
    }

    /// The pure description Terraform receives.
    pub fn to_protocol(&self) -> wire::NestedBlock {
        wire::NestedBlock {
            type_name: self.type_name.clone(),
            block: self.block.to_protocol(),
            nesting: self.nesting,
            min_items: self.min_items,
            max_items: self.max_items,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_makes_attribute_optional_and_computed() {
        let a = Attribute::string("namespace").default("kube-system");
        assert!(a.optional && a.computed && !a.required);
        assert_eq!(a.default, Some(Value::String("kube-system".into())));
    }

    #[test]
    fn protocol_schema_keeps_flags() {
        let schema = Schema::new(
            Block::new("x")
                .attribute(Attribute::string("password").optional().sensitive())
                .attribute(Attribute::string("password_wo").optional().write_only()),
        )
        .version(2);
        let wire = schema.to_protocol();
        assert_eq!(wire.version, 2);
        assert!(wire.block.attributes[0].sensitive);
        assert!(wire.block.attributes[1].write_only);
    }
}
