//! Reading Terraform's machine-readable state (`terraform show -json`) and plan
//! (`terraform show -json <planfile>`) with short attribute paths such as `caching.enabled`,
//! `labels.role` or `taints.0.key`.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::Error;

/// Looks `path` up in `value`. Segments are separated by `.`; a segment indexes an array when it
/// is a number and names an object key otherwise; a final `#` gives the length of an array or
/// object (as a JSON number). The empty path returns `value` itself.
pub fn lookup<'a>(value: &'a Value, path: &str) -> Option<LookupResult<'a>> {
    if path.is_empty() {
        return Some(LookupResult::Value(value));
    }
    let mut current = value;
    let mut segments = path.split('.').peekable();
    while let Some(segment) = segments.next() {
        if segment == "#" && segments.peek().is_none() {
            let len = match current {
                Value::Array(items) => items.len(),
                Value::Object(map) => map.len(),
                _ => return None,
            };
            return Some(LookupResult::Count(len));
        }
        current = match current {
            Value::Object(map) => map.get(segment)?,
            Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(LookupResult::Value(current))
}

/// What [`lookup`] found: a value inside the document, or a computed `#` count.
#[derive(Debug, Clone, PartialEq)]
pub enum LookupResult<'a> {
    /// A value inside the document.
    Value(&'a Value),
    /// The length of an array or object (`…​.#`).
    Count(usize),
}

impl LookupResult<'_> {
    /// The result as an owned JSON value.
    pub fn to_value(&self) -> Value {
        match self {
            LookupResult::Value(v) => (*v).clone(),
            LookupResult::Count(n) => Value::from(*n),
        }
    }
}

/// Flattens `value` into `path → scalar` pairs (`a.b.0.c`), the way import verification compares
/// states. Empty arrays and objects appear as `path.#` = 0 so they are not lost.
pub fn flatten(value: &Value) -> BTreeMap<String, Value> {
    fn walk(prefix: &str, value: &Value, out: &mut BTreeMap<String, Value>) {
        let join = |key: &str| {
            if prefix.is_empty() {
                key.to_string()
            } else {
                format!("{prefix}.{key}")
            }
        };
        match value {
            Value::Object(map) => {
                if map.is_empty() && !prefix.is_empty() {
                    out.insert(join("#"), Value::from(0));
                }
                for (key, child) in map {
                    walk(&join(key), child, out);
                }
            }
            Value::Array(items) => {
                out.insert(join("#"), Value::from(items.len()));
                for (index, child) in items.iter().enumerate() {
                    walk(&join(&index.to_string()), child, out);
                }
            }
            scalar => {
                out.insert(prefix.to_string(), scalar.clone());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk("", value, &mut out);
    out
}

/// The attribute values of one resource instance (from a state, or planned in a plan).
#[derive(Debug, Clone, Copy)]
pub struct Attributes<'a> {
    address: &'a str,
    values: &'a Value,
}

impl<'a> Attributes<'a> {
    /// The resource address these attributes belong to.
    pub fn address(&self) -> &'a str {
        self.address
    }

    /// All attribute values as one JSON object.
    pub fn values(&self) -> &'a Value {
        self.values
    }

    /// The value at `path` (see [`lookup`]); an error lists the top-level attributes if missing.
    pub fn get(&self, path: &str) -> Result<Value, Error> {
        lookup(self.values, path)
            .map(|found| found.to_value())
            .ok_or_else(|| Error::NotFound {
                what: format!("attribute {path:?} of {}", self.address),
                available: describe_keys(self.values),
            })
    }

    /// The string at `path`; an error if missing or not a string.
    pub fn str(&self, path: &str) -> Result<String, Error> {
        match self.get(path)? {
            Value::String(s) => Ok(s),
            other => Err(Error::Assertion(format!(
                "attribute {path:?} of {} is {other}, not a string",
                self.address
            ))),
        }
    }

    /// Whether `path` exists and is not null.
    pub fn is_set(&self, path: &str) -> bool {
        match lookup(self.values, path) {
            Some(LookupResult::Value(v)) => !v.is_null(),
            Some(LookupResult::Count(_)) => true,
            None => false,
        }
    }
}

