//! Does a model fit its schema? A model is a Rust type the framework reads
//! configuration, plans and state into; a field that disagrees with the
//! schema fails only when a user's value reaches it (an attribute renamed on
//! one side only is silently dropped; an `Option<String>` fails the first
//! plan whose value is unknown, as "Provider Model Error"). These probes
//! build values of the schema's full type and read them into the model and
//! back, so the mismatch shows in a test instead:
//!
//! * **every attribute set** (each list, set and map with one element, each
//!   block present): the model must read it and write back the same value;
//! * **every leaf unknown** (every element of every collection, every
//!   attribute inside blocks): the model must read it, and what it writes
//!   back must not lose what was known;
//! * **every attribute wholly unknown** (and every repeated block, as a
//!   `dynamic` block over an unknown collection gives).
//!
//! [`ProviderService::model_problems`](crate::server::ProviderService::model_problems)
//! runs them for every resource, data source and the provider's own
//! configuration.

use std::collections::BTreeMap;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tf_protocol::value::{Type, from_value, to_value};
use tf_protocol::{AttributePath, Value};

use crate::plan::keep_partial_unknowns;
use crate::schema::{Block, Nesting, Schema};

#[derive(Clone, Copy, Debug)]
enum Probe {
    EverythingSet,
    LeavesUnknown,
    AttributesUnknown,
}

impl Probe {
    fn describe(self) -> &'static str {
        match self {
            Probe::EverythingSet => "every attribute set",
            Probe::LeavesUnknown => "every element and nested attribute unknown",
            Probe::AttributesUnknown => "every attribute unknown",
        }
    }
}

/// The problems of model `M` against `schema`, one sentence each, naming
/// `what` (a resource type, say) and the attribute.
pub(crate) fn problems<M: DeserializeOwned + Serialize>(
    what: &str,
    schema: &Schema,
) -> Vec<String> {
    check::<M>(what, schema, Some(|m: &M| to_value(m)))
}

/// [`problems`] for a model that is only read (a provider configuration).
pub(crate) fn reading_problems<M: DeserializeOwned>(what: &str, schema: &Schema) -> Vec<String> {
    check::<M>(what, schema, None)
}

type WriteBack<M> = fn(&M) -> Result<Value, tf_protocol::value::ValueError>;

fn check<M: DeserializeOwned>(
    what: &str,
    schema: &Schema,
    write_back: Option<WriteBack<M>>,
) -> Vec<String> {
    let ty = schema.value_type();
    let mut out = Vec::new();
    for probe in [
        Probe::EverythingSet,
        Probe::LeavesUnknown,
        Probe::AttributesUnknown,
    ] {
        let value = block_value(&schema.block, &ty, probe);
        let model: M = match from_value(value.clone()) {
            Ok(model) => model,
            Err(e) => {
                out.push(format!(
                    "{what}: the model cannot read a value with {}: {e}",
                    probe.describe()
                ));
                continue;
            }
        };
        let Some(write_back) = write_back else {
            continue;
        };
        let written = match write_back(&model).and_then(|v| v.conform(&ty)) {
            Ok(written) => keep_partial_unknowns(written, &value),
            Err(e) => {
                out.push(format!(
                    "{what}: the model cannot write back a value with {}: {e}",
                    probe.describe()
                ));
                continue;
            }
        };
        if let Some(path) = first_difference(&value, &written, AttributePath::root()) {
            out.push(format!(
                "{what}: with {}, the model changes the value at {path} when it reads and writes it \
                 (a field missing from the model, or named differently from the schema?)",
                probe.describe()
            ));
        }
    }
    out
}

fn block_value(block: &Block, ty: &Type, probe: Probe) -> Value {
    let Type::Object(object) = ty else {
        return Value::Null;
    };
    let mut attrs = BTreeMap::new();
    for attribute in &block.attributes {
        let ty = &object.attributes[&attribute.name];
        let value = match probe {
            Probe::AttributesUnknown => Value::unknown(),
            Probe::EverythingSet | Probe::LeavesUnknown => typed_value(ty, probe),
        };
        attrs.insert(attribute.name.clone(), value);
    }
    for nested in &block.blocks {
        let ty = &object.attributes[&nested.type_name];
        let element = |ty: &Type| block_value(&nested.block, ty, probe);
        let value = match (nested.nesting, ty) {
            (Nesting::List | Nesting::Set, _) if matches!(probe, Probe::AttributesUnknown) => {
                Value::unknown()
            }
            (Nesting::List, Type::List(inner)) => Value::List(vec![element(inner)]),
            (Nesting::Set, Type::Set(inner)) => Value::Set(vec![element(inner)]),
            (Nesting::Map, Type::Map(inner)) => {
                Value::Map(BTreeMap::from([("k".to_owned(), element(inner))]))
            }
            (_, ty) => element(ty),
        };
        attrs.insert(nested.type_name.clone(), value);
    }
    Value::Object(attrs)
}

