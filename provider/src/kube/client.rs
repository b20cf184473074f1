//! Where the Kubernetes cluster is and how to authenticate to it: the
//! provider block's `kubernetes` settings, resolved against the
//! environment into a [`::kube::Config`], then a [`::kube::Client`].
//!
//! Inside a pod (Coder's provisioner usually runs in the cluster it creates
//! workspaces in) and with nothing else configured, the pod's service
//! account is used, as client-go's in-cluster configuration does.

use std::ffi::OsString;
use std::path::PathBuf;

use ::kube::config::{KubeConfigOptions, Kubeconfig};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::sync::OnceCell;

use super::error::KubeError;

/// The `kubernetes` block's settings, as configured (environment variables
/// are applied when the client is built, see [`KubeEnvironment`]).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct KubeSettings {
    /// Path of a kubeconfig file (`~/` is expanded).
    pub config_path: Option<String>,
    /// The kubeconfig context to use instead of its current context.
    pub config_context: Option<String>,
    /// API server URL; when set, the kubeconfig is not read at all.
    pub host: Option<String>,
    /// Bearer token (sensitive).
    pub token: Option<String>,
    /// PEM client certificate.
    pub client_certificate: Option<String>,
    /// PEM client private key (sensitive).
    pub client_key: Option<String>,
    /// PEM CA bundle that signed the API server's certificate.
    pub cluster_ca_certificate: Option<String>,
}

impl std::fmt::Debug for KubeSettings {
    // The token and key must never reach a log, whatever the level.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |v: &Option<String>| v.as_ref().map(|_| "(sensitive)");
        f.debug_struct("KubeSettings")
            .field("config_path", &self.config_path)
            .field("config_context", &self.config_context)
            .field("host", &self.host)
            .field("token", &hidden(&self.token))
            .field(
                "client_certificate",
                &self.client_certificate.as_ref().map(|_| "(PEM)"),
            )
            .field("client_key", &hidden(&self.client_key))
            .field(
                "cluster_ca_certificate",
                &self.cluster_ca_certificate.as_ref().map(|_| "(PEM)"),
            )
            .finish()
    }
}

/// The parts of the process environment that locate a kubeconfig; a value
/// so that tests need not change the real environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KubeEnvironment {
    /// `KUBECONFIG`: one or more kubeconfig paths, separated as in `PATH`.
    pub kubeconfig: Option<OsString>,
    /// The user's home directory, for `~/.kube/config` and `~/` in paths.
    pub home: Option<PathBuf>,
    /// `KUBERNETES_SERVICE_HOST` and `KUBERNETES_SERVICE_PORT`, which the
    /// kubelet sets in every pod.
    pub service: Option<(String, String)>,
    /// Where the pod's service account is mounted (`token`, `ca.crt`,
    /// `namespace`); `CVM_KUBE_SERVICE_ACCOUNT_DIR` or the standard path.
    pub service_account_dir: PathBuf,
}

/// Where the kubelet mounts a pod's service account.
pub const SERVICE_ACCOUNT_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

impl KubeEnvironment {
    /// The environment of this process.
    pub fn from_process() -> Self {
        let non_empty = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        let text = |name: &str| non_empty(name).and_then(|v| v.into_string().ok());
        Self {
            kubeconfig: non_empty("KUBECONFIG"),
            home: non_empty("HOME")
                .or_else(|| non_empty("USERPROFILE"))
                .map(PathBuf::from),
            service: text("KUBERNETES_SERVICE_HOST").zip(text("KUBERNETES_SERVICE_PORT")),
            service_account_dir: non_empty("CVM_KUBE_SERVICE_ACCOUNT_DIR")
                .map_or_else(|| PathBuf::from(SERVICE_ACCOUNT_DIR), PathBuf::from),
        }
    }

    /// `~/.kube/config`, if the home directory is known.
    pub fn default_file(&self) -> Option<PathBuf> {
        self.home.as_ref().map(|h| h.join(".kube").join("config"))
    }
}

