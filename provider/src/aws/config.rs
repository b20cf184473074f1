//! Where AWS is and who the provider is there: the provider block's `aws`
//! settings resolved with aws-config (the standard credential chain and
//! `AWS_*` variables for whatever the block leaves unset) into an
//! [`SdkConfig`], then one client per service.

use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_eks::config::{Credentials, SharedCredentialsProvider};
use serde::{Deserialize, Serialize};
use tf_framework::schema::{Attribute, Block, NestedBlock};
use tf_framework::{ToDiagnostic, validate};
use tf_protocol::Diagnostics;
use tf_protocol::value::Attr;
use tokio::sync::OnceCell;

use super::ec2::Ec2Client;
use super::eks::EksClient;
use super::error::AwsError;
use super::shared_lookups::SharedLookups;
use super::ssm::SsmClient;

/// Attempts per request (first try included) unless `aws.max_attempts` says
/// otherwise: enough to ride out throttling and brief 5xx bursts.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 8;

/// The `aws` block's settings, as configured.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct AwsSettings {
    /// Region, e.g. `eu-west-1`; else `AWS_REGION` or the profile's.
    pub region: Option<String>,
    /// Shared-config profile; else `AWS_PROFILE`.
    pub profile: Option<String>,
    /// Static access key id.
    pub access_key: Option<String>,
    /// Static secret access key (sensitive).
    pub secret_key: Option<String>,
    /// Session token of temporary static keys (sensitive).
    pub session_token: Option<String>,
    /// A role to assume with the credentials found.
    pub assume_role: Option<AssumeRoleSettings>,
    /// Per-service endpoint overrides.
    pub endpoints: AwsEndpoints,
    /// Attempts per request, first included.
    pub max_attempts: Option<u32>,
}

impl std::fmt::Debug for AwsSettings {
    // Secrets must never reach a log, whatever the level.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |v: &Option<String>| v.as_ref().map(|_| "(sensitive)");
        f.debug_struct("AwsSettings")
            .field("region", &self.region)
            .field("profile", &self.profile)
            .field("access_key", &self.access_key)
            .field("secret_key", &hidden(&self.secret_key))
            .field("session_token", &hidden(&self.session_token))
            .field("assume_role", &self.assume_role)
            .field("endpoints", &self.endpoints)
            .field("max_attempts", &self.max_attempts)
            .finish()
    }
}

/// The `aws.assume_role` block.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AssumeRoleSettings {
    /// ARN of the role.
    pub role_arn: String,
    /// Session name; default chosen by aws-config.
    pub session_name: Option<String>,
    /// External id the role's trust policy asks for.
    pub external_id: Option<String>,
}

/// The `aws.endpoints` block: URLs that replace the services' endpoints
/// (e.g. a moto server on loopback).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AwsEndpoints {
    /// EKS endpoint.
    pub eks: Option<String>,
    /// EC2 endpoint.
    pub ec2: Option<String>,
    /// SSM endpoint.
    pub ssm: Option<String>,
    /// STS endpoint (used to assume a role).
    pub sts: Option<String>,
}

impl AwsEndpoints {
    /// Checks every endpoint is an absolute http(s) URL with a host.
    pub fn validate(&self) -> Result<(), AwsError> {
        for (service, url) in [
            ("eks", &self.eks),
            ("ec2", &self.ec2),
            ("ssm", &self.ssm),
            ("sts", &self.sts),
        ] {
            if let Some(url) = url {
                check_endpoint(service, url)?;
            }
        }
        Ok(())
    }
}

