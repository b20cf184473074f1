//! [`Value::conform`]: shaping a value built from Rust data to a type.

use std::collections::BTreeMap;

use super::canonical::dedup_set;
use super::{ObjectType, Type, Value, ValueError, ValueErrorKind, check_depth, index_path};
use crate::path::AttributePath;

impl Value {
    /// Shapes this value to `ty`, as values built from Rust data (see
    /// [`to_value`](super::to_value)) need before they go to Terraform:
    ///
    /// * lists, sets and tuples become whichever of them `ty` says (set
    ///   elements are de-duplicated); maps and objects likewise;
    /// * object attributes missing from the value become null, and
    ///   attributes the type lacks are an error;
    /// * strings, numbers and bools must already be what `ty` says (no
    ///   conversions between them);
    /// * values at `Dynamic` positions are wrapped in [`Value::Dynamic`]
    ///   with a type inferred from the value;
    /// * unknowns keep only the refinements that fit `ty`.
    ///
    /// Errors name the path of the offending value.
    pub fn conform(self, ty: &Type) -> Result<Value, ValueError> {
        conform_at(self, ty, &AttributePath::root(), 0)
    }
}

// As in the decoders, each kind is handled out of line so the recursing
// frame stays small.
fn conform_at(
    value: Value,
    ty: &Type,
    path: &AttributePath,
    depth: usize,
) -> Result<Value, ValueError> {
    check_depth(depth, path)?;
    match (value, ty) {
        (Value::Null, _) => Ok(Value::Null),
        (Value::Unknown(r), ty) => Ok(Value::Unknown(r.for_type(ty))),
        (Value::Dynamic(t, v), Type::Dynamic) => conform_dynamic(t, *v, path, depth),
        (Value::Dynamic(_, v), ty) => conform_at(*v, ty, path, depth + 1),
        (v, Type::Dynamic) => {
            let t = Box::new(infer_type(&v));
            conform_dynamic(t, v, path, depth)
        }
        (v @ Value::Bool(_), Type::Bool)
        | (v @ Value::Number(_), Type::Number)
        | (v @ Value::String(_), Type::String) => Ok(v),
        (Value::List(vs) | Value::Set(vs) | Value::Tuple(vs), Type::List(e)) => {
            conform_elements(vs, e, true, path, depth).map(Value::List)
        }
        (Value::List(vs) | Value::Set(vs) | Value::Tuple(vs), Type::Set(e)) => {
            // Set elements have no key, so paths stop at the set.
            conform_elements(vs, e, false, path, depth).map(|vs| Value::Set(dedup_set(vs)))
        }
        (Value::List(vs) | Value::Set(vs) | Value::Tuple(vs), Type::Tuple(ts)) => {
            conform_tuple(vs, ts, path, depth)
        }
        (Value::Map(m) | Value::Object(m), Type::Map(e)) => conform_map(m, e, path, depth),
        (Value::Map(m) | Value::Object(m), Type::Object(o)) => {
            conform_object(m, o, path, depth).map(Value::Object)
        }
        (v, ty) => Err(ValueError::mismatch(path, ty.describe(), &v)),
    }
}

#[inline(never)]
fn conform_dynamic(
    t: Box<Type>,
    v: Value,
    path: &AttributePath,
    depth: usize,
) -> Result<Value, ValueError> {
    if *t == Type::Dynamic {
        return conform_at(v, &t, path, depth + 1);
    }
    let v = conform_at(v, &t, path, depth + 1)?;
    Ok(Value::Dynamic(t, Box::new(v)))
}

#[inline(never)]
fn conform_elements(
    values: Vec<Value>,
    element: &Type,
    keyed: bool,
    path: &AttributePath,
    depth: usize,
) -> Result<Vec<Value>, ValueError> {
    let mut out = Vec::with_capacity(values.len());
    for (i, v) in values.into_iter().enumerate() {
        let element_path = if keyed {
            index_path(path, i)
        } else {
            path.clone()
        };
        out.push(conform_at(v, element, &element_path, depth + 1)?);
    }
    Ok(out)
}

