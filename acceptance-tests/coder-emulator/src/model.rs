//! The emulated deployment's data, in memory: the workspace settings object, organizations,
//! registries (with their write-only credentials) and images. Every operation validates its input
//! like the real server is known (or assumed, see README.md) to do and answers an [`ApiError`].

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::api_error::ApiError;

/// Longest registry password the server accepts: 32 KiB (Coder changelog 1.23.1 / 1.24.0).
pub const MAX_PASSWORD_BYTES: usize = 32 * 1024;

/// The allowed values of `gpu_vendor`: disabled, NVIDIA, AMD (coder-sdk and the swagger model).
pub const GPU_VENDORS: [&str; 3] = ["", "nvidia", "amd"];

/// The keys of the workspace settings object and their initial values. The first three are in
/// coder-sdk's `ConfigWorkspaces`; the others are ASSUMED names of the other toggles of the
/// "Workspace container runtime" admin card.
pub const INITIAL_SETTINGS: [(&str, InitialValue); 10] = [
    ("enable_container_vms", InitialValue::Bool(false)),
    ("gpu_vendor", InitialValue::Str("")),
    ("enable_workspaces_as_code", InitialValue::Bool(false)),
    ("enable_cvm_caching", InitialValue::Bool(false)),
    ("enable_shiftfs_auto_load", InitialValue::Bool(false)),
    ("default_to_container_vms", InitialValue::Bool(false)),
    ("enable_tun_device", InitialValue::Bool(false)),
    ("enable_fuse_device", InitialValue::Bool(false)),
    ("enable_self_contained_builds", InitialValue::Bool(false)),
    ("enable_process_logging", InitialValue::Bool(false)),
];

/// The organizations every emulated deployment has: `default` (the literal id coder-ecr-sync and
/// the docs use) and `platform`, a second one for tests that move a registry between
/// organizations.
pub const ORGANIZATIONS: [&str; 2] = ["default", "platform"];

/// The initial value of one settings key, and therefore its JSON type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitialValue {
    /// A boolean toggle.
    Bool(bool),
    /// A string.
    Str(&'static str),
}

/// An image registry, with the credentials the API never returns.
#[derive(Debug, Clone)]
pub struct Registry {
    /// Random id.
    pub id: String,
    /// The owning organization's id.
    pub organization_id: String,
    /// Display name, unique within the organization.
    pub friendly_name: String,
    /// Registry host (for example `registry.example.com:5000`).
    pub registry: String,
    /// Write-only user name.
    pub username: String,
    /// Write-only password.
    pub password: String,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// RFC 3339 time of the last change.
    pub updated_at: String,
}

impl Registry {
    /// The API's `Registry` JSON: no credentials.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "organization_id": self.organization_id,
            "friendly_name": self.friendly_name,
            "registry": self.registry,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        })
    }

    /// The admin view: the API JSON plus digests of the credentials, never the credentials.
    pub fn to_admin_json(&self) -> Value {
        let mut value = self.to_json();
        if let Some(object) = value.as_object_mut() {
            object.insert("username_sha256".into(), sha256_hex(&self.username).into());
            object.insert("password_sha256".into(), sha256_hex(&self.password).into());
            object.insert("password_bytes".into(), self.password.len().into());
        }
        value
    }
}

/// An image imported from a registry.
#[derive(Debug, Clone)]
pub struct Image {
    /// Random id.
    pub id: String,
    /// The owning organization's id.
    pub organization_id: String,
    /// The registry the image comes from (it may have been deleted out of band since).
    pub registry_id: String,
    /// Repository, for example `codercom/ubuntu`.
    pub repository: String,
    /// The default tag.
    pub tag: String,
    /// Free text.
    pub description: String,
    /// User-supplied URL.
    pub url: String,
    /// Default CPU cores of workspaces using it.
    pub default_cpu_cores: f64,
    /// Default memory of workspaces using it.
    pub default_memory_gb: f64,
    /// Default disk size of workspaces using it.
    pub default_disk_gb: i64,
    /// RFC 3339 creation time.
    pub created_at: String,
}

