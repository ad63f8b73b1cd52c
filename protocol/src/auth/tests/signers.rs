//! The servers whose signatures an event needs.

use serde_json::json;

use super::super::required_signers;
use super::*;
use crate::identifiers::ServerName;

fn names(servers: &[&str]) -> Vec<ServerName> {
    servers
        .iter()
        .map(|s| ServerName::parse(s).unwrap())
        .collect()
}

#[test]
fn the_senders_server_signs() {
    for version in VERSIONS {
        let mut room = TestRoom::new(version);
        let message = room.event(BOB, "m.room.message", None, json!({}));
        assert_eq!(
            required_signers(&message, room.version),
            names(&["b.test"]),
            "version {version}"
        );
    }
}

#[test]
fn v1_and_v2_also_need_the_event_id_server() {
    for version in VERSIONS {
        let mut room = TestRoom::new(version);
        let rules = room.version;
        // Only versions 1 and 2 carry an event ID in the event.
        let message = room.event_with(BOB, "m.room.message", None, json!({}), |event| {
            if event.contains_key("event_id") {
                event.insert("event_id".into(), "$relayed:c.test".into());
            }
        });
        let expected = if version <= RoomVersionId::V2 {
            names(&["b.test", "c.test"])
        } else {
            names(&["b.test"])
        };
        assert_eq!(
            required_signers(&message, rules),
            expected,
            "version {version}"
        );
    }
}

#[test]
fn third_party_invites_may_come_from_the_invited_users_server() {
    let mut room = TestRoom::new(RoomVersionId::V11);
    let invite = room.event(
        BOB,
        "m.room.member",
        Some(CAROL),
        json!({"membership": "invite", "third_party_invite": {"signed": {}}}),
    );
    assert!(required_signers(&invite, room.version).is_empty());
}

#[test]
fn join_authorisers_sign_from_v8() {
    for version in VERSIONS {
        let mut room = TestRoom::new(version);
        let join = room.event(
            BOB,
            "m.room.member",
            Some(BOB),
            json!({"membership": "join", "join_authorised_via_users_server": CAROL}),
        );
        let expected = if version.rules().restricted_join_allowed {
            names(&["b.test", "c.test"])
        } else {
            names(&["b.test"])
        };
        assert_eq!(
            required_signers(&join, room.version),
            expected,
            "version {version}"
        );
    }
    // Vouching by a user on the sender's own server adds nothing.
    let mut room = TestRoom::new(RoomVersionId::V10);
    let join = room.event(
        BOB,
        "m.room.member",
        Some(BOB),
        json!({"membership": "join", "join_authorised_via_users_server": "@other:b.test"}),
    );
    assert_eq!(required_signers(&join, room.version), names(&["b.test"]));
}
