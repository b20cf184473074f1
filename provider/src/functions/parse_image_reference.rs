//! `provider::cvm::parse_image_reference(reference)`: splits a container
//! image reference into registry, repository, tag and digest — handy for
//! deriving a `cvm_registry`'s host from a workspace image.

use std::collections::BTreeMap;

use tf_framework::function::{Function, FunctionError, Parameter, Signature};
use tf_protocol::Value;
use tf_protocol::value::Type;

use crate::image_reference::ImageReference;

/// The `parse_image_reference` function.
#[derive(Debug, Default)]
pub struct ParseImageReference;

fn result_type() -> Type {
    Type::object([
        ("registry", Type::String),
        ("repository", Type::String),
        ("tag", Type::String),
        ("digest", Type::String),
    ])
}

impl Function for ParseImageReference {
    fn name(&self) -> &'static str {
        "parse_image_reference"
    }

    fn signature(&self) -> Signature {
        Signature {
            parameters: vec![Parameter::new(
                "reference",
                Type::String,
                "An image reference such as `ubuntu:22.04` or `registry.example.com:5000/team/img@sha256:…`.",
            )],
            variadic: None,
            returns: result_type(),
            summary: "Splits a container image reference into its parts.".to_owned(),
            description: "Returns an object with `registry` (`docker.io` when the reference names \
                          none), `repository` (with `library/` for Docker Hub's official images), \
                          `tag` and `digest` (null when absent). Fails on a malformed reference."
                .to_owned(),
            deprecation: None,
        }
    }

    fn call(&self, arguments: Vec<Value>) -> Result<Value, FunctionError> {
        let Some(Value::String(text)) = arguments.into_iter().next() else {
            return Err(FunctionError::argument(0, "reference must be a string"));
        };
        let parsed = ImageReference::parse(&text)
            .map_err(|e| FunctionError::argument(0, format!("{text:?}: {e}")))?;
        let opt = |s: Option<String>| s.map_or(Value::Null, Value::String);
        Ok(Value::Object(BTreeMap::from([
            ("registry".to_owned(), Value::String(parsed.registry)),
            ("repository".to_owned(), Value::String(parsed.repository)),
            ("tag".to_owned(), opt(parsed.tag)),
            ("digest".to_owned(), opt(parsed.digest)),
        ])))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_blames_the_argument() {
        let v = ParseImageReference
            .call(vec![Value::String("ubuntu:22.04".into())])
            .expect("valid reference");
        assert_eq!(v.get_attr("tag"), Some(&Value::String("22.04".into())));
        assert_eq!(v.get_attr("digest"), Some(&Value::Null));
        let e = ParseImageReference
            .call(vec![Value::String("Bad Image".into())])
            .expect_err("invalid reference");
        assert_eq!(e.argument, Some(0));
    }
}