/// A request to create a registry (`POST /api/v0/registries`, or `new_registry` of an image
/// import).
#[derive(Debug, Clone, Default)]
pub struct NewRegistry {
    /// Organization id.
    pub org_id: String,
    /// Display name.
    pub friendly_name: String,
    /// Registry host.
    pub registry: String,
    /// User name.
    pub username: String,
    /// Password.
    pub password: String,
}

/// A partial registry update; `None` leaves the field unchanged.
#[derive(Debug, Clone, Default)]
pub struct RegistryUpdate {
    /// New host.
    pub registry: Option<String>,
    /// New display name.
    pub friendly_name: Option<String>,
    /// New user name.
    pub username: Option<String>,
    /// New password.
    pub password: Option<String>,
}

/// A request to import an image.
#[derive(Debug, Clone, Default)]
pub struct NewImage {
    /// An existing registry, or `None` when `new_registry` is given.
    pub registry_id: Option<String>,
    /// A registry to create with the image.
    pub new_registry: Option<NewRegistry>,
    /// Repository.
    pub repository: String,
    /// Organization id.
    pub org_id: String,
    /// Tag.
    pub tag: String,
    /// Free text.
    pub description: String,
    /// User-supplied URL.
    pub url: String,
    /// Default CPU cores.
    pub default_cpu_cores: f64,
    /// Default memory.
    pub default_memory_gb: f64,
    /// Default disk size.
    pub default_disk_gb: i64,
}

/// Everything the emulated deployment stores.
#[derive(Debug, Clone)]
pub struct Model {
    settings: Map<String, Value>,
    registries: Vec<Registry>,
    images: Vec<Image>,
}

impl Default for Model {
    fn default() -> Self {
        Model::new()
    }
}

impl Model {
    /// A fresh deployment: initial settings, no registries, no images.
    pub fn new() -> Model {
        Model {
            settings: initial_settings(),
            registries: Vec::new(),
            images: Vec::new(),
        }
    }

    /// The settings object.
    pub fn settings(&self) -> &Map<String, Value> {
        &self.settings
    }

    /// Validates `body` as a settings object and stores its keys; keys it omits keep their
    /// values. Nothing changes when any key is invalid.
    pub fn update_settings(&mut self, body: &Value) -> Result<&Map<String, Value>, ApiError> {
        let object = validated_settings(body)?;
        for (key, value) in object {
            self.settings.insert(key.clone(), value.clone());
        }
        Ok(&self.settings)
    }

    /// Validates `body` as a settings object and makes it the whole object: known keys it omits
    /// go back to their initial value, other keys it omits are removed. Nothing changes when any
    /// key is invalid.
    pub fn replace_settings(&mut self, body: &Value) -> Result<&Map<String, Value>, ApiError> {
        let object = validated_settings(body)?;
        let mut settings = initial_settings();
        for (key, value) in object {
            settings.insert(key.clone(), value.clone());
        }
        self.settings = settings;
        Ok(&self.settings)
    }

    /// All registries, in creation order.
    pub fn registries(&self) -> &[Registry] {
        &self.registries
    }

    /// All images, in creation order.
    pub fn images(&self) -> &[Image] {
        &self.images
    }

    /// The registries of organization `org` (which must exist).
    pub fn list_registries(&self, org: &str) -> Result<Vec<&Registry>, ApiError> {
        require_org(org)?;
        Ok(self
            .registries
            .iter()
            .filter(|r| r.organization_id == org)
            .collect())
    }

    /// One registry, or 404.
    pub fn registry(&self, id: &str) -> Result<&Registry, ApiError> {
        self.registries
            .iter()
            .find(|r| r.id == id)
            .ok_or_else(registry_not_found)
    }

    /// Creates a registry after validating the request.
    pub fn create_registry(&mut self, request: NewRegistry) -> Result<&Registry, ApiError> {
        if request.org_id.is_empty() {
            return Err(ApiError::bad_request("org_id is required."));
        }
        require_org(&request.org_id)?;
        require_non_empty("friendly_name", &request.friendly_name)?;
        require_non_empty("registry", &request.registry)?;
        check_password(&request.password)?;
        self.require_unique_name(&request.org_id, &request.friendly_name, None)?;
        let now = now_rfc3339();
        self.registries.push(Registry {
            id: new_id(),
            organization_id: request.org_id,
            friendly_name: request.friendly_name,
            registry: request.registry,
            username: request.username,
            password: request.password,
            created_at: now.clone(),
            updated_at: now,
        });
        // Just pushed, so the vector is not empty.
        self.registries.last().ok_or_else(registry_not_found)
    }

