use serde_json::{json, Value};

use super::*;
use crate::canonical_json::object_from_json;
use crate::room_versions::RoomVersionId;

fn content(value: Value) -> CanonicalJsonObject {
    object_from_json(value).unwrap()
}

fn user(id: &str) -> UserId {
    UserId::parse(id).unwrap()
}

fn levels(value: Value, version: RoomVersionId) -> PowerLevels {
    PowerLevels::from_content(&content(value), version.rules()).unwrap()
}

#[test]
fn defaults_apply_to_absent_keys() {
    for version in RoomVersionId::ALL {
        let empty = levels(json!({}), version);
        assert_eq!(
            (empty.ban(), empty.kick(), empty.redact(), empty.invite()),
            (50, 50, 50, 0)
        );
        assert_eq!(
            (
                empty.state_default(),
                empty.events_default(),
                empty.users_default()
            ),
            (50, 0, 0)
        );
        assert_eq!(empty.event_level("m.room.topic", true), 50);
        assert_eq!(empty.event_level("m.room.message", false), 0);
        assert_eq!(empty.notification_level("room"), Some(50));
        assert_eq!(empty.notification_level("other"), None);
        assert_eq!(
            empty.user_level(&user("@a:x"), &[]),
            UserPowerLevel::Finite(0)
        );
        assert_eq!(empty.explicit("ban"), None);
        assert_eq!(empty.explicit("users"), None);
    }
}

#[test]
fn explicit_values_override_defaults() {
    let parsed = levels(
        json!({
            "ban": 1, "kick": 2, "redact": 3, "invite": 4,
            "state_default": 5, "events_default": 6, "users_default": 7,
            "events": {"m.room.topic": 8, "m.reaction": 9},
            "notifications": {"room": 10, "custom": 11},
            "users": {"@a:x": 12},
            "unknown": "ignored",
        }),
        RoomVersionId::V12,
    );
    assert_eq!(
        (
            parsed.ban(),
            parsed.kick(),
            parsed.redact(),
            parsed.invite()
        ),
        (1, 2, 3, 4)
    );
    assert_eq!(
        (
            parsed.state_default(),
            parsed.events_default(),
            parsed.users_default()
        ),
        (5, 6, 7)
    );
    assert_eq!(parsed.event_level("m.room.topic", true), 8);
    // The events map applies whether or not the event is a state event.
    assert_eq!(parsed.event_level("m.reaction", true), 9);
    assert_eq!(parsed.event_level("m.room.name", true), 5);
    assert_eq!(parsed.event_level("m.room.message", false), 6);
    assert_eq!(parsed.notification_level("room"), Some(10));
    assert_eq!(parsed.notification_level("custom"), Some(11));
    assert_eq!(
        parsed.user_level(&user("@a:x"), &[]),
        UserPowerLevel::Finite(12)
    );
    assert_eq!(
        parsed.user_level(&user("@b:x"), &[]),
        UserPowerLevel::Finite(7)
    );
    assert_eq!(parsed.explicit("invite"), Some(4));
    assert_eq!(parsed.users().len(), 1);
    assert_eq!(parsed.events().len(), 2);
    assert_eq!(parsed.notifications().len(), 2);
}

#[test]
fn rooms_without_power_levels() {
    let alice = user("@alice:x");
    let bob = user("@bob:x");
    for version in RoomVersionId::ALL {
        let initial = PowerLevels::initial(std::slice::from_ref(&alice), version.rules());
        let creator_level = initial.user_level(&alice, std::slice::from_ref(&alice));
        if version.rules().additional_creators {
            assert_eq!(creator_level, UserPowerLevel::Infinite);
            assert!(initial.users().is_empty());
        } else {
            assert_eq!(
                creator_level,
                UserPowerLevel::Finite(100),
                "version {version}"
            );
        }
        assert_eq!(
            initial.user_level(&bob, std::slice::from_ref(&alice)),
            UserPowerLevel::Finite(0)
        );
        assert_eq!(initial.state_default(), 50);
    }
}

#[test]
fn creators_are_infinite_from_v12_only() {
    let alice = user("@alice:x");
    let creators = [alice.clone()];
    let content = json!({"users": {"@alice:x": 10}});
    assert_eq!(
        levels(content.clone(), RoomVersionId::V12).user_level(&alice, &creators),
        UserPowerLevel::Infinite
    );
    assert_eq!(
        levels(content, RoomVersionId::V11).user_level(&alice, &creators),
        UserPowerLevel::Finite(10)
    );
}

#[test]
fn infinite_is_above_every_finite_level() {
    assert!(UserPowerLevel::Infinite > UserPowerLevel::Finite(MAX_SAFE_INTEGER));
    assert!(UserPowerLevel::Finite(-1) < UserPowerLevel::Finite(0));
    assert!(UserPowerLevel::Infinite.at_least(MAX_SAFE_INTEGER));
    assert!(UserPowerLevel::Finite(50).at_least(50));
    assert!(!UserPowerLevel::Finite(49).at_least(50));
}

