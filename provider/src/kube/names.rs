//! Kubernetes name grammars, as the API server checks them: DNS-1123
//! labels (namespaces) and DNS-1123 subdomains (nodes, most other objects),
//! with their length limits, plus the validator that refuses a bad name at
//! validate time instead of after a call to the cluster. Label keys and
//! values are in [`labels`](super::labels).

use tf_framework::validate::Validator;
use tf_protocol::{AttributePath, Diagnostics, Value};

/// The longest DNS-1123 label (and the longest name part of a label key,
/// and the longest label value).
pub const DNS1123_LABEL_MAX: usize = 63;

/// The longest DNS-1123 subdomain (and the longest label key prefix).
pub const DNS1123_SUBDOMAIN_MAX: usize = 253;

/// Why a string is not a name of the grammar asked for.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Nothing was given.
    #[error("it is empty")]
    Empty,
    /// Longer than the grammar allows.
    #[error("it is {length} characters long, more than {max}")]
    TooLong {
        /// The string's length in bytes.
        length: usize,
        /// The limit.
        max: usize,
    },
    /// A character the grammar does not allow.
    #[error("{0:?} is not allowed")]
    Character(char),
    /// Starts or ends with something other than a letter or digit.
    #[error("it must start and end with a letter or digit")]
    Ends,
    /// A label key with more than one '/'.
    #[error("it has more than one '/'")]
    Slashes,
    /// The prefix of a label key is not a DNS-1123 subdomain.
    #[error("its prefix {prefix:?} is not a DNS-1123 subdomain: {reason}")]
    Prefix {
        /// The part before the '/'.
        prefix: String,
        /// Why not.
        reason: Box<NameError>,
    },
}

/// Checks the shared shape of the grammars: at most `max` bytes, every
/// character allowed by `allowed`, and alphanumeric at both ends.
pub(crate) fn check_shape(
    text: &str,
    max: usize,
    allowed: fn(char) -> bool,
) -> Result<(), NameError> {
    if text.is_empty() {
        return Err(NameError::Empty);
    }
    if text.len() > max {
        return Err(NameError::TooLong {
            length: text.len(),
            max,
        });
    }
    if let Some(c) = text.chars().find(|c| !allowed(*c)) {
        return Err(NameError::Character(c));
    }
    let alphanumeric = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    if !alphanumeric(text.chars().next()) || !alphanumeric(text.chars().last()) {
        return Err(NameError::Ends);
    }
    Ok(())
}

fn lower_alphanumeric_or_dash(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
}

/// A DNS-1123 label (RFC 1123): 1 to 63 lower-case letters, digits and
/// '-', starting and ending with a letter or digit. Namespaces are these.
pub fn check_dns1123_label(text: &str) -> Result<(), NameError> {
    check_shape(text, DNS1123_LABEL_MAX, lower_alphanumeric_or_dash)
}

/// A DNS-1123 subdomain: at most 253 characters of DNS-1123 labels joined
/// by '.'. Nodes and most other objects are named so.
pub fn check_dns1123_subdomain(text: &str) -> Result<(), NameError> {
    if text.len() > DNS1123_SUBDOMAIN_MAX {
        return Err(NameError::TooLong {
            length: text.len(),
            max: DNS1123_SUBDOMAIN_MAX,
        });
    }
    if text.is_empty() {
        return Err(NameError::Empty);
    }
    text.split('.').try_for_each(|label| {
        check_shape(label, DNS1123_LABEL_MAX, lower_alphanumeric_or_dash).map_err(|e| match e {
            // An empty label is two dots in a row, or a dot at an end.
            NameError::Empty => NameError::Ends,
            e => e,
        })
    })
}

/// Which name grammar a [`KubeName`] validator checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grammar {
    /// [`check_dns1123_label`].
    Dns1123Label,
    /// [`check_dns1123_subdomain`].
    Dns1123Subdomain,
}

impl Grammar {
    fn check(self, text: &str) -> Result<(), NameError> {
        match self {
            Self::Dns1123Label => check_dns1123_label(text),
            Self::Dns1123Subdomain => check_dns1123_subdomain(text),
        }
    }

    fn rule(self) -> &'static str {
        match self {
            Self::Dns1123Label => {
                "a DNS-1123 label: 1 to 63 lower-case letters, digits and '-', starting and \
                 ending with a letter or digit"
            }
            Self::Dns1123Subdomain => {
                "a DNS-1123 subdomain: at most 253 characters of lower-case letters, digits, '-' \
                 and '.', each dot-separated part starting and ending with a letter or digit"
            }
        }
    }
}

