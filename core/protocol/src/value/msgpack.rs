//! The msgpack encoding of values, as Terraform sends them in
//! `DynamicValue.msgpack` (cty's `cty/msgpack`).
//!
//! * null is nil, at every type;
//! * an unknown is any ext value: ext 0 (written `d4 00 00`) when nothing
//!   is known, ext 12 whose payload is a map of refinements otherwise;
//! * numbers are ints when they are exact `i64`s, float64s when a float64
//!   holds them exactly and they are not whole, decimal text otherwise;
//! * lists, sets and tuples are arrays; maps and objects are maps with
//!   string keys, and an object carries every attribute of its type;
//! * a value at a `Dynamic` position is `[bin(type JSON), value]`.
//!
//! Both directions are written by hand over a byte slice: the format is
//! small, and this keeps every length check and allocation in view.

use std::collections::BTreeMap;

use super::canonical::dedup_set;
use super::conform::infer_type;
use super::{
    Number, ObjectType, Refinements, Type, Value, ValueError, ValueErrorKind, check_depth,
    index_path,
};
use crate::path::AttributePath;

/// The ext type of an unknown value with refinements.
const REFINED_UNKNOWN_EXT: i8 = 12;
/// cty refuses refinement payloads larger than this.
const MAX_REFINEMENT_BYTES: usize = 1024;

const REFINE_NULLNESS: i64 = 1;
const REFINE_STRING_PREFIX: i64 = 2;
const REFINE_NUMBER_LOWER: i64 = 3;
const REFINE_NUMBER_UPPER: i64 = 4;
const REFINE_LENGTH_LOWER: i64 = 5;
const REFINE_LENGTH_UPPER: i64 = 6;

/// Encodes `value` as msgpack for `ty`.
///
/// The value should already fit the type (see [`Value::conform`]); lists,
/// sets and tuples are interchangeable here, as are maps and objects, and
/// missing object attributes are written as null. Values at `Dynamic`
/// positions that are not [`Value::Dynamic`] are sent with their inferred
/// type. Unknowns keep the refinements that fit their type.
pub fn encode_msgpack(value: &Value, ty: &Type) -> Result<Vec<u8>, ValueError> {
    let mut out = Vec::new();
    encode_at(value, ty, &mut out, &AttributePath::root(), 0)?;
    Ok(out)
}

/// Decodes msgpack bytes as a value of type `ty`.
///
/// Follows cty: any ext value is an unknown, refinements that do not fit
/// the type are an error, unknown refinement keys are ignored, and every
/// object attribute must be present. Trailing bytes after the value are an
/// error. Set elements that repeat are merged.
pub fn decode_msgpack(bytes: &[u8], ty: &Type) -> Result<Value, ValueError> {
    let mut reader = Reader { bytes, pos: 0 };
    let root = AttributePath::root();
    let value = decode_at(&mut reader, ty, &root, 0)?;
    if reader.pos != bytes.len() {
        return Err(malformed(&root, "unexpected bytes after the value"));
    }
    Ok(value)
}

fn malformed(path: &AttributePath, message: impl Into<String>) -> ValueError {
    ValueError::new(path.clone(), ValueErrorKind::Msgpack(message.into()))
}

fn bad_refinement(path: &AttributePath, message: &str) -> ValueError {
    ValueError::new(path.clone(), ValueErrorKind::Refinement(message.to_owned()))
}

// ---------------------------------------------------------------- encoding

