//! Terraform values: [`Type`], [`Value`] and their wire encodings.
//!
//! * [`Type`] is cty's type system; [`Type::to_json`] and
//!   [`Type::from_json`] read and write the type-constraint JSON that
//!   schemas carry.
//! * [`Value`] is a value of some type: null, unknown (with optional
//!   [`Refinements`]), or known. It is untyped on its own; the codecs and
//!   [`Value::conform`] take the [`Type`] it should have.
//! * [`encode_msgpack`] / [`decode_msgpack`] speak the msgpack encoding
//!   Terraform uses in `DynamicValue.msgpack`; [`encode_json`] /
//!   [`decode_json`] the JSON encoding (`DynamicValue.json`, raw state).
//! * [`to_value`] / [`from_value`] bridge to serde, so provider code uses
//!   typed structs with [`Attr<T>`] fields for values that may be unknown.
//!
//! Decoders never panic on any input, bound nesting at [`MAX_DEPTH`], and
//! never allocate from a length prefix beyond what the input can hold.
//! Strings are kept as sent; cty normalises strings to NFC, and this crate
//! does not (a provider that builds strings needing it must do so itself).

use std::collections::BTreeMap;
use std::fmt;

use crate::path::AttributePath;

mod attr;
mod canonical;
mod conform;
mod from_value;
mod json;
mod json_text;
mod msgpack;
mod number;
mod to_value;
mod ty;

pub use attr::Attr;
pub use from_value::from_value;
pub use json::{decode_json, decode_json_lenient, encode_json};
pub use json_text::JsonSyntaxError;
pub use msgpack::{decode_msgpack, encode_msgpack};
pub use number::{MAX_DECIMAL_EXPONENT, Number, NumberError};
pub use to_value::to_value;
pub use ty::{ObjectType, Type, TypeError};

/// How deeply values (and type descriptions) may nest before a codec
/// refuses them. Terraform's own schemas stay far below this; the bound
/// keeps hostile input from exhausting the stack.
pub const MAX_DEPTH: usize = 256;

/// A Terraform value. On its own it is untyped: the codecs and
/// [`Value::conform`] pair it with the [`Type`] it should have.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Null, of whatever type the position has.
    Null,
    /// Not known until apply, perhaps with some facts about it.
    Unknown(Refinements),
    /// A bool.
    Bool(bool),
    /// A number.
    Number(Number),
    /// A string.
    String(String),
    /// The elements of a list.
    List(Vec<Value>),
    /// The elements of a set, in no particular order.
    Set(Vec<Value>),
    /// The elements of a tuple.
    Tuple(Vec<Value>),
    /// The elements of a map.
    Map(BTreeMap<String, Value>),
    /// The attributes of an object.
    Object(BTreeMap<String, Value>),
    /// A value found at a `Dynamic` position, with the concrete type it was
    /// sent with.
    Dynamic(Box<Type>, Box<Value>),
}

/// What is known about an unknown value (cty "refinements"). The default
/// knows nothing.
///
/// A refinement is a promise: if a planned value carries one, the applied
/// value must satisfy it, or Terraform fails the apply. Only the
/// refinements that fit the value's type go on the wire.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Refinements {
    /// The value will not be null.
    pub not_null: bool,
    /// A string value will start with this.
    pub string_prefix: Option<String>,
    /// A number value will be at least this (inclusive when `true`).
    pub number_lower: Option<(Number, bool)>,
    /// A number value will be at most this (inclusive when `true`).
    pub number_upper: Option<(Number, bool)>,
    /// A list, set or map will have at least this many elements.
    pub length_lower: Option<u64>,
    /// A list, set or map will have at most this many elements.
    pub length_upper: Option<u64>,
}

impl Refinements {
    /// Whether this says nothing at all.
    pub fn is_empty(&self) -> bool {
        *self == Refinements::default()
    }

    /// Keeps only the refinements cty sends for `ty`: not-null for every
    /// type but `Dynamic`, a non-empty prefix for strings (cut to under 256
    /// bytes, as cty cuts it), finite bounds for numbers, and lengths for
    /// lists, sets and maps (a lower bound of 0 says nothing).
    #[must_use]
    pub fn for_type(self, ty: &Type) -> Refinements {
        match ty {
            Type::Dynamic => Refinements::default(),
            Type::String => Refinements {
                not_null: self.not_null,
                string_prefix: self
                    .string_prefix
                    .map(|p| truncated_prefix(&p).to_owned())
                    .filter(|p| !p.is_empty()),
                ..Refinements::default()
            },
            Type::Number => Refinements {
                not_null: self.not_null,
                number_lower: self
                    .number_lower
                    .filter(|(n, _)| *n != Number::neg_infinity()),
                number_upper: self.number_upper.filter(|(n, _)| *n != Number::infinity()),
                ..Refinements::default()
            },
            t if t.is_collection() => Refinements {
                not_null: self.not_null,
                length_lower: self.length_lower.filter(|n| *n != 0),
                length_upper: self.length_upper,
                ..Refinements::default()
            },
            _ => Refinements {
                not_null: self.not_null,
                ..Refinements::default()
            },
        }
    }
}

