//! Private state: data a resource keeps with its state that users never
//! see, such as the values a setting had before Terraform managed it.
//!
//! Stored as a JSON object of named entries. Keys starting with `.` are
//! reserved for the framework.

use std::collections::BTreeMap;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A resource's private state.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PrivateState {
    entries: BTreeMap<String, serde_json::Value>,
}

/// Private state bytes that are not a JSON object.
#[derive(Debug, thiserror::Error)]
#[error("private state is not a JSON object")]
pub struct InvalidPrivateState(#[source] serde_json::Error);

impl PrivateState {
    /// Reads stored bytes; empty bytes are an empty state.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, InvalidPrivateState> {
        if bytes.is_empty() {
            return Ok(Self::default());
        }
        let entries = serde_json::from_slice(bytes).map_err(InvalidPrivateState)?;
        Ok(Self { entries })
    }

    /// The bytes to store; empty when there are no entries.
    pub fn to_bytes(&self) -> Vec<u8> {
        if self.entries.is_empty() {
            return Vec::new();
        }
        serde_json::to_vec(&self.entries).unwrap_or_default()
    }

    /// The entry `key`, if present and of type `T`.
    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        self.entries
            .get(key)
            .and_then(|v| serde_json::from_value(v.clone()).ok())
    }

    /// Sets the entry `key`.
    pub fn set<T: Serialize>(&mut self, key: &str, value: &T) -> Result<(), serde_json::Error> {
        self.entries
            .insert(key.to_owned(), serde_json::to_value(value)?);
        Ok(())
    }

    /// Removes the entry `key`.
    pub fn remove(&mut self, key: &str) {
        self.entries.remove(key);
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_empty_is_empty_bytes() {
        assert!(PrivateState::default().to_bytes().is_empty());
        let mut p = PrivateState::default();
        p.set("before", &vec![1, 2]).expect("serialisable");
        let back = PrivateState::from_bytes(&p.to_bytes()).expect("valid");
        assert_eq!(back.get::<Vec<i32>>("before"), Some(vec![1, 2]));
        assert!(PrivateState::from_bytes(b"[1]").is_err());
    }
}