fn describe_keys(value: &Value) -> String {
    match value {
        Value::Object(map) => map.keys().cloned().collect::<Vec<_>>().join(", "),
        other => format!("(not an object: {other})"),
    }
}

/// Parsed `terraform show -json` of a state.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    json: Value,
}

impl State {
    /// Parses the text printed by `terraform show -json`. An empty state (`{"format_version":…}`
    /// without `values`) is valid.
    pub fn from_json(text: &str) -> Result<State, Error> {
        let json = serde_json::from_str(text)
            .map_err(|e| Error::json("`terraform show -json`", e, text))?;
        Ok(State { json })
    }

    /// The whole document.
    pub fn json(&self) -> &Value {
        &self.json
    }

    /// Every resource instance in every module: `(address, mode, values)`.
    fn instances(&self) -> Vec<(&str, &str, &Value)> {
        fn walk<'a>(module: &'a Value, out: &mut Vec<(&'a str, &'a str, &'a Value)>) {
            if let Some(resources) = module.get("resources").and_then(Value::as_array) {
                for resource in resources {
                    let address = resource.get("address").and_then(Value::as_str);
                    let mode = resource.get("mode").and_then(Value::as_str);
                    if let (Some(address), Some(mode)) = (address, mode) {
                        let values = resource.get("values").unwrap_or(&Value::Null);
                        out.push((address, mode, values));
                    }
                }
            }
            if let Some(children) = module.get("child_modules").and_then(Value::as_array) {
                for child in children {
                    walk(child, out);
                }
            }
        }
        let mut out = Vec::new();
        if let Some(root) = self.json.get("values").and_then(|v| v.get("root_module")) {
            walk(root, &mut out);
        }
        out
    }

    /// Addresses of every resource and data source instance, in state order.
    pub fn addresses(&self) -> Vec<String> {
        self.instances()
            .into_iter()
            .map(|(address, _, _)| address.to_string())
            .collect()
    }

    /// Whether the state holds no managed resources (data sources do not count: destroying
    /// them has no effect outside Terraform).
    pub fn has_managed_resources(&self) -> bool {
        self.instances()
            .iter()
            .any(|(_, mode, _)| *mode == "managed")
    }

    fn find(&self, address: &str, mode: &str) -> Result<Attributes<'_>, Error> {
        self.instances()
            .into_iter()
            .find(|(a, m, _)| *a == address && *m == mode)
            .map(|(address, _, values)| Attributes { address, values })
            .ok_or_else(|| Error::NotFound {
                what: format!("{mode} resource {address:?} in the state"),
                available: self.addresses().join(", "),
            })
    }

    /// The managed resource at `address`, e.g. `cvm_workspace_image.main` or
    /// `module.m.cvm_x.y[0]`.
    pub fn resource(&self, address: &str) -> Result<Attributes<'_>, Error> {
        self.find(address, "managed")
    }

    /// The data source at `address`; the `data.` prefix is optional.
    pub fn data(&self, address: &str) -> Result<Attributes<'_>, Error> {
        if address.starts_with("data.") || address.contains(".data.") {
            self.find(address, "data")
        } else {
            self.find(&format!("data.{address}"), "data")
        }
    }

    /// The value of root output `name`.
    pub fn output(&self, name: &str) -> Result<Value, Error> {
        let outputs = self.json.get("values").and_then(|v| v.get("outputs"));
        outputs
            .and_then(|o| o.get(name))
            .and_then(|o| o.get("value"))
            .cloned()
            .ok_or_else(|| Error::NotFound {
                what: format!("output {name:?}"),
                available: outputs.map(describe_keys).unwrap_or_default(),
            })
    }
}

/// One entry of a plan's `resource_changes` or `output_changes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The resource address, or `output.<name>` for output changes.
    pub address: String,
    /// Terraform's actions: `["no-op"]`, `["create"]`, `["update"]`, `["delete", "create"]`,
    /// `["create", "delete"]`, `["read"]` or `["delete"]`.
    pub actions: Vec<String>,
}

