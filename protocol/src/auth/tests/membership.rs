//! The `m.room.member` rules, except third-party invites.

use serde_json::json;

use super::*;

fn join_rule_error(join_rule: &str) -> Result<(), AuthError> {
    Err(AuthError::JoinNotAllowed {
        join_rule: join_rule.into(),
    })
}

#[test]
fn rule_1_state_key_and_membership_are_required() {
    for version in VERSIONS {
        let mut room = TestRoom::new(version);
        room.set_join_rule("public");
        assert_eq!(
            room.check_new(BOB, "m.room.member", None, json!({"membership": "join"})),
            Err(AuthError::MemberWithoutStateKey),
            "version {version}"
        );
        for content in [json!({}), json!({"membership": ["join"]})] {
            assert_eq!(
                room.check_new(BOB, "m.room.member", Some(BOB), content),
                Err(AuthError::MemberWithoutMembership)
            );
        }
    }
}

#[test]
fn unknown_memberships_are_rejected() {
    for version in VERSIONS {
        let mut room = TestRoom::new(version);
        assert_eq!(
            room.check_membership(ALICE, BOB, "kick"),
            Err(AuthError::UnknownMembership("kick".into())),
            "version {version}"
        );
    }
}

/// A room with only its create event in the state, and the creator's
/// join event directly after it.
fn first_join(version: RoomVersionId, extra: Value, joiner: &str) -> Result<(), AuthError> {
    let mut room = TestRoom::with_create_content(version, extra);
    room.state.remove(&("m.room.member".into(), ALICE.into()));
    let create_id = room.create.event_id().to_string();
    let rules = room.version;
    let join = room.event_with(
        joiner,
        "m.room.member",
        Some(joiner),
        json!({"membership": "join"}),
        |event| {
            event.insert(
                "prev_events".into(),
                json!([reference(rules, &create_id, 1)]),
            );
        },
    );
    room.check(&join)
}

#[test]
fn join_rule_1_the_creator_joins_first() {
    for version in VERSIONS {
        assert_eq!(
            first_join(version, json!({}), ALICE),
            Ok(()),
            "version {version}"
        );
        // Anyone else needs a join rule; there is none yet.
        assert_eq!(
            first_join(version, json!({}), BOB),
            join_rule_error("invite")
        );
    }
    // Up to version 10 the creator is content.creator, from version 11 the
    // sender of the create event.
    for version in [RoomVersionId::V1, RoomVersionId::V6, RoomVersionId::V10] {
        assert_eq!(
            first_join(version, json!({"creator": BOB}), BOB),
            Ok(()),
            "version {version}"
        );
        assert_eq!(
            first_join(version, json!({"creator": BOB}), ALICE),
            join_rule_error("invite")
        );
    }
    assert_eq!(
        first_join(RoomVersionId::V11, json!({"creator": BOB}), BOB),
        join_rule_error("invite")
    );
    // Additional creators are not the create event's sender.
    assert_eq!(
        first_join(
            RoomVersionId::V12,
            json!({"additional_creators": [BOB]}),
            BOB
        ),
        join_rule_error("invite")
    );
}

#[test]
fn join_rule_1_only_applies_right_after_the_create_event() {
    for version in VERSIONS {
        let mut room = TestRoom::new(version);
        room.state.remove(&("m.room.member".into(), ALICE.into()));
        // The default prev_events do not point at the create event.
        assert_eq!(
            room.check_membership(ALICE, ALICE, "join"),
            join_rule_error("invite"),
            "version {version}"
        );
    }
}

#[test]
fn join_rules_2_and_3_self_only_and_not_banned() {
    for version in VERSIONS {
        let mut room = TestRoom::new(version);
        room.set_join_rule("public");
        assert_eq!(
            room.check_membership(ALICE, BOB, "join"),
            Err(AuthError::JoinForOtherUser),
            "version {version}"
        );
        room.set_membership(ALICE, BOB, "ban");
        assert_eq!(
            room.check_membership(BOB, BOB, "join"),
            Err(AuthError::SenderBanned)
        );
    }
}

