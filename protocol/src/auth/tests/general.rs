//! The rules that apply to events other than create and member events:
//! `m.federate`, `m.room.aliases` (versions 1–5), the sender's membership,
//! `m.room.third_party_invite`, the required power level, `@` state keys
//! and redactions (versions 1–2).

use serde_json::json;

use super::*;
use crate::canonical_json::MAX_SAFE_INTEGER;

#[test]
fn m_federate_false_keeps_other_servers_out() {
    for version in VERSIONS {
        let mut room = TestRoom::with_create_content(version, json!({"m.federate": false}));
        room.set_join_rule("public");
        room.join(BOB);
        assert_eq!(
            room.check_membership(BOB, BOB, "join"),
            Err(AuthError::FederationDisabled),
            "version {version}"
        );
        assert_eq!(
            room.check_new(BOB, "m.room.message", None, json!({})),
            Err(AuthError::FederationDisabled)
        );
        assert_eq!(
            room.check_new(ALICE, "m.room.message", None, json!({})),
            Ok(())
        );
        // Users of the creator's server are not affected.
        room.join("@alicia:a.test");
        assert_eq!(
            room.check_new("@alicia:a.test", "m.room.message", None, json!({})),
            Ok(())
        );

        let mut open = TestRoom::with_create_content(version, json!({"m.federate": true}));
        open.join(BOB);
        assert_eq!(
            open.check_new(BOB, "m.room.message", None, json!({})),
            Ok(())
        );
    }
}

#[test]
fn rule_4_aliases_are_special_up_to_v5() {
    for version in [RoomVersionId::V1, RoomVersionId::V3, RoomVersionId::V5] {
        let mut room = TestRoom::new(version);
        // Bob is not even in the room: the rule only looks at the server.
        assert_eq!(
            room.check_new(
                BOB,
                "m.room.aliases",
                Some("b.test"),
                json!({"aliases": []})
            ),
            Ok(()),
            "version {version}"
        );
        assert_eq!(
            room.check_new(BOB, "m.room.aliases", Some("a.test"), json!({})),
            Err(AuthError::AliasesForOtherServer)
        );
        assert_eq!(
            room.check_new(BOB, "m.room.aliases", None, json!({})),
            Err(AuthError::AliasesWithoutStateKey)
        );
    }
    for version in [RoomVersionId::V6, RoomVersionId::V11, RoomVersionId::V12] {
        let mut room = TestRoom::new(version);
        assert_eq!(
            room.check_new(BOB, "m.room.aliases", Some("b.test"), json!({})),
            Err(AuthError::SenderNotJoined),
            "version {version}"
        );
        room.join(BOB);
        assert_eq!(
            room.check_new(BOB, "m.room.aliases", Some("b.test"), json!({})),
            Err(AuthError::InsufficientPower {
                event_type: "m.room.aliases".into(),
                required: 50
            })
        );
    }
}

#[test]
fn the_sender_must_be_joined() {
    for version in VERSIONS {
        let mut room = TestRoom::new(version);
        assert_eq!(
            room.check_new(BOB, "m.room.message", None, json!({})),
            Err(AuthError::SenderNotJoined),
            "version {version}"
        );
        for membership in ["invite", "leave", "ban"] {
            room.set_membership(ALICE, BOB, membership);
            assert_eq!(
                room.check_new(BOB, "m.room.message", None, json!({})),
                Err(AuthError::SenderNotJoined)
            );
        }
        room.join(BOB);
        assert_eq!(
            room.check_new(BOB, "m.room.message", None, json!({})),
            Ok(())
        );
    }
}

#[test]
fn third_party_invite_events_need_the_invite_level() {
    for version in VERSIONS {
        let mut room = TestRoom::new(version);
        room.join(BOB);
        // Only the invite level counts, not the level for the event type.
        room.set_power_levels(json!({
            "users": {ALICE: 100},
            "invite": 0,
            "events": {"m.room.third_party_invite": 100},
        }));
        assert_eq!(
            room.check_new(BOB, "m.room.third_party_invite", Some("token"), json!({})),
            Ok(()),
            "version {version}"
        );
        room.set_power_levels(json!({"users": {ALICE: 100}, "invite": 10}));
        assert_eq!(
            room.check_new(BOB, "m.room.third_party_invite", Some("token"), json!({})),
            Err(AuthError::CannotInvite)
        );
        room.set_membership(ALICE, BOB, "leave");
        assert_eq!(
            room.check_new(BOB, "m.room.third_party_invite", Some("token"), json!({})),
            Err(AuthError::SenderNotJoined)
        );
    }
}

#[test]
fn required_power_level_defaults_without_power_levels() {
    for version in VERSIONS {
        let mut room = TestRoom::new(version);
        room.join(BOB);
        // Messages need events_default 0, state needs state_default 50.
        assert_eq!(
            room.check_new(BOB, "m.room.message", None, json!({})),
            Ok(())
        );
        assert_eq!(
            room.check_new(BOB, "m.room.topic", Some(""), json!({})),
            Err(AuthError::InsufficientPower {
                event_type: "m.room.topic".into(),
                required: 50
            }),
            "version {version}"
        );
        // The creator has level 100 (infinite from version 12).
        assert_eq!(
            room.check_new(ALICE, "m.room.topic", Some(""), json!({})),
            Ok(())
        );
    }
}

