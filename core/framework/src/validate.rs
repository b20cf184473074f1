//! Attribute validators: checks on one known configuration value that
//! produce diagnostics pointing at that value.
//!
//! Validators run during `ValidateResourceConfig` and friends, where the
//! configuration may still hold unknown values; the framework only calls a
//! validator for a known, non-null value.

use std::fmt;
use std::sync::OnceLock;

use regex::Regex;
use tf_protocol::{AttributePath, Diagnostics, Value};

use crate::schema::{AttributeKind, Block};

/// A check on one attribute's known, non-null value.
pub trait Validator: Send + Sync + fmt::Debug {
    /// One sentence for documentation: what a valid value is.
    fn description(&self) -> String;

    /// Adds diagnostics at `path` when `value` is not valid.
    fn validate(&self, value: &Value, path: &AttributePath, diagnostics: &mut Diagnostics);
}

/// The string must not be empty (or only white space).
pub fn non_empty() -> NonEmpty {
    NonEmpty
}

/// See [`non_empty`].
#[derive(Debug, Clone, Copy)]
pub struct NonEmpty;

impl Validator for NonEmpty {
    fn description(&self) -> String {
        "must not be empty".to_owned()
    }

    fn validate(&self, value: &Value, path: &AttributePath, diagnostics: &mut Diagnostics) {
        let empty = match value {
            Value::String(s) => s.trim().is_empty(),
            Value::List(items) | Value::Set(items) => items.is_empty(),
            Value::Map(items) => items.is_empty(),
            _ => false,
        };
        if empty {
            diagnostics.attribute_error(
                path.clone(),
                "Empty Value",
                format!("The value of {path} must not be empty."),
            );
        }
    }
}

/// The string must be one of `allowed`; `reasons` explains particular
/// rejected values (for example why "amd" is not allowed).
pub fn one_of(allowed: &[&str]) -> OneOf {
    OneOf {
        allowed: allowed.iter().map(|s| (*s).to_owned()).collect(),
        reasons: Vec::new(),
    }
}

/// See [`one_of`].
#[derive(Debug, Clone)]
pub struct OneOf {
    allowed: Vec<String>,
    reasons: Vec<(String, String)>,
}

impl OneOf {
    /// Explains why `value` is rejected, in a sentence shown to the user.
    #[must_use]
    pub fn rejecting(mut self, value: &str, reason: &str) -> Self {
        self.reasons.push((value.to_owned(), reason.to_owned()));
        self
    }
}

impl Validator for OneOf {
    fn description(&self) -> String {
        let quoted: Vec<String> = self.allowed.iter().map(|a| format!("{a:?}")).collect();
        format!("must be one of {}", quoted.join(", "))
    }

    fn validate(&self, value: &Value, path: &AttributePath, diagnostics: &mut Diagnostics) {
        let Value::String(s) = value else { return };
        if self.allowed.iter().any(|a| a == s) {
            return;
        }
        let mut detail = format!("{path} {}; got {s:?}.", self.description());
        if let Some((_, reason)) = self.reasons.iter().find(|(v, _)| v == s) {
            detail = format!("{detail} {reason}");
        }
        diagnostics.attribute_error(path.clone(), "Invalid Value", detail);
    }
}

/// The string must match `pattern`; `expectation` says in words what a
/// valid value looks like.
///
/// The pattern is compiled on the first value it checks, not here: schemas
/// are built when the provider starts, on every one of Terraform's launches,
/// and compiling every pattern then cost tens of milliseconds before the
/// handshake.
pub fn matches(pattern: &'static str, expectation: &str) -> Matches {
    Matches {
        pattern: OnceLock::new(),
        source: pattern,
        expectation: expectation.to_owned(),
    }
}

/// See [`matches`].
#[derive(Debug, Clone)]
pub struct Matches {
    /// The compiled pattern (`None`: it does not compile). The patterns are
    /// literals in provider code; a bad one is a bug caught by the unit
    /// tests of the resource that declares it.
    pattern: OnceLock<Option<Regex>>,
    source: &'static str,
    expectation: String,
}

impl Validator for Matches {
    fn description(&self) -> String {
        self.expectation.clone()
    }

    fn validate(&self, value: &Value, path: &AttributePath, diagnostics: &mut Diagnostics) {
        let Value::String(s) = value else { return };
        match self.pattern.get_or_init(|| Regex::new(self.source).ok()) {
            Some(re) if re.is_match(s) => {}
            Some(_) => diagnostics.attribute_error(
                path.clone(),
                "Invalid Value",
                format!("{path} {}; got {s:?}.", self.expectation),
            ),
            None => diagnostics.attribute_error(
                path.clone(),
                "Invalid Validator",
                format!(
                    "The pattern {:?} does not compile. This is always a bug in the provider.",
                    self.source
                ),
            ),
        }
    }
}