    /// Applies a partial update after validating it; nothing changes when it is invalid.
    pub fn update_registry(
        &mut self,
        id: &str,
        update: RegistryUpdate,
    ) -> Result<&Registry, ApiError> {
        let index = self
            .registries
            .iter()
            .position(|r| r.id == id)
            .ok_or_else(registry_not_found)?;
        if let Some(name) = &update.friendly_name {
            require_non_empty("friendly_name", name)?;
            let org = self.registries[index].organization_id.clone();
            self.require_unique_name(&org, name, Some(id))?;
        }
        if let Some(host) = &update.registry {
            require_non_empty("registry", host)?;
        }
        if let Some(password) = &update.password {
            check_password(password)?;
        }
        let registry = &mut self.registries[index];
        let mut changed = false;
        for (field, value) in [
            (&mut registry.friendly_name, update.friendly_name),
            (&mut registry.registry, update.registry),
            (&mut registry.username, update.username),
            (&mut registry.password, update.password),
        ] {
            if let Some(value) = value {
                *field = value;
                changed = true;
            }
        }
        if changed {
            registry.updated_at = now_rfc3339();
        }
        Ok(registry)
    }

    /// Deletes a registry; refused with 409 while images use it (unless `force`, the out-of-band
    /// delete of the admin surface).
    pub fn delete_registry(&mut self, id: &str, force: bool) -> Result<(), ApiError> {
        let index = self
            .registries
            .iter()
            .position(|r| r.id == id)
            .ok_or_else(registry_not_found)?;
        let users: Vec<&Image> = self.images.iter().filter(|i| i.registry_id == id).collect();
        if !force && !users.is_empty() {
            let names: Vec<String> = users
                .iter()
                .map(|i| format!("{}:{}", i.repository, i.tag))
                .collect();
            return Err(ApiError::conflict(format!(
                "The registry is in use by {} image(s) ({}). Delete those images first.",
                users.len(),
                names.join(", ")
            ))
            .with_details(
                json!({ "image_ids": users.iter().map(|i| &i.id).collect::<Vec<_>>() }),
            ));
        }
        self.registries.remove(index);
        Ok(())
    }

    /// Imports an image, creating `new_registry` first when given.
    pub fn create_image(&mut self, request: NewImage) -> Result<&Image, ApiError> {
        if request.org_id.is_empty() {
            return Err(ApiError::bad_request("org_id is required."));
        }
        require_org(&request.org_id)?;
        require_non_empty("repository", &request.repository)?;
        require_non_empty("tag", &request.tag)?;
        if self
            .images
            .iter()
            .any(|i| i.organization_id == request.org_id && i.repository == request.repository)
        {
            return Err(ApiError::conflict(format!(
                "An image with repository {:?} already exists in this organization.",
                request.repository
            )));
        }
        let registry_id = match (request.registry_id, request.new_registry) {
            (Some(id), None) => {
                let registry = self.registry(&id)?;
                if registry.organization_id != request.org_id {
                    return Err(ApiError::bad_request(
                        "The registry belongs to another organization.",
                    ));
                }
                id
            }
            (None, Some(mut new_registry)) => {
                new_registry.org_id.clone_from(&request.org_id);
                self.create_registry(new_registry)?.id.clone()
            }
            _ => {
                return Err(ApiError::bad_request(
                    "Exactly one of registry_id and new_registry is required.",
                ));
            }
        };
        self.images.push(Image {
            id: new_id(),
            organization_id: request.org_id,
            registry_id,
            repository: request.repository,
            tag: request.tag,
            description: request.description,
            url: request.url,
            default_cpu_cores: request.default_cpu_cores,
            default_memory_gb: request.default_memory_gb,
            default_disk_gb: request.default_disk_gb,
            created_at: now_rfc3339(),
        });
        // Just pushed, so the vector is not empty.
        self.images.last().ok_or_else(image_not_found)
    }

