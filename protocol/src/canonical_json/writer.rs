//! Producing the canonical encoding.

use std::fmt::Write as _;

use super::{CanonicalJsonObject, CanonicalJsonValue};

/// The canonical encoding of an object.
pub fn object_to_canonical_string(object: &CanonicalJsonObject) -> String {
    canonical_string_without(object, &[])
}

/// The canonical encoding of `object` as if the top-level keys in
/// `excluded` were absent. Signing and hashing need this; it avoids cloning
/// the whole event only to drop a few keys.
pub(crate) fn canonical_string_without(object: &CanonicalJsonObject, excluded: &[&str]) -> String {
    let mut out = String::new();
    write_object(
        object
            .iter()
            .filter(|(key, _)| !excluded.contains(&key.as_str())),
        &mut out,
    );
    out
}

pub(super) fn write_value(value: &CanonicalJsonValue, out: &mut String) {
    match value {
        CanonicalJsonValue::Null => out.push_str("null"),
        CanonicalJsonValue::Bool(true) => out.push_str("true"),
        CanonicalJsonValue::Bool(false) => out.push_str("false"),
        CanonicalJsonValue::Integer(i) => {
            // Writing into a String cannot fail.
            let _ = write!(out, "{i}");
        }
        CanonicalJsonValue::String(s) => write_string(s, out),
        CanonicalJsonValue::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_value(item, out);
            }
            out.push(']');
        }
        CanonicalJsonValue::Object(map) => write_object(map.iter(), out),
    }
}

/// Writes entries in the order given; callers pass `BTreeMap` iterators, which
/// are already in canonical (code point) order.
fn write_object<'a>(
    entries: impl Iterator<Item = (&'a String, &'a CanonicalJsonValue)>,
    out: &mut String,
) {
    out.push('{');
    for (index, (key, value)) in entries.enumerate() {
        if index > 0 {
            out.push(',');
        }
        write_string(key, out);
        out.push(':');
        write_value(value, out);
    }
    out.push('}');
}

/// Escapes exactly what the canonical grammar demands: `"` and `\`, the five
/// control characters with short escapes, and every other C0 control as a
/// lowercase `\u00XX`. Everything else, including DEL and non-ASCII, is
/// written as raw UTF-8.
fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{08}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{0c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if c < '\u{20}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
