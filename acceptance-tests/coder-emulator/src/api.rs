//! Handlers of the emulated Coder v1 API (`/api/**`). Authentication, faults and the request log
//! are handled before these run (see `gate`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use crate::api_error::ApiError;
use crate::model::{NewImage, NewRegistry, RegistryUpdate, json_type};
use crate::{Emulator, SettingsPut, V2_VERSION};

/// Response header carrying the version on `GET /api` (coder-sdk `version.go`).
const VERSION_HEADER: HeaderName = HeaderName::from_static("coder-version");

type ApiResult = Result<Response, ApiError>;

/// `GET /api`: 200 with the version in the `coder-version` header.
pub async fn root(State(emulator): State<Emulator>) -> Response {
    let mut response = StatusCode::OK.into_response();
    if let Ok(value) = HeaderValue::from_str(&emulator.shared.version) {
        response.headers_mut().insert(VERSION_HEADER, value);
    }
    response
}

/// `GET /api/private/version`: `{"version": "1.44.0"}`, no authentication needed.
pub async fn private_version(State(emulator): State<Emulator>) -> Response {
    Json(json!({ "version": emulator.shared.version })).into_response()
}

/// `GET /api/v2/buildinfo` (v2 mode only; the gate answers 404 in v1 mode).
pub async fn buildinfo() -> Response {
    Json(json!({
        "version": V2_VERSION,
        "external_url": "https://github.com/coder/coder",
        "dashboard_url": "",
        "workspace_proxy": false,
        "agent_api_version": "2.0",
        "upgrade_message": "",
        "deployment_id": "00000000-0000-4000-8000-000000000000",
    }))
    .into_response()
}

/// `GET /api/v0/workspaces/config`.
pub async fn get_settings(State(emulator): State<Emulator>) -> Response {
    Json(Value::Object(emulator.model().settings().clone())).into_response()
}

/// `PUT /api/v0/workspaces/config`: the body replaces the object (or, in merge mode, its keys are
/// stored); returns the whole object.
pub async fn put_settings(State(emulator): State<Emulator>, body: Bytes) -> ApiResult {
    let body = parse_json(&body)?;
    let mode = emulator.settings_put();
    let mut model = emulator.model();
    let settings = match mode {
        SettingsPut::Replace => model.replace_settings(&body)?,
        SettingsPut::Merge => model.update_settings(&body)?,
    };
    Ok(Json(Value::Object(settings.clone())).into_response())
}

/// `GET /api/v0/registries?org=<id>`.
pub async fn list_registries(State(emulator): State<Emulator>, query: RawQuery) -> ApiResult {
    let org = required_org_query(&query)?;
    let model = emulator.model();
    let list: Vec<Value> = model
        .list_registries(&org)?
        .into_iter()
        .map(|r| r.to_json())
        .collect();
    Ok(Json(Value::Array(list)).into_response())
}

/// `POST /api/v0/registries`: 201 with the registry.
pub async fn create_registry(State(emulator): State<Emulator>, body: Bytes) -> ApiResult {
    let object = parse_object(&body)?;
    let request = new_registry(&object, true)?;
    let mut model = emulator.model();
    let registry = model.create_registry(request)?;
    Ok((StatusCode::CREATED, Json(registry.to_json())).into_response())
}

/// `GET /api/v0/registries/{id}`.
pub async fn get_registry(State(emulator): State<Emulator>, Path(id): Path<String>) -> ApiResult {
    Ok(Json(emulator.model().registry(&id)?.to_json()).into_response())
}

/// `PATCH /api/v0/registries/{id}`: partial update; returns the registry.
pub async fn patch_registry(
    State(emulator): State<Emulator>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let update = registry_update(&parse_object(&body)?)?;
    let mut model = emulator.model();
    Ok(Json(model.update_registry(&id, update)?.to_json()).into_response())
}

/// `DELETE /api/v0/registries/{id}`: 200 `{"msg"}`, or 409 while images use it.
pub async fn delete_registry(
    State(emulator): State<Emulator>,
    Path(id): Path<String>,
) -> ApiResult {
    emulator.model().delete_registry(&id, false)?;
    Ok(Json(json!({ "msg": "Registry deleted." })).into_response())
}

/// `GET /api/v0/images?org=<id>`.
pub async fn list_images(State(emulator): State<Emulator>, query: RawQuery) -> ApiResult {
    let org = required_org_query(&query)?;
    let model = emulator.model();
    let list: Vec<Value> = model
        .list_images(&org)?
        .into_iter()
        .map(|image| model.image_json(image))
        .collect();
    Ok(Json(Value::Array(list)).into_response())
}

