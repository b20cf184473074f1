//! [`Cluster`]: the calls resources make to the Kubernetes API, each one
//! retried while the API server is unreachable, overloaded or restarting,
//! until the operation's deadline; and the per-object `find` / `apply` /
//! `remove` helpers built on them.

use std::fmt::Debug;
use std::future::Future;
use std::time::{Duration, Instant};

use ::kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use ::kube::{Api, Client};
use k8s_openapi::api::core::v1::Node;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

use super::KubeError;

/// First pause between attempts; doubled up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// Longest pause between attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A Kubernetes client bound to one operation's deadline and cancellation.
#[derive(Clone)]
pub struct Cluster {
    client: Client,
    server: String,
    deadline: Instant,
    cancel: CancellationToken,
}

impl Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

/// Whether retrying a failed call can help: the server was not reached, or
/// answered that it is overloaded or not ready.
pub fn is_transient(error: &::kube::Error) -> bool {
    match error {
        ::kube::Error::Api(status) => matches!(status.code, 429 | 500 | 502 | 503 | 504),
        ::kube::Error::HyperError(_) | ::kube::Error::Service(_) | ::kube::Error::ReadEvents(_) => {
            true
        }
        _ => false,
    }
}

/// A one-line account of a client error (the `Status` message for API
/// errors rather than the whole object).
pub fn describe(error: &::kube::Error) -> String {
    match error {
        ::kube::Error::Api(status) => {
            format!("{} {}: {}", status.code, status.reason, status.message)
        }
        other => {
            let mut text = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(cause) = source {
                text.push_str(": ");
                text.push_str(&cause.to_string());
                source = cause.source();
            }
            text
        }
    }
}

impl Cluster {
    /// A handle on the API server at `server` (named in errors) whose calls
    /// give up at `deadline` or when `cancel` fires.
    pub fn new(
        client: Client,
        server: String,
        deadline: Instant,
        cancel: CancellationToken,
    ) -> Self {
        Self {
            client,
            server,
            deadline,
            cancel,
        }
    }

    /// The underlying client, for watches.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// When the operation must end.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Fires when Terraform stops the provider.
    pub fn cancellation(&self) -> &CancellationToken {
        &self.cancel
    }

    /// The error for a transient failure that lasted until the deadline.
    pub fn unreachable(
        &self,
        action: &str,
        attempts: u32,
        started: Instant,
        last: &::kube::Error,
    ) -> KubeError {
        KubeError::Unreachable {
            server: self.server.clone(),
            action: action.to_owned(),
            attempts,
            waited: format!("{}s", started.elapsed().as_secs()),
            last: describe(last),
        }
    }