impl Change {
    /// Whether this change does nothing.
    pub fn is_no_op(&self) -> bool {
        self.actions.iter().all(|a| a == "no-op")
    }
}

/// Parsed `terraform show -json <planfile>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    json: Value,
}

impl Plan {
    /// Parses the text printed by `terraform show -json <planfile>`.
    pub fn from_json(text: &str) -> Result<Plan, Error> {
        let json = serde_json::from_str(text)
            .map_err(|e| Error::json("`terraform show -json <plan>`", e, text))?;
        Ok(Plan { json })
    }

    /// The whole document.
    pub fn json(&self) -> &Value {
        &self.json
    }

    /// Every resource change, including no-ops.
    pub fn resource_changes(&self) -> Vec<Change> {
        self.json
            .get("resource_changes")
            .and_then(Value::as_array)
            .map(|changes| {
                changes
                    .iter()
                    .filter_map(|c| {
                        Some(Change {
                            address: c.get("address")?.as_str()?.to_string(),
                            actions: actions_of(c.get("change")?),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every output change, including no-ops, addressed as `output.<name>`.
    pub fn output_changes(&self) -> Vec<Change> {
        self.json
            .get("output_changes")
            .and_then(Value::as_object)
            .map(|changes| {
                changes
                    .iter()
                    .map(|(name, change)| Change {
                        address: format!("output.{name}"),
                        actions: actions_of(change),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Resource and output changes that are not no-ops.
    pub fn pending_changes(&self) -> Vec<Change> {
        self.resource_changes()
            .into_iter()
            .chain(self.output_changes())
            .filter(|c| !c.is_no_op())
            .collect()
    }

    /// Whether applying this plan would change nothing.
    pub fn is_empty(&self) -> bool {
        self.pending_changes().is_empty()
    }

    fn change_of(&self, address: &str) -> Result<&Value, Error> {
        self.json
            .get("resource_changes")
            .and_then(Value::as_array)
            .and_then(|changes| {
                changes
                    .iter()
                    .find(|c| c.get("address").and_then(Value::as_str) == Some(address))
            })
            .and_then(|c| c.get("change"))
            .ok_or_else(|| Error::NotFound {
                what: format!("resource change {address:?} in the plan"),
                available: self
                    .resource_changes()
                    .iter()
                    .map(|c| c.address.clone())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// The actions planned for `address`.
    pub fn actions(&self, address: &str) -> Result<Vec<String>, Error> {
        self.change_of(address).map(actions_of)
    }

    /// The planned (`after`) values of `address`. Unknown values appear as absent or null here;
    /// use [`Plan::is_unknown`] to tell.
    pub fn planned(&self, address: &str) -> Result<Attributes<'_>, Error> {
        let change = self.change_of(address)?;
        Ok(Attributes {
            address: change_address(&self.json, address),
            values: change.get("after").unwrap_or(&Value::Null),
        })
    }

    /// Whether the value at `path` of `address` is unknown until apply ("known after apply").
    pub fn is_unknown(&self, address: &str, path: &str) -> Result<bool, Error> {
        let change = self.change_of(address)?;
        let unknown = change.get("after_unknown").unwrap_or(&Value::Null);
        Ok(matches!(
            lookup(unknown, path),
            Some(LookupResult::Value(Value::Bool(true)))
        ))
    }
}

/// The `address` string stored in the plan document (borrowed from it, for [`Attributes`]).
fn change_address<'a>(json: &'a Value, address: &str) -> &'a str {
    json.get("resource_changes")
        .and_then(Value::as_array)
        .and_then(|changes| {
            changes
                .iter()
                .filter_map(|c| c.get("address").and_then(Value::as_str))
                .find(|a| *a == address)
        })
        .unwrap_or("")
}

fn actions_of(change: &Value) -> Vec<String> {
    change
        .get("actions")
        .and_then(Value::as_array)
        .map(|actions| {
            actions
                .iter()
                .filter_map(|a| a.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
