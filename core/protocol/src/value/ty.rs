//! [`Type`]: cty's type system, and its JSON form (the `type` bytes of a
//! schema attribute and the type half of a dynamic value).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::MAX_DEPTH;
use super::json_text::{self, JsonNode, JsonSyntaxError};

/// A Terraform (cty) type.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Type {
    /// A Unicode string.
    String,
    /// An arbitrary-precision number.
    Number,
    /// `true` or `false`.
    Bool,
    /// Any type, chosen per value (`DynamicPseudoType`); such a value goes
    /// on the wire with its concrete type.
    Dynamic,
    /// An ordered sequence of one element type.
    List(Box<Type>),
    /// An unordered collection of distinct values of one element type.
    Set(Box<Type>),
    /// String keys to values of one element type.
    Map(Box<Type>),
    /// Named attributes, each with its own type.
    Object(ObjectType),
    /// A fixed-length sequence, each position with its own type.
    Tuple(Vec<Type>),
}

/// The attributes of an object type.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ObjectType {
    /// Attribute names and types.
    pub attributes: BTreeMap<String, Type>,
    /// Attributes a module caller may leave out (type constraints of
    /// variables and function parameters). Only the type JSON carries
    /// this; values always have every attribute.
    pub optional: BTreeSet<String>,
}

/// Why type-constraint JSON could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TypeError {
    /// The bytes are not JSON.
    #[error(transparent)]
    Json(#[from] JsonSyntaxError),
    /// JSON, but not a type description.
    #[error("invalid type description: {0}")]
    Invalid(String),
}

impl Type {
    /// An object type with the given attributes, none optional.
    pub fn object(attrs: impl IntoIterator<Item = (impl Into<String>, Type)>) -> Type {
        Type::Object(ObjectType {
            attributes: attrs.into_iter().map(|(k, v)| (k.into(), v)).collect(),
            optional: BTreeSet::new(),
        })
    }

    /// `list(t)`.
    pub fn list(t: Type) -> Type {
        Type::List(Box::new(t))
    }

    /// `set(t)`.
    pub fn set(t: Type) -> Type {
        Type::Set(Box::new(t))
    }

    /// `map(t)`.
    pub fn map(t: Type) -> Type {
        Type::Map(Box::new(t))
    }

    /// `tuple([ts...])`.
    pub fn tuple(ts: impl IntoIterator<Item = Type>) -> Type {
        Type::Tuple(ts.into_iter().collect())
    }

    /// Whether this is a list, set or map: the types that take length
    /// refinements.
    pub fn is_collection(&self) -> bool {
        matches!(self, Type::List(_) | Type::Set(_) | Type::Map(_))
    }

    /// Whether `Dynamic` appears anywhere in this type.
    pub fn contains_dynamic(&self) -> bool {
        match self {
            Type::Dynamic => true,
            Type::String | Type::Number | Type::Bool => false,
            Type::List(t) | Type::Set(t) | Type::Map(t) => t.contains_dynamic(),
            Type::Object(o) => o.attributes.values().any(Type::contains_dynamic),
            Type::Tuple(ts) => ts.iter().any(Type::contains_dynamic),
        }
    }

