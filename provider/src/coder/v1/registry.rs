//! Wire types of `/api/v0/registries`. Coder never returns a registry's
//! credentials, so only the request types carry them.

use serde::{Deserialize, Serialize};

/// What `{:?}` shows instead of a secret.
const HIDDEN: &str = "(sensitive)";

/// Body of `POST /api/v0/registries`.
#[derive(Clone, Serialize)]
pub struct NewRegistry {
    /// Organization that owns the registry (the default one is `default`).
    pub org_id: String,
    /// Name shown in Coder.
    pub friendly_name: String,
    /// Registry host, e.g. `registry.example.com` or `index.docker.io`.
    pub registry: String,
    /// User Coder logs in as.
    pub username: String,
    /// Password or token Coder logs in with.
    pub password: String,
}

impl std::fmt::Debug for NewRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewRegistry")
            .field("org_id", &self.org_id)
            .field("friendly_name", &self.friendly_name)
            .field("registry", &self.registry)
            .field("username", &self.username)
            .field("password", &HIDDEN)
            .finish()
    }
}

/// Body of `PATCH /api/v0/registries/{id}`: only the fields that are
/// `Some` are sent, and Coder leaves the others unchanged.
#[derive(Clone, Default, Serialize)]
pub struct RegistryUpdate {
    /// New registry host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    /// New name shown in Coder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub friendly_name: Option<String>,
    /// New user name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// New password or token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

impl std::fmt::Debug for RegistryUpdate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryUpdate")
            .field("registry", &self.registry)
            .field("friendly_name", &self.friendly_name)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| HIDDEN))
            .finish()
    }
}

/// A registry as Coder returns it (never with credentials).
#[derive(Deserialize, Clone, Debug, PartialEq)]
pub struct Registry {
    /// Coder's id of the registry.
    pub id: String,
    /// Organization that owns it.
    #[serde(default)]
    pub organization_id: String,
    /// Name shown in Coder.
    #[serde(default)]
    pub friendly_name: String,
    /// Registry host.
    pub registry: String,
    /// When it was created (RFC 3339, as Coder sent it).
    #[serde(default)]
    pub created_at: String,
    /// When it last changed (RFC 3339, as Coder sent it).
    #[serde(default)]
    pub updated_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_serializes_only_present_fields() {
        let update = RegistryUpdate {
            friendly_name: Some("Harbor".into()),
            password: Some("hunter2".into()),
            ..RegistryUpdate::default()
        };
        let json = serde_json::to_value(&update).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"friendly_name": "Harbor", "password": "hunter2"})
        );
        assert_eq!(
            serde_json::to_value(RegistryUpdate::default()).unwrap(),
            serde_json::json!({})
        );
    }

    #[test]
    fn registry_parses_coder_json() {
        let json = r#"{"id":"r1","organization_id":"default","friendly_name":"Hub",
            "registry":"index.docker.io","created_at":"2021-08-13T10:00:00Z",
            "updated_at":"2021-08-14T10:00:00Z","extra":1}"#;
        let registry: Registry = serde_json::from_str(json).unwrap();
        assert_eq!(registry.id, "r1");
        assert_eq!(registry.registry, "index.docker.io");
        assert_eq!(registry.updated_at, "2021-08-14T10:00:00Z");
    }
}
