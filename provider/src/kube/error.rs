//! Every way connecting to Kubernetes fails, and how each reads to a
//! Terraform user.

use std::path::PathBuf;

use ::kube::config::KubeconfigError;
use tf_framework::ToDiagnostic;
use tf_framework::diagnostic::{capitalised, error_chain};
use tf_protocol::{AttributePath, Diagnostic};

/// An error while finding or connecting to the Kubernetes cluster. Secrets
/// (tokens, keys) never appear in it.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    /// Neither the provider block, `KUBECONFIG` nor `~/.kube/config` says
    /// where the cluster is.
    #[error(
        "no Kubernetes cluster configured: set kubernetes.config_path or kubernetes.host in the \
         provider block, or the KUBECONFIG environment variable, or run in a pod with its service \
         account mounted{}",
        default_file_note(.default_file.as_deref())
    )]
    NotConfigured {
        /// The default kubeconfig file that was looked for, if a home
        /// directory is known.
        default_file: Option<PathBuf>,
    },
    /// A file of the pod's service account could not be read.
    #[error("reading the pod's service account file {}: {source}", .path.display())]
    ReadServiceAccount {
        /// The file.
        path: PathBuf,
        /// Why it could not be read.
        source: std::io::Error,
    },
    /// `kubernetes.host` is not a usable API server URL.
    #[error("kubernetes.host {host:?} is not a usable API server URL: {reason}")]
    InvalidHost {
        /// The configured value.
        host: String,
        /// What is wrong with it.
        reason: String,
    },
    /// `kubernetes.host` is set without a way to authenticate.
    #[error(
        "kubernetes.host is set without credentials: set kubernetes.token, or \
         kubernetes.client_certificate and kubernetes.client_key"
    )]
    MissingCredentials,
    /// Only one half of a client certificate pair is set.
    #[error("kubernetes.{present} is set but kubernetes.{missing} is not: set both or neither")]
    IncompleteClientCertificate {
        /// The attribute that is set.
        present: &'static str,
        /// The attribute that is missing.
        missing: &'static str,
    },
    /// A PEM attribute does not hold what it should (the value is never
    /// shown: it may be a key).
    #[error("kubernetes.{attribute} is not valid PEM: {reason}")]
    InvalidPem {
        /// The attribute name inside the `kubernetes` block.
        attribute: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A kubeconfig file could not be read or parsed.
    #[error("cannot read the kubeconfig {}", path.display())]
    ReadKubeconfig {
        /// The file.
        path: PathBuf,
        /// What failed.
        #[source]
        source: KubeconfigError,
    },
    /// The requested context is not in the kubeconfig.
    #[error(
        "the kubeconfig ({origin}) has no context {context:?}; {}",
        available_note(available)
    )]
    UnknownContext {
        /// The context asked for.
        context: String,
        /// Where the kubeconfig came from.
        origin: String,
        /// The contexts it does have.
        available: Vec<String>,
    },
    /// The kubeconfig was read but does not describe a usable connection
    /// (no current context, missing cluster or user, unreadable files).
    #[error("the kubeconfig ({origin}) cannot be used")]
    InvalidKubeconfig {
        /// Where the kubeconfig came from.
        origin: String,
        /// What failed.
        #[source]
        source: KubeconfigError,
    },
    /// The client could not be built from a resolved configuration (e.g.
    /// TLS setup with the given certificates).
    #[error("cannot create the Kubernetes client for {server}")]
    Client {
        /// The API server URL.
        server: String,
        /// What failed.
        #[source]
        source: ::kube::Error,
    },
    /// The API server refused a request (RBAC, validation, conflict...).
    #[error("{action} failed: the API server answered {code} {reason}: {message}")]
    Refused {
        /// What the provider was doing, e.g. `applying DaemonSet kube-system/sysbox-deploy-k8s`.
        action: String,
        /// HTTP status code.
        code: u16,
        /// The `Status` reason, e.g. `Forbidden`.
        reason: String,
        /// The `Status` message.
        message: String,
    },
    /// A request could not be made or answered in a way the client
    /// understands, and retrying would not help.
    #[error("{action} failed: {message}")]
    Request {
        /// What the provider was doing.
        action: String,
        /// What went wrong.
        message: String,
    },
    /// The API server did not answer (connection refused, resets, 5xx,
    /// throttling) until the operation's deadline passed.
    #[error(
        "the Kubernetes API server at {server} did not answer while {action}: retried {attempts} \
         time(s) over {waited}; the last error was: {last}"
    )]
    Unreachable {
        /// The API server URL.
        server: String,
        /// What the provider was doing.
        action: String,
        /// How many attempts were made.
        attempts: u32,
        /// How long the attempts took, e.g. `40s`.
        waited: String,
        /// The last failure.
        last: String,
    },
    /// Terraform asked the provider to stop.
    #[error("Terraform asked the provider to stop while {action}")]
    Cancelled {
        /// What the provider was doing.
        action: String,
    },
}

fn default_file_note(path: Option<&std::path::Path>) -> String {
    match path {
        Some(path) => format!(" ({} does not exist)", path.display()),
        None => String::new(),
    }
}

fn available_note(available: &[String]) -> String {
    if available.is_empty() {
        "it has no contexts at all".to_owned()
    } else {
        let names: Vec<String> = available.iter().map(|c| format!("{c:?}")).collect();
        format!("available contexts: {}", names.join(", "))
    }
}