/// cty caps string prefix refinements at this many bytes.
const MAX_PREFIX_BYTES: usize = 256;

/// The prefix cty would send: unchanged if it fits in 256 bytes, else cut
/// to at most 255 bytes and without its last character, which a longer
/// string might extend with a combining mark.
fn truncated_prefix(prefix: &str) -> &str {
    if prefix.len() <= MAX_PREFIX_BYTES {
        return prefix;
    }
    let mut end = MAX_PREFIX_BYTES - 1;
    while !prefix.is_char_boundary(end) {
        end -= 1;
    }
    let cut = &prefix[..end];
    match cut.char_indices().next_back() {
        Some((last, _)) => &cut[..last],
        None => cut,
    }
}

impl Value {
    /// A wholly unknown value, with no refinements.
    pub fn unknown() -> Value {
        Value::Unknown(Refinements::default())
    }

    /// Whether this is null (a dynamic wrapper around null counts).
    pub fn is_null(&self) -> bool {
        match self {
            Value::Null => true,
            Value::Dynamic(_, v) => v.is_null(),
            _ => false,
        }
    }

    /// Whether this value itself is unknown (not just something inside it).
    pub fn is_unknown(&self) -> bool {
        match self {
            Value::Unknown(_) => true,
            Value::Dynamic(_, v) => v.is_unknown(),
            _ => false,
        }
    }

    /// Whether no unknown appears anywhere in this value.
    pub fn is_wholly_known(&self) -> bool {
        match self {
            Value::Unknown(_) => false,
            Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => true,
            Value::List(vs) | Value::Set(vs) | Value::Tuple(vs) => {
                vs.iter().all(Value::is_wholly_known)
            }
            Value::Map(m) | Value::Object(m) => m.values().all(Value::is_wholly_known),
            Value::Dynamic(_, v) => v.is_wholly_known(),
        }
    }

    /// An attribute of an object (or an element of a map), looking through
    /// a dynamic wrapper.
    pub fn get_attr(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Object(m) | Value::Map(m) => m.get(name),
            Value::Dynamic(_, v) => v.get_attr(name),
            _ => None,
        }
    }

    /// Like `==`, but sets compare as sets (ignoring order and duplicates).
    /// Numbers compare by value either way. Runs in O(n log n): each set's
    /// elements are compared through a canonical encoding, sorted.
    pub fn semantically_equal(&self, other: &Value) -> bool {
        canonical::canonical_bytes(self) == canonical::canonical_bytes(other)
    }

    /// What kind of value this is, for error messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Unknown(_) => "an unknown value",
            Value::Bool(_) => "a bool",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::List(_) => "a list",
            Value::Set(_) => "a set",
            Value::Tuple(_) => "a tuple",
            Value::Map(_) => "a map",
            Value::Object(_) => "an object",
            Value::Dynamic(_, v) => v.kind(),
        }
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::String(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::String(v)
    }
}

impl From<Number> for Value {
    fn from(v: Number) -> Self {
        Value::Number(v)
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Number(v.into())
    }
}

/// A value that does not fit its type or its encoding, and where.
#[derive(Clone, Debug, PartialEq)]
pub struct ValueError {
    path: AttributePath,
    kind: ValueErrorKind,
    /// Whether `path` was set by the code that found the problem; errors
    /// raised through serde start unplaced and take the path of the
    /// innermost value that passes them on.
    placed: bool,
}

