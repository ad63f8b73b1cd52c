//! Rule 1 (`m.room.create`) and, in version 12, rule 2 (the room ID).

use serde_json::json;

use super::*;

fn check_create(version: RoomVersionId, create: &Pdu) -> Result<(), AuthError> {
    // A create event is decided without looking at the state.
    authorize(create, version.rules(), &BTreeMap::new())
}

#[test]
fn a_plain_create_event_is_allowed_in_every_version() {
    for version in RoomVersionId::ALL {
        let create = create_event(version, json!({}));
        assert_eq!(check_create(version, &create), Ok(()), "version {version}");
    }
}

#[test]
fn rule_1_1_create_must_not_have_prev_events() {
    for version in VERSIONS {
        let rules = version.rules();
        let create = edited(&create_event(version, json!({})), rules, |event| {
            event.insert(
                "prev_events".into(),
                json!([reference(rules, "$x:a.test", 1)]),
            );
        });
        assert_eq!(
            check_create(version, &create),
            Err(AuthError::CreateHasPrevEvents),
            "version {version}"
        );
    }
}

#[test]
fn rule_1_2_room_id_server_must_be_the_senders_up_to_v11() {
    for version in &RoomVersionId::ALL[..11] {
        let rules = version.rules();
        let create = edited(&create_event(*version, json!({})), rules, |event| {
            event.insert("room_id".into(), json!("!room:b.test"));
        });
        assert_eq!(
            check_create(*version, &create),
            Err(AuthError::CreateRoomIdServerMismatch),
            "version {version}"
        );
    }
}

#[test]
fn rule_1_2_v12_create_must_not_have_a_room_id() {
    let rules = RoomVersionId::V12.rules();
    let create = edited(
        &create_event(RoomVersionId::V12, json!({})),
        rules,
        |event| {
            event.insert("room_id".into(), json!("!room:a.test"));
        },
    );
    assert_eq!(
        check_create(RoomVersionId::V12, &create),
        Err(AuthError::CreateHasRoomId)
    );
}

#[test]
fn rule_1_3_room_version_must_be_known() {
    for version in VERSIONS {
        for bad in [json!("99"), json!(12), json!(null)] {
            let create = create_event(version, json!({"room_version": bad}));
            assert_eq!(
                check_create(version, &create),
                Err(AuthError::CreateUnknownRoomVersion),
                "version {version}"
            );
        }
        // The claimed version need not be the room's own: only whether it
        // is known matters.
        let other = create_event(version, json!({"room_version": "5"}));
        assert_eq!(check_create(version, &other), Ok(()));
        let absent = edited(
            &create_event(version, json!({})),
            version.rules(),
            |event| {
                event["content"]
                    .as_object_mut()
                    .unwrap()
                    .remove("room_version");
            },
        );
        assert_eq!(check_create(version, &absent), Ok(()));
    }
}

#[test]
fn rule_1_4_creator_is_required_up_to_v10() {
    for version in RoomVersionId::ALL {
        let rules = version.rules();
        let create = edited(&create_event(version, json!({})), rules, |event| {
            event["content"].as_object_mut().unwrap().remove("creator");
        });
        let expected = if version <= RoomVersionId::V10 {
            Err(AuthError::CreateWithoutCreator)
        } else {
            Ok(())
        };
        assert_eq!(
            check_create(version, &create),
            expected,
            "version {version}"
        );
    }
}

#[test]
fn rule_1_4_v12_additional_creators_must_be_user_ids() {
    let valid = create_event(
        RoomVersionId::V12,
        json!({"additional_creators": [BOB, CAROL]}),
    );
    assert_eq!(check_create(RoomVersionId::V12, &valid), Ok(()));
    let empty = create_event(RoomVersionId::V12, json!({"additional_creators": []}));
    assert_eq!(check_create(RoomVersionId::V12, &empty), Ok(()));

    for bad in [
        json!(BOB),
        json!([BOB, 5]),
        json!(["bob"]),
        json!(["@bob"]),
        json!({"user": BOB}),
    ] {
        let create = create_event(RoomVersionId::V12, json!({"additional_creators": bad}));
        assert_eq!(
            check_create(RoomVersionId::V12, &create),
            Err(AuthError::CreateInvalidAdditionalCreators),
            "{bad}"
        );
        // Version 11 gives the key no meaning, so does not validate it.
        let create = create_event(RoomVersionId::V11, json!({"additional_creators": bad}));
        assert_eq!(check_create(RoomVersionId::V11, &create), Ok(()));
    }
}

#[test]
fn rule_2_v12_room_id_must_be_the_create_events() {
    let mut room = TestRoom::new(RoomVersionId::V12);
    room.set_join_rule("public");
    let message = room.event(ALICE, "m.room.message", None, json!({}));
    assert_eq!(room.check(&message), Ok(()));

    let other_create = create_event(RoomVersionId::V12, json!({"m.federate": true}));
    let elsewhere = edited(&message, room.version, |event| {
        event.insert("room_id".into(), other_create.room_id().as_str().into());
    });
    assert_eq!(
        room.check(&elsewhere),
        Err(AuthError::RoomIdNotFromCreateEvent)
    );
    let classic = edited(&message, room.version, |event| {
        event.insert("room_id".into(), "!room:a.test".into());
    });
    assert_eq!(
        room.check(&classic),
        Err(AuthError::RoomIdNotFromCreateEvent)
    );

    // Up to version 11 room IDs are not tied to the create event's ID.
    let mut room = TestRoom::new(RoomVersionId::V11);
    let message = room.event(ALICE, "m.room.message", None, json!({}));
    let elsewhere = edited(&message, room.version, |event| {
        event.insert("room_id".into(), "!other:b.test".into());
    });
    assert_eq!(room.check(&elsewhere), Ok(()));
}

#[test]
fn other_events_need_a_create_event_in_the_state() {
    for version in VERSIONS {
        let mut room = TestRoom::new(version);
        let message = room.event(ALICE, "m.room.message", None, json!({}));
        assert_eq!(
            authorize(&message, room.version, &BTreeMap::new()),
            Err(AuthError::MissingCreateEvent),
            "version {version}"
        );
    }
}
