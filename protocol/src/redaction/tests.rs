use proptest::prelude::*;
use serde_json::{json, Value};

use super::*;
use crate::canonical_json::object_from_json;
use crate::room_versions::RoomVersionId;

fn redacted(event: Value, version: RoomVersionId) -> Value {
    let event = object_from_json(event).unwrap();
    CanonicalJsonValue::Object(redact(&event, version.rules()).unwrap()).into()
}

/// A message event carrying every top-level key that any version treats
/// specially, plus some that no version keeps.
fn full_message_event() -> Value {
    json!({
        "event_id": "$ev:example.org",
        "type": "m.room.message",
        "room_id": "!room:example.org",
        "sender": "@alice:example.org",
        "state_key": "",
        "content": {"body": "secret", "msgtype": "m.text"},
        "hashes": {"sha256": "abc"},
        "signatures": {"example.org": {"ed25519:1": "sig"}},
        "depth": 5,
        "prev_events": ["$a"],
        "auth_events": ["$b"],
        "origin_server_ts": 1234,
        "origin": "example.org",
        "membership": "join",
        "prev_state": [],
        "unsigned": {"age": 1},
        "redacts": "$target",
        "custom": true,
    })
}

#[test]
fn top_level_keys_before_and_after_v11() {
    let mut expected = full_message_event();
    let map = expected.as_object_mut().unwrap();
    for dropped in ["unsigned", "redacts", "custom"] {
        map.remove(dropped);
    }
    map.insert("content".into(), json!({}));
    for version in &RoomVersionId::ALL[..10] {
        assert_eq!(
            redacted(full_message_event(), *version),
            expected,
            "{version}"
        );
    }

    let map = expected.as_object_mut().unwrap();
    for dropped in ["origin", "membership", "prev_state"] {
        map.remove(dropped);
    }
    for version in [RoomVersionId::V11, RoomVersionId::V12] {
        assert_eq!(
            redacted(full_message_event(), version),
            expected,
            "{version}"
        );
    }
}

fn member_event() -> Value {
    json!({
        "type": "m.room.member",
        "state_key": "@bob:example.org",
        "content": {
            "membership": "join",
            "displayname": "Bob",
            "avatar_url": "mxc://x/y",
            "join_authorised_via_users_server": "@alice:example.org",
            "third_party_invite": {
                "display_name": "bob@example.com",
                "signed": {"mxid": "@bob:example.org", "token": "t", "signatures": {}}
            }
        }
    })
}

#[test]
fn member_content_per_version() {
    let content = |version| redacted(member_event(), version)["content"].clone();
    assert_eq!(content(RoomVersionId::V8), json!({"membership": "join"}));
    let v9 =
        json!({"membership": "join", "join_authorised_via_users_server": "@alice:example.org"});
    assert_eq!(content(RoomVersionId::V9), v9);
    assert_eq!(content(RoomVersionId::V10), v9);
    let v11 = json!({
        "membership": "join",
        "join_authorised_via_users_server": "@alice:example.org",
        "third_party_invite": {
            "signed": {"mxid": "@bob:example.org", "token": "t", "signatures": {}}
        }
    });
    assert_eq!(content(RoomVersionId::V11), v11);
    assert_eq!(content(RoomVersionId::V12), v11);
}

#[test]
fn third_party_invite_edge_cases() {
    let with_invite = |invite: Value| json!({"type": "m.room.member", "content": {"membership": "invite", "third_party_invite": invite}});
    assert_eq!(
        redacted(
            with_invite(json!({"display_name": "x"})),
            RoomVersionId::V11
        )["content"],
        json!({"membership": "invite", "third_party_invite": {}})
    );
    assert_eq!(
        redacted(with_invite(json!("not an object")), RoomVersionId::V11)["content"],
        json!({"membership": "invite"})
    );
}

#[test]
fn create_content() {
    let event = json!({
        "type": "m.room.create",
        "content": {"creator": "@a:x", "room_version": "10", "m.federate": false, "predecessor": {}}
    });
    assert_eq!(
        redacted(event.clone(), RoomVersionId::V10)["content"],
        json!({"creator": "@a:x"})
    );
    assert_eq!(
        redacted(event.clone(), RoomVersionId::V11)["content"],
        event["content"]
    );
    assert_eq!(
        redacted(event.clone(), RoomVersionId::V12)["content"],
        event["content"]
    );
}

#[test]
fn join_rules_allow_from_v8() {
    let event = json!({
        "type": "m.room.join_rules",
        "content": {"join_rule": "restricted", "allow": [{"type": "m.room_membership", "room_id": "!r:x"}], "extra": 1}
    });
    assert_eq!(
        redacted(event.clone(), RoomVersionId::V7)["content"],
        json!({"join_rule": "restricted"})
    );
    assert_eq!(
        redacted(event.clone(), RoomVersionId::V8)["content"],
        json!({"join_rule": "restricted", "allow": [{"type": "m.room_membership", "room_id": "!r:x"}]})
    );
}

