//! The JSON encoding of values (cty's `cty/json`), used in
//! `DynamicValue.json` and in raw state.
//!
//! Shapes match msgpack: null is `null`, lists, sets and tuples are
//! arrays, maps and objects are objects, and a value at a `Dynamic`
//! position is `{"value": ..., "type": ...}`. JSON has no unknowns. Numbers
//! are read from their text (see [`json_text`](super::json_text)), so no
//! precision is lost.

use std::collections::BTreeMap;

use super::canonical::dedup_set;
use super::conform::infer_type;
use super::json_text::{self, JsonNode};
use super::ty::write_json_string;
use super::{Number, ObjectType, Type, Value, ValueError, ValueErrorKind, check_depth, index_path};
use crate::path::AttributePath;

/// Decodes cty JSON as a value of type `ty`. Object attributes missing
/// from the JSON are null; attributes the type lacks are an error.
///
/// As cty does, a number or bool is accepted where a string is wanted (as
/// its text), and a string where a number or bool is wanted if it parses
/// as one.
pub fn decode_json(bytes: &[u8], ty: &Type) -> Result<Value, ValueError> {
    decode(bytes, ty, false)
}

/// Like [`decode_json`], but ignores object attributes the type lacks.
/// `UpgradeResourceState` needs this when a schema version dropped
/// attributes that old state still has.
pub fn decode_json_lenient(bytes: &[u8], ty: &Type) -> Result<Value, ValueError> {
    decode(bytes, ty, true)
}

fn decode(bytes: &[u8], ty: &Type, lenient: bool) -> Result<Value, ValueError> {
    let root = AttributePath::root();
    let node = json_text::parse(bytes).map_err(|e| ValueError::new(root.clone(), e.into()))?;
    Decoder { lenient }.value(node, ty, &root, 0)
}

/// Encodes `value` as cty JSON for `ty`. Unknowns and infinities are an
/// error, since JSON cannot express them. Object keys come out sorted.
pub fn encode_json(value: &Value, ty: &Type) -> Result<Vec<u8>, ValueError> {
    let mut out = Vec::new();
    encode_at(value, ty, &mut out, &AttributePath::root(), 0)?;
    Ok(out)
}

struct Decoder {
    lenient: bool,
}

fn json_mismatch(path: &AttributePath, ty: &Type, node: &JsonNode) -> ValueError {
    let expected = match ty {
        Type::Dynamic => "a {\"value\": ..., \"type\": ...} object",
        ty => ty.describe(),
    };
    ValueError::new(
        path.clone(),
        ValueErrorKind::Mismatch {
            expected: expected.to_owned(),
            found: format!("JSON {}", node.kind()),
        },
    )
}

impl Decoder {
    // As in the msgpack decoder, each kind decodes out of line so the
    // recursing frame stays small.
    fn value(
        &self,
        node: JsonNode,
        ty: &Type,
        path: &AttributePath,
        depth: usize,
    ) -> Result<Value, ValueError> {
        check_depth(depth, path)?;
        match (node, ty) {
            (JsonNode::Null, _) => Ok(Value::Null),
            (JsonNode::Object(members), Type::Dynamic) => self.dynamic(members, path, depth),
            (JsonNode::Array(items), Type::List(e)) => self.sequence(items, e, true, path, depth),
            (JsonNode::Array(items), Type::Set(e)) => self.sequence(items, e, false, path, depth),
            (JsonNode::Array(items), Type::Tuple(ts)) => self.tuple(items, ts, path, depth),
            (JsonNode::Object(members), Type::Map(e)) => self.map(members, e, path, depth),
            (JsonNode::Object(members), Type::Object(o)) => self.object(members, o, path, depth),
            (node, ty) => primitive(node, ty, path),
        }
    }

    #[inline(never)]
    fn sequence(
        &self,
        items: Vec<JsonNode>,
        element: &Type,
        keyed: bool,
        path: &AttributePath,
        depth: usize,
    ) -> Result<Value, ValueError> {
        let mut values = Vec::with_capacity(items.len());
        for (i, item) in items.into_iter().enumerate() {
            let element_path = if keyed {
                index_path(path, i)
            } else {
                path.clone()
            };
            values.push(self.value(item, element, &element_path, depth + 1)?);
        }
        Ok(if keyed {
            Value::List(values)
        } else {
            Value::Set(dedup_set(values))
        })
    }

