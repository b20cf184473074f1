//! [`from_value`]: a [`Value`] to any `Deserialize` type.

use std::collections::btree_map;
use std::vec;

use serde::de::value::StringDeserializer;
use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};

use super::attr::ATTR_NAME;
use super::number::NUMBER_NAME;
use super::{Value, ValueError, ValueErrorKind, index_path};
use crate::path::AttributePath;

/// Reads a [`Value`] into typed Rust data.
///
/// * [`Attr<T>`](super::Attr) takes null, unknown and known values;
///   `Option<T>` takes null and known values; a plain `T` only known
///   values. An unknown anywhere else is an error naming its path.
/// * Numbers read into any integer type that holds them, `f32`/`f64` (the
///   nearest float), `String` (the exact decimal text), or
///   [`Number`](super::Number) (exactly).
/// * Lists, sets and tuples read into `Vec<T>`, `BTreeSet<T>` and the
///   like; maps and objects into `BTreeMap<String, T>`, `HashMap`, or
///   structs (attributes the struct lacks are ignored).
/// * A [`Value::Dynamic`] reads as its inner value.
pub fn from_value<T: DeserializeOwned>(v: Value) -> Result<T, ValueError> {
    T::deserialize(ValueDeserializer::new(v, AttributePath::root()))
}

impl de::Error for ValueError {
    fn custom<M: std::fmt::Display>(message: M) -> Self {
        ValueError::unplaced(ValueErrorKind::Custom(message.to_string()))
    }
}

struct ValueDeserializer {
    value: Value,
    path: AttributePath,
}

impl ValueDeserializer {
    fn new(mut value: Value, path: AttributePath) -> Self {
        while let Value::Dynamic(_, inner) = value {
            value = *inner;
        }
        Self { value, path }
    }

    fn unexpected(&self, expected: &str) -> ValueError {
        let kind = match &self.value {
            Value::Unknown(_) => ValueErrorKind::UnknownInModel,
            Value::Null => ValueErrorKind::NullInModel,
            other => ValueErrorKind::Mismatch {
                expected: expected.to_owned(),
                found: other.kind().to_owned(),
            },
        };
        ValueError::new(self.path.clone(), kind)
    }

    fn seq<'de, V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        let keyed = !matches!(self.value, Value::Set(_));
        match self.value {
            Value::List(items) | Value::Set(items) | Value::Tuple(items) => {
                let mut access = SeqAccess {
                    items: items.into_iter(),
                    path: self.path.clone(),
                    index: 0,
                    keyed,
                };
                let out = visitor
                    .visit_seq(&mut access)
                    .map_err(|e: ValueError| e.place(&self.path))?;
                Ok(out)
            }
            _ => Err(self.unexpected("a list")),
        }
    }

    fn map<'de, V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        let object = matches!(self.value, Value::Object(_));
        match self.value {
            Value::Map(entries) | Value::Object(entries) => {
                let mut access = MapAccess {
                    entries: entries.into_iter(),
                    path: self.path.clone(),
                    pending: None,
                    object,
                };
                visitor
                    .visit_map(&mut access)
                    .map_err(|e: ValueError| e.place(&self.path))
            }
            _ => Err(self.unexpected("a map or an object")),
        }
    }
}

/// Reads an integer type from a number.
macro_rules! deserialize_integer {
    ($method:ident, $visit:ident, $ty:ty, $via:ident) => {
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
            let Value::Number(n) = &self.value else {
                return Err(self.unexpected("a number"));
            };
            match n.$via().and_then(|i| <$ty>::try_from(i).ok()) {
                Some(i) => visitor
                    .$visit(i)
                    .map_err(|e: ValueError| e.place(&self.path)),
                None => Err(ValueError::new(
                    self.path.clone(),
                    ValueErrorKind::Mismatch {
                        expected: concat!("a whole number that fits in ", stringify!($ty))
                            .to_owned(),
                        found: n.to_string(),
                    },
                )),
            }
        }
    };
}