/// `POST /api/v0/images`: imports an image (from `registry_id`, or creating `new_registry`).
pub async fn create_image(State(emulator): State<Emulator>, body: Bytes) -> ApiResult {
    let object = parse_object(&body)?;
    let new_registry = match object.get("new_registry") {
        None | Some(Value::Null) => None,
        Some(Value::Object(inner)) => Some(new_registry(inner, false)?),
        Some(other) => return Err(wrong_type("new_registry", "an object", other)),
    };
    let request = NewImage {
        registry_id: string_field(&object, "registry_id")?,
        new_registry,
        repository: string_field(&object, "repository")?.unwrap_or_default(),
        org_id: string_field(&object, "org_id")?.unwrap_or_default(),
        tag: string_field(&object, "tag")?.unwrap_or_default(),
        description: string_field(&object, "description")?.unwrap_or_default(),
        url: string_field(&object, "url")?.unwrap_or_default(),
        default_cpu_cores: number_field(&object, "default_cpu_cores")?.unwrap_or(1.0),
        default_memory_gb: number_field(&object, "default_memory_gb")?.unwrap_or(1.0),
        default_disk_gb: integer_field(&object, "default_disk_gb")?.unwrap_or(10),
    };
    let mut model = emulator.model();
    let image = model.create_image(request)?.clone();
    Ok((StatusCode::CREATED, Json(model.image_json(&image))).into_response())
}

/// `GET /api/v0/images/{id}`.
pub async fn get_image(State(emulator): State<Emulator>, Path(id): Path<String>) -> ApiResult {
    let model = emulator.model();
    let image = model.image(&id)?;
    Ok(Json(model.image_json(image)).into_response())
}

/// `DELETE /api/v0/images/{id}`.
pub async fn delete_image(State(emulator): State<Emulator>, Path(id): Path<String>) -> ApiResult {
    emulator.model().delete_image(&id)?;
    Ok(Json(json!({ "msg": "Image deleted." })).into_response())
}

/// Any path the server does not have.
pub async fn route_not_found() -> ApiError {
    ApiError::route_not_found()
}

/// A known path with a method it does not have.
pub async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}

/// Parses a request body as JSON.
pub(crate) fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request("A JSON request body is required."));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("The request body is not valid JSON: {e}.")))
}

/// Parses a request body as a JSON object.
pub(crate) fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match parse_json(body)? {
        Value::Object(object) => Ok(object),
        other => Err(ApiError::bad_request(format!(
            "The request body must be a JSON object, not {}.",
            json_type(&other)
        ))),
    }
}

/// A registry creation request from a JSON object; `org_id` is read only when `with_org`.
fn new_registry(object: &Map<String, Value>, with_org: bool) -> Result<NewRegistry, ApiError> {
    Ok(NewRegistry {
        org_id: if with_org {
            string_field(object, "org_id")?.unwrap_or_default()
        } else {
            String::new()
        },
        friendly_name: string_field(object, "friendly_name")?.unwrap_or_default(),
        registry: string_field(object, "registry")?.unwrap_or_default(),
        username: string_field(object, "username")?.unwrap_or_default(),
        password: string_field(object, "password")?.unwrap_or_default(),
    })
}

/// A partial registry update from a JSON object (absent or `null` = unchanged).
pub(crate) fn registry_update(object: &Map<String, Value>) -> Result<RegistryUpdate, ApiError> {
    Ok(RegistryUpdate {
        registry: string_field(object, "registry")?,
        friendly_name: string_field(object, "friendly_name")?,
        username: string_field(object, "username")?,
        password: string_field(object, "password")?,
    })
}

/// A string field: `None` when absent or `null`, 400 for another type.
fn string_field(object: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(wrong_type(key, "a string", other)),
    }
}

/// A number field: `None` when absent or `null`, 400 for another type.
fn number_field(object: &Map<String, Value>, key: &str) -> Result<Option<f64>, ApiError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .map(Some)
            .ok_or_else(|| wrong_type(key, "a number", &Value::Number(n.clone()))),
        Some(other) => Err(wrong_type(key, "a number", other)),
    }
}

/// An integer field: `None` when absent or `null`, 400 for another type.
fn integer_field(object: &Map<String, Value>, key: &str) -> Result<Option<i64>, ApiError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if n.is_i64() => Ok(n.as_i64()),
        Some(other) => Err(wrong_type(key, "an integer", other)),
    }
}

fn wrong_type(key: &str, expected: &str, value: &Value) -> ApiError {
    ApiError::bad_request(format!(
        "{key} must be {expected}, not {}.",
        json_type(value)
    ))
    .with_details(json!({ "field": key }))
}

/// The `org` query parameter, required and non-empty.
fn required_org_query(query: &RawQuery) -> Result<String, ApiError> {
    query
        .0
        .as_deref()
        .and_then(|raw| {
            url::form_urlencoded::parse(raw.as_bytes())
                .find(|(key, _)| key == "org")
                .map(|(_, value)| value.into_owned())
        })
        .filter(|org| !org.is_empty())
        .ok_or_else(|| ApiError::bad_request("The org query parameter is required."))
}