#[test]
fn power_levels_invite_from_v11() {
    let event = json!({
        "type": "m.room.power_levels",
        "content": {
            "ban": 50, "events": {"m.room.name": 50}, "events_default": 0, "invite": 0,
            "kick": 50, "redact": 50, "state_default": 50, "users": {"@a:x": 100},
            "users_default": 0, "notifications": {"room": 50}
        }
    });
    let v10 = redacted(event.clone(), RoomVersionId::V10)["content"].clone();
    assert_eq!(v10.as_object().unwrap().len(), 8);
    assert!(v10.get("invite").is_none());
    assert!(v10.get("notifications").is_none());
    let v11 = redacted(event.clone(), RoomVersionId::V11)["content"].clone();
    assert_eq!(v11.as_object().unwrap().len(), 9);
    assert_eq!(v11["invite"], 0);
}

#[test]
fn aliases_lose_meaning_in_v6() {
    let event =
        json!({"type": "m.room.aliases", "state_key": "x", "content": {"aliases": ["#a:x"]}});
    assert_eq!(
        redacted(event.clone(), RoomVersionId::V5)["content"],
        json!({"aliases": ["#a:x"]})
    );
    assert_eq!(redacted(event, RoomVersionId::V6)["content"], json!({}));
}

#[test]
fn history_visibility_always_kept() {
    let event = json!({"type": "m.room.history_visibility", "content": {"history_visibility": "shared", "x": 1}});
    for version in RoomVersionId::ALL {
        assert_eq!(
            redacted(event.clone(), version)["content"],
            json!({"history_visibility": "shared"})
        );
    }
}

#[test]
fn redaction_redacts_from_v11() {
    let event = json!({"type": "m.room.redaction", "redacts": "$t", "content": {"redacts": "$t", "reason": "spam"}});
    let v10 = redacted(event.clone(), RoomVersionId::V10);
    assert_eq!(v10["content"], json!({}));
    assert!(v10.get("redacts").is_none());
    assert_eq!(
        redacted(event, RoomVersionId::V11)["content"],
        json!({"redacts": "$t"})
    );
}

#[test]
fn malformed_events_are_errors() {
    let v = RoomVersion::V11;
    let check = |event: Value| redact(&object_from_json(event).unwrap(), &v);
    assert_eq!(
        check(json!({"content": {}})),
        Err(RedactionError::MissingField("type"))
    );
    assert_eq!(
        check(json!({"type": "x"})),
        Err(RedactionError::MissingField("content"))
    );
    assert_eq!(
        check(json!({"type": 1, "content": {}})),
        Err(RedactionError::WrongType {
            field: "type",
            expected: "a string"
        })
    );
    assert_eq!(
        check(json!({"type": "x", "content": []})),
        Err(RedactionError::WrongType {
            field: "content",
            expected: "an object"
        })
    );
}

const INTERESTING_TYPES: [&str; 9] = [
    "m.room.member",
    "m.room.create",
    "m.room.join_rules",
    "m.room.power_levels",
    "m.room.aliases",
    "m.room.history_visibility",
    "m.room.redaction",
    "m.room.message",
    "",
];

const INTERESTING_KEYS: [&str; 20] = [
    "membership",
    "join_authorised_via_users_server",
    "third_party_invite",
    "signed",
    "creator",
    "join_rule",
    "allow",
    "ban",
    "invite",
    "users",
    "aliases",
    "history_visibility",
    "redacts",
    "origin",
    "prev_state",
    "unsigned",
    "event_id",
    "signatures",
    "body",
    "other",
];

/// Events of any interesting type whose top level and content draw on the
/// keys the algorithm looks at, with arbitrary values.
pub(crate) fn arb_event() -> impl Strategy<Value = CanonicalJsonObject> {
    let key = prop::sample::select(&INTERESTING_KEYS[..]).prop_map(str::to_owned);
    let value = crate::canonical_json::tests::arb_value();
    let small_object = prop::collection::btree_map(key.clone(), value.clone(), 0..4);
    let content_value = prop_oneof![
        value.clone(),
        small_object.clone().prop_map(CanonicalJsonValue::Object)
    ];
    (
        prop::sample::select(&INTERESTING_TYPES[..]),
        prop::collection::btree_map(key.clone(), content_value, 0..6),
        prop::collection::btree_map(key, value, 0..6),
    )
        .prop_map(|(event_type, content, mut event)| {
            event.insert("type".into(), event_type.into());
            event.insert("content".into(), content.into());
            event
        })
}

proptest! {
    #[test]
    fn redaction_is_idempotent(event in arb_event()) {
        for version in RoomVersionId::ALL {
            let once = redact(&event, version.rules()).unwrap();
            let twice = redact(&once, version.rules()).unwrap();
            prop_assert_eq!(&twice, &once, "room version {}", version);
        }
    }
}
