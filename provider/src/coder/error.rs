//! Every way a Coder call fails, and how each reads to a Terraform user.

use reqwest::{Method, StatusCode};
use tf_framework::ToDiagnostic;
use tf_framework::diagnostic::{capitalised, error_chain};
use tf_protocol::{AttributePath, Diagnostic};

/// An error from the Coder client. URLs in it never carry credentials
/// (the token travels in a header, and user info is removed).
#[derive(Debug, thiserror::Error)]
pub enum CoderError {
    /// Neither the provider block nor the environment names the deployment.
    #[error(
        "no Coder URL: set coder.url in the provider block or the CODER_URL environment variable"
    )]
    MissingUrl,
    /// Neither the provider block nor the environment holds a session token.
    #[error(
        "no Coder session token: set coder.session_token in the provider block or the \
         CODER_SESSION_TOKEN environment variable"
    )]
    MissingToken,
    /// The Coder URL cannot be used as the base of API paths.
    #[error("the Coder URL {url:?} cannot be used: {reason}")]
    InvalidUrl {
        /// The URL, without user info.
        url: String,
        /// Why it cannot be used.
        reason: &'static str,
    },
    /// A `coder.headers` entry, or the session token, cannot be sent as an
    /// HTTP header (the value is never shown: it may be a secret).
    #[error("cannot send the HTTP header {name:?}: {reason}")]
    InvalidHeader {
        /// The header name as configured.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The HTTP client could not be set up (e.g. TLS initialisation).
    #[error("cannot set up the HTTP client for Coder")]
    ClientSetup {
        /// What failed.
        #[source]
        source: reqwest::Error,
    },
    /// A Coder v1 resource (`cvm_settings`, `cvm_registry`) was pointed at
    /// a Coder v2 deployment, which has neither.
    #[error(
        "the deployment at {url} is Coder {version}, a Coder v2 deployment: Coder v2 has no \
         site-wide CVM switch and no registry API, which this resource manages (they are Coder \
         v1's)"
    )]
    V2Deployment {
        /// The deployment's base URL.
        url: String,
        /// The version `/api/v2/buildinfo` reported.
        version: String,
    },
    /// A Coder v2 resource (`cvm_coder_template`) was pointed at a Coder v1
    /// deployment.
    #[error(
        "the deployment at {url} is Coder {version}, a Coder v1 deployment: this resource \
         manages Coder v2 templates, which Coder v1 does not have"
    )]
    V1Deployment {
        /// The deployment's base URL.
        url: String,
        /// The version `/api/private/version` reported.
        version: String,
    },
    /// A template version's import job (Terraform run by Coder's
    /// provisioner) did not succeed.
    #[error(
        "Coder could not import template version {version:?}: the import job {status}{}{}",
        msg_note(.error),
        log_note(.log)
    )]
    ImportFailed {
        /// The version's id.
        id: String,
        /// The version's name.
        version: String,
        /// The job's final status (`failed`, `canceled`).
        status: String,
        /// The job's error message.
        error: String,
        /// The job's error log lines (what Terraform printed), oldest first.
        log: Vec<String>,
    },
    /// A template version's import job was still running when the
    /// operation's timeout ran out.
    #[error(
        "template version {version:?} was still being imported (job {status}) when the timeout \
         ran out"
    )]
    ImportTimedOut {
        /// The version's name.
        version: String,
        /// The job's status then.
        status: String,
    },
    /// Coder v2 refuses to delete a template that workspaces still use.
    #[error(
        "Coder refuses to delete template {template:?}: {count} workspace{} still use{} it ({})",
        if *.count == 1 { "" } else { "s" },
        if *.count == 1 { "s" } else { "" },
        .workspaces.join(", ")
    )]
    TemplateInUse {
        /// The template's name.
        template: String,
        /// How many workspaces use it.
        count: usize,
        /// Some of them, as `owner/name`.
        workspaces: Vec<String>,
    },
    /// Coder refused the request with an error body
    /// `{"error":{"msg","code","details"}}` (or an unexpected status).
    #[error("{method} {url}: Coder answered {status}: \"{msg}\"{}", code_note(.code))]
    Api {
        /// Request method.
        method: Method,
        /// Request URL.
        url: String,
        /// Response status.
        status: StatusCode,
        /// The server's message (`error.msg`), or a short excerpt of a
        /// non-JSON body, or the status's reason.
        msg: String,
        /// The server's `error.code` (`""` when absent).
        code: String,
        /// The server's `error.details`, when present (boxed to keep the
        /// error small).
        details: Option<Box<serde_json::Value>>,
    },
    /// 401: the session token is invalid or expired.
    #[error(
        "{method} {url}: Coder rejected the session token (401 Unauthorized): it is invalid or \
         expired; check coder.session_token or the CODER_SESSION_TOKEN environment variable"
    )]
    Unauthorized {
        /// Request method.
        method: Method,
        /// Request URL.
        url: String,
    },
    /// 404: the object (or, on an old or non-v1 server, the route) does not
    /// exist.
    #[error("{method} {url}: not found (404){}", msg_note(.msg))]
    NotFound {
        /// Request method.
        method: Method,
        /// Request URL.
        url: String,
        /// The server's message, if it sent one.
        msg: String,
    },
    /// The request did not get an answer: connection refused or reset, DNS
    /// failure, TLS failure, timeout.
    #[error("cannot reach Coder for {method} {url}")]
    Transport {
        /// Request method.
        method: Method,
        /// Request URL.
        url: String,
        /// What failed.
        #[source]
        source: reqwest::Error,
    },
    /// A successful answer whose body is not the JSON expected.
    #[error("{method} {url}: Coder answered {status} with a body that is not the expected JSON")]
    InvalidResponse {
        /// Request method.
        method: Method,
        /// Request URL.
        url: String,
        /// Response status.
        status: StatusCode,
        /// Why the body did not parse.
        #[source]
        source: serde_json::Error,
    },
    /// The call kept failing with retryable errors until its deadline.
    #[error(
        "gave up on {method} {url} after {attempts} attempt{}: {}",
        if *.attempts == 1 { "" } else { "s" },
        error_chain(.last.as_ref())
    )]
    GaveUp {
        /// Request method.
        method: Method,
        /// Request URL.
        url: String,
        /// How many requests were sent.
        attempts: u32,
        /// The error of the last attempt.
        #[source]
        last: Box<CoderError>,
    },
    /// Terraform asked the provider to stop while the call was running.
    #[error("cancelled: Terraform asked the provider to stop")]
    Cancelled,
}

