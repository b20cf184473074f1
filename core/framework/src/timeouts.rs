//! The `timeouts` block: per-operation time limits a user may set, as
//! Terraform users know it from other providers.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tf_protocol::value::Attr;

use crate::schema::{Attribute, Block, NestedBlock};
use crate::validate;

/// An operation a timeout applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    /// Create.
    Create,
    /// Read (refresh).
    Read,
    /// Update.
    Update,
    /// Delete.
    Delete,
}

impl Operation {
    fn attribute(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Read => "read",
            Self::Update => "update",
            Self::Delete => "delete",
        }
    }
}

/// The `timeouts` block's value. Null operations are left out when it is
/// written, so it fits a block that offers only some of them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    /// Time limit for create.
    #[serde(default, skip_serializing_if = "Attr::is_null")]
    pub create: Attr<String>,
    /// Time limit for read.
    #[serde(default, skip_serializing_if = "Attr::is_null")]
    pub read: Attr<String>,
    /// Time limit for update.
    #[serde(default, skip_serializing_if = "Attr::is_null")]
    pub update: Attr<String>,
    /// Time limit for delete.
    #[serde(default, skip_serializing_if = "Attr::is_null")]
    pub delete: Attr<String>,
}

impl Timeouts {
    /// The `timeouts` block for a schema, offering these operations with
    /// their defaults (used in descriptions).
    pub fn block(operations: &[(Operation, Duration)]) -> NestedBlock {
        let mut block = Block::new(
            "Time limits for operations, as durations such as \"30s\", \"10m\" or \"2h\".",
        );
        for (op, default) in operations {
            block = block.attribute(
                Attribute::string(op.attribute())
                    .optional()
                    .validate(validate::duration())
                    .description(format!(
                        "Time limit for {}; default `{}`.",
                        op.attribute(),
                        humantime::format_duration(*default)
                    )),
            );
        }
        NestedBlock::single("timeouts", block)
    }

    /// The `timeouts` block for a resource offering all four operations
    /// with the same default.
    pub fn block_all(default: Duration) -> NestedBlock {
        Self::block(&[
            (Operation::Create, default),
            (Operation::Read, default),
            (Operation::Update, default),
            (Operation::Delete, default),
        ])
    }

    /// The limit for `operation`: the configured one, or `default`.
    pub fn get(timeouts: Option<&Timeouts>, operation: Operation, default: Duration) -> Duration {
        let configured = timeouts.and_then(|t| match operation {
            Operation::Create => t.create.known(),
            Operation::Read => t.read.known(),
            Operation::Update => t.update.known(),
            Operation::Delete => t.delete.known(),
        });
        configured
            .and_then(|s| humantime::parse_duration(s).ok())
            .unwrap_or(default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_value_wins_over_default() {
        let t = Timeouts {
            create: Attr::Known("90s".into()),
            ..Default::default()
        };
        let d = Duration::from_secs(600);
        assert_eq!(
            Timeouts::get(Some(&t), Operation::Create, d),
            Duration::from_secs(90)
        );
        assert_eq!(Timeouts::get(Some(&t), Operation::Delete, d), d);
        assert_eq!(Timeouts::get(None, Operation::Read, d), d);
    }
}