/// Checks one endpoint URL.
pub fn check_endpoint(service: &str, text: &str) -> Result<(), AwsError> {
    let invalid = |reason: String| AwsError::InvalidSetting {
        attribute: format!("endpoints.{service}"),
        value: text.to_owned(),
        reason,
    };
    let url = url::Url::parse(text).map_err(|e| invalid(format!("it is not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(
            "it must use https (or http), e.g. http://127.0.0.1:5000".into(),
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("it has no host".into()));
    }
    Ok(())
}

/// The trimmed value, unless empty.
fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// Checks the settings that can be judged without the environment.
pub fn check_settings(settings: &AwsSettings) -> Result<(), AwsError> {
    match (
        non_empty(&settings.access_key),
        non_empty(&settings.secret_key),
    ) {
        (Some(_), None) => {
            return Err(AwsError::IncompleteStaticCredentials {
                present: "access_key",
                missing: "secret_key",
            });
        }
        (None, Some(_)) => {
            return Err(AwsError::IncompleteStaticCredentials {
                present: "secret_key",
                missing: "access_key",
            });
        }
        _ => {}
    }
    if settings.max_attempts == Some(0) {
        return Err(AwsError::InvalidSetting {
            attribute: "max_attempts".into(),
            value: "0".into(),
            reason: "it counts the first try, so it must be at least 1".into(),
        });
    }
    if let Some(role) = &settings.assume_role
        && !role.role_arn.starts_with("arn:")
    {
        return Err(AwsError::InvalidSetting {
            attribute: "assume_role.role_arn".into(),
            value: role.role_arn.clone(),
            reason: "it must be an IAM role ARN such as arn:aws:iam::123456789012:role/name".into(),
        });
    }
    settings.endpoints.validate()
}

/// The retry policy of every client: standard mode (exponential backoff
/// with jitter on throttling, 5xx and network errors).
pub fn retry_config(settings: &AwsSettings) -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(settings.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS))
        .with_initial_backoff(Duration::from_millis(500))
        .with_max_backoff(Duration::from_secs(20))
}

/// Loads the shared configuration: the block's settings first, then
/// aws-config's standard chain (environment, profile files, SSO cache,
/// container and instance metadata) for what they leave unset. Reads files
/// but sends no request, except to assume a role lazily later.
pub async fn load_sdk_config(settings: &AwsSettings) -> Result<SdkConfig, AwsError> {
    check_settings(settings)?;
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(retry_config(settings))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(10))
                .operation_attempt_timeout(Duration::from_secs(60))
                .build(),
        );
    if let Some(region) = non_empty(&settings.region) {
        loader = loader.region(Region::new(region.to_owned()));
    }
    if let Some(profile) = non_empty(&settings.profile) {
        loader = loader.profile_name(profile);
    }
    if let (Some(access_key), Some(secret_key)) = (
        non_empty(&settings.access_key),
        non_empty(&settings.secret_key),
    ) {
        loader = loader.credentials_provider(Credentials::new(
            access_key,
            secret_key,
            non_empty(&settings.session_token).map(str::to_owned),
            None,
            "cvm-provider-block",
        ));
    }
    let config = loader.load().await;
    if config.region().is_none() {
        return Err(AwsError::MissingRegion);
    }
    let Some(role) = &settings.assume_role else {
        return Ok(config);
    };
    let mut sts_config = config.clone();
    if let Some(sts) = non_empty(&settings.endpoints.sts) {
        sts_config = sts_config.into_builder().endpoint_url(sts).build();
    }
    let mut builder =
        aws_config::sts::AssumeRoleProvider::builder(role.role_arn.clone()).configure(&sts_config);
    if let Some(name) = non_empty(&role.session_name) {
        builder = builder.session_name(name);
    }
    if let Some(id) = non_empty(&role.external_id) {
        builder = builder.external_id(id);
    }
    let provider = builder.build().await;
    Ok(config
        .into_builder()
        .credentials_provider(SharedCredentialsProvider::new(provider))
        .build())
}

/// The provider block's `aws` block, as Terraform sends it.
#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AwsBlock {
    /// Region.
    pub region: Attr<String>,
    /// Shared-config profile.
    pub profile: Attr<String>,
    /// Static access key id.
    pub access_key: Attr<String>,
    /// Static secret access key (sensitive).
    pub secret_key: Attr<String>,
    /// Session token (sensitive).
    pub session_token: Attr<String>,
    /// Attempts per request.
    pub max_attempts: Attr<i64>,
    /// The `assume_role` block.
    #[serde(default)]
    pub assume_role: Option<AssumeRoleBlock>,
    /// The `endpoints` block.
    #[serde(default)]
    pub endpoints: Option<EndpointsBlock>,
}