/// Where the connection settings come from, in order of precedence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KubeSource {
    /// `kubernetes.host` and its credentials.
    Explicit,
    /// The file named by `kubernetes.config_path`.
    ConfigPath(PathBuf),
    /// The files named by `KUBECONFIG`, merged.
    KubeconfigEnv(Vec<PathBuf>),
    /// `~/.kube/config`.
    DefaultFile(PathBuf),
    /// The service account of the pod the provider runs in.
    InCluster,
}

impl KubeSource {
    /// Where the settings come from, for messages.
    fn origin(&self) -> String {
        match self {
            Self::Explicit => "kubernetes.host".to_owned(),
            Self::ConfigPath(path) => format!("kubernetes.config_path {}", path.display()),
            Self::KubeconfigEnv(paths) => {
                let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
                format!("KUBECONFIG {}", names.join(", "))
            }
            Self::DefaultFile(path) => path.display().to_string(),
            Self::InCluster => "the pod's service account".to_owned(),
        }
    }
}

/// Chooses where the connection comes from: `host` > `config_path` >
/// `KUBECONFIG` > `~/.kube/config` (when it exists) > the pod's service
/// account (when `KUBERNETES_SERVICE_HOST` is set and its token is mounted).
pub fn choose_source(
    settings: &KubeSettings,
    env: &KubeEnvironment,
) -> Result<KubeSource, KubeError> {
    if settings.host.as_deref().is_some_and(|h| !h.is_empty()) {
        return Ok(KubeSource::Explicit);
    }
    if let Some(path) = settings.config_path.as_deref().filter(|p| !p.is_empty()) {
        return Ok(KubeSource::ConfigPath(expand_home(path, env)));
    }
    if let Some(value) = &env.kubeconfig {
        let paths: Vec<PathBuf> = std::env::split_paths(value)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
        if !paths.is_empty() {
            return Ok(KubeSource::KubeconfigEnv(paths));
        }
    }
    let default_file = env.default_file();
    match default_file {
        Some(path) if path.is_file() => Ok(KubeSource::DefaultFile(path)),
        // Only with nothing configured: a context or credentials given for a
        // kubeconfig that is missing must not quietly reach the pod's cluster.
        _ if env.service.is_some()
            && env.service_account_dir.join("token").is_file()
            && nothing_configured(settings) =>
        {
            Ok(KubeSource::InCluster)
        }
        _ => Err(KubeError::NotConfigured { default_file }),
    }
}

/// Whether the `kubernetes` block sets nothing at all.
fn nothing_configured(settings: &KubeSettings) -> bool {
    [
        &settings.config_context,
        &settings.token,
        &settings.client_certificate,
        &settings.client_key,
        &settings.cluster_ca_certificate,
    ]
    .into_iter()
    .all(|v| non_empty(v).is_none())
}

/// `path` with a leading `~/` replaced by the home directory.
fn expand_home(path: &str, env: &KubeEnvironment) -> PathBuf {
    match (path.strip_prefix("~/"), &env.home) {
        (Some(rest), Some(home)) => home.join(rest),
        _ => PathBuf::from(path),
    }
}

/// Resolves the settings (and, when they name no host, the kubeconfig they
/// lead to) into a client configuration. Reads files but opens no
/// connection.
pub async fn resolve_config(
    settings: &KubeSettings,
    env: &KubeEnvironment,
) -> Result<::kube::Config, KubeError> {
    let source = choose_source(settings, env)?;
    let paths = match &source {
        KubeSource::Explicit => return explicit_config(settings),
        KubeSource::InCluster => return in_cluster_config(env),
        KubeSource::ConfigPath(path) | KubeSource::DefaultFile(path) => vec![path.clone()],
        KubeSource::KubeconfigEnv(paths) => paths.clone(),
    };
    let kubeconfig = read_kubeconfigs(&paths)?;
    let origin = source.origin();
    if let Some(context) = &settings.config_context
        && !kubeconfig.contexts.iter().any(|c| &c.name == context)
    {
        return Err(KubeError::UnknownContext {
            context: context.clone(),
            origin,
            available: kubeconfig.contexts.iter().map(|c| c.name.clone()).collect(),
        });
    }
    let options = KubeConfigOptions {
        context: settings.config_context.clone(),
        ..KubeConfigOptions::default()
    };
    ::kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|source| KubeError::InvalidKubeconfig { origin, source })
}