fn write_uint(n: u64, out: &mut Vec<u8>) {
    if n < 0x80 {
        out.push(n as u8);
    } else if let Ok(n) = u8::try_from(n) {
        out.extend_from_slice(&[0xcc, n]);
    } else if let Ok(n) = u16::try_from(n) {
        out.push(0xcd);
        out.extend_from_slice(&n.to_be_bytes());
    } else if let Ok(n) = u32::try_from(n) {
        out.push(0xce);
        out.extend_from_slice(&n.to_be_bytes());
    } else {
        out.push(0xcf);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// Writes an integer in its smallest form, as cty's encoder does.
fn write_int(n: i64, out: &mut Vec<u8>) {
    if n >= 0 {
        write_uint(n as u64, out);
    } else if n >= -32 {
        out.push(n as u8);
    } else if let Ok(n) = i8::try_from(n) {
        out.extend_from_slice(&[0xd0, n as u8]);
    } else if let Ok(n) = i16::try_from(n) {
        out.push(0xd1);
        out.extend_from_slice(&n.to_be_bytes());
    } else if let Ok(n) = i32::try_from(n) {
        out.push(0xd2);
        out.extend_from_slice(&n.to_be_bytes());
    } else {
        out.push(0xd3);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

fn write_f64(f: f64, out: &mut Vec<u8>) {
    out.push(0xcb);
    out.extend_from_slice(&f.to_be_bytes());
}

/// Writes a length header: `fix` holds small lengths in its low bits
/// (`fix_max` is the largest), then the 8-, 16- and 32-bit forms.
fn write_len(
    len: usize,
    fix: Option<(u8, usize)>,
    wide: [Option<u8>; 3],
    out: &mut Vec<u8>,
    path: &AttributePath,
) -> Result<(), ValueError> {
    match fix {
        Some((marker, max)) if len <= max => {
            out.push(marker | len as u8);
            return Ok(());
        }
        _ => {}
    }
    if let (Some(marker), Ok(len)) = (wide[0], u8::try_from(len)) {
        out.extend_from_slice(&[marker, len]);
    } else if let (Some(marker), Ok(len)) = (wide[1], u16::try_from(len)) {
        out.push(marker);
        out.extend_from_slice(&len.to_be_bytes());
    } else if let (Some(marker), Ok(len)) = (wide[2], u32::try_from(len)) {
        out.push(marker);
        out.extend_from_slice(&len.to_be_bytes());
    } else {
        return Err(malformed(path, "too long for msgpack"));
    }
    Ok(())
}

fn write_str(s: &str, out: &mut Vec<u8>, path: &AttributePath) -> Result<(), ValueError> {
    write_len(
        s.len(),
        Some((0xa0, 31)),
        [Some(0xd9), Some(0xda), Some(0xdb)],
        out,
        path,
    )?;
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

fn write_bin(b: &[u8], out: &mut Vec<u8>, path: &AttributePath) -> Result<(), ValueError> {
    write_len(
        b.len(),
        None,
        [Some(0xc4), Some(0xc5), Some(0xc6)],
        out,
        path,
    )?;
    out.extend_from_slice(b);
    Ok(())
}

fn write_array_len(len: usize, out: &mut Vec<u8>, path: &AttributePath) -> Result<(), ValueError> {
    write_len(
        len,
        Some((0x90, 15)),
        [None, Some(0xdc), Some(0xdd)],
        out,
        path,
    )
}

fn write_map_len(len: usize, out: &mut Vec<u8>, path: &AttributePath) -> Result<(), ValueError> {
    write_len(
        len,
        Some((0x80, 15)),
        [None, Some(0xde), Some(0xdf)],
        out,
        path,
    )
}

fn write_number(n: &Number, out: &mut Vec<u8>, path: &AttributePath) -> Result<(), ValueError> {
    if !n.is_finite() {
        write_f64(n.as_f64(), out);
    } else if let Some(i) = n.as_i64() {
        write_int(i, out);
    } else if n.is_exact_non_integer_f64() {
        write_f64(n.as_f64(), out);
    } else {
        // Whole numbers beyond i64 go as text too, as cty sends them.
        write_str(&n.to_string(), out, path)?;
    }
    Ok(())
}

fn encode_unknown(
    refinements: &Refinements,
    ty: &Type,
    out: &mut Vec<u8>,
    path: &AttributePath,
) -> Result<(), ValueError> {
    let r = refinements.clone().for_type(ty);
    let mut body = Vec::new();
    let mut entries = 0;
    if r.not_null {
        entries += 1;
        write_int(REFINE_NULLNESS, &mut body);
        body.push(0xc2);
    }
    if let Some(prefix) = &r.string_prefix {
        entries += 1;
        write_int(REFINE_STRING_PREFIX, &mut body);
        write_str(prefix, &mut body, path)?;
    }
    for (key, bound) in [
        (REFINE_NUMBER_LOWER, &r.number_lower),
        (REFINE_NUMBER_UPPER, &r.number_upper),
    ] {
        if let Some((n, inclusive)) = bound {
            entries += 1;
            write_int(key, &mut body);
            body.push(0x92);
            write_number(n, &mut body, path)?;
            body.push(if *inclusive { 0xc3 } else { 0xc2 });
        }
    }
    for (key, length) in [
        (REFINE_LENGTH_LOWER, r.length_lower),
        (REFINE_LENGTH_UPPER, r.length_upper),
    ] {
        if let Some(n) = length {
            entries += 1;
            write_int(key, &mut body);
            write_uint(n, &mut body);
        }
    }
    if entries == 0 {
        out.extend_from_slice(&[0xd4, 0, 0]);
        return Ok(());
    }
    let mut payload = Vec::with_capacity(body.len() + 1);
    write_map_len(entries, &mut payload, path)?;
    payload.extend_from_slice(&body);
    // ext header: fixext for 1/2/4/8/16 bytes, else ext8/16/32.
    let fixed = match payload.len() {
        1 => Some(0xd4),
        2 => Some(0xd5),
        4 => Some(0xd6),
        8 => Some(0xd7),
        16 => Some(0xd8),
        _ => None,
    };
    match fixed {
        Some(marker) => out.push(marker),
        None => write_len(
            payload.len(),
            None,
            [Some(0xc7), Some(0xc8), Some(0xc9)],
            out,
            path,
        )?,
    }
    out.push(REFINED_UNKNOWN_EXT as u8);
    out.extend_from_slice(&payload);
    Ok(())
}

fn encode_at(
    value: &Value,
    ty: &Type,
    out: &mut Vec<u8>,
    path: &AttributePath,
    depth: usize,
) -> Result<(), ValueError> {
    check_depth(depth, path)?;
    if *ty == Type::Dynamic {
        return match value {
            Value::Null => {
                out.push(0xc0);
                Ok(())
            }
            // Dynamic unknowns carry no refinements.
            Value::Unknown(_) => {
                out.extend_from_slice(&[0xd4, 0, 0]);
                Ok(())
            }
            Value::Dynamic(t, inner) if **t == Type::Dynamic => {
                encode_at(inner, ty, out, path, depth + 1)
            }
            Value::Dynamic(t, inner) => {
                out.push(0x92);
                write_bin(&t.to_json(), out, path)?;
                encode_at(inner, t, out, path, depth + 1)
            }
            other => {
                let t = infer_type(other);
                out.push(0x92);
                write_bin(&t.to_json(), out, path)?;
                encode_at(other, &t, out, path, depth + 1)
            }
        };
    }
    match (value, ty) {
        (Value::Dynamic(_, inner), ty) => encode_at(inner, ty, out, path, depth + 1),
        (Value::Null, _) => {
            out.push(0xc0);
            Ok(())
        }
        (Value::Unknown(r), ty) => encode_unknown(r, ty, out, path),
        (Value::Bool(b), Type::Bool) => {
            out.push(if *b { 0xc3 } else { 0xc2 });
            Ok(())
        }
        (Value::Number(n), Type::Number) => write_number(n, out, path),
        (Value::String(s), Type::String) => write_str(s, out, path),
        (Value::List(vs) | Value::Set(vs) | Value::Tuple(vs), Type::List(e) | Type::Set(e)) => {
            write_array_len(vs.len(), out, path)?;
            let keyed = matches!(ty, Type::List(_));
            for (i, v) in vs.iter().enumerate() {
                let element_path = if keyed {
                    index_path(path, i)
                } else {
                    path.clone()
                };
                encode_at(v, e, out, &element_path, depth + 1)?;
            }
            Ok(())
        }
        (Value::List(vs) | Value::Set(vs) | Value::Tuple(vs), Type::Tuple(ts)) => {
            if vs.len() != ts.len() {
                return Err(ValueError::new(
                    path.clone(),
                    ValueErrorKind::TupleLength {
                        expected: ts.len(),
                        given: vs.len(),
                    },
                ));
            }
            write_array_len(vs.len(), out, path)?;
            for (i, (v, t)) in vs.iter().zip(ts).enumerate() {
                encode_at(v, t, out, &index_path(path, i), depth + 1)?;
            }
            Ok(())
        }
        (Value::Map(m) | Value::Object(m), Type::Map(e)) => {
            write_map_len(m.len(), out, path)?;
            for (k, v) in m {
                let element_path = path.clone().key(k.as_str());
                write_str(k, out, &element_path)?;
                encode_at(v, e, out, &element_path, depth + 1)?;
            }
            Ok(())
        }
        (Value::Map(m) | Value::Object(m), Type::Object(o)) => {
            if let Some(extra) = m.keys().find(|k| !o.attributes.contains_key(*k)) {
                return Err(ValueError::new(
                    path.clone(),
                    ValueErrorKind::UnsupportedAttribute(extra.clone()),
                ));
            }
            write_map_len(o.attributes.len(), out, path)?;
            for (name, t) in &o.attributes {
                let attr_path = path.clone().attribute(name.as_str());
                write_str(name, out, &attr_path)?;
                encode_at(
                    m.get(name).unwrap_or(&Value::Null),
                    t,
                    out,
                    &attr_path,
                    depth + 1,
                )?;
            }
            Ok(())
        }
        (v, ty) => Err(ValueError::mismatch(path, ty.describe(), v)),
    }
}

// ---------------------------------------------------------------- decoding

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn peek(&self, path: &AttributePath) -> Result<u8, ValueError> {
        self.bytes
            .get(self.pos)
            .copied()
            .ok_or_else(|| malformed(path, "unexpected end of input"))
    }

    fn byte(&mut self, path: &AttributePath) -> Result<u8, ValueError> {
        let b = self.peek(path)?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize, path: &AttributePath) -> Result<&'a [u8], ValueError> {
        if n > self.remaining() {
            return Err(malformed(path, "unexpected end of input"));
        }
        let slice = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self, path: &AttributePath) -> Result<[u8; N], ValueError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, path)?);
        Ok(out)
    }

    fn len8(&mut self, path: &AttributePath) -> Result<usize, ValueError> {
        Ok(usize::from(self.byte(path)?))
    }

    fn len16(&mut self, path: &AttributePath) -> Result<usize, ValueError> {
        Ok(usize::from(u16::from_be_bytes(self.array(path)?)))
    }

    fn len32(&mut self, path: &AttributePath) -> Result<usize, ValueError> {
        usize::try_from(u32::from_be_bytes(self.array(path)?))
            .map_err(|_| malformed(path, "length too large"))
    }

    /// Reads an array header, or `None` for nil.
    fn array_len(&mut self, path: &AttributePath, what: &str) -> Result<usize, ValueError> {
        match self.byte(path)? {
            b @ 0x90..=0x9f => Ok(usize::from(b & 0x0f)),
            0xdc => self.len16(path),
            0xdd => self.len32(path),
            _ => Err(malformed(path, format!("{what} is required"))),
        }
    }

    fn map_len(&mut self, path: &AttributePath, what: &str) -> Result<usize, ValueError> {
        match self.byte(path)? {
            b @ 0x80..=0x8f => Ok(usize::from(b & 0x0f)),
            0xde => self.len16(path),
            0xdf => self.len32(path),
            _ => Err(malformed(path, format!("{what} is required"))),
        }
    }

    /// Reads str or bin bytes (cty accepts either where it wants a string).
    fn raw_bytes(&mut self, path: &AttributePath, what: &str) -> Result<&'a [u8], ValueError> {
        let len = match self.byte(path)? {
            b @ 0xa0..=0xbf => usize::from(b & 0x1f),
            0xd9 | 0xc4 => self.len8(path)?,
            0xda | 0xc5 => self.len16(path)?,
            0xdb | 0xc6 => self.len32(path)?,
            _ => return Err(malformed(path, format!("{what} is required"))),
        };
        self.take(len, path)
    }

    fn string(&mut self, path: &AttributePath, what: &str) -> Result<String, ValueError> {
        let bytes = self.raw_bytes(path, what)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| malformed(path, "string is not valid UTF-8"))
    }

    fn integer(&mut self, path: &AttributePath) -> Result<Option<i128>, ValueError> {
        let b = self.peek(path)?;
        let value = match b {
            0x00..=0x7f => i128::from(b),
            0xe0..=0xff => i128::from(b as i8),
            0xcc => i128::from(u8::from_be_bytes(self.skip(1).array(path)?)),
            0xcd => i128::from(u16::from_be_bytes(self.skip(1).array(path)?)),
            0xce => i128::from(u32::from_be_bytes(self.skip(1).array(path)?)),
            0xcf => i128::from(u64::from_be_bytes(self.skip(1).array(path)?)),
            0xd0 => i128::from(i8::from_be_bytes(self.skip(1).array(path)?)),
            0xd1 => i128::from(i16::from_be_bytes(self.skip(1).array(path)?)),
            0xd2 => i128::from(i32::from_be_bytes(self.skip(1).array(path)?)),
            0xd3 => i128::from(i64::from_be_bytes(self.skip(1).array(path)?)),
            _ => return Ok(None),
        };
        if b <= 0x7f || b >= 0xe0 {
            self.pos += 1;
        }
        Ok(Some(value))
    }

    fn skip(&mut self, n: usize) -> &mut Self {
        self.pos = (self.pos + n).min(self.bytes.len());
        self
    }

    fn number(&mut self, path: &AttributePath) -> Result<Number, ValueError> {
        if let Some(i) = self.integer(path)? {
            // An i128 from msgpack fits i64 or u64.
            return Ok(match i64::try_from(i) {
                Ok(i) => Number::from(i),
                Err(_) => Number::from(u64::try_from(i).unwrap_or(u64::MAX)),
            });
        }
        let float = match self.peek(path)? {
            0xca => Some(f64::from(f32::from_be_bytes(self.skip(1).array(path)?))),
            0xcb => Some(f64::from_be_bytes(self.skip(1).array(path)?)),
            _ => None,
        };
        let number = match float {
            Some(f) => Number::from_f64_exact(f),
            None => self.string(path, "a number")?.parse::<Number>(),
        };
        number.map_err(|e| ValueError::new(path.clone(), ValueErrorKind::Number(e)))
    }

    /// Reads an ext header: the type code and the payload length.
    fn ext_header(&mut self, path: &AttributePath) -> Result<(i8, usize), ValueError> {
        let len = match self.byte(path)? {
            0xd4 => 1,
            0xd5 => 2,
            0xd6 => 4,
            0xd7 => 8,
            0xd8 => 16,
            0xc7 => self.len8(path)?,
            0xc8 => self.len16(path)?,
            0xc9 => self.len32(path)?,
            _ => return Err(malformed(path, "an extension value is required")),
        };
        let code = self.byte(path)? as i8;
        Ok((code, len))
    }

    /// Skips one value of any kind (an unrecognised refinement).
    fn skip_value(&mut self, path: &AttributePath, depth: usize) -> Result<(), ValueError> {
        check_depth(depth, path)?;
        let b = self.peek(path)?;
        match b {
            0xc0 | 0xc2 | 0xc3 => self.pos += 1,
            0xca => {
                self.take(5, path)?;
            }
            0xcb => {
                self.take(9, path)?;
            }
            0xa0..=0xbf | 0xd9..=0xdb | 0xc4..=0xc6 => {
                self.raw_bytes(path, "a value")?;
            }
            0x90..=0x9f | 0xdc | 0xdd => {
                let len = self.array_len(path, "an array")?;
                for _ in 0..len {
                    self.skip_value(path, depth + 1)?;
                }
            }
            0x80..=0x8f | 0xde | 0xdf => {
                let len = self.map_len(path, "a map")?;
                for _ in 0..len {
                    self.skip_value(path, depth + 1)?;
                    self.skip_value(path, depth + 1)?;
                }
            }
            0xd4..=0xd8 | 0xc7..=0xc9 => {
                let (_, len) = self.ext_header(path)?;
                self.take(len, path)?;
            }
            _ => {
                if self.integer(path)?.is_none() {
                    return Err(malformed(path, format!("invalid marker 0x{b:02x}")));
                }
            }
        }
        Ok(())
    }
}