    #[inline(never)]
    fn tuple(
        &self,
        items: Vec<JsonNode>,
        types: &[Type],
        path: &AttributePath,
        depth: usize,
    ) -> Result<Value, ValueError> {
        if items.len() != types.len() {
            return Err(ValueError::new(
                path.clone(),
                ValueErrorKind::TupleLength {
                    expected: types.len(),
                    given: items.len(),
                },
            ));
        }
        let mut values = Vec::with_capacity(items.len());
        for (i, (item, t)) in items.into_iter().zip(types).enumerate() {
            values.push(self.value(item, t, &index_path(path, i), depth + 1)?);
        }
        Ok(Value::Tuple(values))
    }

    #[inline(never)]
    fn map(
        &self,
        members: Vec<(String, JsonNode)>,
        element: &Type,
        path: &AttributePath,
        depth: usize,
    ) -> Result<Value, ValueError> {
        let mut values = BTreeMap::new();
        for (key, item) in members {
            let v = self.value(item, element, &path.clone().key(key.as_str()), depth + 1)?;
            values.insert(key, v);
        }
        Ok(Value::Map(values))
    }

    #[inline(never)]
    fn object(
        &self,
        members: Vec<(String, JsonNode)>,
        object: &ObjectType,
        path: &AttributePath,
        depth: usize,
    ) -> Result<Value, ValueError> {
        let mut values = BTreeMap::new();
        for (key, item) in members {
            let Some(t) = object.attributes.get(&key) else {
                if self.lenient {
                    continue;
                }
                return Err(ValueError::new(
                    path.clone(),
                    ValueErrorKind::UnsupportedAttribute(key),
                ));
            };
            let v = self.value(item, t, &path.clone().attribute(key.as_str()), depth + 1)?;
            values.insert(key, v);
        }
        for name in object.attributes.keys() {
            if !values.contains_key(name) {
                values.insert(name.clone(), Value::Null);
            }
        }
        Ok(Value::Object(values))
    }

    #[inline(never)]
    fn dynamic(
        &self,
        members: Vec<(String, JsonNode)>,
        path: &AttributePath,
        depth: usize,
    ) -> Result<Value, ValueError> {
        let mut ty = None;
        let mut value = None;
        for (key, node) in members {
            match key.as_str() {
                "type" => {
                    let t = Type::from_node(&node, 0)
                        .map_err(|e| ValueError::new(path.clone(), e.into()))?;
                    ty = Some(t);
                }
                "value" => value = Some(node),
                _ => {
                    return Err(ValueError::new(
                        path.clone(),
                        ValueErrorKind::Custom(format!(
                            "invalid key {key:?} in a dynamically-typed value"
                        )),
                    ));
                }
            }
        }
        let (Some(ty), Some(value)) = (ty, value) else {
            return Err(ValueError::new(
                path.clone(),
                ValueErrorKind::Custom(
                    "a dynamically-typed value needs both \"type\" and \"value\"".to_owned(),
                ),
            ));
        };
        let inner = self.value(value, &ty, path, depth + 1)?;
        Ok(Value::Dynamic(Box::new(ty), Box::new(inner)))
    }
}

/// A string, number or bool, with cty's conversions between them.
#[inline(never)]
fn primitive(node: JsonNode, ty: &Type, path: &AttributePath) -> Result<Value, ValueError> {
    match (node, ty) {
        (JsonNode::Bool(b), Type::Bool) => Ok(Value::Bool(b)),
        (JsonNode::String(s), Type::Bool) if s == "true" || s == "false" => {
            Ok(Value::Bool(s == "true"))
        }
        (JsonNode::Number(text) | JsonNode::String(text), Type::Number) => text
            .parse::<Number>()
            .map(Value::Number)
            .map_err(|e| ValueError::new(path.clone(), ValueErrorKind::Number(e))),
        (JsonNode::String(s) | JsonNode::Number(s), Type::String) => Ok(Value::String(s)),
        (JsonNode::Bool(b), Type::String) => Ok(Value::String(b.to_string())),
        (node, ty) => Err(json_mismatch(path, ty, &node)),
    }
}