/// Reads and merges kubeconfig files; the first file's entries win, as with
/// `kubectl`.
fn read_kubeconfigs(paths: &[PathBuf]) -> Result<Kubeconfig, KubeError> {
    let mut merged: Option<Kubeconfig> = None;
    for path in paths {
        let read_error = |source| KubeError::ReadKubeconfig {
            path: path.clone(),
            source,
        };
        let next = Kubeconfig::read_from(path).map_err(read_error)?;
        merged = Some(match merged {
            Some(first) => first.merge(next).map_err(read_error)?,
            None => next,
        });
    }
    Ok(merged.unwrap_or_default())
}

/// The configuration of the pod's service account: the API server from
/// `KUBERNETES_SERVICE_HOST`/`_PORT`, the CA and namespace from the mounted
/// files, and the token *file*, which the client reads again as the kubelet
/// rotates it.
fn in_cluster_config(env: &KubeEnvironment) -> Result<::kube::Config, KubeError> {
    let (host, port) = env.service.clone().unwrap_or_default();
    let dir = &env.service_account_dir;
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    };
    let server = format!("https://{host}:{port}");
    let url = server.parse().map_err(|e| KubeError::InvalidHost {
        host: server.clone(),
        reason: format!("KUBERNETES_SERVICE_HOST and _PORT do not make a URL: {e}"),
    })?;
    let mut config = ::kube::Config::new(url);
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read_to_string(&path)
            .map_err(|source| KubeError::ReadServiceAccount { path, source })
    };
    config.root_cert = Some(parse_certificates(
        "cluster_ca_certificate",
        &read("ca.crt")?,
    )?);
    config.auth_info.token_file = Some(dir.join("token").display().to_string());
    if let Ok(namespace) = read("namespace")
        && !namespace.trim().is_empty()
    {
        config.default_namespace = namespace.trim().to_owned();
    }
    Ok(config)
}

/// Why `host` is not a usable API server URL (an http or https URL with a
/// host name and no credentials), if it is not.
pub fn check_host(host: &str) -> Result<(), String> {
    let url = url::Url::parse(host).map_err(|e| e.to_string())?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("it must use https (or http)".into());
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("it has no host name".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("it must not carry credentials; use kubernetes.token".into());
    }
    Ok(())
}

/// The configuration given by `host` and its credentials.
fn explicit_config(settings: &KubeSettings) -> Result<::kube::Config, KubeError> {
    let host = settings.host.clone().unwrap_or_default();
    let invalid = |reason: String| KubeError::InvalidHost {
        host: host.clone(),
        reason,
    };
    check_host(&host).map_err(&invalid)?;
    let mut config = ::kube::Config::new(host.parse().map_err(|e| invalid(format!("{e}")))?);

    if let Some(ca) = non_empty(&settings.cluster_ca_certificate) {
        config.root_cert = Some(parse_certificates("cluster_ca_certificate", ca)?);
    }
    let certificate = non_empty(&settings.client_certificate);
    let key = non_empty(&settings.client_key);
    match (certificate, key) {
        (Some(certificate), Some(key)) => {
            parse_certificates("client_certificate", certificate)?;
            PrivateKeyDer::from_pem_slice(key.as_bytes()).map_err(|e| KubeError::InvalidPem {
                attribute: "client_key",
                reason: format!("no private key found ({e})"),
            })?;
            // kube reads client certificates as base64 of the PEM text, as
            // kubeconfig's `*-data` fields hold them.
            config.auth_info.client_certificate_data = Some(BASE64.encode(certificate));
            config.auth_info.client_key_data = Some(BASE64.encode(key).into());
        }
        (Some(_), None) => {
            return Err(KubeError::IncompleteClientCertificate {
                present: "client_certificate",
                missing: "client_key",
            });
        }
        (None, Some(_)) => {
            return Err(KubeError::IncompleteClientCertificate {
                present: "client_key",
                missing: "client_certificate",
            });
        }
        (None, None) => {}
    }
    if let Some(token) = non_empty(&settings.token) {
        config.auth_info.token = Some(token.to_owned().into());
    } else if config.auth_info.client_certificate_data.is_none() {
        return Err(KubeError::MissingCredentials);
    }
    Ok(config)
}

fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.trim().is_empty())
}

/// The DER certificates in a PEM attribute; at least one.
fn parse_certificates(attribute: &'static str, pem: &str) -> Result<Vec<Vec<u8>>, KubeError> {
    let invalid = |reason: String| KubeError::InvalidPem { attribute, reason };
    let certificates = CertificateDer::pem_slice_iter(pem.as_bytes())
        .map(|c| c.map(|der| der.to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(e.to_string()))?;
    if certificates.is_empty() {
        return Err(invalid(
            "no `-----BEGIN CERTIFICATE-----` block found".into(),
        ));
    }
    Ok(certificates)
}

/// The User-Agent of every request to the Kubernetes API.
const USER_AGENT: &str = concat!("terraform-provider-cvm/", env!("CARGO_PKG_VERSION"));

/// Builds a client from the settings and the environment. Opens no
/// connection: the first request does.
pub async fn build_client(
    settings: &KubeSettings,
    env: &KubeEnvironment,
) -> Result<::kube::Client, KubeError> {
    Ok(build_client_for(settings, env).await?.0)
}

/// Like [`build_client`], also returning the API server URL (for errors).
async fn build_client_for(
    settings: &KubeSettings,
    env: &KubeEnvironment,
) -> Result<(::kube::Client, String), KubeError> {
    let mut config = resolve_config(settings, env).await?;
    // kube-rs sends no User-Agent of its own; with one, the cluster's audit log
    // says which requests came from this provider.
    config.headers.push((
        http::header::USER_AGENT,
        http::HeaderValue::from_static(USER_AGENT),
    ));
    let server = config.cluster_url.to_string();
    let client = ::kube::Client::try_from(config).map_err(|source| KubeError::Client {
        server: server.clone(),
        source,
    })?;
    Ok((client, server.trim_end_matches('/').to_owned()))
}

/// A Kubernetes client built on first use and shared afterwards, so that a
/// provider without Kubernetes settings works until a resource needs them.
#[derive(Default)]
pub struct KubeClientCell(OnceCell<(::kube::Client, String)>);

impl KubeClientCell {
    /// The client, built from `settings` and the process environment the
    /// first time. A failure is not cached: the next call tries again.
    pub async fn get_or_build(&self, settings: &KubeSettings) -> Result<::kube::Client, KubeError> {
        Ok(self.get_with_server(settings).await?.0)
    }

    /// The client and the URL of its API server.
    pub async fn get_with_server(
        &self,
        settings: &KubeSettings,
    ) -> Result<(::kube::Client, String), KubeError> {
        let env = KubeEnvironment::from_process();
        self.0
            .get_or_try_init(|| build_client_for(settings, &env))
            .await
            .cloned()
    }
}

impl std::fmt::Debug for KubeClientCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = if self.0.initialized() {
            "built"
        } else {
            "not built"
        };
        f.debug_tuple("KubeClientCell").field(&state).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed certificate and its key, as PEM.
    fn certificate_pair() -> (String, String) {
        let pair = rcgen::generate_simple_self_signed(vec!["kube.test".to_owned()]).unwrap();
        (pair.cert.pem(), pair.signing_key.serialize_pem())
    }

    /// A kubeconfig with two contexts: `alpha` (current, token user) and
    /// `beta` (another server), each with an inline CA.
    fn write_kubeconfig(dir: &std::path::Path, name: &str) -> PathBuf {
        let (ca, _) = certificate_pair();
        let ca = BASE64.encode(ca);
        let text = format!(
            "apiVersion: v1\n\
             kind: Config\n\
             current-context: alpha\n\
             clusters:\n\
             - name: alpha\n  cluster:\n    server: https://alpha.kube.test:6443\n    certificate-authority-data: {ca}\n\
             - name: beta\n  cluster:\n    server: https://beta.kube.test:7443\n    certificate-authority-data: {ca}\n\
             users:\n\
             - name: robot\n  user:\n    token: file-token\n\
             contexts:\n\
             - name: alpha\n  context:\n    cluster: alpha\n    user: robot\n    namespace: team\n\
             - name: beta\n  context:\n    cluster: beta\n    user: robot\n"
        );
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn token_of(config: &::kube::Config) -> Option<String> {
        use ::kube::config::AuthInfo;
        // SecretString hides its value from Debug; expose it through serde,
        // as kube serialises it for kubeconfig files.
        let value = serde_json::to_value::<&AuthInfo>(&config.auth_info).unwrap();
        value["token"].as_str().map(str::to_owned)
    }

    #[test]
    fn precedence_is_host_then_config_path_then_kubeconfig_then_default_file() {
        let home = tempfile::tempdir().unwrap();
        let no_home = KubeEnvironment::default();
        let env_var = KubeEnvironment {
            kubeconfig: Some(OsString::from("/a/one:/a/two")),
            home: Some(home.path().to_owned()),
            ..KubeEnvironment::default()
        };
        let host = KubeSettings {
            host: Some("https://h:6443".into()),
            config_path: Some("/c".into()),
            ..KubeSettings::default()
        };
        let path = KubeSettings {
            config_path: Some("~/k/config".into()),
            ..KubeSettings::default()
        };
        let nothing = KubeSettings::default();

        assert_eq!(
            choose_source(&host, &env_var).unwrap(),
            KubeSource::Explicit
        );
        assert_eq!(
            choose_source(&path, &env_var).unwrap(),
            KubeSource::ConfigPath(home.path().join("k/config"))
        );
        assert_eq!(
            choose_source(&nothing, &env_var).unwrap(),
            KubeSource::KubeconfigEnv(vec!["/a/one".into(), "/a/two".into()])
        );
        let home_only = KubeEnvironment {
            kubeconfig: None,
            home: Some(home.path().to_owned()),
            ..KubeEnvironment::default()
        };
        // ~/.kube/config counts only when it exists.
        assert!(matches!(
            choose_source(&nothing, &home_only),
            Err(KubeError::NotConfigured { .. })
        ));
        std::fs::create_dir(home.path().join(".kube")).unwrap();
        std::fs::write(home.path().join(".kube/config"), "").unwrap();
        assert_eq!(
            choose_source(&nothing, &home_only).unwrap(),
            KubeSource::DefaultFile(home.path().join(".kube/config"))
        );
        assert!(matches!(
            choose_source(&nothing, &no_home),
            Err(KubeError::NotConfigured { default_file: None })
        ));
    }

    #[tokio::test]
    async fn missing_configuration_names_what_to_set() {
        let error = resolve_config(&KubeSettings::default(), &KubeEnvironment::default())
            .await
            .unwrap_err();
        let text = error.to_string();
        for word in ["kubernetes.config_path", "kubernetes.host", "KUBECONFIG"] {
            assert!(text.contains(word), "{word}: {text}");
        }
    }

    #[tokio::test]
    async fn kubeconfig_with_a_token_user_resolves_to_its_server() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_kubeconfig(dir.path(), "config");
        let settings = KubeSettings {
            config_path: Some(path.display().to_string()),
            ..KubeSettings::default()
        };
        let config = resolve_config(&settings, &KubeEnvironment::default())
            .await
            .unwrap();
        assert_eq!(
            config.cluster_url.to_string(),
            "https://alpha.kube.test:6443/"
        );
        assert_eq!(config.default_namespace, "team");
        assert_eq!(config.root_cert.as_ref().map(Vec::len), Some(1));
        assert_eq!(token_of(&config).as_deref(), Some("file-token"));

        // The same file through KUBECONFIG, with another context.
        let env = KubeEnvironment {
            kubeconfig: Some(path.clone().into_os_string()),
            home: None,
            ..KubeEnvironment::default()
        };
        let beta = KubeSettings {
            config_context: Some("beta".into()),
            ..KubeSettings::default()
        };
        let config = resolve_config(&beta, &env).await.unwrap();
        assert_eq!(
            config.cluster_url.to_string(),
            "https://beta.kube.test:7443/"
        );

        // Building a client opens no connection.
        build_client(&settings, &KubeEnvironment::default())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn unknown_context_lists_the_contexts_available() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_kubeconfig(dir.path(), "config");
        let settings = KubeSettings {
            config_path: Some(path.display().to_string()),
            config_context: Some("gamma".into()),
            ..KubeSettings::default()
        };
        let error = resolve_config(&settings, &KubeEnvironment::default())
            .await
            .unwrap_err();
        let text = error.to_string();
        assert!(text.contains("\"gamma\""), "{text}");
        assert!(text.contains("\"alpha\", \"beta\""), "{text}");
    }

    #[tokio::test]
    async fn unreadable_kubeconfig_names_the_file() {
        let settings = KubeSettings {
            config_path: Some("/nonexistent/kubeconfig".into()),
            ..KubeSettings::default()
        };
        let error = resolve_config(&settings, &KubeEnvironment::default())
            .await
            .unwrap_err();
        assert!(matches!(error, KubeError::ReadKubeconfig { .. }), "{error}");
        assert!(error.to_string().contains("/nonexistent/kubeconfig"));
    }

    #[tokio::test]
    async fn explicit_host_with_token_and_ca() {
        let (ca, _) = certificate_pair();
        let settings = KubeSettings {
            host: Some("https://10.0.0.1:6443".into()),
            token: Some("explicit-token".into()),
            cluster_ca_certificate: Some(ca),
            ..KubeSettings::default()
        };
        let config = resolve_config(&settings, &KubeEnvironment::default())
            .await
            .unwrap();
        assert_eq!(config.cluster_url.to_string(), "https://10.0.0.1:6443/");
        assert_eq!(config.root_cert.as_ref().map(Vec::len), Some(1));
        assert_eq!(token_of(&config).as_deref(), Some("explicit-token"));
        build_client(&settings, &KubeEnvironment::default())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn explicit_host_with_client_certificate() {
        let (certificate, key) = certificate_pair();
        let settings = KubeSettings {
            host: Some("https://kube.test".into()),
            client_certificate: Some(certificate),
            client_key: Some(key),
            ..KubeSettings::default()
        };
        let config = resolve_config(&settings, &KubeEnvironment::default())
            .await
            .unwrap();
        assert!(config.auth_info.client_certificate_data.is_some());
        build_client(&settings, &KubeEnvironment::default())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn explicit_host_errors_name_the_attribute() {
        let env = KubeEnvironment::default();
        let with = |settings: KubeSettings| KubeSettings {
            host: Some("https://kube.test".into()),
            ..settings
        };
        let bad_ca = with(KubeSettings {
            token: Some("t".into()),
            cluster_ca_certificate: Some("not a certificate".into()),
            ..KubeSettings::default()
        });
        match resolve_config(&bad_ca, &env).await.unwrap_err() {
            KubeError::InvalidPem { attribute, .. } => {
                assert_eq!(attribute, "cluster_ca_certificate");
            }
            other => panic!("{other}"),
        }
        let (certificate, _) = certificate_pair();
        let bad_key = with(KubeSettings {
            client_certificate: Some(certificate.clone()),
            client_key: Some("-----BEGIN NOTHING-----".into()),
            ..KubeSettings::default()
        });
        let error = resolve_config(&bad_key, &env).await.unwrap_err();
        assert!(
            error.to_string().contains("kubernetes.client_key"),
            "{error}"
        );
        let half = with(KubeSettings {
            client_certificate: Some(certificate),
            ..KubeSettings::default()
        });
        let error = resolve_config(&half, &env).await.unwrap_err();
        assert!(matches!(
            error,
            KubeError::IncompleteClientCertificate {
                missing: "client_key",
                ..
            }
        ));
        let no_credentials = with(KubeSettings::default());
        assert!(matches!(
            resolve_config(&no_credentials, &env).await.unwrap_err(),
            KubeError::MissingCredentials
        ));
        let not_url = KubeSettings {
            host: Some("kube.test:6443".into()),
            token: Some("t".into()),
            ..KubeSettings::default()
        };
        assert!(matches!(
            resolve_config(&not_url, &env).await.unwrap_err(),
            KubeError::InvalidHost { .. }
        ));
    }

    /// A mounted service account as the kubelet writes it.
    fn service_account(dir: &std::path::Path, namespace: &str) -> KubeEnvironment {
        let (ca, _) = certificate_pair();
        std::fs::write(dir.join("ca.crt"), ca).unwrap();
        std::fs::write(dir.join("token"), "pod-token").unwrap();
        std::fs::write(dir.join("namespace"), namespace).unwrap();
        KubeEnvironment {
            service: Some(("10.96.0.1".into(), "443".into())),
            service_account_dir: dir.to_owned(),
            ..KubeEnvironment::default()
        }
    }

    #[tokio::test]
    async fn in_a_pod_the_service_account_is_the_last_resort() {
        let dir = tempfile::tempdir().unwrap();
        let env = service_account(dir.path(), "coder-workspaces");
        let nothing = KubeSettings::default();
        assert_eq!(
            choose_source(&nothing, &env).unwrap(),
            KubeSource::InCluster
        );
        let config = resolve_config(&nothing, &env).await.unwrap();
        assert_eq!(config.cluster_url.to_string(), "https://10.96.0.1:443/");
        assert_eq!(config.default_namespace, "coder-workspaces");
        assert_eq!(config.root_cert.as_ref().map(Vec::len), Some(1));
        // The file, not its contents: the kubelet rotates the token.
        assert_eq!(
            config.auth_info.token_file.as_deref(),
            Some(dir.path().join("token").to_str().unwrap())
        );
        build_client(&nothing, &env).await.unwrap();

        // Anything configured comes first.
        let path = KubeSettings {
            config_path: Some("/c".into()),
            ..KubeSettings::default()
        };
        assert!(matches!(
            choose_source(&path, &env).unwrap(),
            KubeSource::ConfigPath(_)
        ));
        // A context given for a kubeconfig that is missing is an error, not
        // the pod's cluster.
        let context = KubeSettings {
            config_context: Some("prod".into()),
            ..KubeSettings::default()
        };
        assert!(matches!(
            choose_source(&context, &env),
            Err(KubeError::NotConfigured { .. })
        ));
        // Without the mounted token, or outside a pod, it is not used.
        std::fs::remove_file(dir.path().join("token")).unwrap();
        assert!(matches!(
            choose_source(&nothing, &env),
            Err(KubeError::NotConfigured { .. })
        ));
        let outside = KubeEnvironment {
            service: None,
            ..service_account(dir.path(), "x")
        };
        assert!(matches!(
            choose_source(&nothing, &outside),
            Err(KubeError::NotConfigured { .. })
        ));
    }

    #[tokio::test]
    async fn an_ipv6_service_host_is_bracketed_and_a_missing_ca_named() {
        let dir = tempfile::tempdir().unwrap();
        let env = KubeEnvironment {
            service: Some(("fd00::1".into(), "6443".into())),
            ..service_account(dir.path(), "")
        };
        let config = resolve_config(&KubeSettings::default(), &env)
            .await
            .unwrap();
        assert_eq!(config.cluster_url.to_string(), "https://[fd00::1]:6443/");
        assert_eq!(config.default_namespace, "default");
        std::fs::remove_file(dir.path().join("ca.crt")).unwrap();
        let error = resolve_config(&KubeSettings::default(), &env)
            .await
            .unwrap_err();
        assert!(
            matches!(error, KubeError::ReadServiceAccount { .. }),
            "{error}"
        );
        assert!(error.to_string().contains("ca.crt"), "{error}");
    }

    #[test]
    fn debug_output_hides_the_token_and_key() {
        let settings = KubeSettings {
            host: Some("https://kube.test".into()),
            token: Some("very-secret-token".into()),
            client_key: Some("very-secret-key".into()),
            ..KubeSettings::default()
        };
        let text = format!("{settings:?}");
        assert!(!text.contains("very-secret"), "{text}");
        assert!(text.contains("https://kube.test"), "{text}");
    }
}