/// A number must lie in `min..=max`.
pub fn between(min: i64, max: i64) -> Between {
    Between { min, max }
}

/// See [`between`].
#[derive(Debug, Clone, Copy)]
pub struct Between {
    min: i64,
    max: i64,
}

impl Validator for Between {
    fn description(&self) -> String {
        format!("must be between {} and {}", self.min, self.max)
    }

    fn validate(&self, value: &Value, path: &AttributePath, diagnostics: &mut Diagnostics) {
        let Value::Number(n) = value else { return };
        let ok = n
            .as_i64()
            .is_some_and(|n| (self.min..=self.max).contains(&n));
        if !ok {
            diagnostics.attribute_error(
                path.clone(),
                "Invalid Value",
                format!("{path} {}; got {n}.", self.description()),
            );
        }
    }
}

/// A string must be a duration such as "30s", "10m" or "1h30m".
pub fn duration() -> Duration {
    Duration
}

/// See [`duration`].
#[derive(Debug, Clone, Copy)]
pub struct Duration;

impl Validator for Duration {
    fn description(&self) -> String {
        "must be a duration such as \"30s\", \"10m\" or \"1h30m\"".to_owned()
    }

    fn validate(&self, value: &Value, path: &AttributePath, diagnostics: &mut Diagnostics) {
        let Value::String(s) = value else { return };
        if humantime::parse_duration(s).is_err() {
            diagnostics.attribute_error(
                path.clone(),
                "Invalid Duration",
                format!("{path} {}; got {s:?}.", self.description()),
            );
        }
    }
}

/// Runs every attribute's validators on the known, non-null values of
/// `config`, and checks that a write-only attribute is set only when the
/// client can handle it.
pub fn validate_config(
    block: &Block,
    config: &Value,
    write_only_allowed: bool,
    diagnostics: &mut Diagnostics,
) {
    let mut scratch = config.clone();
    crate::plan::walk(
        block,
        &AttributePath::root(),
        config,
        &Value::Null,
        &mut scratch,
        &mut |attribute, path, value, _prior, _planned| {
            if value.is_null() || value.is_unknown() {
                return;
            }
            if attribute.write_only && !write_only_allowed {
                diagnostics.attribute_error(
                    path.clone(),
                    "Write-Only Attribute Not Supported",
                    format!(
                        "{path} is write-only: Terraform keeps it out of plan and state. \
                         This Terraform does not support write-only attributes (Terraform 1.11 \
                         or later does); use the attribute's stored alternative instead."
                    ),
                );
            }
            if !value.is_wholly_known() && !matches!(attribute.kind, AttributeKind::Type(_)) {
                return;
            }
            for validator in &attribute.validators {
                validator.validate(value, path, diagnostics);
            }
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(v: &dyn Validator, value: Value) -> Diagnostics {
        let mut d = Diagnostics::new();
        v.validate(&value, &AttributePath::attr("a"), &mut d);
        d
    }

    #[test]
    fn one_of_explains_rejected_values() {
        let v = one_of(&["", "nvidia"]).rejecting("amd", "AMD GPUs are not supported.");
        assert!(!run(&v, Value::String("nvidia".into())).has_error());
        let d = run(&v, Value::String("amd".into()));
        let diag = d.iter().next().expect("one diagnostic");
        assert!(diag.detail.contains("AMD GPUs are not supported."));
        assert_eq!(diag.attribute, Some(AttributePath::attr("a")));
    }

    #[test]
    fn non_empty_rejects_blank_strings() {
        assert!(run(&non_empty(), Value::String("  ".into())).has_error());
        assert!(!run(&non_empty(), Value::String("x".into())).has_error());
    }

    #[test]
    fn duration_accepts_go_style_durations() {
        assert!(!run(&duration(), Value::String("1h30m".into())).has_error());
        assert!(run(&duration(), Value::String("soon".into())).has_error());
    }

    #[test]
    fn matches_uses_the_expectation_sentence() {
        let v = matches("^[a-z]+$", "must be lower-case letters");
        let d = run(&v, Value::String("A".into()));
        assert!(d.iter().any(|d| d.detail.contains("lower-case letters")));
    }

    #[test]
    fn a_pattern_is_compiled_when_it_first_checks_a_value() {
        let v = matches("(unclosed", "must be anything");
        assert!(v.pattern.get().is_none(), "compiled before use");
        let d = run(&v, Value::String("x".into()));
        assert!(d.iter().any(|d| d.summary == "Invalid Validator"));
    }
}