#[test]
fn join_rule_invite_needs_an_invite_or_join() {
    for version in VERSIONS {
        let mut room = TestRoom::new(version);
        room.set_join_rule("invite");
        assert_eq!(
            room.check_membership(BOB, BOB, "join"),
            join_rule_error("invite"),
            "version {version}"
        );
        room.set_membership(ALICE, BOB, "invite");
        assert_eq!(room.check_membership(BOB, BOB, "join"), Ok(()));
        room.join(BOB);
        assert_eq!(room.check_membership(BOB, BOB, "join"), Ok(()));
        room.set_membership(BOB, BOB, "leave");
        assert_eq!(
            room.check_membership(BOB, BOB, "join"),
            join_rule_error("invite")
        );
    }
}

#[test]
fn join_rule_public_and_unknown_rules() {
    for version in VERSIONS {
        let mut room = TestRoom::new(version);
        room.set_join_rule("public");
        assert_eq!(
            room.check_membership(BOB, BOB, "join"),
            Ok(()),
            "version {version}"
        );
        for rule in ["private", "PUBLIC", "whatever"] {
            room.set_join_rule(rule);
            room.set_membership(ALICE, BOB, "invite");
            // Not even an invite helps under a rule the version lacks.
            assert_eq!(
                room.check_membership(BOB, BOB, "join"),
                join_rule_error(rule)
            );
        }
    }
}

#[test]
fn join_rule_knock_acts_as_invite_from_v7() {
    for version in VERSIONS {
        let mut room = TestRoom::new(version);
        room.set_join_rule("knock");
        room.set_membership(ALICE, BOB, "invite");
        let expected = if version.rules().knock_allowed {
            Ok(())
        } else {
            join_rule_error("knock")
        };
        assert_eq!(
            room.check_membership(BOB, BOB, "join"),
            expected,
            "version {version}"
        );
        if version.rules().knock_allowed {
            assert_eq!(
                room.check_membership(CAROL, CAROL, "join"),
                join_rule_error("knock")
            );
        }
    }
}

fn restricted_join(
    room: &mut TestRoom,
    joiner: &str,
    authoriser: Option<&str>,
) -> Result<(), AuthError> {
    let mut content = json!({"membership": "join"});
    if let Some(authoriser) = authoriser {
        content["join_authorised_via_users_server"] = authoriser.into();
    }
    room.check_new(joiner, "m.room.member", Some(joiner), content)
}

#[test]
fn join_rule_restricted_from_v8() {
    for version in VERSIONS {
        let supported = version.rules().restricted_join_allowed;
        let mut room = TestRoom::new(version);
        room.set_join_rule("restricted");
        room.join(CAROL);
        room.set_power_levels(json!({"users": {ALICE: 100}, "invite": 10}));

        let vouched = restricted_join(&mut room, BOB, Some(ALICE));
        if !supported {
            assert_eq!(vouched, join_rule_error("restricted"), "version {version}");
            continue;
        }
        assert_eq!(vouched, Ok(()), "version {version}");
        assert_eq!(
            restricted_join(&mut room, BOB, None),
            Err(AuthError::InvalidJoinAuthoriser)
        );
        // Carol is joined but below the invite level.
        assert_eq!(
            restricted_join(&mut room, BOB, Some(CAROL)),
            Err(AuthError::InvalidJoinAuthoriser)
        );
        // Anyone not joined cannot vouch, whatever their level.
        room.set_power_levels(json!({"users": {ALICE: 100, "@dave:d.test": 100}}));
        assert_eq!(
            restricted_join(&mut room, BOB, Some("@dave:d.test")),
            Err(AuthError::InvalidJoinAuthoriser)
        );
        // Invited or joined users need nobody.
        room.set_membership(ALICE, BOB, "invite");
        assert_eq!(restricted_join(&mut room, BOB, None), Ok(()));
    }
}

#[test]
fn join_rule_knock_restricted_from_v10() {
    for version in VERSIONS {
        let mut room = TestRoom::new(version);
        room.set_join_rule("knock_restricted");
        let expected = if version.rules().knock_restricted_join_allowed {
            Ok(())
        } else {
            join_rule_error("knock_restricted")
        };
        assert_eq!(
            restricted_join(&mut room, BOB, Some(ALICE)),
            expected,
            "version {version}"
        );
        if version.rules().knock_restricted_join_allowed {
            assert_eq!(
                restricted_join(&mut room, BOB, None),
                Err(AuthError::InvalidJoinAuthoriser)
            );
        }
    }
}

