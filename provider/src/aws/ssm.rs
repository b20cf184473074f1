//! SSM Parameter Store: where Canonical publishes its Ubuntu EKS AMI ids.

use super::error::AwsError;

/// The SSM API, as the provider uses it.
#[derive(Clone, Debug)]
pub struct SsmClient {
    inner: aws_sdk_ssm::Client,
}

impl SsmClient {
    /// Wraps an SDK client.
    pub fn new(inner: aws_sdk_ssm::Client) -> Self {
        Self { inner }
    }

    /// The SDK client.
    pub fn sdk(&self) -> &aws_sdk_ssm::Client {
        &self.inner
    }

    /// GetParameter's value; `None` when there is no such parameter.
    pub async fn get_parameter(&self, name: &str) -> Result<Option<String>, AwsError> {
        match self.inner.get_parameter().name(name).send().await {
            Ok(out) => Ok(out.parameter.and_then(|p| p.value)),
            Err(e) => {
                let error = AwsError::from_sdk("GetParameter", format!("SSM parameter {name}"), e);
                if error.is_not_found() {
                    Ok(None)
                } else {
                    Err(error)
                }
            }
        }
    }
}