/// Validates a Kubernetes object name, or each known name of a list or
/// set of them, by `grammar`; `object` says what is named ("namespace",
/// "node") in the diagnostic.
pub fn kube_name(object: &'static str, grammar: Grammar) -> KubeName {
    KubeName { object, grammar }
}

/// See [`kube_name`].
#[derive(Clone, Copy, Debug)]
pub struct KubeName {
    object: &'static str,
    grammar: Grammar,
}

impl KubeName {
    fn check_one(&self, text: &str, path: &AttributePath, diagnostics: &mut Diagnostics) {
        if let Err(reason) = self.grammar.check(text) {
            diagnostics.attribute_error(
                path.clone(),
                "Invalid Kubernetes Name",
                format!(
                    "{path}: {text:?} is not a {} name ({reason}); a {} name is {}.",
                    self.object,
                    self.object,
                    self.grammar.rule()
                ),
            );
        }
    }
}

impl Validator for KubeName {
    fn description(&self) -> String {
        format!("must be {}", self.grammar.rule())
    }

    fn validate(&self, value: &Value, path: &AttributePath, diagnostics: &mut Diagnostics) {
        match value {
            Value::String(text) => self.check_one(text, path, diagnostics),
            Value::List(items) => {
                for (i, item) in items.iter().enumerate() {
                    if let Value::String(text) = item {
                        let index = i64::try_from(i).unwrap_or(i64::MAX);
                        self.check_one(text, &path.clone().index(index), diagnostics);
                    }
                }
            }
            // Set elements have no path of their own: the set is blamed.
            Value::Set(items) => {
                for item in items {
                    if let Value::String(text) = item {
                        self.check_one(text, path, diagnostics);
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use tf_protocol::value::Refinements;

    #[test]
    fn dns1123_labels() {
        for good in ["kube-system", "a", "0", "sysbox-1", &"a".repeat(63)] {
            assert_eq!(check_dns1123_label(good), Ok(()), "{good}");
        }
        for (bad, want) in [
            ("", NameError::Empty),
            ("Kube", NameError::Character('K')),
            ("kube_system", NameError::Character('_')),
            ("a.b", NameError::Character('.')),
            ("-a", NameError::Ends),
            ("a-", NameError::Ends),
            (
                &"a".repeat(64),
                NameError::TooLong {
                    length: 64,
                    max: 63,
                },
            ),
        ] {
            assert_eq!(check_dns1123_label(bad), Err(want), "{bad}");
        }
    }

    #[test]
    fn dns1123_subdomains() {
        for good in ["ip-10-0-1-5.ec2.internal", "node-1", "a.b.c"] {
            assert_eq!(check_dns1123_subdomain(good), Ok(()), "{good}");
        }
        let long = vec!["a".repeat(63); 4].join(".");
        assert_eq!(long.len(), 255);
        for (bad, want) in [
            ("", NameError::Empty),
            ("a..b", NameError::Ends),
            (".a", NameError::Ends),
            ("a.", NameError::Ends),
            ("Node", NameError::Character('N')),
            ("a.-b", NameError::Ends),
            (
                long.as_str(),
                NameError::TooLong {
                    length: 255,
                    max: 253,
                },
            ),
        ] {
            assert_eq!(check_dns1123_subdomain(bad), Err(want), "{bad}");
        }
    }

    /// The (attribute path, detail) of each diagnostic `validator` gives `value` at `a`.
    pub(crate) fn run(validator: &dyn Validator, value: Value) -> Vec<(String, String)> {
        let mut diagnostics = Diagnostics::new();
        validator.validate(&value, &AttributePath::attr("a"), &mut diagnostics);
        diagnostics
            .iter()
            .map(|d| {
                let path = d.attribute.as_ref().map(ToString::to_string);
                (path.unwrap_or_default(), d.detail.clone())
            })
            .collect()
    }

    #[test]
    fn name_validator_blames_the_element_and_says_what_is_allowed() {
        let v = kube_name("namespace", Grammar::Dns1123Label);
        assert!(run(&v, Value::String("kube-system".into())).is_empty());
        let found = run(&v, Value::String("Bad_NS".into()));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, "a");
        assert!(found[0].1.contains("DNS-1123 label"), "{}", found[0].1);
        let v = kube_name("node", Grammar::Dns1123Subdomain);
        let list = Value::List(vec![
            Value::String("ok".into()),
            Value::Unknown(Refinements::default()),
            Value::String("Not OK".into()),
        ]);
        let found = run(&v, list);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, "a[2]");
    }
}
