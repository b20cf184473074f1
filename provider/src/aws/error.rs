//! Every way talking to AWS fails, and how each reads to a Terraform user.
//!
//! SDK errors are classified once, in [`AwsError::from_sdk`]: throttling,
//! server errors and network failures are [`retryable`](AwsError::retryable)
//! (the SDK has already retried them with backoff; the waiters keep polling
//! through them), everything else is reported at once.

use std::time::Duration;

use aws_sdk_eks::config::http::HttpResponse;
use aws_sdk_eks::error::{BoxError, ProvideErrorMetadata, SdkError};
use tf_framework::ToDiagnostic;
use tf_framework::diagnostic::{capitalised, error_chain};
use tf_protocol::{AttributePath, Diagnostic};

/// Error codes AWS services use for throttling.
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
    "BandwidthLimitExceeded",
];

/// Error codes that mean "this object does not exist".
const NOT_FOUND_CODES: &[&str] = &[
    "ResourceNotFoundException",
    "NotFoundException",
    "ParameterNotFound",
    "ParameterVersionNotFound",
    "InvalidLaunchTemplateId.NotFound",
    "InvalidLaunchTemplateName.NotFoundException",
    "InvalidLaunchTemplateId.VersionNotFound",
];

/// Error codes that mean the caller's identity may not do this.
const ACCESS_DENIED_CODES: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnauthorizedException",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AuthFailure",
    "ExpiredToken",
    "ExpiredTokenException",
    "RequestExpired",
];

/// What kind of failure an AWS API error is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiErrorKind {
    /// The service throttled the request (retryable).
    Throttling,
    /// The service failed (HTTP 5xx; retryable).
    ServerError,
    /// The request never got an answer: connection, DNS or TLS failure, or
    /// a timeout (retryable).
    Network,
    /// No credentials could be found or they could not be used.
    Credentials,
    /// The identity is not allowed to do this, or its keys are invalid.
    AccessDenied,
    /// The object does not exist.
    NotFound,
    /// The object already exists or is busy.
    Conflict,
    /// The endpoint does not implement the operation (an HTTP 404 without
    /// an AWS error code, as moto answers for operations it lacks).
    Unsupported,
    /// The request was refused as invalid.
    InvalidRequest,
    /// Anything else.
    Other,
}

impl ApiErrorKind {
    /// Whether trying again later may succeed.
    pub fn retryable(self) -> bool {
        matches!(self, Self::Throttling | Self::ServerError | Self::Network)
    }
}

/// How an SDK request failed, before any answer was parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// The request could not be built (often: no credentials).
    Construction,
    /// It could not be sent, or no answer came.
    Dispatch,
    /// It timed out.
    Timeout,
    /// An answer came (it may not have parsed).
    Answered,
}

/// Classifies an AWS error from its code, HTTP status and transport outcome.
pub fn classify(code: Option<&str>, status: Option<u16>, transport: Transport) -> ApiErrorKind {
    match transport {
        Transport::Construction => return ApiErrorKind::Credentials,
        Transport::Dispatch | Transport::Timeout => return ApiErrorKind::Network,
        Transport::Answered => {}
    }
    if let Some(code) = code {
        if THROTTLING_CODES.contains(&code) {
            return ApiErrorKind::Throttling;
        }
        if NOT_FOUND_CODES.contains(&code) || code.ends_with(".NotFound") {
            return ApiErrorKind::NotFound;
        }
        if ACCESS_DENIED_CODES.contains(&code) {
            return ApiErrorKind::AccessDenied;
        }
        if matches!(
            code,
            "ResourceInUseException" | "ResourceLimitExceededException" | "ConflictException"
        ) || code.ends_with(".AlreadyExistsException")
            || code.ends_with(".InUse")
        {
            return ApiErrorKind::Conflict;
        }
        if matches!(
            code,
            "ServerException"
                | "ServiceUnavailableException"
                | "InternalFailure"
                | "InternalError"
                | "InternalServerError"
                | "ServiceUnavailable"
                | "Unavailable"
        ) {
            return ApiErrorKind::ServerError;
        }
    }
    match status {
        Some(429) => ApiErrorKind::Throttling,
        Some(500..=599) => ApiErrorKind::ServerError,
        Some(404) if code.is_none_or(|c| !c.ends_with("Exception")) => ApiErrorKind::Unsupported,
        Some(400..=499) if code.is_some() => ApiErrorKind::InvalidRequest,
        _ => ApiErrorKind::Other,
    }
}

