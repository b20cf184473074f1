//! What the emulator remembers about requests: how many arrived per route, the last body per
//! route, and every request in arrival order with the status it was answered, each body with
//! every secret replaced. Headers (and so the session token) are never kept.

use std::collections::{BTreeMap, VecDeque};

use serde::Serialize;
use serde_json::{Map, Value, json};

/// What replaces a secret value in a logged body.
pub const REDACTED: &str = "<redacted>";

/// How many requests the ordered log keeps; older ones are dropped (counts are kept for all).
pub const MAX_ENTRIES: usize = 10_000;

/// One request as the ordered log keeps it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Entry {
    /// Position in arrival order, from 1; it keeps counting when old entries are dropped.
    pub seq: u64,
    /// The route key it is counted under (see [`route_key`]).
    pub route: String,
    /// Method.
    pub method: String,
    /// The path as sent (ids included).
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    /// The redacted body, or `None` when there was none.
    pub body: Option<Value>,
    /// The status it was answered with; `None` while it is being handled.
    pub status: Option<u16>,
    /// Whether that answer was an injected fault.
    pub fault: bool,
}

/// A request as it arrives, before it is recorded.
#[derive(Debug, Clone, Copy)]
pub struct Arrival<'a> {
    /// The route key (see [`route_key`]).
    pub route: &'a str,
    /// Method.
    pub method: &'a str,
    /// The path as sent.
    pub path: &'a str,
    /// The raw query string, if any.
    pub query: Option<&'a str>,
    /// The raw body (empty when there was none).
    pub body: &'a [u8],
}

/// Counts and last bodies per route key (`"METHOD /path/with/{id}"`), and the ordered log.
#[derive(Debug, Default, Clone)]
pub struct RequestLog {
    counts: BTreeMap<String, u64>,
    last_bodies: BTreeMap<String, Value>,
    entries: VecDeque<Entry>,
    next_seq: u64,
}

impl RequestLog {
    /// Records one arriving request and returns its `seq`, to [`answered`](Self::answered) later.
    pub fn record(&mut self, arrival: Arrival<'_>) -> u64 {
        *self.counts.entry(arrival.route.to_owned()).or_default() += 1;
        let body = (!arrival.body.is_empty()).then(|| loggable_body(arrival.body));
        if let Some(body) = &body {
            self.last_bodies
                .insert(arrival.route.to_owned(), body.clone());
        }
        self.next_seq += 1;
        if self.entries.len() == MAX_ENTRIES {
            self.entries.pop_front();
        }
        self.entries.push_back(Entry {
            seq: self.next_seq,
            route: arrival.route.to_owned(),
            method: arrival.method.to_owned(),
            path: arrival.path.to_owned(),
            query: arrival.query.map(str::to_owned),
            body,
            status: None,
            fault: false,
        });
        self.next_seq
    }

    /// Notes the status request `seq` was answered with, and whether it was an injected fault.
    pub fn answered(&mut self, seq: u64, status: u16, fault: bool) {
        if let Some(entry) = self.entries.iter_mut().rev().find(|e| e.seq == seq) {
            entry.status = Some(status);
            entry.fault = fault;
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

    /// The last [`MAX_ENTRIES`] requests, in arrival order.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
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

    fn arrival<'a>(route: &'a str, body: &'a [u8]) -> Arrival<'a> {
        let (method, path) = route.split_once(' ').unwrap_or(("GET", route));
        Arrival {
            route,
            method,
            path,
            query: None,
            body,
        }
    }

    #[test]
    fn secrets_are_redacted_at_any_depth() {
        let mut log = RequestLog::default();
        let body = br#"{"friendly_name":"x","password":"hunter2","new_registry":{"password":"p2","username":"u"},"api_key":"k","username":null}"#;
        log.record(arrival("POST /api/v0/images", body));
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
        log.record(arrival("PUT /x", b"password=hunter2"));
        assert_eq!(
            log.last_bodies()["PUT /x"],
            json!({ "non_json_body_bytes": 16 })
        );
        let entry = log.entries().next().unwrap();
        assert_eq!(entry.body, Some(json!({ "non_json_body_bytes": 16 })));
    }

    #[test]
    fn entries_keep_arrival_order_and_the_answer() {
        let mut log = RequestLog::default();
        let first = log.record(arrival("GET /a", b""));
        let second = log.record(arrival("PUT /b", br#"{"token":"t","x":1}"#));
        // Answered out of order: the log keeps arrival order.
        log.answered(second, 503, true);
        log.answered(first, 200, false);
        let entries: Vec<_> = log.entries().cloned().collect();
        assert_eq!(entries.len(), 2);
        assert_eq!((entries[0].seq, entries[0].status), (1, Some(200)));
        assert!(!entries[0].fault);
        assert_eq!(entries[0].body, None);
        assert_eq!((entries[1].seq, entries[1].status), (2, Some(503)));
        assert!(entries[1].fault);
        assert_eq!(entries[1].body, Some(json!({"token": REDACTED, "x": 1})));
        assert_eq!(entries[1].method, "PUT");
        assert_eq!(entries[1].path, "/b");
    }

    #[test]
    fn the_ordered_log_is_bounded() {
        let mut log = RequestLog::default();
        for _ in 0..MAX_ENTRIES + 5 {
            log.record(arrival("GET /a", b""));
        }
        assert_eq!(log.entries().count(), MAX_ENTRIES);
        assert_eq!(log.entries().next().unwrap().seq, 6);
        assert_eq!(log.counts()["GET /a"], (MAX_ENTRIES + 5) as u64);
    }
}
