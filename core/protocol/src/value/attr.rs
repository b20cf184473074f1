//! [`Attr<T>`]: a typed Terraform value that may be null or unknown.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde::ser::{Serialize, Serializer};

/// The newtype name `Attr<T>` deserializes through. The value deserializer
/// recognises it and answers null with `visit_none`, unknown with
/// `visit_unit`, and a known value with `visit_newtype_struct`; other
/// deserializers just see a newtype around an `Option<T>`.
pub(crate) const ATTR_NAME: &str = "$tf_protocol::private::Attr";
/// The newtype name `Attr::Unknown` serializes as. The value serializer
/// turns it into [`Value::Unknown`](super::Value::Unknown); other
/// serializers see a newtype around `()`, i.e. null.
pub(crate) const UNKNOWN_NAME: &str = "$tf_protocol::private::Unknown";

/// A Terraform value of Rust type `T` that may be null or unknown.
///
/// Use it in models for attributes that can be unknown during planning
/// (computed attributes, or configuration that references other
/// resources). Through [`to_value`](super::to_value) and
/// [`from_value`](super::from_value), `Null` is [`Value::Null`],
/// `Unknown` is a wholly unknown [`Value::Unknown`], and `Known(t)` is
/// `t`'s value. A value that is known but holds unknowns that `T` cannot
/// (`Attr<Vec<String>>` of `[unknown, "b"]`) reads as `Unknown`; the
/// framework keeps the finer value in plans. `Option<T>` maps null only,
/// and fails on unknowns.
///
/// [`Value::Null`]: super::Value::Null
/// [`Value::Unknown`]: super::Value::Unknown
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Attr<T> {
    /// Null.
    #[default]
    Null,
    /// Not known until apply.
    Unknown,
    /// A known value.
    Known(T),
}

impl<T> Attr<T> {
    /// Whether this is a known (non-null) value.
    pub fn is_known(&self) -> bool {
        matches!(self, Attr::Known(_))
    }

    /// Whether this is null.
    pub fn is_null(&self) -> bool {
        matches!(self, Attr::Null)
    }

    /// Whether this is unknown.
    pub fn is_unknown(&self) -> bool {
        matches!(self, Attr::Unknown)
    }

    /// Borrows the known value.
    pub fn as_ref(&self) -> Attr<&T> {
        match self {
            Attr::Null => Attr::Null,
            Attr::Unknown => Attr::Unknown,
            Attr::Known(t) => Attr::Known(t),
        }
    }

    /// The known value, if any.
    pub fn known(&self) -> Option<&T> {
        match self {
            Attr::Known(t) => Some(t),
            _ => None,
        }
    }

    /// The known value, if any (null and unknown both give `None`).
    pub fn into_option(self) -> Option<T> {
        match self {
            Attr::Known(t) => Some(t),
            _ => None,
        }
    }

    /// Maps the known value.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Attr<U> {
        match self {
            Attr::Null => Attr::Null,
            Attr::Unknown => Attr::Unknown,
            Attr::Known(t) => Attr::Known(f(t)),
        }
    }
}

impl<T> From<T> for Attr<T> {
    fn from(t: T) -> Self {
        Attr::Known(t)
    }
}

impl<T> From<Option<T>> for Attr<T> {
    fn from(t: Option<T>) -> Self {
        match t {
            Some(t) => Attr::Known(t),
            None => Attr::Null,
        }
    }
}

impl<T: Serialize> Serialize for Attr<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Attr::Null => serializer.serialize_none(),
            Attr::Unknown => serializer.serialize_newtype_struct(UNKNOWN_NAME, &()),
            Attr::Known(t) => serializer.serialize_some(t),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Attr<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_newtype_struct(ATTR_NAME, AttrVisitor(PhantomData))
    }
}

struct AttrVisitor<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for AttrVisitor<T> {
    type Value = Attr<T>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Terraform value, null, or unknown")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Attr::Null)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Attr::Unknown)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        // Other formats reach here for every value, null included. The
        // value deserializer reaches here for known values, including those
        // that hold unknowns further in (a list with an unknown element):
        // when `T` cannot hold such an unknown, the nearest `Attr` around it
        // reads as unknown as a whole.
        match Option::<T>::deserialize(deserializer) {
            Ok(value) => Ok(Attr::from(value)),
            Err(e) if super::is_unknown_in_model(&e) => Ok(Attr::Unknown),
            Err(e) => Err(e),
        }
    }
}
