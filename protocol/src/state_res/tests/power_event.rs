//! Which events count as power events.

use serde_json::json;

use super::{Dag, ALICE, BOB};
use crate::room_versions::RoomVersionId;
use crate::state_res::power_event::is_power_event;

#[test]
fn power_events_are_power_levels_join_rules_kicks_and_bans() {
    let mut dag = Dag::new(RoomVersionId::V10);
    let (alice_join, power_levels) = (dag.alice_join.clone(), dag.power_levels.clone());
    let bob_join = dag.join(BOB);
    let auth = [&alice_join, &power_levels, &bob_join];
    let cases = [
        (dag.power_levels.clone(), true),
        (dag.join_rules.clone(), true),
        (dag.member(ALICE, BOB, "leave", &auth), true),
        (dag.member(ALICE, BOB, "ban", &auth), true),
        (dag.member(BOB, BOB, "leave", &auth), false),
        (dag.member(ALICE, BOB, "invite", &auth), false),
        (bob_join.clone(), false),
        (
            dag.state(ALICE, "m.room.topic", "", json!({"topic": "t"}), &auth),
            false,
        ),
        (dag.create.clone(), false),
    ];
    for (id, expected) in cases {
        let pdu = &dag.events[&id];
        assert_eq!(is_power_event(pdu), expected, "{pdu:?}");
    }
}