impl std::fmt::Debug for AwsBlock {
    // Secrets must never reach a log, whatever the level.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.settings().fmt(f)
    }
}

/// The `aws.assume_role` block.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssumeRoleBlock {
    /// Role ARN.
    pub role_arn: Attr<String>,
    /// Session name.
    pub session_name: Attr<String>,
    /// External id.
    pub external_id: Attr<String>,
}

/// The `aws.endpoints` block.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointsBlock {
    /// EKS endpoint URL.
    pub eks: Attr<String>,
    /// EC2 endpoint URL.
    pub ec2: Attr<String>,
    /// SSM endpoint URL.
    pub ssm: Attr<String>,
    /// STS endpoint URL.
    pub sts: Attr<String>,
}

impl AwsBlock {
    /// The settings as configured (unknown values count as unset).
    pub fn settings(&self) -> AwsSettings {
        let endpoints = self.endpoints.as_ref();
        let endpoint =
            |f: fn(&EndpointsBlock) -> &Attr<String>| endpoints.and_then(|e| f(e).known().cloned());
        AwsSettings {
            region: self.region.known().cloned(),
            profile: self.profile.known().cloned(),
            access_key: self.access_key.known().cloned(),
            secret_key: self.secret_key.known().cloned(),
            session_token: self.session_token.known().cloned(),
            assume_role: self.assume_role.as_ref().and_then(|role| {
                Some(AssumeRoleSettings {
                    role_arn: role.role_arn.known()?.clone(),
                    session_name: role.session_name.known().cloned(),
                    external_id: role.external_id.known().cloned(),
                })
            }),
            endpoints: AwsEndpoints {
                eks: endpoint(|e| &e.eks),
                ec2: endpoint(|e| &e.ec2),
                ssm: endpoint(|e| &e.ssm),
                sts: endpoint(|e| &e.sts),
            },
            max_attempts: self
                .max_attempts
                .known()
                .map(|n| u32::try_from(*n).unwrap_or(0)),
        }
    }

    /// Checks the known settings, with diagnostics on their attributes.
    pub fn validate(&self, diagnostics: &mut Diagnostics) {
        if let Err(e) = check_settings(&self.settings()) {
            diagnostics.push(e.to_diagnostic(None));
        }
    }
}

