//! The grammar of Kubernetes label keys and values, which taint keys and
//! values share, as the API server checks them, and the validator that
//! refuses a bad label map at validate time.

use std::fmt;

use tf_framework::validate::Validator;
use tf_protocol::{AttributePath, Diagnostics, Value};

use super::names::{DNS1123_LABEL_MAX, NameError, check_dns1123_subdomain, check_shape};

fn name_part_character(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

/// A label (or taint) key, a qualified name: an optional DNS-1123
/// subdomain prefix and '/', then 1 to 63 letters, digits, '-', '_' and
/// '.', starting and ending with a letter or digit.
pub fn check_label_key(text: &str) -> Result<(), NameError> {
    let (prefix, name) = match text.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, text),
    };
    if name.contains('/') {
        return Err(NameError::Slashes);
    }
    if let Some(prefix) = prefix {
        check_dns1123_subdomain(prefix).map_err(|reason| NameError::Prefix {
            prefix: prefix.to_owned(),
            reason: Box::new(reason),
        })?;
    }
    check_shape(name, DNS1123_LABEL_MAX, name_part_character)
}

/// A label value: empty, or 1 to 63 letters, digits, '-', '_' and '.',
/// starting and ending with a letter or digit.
pub fn check_label_value(text: &str) -> Result<(), NameError> {
    if text.is_empty() {
        return Ok(());
    }
    check_shape(text, DNS1123_LABEL_MAX, name_part_character)
}

/// Validates a map of Kubernetes labels (a node selector): every key a
/// qualified name, every known value a label value.
pub fn labels() -> Labels {
    Labels
}

/// See [`labels`].
#[derive(Clone, Copy, Debug)]
pub struct Labels;

impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            "label keys are an optional DNS-1123 subdomain prefix and '/', then 1 to 63 letters, \
             digits, '-', '_' and '.', starting and ending with a letter or digit; label values \
             are empty or 1 to 63 of the same characters, starting and ending with a letter or \
             digit",
        )
    }
}

impl Validator for Labels {
    fn description(&self) -> String {
        format!("must be Kubernetes labels: {self}")
    }

    fn validate(&self, value: &Value, path: &AttributePath, diagnostics: &mut Diagnostics) {
        let Value::Map(entries) = value else { return };
        for (key, value) in entries {
            let at = path.clone().key(key.clone());
            if let Err(reason) = check_label_key(key) {
                diagnostics.attribute_error(
                    at.clone(),
                    "Invalid Label Key",
                    format!("{key:?} is not a Kubernetes label key ({reason}); {self}."),
                );
            }
            if let Value::String(text) = value
                && let Err(reason) = check_label_value(text)
            {
                diagnostics.attribute_error(
                    at,
                    "Invalid Label Value",
                    format!(
                        "{text:?} (under {key:?}) is not a Kubernetes label value ({reason}); {self}."
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use tf_protocol::value::Refinements;

    use super::*;
    use crate::kube::names::tests::run;

    #[test]
    fn label_keys_and_values() {
        for good in ["sysbox-install", "example.com/role", "A_b.c-D", "k8s.io/x"] {
            assert_eq!(check_label_key(good), Ok(()), "{good}");
        }
        assert_eq!(check_label_key("bad key"), Err(NameError::Character(' ')));
        assert_eq!(check_label_key("a/b/c"), Err(NameError::Slashes));
        assert_eq!(
            check_label_key("/x"),
            Err(NameError::Prefix {
                prefix: String::new(),
                reason: Box::new(NameError::Empty),
            })
        );
        assert_eq!(
            check_label_key("Example.com/x"),
            Err(NameError::Prefix {
                prefix: "Example.com".into(),
                reason: Box::new(NameError::Character('E')),
            })
        );
        assert_eq!(check_label_key("example.com/"), Err(NameError::Empty));
        assert_eq!(check_label_value(""), Ok(()));
        assert_eq!(check_label_value("Yes_1.0"), Ok(()));
        assert_eq!(check_label_value("-yes"), Err(NameError::Ends));
        assert_eq!(check_label_value("a/b"), Err(NameError::Character('/')));
        assert!(check_label_value(&"v".repeat(64)).is_err());
    }

    #[test]
    fn labels_validator_checks_keys_and_known_values() {
        let map = Value::Map(BTreeMap::from([
            ("good".to_owned(), Value::String("yes".into())),
            ("bad key".to_owned(), Value::String("yes".into())),
            ("later".to_owned(), Value::Unknown(Refinements::default())),
            ("value".to_owned(), Value::String("no way".into())),
        ]));
        let found = run(&labels(), map);
        let paths: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, vec!["a[\"bad key\"]", "a[\"value\"]"]);
        assert!(found[0].1.contains("label keys are"), "{}", found[0].1);
    }
}
