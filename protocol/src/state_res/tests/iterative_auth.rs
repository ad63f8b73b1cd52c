//! The iterative auth checks on their own: which state each event is
//! checked against, and what happens to those the rules refuse.

use serde_json::json;

use super::{key, Dag, ALICE, BOB};
use crate::identifiers::EventId;
use crate::room_versions::RoomVersionId;
use crate::state_res::iterative_auth;
use crate::state_res::StateMap;

fn topic(dag: &mut Dag, sender: &str, auth: &[&EventId]) -> EventId {
    dag.state(sender, "m.room.topic", "", json!({"topic": sender}), auth)
}

fn apply(dag: &Dag, state: StateMap, sorted: &[EventId]) -> StateMap {
    let numbered = dag.numbered();
    let sorted: Vec<_> = sorted.iter().map(|id| numbered.of(id)).collect();
    let state = numbered.state(&state);
    let applied = iterative_auth::apply(dag.version, state, &sorted, &numbered.graph).unwrap();
    numbered.state_map(&applied)
}

#[test]
fn allowed_events_replace_entries_and_refused_ones_are_skipped() {
    let mut dag = Dag::new(RoomVersionId::V10);
    let (alice_join, power_levels) = (dag.alice_join.clone(), dag.power_levels.clone());
    let bob_join = dag.join(BOB);
    let by_alice = topic(&mut dag, ALICE, &[&alice_join, &power_levels]);
    let by_bob = topic(&mut dag, BOB, &[&bob_join, &power_levels]);
    let state = dag.base_with(&[&bob_join]);

    for sorted in [
        [by_alice.clone(), by_bob.clone()],
        [by_bob.clone(), by_alice.clone()],
    ] {
        let resolved = apply(&dag, state.clone(), &sorted);
        assert_eq!(resolved.get(&key("m.room.topic", "")), Some(&by_alice));
        assert_eq!(resolved.len(), state.len() + 1);
    }
}

#[test]
fn the_state_overrides_what_the_event_cites() {
    let mut dag = Dag::new(RoomVersionId::V10);
    let alice_join = dag.alice_join.clone();
    let (promote_bob, bob_join) = dag.promote_and_join_bob();
    let demote_bob = dag.state(
        ALICE,
        "m.room.power_levels",
        "",
        dag.levels(&[]),
        &[&alice_join, &promote_bob],
    );
    let by_bob = topic(&mut dag, BOB, &[&bob_join, &promote_bob]);

    let promoted = apply(
        &dag,
        dag.base_with(&[&promote_bob, &bob_join]),
        std::slice::from_ref(&by_bob),
    );
    assert_eq!(promoted.get(&key("m.room.topic", "")), Some(&by_bob));
    let demoted = apply(&dag, dag.base_with(&[&demote_bob, &bob_join]), &[by_bob]);
    assert_eq!(demoted.get(&key("m.room.topic", "")), None);
}

#[test]
fn missing_entries_come_from_the_cited_auth_events() {
    for version in [RoomVersionId::V10, RoomVersionId::V12] {
        let mut dag = Dag::new(version);
        let (alice_join, power_levels) = (dag.alice_join.clone(), dag.power_levels.clone());
        let by_alice = topic(&mut dag, ALICE, &[&alice_join, &power_levels]);
        // From version 12 the create event is not cited: it is found
        // through the room ID.
        let resolved = apply(&dag, StateMap::new(), std::slice::from_ref(&by_alice));
        assert_eq!(resolved, dag.state_map(&[&by_alice]), "{version}");
    }
}

#[test]
fn rejected_auth_events_are_not_used() {
    let mut dag = Dag::new(RoomVersionId::V10);
    let (alice_join, power_levels) = (dag.alice_join.clone(), dag.power_levels.clone());
    let by_alice = topic(&mut dag, ALICE, &[&alice_join, &power_levels]);
    dag.rejected.insert(alice_join);
    let resolved = apply(&dag, StateMap::new(), &[by_alice]);
    assert_eq!(resolved, StateMap::new());
}
