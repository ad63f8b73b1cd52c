//! The split into unconflicted state and full conflicted set: the
//! conflicted state set, the auth difference and the conflicted state
//! subgraph.

use super::{event_set, key, Dag, ALICE, BOB, CAROL};
use std::collections::BTreeSet;

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
    let conflicts = find(&dag, &state_sets, false);
    assert_eq!(conflicts.0, dag.base_with(&[]));
    assert!(!conflicts.0.contains_key(&key("m.room.member", CAROL)));
    // Carol's join is conflicted although no set disagrees on its value:
    // the other set has no entry for her. Bob's join is also in the auth
    // difference, being in the auth chain of his leave only.
    assert_eq!(
        conflicts.1,
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
    let conflicts = find(&dag, &state_sets, false);
    assert_eq!(
        conflicts.1,
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
    let without = find(&dag, &state_sets, false);
    assert_eq!(without.1, event_set(&[&first, &last]));
    let with = find(&dag, &state_sets, true);
    assert_eq!(with.1, event_set(&[&first, &middle, &last]));
}

#[test]
fn conflicted_subgraph_leaves_out_events_off_the_paths() {
    let (dag, [first, middle, last], _) = chain_through_shared_event();
    // The initial power levels and Alice's join are below `first`, and the
    // create event below everything: reachable, but leading to no
    // conflicted event.
    assert_eq!(
        subgraph(&dag, &[&first, &last]),
        event_set(&[&first, &middle, &last])
    );
    assert_eq!(
        subgraph(&dag, &[&middle, &last]),
        event_set(&[&middle, &last])
    );
    // A single conflicted event is its own subgraph.
    assert_eq!(subgraph(&dag, &[&last]), event_set(&[&last]));
}

/// The unconflicted state and the full conflicted set of `state_sets`.
fn find(dag: &Dag, state_sets: &[StateMap], with_subgraph: bool) -> (StateMap, BTreeSet<EventId>) {
    let numbered = dag.numbered();
    let sets: Vec<_> = state_sets.iter().map(|set| numbered.state(set)).collect();
    let conflicts = Conflicts::find(&sets, &numbered.graph, with_subgraph);
    (
        numbered.state_map(&conflicts.unconflicted.to_state_map()),
        numbered.id_set(&conflicts.full_conflicted_set),
    )
}

/// The conflicted state subgraph of `conflicted`.
fn subgraph(dag: &Dag, conflicted: &[&EventId]) -> BTreeSet<EventId> {
    let numbered = dag.numbered();
    numbered.id_set(&conflicted_subgraph(
        &numbered.set(conflicted),
        &numbered.graph,
    ))
}
