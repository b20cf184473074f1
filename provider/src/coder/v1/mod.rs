//! The Coder v1 API: the deployment's workspace settings
//! (`/api/v0/workspaces/config`) and image registries (`/api/v0/registries`).

mod registry;

pub use registry::{NewRegistry, Registry, RegistryUpdate};

use reqwest::Method;
use serde_json::{Map, Value};

use super::client::{Body, CoderClient, without_user_info};
use super::error::CoderError;

/// The API of a deployment known to be Coder v1 (from
/// [`CoderClient::v1`]).
#[derive(Clone, Debug)]
pub struct CoderV1 {
    client: CoderClient,
    version: String,
}

impl CoderV1 {
    pub(super) fn new(client: CoderClient, version: String) -> CoderV1 {
        CoderV1 { client, version }
    }

    /// The deployment's version, e.g. `1.44.0`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// `GET /api/v0/workspaces/config`: the deployment's workspace settings
    /// as a JSON object, with every key the server sent.
    pub async fn get_workspaces_config(&self) -> Result<Map<String, Value>, CoderError> {
        let url = self.client.endpoint(&["api", "v0", "workspaces", "config"]);
        self.client.call(Method::GET, url, None).await?.json()
    }

    /// `PUT /api/v0/workspaces/config` with the whole settings object
    /// (send back every key [`get_workspaces_config`](Self::get_workspaces_config)
    /// returned, changed or not).
    pub async fn put_workspaces_config(
        &self,
        config: &Map<String, Value>,
    ) -> Result<(), CoderError> {
        let url = self.client.endpoint(&["api", "v0", "workspaces", "config"]);
        self.client
            .call(Method::PUT, url, Some(Body::json(config)))
            .await
            .map(drop)
    }

    /// `POST /api/v0/registries`: creates a registry.
    ///
    /// A POST is retried only when it certainly was not acted on: the
    /// connection failed, or the answer was 429 or 503. After a 502 or 504
    /// the registry may have been created behind the gateway, and a retry
    /// could create a second one, so those fail at once.
    pub async fn create_registry(&self, request: &NewRegistry) -> Result<Registry, CoderError> {
        let url = self.client.endpoint(&["api", "v0", "registries"]);
        self.client
            .call(Method::POST, url, Some(Body::json(request)))
            .await?
            .json()
    }

    /// `GET /api/v0/registries/{id}`; `None` when Coder answers 404.
    pub async fn find_registry(&self, id: &str) -> Result<Option<Registry>, CoderError> {
        if id.is_empty() {
            return Ok(None);
        }
        let url = self.client.endpoint(&["api", "v0", "registries", id]);
        match self.client.call(Method::GET, url, None).await {
            Ok(reply) => reply.json().map(Some),
            Err(CoderError::NotFound { .. }) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// `PATCH /api/v0/registries/{id}` with only the `Some` fields of
    /// `update`; returns the registry as it is afterwards. When the answer
    /// does not carry the registry, it is read back.
    pub async fn update_registry(
        &self,
        id: &str,
        update: &RegistryUpdate,
    ) -> Result<Registry, CoderError> {
        let url = self.client.endpoint(&["api", "v0", "registries", id]);
        let reply = self
            .client
            .call(Method::PATCH, url.clone(), Some(Body::json(update)))
            .await?;
        if let Ok(registry) = reply.json() {
            return Ok(registry);
        }
        self.find_registry(id)
            .await?
            .ok_or_else(|| CoderError::NotFound {
                method: Method::GET,
                url: without_user_info(&url).into(),
                msg: String::new(),
            })
    }

    /// `DELETE /api/v0/registries/{id}`; a registry that is already gone
    /// (404) counts as deleted.
    pub async fn delete_registry(&self, id: &str) -> Result<(), CoderError> {
        if id.is_empty() {
            return Ok(());
        }
        let url = self.client.endpoint(&["api", "v0", "registries", id]);
        match self.client.call(Method::DELETE, url, None).await {
            Ok(_) | Err(CoderError::NotFound { .. }) => Ok(()),
            Err(error) => Err(error),
        }
    }

    /// `GET /api/v0/registries?org={org}`: the organization's registries.
    pub async fn list_registries(&self, org: &str) -> Result<Vec<Registry>, CoderError> {
        let mut url = self.client.endpoint(&["api", "v0", "registries"]);
        url.query_pairs_mut().append_pair("org", org);
        self.client.call(Method::GET, url, None).await?.json()
    }
}