fn code_note(code: &str) -> String {
    if code.is_empty() {
        String::new()
    } else {
        format!(" (code {code:?})")
    }
}

fn log_note(log: &[String]) -> String {
    if log.is_empty() {
        String::new()
    } else {
        format!("; the provisioner's log:\n{}", log.join("\n"))
    }
}

fn msg_note(msg: &str) -> String {
    if msg.is_empty() {
        String::new()
    } else {
        format!(": \"{msg}\"")
    }
}

/// Largest part of `error.details` copied into a diagnostic.
const MAX_DETAILS: usize = 600;

impl ToDiagnostic for CoderError {
    fn to_diagnostic(&self, attribute: Option<AttributePath>) -> Diagnostic {
        let what = error_chain(self);
        let (summary, advice) = match self {
            Self::MissingUrl => ("Missing Coder URL", String::new()),
            Self::MissingToken => (
                "Missing Coder Session Token",
                " Create one with `coder tokens create` as a site admin or site manager.".into(),
            ),
            Self::InvalidUrl { .. } => (
                "Invalid Coder URL",
                " Set coder.url (or CODER_URL) to the deployment's access URL, e.g. \
                 https://coder.example.com."
                    .into(),
            ),
            Self::InvalidHeader { .. } => (
                "Invalid Coder Header",
                " Check coder.headers and the session token: header names are letters, digits \
                 and `-`, and values are printable text on one line."
                    .into(),
            ),
            Self::ClientSetup { .. } => ("Cannot Create the Coder Client", String::new()),
            Self::V2Deployment { .. } => (
                "Coder v2 Has No Such Setting",
                " In Coder v2, CVMs are chosen per template: manage the template with \
                 cvm_coder_template (its workspace pod gets the sysbox-runc runtime class, or \
                 runs in envbox), and keep image pull credentials in Kubernetes \
                 docker-registry secrets. Point coder.url at a Coder v1 deployment to use \
                 cvm_settings and cvm_registry."
                    .into(),
            ),
            Self::V1Deployment { .. } => (
                "This Resource Needs Coder v2",
                " On Coder v1, CVMs are switched on for the deployment with cvm_settings and \
                 registries are managed with cvm_registry. Point coder.url at a Coder v2 \
                 deployment to use cvm_coder_template."
                    .into(),
            ),
            Self::ImportFailed { .. } => (
                "Coder Could Not Import the Template",
                " Nothing was activated: the template keeps the version it had. Fix the \
                 template files (the log above is Terraform's, run by Coder's provisioner), \
                 then apply again."
                    .into(),
            ),
            Self::ImportTimedOut { .. } => (
                "Template Import Timed Out",
                " Nothing was activated. Check that Coder has provisioners running (`coder \
                 provisioner list`) and that they can install the template's providers, or \
                 raise the resource's timeouts."
                    .into(),
            ),
            Self::TemplateInUse { .. } => (
                "Template Still in Use",
                " Delete those workspaces first (`coder delete OWNER/NAME`, or the \
                 cvm_workspace resources that made them), or keep the template and forget it \
                 here with `terraform state rm`."
                    .into(),
            ),
            Self::Api {
                status, details, ..
            } => ("Coder API Error", api_advice(*status, details.as_deref())),
            Self::Unauthorized { .. } => (
                "Coder Rejected the Session Token",
                " Create a new token with `coder tokens create` and set it in \
                 coder.session_token or CODER_SESSION_TOKEN."
                    .into(),
            ),
            Self::NotFound { .. } => (
                "Not Found in Coder",
                " If the object was deleted outside Terraform, remove it from the state or let \
                 Terraform create it again. If the route itself is missing, check that \
                 coder.url is the deployment's access URL (Coder v1.23 or later, or Coder v2)."
                    .into(),
            ),
            Self::Transport { .. } => (
                "Cannot Reach Coder",
                " Check coder.url, the network and any proxy between here and Coder, and that \
                 Coder's TLS certificate is trusted by this machine."
                    .into(),
            ),
            Self::InvalidResponse { .. } => (
                "Unexpected Answer From Coder",
                " Check that coder.url is the Coder deployment itself and not a login page or \
                 proxy in front of it."
                    .into(),
            ),
            Self::GaveUp { .. } => (
                "Coder Did Not Answer in Time",
                " Coder or a proxy in front of it kept failing until the operation's deadline. \
                 Try again later, or raise the resource's timeouts."
                    .into(),
            ),
            Self::Cancelled => ("Operation Cancelled", String::new()),
        };
        let detail = format!("{}.{advice}", capitalised(&what));
        let diagnostic = Diagnostic::error(summary, detail);
        match attribute {
            Some(path) => diagnostic.at(path),
            None => diagnostic,
        }
    }
}

