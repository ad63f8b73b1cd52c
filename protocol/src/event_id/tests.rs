use serde_json::{json, Value};

use super::*;
use crate::canonical_json::object_from_json;
use crate::room_versions::RoomVersionId;

fn obj(value: Value) -> CanonicalJsonObject {
    object_from_json(value).unwrap()
}

/// A message event whose reference hash contains a `+`, so the two base64
/// alphabets differ. The expected IDs were computed independently with
/// Python's `json`, `hashlib` and `base64` modules.
fn message_event() -> CanonicalJsonObject {
    obj(json!({
        "type": "m.room.message",
        "room_id": "!r:domain",
        "sender": "@u:domain",
        "origin_server_ts": 1000000,
        "depth": 4,
        "prev_events": ["$a"],
        "auth_events": ["$b"],
        "content": {"body": "hi"},
        "hashes": {"sha256": "xyz"},
        "signatures": {"domain": {"ed25519:1": "sig"}},
        "unsigned": {"age": 5},
        "origin": "domain",
    }))
}

#[test]
fn v3_uses_standard_and_v4_url_safe_base64() {
    let event = message_event();
    assert_eq!(
        event_id(&event, &RoomVersion::V3).unwrap().as_str(),
        "$chY9MDq2vtj0IiKN6VcinYN+rMfyztCZuMVI9qFnkKE"
    );
    for version in &RoomVersionId::ALL[3..10] {
        assert_eq!(
            event_id(&event, version.rules()).unwrap().as_str(),
            "$chY9MDq2vtj0IiKN6VcinYN-rMfyztCZuMVI9qFnkKE",
            "{version}"
        );
    }
    // Version 11 no longer keeps `origin`, so the hash changes.
    assert_ne!(
        event_id(&event, &RoomVersion::V11).unwrap().as_str(),
        "$chY9MDq2vtj0IiKN6VcinYN-rMfyztCZuMVI9qFnkKE"
    );
}

#[test]
fn event_id_ignores_what_redaction_and_signing_ignore() {
    let base = event_id(&message_event(), &RoomVersion::V10).unwrap();
    let mut event = message_event();
    event.insert("content".into(), obj(json!({"body": "other"})).into());
    event.insert("unsigned".into(), obj(json!({"age": 99})).into());
    event.insert("signatures".into(), obj(json!({})).into());
    event.insert("extra".into(), 1.into());
    assert_eq!(event_id(&event, &RoomVersion::V10).unwrap(), base);

    event.insert("hashes".into(), obj(json!({"sha256": "other"})).into());
    assert_ne!(event_id(&event, &RoomVersion::V10).unwrap(), base);
}

#[test]
fn server_assigned_event_ids_are_read_from_the_event() {
    let mut event = message_event();
    for version in [&RoomVersion::V1, &RoomVersion::V2] {
        assert_eq!(
            event_id(&event, version),
            Err(EventIdError::MissingField("event_id"))
        );
    }
    event.insert("event_id".into(), "$abc:domain".into());
    assert_eq!(
        event_id(&event, &RoomVersion::V1).unwrap().as_str(),
        "$abc:domain"
    );
    event.insert("event_id".into(), "abc".into());
    assert_eq!(
        event_id(&event, &RoomVersion::V2),
        Err(EventIdError::InvalidId(IdError::MissingSigil('$')))
    );
}

#[test]
fn malformed_events_have_no_id() {
    let event = obj(json!({"type": "m.room.message", "content": "x"}));
    assert!(matches!(
        event_id(&event, &RoomVersion::V11),
        Err(EventIdError::Redaction(_))
    ));
}

fn v12_create_event() -> CanonicalJsonObject {
    obj(json!({
        "type": "m.room.create",
        "sender": "@creator:example.org",
        "state_key": "",
        "origin_server_ts": 1700000000000_i64,
        "depth": 1,
        "prev_events": [],
        "auth_events": [],
        "content": {
            "room_version": "12",
            "additional_creators": ["@other:example.org"],
            "m.federate": true
        },
        "hashes": {"sha256": "abc"},
        "signatures": {"example.org": {"ed25519:1": "sig"}},
        "unsigned": {"age": 1},
        "origin": "example.org",
    }))
}

#[test]
fn v12_room_id_is_the_create_event_reference_hash() {
    let create = v12_create_event();
    let room_id = room_id_for_create_event(&create, &RoomVersion::V12).unwrap();
    assert_eq!(
        room_id.as_str(),
        "!3lMQup4a4h4SvQWEqblJJEdVw6AM2C9vtJrn1j5ulB8"
    );
    assert!(room_id.is_hash_based());
    let create_id = event_id(&create, &RoomVersion::V12).unwrap();
    assert_eq!(room_id.create_event_id(), Some(create_id));
    assert_eq!(RoomId::parse(room_id.as_str()).unwrap(), room_id);
}

#[test]
fn earlier_versions_read_the_room_id_from_the_create_event() {
    let mut create = v12_create_event();
    assert_eq!(
        room_id_for_create_event(&create, &RoomVersion::V11),
        Err(EventIdError::MissingField("room_id"))
    );
    create.insert("room_id".into(), "!abc:example.org".into());
    assert_eq!(
        room_id_for_create_event(&create, &RoomVersion::V11)
            .unwrap()
            .as_str(),
        "!abc:example.org"
    );

    create.insert("type".into(), "m.room.message".into());
    assert_eq!(
        room_id_for_create_event(&create, &RoomVersion::V12),
        Err(EventIdError::NotACreateEvent)
    );
}
