//! The `cvm` provider: its configuration block and the data every resource
//! gets from it.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tf_framework::function::Function;
use tf_framework::schema::{Attribute, Block, NestedBlock, Schema};
use tf_framework::validate::{self, Validator};
use tf_framework::{ConfigureRequest, DataSourceHandle, Provider, ResourceHandle};
use tf_protocol::value::{Attr, Type};
use tf_protocol::{AttributePath, Diagnostics, Value};

use crate::aws::config::AwsBlock;
use crate::aws::{AwsClientCell, AwsClients, AwsError, AwsSettings};
use crate::coder::{CoderClient, CoderError};
use crate::data_sources::cluster_check::ClusterCheck;
use crate::data_sources::ubuntu_ami::UbuntuAmi;
use crate::data_sources::workspace_image::WorkspaceImage;
use crate::data_sources::workspace_template::WorkspaceTemplate;
use crate::functions::parse_image_reference::ParseImageReference;
use crate::functions::sysbox_supported::SysboxSupported;
use crate::kube::{KubeClientCell, KubeError, KubeSettings};
use crate::resources::coder_template::CoderTemplateResource;
use crate::resources::image_pull_secret::ImagePullSecretResource;
use crate::resources::nodegroup::NodegroupResource;
use crate::resources::registry::RegistryResource;
use crate::resources::settings::Settings;
use crate::resources::sysbox::SysboxResource;
use crate::resources::workspace::WorkspaceResource;

/// The `cvm` provider.
#[derive(Debug, Default)]
pub struct CvmProvider;

/// The provider block.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// The `coder` block.
    #[serde(default)]
    pub coder: Option<CoderConfig>,
    /// The `kubernetes` block.
    #[serde(default)]
    pub kubernetes: Option<KubernetesConfig>,
    /// The `aws` block.
    #[serde(default)]
    pub aws: Option<AwsBlock>,
}

/// The `kubernetes` block: which cluster to manage and how to authenticate.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesConfig {
    /// Path of a kubeconfig file.
    pub config_path: Attr<String>,
    /// Kubeconfig context to use.
    pub config_context: Attr<String>,
    /// API server URL.
    pub host: Attr<String>,
    /// Bearer token (sensitive).
    pub token: Attr<String>,
    /// PEM client certificate.
    pub client_certificate: Attr<String>,
    /// PEM client key (sensitive).
    pub client_key: Attr<String>,
    /// PEM CA bundle of the API server.
    pub cluster_ca_certificate: Attr<String>,
}

impl KubernetesConfig {
    /// The settings as configured (unknown values count as unset).
    pub fn settings(&self) -> KubeSettings {
        KubeSettings {
            config_path: self.config_path.known().cloned(),
            config_context: self.config_context.known().cloned(),
            host: self.host.known().cloned(),
            token: self.token.known().cloned(),
            client_certificate: self.client_certificate.known().cloned(),
            client_key: self.client_key.known().cloned(),
            cluster_ca_certificate: self.cluster_ca_certificate.known().cloned(),
        }
    }
}

/// The `coder` block: where the Coder deployment is.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoderConfig {
    /// Base URL of the Coder deployment.
    pub url: Attr<String>,
    /// Session token (sensitive).
    pub session_token: Attr<String>,
    /// Extra HTTP headers sent with every request.
    pub headers: Attr<BTreeMap<String, String>>,
}

/// What `configure` produces for the resources.
#[derive(Debug, Default)]
pub struct ProviderData {
    /// The Coder deployment's connection settings.
    pub coder: CoderSettings,
    /// The Coder client, built on first use so that a provider without a
    /// token works until a Coder resource needs one.
    coder_client: OnceLock<CoderClient>,
    /// The Kubernetes connection settings.
    pub kube: KubeSettings,
    /// The Kubernetes client, built on first use like the Coder client.
    kube_client: KubeClientCell,
    /// The AWS settings.
    pub aws: AwsSettings,
    /// The AWS clients, built on first use like the Coder client.
    aws_clients: AwsClientCell,
}