/// What to do about an API error, by status.
fn api_advice(status: StatusCode, details: Option<&serde_json::Value>) -> String {
    let mut advice = match status.as_u16() {
        300..=399 => " Coder redirected to another host, which is not followed so that the \
                      token is not sent there: set coder.url to the deployment's access URL."
            .to_owned(),
        403 => " The token's user needs the site-admin or site-manager role.".to_owned(),
        409 => " It conflicts with something that exists already (a registry or template of \
                 the same name, or one still in use)."
            .to_owned(),
        400..=499 => " Check the values in the configuration.".to_owned(),
        _ => " Coder failed: check its logs, then try again.".to_owned(),
    };
    if let Some(details) = details {
        let mut text = details.to_string();
        if text.len() > MAX_DETAILS {
            let cut = (0..=MAX_DETAILS)
                .rev()
                .find(|i| text.is_char_boundary(*i))
                .unwrap_or(0);
            text.truncate(cut);
            text.push('…');
        }
        advice.push_str(" Details: ");
        advice.push_str(&text);
    }
    advice
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url() -> String {
        "https://coder.example.com/api/v0/registries/r1".into()
    }

    fn api(status: u16, details: Option<serde_json::Value>) -> CoderError {
        CoderError::Api {
            method: Method::PATCH,
            url: url(),
            status: StatusCode::from_u16(status).unwrap(),
            msg: "registry is in use".into(),
            code: "precondition".into(),
            details: details.map(Box::new),
        }
    }

    fn is_title_case(summary: &str) -> bool {
        const SMALL: [&str; 6] = ["in", "the", "a", "v1", "v2", "no"];
        summary
            .split(' ')
            .all(|w| SMALL.contains(&w) || w.starts_with(|c: char| c.is_uppercase()))
    }

    #[test]
    fn every_variant_has_a_title_case_summary_and_a_sentence() {
        let errors = [
            CoderError::MissingUrl,
            CoderError::MissingToken,
            CoderError::InvalidUrl {
                url: "ftp://x".into(),
                reason: "not http",
            },
            CoderError::InvalidHeader {
                name: "bad name".into(),
                reason: "invalid name",
            },
            CoderError::V2Deployment {
                url: url(),
                version: "2.10.0".into(),
            },
            CoderError::V1Deployment {
                url: url(),
                version: "1.44.0".into(),
            },
            CoderError::ImportFailed {
                id: "i".into(),
                version: "v".into(),
                status: "failed".into(),
                error: String::new(),
                log: Vec::new(),
            },
            CoderError::ImportTimedOut {
                version: "v".into(),
                status: "pending".into(),
            },
            CoderError::TemplateInUse {
                template: "t".into(),
                count: 1,
                workspaces: vec!["admin/w".into()],
            },
            api(409, None),
            CoderError::Unauthorized {
                method: Method::GET,
                url: url(),
            },
            CoderError::NotFound {
                method: Method::GET,
                url: url(),
                msg: String::new(),
            },
            CoderError::GaveUp {
                method: Method::GET,
                url: url(),
                attempts: 4,
                last: Box::new(api(503, None)),
            },
            CoderError::Cancelled,
        ];
        for error in errors {
            let d = error.to_diagnostic(None);
            assert!(d.is_error());
            assert!(is_title_case(&d.summary), "{}", d.summary);
            assert!(
                d.detail.starts_with(|c: char| c.is_uppercase()),
                "{}",
                d.detail
            );
            assert!(d.detail.ends_with('.'), "{}", d.detail);
            assert_eq!(d.attribute, None);
        }
    }

    #[test]
    fn diagnostic_carries_the_attribute_and_the_server_message() {
        let path = AttributePath::attr("registry");
        let details = serde_json::json!({"message": "2 images use it", "solution": "delete them"});
        let d = api(409, Some(details)).to_diagnostic(Some(path.clone()));
        assert_eq!(d.attribute, Some(path));
        assert!(d.detail.contains("\"registry is in use\""), "{}", d.detail);
        assert!(d.detail.contains("(code \"precondition\")"), "{}", d.detail);
        assert!(d.detail.contains("2 images use it"), "{}", d.detail);
        assert!(d.detail.contains("409 Conflict"), "{}", d.detail);
    }

    #[test]
    fn gave_up_names_the_url_and_the_last_cause() {
        let error = CoderError::GaveUp {
            method: Method::GET,
            url: url(),
            attempts: 3,
            last: Box::new(api(503, None)),
        };
        let text = error.to_string();
        assert!(text.contains("https://coder.example.com/api/v0/registries/r1"));
        assert!(text.contains("3 attempts"));
        assert!(text.contains("503 Service Unavailable"));
        // The diagnostic does not repeat the cause already in the message.
        let detail = error.to_diagnostic(None).detail;
        assert_eq!(detail.matches("503").count(), 1, "{detail}");
    }

    #[test]
    fn v2_diagnostic_keeps_the_url_as_written() {
        let d = CoderError::V2Deployment {
            url: "http://127.0.0.1:8080/".into(),
            version: "2.18.0".into(),
        }
        .to_diagnostic(None);
        assert_eq!(d.summary, "Coder v2 Has No Such Setting");
        assert!(
            d.detail.starts_with(
                "The deployment at http://127.0.0.1:8080/ is Coder 2.18.0, a Coder v2 deployment"
            ),
            "{}",
            d.detail
        );
    }

    #[test]
    fn each_generation_is_told_what_to_use_instead() {
        let d = CoderError::V2Deployment {
            url: url(),
            version: "2.10.0".into(),
        }
        .to_diagnostic(None);
        for word in [
            "cvm_coder_template",
            "sysbox-runc",
            "envbox",
            "docker-registry",
        ] {
            assert!(d.detail.contains(word), "{word}: {}", d.detail);
        }
        let d = CoderError::V1Deployment {
            url: url(),
            version: "1.44.0".into(),
        }
        .to_diagnostic(None);
        for word in ["cvm_settings", "cvm_registry", "Coder v2"] {
            assert!(d.detail.contains(word), "{word}: {}", d.detail);
        }
    }

    #[test]
    fn a_failed_import_carries_the_provisioners_log() {
        let error = CoderError::ImportFailed {
            id: "i".into(),
            version: "v-1".into(),
            status: "failed".into(),
            error: "terraform plan: exit status 1".into(),
            log: vec!["Error: Unsupported block type".into()],
        };
        let d = error.to_diagnostic(None);
        assert!(
            d.detail.contains("Error: Unsupported block type"),
            "{}",
            d.detail
        );
        assert!(d.detail.contains("exit status 1"), "{}", d.detail);
    }

    #[test]
    fn long_details_are_cut() {
        let details = serde_json::json!({"verbose": "é".repeat(2_000)});
        let d = api(400, Some(details)).to_diagnostic(None);
        assert!(d.detail.len() < 1_000);
        assert!(
            d.detail.ends_with("….") || d.detail.ends_with('…'),
            "{}",
            d.detail
        );
    }
}