/// An error while configuring or calling AWS. Secrets (keys, tokens)
/// never appear in it.
#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    /// No region in the provider block, the environment or the profile.
    #[error(
        "no AWS region configured: set aws.region in the provider block, or the AWS_REGION \
         environment variable, or a region in the AWS profile"
    )]
    MissingRegion,
    /// One half of a static key pair is set.
    #[error("of aws.{present} and aws.{missing}, only {present} is set: set both or neither")]
    IncompleteStaticCredentials {
        /// The attribute that is set.
        present: &'static str,
        /// The attribute that is missing.
        missing: &'static str,
    },
    /// A provider-block setting is not usable.
    #[error("the value {value:?} of aws.{attribute} is not usable: {reason}")]
    InvalidSetting {
        /// Attribute path inside the `aws` block, e.g. `endpoints.eks`.
        attribute: String,
        /// The configured value (never a secret).
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An API call failed.
    #[error("{operation} on {target} failed{}", api_detail(.code.as_deref(), .message.as_deref(), *.status))]
    Api {
        /// The API operation, e.g. `CreateNodegroup`.
        operation: &'static str,
        /// What it was about, e.g. `EKS node group demo:ubuntu`.
        target: String,
        /// The classification.
        kind: ApiErrorKind,
        /// AWS error code.
        code: Option<String>,
        /// AWS error message.
        message: Option<String>,
        /// HTTP status of the answer, if one came.
        status: Option<u16>,
        /// The SDK error.
        #[source]
        source: BoxError,
    },
    /// A wait did not reach its goal within the time limit.
    #[error(
        "timed out after {} waiting for {what}; last seen: {last_seen}",
        humantime::format_duration(*.waited)
    )]
    Timeout {
        /// What was awaited, e.g. `EKS node group demo:ubuntu to become ACTIVE`.
        what: String,
        /// How long the wait lasted.
        waited: Duration,
        /// The last status observed.
        last_seen: String,
    },
    /// Terraform asked the provider to stop during a wait.
    #[error("stopped by Terraform while waiting for {what}")]
    Cancelled {
        /// What was awaited.
        what: String,
    },
    /// A node group reached a failed state.
    #[error(
        "EKS node group {nodegroup} is {status}{}",
        issues_detail(.issues)
    )]
    NodegroupFailed {
        /// `cluster:name`.
        nodegroup: String,
        /// `CREATE_FAILED`, `DEGRADED`, `DELETE_FAILED`...
        status: String,
        /// Health issues, one line each (`code: message (resources)`).
        issues: Vec<String>,
    },
    /// An EKS update ended as `Failed` or `Cancelled`.
    #[error(
        "EKS update {update_id} ({update_type}) of node group {nodegroup} ended {status}{}",
        issues_detail(.errors)
    )]
    UpdateFailed {
        /// `cluster:name`.
        nodegroup: String,
        /// The update id.
        update_id: String,
        /// The update type, e.g. `VersionUpdate`.
        update_type: String,
        /// `Failed` or `Cancelled`.
        status: String,
        /// The update's errors, one line each.
        errors: Vec<String>,
    },
    /// An answer lacked something it always has (a bug in the endpoint or
    /// the provider).
    #[error("{operation} returned no {field}")]
    MissingField {
        /// The API operation.
        operation: &'static str,
        /// What was missing.
        field: &'static str,
    },
}

fn api_detail(code: Option<&str>, message: Option<&str>, status: Option<u16>) -> String {
    match (code, message, status) {
        (Some(code), Some(message), _) => format!(": {code}: {message}"),
        (Some(code), None, _) => format!(": {code}"),
        (None, Some(message), _) if !message.trim().is_empty() => format!(": {message}"),
        (None, _, Some(status)) => format!(": HTTP {status}"),
        _ => String::new(),
    }
}

fn issues_detail(issues: &[String]) -> String {
    if issues.is_empty() {
        " (AWS reported no details)".to_owned()
    } else {
        format!(": {}", issues.join("; "))
    }
}