impl<'de> de::Deserializer<'de> for ValueDeserializer {
    type Error = ValueError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        let path = self.path.clone();
        let result = match self.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(b),
            Value::Number(ref n) => {
                if let Some(i) = n.as_i64() {
                    visitor.visit_i64(i)
                } else if let Some(u) = n.as_u64() {
                    visitor.visit_u64(u)
                } else {
                    visitor.visit_f64(n.as_f64())
                }
            }
            Value::String(s) => visitor.visit_string(s),
            Value::List(_) | Value::Set(_) | Value::Tuple(_) => return self.seq(visitor),
            Value::Map(_) | Value::Object(_) => return self.map(visitor),
            Value::Unknown(_) | Value::Dynamic(..) => return Err(self.unexpected("a value")),
        };
        result.map_err(|e: ValueError| e.place(&path))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self.value {
            Value::Bool(b) => visitor
                .visit_bool(b)
                .map_err(|e: ValueError| e.place(&self.path)),
            _ => Err(self.unexpected("a bool")),
        }
    }

    deserialize_integer!(deserialize_i8, visit_i8, i8, as_i64);
    deserialize_integer!(deserialize_i16, visit_i16, i16, as_i64);
    deserialize_integer!(deserialize_i32, visit_i32, i32, as_i64);
    deserialize_integer!(deserialize_i64, visit_i64, i64, as_i64);
    deserialize_integer!(deserialize_u8, visit_u8, u8, as_u64);
    deserialize_integer!(deserialize_u16, visit_u16, u16, as_u64);
    deserialize_integer!(deserialize_u32, visit_u32, u32, as_u64);
    deserialize_integer!(deserialize_u64, visit_u64, u64, as_u64);

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        self.deserialize_f64(visitor)
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match &self.value {
            Value::Number(n) => visitor
                .visit_f64(n.as_f64())
                .map_err(|e: ValueError| e.place(&self.path)),
            _ => Err(self.unexpected("a number")),
        }
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        let path = self.path.clone();
        match self.value {
            Value::String(s) => visitor.visit_string(s),
            // A number reads as its exact decimal text.
            Value::Number(n) => visitor.visit_string(n.to_string()),
            _ => return Err(self.unexpected("a string")),
        }
        .map_err(|e: ValueError| e.place(&path))
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        self.deserialize_byte_buf(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        let path = self.path.clone();
        match self.value {
            Value::String(s) => visitor
                .visit_byte_buf(s.into_bytes())
                .map_err(|e: ValueError| e.place(&path)),
            _ => self.seq(visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self.value {
            Value::Null => visitor
                .visit_none()
                .map_err(|e: ValueError| e.place(&self.path)),
            Value::Unknown(_) => Err(self.unexpected("a value")),
            _ => {
                let path = self.path.clone();
                visitor
                    .visit_some(self)
                    .map_err(|e: ValueError| e.place(&path))
            }
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self.value {
            Value::Null => visitor
                .visit_unit()
                .map_err(|e: ValueError| e.place(&self.path)),
            _ => Err(ValueError::mismatch(&self.path, "null", &self.value)),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        let path = self.path.clone();
        let result = if name == ATTR_NAME {
            match self.value {
                Value::Null => visitor.visit_none(),
                Value::Unknown(_) => visitor.visit_unit(),
                _ => visitor.visit_newtype_struct(self),
            }
        } else if name == NUMBER_NAME {
            match self.value {
                Value::Number(n) => visitor.visit_string(n.to_string()),
                Value::String(s) => visitor.visit_string(s),
                _ => return Err(self.unexpected("a number")),
            }
        } else {
            visitor.visit_newtype_struct(self)
        };
        result.map_err(|e: ValueError| e.place(&path))
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        self.seq(visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        self.map(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        let path = self.path.clone();
        match self.value {
            Value::String(s) => visitor
                .visit_enum(IntoDeserializer::<ValueError>::into_deserializer(s))
                .map_err(|e: ValueError| e.place(&path)),
            Value::Map(entries) | Value::Object(entries) if entries.len() == 1 => {
                let Some((variant, value)) = entries.into_iter().next() else {
                    return Err(ValueError::new(
                        path,
                        ValueErrorKind::Custom("an enum needs one variant".to_owned()),
                    ));
                };
                let value_path = path.clone().attribute(variant.as_str());
                visitor
                    .visit_enum(EnumAccess {
                        variant,
                        value: ValueDeserializer::new(value, value_path),
                    })
                    .map_err(|e: ValueError| e.place(&path))
            }
            _ => Err(self.unexpected("a string or an object with one attribute")),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        // Anything may be ignored, unknowns included.
        visitor.visit_unit()
    }
}

struct SeqAccess {
    items: vec::IntoIter<Value>,
    path: AttributePath,
    index: usize,
    /// Whether elements have index paths (lists and tuples; not sets).
    keyed: bool,
}

impl<'de> de::SeqAccess<'de> for SeqAccess {
    type Error = ValueError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ValueError> {
        let Some(item) = self.items.next() else {
            return Ok(None);
        };
        let path = if self.keyed {
            index_path(&self.path, self.index)
        } else {
            self.path.clone()
        };
        self.index += 1;
        seed.deserialize(ValueDeserializer::new(item, path.clone()))
            .map(Some)
            .map_err(|e: ValueError| e.place(&path))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapAccess {
    entries: btree_map::IntoIter<String, Value>,
    path: AttributePath,
    pending: Option<(String, Value)>,
    /// Whether entries are attributes (objects) rather than keys (maps).
    object: bool,
}

impl<'de> de::MapAccess<'de> for MapAccess {
    type Error = ValueError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ValueError> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        let key_deserializer: StringDeserializer<ValueError> = key.clone().into_deserializer();
        self.pending = Some((key, value));
        seed.deserialize(key_deserializer).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, ValueError> {
        let Some((key, value)) = self.pending.take() else {
            return Err(ValueError::new(
                self.path.clone(),
                ValueErrorKind::Custom("a map value was requested before its key".to_owned()),
            ));
        };
        let path = if self.object {
            self.path.clone().attribute(key.as_str())
        } else {
            self.path.clone().key(key.as_str())
        };
        seed.deserialize(ValueDeserializer::new(value, path.clone()))
            .map_err(|e: ValueError| e.place(&path))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

struct EnumAccess {
    variant: String,
    value: ValueDeserializer,
}

impl<'de> de::EnumAccess<'de> for EnumAccess {
    type Error = ValueError;
    type Variant = ValueDeserializer;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, ValueDeserializer), ValueError> {
        let key: StringDeserializer<ValueError> = self.variant.into_deserializer();
        Ok((seed.deserialize(key)?, self.value))
    }
}

impl<'de> de::VariantAccess<'de> for ValueDeserializer {
    type Error = ValueError;

    fn unit_variant(self) -> Result<(), ValueError> {
        match self.value {
            Value::Null => Ok(()),
            _ => Err(ValueError::mismatch(&self.path, "null", &self.value)),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, ValueError> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.seq(visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.map(visitor)
    }
}
