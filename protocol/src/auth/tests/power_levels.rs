//! The `m.room.power_levels` rule.

use serde_json::json;

use super::*;
use crate::power_levels::PowerLevelsError;

fn set_levels(room: &mut TestRoom, sender: &str, content: Value) -> Result<(), AuthError> {
    room.check_new(sender, "m.room.power_levels", Some(""), content)
}

fn invalid(error: PowerLevelsError) -> Result<(), AuthError> {
    Err(AuthError::InvalidPowerLevels(error))
}

fn above_sender(key: &str) -> Result<(), AuthError> {
    Err(AuthError::PowerLevelAboveSender { key: key.into() })
}

#[test]
fn users_must_be_valid_user_ids_with_integer_levels() {
    for version in VERSIONS {
        let mut room = TestRoom::new(version);
        assert_eq!(
            set_levels(&mut room, ALICE, json!({"users": {"alice": 100}})),
            invalid(PowerLevelsError::InvalidUserId("alice".into())),
            "version {version}"
        );
        assert_eq!(
            set_levels(&mut room, ALICE, json!({"users": [ALICE]})),
            invalid(PowerLevelsError::NotAnObject { key: "users" })
        );
        for bad in [
            json!("lots"),
            json!(null),
            json!(true),
            json!("1.5"),
            json!({}),
        ] {
            assert_eq!(
                set_levels(&mut room, ALICE, json!({"users": {BOB: bad}})),
                invalid(PowerLevelsError::EntryNotAnInteger {
                    key: "users",
                    entry: BOB.into()
                })
            );
        }
        // Missing `users` is fine.
        assert_eq!(set_levels(&mut room, ALICE, json!({})), Ok(()));
    }
}

#[test]
fn integer_strings_are_accepted_before_v10() {
    for version in VERSIONS {
        let mut room = TestRoom::new(version);
        let stringy = json!({
            "users": {BOB: " +050 "},
            "ban": "50",
            "events": {"m.room.name": "-0"},
            "notifications": {"room": "20"},
        });
        let result = set_levels(&mut room, ALICE, stringy);
        if version.rules().integer_power_levels {
            assert_eq!(
                result,
                invalid(PowerLevelsError::NotAnInteger { key: "ban" }),
                "version {version}"
            );
        } else {
            assert_eq!(result, Ok(()), "version {version}");
        }
    }
}

#[test]
fn from_v10_every_level_must_be_an_integer() {
    for version in [RoomVersionId::V10, RoomVersionId::V11, RoomVersionId::V12] {
        let mut room = TestRoom::new(version);
        let cases = [
            (
                json!({"kick": "50"}),
                PowerLevelsError::NotAnInteger { key: "kick" },
            ),
            (
                json!({"users_default": null}),
                PowerLevelsError::NotAnInteger {
                    key: "users_default",
                },
            ),
            (
                json!({"events": []}),
                PowerLevelsError::NotAnObject { key: "events" },
            ),
            (
                json!({"notifications": {"room": "50"}}),
                PowerLevelsError::EntryNotAnInteger {
                    key: "notifications",
                    entry: "room".into(),
                },
            ),
            (
                json!({"users": {BOB: "50"}}),
                PowerLevelsError::EntryNotAnInteger {
                    key: "users",
                    entry: BOB.into(),
                },
            ),
        ];
        for (content, error) in cases {
            assert_eq!(
                set_levels(&mut room, ALICE, content),
                invalid(error),
                "version {version}"
            );
        }
    }
}

#[test]
fn before_v10_other_malformed_values_only_fail_a_change() {
    for version in [RoomVersionId::V1, RoomVersionId::V6, RoomVersionId::V8] {
        let mut room = TestRoom::new(version);
        let malformed = json!({"users": {ALICE: 100}, "events": {"m.room.name": "high"}});
        // The first power levels event is allowed once `users` is valid.
        assert_eq!(
            set_levels(&mut room, ALICE, malformed.clone()),
            Ok(()),
            "version {version}"
        );
        room.set_power_levels(json!({"users": {ALICE: 100}}));
        assert_eq!(
            set_levels(&mut room, ALICE, malformed),
            invalid(PowerLevelsError::EntryNotAnInteger {
                key: "events",
                entry: "m.room.name".into()
            })
        );
    }
}

