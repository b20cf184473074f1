//! [`to_value`]: any `Serialize` type to a [`Value`].

use std::collections::BTreeMap;

use serde::Serialize;
use serde::ser;

use super::attr::UNKNOWN_NAME;
use super::number::NUMBER_NAME;
use super::{Number, Value, ValueError, ValueErrorKind, index_path};
use crate::path::AttributePath;

/// Turns typed Rust data into a [`Value`]: structs and maps become
/// objects and maps, sequences become lists, `None` and `()` become null,
/// [`Attr::Unknown`](super::Attr::Unknown) becomes unknown, unit enum
/// variants become their name as a string, integers and floats become
/// numbers (floats through their shortest decimal text, so `0.1` is
/// exactly 0.1; NaN is an error).
///
/// The result is untyped: pass it through [`Value::conform`] with the
/// schema's type before sending it, which turns lists into sets or tuples
/// and maps into objects where the type says so, and fills in attributes
/// the struct leaves out.
pub fn to_value<T: Serialize + ?Sized>(t: &T) -> Result<Value, ValueError> {
    t.serialize(ValueSerializer {
        path: AttributePath::root(),
    })
}

impl ser::Error for ValueError {
    fn custom<M: std::fmt::Display>(message: M) -> Self {
        ValueError::unplaced(ValueErrorKind::Custom(message.to_string()))
    }
}

fn number_error(path: &AttributePath, e: super::NumberError) -> ValueError {
    ValueError::new(path.clone(), ValueErrorKind::Number(e))
}

struct ValueSerializer {
    path: AttributePath,
}

impl ValueSerializer {
    fn at(path: AttributePath) -> Self {
        Self { path }
    }
}

/// Serializes a map key: strings, chars, numbers, bools and unit variants
/// become the key's text.
fn key_text(key: Value, path: &AttributePath) -> Result<String, ValueError> {
    match key {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(ValueError::mismatch(path, "a string map key", &other)),
    }
}

impl ser::Serializer for ValueSerializer {
    type Ok = Value;
    type Error = ValueError;
    type SerializeSeq = SeqBuilder;
    type SerializeTuple = SeqBuilder;
    type SerializeTupleStruct = SeqBuilder;
    type SerializeTupleVariant = SeqBuilder;
    type SerializeMap = MapBuilder;
    type SerializeStruct = MapBuilder;
    type SerializeStructVariant = MapBuilder;

    fn serialize_bool(self, v: bool) -> Result<Value, ValueError> {
        Ok(Value::Bool(v))
    }

