//! The rules about an event's auth events: rule 2 in versions 1–11, rule 3
//! in version 12.

use serde_json::json;

use super::super::AuthEvents;
use super::*;

/// Every event of the room by ID, as a server's store would hold them.
fn store(room: &TestRoom) -> BTreeMap<EventId, Pdu> {
    room.state
        .values()
        .map(|pdu| (pdu.event_id().clone(), pdu.clone()))
        .collect()
}

/// An event of Bob's citing `cited` as its auth events.
fn citing(
    room: &mut TestRoom,
    event_type: &str,
    state_key: Option<&str>,
    content: Value,
    cited: &[&Pdu],
) -> Pdu {
    let version = room.version;
    let refs: Vec<Value> = cited
        .iter()
        .enumerate()
        .map(|(n, pdu)| reference(version, pdu.event_id().as_str(), n as u64))
        .collect();
    room.event_with(BOB, event_type, state_key, content, |event| {
        event.insert("auth_events".into(), refs.into());
    })
}

fn state_event<'a>(room: &'a TestRoom, event_type: &str, state_key: &str) -> &'a Pdu {
    &room.state[&(event_type.to_owned(), state_key.to_owned())]
}

fn from_cited(
    room: &TestRoom,
    pdu: &Pdu,
    store: &BTreeMap<EventId, Pdu>,
) -> Result<AuthEvents, AuthError> {
    AuthEvents::from_cited(pdu, room.version, |id| store.get(id).cloned())
}

#[test]
fn properly_cited_auth_events_authorise_the_event() {
    for version in VERSIONS {
        let mut room = TestRoom::new(version);
        room.set_power_levels(json!({"users": {BOB: 10}}));
        room.join(BOB);
        let store = store(&room);
        let mut cited = vec![
            state_event(&room, "m.room.power_levels", "").clone(),
            state_event(&room, "m.room.member", BOB).clone(),
        ];
        if room.version.create_event_has_room_id() {
            cited.push(room.create.clone());
        }
        let message = citing(
            &mut room,
            "m.room.message",
            None,
            json!({}),
            &cited.iter().collect::<Vec<_>>(),
        );
        let auth_events = from_cited(&room, &message, &store).unwrap();
        // The create event is there even where it is not cited.
        assert_eq!(auth_events.iter().count(), 3, "version {version}");
        assert_eq!(authorize(&message, room.version, &auth_events), Ok(()));

        // Without Bob's membership the event is not authorised.
        let without_member: Vec<&Pdu> = cited
            .iter()
            .filter(|pdu| pdu.event_type() != "m.room.member")
            .collect();
        let message = citing(
            &mut room,
            "m.room.message",
            None,
            json!({}),
            &without_member,
        );
        let auth_events = from_cited(&room, &message, &store).unwrap();
        assert_eq!(
            authorize(&message, room.version, &auth_events),
            Err(AuthError::SenderNotJoined)
        );
    }
}

#[test]
fn create_events_cite_nothing_and_are_not_looked_at() {
    for version in VERSIONS {
        let room = TestRoom::new(version);
        let auth_events =
            AuthEvents::from_cited(&room.create, room.version, |_| panic!("no lookups")).unwrap();
        assert_eq!(auth_events.iter().count(), 0);
    }
}

#[test]
fn rule_1_duplicates_are_rejected() {
    for version in VERSIONS {
        let mut room = TestRoom::new(version);
        room.join(BOB);
        let first_join = state_event(&room, "m.room.member", BOB).clone();
        room.join(BOB);
        let mut store = store(&room);
        store.insert(first_join.event_id().clone(), first_join.clone());
        let second_join = state_event(&room, "m.room.member", BOB).clone();
        let create = room.create.clone();
        let mut cited = vec![&first_join, &second_join];
        if room.version.create_event_has_room_id() {
            cited.push(&create);
        }
        let message = citing(&mut room, "m.room.message", None, json!({}), &cited);
        assert_eq!(
            from_cited(&room, &message, &store).unwrap_err(),
            AuthError::DuplicateAuthEvent {
                event_type: "m.room.member".into(),
                state_key: BOB.into()
            },
            "version {version}"
        );
    }
}

