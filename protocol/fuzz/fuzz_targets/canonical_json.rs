//! Parses arbitrary bytes as canonical JSON. Whatever parses must
//! re-serialise to text that parses back to the same value and serialises
//! identically, and must also be accepted by serde_json with the same
//! meaning.

#![no_main]

use hanse_protocol::canonical_json::{self, CanonicalJsonValue};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(value) = canonical_json::from_slice(data) else {
        return;
    };
    let text = value.to_canonical_string();
    let reparsed = canonical_json::from_str(&text).expect("canonical output must parse");
    assert_eq!(reparsed, value);
    assert_eq!(reparsed.to_canonical_string(), text);

    // Anything we accept is valid JSON to an independent parser, with the
    // same meaning.
    let independent: serde_json::Value =
        serde_json::from_slice(data).expect("serde_json rejects what we accept");
    assert_eq!(
        CanonicalJsonValue::try_from(independent).expect("value conversion rejects it"),
        value
    );
    // The Deserialize impl agrees with the parser on canonical text.
    let deserialized: CanonicalJsonValue =
        serde_json::from_str(&text).expect("Deserialize rejects canonical text");
    assert_eq!(deserialized, value);
});