/// A value of `ty`: every primitive set, or unknown, and every collection
/// with one element.
fn typed_value(ty: &Type, probe: Probe) -> Value {
    let leaf = |known: Value| match probe {
        Probe::EverythingSet => known,
        Probe::LeavesUnknown | Probe::AttributesUnknown => Value::unknown(),
    };
    match ty {
        Type::String => leaf(Value::String("s".to_owned())),
        Type::Number => leaf(Value::Number(1.into())),
        Type::Bool => leaf(Value::Bool(true)),
        Type::Dynamic => leaf(Value::Dynamic(
            Box::new(Type::String),
            Box::new(Value::String("s".to_owned())),
        )),
        Type::List(inner) => Value::List(vec![typed_value(inner, probe)]),
        Type::Set(inner) => Value::Set(vec![typed_value(inner, probe)]),
        Type::Map(inner) => Value::Map(BTreeMap::from([(
            "k".to_owned(),
            typed_value(inner, probe),
        )])),
        Type::Object(object) => Value::Object(
            object
                .attributes
                .iter()
                .map(|(name, ty)| (name.clone(), typed_value(ty, probe)))
                .collect(),
        ),
        Type::Tuple(types) => Value::Tuple(types.iter().map(|t| typed_value(t, probe)).collect()),
    }
}

/// Where `written` first differs from `given`, if anywhere.
fn first_difference(given: &Value, written: &Value, path: AttributePath) -> Option<AttributePath> {
    if given.semantically_equal(written) {
        return None;
    }
    match (given, written) {
        (Value::Object(a), Value::Object(b)) | (Value::Map(a), Value::Map(b)) => {
            for (key, value) in a {
                let child = match given {
                    Value::Object(_) => path.clone().attribute(key),
                    _ => path.clone().key(key),
                };
                match b.get(key) {
                    Some(other) => {
                        if let Some(found) = first_difference(value, other, child) {
                            return Some(found);
                        }
                    }
                    None => return Some(child),
                }
            }
            Some(path)
        }
        (Value::List(a), Value::List(b)) | (Value::Set(a), Value::Set(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                let index = i64::try_from(i).unwrap_or(i64::MAX);
                if let Some(found) = first_difference(x, y, path.clone().index(index)) {
                    return Some(found);
                }
            }
            Some(path)
        }
        _ => Some(path),
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use tf_protocol::value::Attr;

    use super::*;
    use crate::schema::{Attribute, NestedBlock};
    use crate::timeouts::{Operation, Timeouts};

    fn schema() -> Schema {
        Schema::new(
            Block::new("a group")
                .attribute(Attribute::string("name").required())
                .attribute(Attribute::list("subnets", Type::String).optional())
                .attribute(Attribute::map("labels", Type::String).optional())
                .attribute(Attribute::string("id").computed())
                .block(NestedBlock::list(
                    "taint",
                    Block::new("a taint").attribute(Attribute::string("key").required()),
                ))
                .block(Timeouts::block(&[(
                    Operation::Create,
                    std::time::Duration::from_secs(60),
                )])),
        )
    }

    #[derive(Deserialize, Serialize)]
    struct Taint {
        key: Attr<String>,
    }

    #[derive(Deserialize, Serialize)]
    struct Fits {
        name: Attr<String>,
        subnets: Attr<Vec<String>>,
        labels: Attr<BTreeMap<String, String>>,
        id: Attr<String>,
        taint: Attr<Vec<Taint>>,
        timeouts: Option<Timeouts>,
    }

    #[test]
    fn a_model_that_fits_has_no_problems() {
        assert_eq!(
            problems::<Fits>("test_group", &schema()),
            Vec::<String>::new()
        );
    }

    #[test]
    fn unknowns_a_field_cannot_hold_are_problems() {
        #[derive(Deserialize, Serialize)]
        struct PlainList {
            name: Attr<String>,
            subnets: Option<Vec<String>>,
            labels: Attr<BTreeMap<String, String>>,
            id: Attr<String>,
            taint: Attr<Vec<Taint>>,
            timeouts: Option<Timeouts>,
        }
        let found = problems::<PlainList>("test_group", &schema());
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(found[0].contains("every element and nested attribute unknown"));
        assert!(found[0].contains("at subnets[0]"), "{}", found[0]);
        assert!(found[1].contains("every attribute unknown: value at subnets is unknown"));

        #[derive(Deserialize, Serialize)]
        struct PlainBlocks {
            name: Attr<String>,
            subnets: Attr<Vec<String>>,
            labels: Attr<BTreeMap<String, String>>,
            id: Attr<String>,
            taint: Vec<Taint>,
            timeouts: Option<Timeouts>,
        }
        let found = problems::<PlainBlocks>("test_group", &schema());
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0].contains("value at taint is unknown"),
            "{}",
            found[0]
        );
    }

    #[test]
    fn a_field_named_apart_from_its_attribute_is_a_problem() {
        #[derive(Deserialize, Serialize)]
        struct Renamed {
            name: Attr<String>,
            subnet_ids: Attr<Vec<String>>,
            labels: Attr<BTreeMap<String, String>>,
            id: Attr<String>,
            taint: Attr<Vec<Taint>>,
            timeouts: Option<Timeouts>,
        }
        let found = problems::<Renamed>("test_group", &schema());
        assert!(!found.is_empty());
        assert!(
            found[0].starts_with("test_group: the model cannot"),
            "{}",
            found[0]
        );

        #[derive(Deserialize, Serialize)]
        struct Missing {
            name: Attr<String>,
            labels: Attr<BTreeMap<String, String>>,
            id: Attr<String>,
            taint: Attr<Vec<Taint>>,
            timeouts: Option<Timeouts>,
        }
        let found = problems::<Missing>("test_group", &schema());
        assert_eq!(found.len(), 3, "{found:#?}");
        assert!(
            found[0].contains("with every attribute set, the model changes the value at subnets"),
            "{}",
            found[0]
        );
    }
}
