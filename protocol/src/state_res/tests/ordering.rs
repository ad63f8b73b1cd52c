//! The two orderings on their own: the reverse topological power ordering
//! with its tie-breaks, and mainline positions and ordering.

use std::collections::BTreeMap;

use serde_json::json;

use super::{Dag, ALICE, BOB, CAROL};
use crate::identifiers::EventId;
use crate::power_levels::UserPowerLevel;
use crate::room_versions::RoomVersionId;
use crate::state_res::mainline::{self, MainlinePosition};
use crate::state_res::power_ordering;

/// A room where Bob has level 50 and has joined, with those two events.
fn room_with_moderator(version: RoomVersionId) -> (Dag, EventId, EventId) {
    let mut dag = Dag::new(version);
    let (promote_bob, bob_join) = dag.promote_and_join_bob();
    (dag, promote_bob, bob_join)
}

/// A topic sent by `sender` at `ts`, citing `auth`.
fn topic(dag: &mut Dag, ts: i64, sender: &str, auth: &[&EventId]) -> EventId {
    dag.state_at(ts, sender, "m.room.topic", "", json!({"topic": ts}), auth)
}

#[test]
fn sender_power_level_comes_from_the_cited_power_levels() {
    let (mut dag, promote_bob, bob_join) = room_with_moderator(RoomVersionId::V10);
    let bob_topic = topic(&mut dag, 5_000, BOB, &[&bob_join, &promote_bob]);
    let uncited = topic(&mut dag, 5_000, BOB, &[&bob_join]);
    let alice_join = dag.alice_join.clone();
    let alice_topic = topic(&mut dag, 5_000, ALICE, &[&alice_join]);
    let numbered = dag.numbered();
    let level = |id: &EventId| {
        power_ordering::sender_power_level(numbered.of(id), dag.version, &numbered.graph).unwrap()
    };
    assert_eq!(level(&bob_topic), UserPowerLevel::Finite(50));
    // Without cited power levels, the initial ones: users at 0, the creator
    // at 100.
    assert_eq!(level(&uncited), UserPowerLevel::Finite(0));
    assert_eq!(level(&alice_topic), UserPowerLevel::Finite(100));
}

#[test]
fn creators_outrank_everyone_in_the_ordering_from_version_12() {
    let (mut dag, promote_bob, _) = room_with_moderator(RoomVersionId::V12);
    let alice_join = dag.alice_join.clone();
    let alice_topic = topic(&mut dag, 5_000, ALICE, &[&alice_join, &promote_bob]);
    let numbered = dag.numbered();
    let level =
        power_ordering::sender_power_level(numbered.of(&alice_topic), dag.version, &numbered.graph);
    assert_eq!(level, Ok(UserPowerLevel::Infinite));
}

#[test]
fn higher_power_goes_first_despite_later_timestamp() {
    let (mut dag, promote_bob, bob_join) = room_with_moderator(RoomVersionId::V10);
    let alice_join = dag.alice_join.clone();
    let by_bob = topic(&mut dag, 5_000, BOB, &[&bob_join, &promote_bob]);
    let by_alice = topic(&mut dag, 6_000, ALICE, &[&alice_join, &promote_bob]);
    let sorted = power_sort(&dag, &[&by_bob, &by_alice]);
    assert_eq!(sorted, [by_alice, by_bob]);
}

#[test]
fn equal_power_goes_by_timestamp_then_event_id() {
    let (mut dag, promote_bob, _) = room_with_moderator(RoomVersionId::V10);
    let alice_join = dag.alice_join.clone();
    let late = topic(&mut dag, 7_000, ALICE, &[&alice_join, &promote_bob]);
    let early = topic(&mut dag, 6_000, ALICE, &[&alice_join, &promote_bob]);
    let sorted = power_sort(&dag, &[&late, &early]);
    assert_eq!(sorted, [early.clone(), late]);

    let twin = dag.state_at(
        6_000,
        ALICE,
        "m.room.name",
        "",
        json!({"name": "twin"}),
        &[&alice_join, &promote_bob],
    );
    let sorted = power_sort(&dag, &[&twin, &early]);
    let mut by_id = vec![early, twin];
    by_id.sort();
    assert_eq!(sorted, by_id);
}

#[test]
fn auth_events_go_before_the_events_citing_them() {
    let (mut dag, promote_bob, bob_join) = room_with_moderator(RoomVersionId::V10);
    let alice_join = dag.alice_join.clone();
    // The parent would sort last on its own: weaker sender, later
    // timestamp. Being cited puts it first all the same.
    let by_bob = dag.state_at(
        9_000,
        BOB,
        "m.room.power_levels",
        "",
        dag.levels(&[(BOB, 50), (CAROL, 10)]),
        &[&bob_join, &promote_bob],
    );
    let by_alice = topic(&mut dag, 1_500, ALICE, &[&alice_join, &by_bob]);
    let sorted = power_sort(&dag, &[&by_alice, &by_bob]);
    assert_eq!(sorted, [by_bob, by_alice]);
}