impl ProviderData {
    /// Provider data with these Coder settings.
    pub fn new(coder: CoderSettings) -> Self {
        Self {
            coder,
            coder_client: OnceLock::new(),
            kube: KubeSettings::default(),
            kube_client: KubeClientCell::default(),
            aws: AwsSettings::default(),
            aws_clients: AwsClientCell::default(),
        }
    }

    /// These provider data with these AWS settings.
    pub fn with_aws(mut self, aws: AwsSettings) -> Self {
        self.aws = aws;
        self
    }

    /// The AWS clients; fails with what to set when no region is known.
    pub async fn aws(&self) -> Result<AwsClients, AwsError> {
        self.aws_clients.get_or_build(&self.aws).await
    }

    /// These provider data with these Kubernetes settings.
    pub fn with_kube(mut self, kube: KubeSettings) -> Self {
        self.kube = kube;
        self
    }

    /// The Kubernetes client; fails with what to set when no cluster is
    /// configured.
    pub async fn kube(&self) -> Result<::kube::Client, KubeError> {
        self.kube_client.get_or_build(&self.kube).await
    }

    /// The Kubernetes client for one operation: its calls are retried
    /// until `deadline` and end when `cancel` fires.
    pub async fn kube_cluster(
        &self,
        deadline: std::time::Instant,
        cancel: tokio_util::sync::CancellationToken,
    ) -> Result<crate::kube::Cluster, KubeError> {
        let (client, server) = self.kube_client.get_with_server(&self.kube).await?;
        Ok(crate::kube::Cluster::new(client, server, deadline, cancel))
    }

    /// The Coder client; fails with what to set when the URL or token is
    /// missing.
    pub fn coder(&self) -> Result<CoderClient, CoderError> {
        if let Some(client) = self.coder_client.get() {
            return Ok(client.clone());
        }
        let client = CoderClient::new(&self.coder)?;
        Ok(self.coder_client.get_or_init(|| client).clone())
    }
}

/// Resolved Coder connection settings.
#[derive(Clone, Default)]
pub struct CoderSettings {
    /// Base URL.
    pub url: Option<url::Url>,
    /// Session token.
    pub session_token: Option<String>,
    /// Extra headers.
    pub headers: BTreeMap<String, String>,
}

impl std::fmt::Debug for CoderSettings {
    // The token must never reach a log, whatever the level.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoderSettings")
            .field("url", &self.url.as_ref().map(redacted_url))
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "(sensitive)"),
            )
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// The URL without user information (a password may hide there).
fn redacted_url(url: &url::Url) -> String {
    let mut url = url.clone();
    let _ = url.set_username("");
    let _ = url.set_password(None);
    url.to_string()
}

/// Checks a Coder URL: absolute, http or https, with a host.
pub fn parse_coder_url(text: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(text).map_err(|e| format!("{text:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{text:?} must use http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("{text:?} has no host"));
    }
    Ok(url)
}

/// `coder.url`: see [`parse_coder_url`].
#[derive(Debug)]
struct CoderUrl;

impl Validator for CoderUrl {
    fn description(&self) -> String {
        "must be the http or https base URL of the Coder deployment".to_owned()
    }

    fn validate(&self, value: &Value, path: &AttributePath, diagnostics: &mut Diagnostics) {
        let Value::String(text) = value else { return };
        if let Err(reason) = parse_coder_url(text) {
            diagnostics.attribute_error(
                path.clone(),
                "Invalid Coder URL",
                format!(
                    "{reason}. Set {path} to the deployment's base URL, e.g. https://coder.example.com."
                ),
            );
        }
    }
}

/// `coder.headers`: names that are HTTP header names (RFC 9110 tokens),
/// values a header can carry. Values are never quoted: they often hold
/// credentials.
#[derive(Debug)]
struct HttpHeaders;

impl Validator for HttpHeaders {
    fn description(&self) -> String {
        "must be HTTP headers: names of letters, digits and !#$%&'*+-.^_`|~, values of visible \
         characters, spaces and tabs"
            .to_owned()
    }

    fn validate(&self, value: &Value, path: &AttributePath, diagnostics: &mut Diagnostics) {
        let Value::Map(headers) = value else { return };
        for (name, value) in headers {
            let at = path.clone().key(name.clone());
            if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
                diagnostics.attribute_error(
                    at.clone(),
                    "Invalid Header Name",
                    format!(
                        "{name:?} is not an HTTP header name: a header name is one or more \
                         letters, digits and !#$%&'*+-.^_`|~ (no spaces or colons)."
                    ),
                );
            }
            if let Value::String(text) = value
                && reqwest::header::HeaderValue::from_str(text).is_err()
            {
                diagnostics.attribute_error(
                    at,
                    "Invalid Header Value",
                    format!(
                        "The value of header {name:?} has characters an HTTP header cannot carry: \
                         a header value is visible characters, spaces and tabs, without line breaks."
                    ),
                );
            }
        }
    }
}

