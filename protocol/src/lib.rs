//! Matrix protocol primitives. Pure: no I/O, no async.

pub mod base64;
pub mod canonical_json;
pub mod identifiers;