#[test]
fn rule_2_join_authoriser_must_name_a_user_from_v8() {
    for version in VERSIONS {
        let mut room = TestRoom::new(version);
        room.join(BOB);
        for bad in [json!("not a user"), json!(5)] {
            let result = room.check_new(
                BOB,
                "m.room.member",
                Some(BOB),
                json!({"membership": "leave", "join_authorised_via_users_server": bad}),
            );
            let expected = if version.rules().restricted_join_allowed {
                Err(AuthError::InvalidJoinAuthoriser)
            } else {
                Ok(())
            };
            assert_eq!(result, expected, "version {version}");
        }
    }
}

#[test]
fn invites_need_a_joined_sender_at_the_invite_level() {
    for version in VERSIONS {
        let mut room = TestRoom::new(version);
        assert_eq!(
            room.check_membership(ALICE, BOB, "invite"),
            Ok(()),
            "version {version}"
        );
        assert_eq!(
            room.check_membership(CAROL, BOB, "invite"),
            Err(AuthError::SenderNotJoined)
        );
        room.join(CAROL);
        // The default invite level is 0.
        assert_eq!(room.check_membership(CAROL, BOB, "invite"), Ok(()));
        room.set_power_levels(json!({"users": {ALICE: 100}, "invite": 1}));
        assert_eq!(
            room.check_membership(CAROL, BOB, "invite"),
            Err(AuthError::CannotInvite)
        );
        for membership in ["join", "ban"] {
            room.set_membership(BOB, BOB, membership);
            assert_eq!(
                room.check_membership(ALICE, BOB, "invite"),
                Err(AuthError::TargetJoinedOrBanned)
            );
        }
        room.set_membership(BOB, BOB, "leave");
        assert_eq!(room.check_membership(ALICE, BOB, "invite"), Ok(()));
    }
}

#[test]
fn leaving_oneself() {
    for version in VERSIONS {
        let mut room = TestRoom::new(version);
        assert_eq!(
            room.check_membership(BOB, BOB, "leave"),
            Err(AuthError::CannotLeave),
            "version {version}"
        );
        for membership in ["invite", "join"] {
            room.set_membership(ALICE, BOB, membership);
            assert_eq!(room.check_membership(BOB, BOB, "leave"), Ok(()));
        }
        room.set_membership(ALICE, BOB, "ban");
        assert_eq!(
            room.check_membership(BOB, BOB, "leave"),
            Err(AuthError::CannotLeave)
        );
        // Withdrawing a knock exists from version 7.
        room.set_membership(BOB, BOB, "knock");
        let expected = if version.rules().knock_allowed {
            Ok(())
        } else {
            Err(AuthError::CannotLeave)
        };
        assert_eq!(room.check_membership(BOB, BOB, "leave"), expected);
    }
}

/// Alice 100, Bob 50, Carol 0 (the default), all joined; kick at 50 and
/// ban at 60.
fn moderated_room(version: RoomVersionId) -> TestRoom {
    let mut room = TestRoom::new(version);
    room.join(BOB);
    room.join(CAROL);
    let mut users = json!({BOB: 50});
    if !version.rules().additional_creators {
        users[ALICE] = 100.into();
    }
    room.set_power_levels(json!({"users": users, "kick": 50, "ban": 60}));
    room
}

#[test]
fn kicking_and_unbanning() {
    for version in VERSIONS {
        let mut room = moderated_room(version);
        assert_eq!(
            room.check_membership(BOB, CAROL, "leave"),
            Ok(()),
            "version {version}"
        );
        assert_eq!(
            room.check_membership(BOB, ALICE, "leave"),
            Err(AuthError::CannotKick)
        );
        assert_eq!(
            room.check_membership(CAROL, BOB, "leave"),
            Err(AuthError::CannotKick)
        );
        // Equal levels cannot kick each other.
        room.set_power_levels(json!({"users": {BOB: 50, CAROL: 50}}));
        assert_eq!(
            room.check_membership(BOB, CAROL, "leave"),
            Err(AuthError::CannotKick)
        );

        let mut room = moderated_room(version);
        room.set_membership(ALICE, "@dave:d.test", "ban");
        assert_eq!(
            room.check_membership(BOB, "@dave:d.test", "leave"),
            Err(AuthError::CannotUnban)
        );
        assert_eq!(
            room.check_membership(ALICE, "@dave:d.test", "leave"),
            Ok(())
        );

        room.set_membership(CAROL, CAROL, "leave");
        assert_eq!(
            room.check_membership(CAROL, "@dave:d.test", "leave"),
            Err(AuthError::SenderNotJoined)
        );
    }
}

