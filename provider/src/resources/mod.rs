//! The provider's managed resources, one per file.

pub mod coder_template;
pub mod nodegroup;
pub mod registry;
pub mod settings;
pub mod sysbox;

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