#[inline(never)]
fn conform_tuple(
    values: Vec<Value>,
    types: &[Type],
    path: &AttributePath,
    depth: usize,
) -> Result<Value, ValueError> {
    if values.len() != types.len() {
        return Err(ValueError::new(
            path.clone(),
            ValueErrorKind::TupleLength {
                expected: types.len(),
                given: values.len(),
            },
        ));
    }
    let mut out = Vec::with_capacity(values.len());
    for (i, (v, t)) in values.into_iter().zip(types).enumerate() {
        out.push(conform_at(v, t, &index_path(path, i), depth + 1)?);
    }
    Ok(Value::Tuple(out))
}

#[inline(never)]
fn conform_map(
    entries: BTreeMap<String, Value>,
    element: &Type,
    path: &AttributePath,
    depth: usize,
) -> Result<Value, ValueError> {
    let mut out = BTreeMap::new();
    for (k, v) in entries {
        let v = conform_at(v, element, &path.clone().key(k.as_str()), depth + 1)?;
        out.insert(k, v);
    }
    Ok(Value::Map(out))
}

#[inline(never)]
fn conform_object(
    mut attrs: BTreeMap<String, Value>,
    object: &ObjectType,
    path: &AttributePath,
    depth: usize,
) -> Result<BTreeMap<String, Value>, ValueError> {
    if let Some(extra) = attrs.keys().find(|k| !object.attributes.contains_key(*k)) {
        return Err(ValueError::new(
            path.clone(),
            ValueErrorKind::UnsupportedAttribute(extra.clone()),
        ));
    }
    let mut out = BTreeMap::new();
    for (name, t) in &object.attributes {
        let v = attrs.remove(name).unwrap_or(Value::Null);
        let v = conform_at(v, t, &path.clone().attribute(name.as_str()), depth + 1)?;
        out.insert(name.clone(), v);
    }
    Ok(out)
}

/// The type a value most plausibly has, for a `Dynamic` position: lists
/// whose elements share a type are lists of it (otherwise tuples), maps
/// likewise (otherwise objects). Nulls and unknowns say nothing, so they
/// infer as `Dynamic` and unify with anything.
pub(crate) fn infer_type(value: &Value) -> Type {
    match value {
        Value::Null | Value::Unknown(_) => Type::Dynamic,
        Value::Bool(_) => Type::Bool,
        Value::Number(_) => Type::Number,
        Value::String(_) => Type::String,
        Value::List(vs) => {
            let ts: Vec<Type> = vs.iter().map(infer_type).collect();
            match unify_all(&ts) {
                Some(t) => Type::list(t),
                None => Type::Tuple(ts),
            }
        }
        Value::Set(vs) => {
            let ts: Vec<Type> = vs.iter().map(infer_type).collect();
            // A set cannot mix types; conforming will point at the misfit.
            let first = ts.iter().find(|t| **t != Type::Dynamic).cloned();
            Type::set(unify_all(&ts).or(first).unwrap_or(Type::Dynamic))
        }
        Value::Tuple(vs) => Type::Tuple(vs.iter().map(infer_type).collect()),
        Value::Map(m) => {
            let ts: Vec<Type> = m.values().map(infer_type).collect();
            match unify_all(&ts) {
                Some(t) => Type::map(t),
                None => Type::object(m.iter().map(|(k, v)| (k.clone(), infer_type(v)))),
            }
        }
        Value::Object(m) => Type::object(m.iter().map(|(k, v)| (k.clone(), infer_type(v)))),
        Value::Dynamic(t, _) => (**t).clone(),
    }
}

fn unify_all(types: &[Type]) -> Option<Type> {
    types
        .iter()
        .try_fold(Type::Dynamic, |acc, t| unify(&acc, t))
}

