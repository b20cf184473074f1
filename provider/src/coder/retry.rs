//! When a failed Coder call is tried again, and how long to wait first.
//!
//! Only failures that say nothing about the request itself are retried:
//! 429 (slow down), 502/503/504 (a gateway or Coder itself is restarting or
//! overloaded) and transport failures. Whether repeating is *safe* depends on
//! the method; see [`status_is_retryable`] and [`transport_is_retryable`].

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::{Method, StatusCode};

/// Backoff before the first retry.
const BASE_DELAY: Duration = Duration::from_millis(200);
/// Longest backoff between two attempts (without `Retry-After`).
const MAX_DELAY: Duration = Duration::from_secs(5);

/// How long to wait before retry number `retry` (1 for the first retry):
/// a random time between zero and `200 ms × 2^(retry-1)`, capped at 5 s
/// ("full jitter", so many clients do not retry in lockstep).
pub(crate) fn backoff_delay(retry: u32) -> Duration {
    let doublings = retry.saturating_sub(1).min(16);
    let ceiling = BASE_DELAY.saturating_mul(1 << doublings).min(MAX_DELAY);
    // The ceiling is at most 5 s, so its nanoseconds fit in a u64.
    let ceiling_nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(fastrand::u64(0..=ceiling_nanos))
}

/// The wait a `Retry-After` header asks for, in seconds or as an HTTP date
/// (a date in the past means "now"). `None` when absent or unreadable.
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(text).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Whether a request may be sent again after it failed for a reason that
/// may have come after the server acted on it. Every call this client makes
/// is repeatable except `POST`: `GET`, `PUT` (the whole object), `DELETE`
/// (404 counts as done) and `PATCH` (which sets fields to given values, so
/// applying it twice equals applying it once).
fn repeatable(method: &Method) -> bool {
    *method != Method::POST
}

/// Whether an answer with `status` is worth retrying.
///
/// 429 and 503 mean the request was turned away unprocessed, so even a
/// `POST` is retried. 502 and 504 come from a gateway that may have passed
/// the request on before losing the answer: a `POST` that creates a
/// registry may have created it, and a retry would create a duplicate, so
/// only repeatable methods are retried then.
pub(crate) fn status_is_retryable(method: &Method, status: StatusCode) -> bool {
    match status {
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => true,
        StatusCode::BAD_GATEWAY | StatusCode::GATEWAY_TIMEOUT => repeatable(method),
        _ => false,
    }
}

/// Whether a transport failure is worth retrying.
///
/// TLS failures (bad certificate, not TLS at all) do not fix themselves, so
/// they are never retried. A failure to connect (refused, DNS) means nothing
/// reached the server, so any method is retried. Anything later (reset,
/// timeout while waiting for the answer) may come after the server acted,
/// so only repeatable methods are retried.
pub(crate) fn transport_is_retryable(method: &Method, error: &reqwest::Error) -> bool {
    if is_tls_failure(error) {
        return false;
    }
    error.is_connect() || repeatable(method)
}

/// Whether a rustls error is somewhere in `error`'s chain of causes.
fn is_tls_failure(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(cause) = next {
        if cause.is::<rustls::Error>() {
            return true;
        }
        // `io::Error::source` skips the error it wraps (and connectors nest
        // io errors), so look inside.
        if let Some(io) = cause.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
        {
            next = Some(inner);
            continue;
        }
        next = cause.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn backoff_grows_and_is_capped() {
        for _ in 0..200 {
            assert!(backoff_delay(1) <= Duration::from_millis(200));
            assert!(backoff_delay(3) <= Duration::from_millis(800));
            assert!(backoff_delay(30) <= MAX_DELAY);
            assert!(backoff_delay(u32::MAX) <= MAX_DELAY);
        }
        // Full jitter: the delays are spread out, not all at the ceiling.
        let spread: Vec<_> = (0..50).map(|_| backoff_delay(10)).collect();
        assert!(spread.iter().any(|d| *d < Duration::from_millis(4_000)));
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers, now), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static(" 3 "));
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(3)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(7));
        headers.insert(RETRY_AFTER, HeaderValue::from_str(&later).unwrap());
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(7)));
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(7));
        headers.insert(RETRY_AFTER, HeaderValue::from_str(&earlier).unwrap());
        assert_eq!(retry_after(&headers, now), Some(Duration::ZERO));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers, now), None);
    }

    #[test]
    fn post_is_not_retried_after_a_gateway_error() {
        for status in [429, 502, 503, 504] {
            let status = StatusCode::from_u16(status).unwrap();
            assert!(status_is_retryable(&Method::GET, status));
            assert!(status_is_retryable(&Method::PATCH, status));
        }
        assert!(status_is_retryable(
            &Method::POST,
            StatusCode::SERVICE_UNAVAILABLE
        ));
        assert!(status_is_retryable(
            &Method::POST,
            StatusCode::TOO_MANY_REQUESTS
        ));
        assert!(!status_is_retryable(&Method::POST, StatusCode::BAD_GATEWAY));
        assert!(!status_is_retryable(
            &Method::POST,
            StatusCode::GATEWAY_TIMEOUT
        ));
        for status in [400, 401, 403, 404, 409, 500, 501] {
            let status = StatusCode::from_u16(status).unwrap();
            assert!(!status_is_retryable(&Method::GET, status));
        }
    }
}
