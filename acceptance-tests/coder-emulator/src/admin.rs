//! The test-only admin surface under `/__emulator/` (no authentication; the emulator listens on
//! loopback only). JSON in and out; errors use the v1 error body.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::api::{parse_json, parse_object, registry_update};
use crate::api_error::ApiError;
use crate::faults::FaultPlan;
use crate::model::ORGANIZATIONS;
use crate::request_log::Entry;
use crate::{Emulator, SettingsPut};

type AdminResult = Result<Response, ApiError>;

/// `GET /__emulator/faults`: the active fault plan.
pub async fn get_faults(State(emulator): State<Emulator>) -> Response {
    Json(json!(emulator.faults().plan())).into_response()
}

/// `POST /__emulator/faults`: replaces the fault plan (`rate` 0 turns faults off).
pub async fn set_faults(State(emulator): State<Emulator>, body: Bytes) -> AdminResult {
    let plan: FaultPlan = serde_json::from_value(parse_json(&body)?)
        .map_err(|e| ApiError::bad_request(format!("Invalid fault plan: {e}.")))?;
    emulator
        .faults()
        .set(plan.clone())
        .map_err(|e| ApiError::bad_request(format!("Invalid fault plan: {e}.")))?;
    Ok(Json(json!(plan)).into_response())
}

/// `GET /__emulator/settings`: the settings object.
pub async fn get_settings(State(emulator): State<Emulator>) -> Response {
    Json(Value::Object(emulator.model().settings().clone())).into_response()
}

/// `PATCH /__emulator/settings`: changes settings as an admin would in the UI (same validation
/// as the API's PUT; not counted in the request log).
pub async fn patch_settings(State(emulator): State<Emulator>, body: Bytes) -> AdminResult {
    let body = parse_json(&body)?;
    let mut model = emulator.model();
    let settings = model.update_settings(&body)?;
    Ok(Json(Value::Object(settings.clone())).into_response())
}

/// `PATCH /__emulator/registries/{id}`: changes a registry as an admin would in the UI.
pub async fn patch_registry(
    State(emulator): State<Emulator>,
    Path(id): Path<String>,
    body: Bytes,
) -> AdminResult {
    let update = registry_update(&parse_object(&body)?)?;
    let mut model = emulator.model();
    Ok(Json(model.update_registry(&id, update)?.to_json()).into_response())
}

/// `DELETE /__emulator/registries/{id}`: deletes a registry even while images use it.
pub async fn delete_registry(
    State(emulator): State<Emulator>,
    Path(id): Path<String>,
) -> AdminResult {
    emulator.model().delete_registry(&id, true)?;
    Ok(Json(json!({ "msg": "Registry deleted out of band." })).into_response())
}

/// `GET /__emulator/requests`: request counts per route key.
pub async fn request_counts(State(emulator): State<Emulator>) -> Response {
    Json(json!(emulator.log().counts())).into_response()
}

/// `GET /__emulator/last-request-bodies[?route=METHOD /path]`: the last redacted body of one
/// route (404 when it had none), or of every route.
pub async fn last_request_bodies(
    State(emulator): State<Emulator>,
    RawQuery(query): RawQuery,
) -> AdminResult {
    let route = query.as_deref().and_then(|raw| {
        url::form_urlencoded::parse(raw.as_bytes())
            .find(|(key, _)| key == "route")
            .map(|(_, value)| value.into_owned())
    });
    let log = emulator.log();
    match route {
        None => Ok(Json(json!(log.last_bodies())).into_response()),
        Some(route) => log
            .last_bodies()
            .get(&route)
            .map(|body| Json(body.clone()).into_response())
            .ok_or_else(|| {
                ApiError::not_found(format!("No request with a body was sent to {route:?}."))
            }),
    }
}

/// `POST /__emulator/reset`: back to a fresh deployment (token, version and mode stay).
pub async fn reset(State(emulator): State<Emulator>) -> Response {
    emulator.reset();
    Json(json!({ "msg": "Reset." })).into_response()
}

/// `GET /__emulator/request-log`: every request (up to the last
/// [`MAX_ENTRIES`](crate::request_log::MAX_ENTRIES)) in arrival order, with its redacted body and
/// the status it was answered.
pub async fn request_log(State(emulator): State<Emulator>) -> Response {
    let log = emulator.log();
    let entries: Vec<&Entry> = log.entries().collect();
    Json(json!(entries)).into_response()
}

/// The modes as `GET`/`POST /__emulator/mode` show them.
fn mode_json(emulator: &Emulator) -> Value {
    json!({ "v2": emulator.is_v2(), "settings_put": emulator.settings_put() })
}

/// `GET /__emulator/mode`: `{"v2": bool, "settings_put": "replace"|"merge"}`.
pub async fn get_mode(State(emulator): State<Emulator>) -> Response {
    Json(mode_json(&emulator)).into_response()
}

/// `POST /__emulator/mode` `{"v2": bool, "settings_put": "replace"|"merge"}` (either or both):
/// switches between Coder v1 and v2 answers, and between a settings PUT that replaces and one
/// that merges. Answers the modes now in force.
pub async fn set_mode(State(emulator): State<Emulator>, body: Bytes) -> AdminResult {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct ModeChange {
        v2: Option<bool>,
        settings_put: Option<SettingsPut>,
    }
    let usage = "Expected {\"v2\": true|false, \"settings_put\": \"replace\"|\"merge\"} \
                 (either or both)";
    let change: ModeChange = serde_json::from_value(Value::Object(parse_object(&body)?))
        .map_err(|e| ApiError::bad_request(format!("{usage}: {e}.")))?;
    if change.v2.is_none() && change.settings_put.is_none() {
        return Err(ApiError::bad_request(format!("{usage}.")));
    }
    if let Some(v2) = change.v2 {
        emulator.set_v2(v2);
    }
    if let Some(mode) = change.settings_put {
        emulator.set_settings_put(mode);
    }
    Ok(Json(mode_json(&emulator)).into_response())
}

/// `GET /__emulator/state`: everything stored, with credential digests instead of credentials.
pub async fn state(State(emulator): State<Emulator>) -> Response {
    let model = emulator.model();
    let registries: Vec<Value> = model
        .registries()
        .iter()
        .map(|r| r.to_admin_json())
        .collect();
    let images: Vec<Value> = model
        .images()
        .iter()
        .map(|image| {
            let mut value = model.image_json(image);
            if let Some(object) = value.as_object_mut() {
                object.insert("registry_id".into(), image.registry_id.clone().into());
            }
            value
        })
        .collect();
    Json(json!({
        "version": emulator.shared.version,
        "v2": emulator.is_v2(),
        "settings_put": emulator.settings_put(),
        "organizations": ORGANIZATIONS,
        "settings": Value::Object(model.settings().clone()),
        "registries": registries,
        "images": images,
        "faults": emulator.faults().plan(),
    }))
    .into_response()
}
