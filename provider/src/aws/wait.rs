//! Polling an AWS object until it reaches a state: backoff between polls,
//! a deadline, and Terraform's cancellation, shared by every `wait_*`.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::error::AwsError;

/// How long to wait between polls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PollSchedule {
    /// The first wait.
    pub first: Duration,
    /// The longest wait; each wait is 1.5 times the previous one up to this.
    pub max: Duration,
}

impl PollSchedule {
    /// For EKS node groups and updates, which take minutes.
    pub const EKS: Self = Self {
        first: Duration::from_secs(10),
        max: Duration::from_secs(30),
    };

    /// The wait after `previous`.
    pub fn next(&self, previous: Duration) -> Duration {
        (previous + previous / 2).min(self.max)
    }
}

/// The limits of one wait: when to give up, and the signal that Terraform
/// asked the provider to stop.
#[derive(Clone, Debug)]
pub struct WaitLimits {
    /// When to give up.
    pub deadline: Instant,
    /// Cancelled when Terraform stops the provider.
    pub cancel: CancellationToken,
    /// The backoff between polls.
    pub schedule: PollSchedule,
}

impl WaitLimits {
    /// Limits ending `timeout` from now, with the EKS schedule.
    pub fn new(timeout: Duration, cancel: CancellationToken) -> Self {
        Self {
            deadline: Instant::now() + timeout,
            cancel,
            schedule: PollSchedule::EKS,
        }
    }

    /// The same limits with another schedule.
    #[must_use]
    pub fn with_schedule(mut self, schedule: PollSchedule) -> Self {
        self.schedule = schedule;
        self
    }
}

/// What one poll found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Poll<T> {
    /// The goal is reached.
    Done(T),
    /// Not yet; the status seen, for the timeout message.
    Pending(String),
}

/// Calls `check` until it returns [`Poll::Done`] or a non-retryable error,
/// sleeping per `limits.schedule` in between. Retryable errors (throttling,
/// 5xx, network; the SDK has retried them already) count as "not yet".
/// The first check happens at once.
pub async fn poll_until<T, F, Fut>(
    what: &str,
    limits: &WaitLimits,
    mut check: F,
) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>, AwsError>>,
{
    let start = Instant::now();
    let mut delay = limits.schedule.first;
    let cancelled = || AwsError::Cancelled {
        what: what.to_owned(),
    };
    loop {
        let result = tokio::select! {
            () = limits.cancel.cancelled() => return Err(cancelled()),
            result = check() => result,
        };
        let last_seen = match result {
            Ok(Poll::Done(value)) => return Ok(value),
            Ok(Poll::Pending(status)) => status,
            Err(e) if e.retryable() => {
                tracing::debug!(error = %e, "transient error while waiting for {what}");
                e.to_string()
            }
            Err(e) => return Err(e),
        };
        let now = Instant::now();
        if now >= limits.deadline {
            return Err(AwsError::Timeout {
                what: what.to_owned(),
                waited: now - start,
                last_seen,
            });
        }
        let pause = delay.min(limits.deadline - now);
        tokio::select! {
            () = limits.cancel.cancelled() => return Err(cancelled()),
            () = tokio::time::sleep(pause) => {}
        }
        delay = limits.schedule.next(delay);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::aws::error::ApiErrorKind;

    fn fast(timeout: Duration) -> WaitLimits {
        WaitLimits::new(timeout, CancellationToken::new()).with_schedule(PollSchedule {
            first: Duration::from_millis(1),
            max: Duration::from_millis(4),
        })
    }

    fn throttled() -> AwsError {
        AwsError::Api {
            operation: "DescribeNodegroup",
            target: "x".into(),
            kind: ApiErrorKind::Throttling,
            code: Some("ThrottlingException".into()),
            message: None,
            status: Some(400),
            source: "throttled".into(),
        }
    }

    #[test]
    fn backoff_grows_to_the_maximum() {
        let s = PollSchedule::EKS;
        assert_eq!(s.next(Duration::from_secs(10)), Duration::from_secs(15));
        assert_eq!(s.next(Duration::from_secs(20)), Duration::from_secs(30));
        assert_eq!(s.next(Duration::from_secs(30)), Duration::from_secs(30));
    }

    #[tokio::test]
    async fn polls_through_pending_and_throttling_until_done() {
        let calls = AtomicUsize::new(0);
        let result = poll_until("thing", &fast(Duration::from_secs(5)), || async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0 => Ok(Poll::Pending("CREATING".into())),
                1 => Err(throttled()),
                _ => Ok(Poll::Done(7)),
            }
        })
        .await;
        assert_eq!(result.unwrap(), 7);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn times_out_with_the_last_status() {
        let result: Result<(), _> =
            poll_until("thing", &fast(Duration::from_millis(20)), || async {
                Ok(Poll::Pending("UPDATING".into()))
            })
            .await;
        match result {
            Err(AwsError::Timeout {
                last_seen, what, ..
            }) => {
                assert_eq!(last_seen, "UPDATING");
                assert_eq!(what, "thing");
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn stops_when_cancelled_and_on_fatal_errors() {
        let limits = fast(Duration::from_secs(30));
        limits.cancel.cancel();
        let result: Result<(), _> = poll_until("thing", &limits, std::future::pending).await;
        assert!(matches!(result, Err(AwsError::Cancelled { .. })));

        let result: Result<(), _> = poll_until("thing", &fast(Duration::from_secs(30)), || async {
            Err(AwsError::MissingField {
                operation: "DescribeUpdate",
                field: "update",
            })
        })
        .await;
        assert!(matches!(result, Err(AwsError::MissingField { .. })));
    }
}