fn is_ext(marker: u8) -> bool {
    matches!(marker, 0xd4..=0xd8 | 0xc7..=0xc9)
}

// Each kind of value decodes in its own function, kept out of line, so
// the frame that recurses stays small: nesting depth times frame size must
// fit the stack of a debug build's test thread, too.
fn decode_at(
    r: &mut Reader<'_>,
    ty: &Type,
    path: &AttributePath,
    depth: usize,
) -> Result<Value, ValueError> {
    check_depth(depth, path)?;
    let marker = r.peek(path)?;
    if is_ext(marker) {
        return decode_unknown(r, ty, path, depth);
    }
    if *ty == Type::Dynamic {
        return decode_dynamic(r, path, depth);
    }
    if marker == 0xc0 {
        r.pos += 1;
        return Ok(Value::Null);
    }
    match ty {
        Type::Bool | Type::Number | Type::String => decode_primitive(r, ty, path),
        Type::List(e) => decode_sequence(r, e, true, path, depth),
        Type::Set(e) => decode_sequence(r, e, false, path, depth),
        Type::Tuple(ts) => decode_tuple(r, ts, path, depth),
        Type::Map(e) => decode_map(r, e, path, depth),
        Type::Object(o) => decode_object(r, o, path, depth),
        Type::Dynamic => decode_dynamic(r, path, depth),
    }
}

