use serde_json::{json, Value};

use super::*;
use crate::canonical_json::object_from_json;
use crate::room_versions::RoomVersionId;

/// A message event in the format of `version`.
fn message(version: RoomVersionId) -> Value {
    let rules = version.rules();
    let reference = |id: &str| {
        if rules.event_id_format == EventIdFormat::ServerAssigned {
            json!([format!("{id}:x"), {"sha256": "aGFzaA"}])
        } else {
            json!(id.to_owned() + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        }
    };
    let mut event = json!({
        "type": "m.room.message",
        "room_id": "!room:x",
        "sender": "@alice:x",
        "content": {"body": "hi"},
        "depth": 7,
        "origin_server_ts": 1_700_000_000_000_i64,
        "prev_events": [reference("$p")],
        "auth_events": [reference("$a"), reference("$b")],
        "hashes": {"sha256": "aGFzaA"},
        "signatures": {"x": {"ed25519:1": "c2ln"}},
        "unsigned": {"age": 1},
    });
    if rules.event_id_format == EventIdFormat::ServerAssigned {
        event["event_id"] = "$msg:x".into();
    }
    event
}

fn parse(event: Value, version: RoomVersionId) -> Result<Pdu, PduError> {
    Pdu::from_canonical(object_from_json(event).unwrap(), version.rules())
}

fn edited(
    version: RoomVersionId,
    edit: impl FnOnce(&mut serde_json::Map<String, Value>),
) -> Result<Pdu, PduError> {
    let mut event = message(version);
    edit(event.as_object_mut().unwrap());
    parse(event, version)
}

#[test]
fn accessors() {
    for version in RoomVersionId::ALL {
        let event = message(version);
        let pdu = parse(event.clone(), version).unwrap();
        assert_eq!(pdu.event_type(), "m.room.message");
        assert_eq!(pdu.room_id().as_str(), "!room:x");
        assert_eq!(pdu.sender().as_str(), "@alice:x");
        assert_eq!(pdu.state_key(), None);
        assert!(!pdu.is_state());
        assert_eq!(pdu.content()["body"], CanonicalJsonValue::from("hi"));
        assert_eq!(pdu.depth(), 7);
        assert_eq!(pdu.origin_server_ts(), 1_700_000_000_000);
        assert_eq!(pdu.prev_events().len(), 1);
        assert_eq!(pdu.auth_events().len(), 2);
        assert_eq!(pdu.redacts(), None);
        let object = object_from_json(event).unwrap();
        assert_eq!(pdu.as_object(), &object);
        let expected_id = event_id(&object, version.rules()).unwrap();
        assert_eq!(pdu.event_id(), &expected_id, "version {version}");
        let shared = pdu.clone();
        assert_eq!(shared.into_object(), object);
        assert_eq!(pdu.into_object(), object);
    }
}

#[test]
fn event_references_per_version() {
    let v1 = parse(message(RoomVersionId::V1), RoomVersionId::V1).unwrap();
    assert_eq!(v1.event_id().as_str(), "$msg:x");
    assert_eq!(v1.prev_events()[0].as_str(), "$p:x");
    assert_eq!(v1.auth_events()[1].as_str(), "$b:x");

    // Each version insists on its own reference format.
    let pairs = message(RoomVersionId::V1);
    for version in [RoomVersionId::V3, RoomVersionId::V12] {
        let mut event = message(version);
        event["prev_events"] = pairs["prev_events"].clone();
        assert_eq!(
            parse(event, version).unwrap_err(),
            PduError::WrongType {
                field: "prev_events",
                expected: "an array of event IDs"
            }
        );
    }
    let bad_pairs = [
        json!(["$p:x"]),
        json!([["$p:x"]]),
        json!([["$p:x", {"sha256": "aGFzaA"}, 1]]),
        json!([["$p:x", "aGFzaA"]]),
        json!([["$p:x", {}]]),
        json!([[5, {"sha256": "aGFzaA"}]]),
    ];
    for bad in bad_pairs {
        let mut event = message(RoomVersionId::V2);
        event["auth_events"] = bad.clone();
        assert!(
            matches!(
                parse(event, RoomVersionId::V2),
                Err(PduError::WrongType {
                    field: "auth_events",
                    ..
                })
            ),
            "{bad}"
        );
    }
    let result = edited(RoomVersionId::V6, |event| {
        event.insert("auth_events".into(), json!(["no sigil"]));
    });
    assert!(matches!(
        result,
        Err(PduError::InvalidId {
            field: "auth_events",
            ..
        })
    ));
}

#[test]
fn v1_event_ids_are_read_from_the_event() {
    for version in [RoomVersionId::V1, RoomVersionId::V2] {
        let missing = edited(version, |event| {
            event.remove("event_id");
        });
        assert_eq!(missing.unwrap_err(), PduError::MissingField("event_id"));
        let hash_form = edited(version, |event| {
            event.insert(
                "event_id".into(),
                "$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
            );
        });
        assert!(matches!(
            hash_form,
            Err(PduError::WrongType {
                field: "event_id",
                ..
            })
        ));
    }
    // Later versions ignore a stray event_id.
    let stray = edited(RoomVersionId::V4, |event| {
        event.insert("event_id".into(), "$msg:x".into());
    })
    .unwrap();
    assert_ne!(stray.event_id().as_str(), "$msg:x");
}

#[test]
fn v12_create_events_have_no_room_id() {
    let create = |with_room_id: bool| {
        let mut event = message(RoomVersionId::V12);
        event["type"] = "m.room.create".into();
        event["state_key"] = "".into();
        event["prev_events"] = json!([]);
        event["auth_events"] = json!([]);
        if !with_room_id {
            event.as_object_mut().unwrap().remove("room_id");
        }
        event
    };
    let pdu = parse(create(false), RoomVersionId::V12).unwrap();
    let object = object_from_json(create(false)).unwrap();
    assert_eq!(
        pdu.room_id(),
        &room_id_for_create_event(&object, RoomVersionId::V12.rules()).unwrap()
    );
    assert_eq!(
        pdu.room_id().create_event_id().as_ref(),
        Some(pdu.event_id())
    );
    // One that has a room ID parses; the authorisation rules reject it.
    assert!(parse(create(true), RoomVersionId::V12).is_ok());
    // Before version 12, and for other events, the room ID is required.
    assert_eq!(
        parse(create(false), RoomVersionId::V11).unwrap_err(),
        PduError::MissingField("room_id")
    );
    let no_room = edited(RoomVersionId::V12, |event| {
        event.remove("room_id");
    });
    assert_eq!(no_room.unwrap_err(), PduError::MissingField("room_id"));
}

#[test]
fn required_keys_and_types() {
    for version in [RoomVersionId::V1, RoomVersionId::V5, RoomVersionId::V12] {
        for key in [
            "type",
            "sender",
            "content",
            "depth",
            "origin_server_ts",
            "hashes",
            "signatures",
            "prev_events",
            "auth_events",
            "room_id",
        ] {
            let result = edited(version, |event| {
                event.remove(key);
            });
            assert!(
                matches!(result, Err(PduError::MissingField(field)) if field == key),
                "version {version}, {key}: {result:?}"
            );
        }
        let wrong_types = [
            ("type", json!(1)),
            ("sender", json!(["@alice:x"])),
            ("content", json!("hi")),
            ("depth", json!("7")),
            ("origin_server_ts", json!(null)),
            ("hashes", json!("aGFzaA")),
            ("signatures", json!([])),
            ("prev_events", json!({})),
            ("room_id", json!(false)),
            ("state_key", json!(null)),
            ("unsigned", json!([])),
            ("redacts", json!(5)),
        ];
        for (key, value) in wrong_types {
            if key == "redacts" && version.rules().redacts_in_content {
                continue;
            }
            let result = edited(version, |event| {
                event.insert(key.into(), value);
            });
            assert!(
                matches!(result, Err(PduError::WrongType { field, .. }) if field == key),
                "version {version}, {key}: {result:?}"
            );
        }
        for (key, value) in [
            ("hashes", json!({"sha512": "x"})),
            ("signatures", json!({"x": "sig"})),
            ("signatures", json!({"x": {"ed25519:1": 1}})),
        ] {
            let result = edited(version, |event| {
                event.insert(key.into(), value);
            });
            assert!(matches!(result, Err(PduError::WrongType { field, .. }) if field == key));
        }
    }
}

#[test]
fn identifiers_are_validated() {
    for (key, value) in [
        ("sender", "alice"),
        ("sender", "@alice"),
        ("room_id", "room:x"),
        ("room_id", "!room:bad server"),
    ] {
        let result = edited(RoomVersionId::V10, |event| {
            event.insert(key.into(), value.into());
        });
        assert!(
            matches!(result, Err(PduError::InvalidId { field, .. }) if field == key),
            "{key}: {result:?}"
        );
    }
}

#[test]
fn depth_must_not_be_negative() {
    let result = edited(RoomVersionId::V10, |event| {
        event.insert("depth".into(), json!(-1));
    });
    assert_eq!(result.unwrap_err(), PduError::NegativeDepth(-1));
    let zero = edited(RoomVersionId::V10, |event| {
        event.insert("depth".into(), json!(0));
    });
    assert_eq!(zero.unwrap().depth(), 0);
    let max = edited(RoomVersionId::V10, |event| {
        event.insert(
            "depth".into(),
            json!(crate::canonical_json::MAX_SAFE_INTEGER),
        );
    });
    assert_eq!(
        max.unwrap().depth(),
        crate::canonical_json::MAX_SAFE_INTEGER as u64
    );
}

#[test]
fn reference_count_limits() {
    for version in [RoomVersionId::V1, RoomVersionId::V10] {
        let template = message(version);
        let one = template["prev_events"][0].clone();
        for (field, max) in [
            ("auth_events", MAX_AUTH_EVENTS),
            ("prev_events", MAX_PREV_EVENTS),
        ] {
            let mut at_limit = template.clone();
            at_limit[field] = Value::Array(vec![one.clone(); max]);
            assert!(parse(at_limit, version).is_ok());
            let mut over = template.clone();
            over[field] = Value::Array(vec![one.clone(); max + 1]);
            assert_eq!(
                parse(over, version).unwrap_err(),
                PduError::TooManyReferences {
                    field,
                    count: max + 1,
                    max
                }
            );
        }
    }
}

#[test]
fn size_limits() {
    let with_body = |len: usize| {
        let mut event = message(RoomVersionId::V10);
        event["content"]["body"] = "x".repeat(len).into();
        event
    };
    let base = object_to_canonical_string(&object_from_json(with_body(0)).unwrap()).len();
    assert!(parse(with_body(MAX_PDU_BYTES - base), RoomVersionId::V10).is_ok());
    assert_eq!(
        parse(with_body(MAX_PDU_BYTES - base + 1), RoomVersionId::V10).unwrap_err(),
        PduError::TooLarge {
            size: MAX_PDU_BYTES + 1
        }
    );

    for field in ["type", "state_key"] {
        let at_limit = edited(RoomVersionId::V10, |event| {
            event.insert(field.into(), "t".repeat(255).into());
        });
        assert!(at_limit.is_ok(), "{field}");
        // Bytes count, not characters: 128 two-byte characters are too many.
        let over = edited(RoomVersionId::V10, |event| {
            event.insert(field.into(), "é".repeat(128).into());
        });
        assert_eq!(
            over.unwrap_err(),
            PduError::FieldTooLong { field, len: 256 }
        );
    }
    let long_sender = edited(RoomVersionId::V10, |event| {
        event.insert("sender".into(), format!("@{}:x", "a".repeat(253)).into());
    });
    assert!(matches!(
        long_sender,
        Err(PduError::InvalidId {
            field: "sender",
            source: IdError::TooLong { .. }
        })
    ));
}

#[test]
fn redaction_targets_per_version() {
    let redaction =
        |version: RoomVersionId, top_level: Option<Value>, in_content: Option<Value>| {
            let mut event = message(version);
            event["type"] = "m.room.redaction".into();
            event["content"] = json!({});
            if let Some(target) = top_level {
                event["redacts"] = target;
            }
            if let Some(target) = in_content {
                event["content"]["redacts"] = target;
            }
            parse(event, version)
        };
    let target = json!("$target:x");
    for version in [RoomVersionId::V1, RoomVersionId::V3, RoomVersionId::V10] {
        let pdu = redaction(version, Some(target.clone()), Some(json!("$other:x"))).unwrap();
        assert_eq!(pdu.redacts().map(EventId::as_str), Some("$target:x"));
        assert!(redaction(version, Some(json!("target")), None).is_err());
        assert_eq!(redaction(version, None, None).unwrap().redacts(), None);
    }
    for version in [RoomVersionId::V11, RoomVersionId::V12] {
        let pdu = redaction(version, Some(json!("$other:x")), Some(target.clone())).unwrap();
        assert_eq!(pdu.redacts().map(EventId::as_str), Some("$target:x"));
        // The content is not part of the event format: a malformed target
        // names nothing.
        for malformed in [json!(["$target:x"]), json!("target")] {
            let pdu = redaction(version, None, Some(malformed)).unwrap();
            assert_eq!(pdu.redacts(), None);
        }
        // Only redactions carry a target in their content.
        let mut message = message(version);
        message["content"]["redacts"] = json!(5);
        assert_eq!(parse(message, version).unwrap().redacts(), None);
    }
}

#[test]
fn state_events_and_debug_output() {
    let pdu = edited(RoomVersionId::V9, |event| {
        event.insert("type".into(), "m.room.topic".into());
        event.insert("state_key".into(), "".into());
    })
    .unwrap();
    assert_eq!(pdu.state_key(), Some(""));
    assert!(pdu.is_state());
    let debug = format!("{pdu:?}");
    assert!(debug.contains(pdu.event_id().as_str()));
    assert!(debug.contains("m.room.topic"));
    assert!(!debug.contains("c2ln"), "signatures stay out of logs");
}
