//! A canonical byte encoding of values: equal exactly when the values are
//! equal as Terraform sees them (sets by content, numbers by value). It
//! lets set comparison and de-duplication sort instead of comparing every
//! pair.

use std::collections::HashSet;

use super::{Refinements, Value};

/// The canonical encoding of `value`.
pub(crate) fn canonical_bytes(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write(value, &mut out);
    out
}

fn write_len(len: usize, out: &mut Vec<u8>) {
    out.extend_from_slice(&(len as u64).to_be_bytes());
}

fn write_str(s: &str, out: &mut Vec<u8>) {
    write_len(s.len(), out);
    out.extend_from_slice(s.as_bytes());
}

fn write_refinements(r: &Refinements, out: &mut Vec<u8>) {
    out.push(u8::from(r.not_null));
    match &r.string_prefix {
        Some(p) => {
            out.push(1);
            write_str(p, out);
        }
        None => out.push(0),
    }
    for bound in [&r.number_lower, &r.number_upper] {
        match bound {
            Some((n, inclusive)) => {
                out.push(1);
                n.canonical_bytes(out);
                out.push(u8::from(*inclusive));
            }
            None => out.push(0),
        }
    }
    for length in [r.length_lower, r.length_upper] {
        match length {
            Some(n) => {
                out.push(1);
                out.extend_from_slice(&n.to_be_bytes());
            }
            None => out.push(0),
        }
    }
}

fn write(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Null => out.push(0),
        Value::Unknown(r) => {
            out.push(1);
            write_refinements(r, out);
        }
        Value::Bool(b) => {
            out.push(2);
            out.push(u8::from(*b));
        }
        Value::Number(n) => {
            out.push(3);
            n.canonical_bytes(out);
        }
        Value::String(s) => {
            out.push(4);
            write_str(s, out);
        }
        Value::List(vs) | Value::Tuple(vs) => {
            out.push(if matches!(value, Value::List(_)) {
                5
            } else {
                7
            });
            write_len(vs.len(), out);
            for v in vs {
                write(v, out);
            }
        }
        Value::Set(vs) => {
            out.push(6);
            let mut elements: Vec<Vec<u8>> = vs.iter().map(canonical_bytes).collect();
            elements.sort_unstable();
            elements.dedup();
            write_len(elements.len(), out);
            for e in elements {
                write_len(e.len(), out);
                out.extend_from_slice(&e);
            }
        }
        Value::Map(m) | Value::Object(m) => {
            out.push(if matches!(value, Value::Map(_)) { 8 } else { 9 });
            write_len(m.len(), out);
            for (k, v) in m {
                write_str(k, out);
                write(v, out);
            }
        }
        Value::Dynamic(t, v) => {
            out.push(10);
            let type_json = t.to_json();
            write_len(type_json.len(), out);
            out.extend_from_slice(&type_json);
            write(v, out);
        }
    }
}

/// Drops later duplicates of wholly known set elements, keeping order, as
/// cty does when it builds a set. Unknown elements are never merged: two
/// unknowns may turn out different.
pub(crate) fn dedup_set(elements: Vec<Value>) -> Vec<Value> {
    if elements.len() < 2 {
        return elements;
    }
    let mut seen = HashSet::with_capacity(elements.len());
    elements
        .into_iter()
        .filter(|e| !e.is_wholly_known() || seen.insert(canonical_bytes(e)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Number;

    #[test]
    fn sets_compare_by_content() {
        let a = Value::Set(vec![Value::from("x"), Value::from("y"), Value::from("x")]);
        let b = Value::Set(vec![Value::from("y"), Value::from("x")]);
        assert!(a.semantically_equal(&b));
        assert_ne!(a, b);
        let c = Value::Set(vec![Value::from("y")]);
        assert!(!a.semantically_equal(&c));
        let nested_a = Value::List(vec![a.clone(), Value::Number("1.0".parse().unwrap())]);
        let nested_b = Value::List(vec![b, Value::Number(Number::from(1i64))]);
        assert!(nested_a.semantically_equal(&nested_b));
        assert!(!Value::List(vec![]).semantically_equal(&Value::Set(vec![])));
    }

    #[test]
    fn dedup_keeps_unknowns_and_order() {
        let out = dedup_set(vec![
            Value::from("b"),
            Value::unknown(),
            Value::from("a"),
            Value::from("b"),
            Value::unknown(),
        ]);
        assert_eq!(
            out,
            vec![
                Value::from("b"),
                Value::unknown(),
                Value::from("a"),
                Value::unknown()
            ]
        );
    }
}
