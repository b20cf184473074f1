//! Fault injection: a share of `/api/**` requests is answered with an error status before the
//! request touches any state, optionally after a delay. Every plan that injects faults names the
//! seed of its random choices, so the same requests in the same order get the same faults.

use std::time::Duration;

use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::api_error::{ApiError, CODE_FAULT};

/// What `POST /__emulator/faults` accepts (every field optional, but `seed` is required when
/// `rate` is above 0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FaultPlan {
    /// Share of requests, 0.0 to 1.0, that get a fault status; 0 turns faults off.
    pub rate: f64,
    /// The statuses to pick from (uniformly); each 400 to 599.
    pub statuses: Vec<u16>,
    /// `Retry-After` seconds sent with 429 and 503 answers.
    pub retry_after_secs: u64,
    /// Delay before every `/api/**` answer, faulted or not.
    pub latency_ms: u64,
    /// Seed of the random choices; required when `rate` is above 0.
    pub seed: Option<u64>,
}

impl Default for FaultPlan {
    fn default() -> Self {
        FaultPlan {
            rate: 0.0,
            statuses: vec![503],
            retry_after_secs: 1,
            latency_ms: 0,
            seed: None,
        }
    }
}

/// Why a fault plan was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FaultPlanError {
    /// `rate` is not a number between 0 and 1.
    #[error("rate must be between 0 and 1, got {0}")]
    Rate(f64),
    /// A status is outside 400..=599.
    #[error("statuses must be HTTP error statuses (400 to 599), got {0}")]
    Status(u16),
    /// Faults are on but no status was given.
    #[error("statuses must not be empty when rate is above 0")]
    NoStatus,
    /// Faults are on but no seed was given, so a failing run could not be repeated.
    #[error("seed is required when rate is above 0, so that the same faults can be replayed")]
    NoSeed,
}

/// What to do with one request.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultDecision {
    /// How long to wait first.
    pub delay: Duration,
    /// The error to answer instead of handling the request, if any.
    pub fault: Option<ApiError>,
}

/// The active plan and its random number generator.
#[derive(Debug)]
pub struct Faults {
    plan: FaultPlan,
    rng: fastrand::Rng,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            plan: FaultPlan::default(),
            // Never drawn from while the rate is 0.
            rng: fastrand::Rng::with_seed(0),
        }
    }
}

impl Faults {
    /// Replaces the plan after validating it; the generator restarts from the plan's seed.
    pub fn set(&mut self, plan: FaultPlan) -> Result<(), FaultPlanError> {
        if !(0.0..=1.0).contains(&plan.rate) {
            return Err(FaultPlanError::Rate(plan.rate));
        }
        if let Some(bad) = plan.statuses.iter().find(|s| !(400..=599).contains(*s)) {
            return Err(FaultPlanError::Status(*bad));
        }
        if plan.rate > 0.0 && plan.statuses.is_empty() {
            return Err(FaultPlanError::NoStatus);
        }
        if plan.rate > 0.0 && plan.seed.is_none() {
            return Err(FaultPlanError::NoSeed);
        }
        self.rng = fastrand::Rng::with_seed(plan.seed.unwrap_or(0));
        self.plan = plan;
        Ok(())
    }

    /// The active plan.
    pub fn plan(&self) -> &FaultPlan {
        &self.plan
    }

    /// Draws the decision for the next request.
    pub fn decide(&mut self) -> FaultDecision {
        let delay = Duration::from_millis(self.plan.latency_ms);
        let faulted = self.plan.rate > 0.0 && self.rng.f64() < self.plan.rate;
        let fault = if faulted && !self.plan.statuses.is_empty() {
            let code = self.plan.statuses[self.rng.usize(..self.plan.statuses.len())];
            // `set` only accepts 400..=599, which are all valid status codes.
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            let mut error = ApiError::new(status, CODE_FAULT, format!("Injected fault: {status}."));
            if matches!(code, 429 | 503) {
                error.retry_after_secs = Some(self.plan.retry_after_secs);
            }
            Some(error)
        } else {
            None
        };
        FaultDecision { delay, fault }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(rate: f64, statuses: &[u16], seed: u64) -> FaultPlan {
        FaultPlan {
            rate,
            statuses: statuses.to_vec(),
            seed: Some(seed),
            ..FaultPlan::default()
        }
    }

    #[test]
    fn seeded_plans_repeat() {
        let draw = || {
            let mut faults = Faults::default();
            faults.set(plan(0.5, &[503, 429], 7)).unwrap();
            (0..50)
                .map(|_| faults.decide().fault.map(|f| f.status.as_u16()))
                .collect::<Vec<_>>()
        };
        let first = draw();
        assert_eq!(first, draw());
        assert!(first.iter().any(Option::is_some));
        assert!(first.iter().any(Option::is_none));
    }

    #[test]
    fn rate_zero_and_one() {
        let mut faults = Faults::default();
        assert!(faults.decide().fault.is_none());
        faults.set(plan(1.0, &[429], 1)).unwrap();
        let fault = faults.decide().fault.unwrap();
        assert_eq!(fault.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(fault.retry_after_secs, Some(1));
    }

    #[test]
    fn bad_plans_are_refused() {
        let mut faults = Faults::default();
        assert_eq!(
            faults.set(plan(1.5, &[503], 1)),
            Err(FaultPlanError::Rate(1.5))
        );
        assert_eq!(
            faults.set(plan(0.5, &[200], 1)),
            Err(FaultPlanError::Status(200))
        );
        assert_eq!(faults.set(plan(0.5, &[], 1)), Err(FaultPlanError::NoStatus));
        let unseeded = FaultPlan {
            seed: None,
            ..plan(0.5, &[503], 1)
        };
        assert_eq!(faults.set(unseeded), Err(FaultPlanError::NoSeed));
        // Turning faults off needs no seed.
        assert_eq!(faults.set(FaultPlan::default()), Ok(()));
    }
}