#[inline(never)]
fn decode_primitive(
    r: &mut Reader<'_>,
    ty: &Type,
    path: &AttributePath,
) -> Result<Value, ValueError> {
    match ty {
        Type::Bool => match r.byte(path)? {
            0xc2 => Ok(Value::Bool(false)),
            0xc3 => Ok(Value::Bool(true)),
            _ => Err(malformed(path, "a bool is required")),
        },
        Type::Number => r.number(path).map(Value::Number),
        _ => r.string(path, "a string").map(Value::String),
    }
}

#[inline(never)]
fn decode_sequence(
    r: &mut Reader<'_>,
    element: &Type,
    is_list: bool,
    path: &AttributePath,
    depth: usize,
) -> Result<Value, ValueError> {
    let len = r.array_len(path, if is_list { "a list" } else { "a set" })?;
    // Every element takes at least one byte, so the input bounds what a
    // hostile length can make us reserve.
    let mut values = Vec::with_capacity(len.min(r.remaining()));
    for i in 0..len {
        let element_path = if is_list {
            index_path(path, i)
        } else {
            path.clone()
        };
        values.push(decode_at(r, element, &element_path, depth + 1)?);
    }
    Ok(if is_list {
        Value::List(values)
    } else {
        Value::Set(dedup_set(values))
    })
}