#[test]
fn rule_2_only_selected_events_may_be_cited() {
    for version in VERSIONS {
        let mut room = TestRoom::new(version);
        room.set_join_rule("public");
        room.join(BOB);
        let store = store(&room);
        let join_rules = state_event(&room, "m.room.join_rules", "").clone();
        let alice = state_event(&room, "m.room.member", ALICE).clone();
        let create = room.create.clone();
        // A message has no business citing the join rules or Alice.
        for unexpected in [&join_rules, &alice] {
            let message = citing(&mut room, "m.room.message", None, json!({}), &[unexpected]);
            assert_eq!(
                from_cited(&room, &message, &store).unwrap_err(),
                AuthError::UnexpectedAuthEvent(unexpected.event_id().clone()),
                "version {version}"
            );
        }
        // A join may cite the join rules, and a kick of Alice her membership.
        let mut cited = vec![&join_rules];
        if room.version.create_event_has_room_id() {
            cited.push(&create);
        }
        let join = citing(
            &mut room,
            "m.room.member",
            Some(BOB),
            json!({"membership": "join"}),
            &cited,
        );
        assert!(from_cited(&room, &join, &store).is_ok());
        cited[0] = &alice;
        let kick = citing(
            &mut room,
            "m.room.member",
            Some(ALICE),
            json!({"membership": "leave"}),
            &cited,
        );
        assert!(from_cited(&room, &kick, &store).is_ok());
    }
}

#[test]
fn rule_2_the_create_event_is_cited_up_to_v11_and_never_in_v12() {
    for version in VERSIONS {
        let mut room = TestRoom::new(version);
        room.join(BOB);
        let store = store(&room);
        let member = state_event(&room, "m.room.member", BOB).clone();
        let create = room.create.clone();
        let without = citing(&mut room, "m.room.message", None, json!({}), &[&member]);
        let with = citing(
            &mut room,
            "m.room.message",
            None,
            json!({}),
            &[&member, &create],
        );
        if version == RoomVersionId::V12 {
            assert!(from_cited(&room, &without, &store).is_ok());
            assert_eq!(
                from_cited(&room, &with, &store).unwrap_err(),
                AuthError::UnexpectedAuthEvent(create.event_id().clone())
            );
        } else {
            assert_eq!(
                from_cited(&room, &without, &store).unwrap_err(),
                AuthError::MissingCreateEvent,
                "version {version}"
            );
            assert!(from_cited(&room, &with, &store).is_ok());
        }
    }
}

#[test]
fn rule_3_unknown_or_rejected_auth_events() {
    for version in VERSIONS {
        let mut room = TestRoom::new(version);
        room.join(BOB);
        let mut store = store(&room);
        let member = state_event(&room, "m.room.member", BOB).clone();
        // The store does not hand out rejected events.
        store.remove(member.event_id());
        let message = citing(&mut room, "m.room.message", None, json!({}), &[&member]);
        assert_eq!(
            from_cited(&room, &message, &store).unwrap_err(),
            AuthError::UnknownAuthEvent(member.event_id().clone()),
            "version {version}"
        );
    }
}

#[test]
fn rule_5_auth_events_must_be_from_the_same_room() {
    for version in VERSIONS {
        let mut room = TestRoom::new(version);
        let mut store = store(&room);
        let create = room.create.clone();
        let foreign_join = room.event_with(
            BOB,
            "m.room.member",
            Some(BOB),
            json!({"membership": "join"}),
            |event| {
                event.insert("room_id".into(), "!elsewhere:b.test".into());
            },
        );
        store.insert(foreign_join.event_id().clone(), foreign_join.clone());
        let mut cited = vec![&foreign_join];
        if room.version.create_event_has_room_id() {
            cited.push(&create);
        }
        let message = citing(&mut room, "m.room.message", None, json!({}), &cited);
        assert_eq!(
            from_cited(&room, &message, &store).unwrap_err(),
            AuthError::AuthEventFromOtherRoom(foreign_join.event_id().clone()),
            "version {version}"
        );
    }
}

#[test]
fn v12_the_create_event_must_be_known() {
    let mut room = TestRoom::new(RoomVersionId::V12);
    room.join(BOB);
    let mut store = store(&room);
    store.remove(room.create.event_id());
    let member = state_event(&room, "m.room.member", BOB).clone();
    let message = citing(&mut room, "m.room.message", None, json!({}), &[&member]);
    assert_eq!(
        from_cited(&room, &message, &store).unwrap_err(),
        AuthError::RoomIdNotFromCreateEvent
    );
}

#[test]
fn message_events_cannot_be_auth_events() {
    let mut room = TestRoom::new(RoomVersionId::V12);
    let mut store = store(&room);
    let message = room.event(ALICE, "m.room.message", None, json!({}));
    store.insert(message.event_id().clone(), message.clone());
    let citing_message = citing(&mut room, "m.room.message", None, json!({}), &[&message]);
    assert_eq!(
        from_cited(&room, &citing_message, &store).unwrap_err(),
        AuthError::UnexpectedAuthEvent(message.event_id().clone())
    );
}
