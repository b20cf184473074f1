//! What every operation gets besides its request: the provider's data and
//! a cancellation signal.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// The context of one operation.
#[derive(Debug)]
pub struct Ctx<D> {
    data: Arc<D>,
    cancel: CancellationToken,
}

impl<D> Clone for Ctx<D> {
    fn clone(&self) -> Self {
        Self {
            data: Arc::clone(&self.data),
            cancel: self.cancel.clone(),
        }
    }
}

/// Why [`Ctx::run`] gave up.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Interrupted {
    /// Terraform asked the provider to stop (Ctrl-C, or an error elsewhere).
    #[error("Terraform asked the provider to stop")]
    Stopped,
    /// The operation's timeout passed.
    #[error("timed out after {}", humantime::format_duration(*.0))]
    TimedOut(Duration),
}

impl<D> Ctx<D> {
    /// A context over `data`, cancelled by `cancel`.
    pub fn new(data: Arc<D>, cancel: CancellationToken) -> Self {
        Self { data, cancel }
    }

    /// What the provider's `configure` produced.
    pub fn data(&self) -> &D {
        &self.data
    }

    /// Cancelled when Terraform calls `StopProvider` or shuts the plugin down.
    pub fn cancellation(&self) -> &CancellationToken {
        &self.cancel
    }

    /// Whether Terraform asked the provider to stop.
    pub fn is_stopped(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Runs `work` until it finishes, Terraform stops the provider, or
    /// `timeout` passes, whichever comes first.
    pub async fn run<T>(
        &self,
        timeout: Duration,
        work: impl Future<Output = T>,
    ) -> Result<T, Interrupted> {
        tokio::select! {
            () = self.cancel.cancelled() => Err(Interrupted::Stopped),
            result = tokio::time::timeout(timeout, work) => {
                result.map_err(|_| Interrupted::TimedOut(timeout))
            }
        }
    }

    /// Sleeps for `duration`, or less if Terraform stops the provider.
    pub async fn sleep(&self, duration: Duration) -> Result<(), Interrupted> {
        tokio::select! {
            () = self.cancel.cancelled() => Err(Interrupted::Stopped),
            () = tokio::time::sleep(duration) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn run_ends_on_stop_and_on_timeout() {
        let token = CancellationToken::new();
        let ctx = Ctx::new(Arc::new(()), token.clone());
        let slow = tokio::time::sleep(Duration::from_secs(30));
        let r = ctx.run(Duration::from_millis(10), slow).await;
        assert_eq!(r, Err(Interrupted::TimedOut(Duration::from_millis(10))));
        token.cancel();
        let r = ctx
            .run(
                Duration::from_secs(30),
                tokio::time::sleep(Duration::from_secs(30)),
            )
            .await;
        assert_eq!(r, Err(Interrupted::Stopped));
    }
}