    /// One image, or 404.
    pub fn image(&self, id: &str) -> Result<&Image, ApiError> {
        self.images
            .iter()
            .find(|i| i.id == id)
            .ok_or_else(image_not_found)
    }

    /// The images of organization `org` (which must exist).
    pub fn list_images(&self, org: &str) -> Result<Vec<&Image>, ApiError> {
        require_org(org)?;
        Ok(self
            .images
            .iter()
            .filter(|i| i.organization_id == org)
            .collect())
    }

    /// Deletes an image, or 404.
    pub fn delete_image(&mut self, id: &str) -> Result<(), ApiError> {
        let index = self
            .images
            .iter()
            .position(|i| i.id == id)
            .ok_or_else(image_not_found)?;
        self.images.remove(index);
        Ok(())
    }

    /// The API's `Image` JSON (coder-sdk `Image`), with its registry embedded (`null` when the
    /// registry was deleted out of band).
    pub fn image_json(&self, image: &Image) -> Value {
        let registry = self
            .registries
            .iter()
            .find(|r| r.id == image.registry_id)
            .map_or(Value::Null, Registry::to_json);
        json!({
            "id": image.id,
            "organization_id": image.organization_id,
            "repository": image.repository,
            "description": image.description,
            "url": image.url,
            "registry": registry,
            "default_tag": {
                "image_id": image.id,
                "tag": image.tag,
                "created_at": image.created_at,
                "updated_at": image.created_at,
            },
            "default_cpu_cores": image.default_cpu_cores,
            "default_memory_gb": image.default_memory_gb,
            "default_disk_gb": image.default_disk_gb,
            "deprecated": false,
            "created_at": image.created_at,
            "updated_at": image.created_at,
        })
    }

    fn require_unique_name(
        &self,
        org: &str,
        name: &str,
        except_id: Option<&str>,
    ) -> Result<(), ApiError> {
        let taken = self.registries.iter().any(|r| {
            r.organization_id == org && r.friendly_name == name && Some(r.id.as_str()) != except_id
        });
        if taken {
            return Err(ApiError::conflict(format!(
                "A registry named {name:?} already exists in this organization."
            )));
        }
        Ok(())
    }
}

/// Checks one key of a settings object: known keys must have their JSON type (and `gpu_vendor`
/// one of [`GPU_VENDORS`]); unknown keys may hold anything.
/// The settings object of a fresh deployment: [`INITIAL_SETTINGS`].
fn initial_settings() -> Map<String, Value> {
    INITIAL_SETTINGS
        .iter()
        .map(|(key, value)| {
            let value = match value {
                InitialValue::Bool(b) => Value::Bool(*b),
                InitialValue::Str(s) => Value::String((*s).to_owned()),
            };
            ((*key).to_owned(), value)
        })
        .collect()
}

/// `body` as a settings object, once every key in it is valid.
fn validated_settings(body: &Value) -> Result<&Map<String, Value>, ApiError> {
    let object = body
        .as_object()
        .ok_or_else(|| ApiError::bad_request("The request body must be a JSON object."))?;
    for (key, value) in object {
        validate_setting(key, value)?;
    }
    Ok(object)
}

fn validate_setting(key: &str, value: &Value) -> Result<(), ApiError> {
    let Some((_, initial)) = INITIAL_SETTINGS.iter().find(|(k, _)| *k == key) else {
        return Ok(());
    };
    match (initial, value) {
        (InitialValue::Bool(_), Value::Bool(_)) => Ok(()),
        (InitialValue::Str(_), Value::String(vendor)) if key == "gpu_vendor" => {
            if GPU_VENDORS.contains(&vendor.as_str()) {
                Ok(())
            } else {
                Err(ApiError::bad_request(format!(
                    "gpu_vendor must be \"\", \"nvidia\" or \"amd\", not {vendor:?}."
                ))
                .with_details(json!({ "field": "gpu_vendor" })))
            }
        }
        (InitialValue::Str(_), Value::String(_)) => Ok(()),
        (InitialValue::Bool(_), _) => Err(type_error(key, "a boolean", value)),
        (InitialValue::Str(_), _) => Err(type_error(key, "a string", value)),
    }
}