impl AwsError {
    /// Classifies an SDK error of `operation` about `target`.
    pub fn from_sdk<E>(
        operation: &'static str,
        target: impl Into<String>,
        error: SdkError<E, HttpResponse>,
    ) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let transport = match &error {
            SdkError::ConstructionFailure(_) => Transport::Construction,
            SdkError::DispatchFailure(_) => Transport::Dispatch,
            SdkError::TimeoutError(_) => Transport::Timeout,
            _ => Transport::Answered,
        };
        let code = error.code().map(str::to_owned);
        let message = error.message().map(str::to_owned);
        let status = error.raw_response().map(|r| r.status().as_u16());
        let kind = classify(code.as_deref(), status, transport);
        Self::Api {
            operation,
            target: target.into(),
            kind,
            code,
            message,
            status,
            source: Box::new(error),
        }
    }

    /// The classification of an API error; `None` for other errors.
    pub fn kind(&self) -> Option<ApiErrorKind> {
        match self {
            Self::Api { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// Whether trying again later may succeed (throttling, 5xx, network).
    pub fn retryable(&self) -> bool {
        self.kind().is_some_and(ApiErrorKind::retryable)
    }

    /// Whether the object the call was about does not exist.
    pub fn is_not_found(&self) -> bool {
        self.kind() == Some(ApiErrorKind::NotFound)
    }

    /// The `aws` block attribute this error is about, if one.
    fn attribute(&self) -> Option<AttributePath> {
        let aws = AttributePath::attr("aws");
        match self {
            Self::MissingRegion => Some(aws.attribute("region")),
            Self::IncompleteStaticCredentials { missing, .. } => Some(aws.attribute(*missing)),
            Self::InvalidSetting { attribute, .. } => {
                let mut path = aws;
                for part in attribute.split('.') {
                    path = path.attribute(part);
                }
                Some(path)
            }
            _ => None,
        }
    }

    fn summary_and_advice(&self) -> (String, String) {
        match self {
            Self::MissingRegion => ("Missing AWS Region".into(), String::new()),
            Self::IncompleteStaticCredentials { .. } => {
                ("Incomplete AWS Credentials".into(), String::new())
            }
            Self::InvalidSetting { .. } => ("Invalid AWS Setting".into(), String::new()),
            Self::Api {
                operation, kind, ..
            } => {
                let advice = match kind {
                    ApiErrorKind::Throttling => {
                        "AWS kept throttling the request although it was retried with backoff: \
                         apply again, lower -parallelism, or raise aws.max_attempts."
                    }
                    ApiErrorKind::ServerError => {
                        "AWS kept failing although the request was retried with backoff: apply \
                         again later."
                    }
                    ApiErrorKind::Network => {
                        "No answer came from AWS: check network access, the region, and any \
                         endpoint override (aws.endpoints or AWS_ENDPOINT_URL)."
                    }
                    ApiErrorKind::Credentials => {
                        "Check the AWS credentials: set aws.access_key and aws.secret_key, or \
                         aws.profile, or the AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY or \
                         AWS_PROFILE environment variables."
                    }
                    ApiErrorKind::AccessDenied => {
                        "The AWS identity in use may not do this, or its keys are invalid: check \
                         the credentials and grant the IAM permission for this operation."
                    }
                    ApiErrorKind::NotFound => {
                        "It does not exist in this account and region: check the names and \
                         aws.region."
                    }
                    ApiErrorKind::Conflict => {
                        "It already exists or is busy: import it, choose another name, or wait \
                         for the running operation to finish."
                    }
                    ApiErrorKind::Unsupported => {
                        "The endpoint does not implement this operation (moto, for one, lacks \
                         UpdateNodegroupVersion and DescribeUpdate); use the real AWS endpoint."
                    }
                    ApiErrorKind::InvalidRequest => {
                        "AWS refused the request: check the attribute values named in the \
                         message."
                    }
                    ApiErrorKind::Other => "",
                };
                (format!("AWS {operation} Failed"), advice.to_owned())
            }
            Self::Timeout { .. } => (
                "AWS Operation Timed Out".into(),
                "Raise the resource's timeouts, or look at the object in the AWS console; \
                 the next apply picks up where this one stopped."
                    .into(),
            ),
            Self::Cancelled { .. } => ("Stopped While Waiting for AWS".into(), String::new()),
            Self::NodegroupFailed { .. } => (
                "EKS Node Group Failed".into(),
                "Fix the causes above (IAM role policies, subnets, AMI, user data); the node \
                 group is kept in state as tainted and replaced on the next apply."
                    .into(),
            ),
            Self::UpdateFailed { .. } => (
                "EKS Node Group Update Failed".into(),
                "Fix the causes above and apply again.".into(),
            ),
            Self::MissingField { .. } => (
                "Unexpected AWS Answer".into(),
                "This is a bug in the endpoint or in the provider; please report it.".into(),
            ),
        }
    }
}

impl ToDiagnostic for AwsError {
    fn to_diagnostic(&self, attribute: Option<AttributePath>) -> Diagnostic {
        let (summary, advice) = self.summary_and_advice();
        // An answer with an AWS error code already says it all (the SDK's
        // own chain would repeat it as a debug dump), and the SDK's parse
        // failure of an HTML 404 says nothing useful.
        let answered = matches!(self, Self::Api { code: Some(_), .. });
        let text = if answered || self.kind() == Some(ApiErrorKind::Unsupported) {
            self.to_string()
        } else {
            error_chain(self)
        };
        let mut detail = capitalised(&text);
        if !detail.ends_with('.') {
            detail.push('.');
        }
        if !advice.is_empty() {
            detail.push(' ');
            detail.push_str(&advice);
        }
        let diagnostic = Diagnostic::error(summary, detail);
        match attribute.or_else(|| self.attribute()) {
            Some(path) => diagnostic.at(path),
            None => diagnostic,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_server_errors_and_network_failures_are_retryable() {
        let answered =
            |code: Option<&str>, status| classify(code, Some(status), Transport::Answered);
        assert_eq!(
            answered(Some("ThrottlingException"), 400),
            ApiErrorKind::Throttling
        );
        assert_eq!(
            answered(Some("RequestLimitExceeded"), 503),
            ApiErrorKind::Throttling
        );
        assert_eq!(answered(None, 429), ApiErrorKind::Throttling);
        assert_eq!(answered(None, 502), ApiErrorKind::ServerError);
        assert_eq!(
            answered(Some("ServerException"), 500),
            ApiErrorKind::ServerError
        );
        assert_eq!(
            classify(None, None, Transport::Dispatch),
            ApiErrorKind::Network
        );
        assert_eq!(
            classify(None, None, Transport::Timeout),
            ApiErrorKind::Network
        );
        for kind in [
            ApiErrorKind::Throttling,
            ApiErrorKind::ServerError,
            ApiErrorKind::Network,
        ] {
            assert!(kind.retryable(), "{kind:?}");
        }
        for kind in [
            ApiErrorKind::NotFound,
            ApiErrorKind::AccessDenied,
            ApiErrorKind::InvalidRequest,
            ApiErrorKind::Credentials,
            ApiErrorKind::Unsupported,
        ] {
            assert!(!kind.retryable(), "{kind:?}");
        }
    }

    #[test]
    fn not_found_conflict_and_unsupported_are_told_apart() {
        let answered =
            |code: Option<&str>, status| classify(code, Some(status), Transport::Answered);
        assert_eq!(
            answered(Some("ResourceNotFoundException"), 404),
            ApiErrorKind::NotFound
        );
        assert_eq!(
            answered(Some("ParameterNotFound"), 400),
            ApiErrorKind::NotFound
        );
        assert_eq!(
            answered(Some("InvalidLaunchTemplateId.NotFound"), 400),
            ApiErrorKind::NotFound
        );
        assert_eq!(
            answered(Some("ResourceInUseException"), 409),
            ApiErrorKind::Conflict
        );
        // moto answers operations it lacks with a bare HTML 404.
        assert_eq!(answered(None, 404), ApiErrorKind::Unsupported);
        assert_eq!(
            answered(Some("InvalidParameterException"), 400),
            ApiErrorKind::InvalidRequest
        );
        assert_eq!(
            answered(Some("AccessDeniedException"), 403),
            ApiErrorKind::AccessDenied
        );
        assert_eq!(
            classify(None, None, Transport::Construction),
            ApiErrorKind::Credentials
        );
    }

    #[test]
    fn diagnostics_say_what_to_do() {
        let error = AwsError::Api {
            operation: "CreateNodegroup",
            target: "EKS node group demo:ubuntu".into(),
            kind: ApiErrorKind::Throttling,
            code: Some("ThrottlingException".into()),
            message: Some("Rate exceeded".into()),
            status: Some(400),
            source: "throttled".into(),
        };
        assert!(error.retryable());
        let d = error.to_diagnostic(None);
        assert_eq!(d.summary, "AWS CreateNodegroup Failed");
        assert!(d.detail.starts_with("CreateNodegroup on EKS node group demo:ubuntu failed: ThrottlingException: Rate exceeded"), "{}", d.detail);
        assert!(d.detail.contains("-parallelism"), "{}", d.detail);

        let d = AwsError::MissingRegion.to_diagnostic(None);
        assert_eq!(
            d.attribute,
            Some(AttributePath::attr("aws").attribute("region"))
        );
        assert!(d.detail.contains("AWS_REGION"));

        let d = AwsError::InvalidSetting {
            attribute: "endpoints.eks".into(),
            value: "localhost".into(),
            reason: "it is not a URL".into(),
        }
        .to_diagnostic(None);
        assert_eq!(
            d.attribute,
            Some(
                AttributePath::attr("aws")
                    .attribute("endpoints")
                    .attribute("eks")
            )
        );
    }

    #[test]
    fn failed_node_groups_list_their_health_issues() {
        let error = AwsError::NodegroupFailed {
            nodegroup: "demo:ubuntu".into(),
            status: "CREATE_FAILED".into(),
            issues: vec![
                "NodeCreationFailure: Instances failed to join the kubernetes cluster (i-0abc)"
                    .into(),
                "AmiIdNotFound: AMI not found (lt-1)".into(),
            ],
        };
        let d = error.to_diagnostic(None);
        assert_eq!(d.summary, "EKS Node Group Failed");
        assert!(
            d.detail.contains("CREATE_FAILED: NodeCreationFailure"),
            "{}",
            d.detail
        );
        assert!(d.detail.contains("; AmiIdNotFound"), "{}", d.detail);
        assert!(
            d.detail.contains("replaced on the next apply"),
            "{}",
            d.detail
        );
    }
}