#[inline(never)]
fn decode_tuple(
    r: &mut Reader<'_>,
    types: &[Type],
    path: &AttributePath,
    depth: usize,
) -> Result<Value, ValueError> {
    let len = r.array_len(path, "a tuple")?;
    if len != types.len() {
        return Err(ValueError::new(
            path.clone(),
            ValueErrorKind::TupleLength {
                expected: types.len(),
                given: len,
            },
        ));
    }
    let mut values = Vec::with_capacity(len);
    for (i, t) in types.iter().enumerate() {
        values.push(decode_at(r, t, &index_path(path, i), depth + 1)?);
    }
    Ok(Value::Tuple(values))
}

#[inline(never)]
fn decode_map(
    r: &mut Reader<'_>,
    element: &Type,
    path: &AttributePath,
    depth: usize,
) -> Result<Value, ValueError> {
    let len = r.map_len(path, "a map")?;
    let mut values = BTreeMap::new();
    for _ in 0..len {
        let key = r.string(path, "a string map key")?;
        let element_path = path.clone().key(key.as_str());
        let v = decode_at(r, element, &element_path, depth + 1)?;
        values.insert(key, v);
    }
    Ok(Value::Map(values))
}

#[inline(never)]
fn decode_object(
    r: &mut Reader<'_>,
    object: &ObjectType,
    path: &AttributePath,
    depth: usize,
) -> Result<Value, ValueError> {
    let len = r.map_len(path, "an object")?;
    if len != object.attributes.len() {
        return Err(ValueError::new(
            path.clone(),
            ValueErrorKind::AttributeCount {
                expected: object.attributes.len(),
                given: len,
            },
        ));
    }
    let mut values = BTreeMap::new();
    for _ in 0..len {
        let key = r.string(path, "a string attribute name")?;
        let Some(t) = object.attributes.get(&key) else {
            return Err(ValueError::new(
                path.clone(),
                ValueErrorKind::UnsupportedAttribute(key),
            ));
        };
        let attr_path = path.clone().attribute(key.as_str());
        let v = decode_at(r, t, &attr_path, depth + 1)?;
        if values.insert(key.clone(), v).is_some() {
            return Err(ValueError::new(
                path.clone(),
                ValueErrorKind::DuplicateAttribute(key),
            ));
        }
    }
    Ok(Value::Object(values))
}

