use proptest::prelude::*;

use super::*;
use crate::canonical_json::{object_from_str, object_to_canonical_string};
use crate::hashes::{check_content_hash, ContentHashError};
use crate::redaction::tests::arb_event;
use crate::room_versions::RoomVersionId;
use crate::signing::tests::test_vector_key;

/// Signs `input` as in the appendix "Event Signing" vectors and compares the
/// result byte for byte with the canonical form of `expected`.
fn check_vector(input: &str, expected: &str, version: &RoomVersion) {
    let key = test_vector_key();
    let mut event = object_from_str(input).unwrap();
    sign_event(&mut event, &key, "domain", version).unwrap();
    let expected = object_from_str(expected).unwrap();
    assert_eq!(
        object_to_canonical_string(&event),
        object_to_canonical_string(&expected),
        "room version {}",
        version.id
    );
    verify_event_signature(
        &event,
        version,
        "domain",
        key.key_id(),
        &key.verifying_key(),
    )
    .unwrap();
    check_content_hash(&event).unwrap();
}

const MINIMAL_EVENT: &str = r#"{
    "room_id": "!x:domain",
    "sender": "@a:domain",
    "origin": "domain",
    "origin_server_ts": 1000000,
    "signatures": {},
    "hashes": {},
    "type": "X",
    "content": {},
    "prev_events": [],
    "auth_events": [],
    "depth": 3,
    "unsigned": {
        "age_ts": 1000000
    }
}"#;

const MINIMAL_EVENT_SIGNED: &str = r#"{
    "auth_events": [],
    "content": {},
    "depth": 3,
    "hashes": {
        "sha256": "5jM4wQpv6lnBo7CLIghJuHdW+s2CMBJPUOGOC89ncos"
    },
    "origin": "domain",
    "origin_server_ts": 1000000,
    "prev_events": [],
    "room_id": "!x:domain",
    "sender": "@a:domain",
    "signatures": {
        "domain": {
            "ed25519:1": "KxwGjPSDEtvnFgU00fwFz+l6d2pJM6XBIaMEn81SXPTRl16AqLAYqfIReFGZlHi5KLjAWbOoMszkwsQma+lYAg"
        }
    },
    "type": "X",
    "unsigned": {
        "age_ts": 1000000
    }
}"#;

const REDACTABLE_EVENT: &str = r#"{
    "content": {
        "body": "Here is the message content"
    },
    "event_id": "$0:domain",
    "origin": "domain",
    "origin_server_ts": 1000000,
    "type": "m.room.message",
    "room_id": "!r:domain",
    "sender": "@u:domain",
    "signatures": {},
    "unsigned": {
        "age_ts": 1000000
    }
}"#;

const REDACTABLE_EVENT_SIGNED: &str = r#"{
    "content": {
        "body": "Here is the message content"
    },
    "event_id": "$0:domain",
    "hashes": {
        "sha256": "onLKD1bGljeBWQhWZ1kaP9SorVmRQNdN5aM2JYU2n/g"
    },
    "origin": "domain",
    "origin_server_ts": 1000000,
    "type": "m.room.message",
    "room_id": "!r:domain",
    "sender": "@u:domain",
    "signatures": {
        "domain": {
            "ed25519:1": "Wm+VzmOUOz08Ds+0NTWb1d4CZrVsJSikkeRxh6aCcUwu6pNC78FunoD7KNWzqFn241eYHYMGCA5McEiVPdhzBA"
        }
    },
    "unsigned": {
        "age_ts": 1000000
    }
}"#;

/// The vectors include `origin`, which only versions 1 to 10 keep when
/// redacting, so they hold for exactly those versions.
#[test]
fn appendix_event_signing_vectors() {
    for version in &RoomVersionId::ALL[..10] {
        check_vector(MINIMAL_EVENT, MINIMAL_EVENT_SIGNED, version.rules());
        check_vector(REDACTABLE_EVENT, REDACTABLE_EVENT_SIGNED, version.rules());
    }
}