    fn serialize_i8(self, v: i8) -> Result<Value, ValueError> {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_i16(self, v: i16) -> Result<Value, ValueError> {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_i32(self, v: i32) -> Result<Value, ValueError> {
        self.serialize_i64(i64::from(v))
    }

    fn serialize_i64(self, v: i64) -> Result<Value, ValueError> {
        Ok(Value::Number(v.into()))
    }

    fn serialize_i128(self, v: i128) -> Result<Value, ValueError> {
        let n: Number = v
            .to_string()
            .parse()
            .map_err(|e| number_error(&self.path, e))?;
        Ok(Value::Number(n))
    }

    fn serialize_u8(self, v: u8) -> Result<Value, ValueError> {
        self.serialize_u64(u64::from(v))
    }

    fn serialize_u16(self, v: u16) -> Result<Value, ValueError> {
        self.serialize_u64(u64::from(v))
    }

    fn serialize_u32(self, v: u32) -> Result<Value, ValueError> {
        self.serialize_u64(u64::from(v))
    }

    fn serialize_u64(self, v: u64) -> Result<Value, ValueError> {
        Ok(Value::Number(v.into()))
    }

    fn serialize_u128(self, v: u128) -> Result<Value, ValueError> {
        let n: Number = v
            .to_string()
            .parse()
            .map_err(|e| number_error(&self.path, e))?;
        Ok(Value::Number(n))
    }

    fn serialize_f32(self, v: f32) -> Result<Value, ValueError> {
        if v.is_finite() {
            // The shortest text of the f32 itself, not of its f64 widening.
            let n: Number = v
                .to_string()
                .parse()
                .map_err(|e| number_error(&self.path, e))?;
            Ok(Value::Number(n))
        } else {
            self.serialize_f64(f64::from(v))
        }
    }

    fn serialize_f64(self, v: f64) -> Result<Value, ValueError> {
        Number::try_from(v)
            .map(Value::Number)
            .map_err(|e| number_error(&self.path, e))
    }

    fn serialize_char(self, v: char) -> Result<Value, ValueError> {
        Ok(Value::String(v.to_string()))
    }

    fn serialize_str(self, v: &str) -> Result<Value, ValueError> {
        Ok(Value::String(v.to_owned()))
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<Value, ValueError> {
        match std::str::from_utf8(v) {
            Ok(s) => Ok(Value::String(s.to_owned())),
            Err(_) => Err(ValueError::new(
                self.path,
                ValueErrorKind::Custom("bytes must be UTF-8 to become a string".to_owned()),
            )),
        }
    }

    fn serialize_none(self) -> Result<Value, ValueError> {
        Ok(Value::Null)
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Value, ValueError> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<Value, ValueError> {
        Ok(Value::Null)
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<Value, ValueError> {
        Ok(Value::Null)
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<Value, ValueError> {
        Ok(Value::String(variant.to_owned()))
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<Value, ValueError> {
        if name == UNKNOWN_NAME {
            return Ok(Value::unknown());
        }
        let path = self.path.clone();
        let inner = value.serialize(self)?;
        if name == NUMBER_NAME
            && let Value::String(text) = &inner
        {
            return text
                .parse()
                .map(Value::Number)
                .map_err(|e| number_error(&path, e));
        }
        Ok(inner)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Value, ValueError> {
        let path = self.path.clone().attribute(variant);
        let inner = value.serialize(ValueSerializer::at(path))?;
        Ok(Value::Object(BTreeMap::from([(variant.to_owned(), inner)])))
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<SeqBuilder, ValueError> {
        Ok(SeqBuilder {
            path: self.path,
            items: Vec::with_capacity(len.unwrap_or(0).min(4096)),
            variant: None,
        })
    }

    fn serialize_tuple(self, len: usize) -> Result<SeqBuilder, ValueError> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<SeqBuilder, ValueError> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<SeqBuilder, ValueError> {
        let mut builder = self.serialize_seq(Some(len))?;
        builder.path = builder.path.attribute(variant);
        builder.variant = Some(variant);
        Ok(builder)
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<MapBuilder, ValueError> {
        Ok(MapBuilder {
            path: self.path,
            entries: BTreeMap::new(),
            pending_key: None,
            variant: None,
            object: false,
        })
    }

    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<MapBuilder, ValueError> {
        let mut builder = self.serialize_map(None)?;
        builder.object = true;
        Ok(builder)
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<MapBuilder, ValueError> {
        let mut builder = self.serialize_struct("", 0)?;
        builder.path = builder.path.attribute(variant);
        builder.variant = Some(variant);
        Ok(builder)
    }
}

/// Collects the elements of a sequence (or a tuple variant).
struct SeqBuilder {
    path: AttributePath,
    items: Vec<Value>,
    variant: Option<&'static str>,
}

impl SeqBuilder {
    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        let path = index_path(&self.path, self.items.len());
        let v = value
            .serialize(ValueSerializer::at(path.clone()))
            .map_err(|e: ValueError| e.place(&path))?;
        self.items.push(v);
        Ok(())
    }

    fn finish(self) -> Value {
        let list = Value::List(self.items);
        match self.variant {
            Some(variant) => Value::Object(BTreeMap::from([(variant.to_owned(), list)])),
            None => list,
        }
    }
}

impl ser::SerializeSeq for SeqBuilder {
    type Ok = Value;
    type Error = ValueError;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        self.push(value)
    }

    fn end(self) -> Result<Value, ValueError> {
        Ok(self.finish())
    }
}

impl ser::SerializeTuple for SeqBuilder {
    type Ok = Value;
    type Error = ValueError;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        self.push(value)
    }

    fn end(self) -> Result<Value, ValueError> {
        Ok(self.finish())
    }
}

impl ser::SerializeTupleStruct for SeqBuilder {
    type Ok = Value;
    type Error = ValueError;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        self.push(value)
    }

    fn end(self) -> Result<Value, ValueError> {
        Ok(self.finish())
    }
}

impl ser::SerializeTupleVariant for SeqBuilder {
    type Ok = Value;
    type Error = ValueError;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        self.push(value)
    }

    fn end(self) -> Result<Value, ValueError> {
        Ok(self.finish())
    }
}

/// Collects the entries of a map, or the fields of a struct (`object`).
struct MapBuilder {
    path: AttributePath,
    entries: BTreeMap<String, Value>,
    pending_key: Option<String>,
    variant: Option<&'static str>,
    object: bool,
}

impl MapBuilder {
    fn insert<T: Serialize + ?Sized>(&mut self, key: String, value: &T) -> Result<(), ValueError> {
        let path = if self.object {
            self.path.clone().attribute(key.as_str())
        } else {
            self.path.clone().key(key.as_str())
        };
        let v = value
            .serialize(ValueSerializer::at(path.clone()))
            .map_err(|e: ValueError| e.place(&path))?;
        self.entries.insert(key, v);
        Ok(())
    }

    fn finish(self) -> Value {
        let value = if self.object {
            Value::Object(self.entries)
        } else {
            Value::Map(self.entries)
        };
        match self.variant {
            Some(variant) => Value::Object(BTreeMap::from([(variant.to_owned(), value)])),
            None => value,
        }
    }
}

impl ser::SerializeMap for MapBuilder {
    type Ok = Value;
    type Error = ValueError;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), ValueError> {
        let key = key.serialize(ValueSerializer::at(self.path.clone()))?;
        self.pending_key = Some(key_text(key, &self.path)?);
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ValueError> {
        let key = self.pending_key.take().ok_or_else(|| {
            ValueError::new(
                self.path.clone(),
                ValueErrorKind::Custom("a map value came without a key".to_owned()),
            )
        })?;
        self.insert(key, value)
    }

    fn end(self) -> Result<Value, ValueError> {
        Ok(self.finish())
    }
}

impl ser::SerializeStruct for MapBuilder {
    type Ok = Value;
    type Error = ValueError;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), ValueError> {
        self.insert(key.to_owned(), value)
    }

    fn end(self) -> Result<Value, ValueError> {
        Ok(self.finish())
    }
}

impl ser::SerializeStructVariant for MapBuilder {
    type Ok = Value;
    type Error = ValueError;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), ValueError> {
        self.insert(key.to_owned(), value)
    }

    fn end(self) -> Result<Value, ValueError> {
        Ok(self.finish())
    }
}