/// What is wrong with a value. Each message reads after "value at PATH".
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ValueErrorKind {
    /// The value has the wrong shape for its type.
    #[error("must be {expected}, not {found}")]
    Mismatch {
        /// What the type asks for.
        expected: String,
        /// What was there.
        found: String,
    },
    /// An object has an attribute its type does not.
    #[error("has an unsupported attribute {0:?}")]
    UnsupportedAttribute(String),
    /// An object has the same attribute twice.
    #[error("has attribute {0:?} twice")]
    DuplicateAttribute(String),
    /// An object lacks attributes its type has (msgpack objects must carry
    /// every attribute).
    #[error("must be an object with {expected} attributes ({given} given)")]
    AttributeCount {
        /// Attributes in the type.
        expected: usize,
        /// Attributes present.
        given: usize,
    },
    /// A tuple has the wrong number of elements.
    #[error("must be a tuple of {expected} elements ({given} given)")]
    TupleLength {
        /// Elements in the type.
        expected: usize,
        /// Elements present.
        given: usize,
    },
    /// An unknown value reached a Rust type that cannot hold one.
    #[error("{UNKNOWN_IN_MODEL}")]
    UnknownInModel,
    /// A null value reached a Rust type that cannot hold one.
    #[error("is null; use Option<T> or Attr<T> for attributes that can be null")]
    NullInModel,
    /// An unknown value reached the JSON encoder, which cannot express it.
    #[error("is unknown, and JSON cannot encode unknown values")]
    UnknownInJson,
    /// An infinity reached the JSON encoder.
    #[error("is infinite, and JSON cannot encode infinity")]
    InfinityInJson,
    /// A number that Terraform cannot hold.
    #[error("is not a valid number: {0}")]
    Number(#[from] NumberError),
    /// A dynamic value's type description is invalid.
    #[error("has an invalid type: {0}")]
    Type(#[from] TypeError),
    /// The bytes are not valid msgpack for the type.
    #[error("is not valid msgpack: {0}")]
    Msgpack(String),
    /// The bytes are not JSON.
    #[error("is not valid JSON: {0}")]
    Json(#[from] JsonSyntaxError),
    /// An unknown value's refinements are malformed or do not fit its type.
    #[error("has an invalid refinement: {0}")]
    Refinement(String),
    /// Values nest deeper than [`MAX_DEPTH`].
    #[error("nests deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// A message from serde (a derived `Deserialize` or `Serialize`).
    #[error("{0}")]
    Custom(String),
}

impl ValueError {
    /// An error about the value at `path`.
    pub fn new(path: AttributePath, kind: ValueErrorKind) -> Self {
        Self {
            path,
            kind,
            placed: true,
        }
    }

    /// Where the offending value is.
    pub fn path(&self) -> &AttributePath {
        &self.path
    }

    /// What is wrong with it.
    pub fn kind(&self) -> &ValueErrorKind {
        &self.kind
    }

    /// A type mismatch: the value at `path` should be `expected`.
    pub(crate) fn mismatch(
        path: &AttributePath,
        expected: impl fmt::Display,
        found: &Value,
    ) -> Self {
        Self::new(
            path.clone(),
            ValueErrorKind::Mismatch {
                expected: expected.to_string(),
                found: found.kind().to_owned(),
            },
        )
    }

    pub(crate) fn unplaced(kind: ValueErrorKind) -> Self {
        Self {
            path: AttributePath::root(),
            kind,
            placed: false,
        }
    }

    /// Gives an error raised without a path (through serde) the path of
    /// the value being handled.
    pub(crate) fn place(mut self, path: &AttributePath) -> Self {
        if !self.placed {
            self.path = path.clone();
            self.placed = true;
        }
        self
    }
}

impl fmt::Display for ValueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let subject = if self.path.is_root() {
            "value".to_owned()
        } else {
            format!("value at {}", self.path)
        };
        match &self.kind {
            ValueErrorKind::Custom(message) => write!(f, "{subject}: {message}"),
            kind => write!(f, "{subject} {kind}"),
        }
    }
}

impl std::error::Error for ValueError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            ValueErrorKind::Number(e) => Some(e),
            ValueErrorKind::Type(e) => Some(e),
            ValueErrorKind::Json(e) => Some(e),
            _ => None,
        }
    }
}

/// The path of a list or tuple element.
/// What [`ValueErrorKind::UnknownInModel`] says: an error's text ends with
/// it exactly when an unknown reached a Rust type that cannot hold one.
const UNKNOWN_IN_MODEL: &str = "is unknown; use Attr<T> for attributes that can be unknown";

/// Whether a deserializer's error is [`ValueErrorKind::UnknownInModel`].
/// [`Attr`] sees its deserializer's error type only as `serde::de::Error`,
/// so it tells by the message, which only this module writes.
fn is_unknown_in_model(error: &impl fmt::Display) -> bool {
    error.to_string().ends_with(UNKNOWN_IN_MODEL)
}

pub(crate) fn index_path(path: &AttributePath, index: usize) -> AttributePath {
    path.clone().index(i64::try_from(index).unwrap_or(i64::MAX))
}

/// Checks `depth` against [`MAX_DEPTH`].
pub(crate) fn check_depth(depth: usize, path: &AttributePath) -> Result<(), ValueError> {
    if depth >= MAX_DEPTH {
        Err(ValueError::new(path.clone(), ValueErrorKind::TooDeep))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests;
