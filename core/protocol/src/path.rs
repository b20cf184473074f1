//! Attribute paths: how a diagnostic or a replacement reason points at one
//! value inside a resource's configuration.

use std::fmt;

/// One step of an [`AttributePath`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PathStep {
    /// An object attribute or a nested block, by name.
    Attribute(String),
    /// A map element (or a map-nested block), by key.
    ElementKeyString(String),
    /// A list or tuple element, by index.
    ElementKeyInt(i64),
}

/// A path from the root of a schema to one value, e.g. `caching.enabled` or
/// `taints[0].key`.
///
/// Set elements have no key, so a path into a set stops at the set itself.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AttributePath {
    steps: Vec<PathStep>,
}

impl AttributePath {
    /// The empty path: the whole object.
    pub fn root() -> Self {
        Self::default()
    }

    /// A path to a top-level attribute.
    pub fn attr(name: impl Into<String>) -> Self {
        Self::root().attribute(name)
    }

    /// This path followed by an attribute name.
    #[must_use]
    pub fn attribute(mut self, name: impl Into<String>) -> Self {
        self.steps.push(PathStep::Attribute(name.into()));
        self
    }

    /// This path followed by a map key.
    #[must_use]
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.steps.push(PathStep::ElementKeyString(key.into()));
        self
    }

    /// This path followed by a list index.
    #[must_use]
    pub fn index(mut self, index: i64) -> Self {
        self.steps.push(PathStep::ElementKeyInt(index));
        self
    }

    /// The steps, from the root.
    pub fn steps(&self) -> &[PathStep] {
        &self.steps
    }

    /// Whether this is the root path.
    pub fn is_root(&self) -> bool {
        self.steps.is_empty()
    }

    /// Builds a path from its steps.
    pub fn from_steps(steps: Vec<PathStep>) -> Self {
        Self { steps }
    }
}

impl fmt::Display for AttributePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, step) in self.steps.iter().enumerate() {
            match step {
                PathStep::Attribute(name) if i == 0 => write!(f, "{name}")?,
                PathStep::Attribute(name) => write!(f, ".{name}")?,
                PathStep::ElementKeyString(key) => write!(f, "[{key:?}]")?,
                PathStep::ElementKeyInt(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_like_terraform_expressions() {
        let path = AttributePath::attr("taints").index(0).attribute("key");
        assert_eq!(path.to_string(), "taints[0].key");
        let path = AttributePath::attr("labels").key("role");
        assert_eq!(path.to_string(), "labels[\"role\"]");
    }
}