fn type_error(key: &str, expected: &str, value: &Value) -> ApiError {
    ApiError::bad_request(format!(
        "{key} must be {expected}, not {}.",
        json_type(value)
    ))
    .with_details(json!({ "field": key }))
}

/// The JSON type name of `value`, for messages.
pub fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn require_org(org: &str) -> Result<(), ApiError> {
    if ORGANIZATIONS.contains(&org) {
        Ok(())
    } else {
        Err(ApiError::not_found(format!(
            "Organization {org:?} not found."
        )))
    }
}

fn require_non_empty(field: &str, value: &str) -> Result<(), ApiError> {
    if value.trim().is_empty() {
        Err(
            ApiError::bad_request(format!("{field} is required and must not be empty."))
                .with_details(json!({ "field": field })),
        )
    } else {
        Ok(())
    }
}

fn check_password(password: &str) -> Result<(), ApiError> {
    if password.len() > MAX_PASSWORD_BYTES {
        Err(ApiError::bad_request(format!(
            "password must be at most {MAX_PASSWORD_BYTES} bytes, got {}.",
            password.len()
        ))
        .with_details(json!({ "field": "password" })))
    } else {
        Ok(())
    }
}

fn registry_not_found() -> ApiError {
    ApiError::not_found("Registry not found.")
}

fn image_not_found() -> ApiError {
    ApiError::not_found("Image not found.")
}

/// A random UUID-shaped id (version 4 layout).
pub fn new_id() -> String {
    let high = fastrand::u64(..);
    let low = fastrand::u64(..);
    let hex = format!("{high:016x}{low:016x}");
    // Version nibble 4 and variant bits 10xx, as in a random UUID.
    let variant = 8 + (low >> 60) % 4;
    format!(
        "{}-{}-4{}-{variant:x}{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}

/// The current time as RFC 3339 in UTC, like Go's `time.Time` JSON.
pub fn now_rfc3339() -> String {
    // Formatting the current UTC time as RFC 3339 only fails for years outside 0..=9999.
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_else(|_| "1970-01-01T00:00:00Z".to_owned())
}

/// Lower-case hex SHA-256 of `text`.
pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_look_like_uuids() {
        let id = new_id();
        assert_eq!(id.len(), 36);
        assert_eq!(id.matches('-').count(), 4);
        assert_ne!(id, new_id());
    }

    #[test]
    fn sha256_of_known_text() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn invalid_settings_change_nothing() {
        let mut model = Model::new();
        let err = model
            .update_settings(&json!({"enable_tun_device": true, "gpu_vendor": "intel"}))
            .unwrap_err();
        assert_eq!(err.status, axum::http::StatusCode::BAD_REQUEST);
        assert_eq!(model.settings()["enable_tun_device"], json!(false));
        model
            .update_settings(&json!({"enable_tun_device": true}))
            .unwrap();
        let err = model
            .replace_settings(&json!({"gpu_vendor": "intel"}))
            .unwrap_err();
        assert_eq!(err.status, axum::http::StatusCode::BAD_REQUEST);
        assert_eq!(model.settings()["enable_tun_device"], json!(true));
    }

    #[test]
    fn replace_resets_left_out_keys_and_merge_keeps_them() {
        let mut model = Model::new();
        model
            .update_settings(&json!({"enable_tun_device": true, "gpu_vendor": "nvidia", "x": 1}))
            .unwrap();
        model
            .update_settings(&json!({"enable_container_vms": true}))
            .unwrap();
        assert_eq!(model.settings()["enable_tun_device"], json!(true));
        assert_eq!(model.settings()["x"], json!(1));

        let settings = model
            .replace_settings(&json!({"enable_fuse_device": true, "y": [2]}))
            .unwrap()
            .clone();
        let mut expected = initial_settings();
        expected.insert("enable_fuse_device".into(), json!(true));
        expected.insert("y".into(), json!([2]));
        assert_eq!(settings, expected);
    }
}