    /// The type-constraint JSON cty writes: `"string"`, `["list","string"]`,
    /// `["object",{"a":"number"}]`, `["object",{..},["opt"]]` when some
    /// attributes are optional, `["tuple",[..]]`. Keys come out sorted.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_json(&mut out);
        out
    }

    fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Type::String => out.extend_from_slice(b"\"string\""),
            Type::Number => out.extend_from_slice(b"\"number\""),
            Type::Bool => out.extend_from_slice(b"\"bool\""),
            Type::Dynamic => out.extend_from_slice(b"\"dynamic\""),
            Type::List(t) | Type::Set(t) | Type::Map(t) => {
                let kind: &[u8] = match self {
                    Type::List(_) => b"[\"list\",",
                    Type::Set(_) => b"[\"set\",",
                    _ => b"[\"map\",",
                };
                out.extend_from_slice(kind);
                t.write_json(out);
                out.push(b']');
            }
            Type::Object(object) => {
                out.extend_from_slice(b"[\"object\",{");
                for (i, (name, t)) in object.attributes.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_json_string(name, out);
                    out.push(b':');
                    t.write_json(out);
                }
                out.push(b'}');
                if !object.optional.is_empty() {
                    out.extend_from_slice(b",[");
                    for (i, name) in object.optional.iter().enumerate() {
                        if i > 0 {
                            out.push(b',');
                        }
                        write_json_string(name, out);
                    }
                    out.push(b']');
                }
                out.push(b']');
            }
            Type::Tuple(ts) => {
                out.extend_from_slice(b"[\"tuple\",[");
                for (i, t) in ts.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    t.write_json(out);
                }
                out.extend_from_slice(b"]]");
            }
        }
    }

    /// Reads type-constraint JSON (the inverse of [`Type::to_json`]).
    /// Optional attribute names must be attributes of the object.
    pub fn from_json(bytes: &[u8]) -> Result<Type, TypeError> {
        let node = json_text::parse(bytes)?;
        Type::from_node(&node, 0)
    }

    pub(crate) fn from_node(node: &JsonNode, depth: usize) -> Result<Type, TypeError> {
        let invalid = |message: &str| TypeError::Invalid(message.to_owned());
        if depth >= MAX_DEPTH {
            return Err(JsonSyntaxError::TooDeep.into());
        }
        match node {
            JsonNode::String(name) => match name.as_str() {
                "string" => Ok(Type::String),
                "number" => Ok(Type::Number),
                "bool" => Ok(Type::Bool),
                "dynamic" => Ok(Type::Dynamic),
                other => Err(TypeError::Invalid(format!(
                    "unknown primitive type {other:?}"
                ))),
            },
            JsonNode::Array(items) => {
                let Some(JsonNode::String(kind)) = items.first() else {
                    return Err(invalid("a complex type must start with its kind name"));
                };
                let arity = |n: usize| {
                    if items.len() == n {
                        Ok(())
                    } else {
                        Err(TypeError::Invalid(format!(
                            "{kind:?} takes {} argument(s), {} given",
                            n - 1,
                            items.len() - 1
                        )))
                    }
                };
                match kind.as_str() {
                    "list" | "set" | "map" => {
                        arity(2)?;
                        let element = Box::new(Type::from_node(&items[1], depth + 1)?);
                        Ok(match kind.as_str() {
                            "list" => Type::List(element),
                            "set" => Type::Set(element),
                            _ => Type::Map(element),
                        })
                    }
                    "tuple" => {
                        arity(2)?;
                        let JsonNode::Array(elements) = &items[1] else {
                            return Err(invalid("a tuple type needs an array of element types"));
                        };
                        elements
                            .iter()
                            .map(|e| Type::from_node(e, depth + 1))
                            .collect::<Result<_, _>>()
                            .map(Type::Tuple)
                    }
                    "object" => {
                        if items.len() != 2 && items.len() != 3 {
                            arity(2)?;
                        }
                        let JsonNode::Object(members) = &items[1] else {
                            return Err(invalid(
                                "an object type needs an object of attribute types",
                            ));
                        };
                        let mut attributes = BTreeMap::new();
                        for (name, t) in members {
                            attributes.insert(name.clone(), Type::from_node(t, depth + 1)?);
                        }
                        let mut optional = BTreeSet::new();
                        if let Some(names) = items.get(2) {
                            let JsonNode::Array(names) = names else {
                                return Err(invalid(
                                    "optional attributes must be an array of names",
                                ));
                            };
                            for name in names {
                                let JsonNode::String(name) = name else {
                                    return Err(invalid(
                                        "optional attribute names must be strings",
                                    ));
                                };
                                if !attributes.contains_key(name) {
                                    return Err(TypeError::Invalid(format!(
                                        "optional attribute {name:?} is not an attribute"
                                    )));
                                }
                                optional.insert(name.clone());
                            }
                        }
                        Ok(Type::Object(ObjectType {
                            attributes,
                            optional,
                        }))
                    }
                    other => Err(TypeError::Invalid(format!("unknown type kind {other:?}"))),
                }
            }
            other => Err(TypeError::Invalid(format!(
                "expected a string or an array, found {}",
                other.kind()
            ))),
        }
    }
}