#[inline(never)]
fn decode_dynamic(
    r: &mut Reader<'_>,
    path: &AttributePath,
    depth: usize,
) -> Result<Value, ValueError> {
    if r.peek(path)? == 0xc0 {
        r.pos += 1;
        return Ok(Value::Null);
    }
    let len = r.array_len(path, "a [type, value] array for a dynamic value")?;
    if len != 2 {
        return Err(malformed(
            path,
            "a dynamic value must be an array of exactly two elements",
        ));
    }
    let type_json = r.raw_bytes(path, "the type of a dynamic value")?;
    let t = Type::from_json(type_json).map_err(|e| ValueError::new(path.clone(), e.into()))?;
    let inner = decode_at(r, &t, path, depth + 1)?;
    Ok(Value::Dynamic(Box::new(t), Box::new(inner)))
}

#[inline(never)]
fn decode_unknown(
    r: &mut Reader<'_>,
    ty: &Type,
    path: &AttributePath,
    depth: usize,
) -> Result<Value, ValueError> {
    let (code, len) = r.ext_header(path)?;
    // An empty or one-byte payload is a wholly unknown value, whatever the
    // ext type.
    if len <= 1 {
        r.take(len, path)?;
        return Ok(Value::unknown());
    }
    if code != REFINED_UNKNOWN_EXT {
        return Err(malformed(
            path,
            format!("unsupported extension type {code} with length {len}"),
        ));
    }
    if len > MAX_REFINEMENT_BYTES {
        return Err(bad_refinement(path, "refinements larger than 1 KiB"));
    }
    let body = r.take(len, path)?;
    let mut body = Reader {
        bytes: body,
        pos: 0,
    };
    let entries = body
        .map_len(path, "a refinement map")
        .map_err(|_| bad_refinement(path, "the payload is not a map"))?;
    if *ty == Type::Dynamic {
        // cty ignores refinements of dynamic unknowns.
        return Ok(Value::unknown());
    }
    let mut refinements = Refinements::default();
    let mut definitely_null = false;
    // Trailing bytes after the map are allowed, for future use.
    for _ in 0..entries {
        let key = body
            .integer(path)?
            .ok_or_else(|| bad_refinement(path, "a key is not an integer"))?;
        match i64::try_from(key).unwrap_or(i64::MAX) {
            REFINE_NULLNESS => match body.byte(path)? {
                0xc2 => refinements.not_null = true,
                0xc3 => definitely_null = true,
                _ => return Err(bad_refinement(path, "nullness is not a bool")),
            },
            REFINE_STRING_PREFIX => {
                if *ty != Type::String {
                    return Err(bad_refinement(path, "a string prefix on a non-string"));
                }
                let prefix = body
                    .string(path, "a string prefix")
                    .map_err(|_| bad_refinement(path, "the string prefix is not a string"))?;
                refinements.string_prefix = Some(prefix);
            }
            k @ (REFINE_NUMBER_LOWER | REFINE_NUMBER_UPPER) => {
                if *ty != Type::Number {
                    return Err(bad_refinement(path, "a number bound on a non-number"));
                }
                let bound_type = Type::tuple([Type::Number, Type::Bool]);
                let bound = decode_at(&mut body, &bound_type, path, depth + 1);
                let Ok(Value::Tuple(parts)) = bound else {
                    return Err(bad_refinement(
                        path,
                        "a number bound must be [number, bool]",
                    ));
                };
                let bound = match parts.as_slice() {
                    [Value::Number(n), Value::Bool(inclusive)] => (n.clone(), *inclusive),
                    _ => {
                        return Err(bad_refinement(
                            path,
                            "a number bound must be [number, bool]",
                        ));
                    }
                };
                if k == REFINE_NUMBER_LOWER {
                    refinements.number_lower = Some(bound);
                } else {
                    refinements.number_upper = Some(bound);
                }
            }
            k @ (REFINE_LENGTH_LOWER | REFINE_LENGTH_UPPER) => {
                if !ty.is_collection() {
                    return Err(bad_refinement(path, "a length bound on a non-collection"));
                }
                let n = body
                    .integer(path)?
                    .and_then(|n| u64::try_from(n).ok())
                    .ok_or_else(|| bad_refinement(path, "a length bound must be a whole number"))?;
                if k == REFINE_LENGTH_LOWER {
                    refinements.length_lower = Some(n);
                } else {
                    refinements.length_upper = Some(n);
                }
            }
            _ => body.skip_value(path, depth + 1)?,
        }
    }
    if definitely_null {
        // cty turns "unknown, but certainly null" into a known null.
        return Ok(Value::Null);
    }
    // Drop what cty would not send back (an infinite bound, a zero lower
    // length), so decoding then encoding is stable.
    Ok(Value::Unknown(refinements.for_type(ty)))
}