#[test]
fn appendix_vectors_do_not_hold_once_origin_is_redacted() {
    let key = test_vector_key();
    let mut event = object_from_str(MINIMAL_EVENT).unwrap();
    sign_event(&mut event, &key, "domain", &RoomVersion::V11).unwrap();
    let expected = object_from_str(MINIMAL_EVENT_SIGNED).unwrap();
    // The content hash covers everything, so it is unchanged...
    assert_eq!(event["hashes"], expected["hashes"]);
    // ...but the signature covers the redacted form, which differs.
    assert_ne!(event["signatures"], expected["signatures"]);
}

#[test]
fn redacted_copies_verify_but_fail_the_content_hash() {
    let key = test_vector_key();
    let version = &RoomVersion::V11;
    let mut event = object_from_str(REDACTABLE_EVENT).unwrap();
    sign_event(&mut event, &key, "domain", version).unwrap();
    let verify = |e: &CanonicalJsonObject| {
        verify_event_signature(e, version, "domain", key.key_id(), &key.verifying_key())
    };

    assert_eq!(verify(&event), Ok(()));
    assert_eq!(check_content_hash(&event), Ok(()));

    let redacted = redact(&event, version).unwrap();
    assert_eq!(verify(&redacted), Ok(()));
    assert_eq!(
        check_content_hash(&redacted),
        Err(ContentHashError::Mismatch)
    );

    // Tampering with redactable content keeps the signature but breaks the
    // hash; tampering with essential fields breaks the signature.
    let mut edited = event.clone();
    edited.insert(
        "content".into(),
        object_from_str(r#"{"body": "forged"}"#).unwrap().into(),
    );
    assert_eq!(verify(&edited), Ok(()));
    assert_eq!(check_content_hash(&edited), Err(ContentHashError::Mismatch));
    let mut spoofed = event.clone();
    spoofed.insert("sender".into(), "@mallory:domain".into());
    assert_eq!(
        verify(&spoofed),
        Err(VerifyEventError::Signature(VerifyError::SignatureMismatch))
    );
}

#[test]
fn content_hash_errors() {
    let check = |json: &str| check_content_hash(&object_from_str(json).unwrap());
    assert_eq!(check("{}"), Err(ContentHashError::Missing));
    assert_eq!(check(r#"{"hashes": []}"#), Err(ContentHashError::Missing));
    assert_eq!(
        check(r#"{"hashes": {"sha256": 1}}"#),
        Err(ContentHashError::Missing)
    );
    assert_eq!(
        check(r#"{"hashes": {"sha256": "!!"}}"#),
        Err(ContentHashError::Malformed)
    );
    assert_eq!(
        check(r#"{"hashes": {"sha256": "AAAA"}}"#),
        Err(ContentHashError::Malformed)
    );
}

#[test]
fn signing_a_malformed_event_leaves_it_unchanged() {
    let key = test_vector_key();
    for json in [
        r#"{"type": "X"}"#,
        r#"{"type": "X", "content": {}, "signatures": []}"#,
    ] {
        let mut event = object_from_str(json).unwrap();
        assert!(sign_event(&mut event, &key, "domain", &RoomVersion::V11).is_err());
        assert_eq!(event, object_from_str(json).unwrap());
    }
}

proptest! {
    #[test]
    fn signed_events_verify_in_every_version(mut event in arb_event()) {
        // Arbitrary `signatures` values would be rejected; start clean.
        event.remove("signatures");
        let key = test_vector_key();
        for version in RoomVersionId::ALL {
            let mut signed = event.clone();
            sign_event(&mut signed, &key, "domain", version.rules()).unwrap();
            prop_assert_eq!(
                verify_event_signature(&signed, version.rules(), "domain", key.key_id(), &key.verifying_key()),
                Ok(())
            );
            prop_assert_eq!(check_content_hash(&signed), Ok(()));
        }
    }
}
