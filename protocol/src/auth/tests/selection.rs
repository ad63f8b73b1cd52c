//! Auth events selection.

use serde_json::json;

use super::super::auth_types_for_event;
use super::*;
use crate::canonical_json::CanonicalJsonObject;
use crate::identifiers::UserId;

fn select(
    version: RoomVersionId,
    event_type: &str,
    state_key: Option<&str>,
    sender: &str,
    content: Value,
) -> Vec<(String, String)> {
    let content: CanonicalJsonObject = object_from_json(content).unwrap();
    let sender = UserId::parse(sender).unwrap();
    auth_types_for_event(event_type, state_key, &sender, &content, version.rules())
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(t, k)| ((*t).to_owned(), (*k).to_owned()))
        .collect()
}

#[test]
fn create_events_cite_nothing() {
    for version in VERSIONS {
        assert!(select(version, "m.room.create", Some(""), ALICE, json!({})).is_empty());
    }
}

#[test]
fn every_event_cites_create_power_levels_and_sender_up_to_v11() {
    for version in &VERSIONS[..7] {
        assert_eq!(
            select(
                *version,
                "m.room.message",
                None,
                BOB,
                json!({"membership": "join"})
            ),
            pairs(&[
                ("m.room.create", ""),
                ("m.room.power_levels", ""),
                ("m.room.member", BOB)
            ]),
            "version {version}"
        );
    }
    assert_eq!(
        select(RoomVersionId::V12, "m.room.topic", Some(""), BOB, json!({})),
        pairs(&[("m.room.power_levels", ""), ("m.room.member", BOB)])
    );
}

#[test]
fn membership_events_add_target_and_join_rules() {
    for (membership, join_rules) in [
        ("join", true),
        ("invite", true),
        ("knock", true),
        ("leave", false),
        ("ban", false),
    ] {
        let selected = select(
            RoomVersionId::V12,
            "m.room.member",
            Some(CAROL),
            BOB,
            json!({"membership": membership}),
        );
        let mut expected = vec![
            ("m.room.power_levels", ""),
            ("m.room.member", BOB),
            ("m.room.member", CAROL),
        ];
        if join_rules {
            expected.push(("m.room.join_rules", ""));
        }
        assert_eq!(selected, pairs(&expected), "{membership}");
    }
    // The sender's own membership is listed once.
    assert_eq!(
        select(
            RoomVersionId::V12,
            "m.room.member",
            Some(BOB),
            BOB,
            json!({"membership": "join"})
        ),
        pairs(&[
            ("m.room.power_levels", ""),
            ("m.room.member", BOB),
            ("m.room.join_rules", "")
        ])
    );
}

#[test]
fn third_party_invites_add_the_invite_for_the_token() {
    let content = json!({
        "membership": "invite",
        "third_party_invite": {"signed": {"token": "tok", "mxid": CAROL}},
    });
    let selected = select(
        RoomVersionId::V6,
        "m.room.member",
        Some(CAROL),
        BOB,
        content.clone(),
    );
    assert_eq!(
        selected.last(),
        Some(&pairs(&[("m.room.third_party_invite", "tok")])[0])
    );
    // Only for invites, and only with a token string.
    let mut join = content.clone();
    join["membership"] = "join".into();
    let malformed = json!({"membership": "invite", "third_party_invite": {"signed": {"token": 5}}});
    for content in [join, malformed] {
        let selected = select(
            RoomVersionId::V6,
            "m.room.member",
            Some(CAROL),
            BOB,
            content,
        );
        assert!(selected
            .iter()
            .all(|(t, _)| t != "m.room.third_party_invite"));
    }
}

#[test]
fn restricted_joins_add_the_authorising_user_from_v8() {
    let content = json!({"membership": "join", "join_authorised_via_users_server": ALICE});
    for version in VERSIONS {
        let selected = select(version, "m.room.member", Some(BOB), BOB, content.clone());
        let has_authoriser = selected.contains(&("m.room.member".into(), ALICE.into()));
        assert_eq!(
            has_authoriser,
            version.rules().restricted_join_allowed,
            "version {version}"
        );
    }
    let leave = json!({"membership": "leave", "join_authorised_via_users_server": ALICE});
    let selected = select(RoomVersionId::V10, "m.room.member", Some(BOB), BOB, leave);
    assert!(!selected.contains(&("m.room.member".into(), ALICE.into())));
}