#[test]
fn mainline_position_counts_from_the_resolved_power_levels() {
    let (mut dag, promote_bob, bob_join) = room_with_moderator(RoomVersionId::V10);
    let alice_join = dag.alice_join.clone();
    let initial = dag.power_levels.clone();
    let newest = dag.state(
        ALICE,
        "m.room.power_levels",
        "",
        dag.levels(&[(BOB, 60)]),
        &[&alice_join, &promote_bob],
    );
    // Off the mainline: a fork's power levels lead back onto it.
    let fork = dag.state(
        ALICE,
        "m.room.power_levels",
        "",
        dag.levels(&[(BOB, 70)]),
        &[&alice_join, &promote_bob],
    );
    let on_fork = topic(&mut dag, 8_000, ALICE, &[&alice_join, &fork]);

    let numbered = dag.numbered();
    let mainline = mainline::mainline_indices(Some(numbered.of(&newest)), &numbered.graph);
    let by_id: BTreeMap<EventId, usize> = mainline
        .iter()
        .map(|(&index, &position)| (numbered.id(index), position))
        .collect();
    assert_eq!(
        by_id,
        BTreeMap::from([(newest.clone(), 0), (promote_bob.clone(), 1), (initial, 2)])
    );
    let position = |id: &EventId| mainline::position(numbered.of(id), &mainline, &numbered.graph);
    // The event itself does not count, only the power levels it cites.
    assert_eq!(position(&newest), MainlinePosition::At(1));
    assert_eq!(position(&bob_join), MainlinePosition::At(1));
    assert_eq!(position(&dag.join_rules.clone()), MainlinePosition::At(2));
    assert_eq!(position(&alice_join), MainlinePosition::Unrelated);
    assert_eq!(position(&on_fork), MainlinePosition::At(1));
}

#[test]
fn mainline_ordering_puts_older_branches_first_then_timestamp_then_id() {
    let (mut dag, promote_bob, _) = room_with_moderator(RoomVersionId::V10);
    let alice_join = dag.alice_join.clone();
    let initial = dag.power_levels.clone();
    let old_branch = topic(&mut dag, 9_000, ALICE, &[&alice_join, &initial]);
    let new_early = topic(&mut dag, 5_000, ALICE, &[&alice_join, &promote_bob]);
    let new_late = topic(&mut dag, 6_000, ALICE, &[&alice_join, &promote_bob]);
    let unrelated = topic(&mut dag, 9_500, ALICE, &[&alice_join]);
    let sorted = mainline_sort(
        &dag,
        &[&new_late, &unrelated, &new_early, &old_branch],
        Some(&promote_bob),
    );
    assert_eq!(sorted, [unrelated, old_branch, new_early.clone(), new_late]);

    let twin = dag.state_at(
        5_000,
        ALICE,
        "m.room.name",
        "",
        json!({"name": "twin"}),
        &[&alice_join, &promote_bob],
    );
    let sorted = mainline_sort(&dag, &[&twin, &new_early], Some(&promote_bob));
    let mut by_id = vec![new_early, twin];
    by_id.sort();
    assert_eq!(sorted, by_id);
}

#[test]
fn without_resolved_power_levels_every_position_is_unrelated() {
    let (mut dag, promote_bob, _) = room_with_moderator(RoomVersionId::V10);
    let alice_join = dag.alice_join.clone();
    let late = topic(&mut dag, 6_000, ALICE, &[&alice_join, &promote_bob]);
    let early = topic(&mut dag, 5_000, ALICE, &[&alice_join]);
    let sorted = mainline_sort(&dag, &[&late, &early], None);
    assert_eq!(sorted, [early, late]);
}

/// `ids` in the reverse topological power ordering.
fn power_sort(dag: &Dag, ids: &[&EventId]) -> Vec<EventId> {
    let numbered = dag.numbered();
    let sorted = power_ordering::sort(&numbered.set(ids), dag.version, &numbered.graph).unwrap();
    numbered.ids(sorted)
}

/// `ids` in the mainline ordering against `power_levels`.
fn mainline_sort(dag: &Dag, ids: &[&EventId], power_levels: Option<&EventId>) -> Vec<EventId> {
    let numbered = dag.numbered();
    let power_levels = power_levels.map(|id| numbered.of(id));
    numbered.ids(mainline::sort(
        &numbered.set(ids),
        power_levels,
        &numbered.graph,
    ))
}