fn encode_at(
    value: &Value,
    ty: &Type,
    out: &mut Vec<u8>,
    path: &AttributePath,
    depth: usize,
) -> Result<(), ValueError> {
    check_depth(depth, path)?;
    if value.is_unknown() {
        return Err(ValueError::new(path.clone(), ValueErrorKind::UnknownInJson));
    }
    if *ty == Type::Dynamic {
        let (t, inner) = match value {
            Value::Null => {
                out.extend_from_slice(b"null");
                return Ok(());
            }
            Value::Dynamic(t, inner) if **t == Type::Dynamic => {
                return encode_at(inner, ty, out, path, depth + 1);
            }
            Value::Dynamic(t, inner) => ((**t).clone(), &**inner),
            other => (infer_type(other), other),
        };
        out.extend_from_slice(b"{\"value\":");
        encode_at(inner, &t, out, path, depth + 1)?;
        out.extend_from_slice(b",\"type\":");
        out.extend_from_slice(&t.to_json());
        out.push(b'}');
        return Ok(());
    }
    match (value, ty) {
        (Value::Dynamic(_, inner), ty) => encode_at(inner, ty, out, path, depth + 1),
        (Value::Null, _) => {
            out.extend_from_slice(b"null");
            Ok(())
        }
        (Value::Bool(b), Type::Bool) => {
            out.extend_from_slice(if *b { b"true" } else { b"false" });
            Ok(())
        }
        (Value::Number(n), Type::Number) => {
            if !n.is_finite() {
                return Err(ValueError::new(
                    path.clone(),
                    ValueErrorKind::InfinityInJson,
                ));
            }
            out.extend_from_slice(n.to_string().as_bytes());
            Ok(())
        }
        (Value::String(s), Type::String) => {
            write_json_string(s, out);
            Ok(())
        }
        (Value::List(vs) | Value::Set(vs) | Value::Tuple(vs), Type::List(e) | Type::Set(e)) => {
            let keyed = matches!(ty, Type::List(_));
            out.push(b'[');
            for (i, v) in vs.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                let element_path = if keyed {
                    index_path(path, i)
                } else {
                    path.clone()
                };
                encode_at(v, e, out, &element_path, depth + 1)?;
            }
            out.push(b']');
            Ok(())
        }
        (Value::List(vs) | Value::Set(vs) | Value::Tuple(vs), Type::Tuple(ts)) => {
            if ts.len() != vs.len() {
                return Err(ValueError::new(
                    path.clone(),
                    ValueErrorKind::TupleLength {
                        expected: ts.len(),
                        given: vs.len(),
                    },
                ));
            }
            out.push(b'[');
            for (i, (v, t)) in vs.iter().zip(ts).enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                encode_at(v, t, out, &index_path(path, i), depth + 1)?;
            }
            out.push(b']');
            Ok(())
        }
        (Value::Map(m) | Value::Object(m), Type::Map(e)) => {
            out.push(b'{');
            for (i, (k, v)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json_string(k, out);
                out.push(b':');
                encode_at(v, e, out, &path.clone().key(k.as_str()), depth + 1)?;
            }
            out.push(b'}');
            Ok(())
        }
        (Value::Map(m) | Value::Object(m), Type::Object(o)) => {
            if let Some(extra) = m.keys().find(|k| !o.attributes.contains_key(*k)) {
                return Err(ValueError::new(
                    path.clone(),
                    ValueErrorKind::UnsupportedAttribute(extra.clone()),
                ));
            }
            out.push(b'{');
            for (i, (name, t)) in o.attributes.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json_string(name, out);
                out.push(b':');
                let v = m.get(name).unwrap_or(&Value::Null);
                encode_at(v, t, out, &path.clone().attribute(name.as_str()), depth + 1)?;
            }
            out.push(b'}');
            Ok(())
        }
        (v, ty) => Err(ValueError::mismatch(path, ty.describe(), v)),
    }
}