/// `kubernetes.host`: see [`crate::kube::client::check_host`].
#[derive(Debug)]
struct KubeHost;

impl Validator for KubeHost {
    fn description(&self) -> String {
        "must be the API server's http or https URL, e.g. https://10.0.0.1:6443".to_owned()
    }

    fn validate(&self, value: &Value, path: &AttributePath, diagnostics: &mut Diagnostics) {
        let Value::String(text) = value else { return };
        // An empty host means "not set": the kubeconfig is used instead.
        if text.is_empty() {
            return;
        }
        if let Err(reason) = crate::kube::client::check_host(text) {
            diagnostics.attribute_error(
                path.clone(),
                "Invalid Kubernetes Host",
                format!(
                    "{path} {text:?} is not a usable API server URL: {reason}. Set it to the API \
                     server's URL, e.g. https://10.0.0.1:6443."
                ),
            );
        }
    }
}

#[async_trait]
impl Provider for CvmProvider {
    type Data = ProviderData;
    type Config = ProviderConfig;

    fn type_name(&self) -> &'static str {
        "cvm"
    }

    fn schema(&self) -> Schema {
        Schema::new(
            Block::new(
                "Makes Kubernetes clusters run Sysbox container-based virtual machines (CVMs) \
                 for Coder workspaces, and configures the Coder deployment to use them.",
            )
            .block(NestedBlock::single(
                "coder",
                Block::new("The Coder deployment to configure.")
                    .attribute(Attribute::string("url").optional().validate(CoderUrl).description(
                        "Base URL of the Coder deployment, e.g. `https://coder.example.com`. \
                         Defaults to the `CODER_URL` environment variable.",
                    ))
                    .attribute(
                        Attribute::string("session_token")
                            .optional()
                            .sensitive()
                            .description(
                                "A Coder session token of a site admin. Defaults to the \
                                 `CODER_SESSION_TOKEN` environment variable.",
                            ),
                    )
                    .attribute(
                        Attribute::map("headers", Type::String)
                            .optional()
                            .validate(HttpHeaders)
                            .description("Extra HTTP headers sent with every request to Coder."),
                    ),
            ))
            .block(crate::aws::config::provider_block())
            .block(NestedBlock::single(
                "kubernetes",
                Block::new(
                    "The Kubernetes cluster to manage. Without `host` or `config_path`, the \
                     kubeconfig files in the `KUBECONFIG` environment variable are used, then \
                     `~/.kube/config`, then, inside a pod (`KUBERNETES_SERVICE_HOST` set, as \
                     where Coder's provisioner runs), the pod's service account: its token \
                     (read again as the kubelet rotates it), CA and namespace.",
                )
                .attribute(Attribute::string("config_path").optional().validate(validate::non_empty()).description(
                    "Path of a kubeconfig file. Used when `host` is not set.",
                ))
                .attribute(Attribute::string("config_context").optional().validate(validate::non_empty()).description(
                    "Kubeconfig context to use instead of the kubeconfig's current context.",
                ))
                .attribute(Attribute::string("host").optional().validate(KubeHost).description(
                    "URL of the Kubernetes API server, e.g. `https://10.0.0.1:6443`. When set, \
                     no kubeconfig is read: give `token` or `client_certificate` and \
                     `client_key`.",
                ))
                .attribute(
                    Attribute::string("token")
                        .optional()
                        .sensitive()
                        .description("Bearer token to authenticate to `host` with."),
                )
                .attribute(Attribute::string("client_certificate").optional().description(
                    "PEM client certificate to authenticate to `host` with; needs `client_key`.",
                ))
                .attribute(
                    Attribute::string("client_key")
                        .optional()
                        .sensitive()
                        .description("PEM private key of `client_certificate`."),
                )
                .attribute(Attribute::string("cluster_ca_certificate").optional().description(
                    "PEM CA certificates that signed the API server's certificate of `host`. \
                     Defaults to the system's trusted roots.",
                )),
            )),
        )
    }

    async fn validate(&self, config: &ProviderConfig, diagnostics: &mut Diagnostics) {
        if let Some(aws) = &config.aws {
            aws.validate(diagnostics);
        }
    }

    async fn configure(
        &self,
        request: ConfigureRequest<ProviderConfig>,
        diagnostics: &mut Diagnostics,
    ) -> Option<ProviderData> {
        tracing::debug!(terraform_version = %request.terraform_version, "configuring the cvm provider");
        let coder = request.config.coder.unwrap_or_default();
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let url_text = coder.url.known().cloned().or_else(|| env("CODER_URL"));
        let url = match url_text {
            Some(text) => match parse_coder_url(&text) {
                Ok(url) => Some(url),
                Err(reason) => {
                    diagnostics.attribute_error(
                        AttributePath::attr("coder").attribute("url"),
                        "Invalid Coder URL",
                        format!(
                            "{reason}. Set coder.url or CODER_URL to the deployment's base URL."
                        ),
                    );
                    None
                }
            },
            None => None,
        };
        let settings = CoderSettings {
            url,
            session_token: coder
                .session_token
                .known()
                .cloned()
                .or_else(|| env("CODER_SESSION_TOKEN")),
            headers: coder.headers.known().cloned().unwrap_or_default(),
        };
        let kube = request
            .config
            .kubernetes
            .as_ref()
            .map(KubernetesConfig::settings)
            .unwrap_or_default();
        tracing::debug!(coder = ?settings, kubernetes = ?kube, "provider configured");
        let aws = request
            .config
            .aws
            .as_ref()
            .map(AwsBlock::settings)
            .unwrap_or_default();
        tracing::debug!(aws = ?aws, "AWS settings");
        Some(ProviderData::new(settings).with_kube(kube).with_aws(aws))
    }

    fn resources(&self) -> Vec<ResourceHandle<ProviderData>> {
        vec![
            ResourceHandle::new(Settings),
            ResourceHandle::new(RegistryResource),
            ResourceHandle::new(NodegroupResource),
            ResourceHandle::new(SysboxResource),
            ResourceHandle::new(CoderTemplateResource),
            ResourceHandle::new(ImagePullSecretResource),
            ResourceHandle::new(WorkspaceResource),
        ]
    }

    fn data_sources(&self) -> Vec<DataSourceHandle<ProviderData>> {
        vec![
            DataSourceHandle::new(WorkspaceImage),
            DataSourceHandle::new(WorkspaceTemplate),
            DataSourceHandle::new(ClusterCheck),
            DataSourceHandle::new(UbuntuAmi),
        ]
    }

    fn functions(&self) -> Vec<Arc<dyn Function>> {
        vec![Arc::new(ParseImageReference), Arc::new(SysboxSupported)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coder_url_must_be_http_with_a_host() {
        assert!(parse_coder_url("https://coder.example.com").is_ok());
        assert!(parse_coder_url("coder.example.com").is_err());
        assert!(parse_coder_url("ftp://coder.example.com").is_err());
        assert!(parse_coder_url("http://").is_err());
    }

    #[test]
    fn debug_output_hides_the_token() {
        let s = CoderSettings {
            url: parse_coder_url("https://admin:url-secret@coder.example.com").ok(),
            session_token: Some("very-secret".into()),
            headers: BTreeMap::new(),
        };
        assert!(!format!("{s:?}").contains("very-secret"));
        assert!(!format!("{s:?}").contains("url-secret"));
    }
}