#[test]
fn v12_creators_cannot_be_listed() {
    let mut room =
        TestRoom::with_create_content(RoomVersionId::V12, json!({"additional_creators": [CAROL]}));
    for creator in [ALICE, CAROL] {
        assert_eq!(
            set_levels(&mut room, ALICE, json!({"users": {creator: 100}})),
            Err(AuthError::CreatorInPowerLevels(
                crate::UserId::parse(creator).unwrap()
            ))
        );
    }
    assert_eq!(
        set_levels(&mut room, ALICE, json!({"users": {BOB: 100}})),
        Ok(())
    );
    // Before version 12 the creator is listed as usual.
    let mut room = TestRoom::new(RoomVersionId::V11);
    assert_eq!(
        set_levels(&mut room, ALICE, json!({"users": {ALICE: 100}})),
        Ok(())
    );
}

#[test]
fn the_first_power_levels_event_may_set_anything() {
    for version in VERSIONS {
        let mut room = TestRoom::new(version);
        room.join(BOB);
        // Bob needs the state default (50) to send power levels at all.
        assert_eq!(
            set_levels(&mut room, BOB, json!({"users": {BOB: 100}})),
            Err(AuthError::InsufficientPower {
                event_type: "m.room.power_levels".into(),
                required: 50
            }),
            "version {version}"
        );
        assert_eq!(
            set_levels(
                &mut room,
                ALICE,
                json!({"users": {BOB: 1_000_000}, "ban": 1_000_000, "events": {"x": 1_000_000}})
            ),
            Ok(())
        );
    }
}

/// A room whose current power levels give Bob 50 and set the single
/// levels around that.
fn room_with_levels(version: RoomVersionId) -> (TestRoom, Value) {
    let mut room = TestRoom::new(version);
    room.join(BOB);
    room.join(CAROL);
    let levels = json!({
        "users": {BOB: 50, CAROL: 50, "@dave:d.test": 10},
        "ban": 60,
        "kick": 50,
        "state_default": 40,
        "events": {"m.room.name": 40, "m.room.tombstone": 100},
        "notifications": {"room": 100},
    });
    room.set_power_levels(levels.clone());
    (room, levels)
}

/// The current levels with `change` applied (`null` removes a key).
fn changed(levels: &Value, path: &[&str], change: Value) -> Value {
    let mut levels = levels.clone();
    let mut target = &mut levels;
    for key in &path[..path.len() - 1] {
        target = target.get_mut(*key).unwrap();
    }
    let object = target.as_object_mut().unwrap();
    let last = path[path.len() - 1];
    if change.is_null() {
        object.remove(last);
    } else {
        object.insert(last.into(), change);
    }
    levels
}

#[test]
fn single_levels_change_only_within_the_senders_level() {
    for version in VERSIONS {
        let (mut room, levels) = room_with_levels(version);
        let mut try_change =
            |path: &[&str], value: Value| set_levels(&mut room, BOB, changed(&levels, path, value));
        assert_eq!(
            try_change(&["state_default"], json!(45)),
            Ok(()),
            "version {version}"
        );
        assert_eq!(try_change(&["kick"], json!(50)), Ok(()));
        assert_eq!(try_change(&["invite"], json!(50)), Ok(()));
        assert_eq!(try_change(&["invite"], json!(51)), above_sender("invite"));
        assert_eq!(try_change(&["kick"], json!(51)), above_sender("kick"));
        // Lowering or removing a level above the sender's is also refused.
        assert_eq!(try_change(&["ban"], json!(10)), above_sender("ban"));
        assert_eq!(try_change(&["ban"], json!(null)), above_sender("ban"));
        assert_eq!(try_change(&["state_default"], json!(null)), Ok(()));
    }
}

