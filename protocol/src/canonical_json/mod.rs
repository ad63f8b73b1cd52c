//! Canonical JSON: the single byte encoding of a JSON value that Matrix
//! signs and hashes.
//!
//! [`CanonicalJsonValue`] can only hold what the encoding allows: no floats,
//! and integers within `[-(2^53)+1, 2^53-1]`. Objects are `BTreeMap`s, so
//! keys are always sorted by code point (byte order of their UTF-8 form).
//!
//! There are two ways in:
//!
//! * [`from_str`] / [`from_slice`] parse JSON text. They are the ones to use
//!   for anything received from the network: besides the value rules they
//!   reject duplicate object keys (which `serde_json` would silently resolve
//!   to the last occurrence, so two servers could disagree on what was
//!   signed), numbers written with a fraction or exponent, and nesting
//!   deeper than [`MAX_DEPTH`].
//! * `TryFrom<serde_json::Value>` converts an in-memory value. A
//!   `serde_json::Value` no longer knows how a number was written, so here
//!   any number whose value is an integer in range is accepted (`-0` and
//!   `1e10` become `0` and `10000000000`).
//!
//! The way out is [`CanonicalJsonValue::to_canonical_string`] (also the
//! `Display` impl) and [`object_to_canonical_string`].

mod parser;
mod serde_impls;
mod writer;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

pub use parser::{from_slice, from_str, object_from_slice, object_from_str};
pub(crate) use writer::canonical_string_without;
pub use writer::object_to_canonical_string;

/// Largest integer canonical JSON can carry: `2^53 - 1`.
pub const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;
/// Smallest integer canonical JSON can carry: `-(2^53) + 1`.
pub const MIN_SAFE_INTEGER: i64 = -MAX_SAFE_INTEGER;

/// Maximum nesting of arrays and objects accepted when parsing or
/// converting. A top-level object counts as depth 1.
///
/// The limit keeps recursion (parsing, serialising, dropping) bounded for
/// untrusted input. Real events are shallow; 100 leaves generous headroom
/// while staying below `serde_json`'s own fixed limit of 127, so the two
/// ways in agree on what is too deep.
pub const MAX_DEPTH: usize = 100;

/// A JSON object in canonical form; keys iterate in canonical order.
pub type CanonicalJsonObject = BTreeMap<String, CanonicalJsonValue>;

/// A JSON value restricted to what canonical JSON can represent.
///
/// Values built by the parsers and conversions of this module always hold
/// integers in range. The `Integer` variant is public for pattern matching
/// and literals; code that constructs it from arbitrary `i64`s should use
/// [`CanonicalJsonValue::integer`] so the range is checked.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum CanonicalJsonValue {
    /// `null`
    #[default]
    Null,
    /// `true` or `false`
    Bool(bool),
    /// An integer within [`MIN_SAFE_INTEGER`]..=[`MAX_SAFE_INTEGER`].
    Integer(i64),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<CanonicalJsonValue>),
    /// An object with sorted keys.
    Object(CanonicalJsonObject),
}

/// Why a value or text is not acceptable canonical JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CanonicalJsonError {
    /// A number has a fractional part or an exponent. Canonical JSON only
    /// carries integers.
    #[error("floating-point number {0} is not allowed; only integers are")]
    Float(String),
    /// An integer lies outside `[-(2^53)+1, 2^53-1]`.
    #[error("integer {0} is outside the allowed range [-(2^53)+1, 2^53-1]")]
    IntegerOutOfRange(String),
    /// An object names the same key twice.
    #[error("duplicate key {0:?} in object")]
    DuplicateKey(String),
    /// Arrays and objects are nested deeper than [`MAX_DEPTH`].
    #[error("arrays and objects are nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// The text is not JSON.
    #[error("invalid JSON at byte {position}: {reason}")]
    Syntax {
        /// Byte offset into the input where the problem was found.
        position: usize,
        /// What was wrong.
        reason: &'static str,
    },
    /// The value is valid but an object was required (for example an event).
    #[error("expected a JSON object")]
    NotAnObject,
}

impl CanonicalJsonValue {
    /// Builds an integer value, checking the canonical range.
    pub fn integer(value: i64) -> Result<Self, CanonicalJsonError> {
        if (MIN_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&value) {
            Ok(Self::Integer(value))
        } else {
            Err(CanonicalJsonError::IntegerOutOfRange(value.to_string()))
        }
    }

    /// The canonical encoding of this value: sorted keys, no whitespace,
    /// UTF-8 with only the escapes JSON requires.
    pub fn to_canonical_string(&self) -> String {
        let mut out = String::new();
        writer::write_value(self, &mut out);
        out
    }

    /// The string, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is an integer.
    pub fn as_integer(&self) -> Option<i64> {
        match self {
            Self::Integer(i) => Some(*i),
            _ => None,
        }
    }

    /// The boolean, if this is a boolean.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Self::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The elements, if this is an array.
    pub fn as_array(&self) -> Option<&Vec<CanonicalJsonValue>> {
        match self {
            Self::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The object, if this is an object.
    pub fn as_object(&self) -> Option<&CanonicalJsonObject> {
        match self {
            Self::Object(o) => Some(o),
            _ => None,
        }
    }

    /// The object for modification, if this is an object.
    pub fn as_object_mut(&mut self) -> Option<&mut CanonicalJsonObject> {
        match self {
            Self::Object(o) => Some(o),
            _ => None,
        }
    }

    /// Unwraps an object, or says it was not one.
    pub fn into_object(self) -> Result<CanonicalJsonObject, CanonicalJsonError> {
        match self {
            Self::Object(o) => Ok(o),
            _ => Err(CanonicalJsonError::NotAnObject),
        }
    }
}

impl fmt::Display for CanonicalJsonValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_canonical_string())
    }
}