/// The one type both `a` and `b` fit, treating `Dynamic` as a wildcard.
fn unify(a: &Type, b: &Type) -> Option<Type> {
    match (a, b) {
        (Type::Dynamic, t) | (t, Type::Dynamic) => Some(t.clone()),
        (Type::List(x), Type::List(y)) => unify(x, y).map(Type::list),
        (Type::Set(x), Type::Set(y)) => unify(x, y).map(Type::set),
        (Type::Map(x), Type::Map(y)) => unify(x, y).map(Type::map),
        (Type::Tuple(xs), Type::Tuple(ys)) if xs.len() == ys.len() => xs
            .iter()
            .zip(ys)
            .map(|(x, y)| unify(x, y))
            .collect::<Option<Vec<_>>>()
            .map(Type::Tuple),
        (Type::Object(x), Type::Object(y))
            if x.attributes.len() == y.attributes.len()
                && x.attributes.keys().eq(y.attributes.keys()) =>
        {
            let attributes = x
                .attributes
                .iter()
                .zip(y.attributes.values())
                .map(|((k, x), y)| unify(x, y).map(|t| (k.clone(), t)))
                .collect::<Option<_>>()?;
            Some(Type::Object(ObjectType {
                attributes,
                optional: Default::default(),
            }))
        }
        (x, y) if x == y => Some(x.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value::from(v)
    }

    #[test]
    fn shapes_collections_to_the_type() {
        let ty = Type::object([
            ("names", Type::set(Type::String)),
            ("pair", Type::tuple([Type::String, Type::Number])),
            ("labels", Type::map(Type::String)),
            ("missing", Type::list(Type::String)),
        ]);
        let value = Value::Map(BTreeMap::from([
            (
                "names".to_owned(),
                Value::List(vec![s("a"), s("b"), s("a")]),
            ),
            ("pair".to_owned(), Value::List(vec![s("x"), Value::from(1)])),
            (
                "labels".to_owned(),
                Value::Object(BTreeMap::from([("k".to_owned(), s("v"))])),
            ),
        ]));
        let out = value.conform(&ty).unwrap();
        assert_eq!(
            out.get_attr("names"),
            Some(&Value::Set(vec![s("a"), s("b")]))
        );
        assert_eq!(
            out.get_attr("pair"),
            Some(&Value::Tuple(vec![s("x"), Value::from(1)]))
        );
        assert!(matches!(out.get_attr("labels"), Some(Value::Map(_))));
        assert_eq!(out.get_attr("missing"), Some(&Value::Null));
    }

    #[test]
    fn rejects_extra_attributes_and_wrong_primitives_with_paths() {
        let ty = Type::object([("caching", Type::object([("enabled", Type::Bool)]))]);
        let extra = Value::Object(BTreeMap::from([(
            "caching".to_owned(),
            Value::Object(BTreeMap::from([("size".to_owned(), Value::from(1))])),
        )]));
        let err = extra.conform(&ty).unwrap_err();
        assert_eq!(
            err.to_string(),
            "value at caching has an unsupported attribute \"size\""
        );
        let wrong = Value::Object(BTreeMap::from([(
            "caching".to_owned(),
            Value::Object(BTreeMap::from([("enabled".to_owned(), s("yes"))])),
        )]));
        let err = wrong.conform(&ty).unwrap_err();
        assert_eq!(
            err.to_string(),
            "value at caching.enabled must be a bool, not a string"
        );
        let short = Value::List(vec![s("a")]);
        assert!(
            short
                .conform(&Type::tuple([Type::String, Type::String]))
                .is_err()
        );
    }

    #[test]
    fn wraps_dynamic_positions() {
        let out = Value::List(vec![s("a"), Value::Null])
            .conform(&Type::Dynamic)
            .unwrap();
        assert_eq!(
            out,
            Value::Dynamic(
                Box::new(Type::list(Type::String)),
                Box::new(Value::List(vec![s("a"), Value::Null]))
            )
        );
        let mixed = Value::List(vec![s("a"), Value::from(1)])
            .conform(&Type::Dynamic)
            .unwrap();
        let Value::Dynamic(t, _) = mixed else {
            panic!()
        };
        assert_eq!(*t, Type::tuple([Type::String, Type::Number]));
        assert_eq!(Value::Null.conform(&Type::Dynamic).unwrap(), Value::Null);
        // A dynamic wrapper at a concrete position unwraps.
        let wrapped = Value::Dynamic(Box::new(Type::String), Box::new(s("x")));
        assert_eq!(wrapped.conform(&Type::String).unwrap(), s("x"));
    }

    #[test]
    fn unknowns_keep_fitting_refinements() {
        let r = super::super::Refinements {
            not_null: true,
            string_prefix: Some("ab".into()),
            length_lower: Some(2),
            ..Default::default()
        };
        let out = Value::Unknown(r.clone()).conform(&Type::String).unwrap();
        assert_eq!(
            out,
            Value::Unknown(super::super::Refinements {
                not_null: true,
                string_prefix: Some("ab".into()),
                ..Default::default()
            })
        );
        assert_eq!(
            Value::Unknown(r).conform(&Type::Dynamic).unwrap(),
            Value::unknown()
        );
    }
}
