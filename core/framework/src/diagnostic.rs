//! Turning a layer's typed errors into diagnostics, in one place per
//! provider: each error type says once how it reads to a user.

use tf_protocol::{AttributePath, Diagnostic};

/// An error that knows how a Terraform user should see it.
pub trait ToDiagnostic {
    /// The diagnostic for this error, optionally pointing at `attribute`.
    fn to_diagnostic(&self, attribute: Option<AttributePath>) -> Diagnostic;
}

/// Formats an error and its chain of sources, for a diagnostic's detail.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// `text` with its first letter upper-cased, so that an error message
/// (lower-case by Rust convention) can open a diagnostic's sentence.
pub fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