    /// Runs `call` until it succeeds, fails for good, or the deadline
    /// passes; transient failures are retried with jittered exponential
    /// backoff. `action` says what is being done, for logs and errors.
    pub async fn retry<T, F, Fut>(&self, action: &str, mut call: F) -> Result<T, KubeError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ::kube::Error>>,
    {
        let started = Instant::now();
        let mut backoff = FIRST_BACKOFF;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let result = tokio::select! {
                () = self.cancel.cancelled() => {
                    return Err(KubeError::Cancelled { action: action.to_owned() });
                }
                result = tokio::time::timeout_at(self.deadline.into(), call()) => result,
            };
            let error = match result {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(error)) => error,
                Err(_elapsed) => {
                    return Err(KubeError::Unreachable {
                        server: self.server.clone(),
                        action: action.to_owned(),
                        attempts,
                        waited: format!("{}s", started.elapsed().as_secs()),
                        last: "the call did not finish before the timeout".to_owned(),
                    });
                }
            };
            if !is_transient(&error) {
                return Err(refusal(action, &error));
            }
            let pause = backoff.mul_f64(0.5 + fastrand::f64() / 2.0);
            if Instant::now() + pause >= self.deadline {
                return Err(self.unreachable(action, attempts, started, &error));
            }
            tracing::warn!(
                action,
                attempt = attempts,
                retry_in_ms = pause.as_millis() as u64,
                error = %describe(&error),
                "Kubernetes API call failed; retrying"
            );
            tokio::select! {
                () = self.cancel.cancelled() => {
                    return Err(KubeError::Cancelled { action: action.to_owned() });
                }
                () = tokio::time::sleep(pause) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    /// An API for a cluster-scoped kind (or a namespaced kind across all
    /// namespaces).
    pub fn all<K>(&self) -> Api<K>
    where
        K: ::kube::Resource<DynamicType = ()>,
    {
        Api::all(self.client.clone())
    }

    /// An API for a namespaced kind in `namespace`.
    pub fn namespaced<K>(&self, namespace: &str) -> Api<K>
    where
        K: ::kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
    {
        Api::namespaced(self.client.clone(), namespace)
    }

    /// The object named `name`, or `None` when there is none.
    pub async fn find<K>(&self, api: &Api<K>, name: &str) -> Result<Option<K>, KubeError>
    where
        K: ::kube::Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
    {
        let action = format!("reading {} {name}", K::kind(&()));
        self.retry(&action, || api.get_opt(name)).await
    }

    /// Server-side applies `object` with the provider's field manager,
    /// taking over fields another manager set (the provider owns these
    /// objects).
    pub async fn apply<K>(
        &self,
        api: &Api<K>,
        object: &K,
        field_manager: &str,
    ) -> Result<K, KubeError>
    where
        K: ::kube::Resource<DynamicType = ()> + Clone + DeserializeOwned + Serialize + Debug,
    {
        let name = object.meta().name.clone().unwrap_or_default();
        let action = format!(
            "applying {} {}",
            K::kind(&()),
            qualified(object.meta().namespace.as_deref(), &name)
        );
        let params = PatchParams::apply(field_manager).force();
        let patch = Patch::Apply(object);
        tracing::debug!(%action, "server-side apply");
        self.retry(&action, || api.patch(&name, &params, &patch))
            .await
    }

    /// Deletes the object named `name`; one that is already gone is fine.
    pub async fn remove<K>(&self, api: &Api<K>, name: &str) -> Result<(), KubeError>
    where
        K: ::kube::Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
    {
        let action = format!("deleting {} {name}", K::kind(&()));
        let params = DeleteParams::background();
        let result = self
            .retry(&action, || async {
                match api.delete(name, &params).await {
                    Ok(_) => Ok(()),
                    Err(::kube::Error::Api(status)) if status.is_not_found() => Ok(()),
                    Err(e) => Err(e),
                }
            })
            .await;
        if result.is_ok() {
            tracing::info!(%action, "deleted");
        }
        result
    }

    /// The nodes matching a label selector (`""` for all).
    pub async fn list_nodes(&self, selector: &str) -> Result<Vec<Node>, KubeError> {
        let api: Api<Node> = self.all();
        let params = ListParams::default().labels(selector);
        let action = if selector.is_empty() {
            "listing nodes".to_owned()
        } else {
            format!("listing nodes matching {selector}")
        };
        Ok(self.retry(&action, || api.list(&params)).await?.items)
    }

    /// Sets (`Some`) or removes (`None`) one label of a node.
    pub async fn set_node_label(
        &self,
        node: &str,
        key: &str,
        value: Option<&str>,
    ) -> Result<(), KubeError> {
        let api: Api<Node> = self.all();
        let patch = serde_json::json!({ "metadata": { "labels": { key: value } } });
        let patch = Patch::Merge(&patch);
        let action = match value {
            Some(value) => format!("labelling node {node} {key}={value}"),
            None => format!("removing label {key} from node {node}"),
        };
        let params = PatchParams::default();
        self.retry(&action, || async {
            match api.patch(node, &params, &patch).await {
                Ok(_) => Ok(()),
                // A node that left the cluster has no label to remove.
                Err(::kube::Error::Api(status)) if value.is_none() && status.is_not_found() => {
                    Ok(())
                }
                Err(e) => Err(e),
            }
        })
        .await?;
        tracing::info!(%action, "done");
        Ok(())
    }
}

/// `namespace/name`, or `name` for cluster-scoped objects.
pub fn qualified(namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(namespace) => format!("{namespace}/{name}"),
        None => name.to_owned(),
    }
}

/// A failure retrying cannot fix, as a [`KubeError`].
pub fn refusal(action: &str, error: &::kube::Error) -> KubeError {
    match error {
        ::kube::Error::Api(status) => KubeError::Refused {
            action: action.to_owned(),
            code: status.code,
            reason: status.reason.clone(),
            message: status.message.clone(),
        },
        other => KubeError::Request {
            action: action.to_owned(),
            message: describe(other),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::kube::core::Status;

    fn api_error(code: u16) -> ::kube::Error {
        ::kube::Error::Api(Box::new(Status {
            code,
            reason: "Reason".into(),
            message: "message".into(),
            ..Status::default()
        }))
    }

    #[test]
    fn overload_and_outages_are_transient_refusals_are_not() {
        for code in [429, 500, 502, 503, 504] {
            assert!(is_transient(&api_error(code)), "{code}");
        }
        for code in [400, 401, 403, 404, 409, 422] {
            assert!(!is_transient(&api_error(code)), "{code}");
        }
        assert!(is_transient(&::kube::Error::Service(
            "connection refused".into()
        )));
    }

    #[test]
    fn refusals_keep_the_status() {
        let error = refusal("applying DaemonSet kube-system/x", &api_error(403));
        assert_eq!(
            error.to_string(),
            "applying DaemonSet kube-system/x failed: the API server answered 403 Reason: message"
        );
    }
}
