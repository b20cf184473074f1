//! What the emulator remembers about requests: how many arrived per route, and the last body per
//! route with every secret replaced. Headers (and so the session token) are never kept.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

/// What replaces a secret value in a logged body.
pub const REDACTED: &str = "<redacted>";

/// Counts and last bodies per route key (`"METHOD /path/with/{id}"`).
#[derive(Debug, Default, Clone)]
pub struct RequestLog {
    counts: BTreeMap<String, u64>,
    last_bodies: BTreeMap<String, Value>,
}

impl RequestLog {
    /// Records one request to `route` with the raw `body` (empty when there was none).
    pub fn record(&mut self, route: &str, body: &[u8]) {
        *self.counts.entry(route.to_owned()).or_default() += 1;
        if !body.is_empty() {
            self.last_bodies
                .insert(route.to_owned(), loggable_body(body));
        }
    }

    /// Requests per route.
    pub fn counts(&self) -> &BTreeMap<String, u64> {
        &self.counts
    }

    /// The last (redacted) body sent to each route that had one.
    pub fn last_bodies(&self) -> &BTreeMap<String, Value> {
        &self.last_bodies
    }
}

/// The key a request is counted under: the method and the route pattern (ids as `{id}`), or the
/// raw path for a route the server does not have.
pub fn route_key(method: &str, pattern_or_path: &str) -> String {
    format!("{method} {pattern_or_path}")
}

/// A body as it may be logged: JSON with secrets redacted, or only its size when it is not JSON
/// (it could be anything, including a secret).
fn loggable_body(body: &[u8]) -> Value {
    match serde_json::from_slice::<Value>(body) {
        Ok(mut value) => {
            redact(&mut value);
            value
        }
        Err(_) => json!({ "non_json_body_bytes": body.len() }),
    }
}

/// Whether an object key names a secret. User names count: they are half of a registry's
/// credentials, which no route returns.
fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["password", "token", "secret", "key", "username"]
        .iter()
        .any(|word| key.contains(word))
}

/// Replaces, at any depth, the value of every secret-looking key (except `null`, so "sent as
/// null" stays visible) with [`REDACTED`].
fn redact(value: &mut Value) {
    match value {
        Value::Object(object) => redact_object(object),
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

fn redact_object(object: &mut Map<String, Value>) {
    for (key, value) in object.iter_mut() {
        if is_secret_key(key) && !value.is_null() {
            *value = Value::String(REDACTED.to_owned());
        } else {
            redact(value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_at_any_depth() {
        let mut log = RequestLog::default();
        let body = br#"{"friendly_name":"x","password":"hunter2","new_registry":{"password":"p2","username":"u"},"api_key":"k","username":null}"#;
        log.record("POST /api/v0/images", body);
        let logged = &log.last_bodies()["POST /api/v0/images"];
        let text = logged.to_string();
        assert!(!text.contains("hunter2") && !text.contains("p2") && !text.contains("\"k\""));
        assert_eq!(logged["friendly_name"], json!("x"));
        assert_eq!(logged["password"], json!(REDACTED));
        assert_eq!(logged["new_registry"]["username"], json!(REDACTED));
        assert_eq!(logged["username"], Value::Null);
        assert_eq!(log.counts()["POST /api/v0/images"], 1);
    }

    #[test]
    fn non_json_bodies_keep_only_their_size() {
        let mut log = RequestLog::default();
        log.record("PUT /x", b"password=hunter2");
        assert_eq!(
            log.last_bodies()["PUT /x"],
            json!({ "non_json_body_bytes": 16 })
        );
    }
}