/// The provider schema's `aws` block.
pub fn provider_block() -> NestedBlock {
    let endpoint = |service: &str, name: &str| {
        Attribute::string(service).optional().description(format!(
            "URL replacing the {name} endpoint, e.g. `http://127.0.0.1:5000` for a local moto \
             server. Defaults to `AWS_ENDPOINT_URL_{}` or `AWS_ENDPOINT_URL`, else AWS's own.",
            service.to_uppercase()
        ))
    };
    NestedBlock::single(
        "aws",
        Block::new(
            "The AWS account and region of EKS clusters. What the block leaves unset comes from \
             the standard AWS chain: `AWS_*` environment variables, the shared config and \
             credentials files, SSO, container and instance credentials.",
        )
        .attribute(
            Attribute::string("region")
                .optional()
                .validate(validate::matches(
                    r"^[a-z]{2}(-[a-z]+)+-[0-9]+$",
                    "must be an AWS region code such as eu-west-1 or us-gov-west-1",
                ))
                .description(
                    "AWS region, e.g. `eu-west-1`. Defaults to `AWS_REGION` or the profile's region.",
                ),
        )
        .attribute(
            Attribute::string("profile")
                .optional()
                .validate(validate::non_empty())
                .description("Profile of the shared AWS config files. Defaults to `AWS_PROFILE`."),
        )
        .attribute(Attribute::string("access_key").optional().description(
            "Static access key id; needs `secret_key`. Defaults to `AWS_ACCESS_KEY_ID`.",
        ))
        .attribute(
            Attribute::string("secret_key")
                .optional()
                .sensitive()
                .description("Static secret access key of `access_key`."),
        )
        .attribute(
            Attribute::string("session_token")
                .optional()
                .sensitive()
                .description("Session token of temporary static keys."),
        )
        .attribute(
            Attribute::number("max_attempts")
                .optional()
                .validate(validate::between(1, 25))
                .description(format!(
                    "Attempts per AWS request, the first included; throttling, server errors \
                     and network failures are retried with exponential backoff. Default \
                     `{DEFAULT_MAX_ATTEMPTS}`."
                )),
        )
        .block(
            NestedBlock::single(
                "assume_role",
                Block::new("A role to assume with the credentials found.")
                    .attribute(
                        Attribute::string("role_arn")
                            .required()
                            .validate(validate::matches(
                                r"^arn:[a-z-]+:iam::[0-9]{12}:role/.+$",
                                "must be an IAM role ARN such as arn:aws:iam::123456789012:role/terraform",
                            ))
                            .description("ARN of the role."),
                    )
                    .attribute(
                        Attribute::string("session_name")
                            .optional()
                            // IAM's rule for RoleSessionName.
                            .validate(validate::matches(
                                r"^[\w+=,.@-]{2,64}$",
                                "must be 2 to 64 letters, digits and the characters +=,.@_-",
                            ))
                            .description("Name of the role session."),
                    )
                    .attribute(
                        Attribute::string("external_id")
                            .optional()
                            // IAM's rule for ExternalId.
                            .validate(validate::matches(
                                r"^[\w+=,.@:/-]{2,1224}$",
                                "must be 2 to 1224 letters, digits and the characters +=,.@:/_-",
                            ))
                            .description("External id the role's trust policy requires."),
                    ),
            ),
        )
        .block(NestedBlock::single(
            "endpoints",
            Block::new("Endpoint overrides, e.g. to test against moto.")
                .attribute(endpoint("eks", "EKS"))
                .attribute(endpoint("ec2", "EC2"))
                .attribute(endpoint("ssm", "SSM"))
                .attribute(endpoint("sts", "STS")),
        )),
    )
}

/// One client per AWS service the provider uses.
#[derive(Clone, Debug)]
pub struct AwsClients {
    /// EKS.
    pub eks: EksClient,
    /// EC2 (launch templates).
    pub ec2: Ec2Client,
    /// SSM Parameter Store (AMI ids).
    pub ssm: SsmClient,
    /// The region in use.
    pub region: String,
    /// Lookups shared by every create of this provider process (the clients
    /// are cloned, this is not).
    pub shared: Arc<SharedLookups>,
}

impl AwsClients {
    /// Clients for `config`, with the endpoint overrides of `endpoints`.
    pub fn new(config: &SdkConfig, endpoints: &AwsEndpoints) -> Self {
        let mut eks = aws_sdk_eks::config::Builder::from(config);
        if let Some(url) = non_empty(&endpoints.eks) {
            eks = eks.endpoint_url(url);
        }
        let mut ec2 = aws_sdk_ec2::config::Builder::from(config);
        if let Some(url) = non_empty(&endpoints.ec2) {
            ec2 = ec2.endpoint_url(url);
        }
        let mut ssm = aws_sdk_ssm::config::Builder::from(config);
        if let Some(url) = non_empty(&endpoints.ssm) {
            ssm = ssm.endpoint_url(url);
        }
        Self {
            eks: EksClient::new(aws_sdk_eks::Client::from_conf(eks.build())),
            ec2: Ec2Client::new(aws_sdk_ec2::Client::from_conf(ec2.build())),
            ssm: SsmClient::new(aws_sdk_ssm::Client::from_conf(ssm.build())),
            region: config.region().map(ToString::to_string).unwrap_or_default(),
            shared: Arc::default(),
        }
    }
}

