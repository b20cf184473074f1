//! Provider functions (Terraform 1.8 and later), called as
//! `provider::<name>::<function>(...)`.

use tf_protocol::Value;
use tf_protocol::value::Type;

/// One parameter of a function.
#[derive(Clone, Debug)]
pub struct Parameter {
    /// Name, for documentation and error messages.
    pub name: String,
    /// Type.
    pub ty: Type,
    /// Whether null may be passed.
    pub allow_null: bool,
    /// Markdown description.
    pub description: String,
}

impl Parameter {
    /// A parameter that takes no null.
    pub fn new(name: &str, ty: Type, description: &str) -> Self {
        Self {
            name: name.to_owned(),
            ty,
            allow_null: false,
            description: description.to_owned(),
        }
    }
}

/// What a function takes and returns.
#[derive(Clone, Debug)]
pub struct Signature {
    /// Positional parameters.
    pub parameters: Vec<Parameter>,
    /// Trailing variadic parameter, if any.
    pub variadic: Option<Parameter>,
    /// Return type.
    pub returns: Type,
    /// One line.
    pub summary: String,
    /// Markdown description.
    pub description: String,
    /// Deprecation message, if deprecated.
    pub deprecation: Option<String>,
}

/// A function's failure, shown to the user.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FunctionError {
    /// What is wrong, in a sentence.
    pub message: String,
    /// The 0-based argument at fault, if one is.
    pub argument: Option<i64>,
}

impl FunctionError {
    /// An error blaming argument `index`.
    pub fn argument(index: i64, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            argument: Some(index),
        }
    }
}

/// A provider function.
pub trait Function: Send + Sync + 'static {
    /// Its name (without the `provider::<name>::` prefix).
    fn name(&self) -> &'static str;

    /// Parameters, return type and documentation.
    fn signature(&self) -> Signature;

    /// Computes the result from known arguments (conformed to the
    /// parameter types).
    fn call(&self, arguments: Vec<Value>) -> Result<Value, FunctionError>;
}