#[test]
fn integer_strings_before_v10() {
    let valid = [
        ("100", 100),
        ("000100", 100),
        ("+100", 100),
        ("-100", -100),
        (" 100 ", 100),
        (" 00100 ", 100),
        (" +100 ", 100),
        (" -100 ", -100),
        ("\t-7\n", -7),
        ("-0", 0),
        ("0000000000000000000000000000001", 1),
        ("9007199254740991", MAX_SAFE_INTEGER),
        ("-9007199254740991", MIN_SAFE_INTEGER),
    ];
    for (text, expected) in valid {
        let parsed = levels(json!({"ban": text}), RoomVersionId::V9);
        assert_eq!(parsed.ban(), expected, "{text:?}");
        // Version 10 only takes integers.
        assert_eq!(
            PowerLevels::from_content(&content(json!({"ban": text})), RoomVersionId::V10.rules()),
            Err(PowerLevelsError::NotAnInteger { key: "ban" })
        );
    }
    let invalid = [
        "",
        " ",
        "+",
        "-",
        "--1",
        "+-1",
        "1 0",
        "1.0",
        "1e3",
        "0x10",
        "١٢",
        "9007199254740992",
        "99999999999999999999",
    ];
    for text in invalid {
        assert_eq!(
            PowerLevels::from_content(&content(json!({"ban": text})), RoomVersionId::V1.rules()),
            Err(PowerLevelsError::NotAnInteger { key: "ban" }),
            "{text:?}"
        );
    }
}

#[test]
fn strings_are_accepted_in_the_maps_before_v10() {
    let parsed = levels(
        json!({"users": {"@a:x": "5"}, "events": {"e": " 6"}, "notifications": {"room": "+7"}}),
        RoomVersionId::V1,
    );
    assert_eq!(
        parsed.user_level(&user("@a:x"), &[]),
        UserPowerLevel::Finite(5)
    );
    assert_eq!(parsed.event_level("e", false), 6);
    assert_eq!(parsed.notification_level("room"), Some(7));
}

#[test]
fn notifications_are_only_validated_from_v6() {
    let value = json!({"notifications": {"room": "x", "ok": 3}});
    let parsed = levels(value.clone(), RoomVersionId::V5);
    assert_eq!(parsed.notification_level("room"), Some(50));
    assert_eq!(parsed.notification_level("ok"), Some(3));
    assert!(levels(json!({"notifications": [1]}), RoomVersionId::V1)
        .notifications()
        .is_empty());
    assert_eq!(
        PowerLevels::from_content(&content(value), RoomVersionId::V6.rules()),
        Err(PowerLevelsError::EntryNotAnInteger {
            key: "notifications",
            entry: "room".into()
        })
    );
}

#[test]
fn malformed_content_names_the_key() {
    let cases = [
        (
            json!({"kick": null}),
            PowerLevelsError::NotAnInteger { key: "kick" },
        ),
        (
            json!({"kick": true}),
            PowerLevelsError::NotAnInteger { key: "kick" },
        ),
        (
            json!({"events": 5}),
            PowerLevelsError::NotAnObject { key: "events" },
        ),
        (
            json!({"notifications": {"room": [1]}}),
            PowerLevelsError::EntryNotAnInteger {
                key: "notifications",
                entry: "room".into(),
            },
        ),
        (
            json!({"users": {"not-a-user": 5}}),
            PowerLevelsError::InvalidUserId("not-a-user".into()),
        ),
    ];
    for (value, error) in cases {
        for version in [RoomVersionId::V6, RoomVersionId::V12] {
            let result = PowerLevels::from_content(&content(value.clone()), version.rules());
            assert_eq!(result.as_ref(), Err(&error), "{value}");
        }
    }
    assert_eq!(PowerLevelsError::InvalidUserId("x".into()).key(), "users");
    assert_eq!(
        PowerLevelsError::NotAnObject { key: "events" }.key(),
        "events"
    );
    assert_eq!(
        PowerLevelsError::EntryNotAnInteger {
            key: "users",
            entry: "@a:x".into()
        }
        .key(),
        "users"
    );
}

fn create(version: RoomVersionId, sender: &str, content: Value) -> Pdu {
    let mut event = json!({
        "type": "m.room.create",
        "state_key": "",
        "sender": sender,
        "content": content,
        "depth": 1,
        "origin_server_ts": 0,
        "prev_events": [],
        "auth_events": [],
        "hashes": {"sha256": "aGFzaA"},
        "signatures": {},
        "room_id": "!room:x",
        "event_id": "$create:x",
    });
    if !version.rules().create_event_has_room_id() {
        event.as_object_mut().unwrap().remove("room_id");
    }
    Pdu::from_canonical(object_from_json(event).unwrap(), version.rules()).unwrap()
}

#[test]
fn creators_per_version() {
    let content =
        json!({"creator": "@creator:x", "additional_creators": ["@b:x", "bad", "@a:x", "@b:x"]});
    let ids = |users: Vec<UserId>| users.iter().map(|u| u.to_string()).collect::<Vec<_>>();
    for version in [RoomVersionId::V1, RoomVersionId::V10] {
        let event = create(version, "@a:x", content.clone());
        assert_eq!(ids(room_creators(&event, version.rules())), ["@creator:x"]);
        let without = create(version, "@a:x", json!({}));
        assert!(room_creators(&without, version.rules()).is_empty());
    }
    let event = create(RoomVersionId::V11, "@a:x", content.clone());
    assert_eq!(
        ids(room_creators(&event, RoomVersionId::V11.rules())),
        ["@a:x"]
    );
    let event = create(RoomVersionId::V12, "@a:x", content);
    assert_eq!(
        ids(room_creators(&event, RoomVersionId::V12.rules())),
        ["@a:x", "@b:x"]
    );
}