#[test]
fn event_levels_change_only_within_the_senders_level() {
    for version in VERSIONS {
        let (mut room, levels) = room_with_levels(version);
        let mut try_change =
            |path: &[&str], value: Value| set_levels(&mut room, BOB, changed(&levels, path, value));
        assert_eq!(
            try_change(&["events", "m.room.name"], json!(50)),
            Ok(()),
            "version {version}"
        );
        assert_eq!(try_change(&["events", "m.room.name"], json!(null)), Ok(()));
        assert_eq!(try_change(&["events", "m.room.topic"], json!(50)), Ok(()));
        assert_eq!(
            try_change(&["events", "m.room.topic"], json!(51)),
            above_sender("events.m.room.topic")
        );
        assert_eq!(
            try_change(&["events", "m.room.tombstone"], json!(0)),
            above_sender("events.m.room.tombstone")
        );
        assert_eq!(
            try_change(&["events", "m.room.tombstone"], json!(null)),
            above_sender("events.m.room.tombstone")
        );
    }
}

#[test]
fn notification_levels_are_protected_from_v6() {
    for version in VERSIONS {
        let (mut room, levels) = room_with_levels(version);
        let lowered = changed(&levels, &["notifications", "room"], json!(0));
        let expected = if version.rules().limit_notifications_power_levels {
            above_sender("notifications.room")
        } else {
            Ok(())
        };
        assert_eq!(
            set_levels(&mut room, BOB, lowered),
            expected,
            "version {version}"
        );
        let added = changed(&levels, &["notifications", "custom"], json!(50));
        assert_eq!(set_levels(&mut room, BOB, added), Ok(()));
    }
}

#[test]
fn user_levels_change_only_below_the_sender() {
    for version in VERSIONS {
        let (mut room, levels) = room_with_levels(version);
        let mut try_change =
            |path: &[&str], value: Value| set_levels(&mut room, BOB, changed(&levels, path, value));
        // Below the sender: promote up to the sender's level, demote, remove.
        assert_eq!(
            try_change(&["users", "@dave:d.test"], json!(50)),
            Ok(()),
            "version {version}"
        );
        assert_eq!(try_change(&["users", "@dave:d.test"], json!(0)), Ok(()));
        assert_eq!(try_change(&["users", "@dave:d.test"], json!(null)), Ok(()));
        assert_eq!(try_change(&["users", "@erin:e.test"], json!(50)), Ok(()));
        assert_eq!(
            try_change(&["users", "@dave:d.test"], json!(51)),
            above_sender("users.@dave:d.test")
        );
        assert_eq!(
            try_change(&["users", "@erin:e.test"], json!(51)),
            above_sender("users.@erin:e.test")
        );
        // Peers cannot be touched.
        let peer = Err(AuthError::PowerLevelOfPeer { user: CAROL.into() });
        assert_eq!(try_change(&["users", CAROL], json!(10)), peer);
        assert_eq!(try_change(&["users", CAROL], json!(null)), peer);
        // The sender may lower (but not raise) themselves.
        assert_eq!(try_change(&["users", BOB], json!(10)), Ok(()));
        assert_eq!(try_change(&["users", BOB], json!(null)), Ok(()));
        assert_eq!(
            try_change(&["users", BOB], json!(51)),
            above_sender(&format!("users.{BOB}"))
        );
    }
}

#[test]
fn unchanged_values_are_not_checked() {
    for version in [RoomVersionId::V1, RoomVersionId::V8] {
        let (mut room, levels) = room_with_levels(version);
        // The same levels written as strings are no change at all.
        let mut restated = changed(&levels, &["events", "m.room.tombstone"], json!("100"));
        restated["ban"] = json!(" 60");
        restated["users"][CAROL] = json!("050");
        restated["state_default"] = json!(45);
        assert_eq!(
            set_levels(&mut room, BOB, restated),
            Ok(()),
            "version {version}"
        );
    }
}

#[test]
fn v12_creators_may_change_any_level() {
    let (mut room, levels) = room_with_levels(RoomVersionId::V12);
    let raised = changed(
        &levels,
        &["users", BOB],
        json!(crate::canonical_json::MAX_SAFE_INTEGER),
    );
    assert_eq!(set_levels(&mut room, ALICE, raised), Ok(()));
    let cleared = json!({});
    assert_eq!(set_levels(&mut room, ALICE, cleared), Ok(()));
    // In version 11 the creator has only the level the event gives them.
    let (mut room, levels) = room_with_levels(RoomVersionId::V11);
    assert_eq!(
        set_levels(&mut room, ALICE, levels),
        Err(AuthError::InsufficientPower {
            event_type: "m.room.power_levels".into(),
            required: 40
        })
    );
}
