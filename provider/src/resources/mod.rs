//! The provider's managed resources, one per file.

pub mod coder_template;
pub mod image_pull_secret;
pub mod nodegroup;
pub mod registry;
pub mod settings;
pub mod sysbox;
pub mod workspace;

use std::future::Future;
use std::time::{Duration, Instant};

use tf_framework::Ctx;

use crate::coder::{CoderClient, CoderError};
use crate::provider::ProviderData;

/// Runs `work` with a Coder client whose retries end after `timeout`, and
/// abandons it when Terraform stops the provider.
pub(crate) async fn with_coder<T, F, Fut>(
    ctx: &Ctx<ProviderData>,
    timeout: Duration,
    work: F,
) -> Result<T, CoderError>
where
    F: FnOnce(CoderClient) -> Fut,
    Fut: Future<Output = Result<T, CoderError>>,
{
    let client = ctx.data().coder()?.with_deadline(Instant::now() + timeout);
    tokio::select! {
        () = ctx.cancellation().cancelled() => Err(CoderError::Cancelled),
        result = work(client) => result,
    }
}

/// The attribute paths of the errors in `diagnostics` (`""` for an error on no
/// attribute), for resource tests.
#[cfg(test)]
pub(crate) fn error_paths(diagnostics: &tf_protocol::Diagnostics) -> Vec<String> {
    diagnostics
        .iter()
        .filter(|d| d.is_error())
        .map(|d| {
            d.attribute
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default()
        })
        .collect()
}

/// [`error_paths`] of what `check` reports for `config`.
#[cfg(test)]
pub(crate) fn check_errors<M>(
    config: &M,
    check: fn(&M, &mut tf_protocol::Diagnostics),
) -> Vec<String> {
    let mut diagnostics = tf_protocol::Diagnostics::new();
    check(config, &mut diagnostics);
    error_paths(&diagnostics)
}
