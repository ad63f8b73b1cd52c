//! What differs between the algorithms, and the failures of [`resolve`].

use serde_json::json;

use super::{key, Dag, ALICE, BOB, CAROL};
use crate::identifiers::EventId;
use crate::room_versions::RoomVersionId;
use crate::state_res::{resolve, StateResError};

/// Both forks hold Alice's demotion of Bob, unconflicted, but differ on the
/// topic: Alice's, or Bob's later one from when he was still a moderator.
/// v2 checks the topics against the unconflicted state, demotion included,
/// and keeps Alice's; v2.1 checks them from an empty state, where only what
/// they cite counts, and keeps Bob's, the later one.
#[test]
fn v2_1_checks_conflicted_events_without_the_unconflicted_state() {
    for (version, expected_sender) in [
        (RoomVersionId::V3, ALICE),
        (RoomVersionId::V11, ALICE),
        (RoomVersionId::V12, BOB),
    ] {
        let mut dag = Dag::new(version);
        let alice_join = dag.alice_join.clone();
        let (promote_bob, bob_join) = dag.promote_and_join_bob();
        let demote_bob = dag.state(
            ALICE,
            "m.room.power_levels",
            "",
            dag.levels(&[]),
            &[&alice_join, &promote_bob],
        );
        let alice_topic = dag.state(
            ALICE,
            "m.room.topic",
            "",
            json!({"topic": ALICE}),
            &[&alice_join, &promote_bob],
        );
        let bob_topic = dag.state(
            BOB,
            "m.room.topic",
            "",
            json!({"topic": BOB}),
            &[&bob_join, &promote_bob],
        );
        let resolved = dag.resolve(&[
            dag.base_with(&[&demote_bob, &bob_join, &bob_topic]),
            dag.base_with(&[&demote_bob, &bob_join, &alice_topic]),
        ]);
        let topic = &resolved[&key("m.room.topic", "")];
        assert_eq!(
            dag.events[topic].sender().as_str(),
            expected_sender,
            "{version}"
        );
        // Step 5 puts the unconflicted power levels back either way.
        assert_eq!(
            resolved.get(&key("m.room.power_levels", "")),
            Some(&demote_bob),
            "{version}"
        );
    }
}

/// Alice's power levels went `first` → `middle` (making Carol a moderator)
/// → `last` (Carol's own change). One fork holds `first`, the other
/// `last`; both have Carol's join, which cites `middle`, so `middle` is in
/// neither the conflicted state set nor the auth difference. v2 replays
/// only `first` and `last`, checks Carol's change against `first`, where
/// she has no power, and keeps `first`. v2.1 replays `middle` too, being
/// in the conflicted state subgraph, and keeps `last`.
#[test]
fn v2_1_replays_the_conflicted_state_subgraph() {
    for (version, expect_last) in [
        (RoomVersionId::V10, false),
        (RoomVersionId::V11, false),
        (RoomVersionId::V12, true),
    ] {
        let mut dag = Dag::new(version);
        let alice_join = dag.alice_join.clone();
        let first = dag.state(
            ALICE,
            "m.room.power_levels",
            "",
            dag.levels(&[(BOB, 50)]),
            &[&alice_join, &dag.power_levels.clone()],
        );
        let middle = dag.state(
            ALICE,
            "m.room.power_levels",
            "",
            dag.levels(&[(BOB, 50), (CAROL, 50)]),
            &[&alice_join, &first],
        );
        let carol_join = dag.member(CAROL, CAROL, "join", &[&middle, &dag.join_rules.clone()]);
        let mut content = dag.levels(&[(BOB, 50), (CAROL, 50)]);
        content["events"] = json!({"m.room.topic": 50});
        let last = dag.state(
            CAROL,
            "m.room.power_levels",
            "",
            content,
            &[&carol_join, &middle],
        );
        let resolved = dag.resolve(&[
            dag.base_with(&[&first, &carol_join]),
            dag.base_with(&[&last, &carol_join]),
        ]);
        let expected = if expect_last { &last } else { &first };
        assert_eq!(
            resolved.get(&key("m.room.power_levels", "")),
            Some(expected),
            "{version}"
        );
    }
}

#[test]
fn a_missing_event_is_reported() {
    let dag = Dag::new(RoomVersionId::V10);
    let unknown = EventId::parse(&format!("${}", "A".repeat(43))).unwrap();
    let mut with_unknown = dag.base_with(&[]);
    with_unknown.insert(key("m.room.topic", ""), unknown.clone());
    assert_eq!(
        resolve(dag.version, &[dag.base_with(&[]), with_unknown], &dag),
        Err(StateResError::MissingEvent(unknown))
    );
}

#[test]
fn room_version_1_is_not_supported() {
    let dag = Dag::new(RoomVersionId::V10);
    assert_eq!(
        resolve(RoomVersionId::V1.rules(), &[dag.base_with(&[])], &dag),
        Err(StateResError::UnsupportedAlgorithm)
    );
}