#[test]
fn banning() {
    for version in VERSIONS {
        let mut room = moderated_room(version);
        assert_eq!(
            room.check_membership(BOB, CAROL, "ban"),
            Err(AuthError::CannotBan),
            "version {version}"
        );
        assert_eq!(room.check_membership(ALICE, CAROL, "ban"), Ok(()));
        assert_eq!(room.check_membership(ALICE, BOB, "ban"), Ok(()));
        // Users need not be in the room to be banned.
        assert_eq!(room.check_membership(ALICE, "@dave:d.test", "ban"), Ok(()));
        // Nor even be valid user IDs: they then have the default level.
        assert_eq!(room.check_membership(ALICE, "dave", "ban"), Ok(()));
        room.set_power_levels(json!({"users": {BOB: 60}, "ban": 60}));
        assert_eq!(room.check_membership(BOB, CAROL, "ban"), Ok(()));
        room.set_membership(ALICE, BOB, "leave");
        assert_eq!(
            room.check_membership(BOB, CAROL, "ban"),
            Err(AuthError::SenderNotJoined)
        );
    }
}

#[test]
fn v12_creators_cannot_be_kicked_or_banned() {
    // In version 11 the creator's level comes from the power levels like
    // anyone's.
    let mut room = TestRoom::new(RoomVersionId::V11);
    room.join(BOB);
    room.set_power_levels(json!({"users": {ALICE: 50, BOB: 100}}));
    assert_eq!(room.check_membership(BOB, ALICE, "ban"), Ok(()));
    assert_eq!(room.check_membership(BOB, ALICE, "leave"), Ok(()));

    let mut room =
        TestRoom::with_create_content(RoomVersionId::V12, json!({"additional_creators": [CAROL]}));
    room.join(BOB);
    room.join(CAROL);
    room.set_power_levels(json!({"users": {BOB: 100}}));
    for creator in [ALICE, CAROL] {
        assert_eq!(
            room.check_membership(BOB, creator, "ban"),
            Err(AuthError::CannotBan)
        );
        assert_eq!(
            room.check_membership(BOB, creator, "leave"),
            Err(AuthError::CannotKick)
        );
    }
    // Creators cannot act against each other either: neither is above.
    assert_eq!(
        room.check_membership(CAROL, ALICE, "ban"),
        Err(AuthError::CannotBan)
    );
    assert_eq!(room.check_membership(CAROL, BOB, "ban"), Ok(()));
}

#[test]
fn knocking_from_v7() {
    for version in VERSIONS {
        let mut room = TestRoom::new(version);
        room.set_join_rule("knock");
        if !version.rules().knock_allowed {
            assert_eq!(
                room.check_membership(BOB, BOB, "knock"),
                Err(AuthError::UnknownMembership("knock".into())),
                "version {version}"
            );
            continue;
        }
        assert_eq!(
            room.check_membership(BOB, BOB, "knock"),
            Ok(()),
            "version {version}"
        );
        assert_eq!(
            room.check_membership(ALICE, BOB, "knock"),
            Err(AuthError::KnockForOtherUser)
        );
        // Knocking again while knocking is fine.
        room.set_membership(BOB, BOB, "knock");
        assert_eq!(room.check_membership(BOB, BOB, "knock"), Ok(()));
        for membership in ["ban", "invite", "join"] {
            room.set_membership(ALICE, BOB, membership);
            assert_eq!(
                room.check_membership(BOB, BOB, "knock"),
                Err(AuthError::CannotKnock)
            );
        }
        for rule in ["public", "invite", "restricted"] {
            room.set_join_rule(rule);
            assert_eq!(
                room.check_membership(CAROL, CAROL, "knock"),
                Err(AuthError::KnockNotAllowed)
            );
        }
        room.set_join_rule("knock_restricted");
        let expected = if version.rules().knock_restricted_join_allowed {
            Ok(())
        } else {
            Err(AuthError::KnockNotAllowed)
        };
        assert_eq!(room.check_membership(CAROL, CAROL, "knock"), expected);
    }
}
