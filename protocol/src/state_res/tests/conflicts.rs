//! The split into unconflicted state and full conflicted set: the
//! conflicted state set, the auth difference and the conflicted state
//! subgraph.

use super::{event_set, key, Dag, ALICE, BOB, CAROL};
use crate::identifiers::EventId;
use crate::room_versions::RoomVersionId;
use crate::state_res::conflicts::{conflicted_subgraph, Conflicts};
use crate::state_res::StateMap;

#[test]
fn keys_agreed_on_by_every_set_are_unconflicted() {
    let mut dag = Dag::new(RoomVersionId::V10);
    let bob_join = dag.join(BOB);
    let carol_join = dag.join(CAROL);
    let bob_leave = dag.member(BOB, BOB, "leave", &[&bob_join, &dag.power_levels.clone()]);
    let state_sets = [
        dag.base_with(&[&bob_join, &carol_join]),
        dag.base_with(&[&bob_leave]),
    ];
    let conflicts = Conflicts::find(&state_sets, &dag, false).unwrap();
    assert_eq!(conflicts.unconflicted.to_state_map(), dag.base_with(&[]));
    assert!(conflicts
        .unconflicted
        .get(&key("m.room.member", CAROL))
        .is_none());
    // Carol's join is conflicted although no set disagrees on its value:
    // the other set has no entry for her. Bob's join is also in the auth
    // difference, being in the auth chain of his leave only.
    assert_eq!(
        conflicts.full_conflicted_set,
        event_set(&[&bob_join, &carol_join, &bob_leave])
    );
}

#[test]
fn auth_difference_holds_what_only_some_auth_chains_have() {
    let mut dag = Dag::new(RoomVersionId::V10);
    let (promote_bob, bob_join) = dag.promote_and_join_bob();
    let topic = dag.state(
        BOB,
        "m.room.topic",
        "",
        serde_json::json!({"topic": "Bob's"}),
        &[&bob_join, &promote_bob],
    );
    // The first set never saw Bob, his promotion or his topic; the second
    // has the topic in its state, and Bob's join and promotion only in its
    // auth chain. So are the join rules, cited by Bob's join: that both
    // sets hold them in their state does not matter.
    let state_sets = [dag.base_with(&[]), dag.base_with(&[&topic])];
    let conflicts = Conflicts::find(&state_sets, &dag, false).unwrap();
    assert_eq!(
        conflicts.full_conflicted_set,
        event_set(&[&topic, &bob_join, &promote_bob, &dag.join_rules])
    );
}

/// Power levels that went `first` → `middle` → `last`, with the two forks
/// holding `first` and `last` and both citing `middle` elsewhere, so that
/// `middle` is in neither the conflicted state set nor the auth difference.
fn chain_through_shared_event() -> (Dag, [EventId; 3], Vec<StateMap>) {
    let mut dag = Dag::new(RoomVersionId::V12);
    let alice_join = dag.alice_join.clone();
    let first = dag.state(
        ALICE,
        "m.room.power_levels",
        "",
        dag.levels(&[(BOB, 10)]),
        &[&alice_join, &dag.power_levels.clone()],
    );
    let middle = dag.state(
        ALICE,
        "m.room.power_levels",
        "",
        dag.levels(&[(BOB, 20)]),
        &[&alice_join, &first],
    );
    let last = dag.state(
        ALICE,
        "m.room.power_levels",
        "",
        dag.levels(&[(BOB, 30)]),
        &[&alice_join, &middle],
    );
    let carol_join = dag.member(CAROL, CAROL, "join", &[&middle, &dag.join_rules.clone()]);
    let state_sets = vec![
        dag.base_with(&[&first, &carol_join]),
        dag.base_with(&[&last, &carol_join]),
    ];
    (dag, [first, middle, last], state_sets)
}

#[test]
fn conflicted_subgraph_adds_events_between_conflicted_ones() {
    let (dag, [first, middle, last], state_sets) = chain_through_shared_event();
    let without = Conflicts::find(&state_sets, &dag, false).unwrap();
    assert_eq!(without.full_conflicted_set, event_set(&[&first, &last]));
    let with = Conflicts::find(&state_sets, &dag, true).unwrap();
    assert_eq!(
        with.full_conflicted_set,
        event_set(&[&first, &middle, &last])
    );
}

#[test]
fn conflicted_subgraph_leaves_out_events_off_the_paths() {
    let (dag, [first, middle, last], _) = chain_through_shared_event();
    // The initial power levels and Alice's join are below `first`, and the
    // create event below everything: reachable, but leading to no
    // conflicted event.
    assert_eq!(
        conflicted_subgraph(&event_set(&[&first, &last]), &dag).unwrap(),
        event_set(&[&first, &middle, &last])
    );
    assert_eq!(
        conflicted_subgraph(&event_set(&[&middle, &last]), &dag).unwrap(),
        event_set(&[&middle, &last])
    );
    // A single conflicted event is its own subgraph.
    assert_eq!(
        conflicted_subgraph(&event_set(&[&last]), &dag).unwrap(),
        event_set(&[&last])
    );
}