impl FromStr for CanonicalJsonValue {
    type Err = CanonicalJsonError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        from_str(s)
    }
}

impl From<bool> for CanonicalJsonValue {
    fn from(value: bool) -> Self {
        Self::Bool(value)
    }
}

impl From<i32> for CanonicalJsonValue {
    fn from(value: i32) -> Self {
        Self::Integer(value.into())
    }
}

impl From<u32> for CanonicalJsonValue {
    fn from(value: u32) -> Self {
        Self::Integer(value.into())
    }
}

impl TryFrom<i64> for CanonicalJsonValue {
    type Error = CanonicalJsonError;

    fn try_from(value: i64) -> Result<Self, Self::Error> {
        Self::integer(value)
    }
}

impl TryFrom<u64> for CanonicalJsonValue {
    type Error = CanonicalJsonError;

    fn try_from(value: u64) -> Result<Self, Self::Error> {
        i64::try_from(value)
            .map_err(|_| CanonicalJsonError::IntegerOutOfRange(value.to_string()))
            .and_then(Self::integer)
    }
}

impl From<String> for CanonicalJsonValue {
    fn from(value: String) -> Self {
        Self::String(value)
    }
}

impl From<&str> for CanonicalJsonValue {
    fn from(value: &str) -> Self {
        Self::String(value.to_owned())
    }
}

impl From<Vec<CanonicalJsonValue>> for CanonicalJsonValue {
    fn from(value: Vec<CanonicalJsonValue>) -> Self {
        Self::Array(value)
    }
}

impl From<CanonicalJsonObject> for CanonicalJsonValue {
    fn from(value: CanonicalJsonObject) -> Self {
        Self::Object(value)
    }
}

impl TryFrom<serde_json::Value> for CanonicalJsonValue {
    type Error = CanonicalJsonError;

    /// Converts an in-memory JSON value. Numbers are judged by value, not by
    /// notation: any integral number within range is accepted.
    fn try_from(value: serde_json::Value) -> Result<Self, Self::Error> {
        from_json_value(value, 0)
    }
}

fn from_json_value(
    value: serde_json::Value,
    depth: usize,
) -> Result<CanonicalJsonValue, CanonicalJsonError> {
    use serde_json::Value;

    Ok(match value {
        Value::Null => CanonicalJsonValue::Null,
        Value::Bool(b) => CanonicalJsonValue::Bool(b),
        Value::Number(n) => number_from_json(&n)?,
        Value::String(s) => CanonicalJsonValue::String(s),
        Value::Array(items) => {
            if depth >= MAX_DEPTH {
                return Err(CanonicalJsonError::TooDeep);
            }
            CanonicalJsonValue::Array(
                items
                    .into_iter()
                    .map(|item| from_json_value(item, depth + 1))
                    .collect::<Result<_, _>>()?,
            )
        }
        Value::Object(map) => {
            if depth >= MAX_DEPTH {
                return Err(CanonicalJsonError::TooDeep);
            }
            CanonicalJsonValue::Object(
                map.into_iter()
                    .map(|(k, v)| Ok((k, from_json_value(v, depth + 1)?)))
                    .collect::<Result<_, CanonicalJsonError>>()?,
            )
        }
    })
}

fn number_from_json(n: &serde_json::Number) -> Result<CanonicalJsonValue, CanonicalJsonError> {
    if let Some(i) = n.as_i64() {
        return CanonicalJsonValue::integer(i);
    }
    if n.is_u64() {
        // Only reached for values above i64::MAX.
        return Err(CanonicalJsonError::IntegerOutOfRange(n.to_string()));
    }
    integral_float(n.as_f64().unwrap_or(f64::NAN))
}

/// Accepts a float only if it is exactly an integer in range (this covers
/// `-0.0`, which canonicalises to `0`).
fn integral_float(f: f64) -> Result<CanonicalJsonValue, CanonicalJsonError> {
    if !f.is_finite() || f.fract() != 0.0 {
        return Err(CanonicalJsonError::Float(f.to_string()));
    }
    // Every integer of magnitude up to 2^53 is exactly representable, so this
    // comparison is exact.
    if f.abs() > MAX_SAFE_INTEGER as f64 {
        return Err(CanonicalJsonError::IntegerOutOfRange(format!("{f:.0}")));
    }
    // In range and integral, so the cast is exact.
    Ok(CanonicalJsonValue::Integer(f as i64))
}

/// Converts an in-memory JSON value that must be an object, such as an
/// event built with `serde_json::json!`.
pub fn object_from_json(
    value: serde_json::Value,
) -> Result<CanonicalJsonObject, CanonicalJsonError> {
    CanonicalJsonValue::try_from(value)?.into_object()
}

impl From<CanonicalJsonValue> for serde_json::Value {
    fn from(value: CanonicalJsonValue) -> Self {
        match value {
            CanonicalJsonValue::Null => Self::Null,
            CanonicalJsonValue::Bool(b) => Self::Bool(b),
            CanonicalJsonValue::Integer(i) => Self::Number(i.into()),
            CanonicalJsonValue::String(s) => Self::String(s),
            CanonicalJsonValue::Array(items) => {
                Self::Array(items.into_iter().map(Into::into).collect())
            }
            CanonicalJsonValue::Object(map) => {
                Self::Object(map.into_iter().map(|(k, v)| (k, v.into())).collect())
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