impl Type {
    /// The type's name with an article, for "must be ..." messages.
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            Type::String => "a string",
            Type::Number => "a number",
            Type::Bool => "a bool",
            Type::Dynamic => "a value of any type",
            Type::List(_) => "a list",
            Type::Set(_) => "a set",
            Type::Map(_) => "a map",
            Type::Object(_) => "an object",
            Type::Tuple(_) => "a tuple",
        }
    }
}

/// Writes `s` as a JSON string literal.
pub(crate) fn write_json_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            c if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes());
            }
            c => {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
        }
    }
    out.push(b'"');
}

impl fmt::Display for Type {
    /// The short name Terraform users know: `string`, `list(string)`,
    /// `object`, `tuple`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::String => f.write_str("string"),
            Type::Number => f.write_str("number"),
            Type::Bool => f.write_str("bool"),
            Type::Dynamic => f.write_str("any"),
            Type::List(t) => write!(f, "list({t})"),
            Type::Set(t) => write!(f, "set({t})"),
            Type::Map(t) => write!(f, "map({t})"),
            Type::Object(_) => f.write_str("object"),
            Type::Tuple(_) => f.write_str("tuple"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(t: &Type, json: &str) {
        assert_eq!(String::from_utf8(t.to_json()).unwrap(), json);
        assert_eq!(&Type::from_json(json.as_bytes()).unwrap(), t);
    }

    #[test]
    fn json_round_trips() {
        round_trip(&Type::String, "\"string\"");
        round_trip(&Type::Number, "\"number\"");
        round_trip(&Type::Bool, "\"bool\"");
        round_trip(&Type::Dynamic, "\"dynamic\"");
        round_trip(&Type::list(Type::String), r#"["list","string"]"#);
        round_trip(&Type::set(Type::Number), r#"["set","number"]"#);
        round_trip(
            &Type::map(Type::list(Type::Bool)),
            r#"["map",["list","bool"]]"#,
        );
        round_trip(
            &Type::tuple([Type::String, Type::Dynamic]),
            r#"["tuple",["string","dynamic"]]"#,
        );
        round_trip(&Type::tuple([]), r#"["tuple",[]]"#);
        round_trip(
            &Type::object([("b", Type::Number), ("a", Type::String)]),
            r#"["object",{"a":"string","b":"number"}]"#,
        );
        let mut with_optional = ObjectType {
            attributes: [("x".to_owned(), Type::String), ("y".to_owned(), Type::Bool)].into(),
            optional: BTreeSet::new(),
        };
        with_optional.optional.insert("y".into());
        round_trip(
            &Type::Object(with_optional),
            r#"["object",{"x":"string","y":"bool"},["y"]]"#,
        );
        round_trip(
            &Type::object(Vec::<(String, Type)>::new()),
            r#"["object",{}]"#,
        );
    }

    #[test]
    fn accepts_whitespace_and_rejects_nonsense() {
        assert_eq!(
            Type::from_json(b" [ \"list\" , \"string\" ] ").unwrap(),
            Type::list(Type::String)
        );
        for bad in [
            &br#""str""#[..],
            br#"["list"]"#,
            br#"["list","string","x"]"#,
            br#"["object",{"a":"string"},["b"]]"#,
            br#"["object",{"a":"string"},[1]]"#,
            br#"["tuple","string"]"#,
            br#"["frob","string"]"#,
            br#"[]"#,
            br#"42"#,
            br#""string" x"#,
        ] {
            assert!(
                Type::from_json(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn escapes_attribute_names() {
        let t = Type::object([("a\"b\u{1}", Type::String)]);
        assert_eq!(Type::from_json(&t.to_json()).unwrap(), t);
    }
}
