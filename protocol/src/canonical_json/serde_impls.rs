//! `Serialize` / `Deserialize` so canonical values can sit inside other
//! serde types (request bodies, database rows).
//!
//! Deserializing applies the same rules as the text parser as far as a serde
//! deserializer lets us see them: duplicate keys, out-of-range integers,
//! floats and excessive nesting are all errors. One difference is unavoidable:
//! `serde_json` reports the literal `-0` as the float `-0.0`, so negative
//! zero is accepted as `0` in any notation.

use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{
    CanonicalJsonError, CanonicalJsonObject, CanonicalJsonValue, MAX_DEPTH, MAX_SAFE_INTEGER,
};

impl Serialize for CanonicalJsonValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Null => serializer.serialize_unit(),
            Self::Bool(b) => serializer.serialize_bool(*b),
            Self::Integer(i) => serializer.serialize_i64(*i),
            Self::String(s) => serializer.serialize_str(s),
            Self::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Self::Object(object) => {
                let mut map = serializer.serialize_map(Some(object.len()))?;
                for (key, value) in object {
                    map.serialize_entry(key, value)?;
                }
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for CanonicalJsonValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        ValueSeed { depth: 0 }.deserialize(deserializer)
    }
}

/// Carries the nesting depth of the value being deserialized.
struct ValueSeed {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = CanonicalJsonValue;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

fn reject<E: de::Error>(error: CanonicalJsonError) -> E {
    E::custom(error)
}

impl<'de> Visitor<'de> for ValueSeed {
    type Value = CanonicalJsonValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a canonical JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(CanonicalJsonValue::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(CanonicalJsonValue::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(CanonicalJsonValue::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        CanonicalJsonValue::integer(v).map_err(reject)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        CanonicalJsonValue::try_from(v).map_err(reject)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        if v == 0.0 && v.is_sign_negative() {
            return Ok(CanonicalJsonValue::Integer(0));
        }
        // Deserializers hand over floats for non-integer notation and for
        // integer literals too large for 64 bits; classify the latter as an
        // out-of-range integer rather than as a float.
        let error = if v.is_finite() && v.fract() == 0.0 && v.abs() > MAX_SAFE_INTEGER as f64 {
            CanonicalJsonError::IntegerOutOfRange(format!("{v:.0}"))
        } else {
            CanonicalJsonError::Float(v.to_string())
        };
        Err(reject(error))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(CanonicalJsonValue::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(CanonicalJsonValue::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let depth = self.depth + 1;
        if depth > MAX_DEPTH {
            return Err(reject(CanonicalJsonError::TooDeep));
        }
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(ValueSeed { depth })? {
            items.push(item);
        }
        Ok(CanonicalJsonValue::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let depth = self.depth + 1;
        if depth > MAX_DEPTH {
            return Err(reject(CanonicalJsonError::TooDeep));
        }
        let mut object = CanonicalJsonObject::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(reject(CanonicalJsonError::DuplicateKey(key)));
            }
            let value = map.next_value_seed(ValueSeed { depth })?;
            object.insert(key, value);
        }
        Ok(CanonicalJsonValue::Object(object))
    }
}
