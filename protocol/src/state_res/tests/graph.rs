//! Numbering events into an [`EventGraph`].

use super::{Dag, BOB};
use crate::room_versions::RoomVersionId;
use crate::state_res::graph::{EventGraph, GraphEvent};
use crate::state_res::StateResError;

#[test]
fn an_event_citing_one_not_given_is_refused_by_name() {
    let mut dag = Dag::new(RoomVersionId::V10);
    let bob_join = dag.join(BOB);
    let without_join_rules = dag
        .events
        .values()
        .filter(|pdu| *pdu.event_id() != dag.join_rules)
        .map(|pdu| GraphEvent {
            pdu,
            key: (),
            rejected: false,
        });
    let error = EventGraph::new(without_join_rules).unwrap_err();
    assert_eq!(error, StateResError::MissingEvent(dag.join_rules.clone()));
    assert!(dag.numbered().graph.index(&bob_join).is_some());
}

#[test]
fn an_event_given_twice_keeps_its_first_number() {
    let dag = Dag::new(RoomVersionId::V11);
    let create = &dag.events[&dag.create];
    let alice_join = &dag.events[&dag.alice_join];
    let power_levels = &dag.events[&dag.power_levels];
    let given = [create, alice_join, create, power_levels].map(|pdu| GraphEvent {
        pdu,
        key: (),
        rejected: false,
    });
    let graph = EventGraph::new(given).unwrap();
    assert_eq!(graph.len(), 3);
    assert_eq!(graph.index(&dag.create), Some(0));
    assert_eq!(graph.index(&dag.alice_join), Some(1));
    assert_eq!(graph.index(&dag.power_levels), Some(2));
    // Alice's join cites the create event (and no other given event).
    assert_eq!(graph.auth_events(1), [0]);
}
