//! A panic in the provider's own code must not take the plugin down with
//! it: Terraform would lose every operation in flight and report only that
//! the plugin crashed. Each RPC runs the provider's code through [`guard`],
//! which turns a panic into an error diagnostic naming what panicked; the
//! service goes on answering.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;

use futures::FutureExt;
use tf_protocol::Diagnostic;

/// Runs `future`; a panic in it becomes an error about `what` (e.g.
/// `"cvm_sysbox: plan"`).
pub(crate) async fn guard<T>(what: &str, future: impl Future<Output = T>) -> Result<T, Diagnostic> {
    // Nothing the future touched is looked at again after a panic except
    // through its own locks, which report poisoning.
    AssertUnwindSafe(future)
        .catch_unwind()
        .await
        .map_err(|payload| panicked(what, payload.as_ref()))
}

/// [`guard`] for code that does not wait.
pub(crate) fn guard_sync<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, Diagnostic> {
    std::panic::catch_unwind(AssertUnwindSafe(f))
        .map_err(|payload| panicked(what, payload.as_ref()))
}

fn panicked(what: &str, payload: &(dyn Any + Send)) -> Diagnostic {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".to_owned());
    // The message stays out of the log: it may quote a value.
    tracing::error!(
        tf_operation = what,
        "the provider panicked; answering with an error diagnostic"
    );
    Diagnostic::error(
        "Provider Panicked",
        format!(
            "{what} panicked: {message}. The operation was abandoned and the provider is still running. \
             This is always a bug in the provider; please report it."
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_becomes_an_error_naming_the_operation() {
        let d = guard("test_thing: plan", async { panic!("boom {}", 7) })
            .await
            .unwrap_err();
        assert_eq!(d.summary, "Provider Panicked");
        assert!(
            d.detail.starts_with("test_thing: plan panicked: boom 7."),
            "{}",
            d.detail
        );
        assert_eq!(guard("x", async { 3 }).await.unwrap(), 3);
        let d = guard_sync("f: call", || -> u8 { panic!("static") }).unwrap_err();
        assert!(
            d.detail.contains("f: call panicked: static."),
            "{}",
            d.detail
        );
    }
}