#[test]
fn required_power_level_from_power_levels() {
    for version in VERSIONS {
        let mut room = TestRoom::new(version);
        room.join(BOB);
        room.set_power_levels(json!({
            "users": {BOB: 10},
            "events_default": 5,
            "state_default": 20,
            "events": {"m.room.topic": 10, "m.reaction": 11},
        }));
        let check = |room: &mut TestRoom, event_type: &str, state_key: Option<&str>| {
            room.check_new(BOB, event_type, state_key, json!({}))
        };
        assert_eq!(
            check(&mut room, "m.room.message", None),
            Ok(()),
            "version {version}"
        );
        assert_eq!(check(&mut room, "m.room.topic", Some("")), Ok(()));
        assert_eq!(
            check(&mut room, "m.reaction", None),
            Err(AuthError::InsufficientPower {
                event_type: "m.reaction".into(),
                required: 11
            })
        );
        assert_eq!(
            check(&mut room, "m.room.name", Some("")),
            Err(AuthError::InsufficientPower {
                event_type: "m.room.name".into(),
                required: 20
            })
        );
    }
}

#[test]
fn v12_creators_outrank_any_required_level() {
    for version in [RoomVersionId::V11, RoomVersionId::V12] {
        let mut room = TestRoom::new(version);
        room.set_power_levels(json!({"events": {"m.room.topic": MAX_SAFE_INTEGER}}));
        let expected = if version == RoomVersionId::V12 {
            Ok(())
        } else {
            Err(AuthError::InsufficientPower {
                event_type: "m.room.topic".into(),
                required: MAX_SAFE_INTEGER,
            })
        };
        assert_eq!(
            room.check_new(ALICE, "m.room.topic", Some(""), json!({})),
            expected
        );
    }
}

#[test]
fn v12_additional_creators_are_creators_too() {
    let mut room =
        TestRoom::with_create_content(RoomVersionId::V12, json!({"additional_creators": [BOB]}));
    room.join(BOB);
    room.set_power_levels(json!({"users": {CAROL: 100}, "state_default": 100}));
    assert_eq!(
        room.check_new(BOB, "m.room.topic", Some(""), json!({})),
        Ok(())
    );
}

#[test]
fn state_keys_starting_with_at_belong_to_that_user() {
    for version in VERSIONS {
        let mut room = TestRoom::new(version);
        room.join(BOB);
        room.set_power_levels(json!({"users": {ALICE: 100}, "state_default": 0}));
        assert_eq!(
            room.check_new(BOB, "org.example.status", Some(BOB), json!({})),
            Ok(()),
            "version {version}"
        );
        assert_eq!(
            room.check_new(BOB, "org.example.status", Some(ALICE), json!({})),
            Err(AuthError::StateKeyOfOtherUser)
        );
        // Not even the room creator may write another user's state.
        assert_eq!(
            room.check_new(ALICE, "org.example.status", Some(BOB), json!({})),
            Err(AuthError::StateKeyOfOtherUser)
        );
        assert_eq!(
            room.check_new(BOB, "org.example.status", Some("alice"), json!({})),
            Ok(())
        );
    }
}

fn redaction(room: &mut TestRoom, sender: &str, target: &str) -> Pdu {
    let version = room.version;
    room.event_with(sender, "m.room.redaction", None, json!({}), |event| {
        if version.redacts_in_content {
            event["content"] = json!({"redacts": target});
        } else {
            event.insert("redacts".into(), target.into());
        }
    })
}

#[test]
fn rule_11_redactions_need_the_redact_level_in_v1_and_v2() {
    for version in [RoomVersionId::V1, RoomVersionId::V2] {
        let mut room = TestRoom::new(version);
        room.join(BOB);
        // Bob's own server's events (event IDs from b.test) are fair game.
        let own = redaction(&mut room, BOB, "$own:b.test");
        assert_eq!(room.check(&own), Ok(()), "version {version}");
        let foreign = redaction(&mut room, BOB, "$theirs:a.test");
        assert_eq!(room.check(&foreign), Err(AuthError::CannotRedact));
        let missing_target = room.event(BOB, "m.room.redaction", None, json!({}));
        assert_eq!(room.check(&missing_target), Err(AuthError::CannotRedact));
        // Alice has level 100, above the default redact level of 50.
        let by_alice = redaction(&mut room, ALICE, "$theirs:b.test");
        assert_eq!(room.check(&by_alice), Ok(()));
        room.set_power_levels(json!({"users": {ALICE: 100}, "redact": 0}));
        assert_eq!(room.check(&foreign), Ok(()));
    }
}

#[test]
fn redactions_are_ordinary_events_from_v3() {
    for version in [
        RoomVersionId::V3,
        RoomVersionId::V6,
        RoomVersionId::V11,
        RoomVersionId::V12,
    ] {
        let mut room = TestRoom::new(version);
        room.join(BOB);
        let target = room.create.event_id().to_string();
        let by_bob = redaction(&mut room, BOB, &target);
        assert_eq!(room.check(&by_bob), Ok(()), "version {version}");
        room.set_power_levels(json!({"users": {ALICE: 100}, "events": {"m.room.redaction": 1}}));
        assert_eq!(
            room.check(&by_bob),
            Err(AuthError::InsufficientPower {
                event_type: "m.room.redaction".into(),
                required: 1
            })
        );
    }
}

#[test]
fn malformed_current_power_levels_fail_the_rules_that_read_them() {
    // Before version 10 a first power levels event is only checked for
    // valid users, so an unreadable level can enter the state.
    let mut room = TestRoom::new(RoomVersionId::V8);
    room.join(BOB);
    room.set_power_levels(json!({"users": {ALICE: 100}, "kick": "fifty"}));
    assert!(matches!(
        room.check_new(BOB, "m.room.message", None, json!({})),
        Err(AuthError::InvalidCurrentPowerLevels(_))
    ));
    // A public join does not consult the power levels.
    room.set_join_rule("public");
    assert_eq!(room.check_membership(CAROL, CAROL, "join"), Ok(()));
}