impl KubeError {
    /// The `kubernetes` block attribute this error is about, if one.
    fn attribute_name(&self) -> Option<&'static str> {
        match self {
            Self::InvalidHost { .. } | Self::MissingCredentials => Some("host"),
            Self::IncompleteClientCertificate { missing, .. } => Some(missing),
            Self::InvalidPem { attribute, .. } => Some(attribute),
            Self::UnknownContext { .. } => Some("config_context"),
            _ => None,
        }
    }
}

impl ToDiagnostic for KubeError {
    fn to_diagnostic(&self, attribute: Option<AttributePath>) -> Diagnostic {
        let (summary, advice) = match self {
            Self::NotConfigured { .. } => (
                "Missing Kubernetes Configuration",
                " Point kubernetes.config_path at a kubeconfig file, or set kubernetes.host with \
                 kubernetes.token or a client certificate.",
            ),
            Self::InvalidHost { .. } => (
                "Invalid Kubernetes Host",
                " Set kubernetes.host to the API server's URL, e.g. https://10.0.0.1:6443.",
            ),
            Self::MissingCredentials => ("Missing Kubernetes Credentials", ""),
            Self::IncompleteClientCertificate { .. } => {
                ("Incomplete Kubernetes Client Certificate", "")
            }
            Self::InvalidPem { .. } => (
                "Invalid Kubernetes PEM Data",
                " Give the PEM text itself, starting with a `-----BEGIN` line, e.g. with \
                 file(\"ca.crt\").",
            ),
            Self::ReadKubeconfig { .. } => ("Cannot Read the Kubeconfig", ""),
            Self::ReadServiceAccount { .. } => (
                "Cannot Read the Service Account",
                " The provider found KUBERNETES_SERVICE_HOST and uses the pod's service account; check that it is mounted (automountServiceAccountToken), or configure the kubernetes block.",
            ),
            Self::UnknownContext { .. } => (
                "Unknown Kubernetes Context",
                " Set kubernetes.config_context to one of them.",
            ),
            Self::InvalidKubeconfig { .. } => (
                "Invalid Kubeconfig",
                " Check it with `kubectl config view`; set kubernetes.config_context if it has \
                 no current context.",
            ),
            Self::Client { .. } => ("Cannot Create the Kubernetes Client", ""),
            Self::Refused { code: 401, .. } => (
                "Kubernetes Authentication Failed",
                " Check the token or client certificate in the provider's kubernetes block or kubeconfig.",
            ),
            Self::Refused { code: 403, .. } => (
                "Kubernetes Permission Denied",
                " Grant the provider's Kubernetes identity the permission named above (the \
                 cvm_sysbox documentation lists the RBAC rules it needs).",
            ),
            Self::Refused { .. } => ("Kubernetes API Error", ""),
            Self::Request { .. } => ("Kubernetes Request Failed", ""),
            Self::Unreachable { .. } => (
                "Kubernetes API Server Unreachable",
                " Check that the API server is up and reachable from where Terraform runs, then \
                 apply again: what was created so far is kept in state.",
            ),
            Self::Cancelled { .. } => ("Operation Cancelled", ""),
        };
        let detail = format!("{}.{advice}", capitalised(&error_chain(self)));
        let diagnostic = Diagnostic::error(summary, detail);
        let path = attribute.or_else(|| {
            self.attribute_name()
                .map(|name| AttributePath::attr("kubernetes").attribute(name))
        });
        match path {
            Some(path) => diagnostic.at(path),
            None => diagnostic,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_configured_names_every_way_to_configure() {
        let error = KubeError::NotConfigured {
            default_file: Some(PathBuf::from("/home/u/.kube/config")),
        };
        let text = error.to_string();
        for word in [
            "kubernetes.config_path",
            "kubernetes.host",
            "KUBECONFIG",
            "/home/u/.kube/config",
        ] {
            assert!(text.contains(word), "{word}: {text}");
        }
        let d = error.to_diagnostic(None);
        assert!(d.is_error());
        assert_eq!(d.summary, "Missing Kubernetes Configuration");
        assert!(d.detail.starts_with("No Kubernetes"), "{}", d.detail);
        assert_eq!(d.attribute, None);
    }

    #[test]
    fn unknown_context_lists_the_available_ones() {
        let error = KubeError::UnknownContext {
            context: "prod".into(),
            origin: "/tmp/kubeconfig".into(),
            available: vec!["dev".into(), "staging".into()],
        };
        let text = error.to_string();
        assert!(text.contains("\"prod\""), "{text}");
        assert!(
            text.contains("available contexts: \"dev\", \"staging\""),
            "{text}"
        );
        let d = error.to_diagnostic(None);
        assert_eq!(
            d.attribute,
            Some(AttributePath::attr("kubernetes").attribute("config_context"))
        );
    }

    #[test]
    fn bad_pem_points_at_its_attribute() {
        let error = KubeError::InvalidPem {
            attribute: "cluster_ca_certificate",
            reason: "no certificate found".into(),
        };
        assert!(
            error
                .to_string()
                .contains("kubernetes.cluster_ca_certificate")
        );
        let d = error.to_diagnostic(None);
        assert_eq!(
            d.attribute,
            Some(AttributePath::attr("kubernetes").attribute("cluster_ca_certificate"))
        );
        assert!(d.detail.ends_with('.'), "{}", d.detail);
    }
}