/// Builds the clients from the settings and the environment. Sends no
/// request.
pub async fn build_clients(settings: &AwsSettings) -> Result<AwsClients, AwsError> {
    let config = load_sdk_config(settings).await?;
    Ok(AwsClients::new(&config, &settings.endpoints))
}

/// AWS clients built on first use and shared afterwards, so that a provider
/// without AWS settings works until an AWS resource needs them.
#[derive(Default)]
pub struct AwsClientCell(OnceCell<AwsClients>);

impl AwsClientCell {
    /// The clients, built the first time. A failure is not cached: the next
    /// call tries again.
    pub async fn get_or_build(&self, settings: &AwsSettings) -> Result<AwsClients, AwsError> {
        self.0
            .get_or_try_init(|| build_clients(settings))
            .await
            .cloned()
    }
}

impl std::fmt::Debug for AwsClientCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = if self.0.initialized() {
            "built"
        } else {
            "not built"
        };
        f.debug_tuple("AwsClientCell").field(&state).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn static_keys() -> AwsSettings {
        AwsSettings {
            region: Some("eu-west-1".into()),
            access_key: Some("AKIDTEST".into()),
            secret_key: Some("very-secret-key".into()),
            session_token: Some("very-secret-token".into()),
            ..AwsSettings::default()
        }
    }

    #[test]
    fn debug_output_hides_secrets() {
        let text = format!("{:?}", static_keys());
        assert!(!text.contains("very-secret"), "{text}");
        assert!(text.contains("eu-west-1"), "{text}");
    }

    #[test]
    fn half_a_key_pair_names_the_missing_half() {
        let settings = AwsSettings {
            access_key: Some("AKID".into()),
            ..AwsSettings::default()
        };
        match check_settings(&settings) {
            Err(AwsError::IncompleteStaticCredentials { missing, .. }) => {
                assert_eq!(missing, "secret_key");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn endpoints_must_be_http_urls() {
        assert!(check_endpoint("eks", "http://127.0.0.1:5000").is_ok());
        assert!(check_endpoint("eks", "https://eks.eu-west-1.amazonaws.com").is_ok());
        for bad in ["127.0.0.1:5000", "ftp://x", "not a url"] {
            let error = check_endpoint("ssm", bad).unwrap_err();
            assert!(error.to_string().contains("aws.endpoints.ssm"), "{error}");
        }
        let settings = AwsSettings {
            max_attempts: Some(0),
            ..AwsSettings::default()
        };
        assert!(check_settings(&settings).is_err());
        let settings = AwsSettings {
            assume_role: Some(AssumeRoleSettings {
                role_arn: "admin".into(),
                ..AssumeRoleSettings::default()
            }),
            ..AwsSettings::default()
        };
        assert!(check_settings(&settings).is_err());
    }

    #[test]
    fn retries_use_standard_mode_with_several_attempts() {
        let config = retry_config(&AwsSettings::default());
        assert_eq!(config.mode(), aws_config::retry::RetryMode::Standard);
        assert_eq!(config.max_attempts(), DEFAULT_MAX_ATTEMPTS);
        let config = retry_config(&AwsSettings {
            max_attempts: Some(3),
            ..AwsSettings::default()
        });
        assert_eq!(config.max_attempts(), 3);
    }

    #[tokio::test]
    async fn static_keys_region_and_endpoints_reach_the_clients() {
        let mut settings = static_keys();
        settings.endpoints.eks = Some("http://127.0.0.1:5055".into());
        settings.assume_role = Some(AssumeRoleSettings {
            role_arn: "arn:aws:iam::123456789012:role/terraform".into(),
            session_name: Some("cvm".into()),
            external_id: None,
        });
        settings.endpoints.sts = Some("http://127.0.0.1:5055".into());
        let clients = build_clients(&settings).await.unwrap();
        assert_eq!(clients.region, "eu-west-1");
        let eks = clients.eks.sdk().config();
        assert_eq!(
            eks.region().map(ToString::to_string).as_deref(),
            Some("eu-west-1")
        );
    }
}
