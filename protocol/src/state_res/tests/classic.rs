//! The classic conflicts state resolution v2 was designed for, in every
//! tested room version: each fork's state is built explicitly and the
//! resolution must pick the outcome the algorithm's authors intended.

use serde_json::json;

use super::{key, Dag, ALICE, BOB, CAROL};
use crate::identifiers::EventId;
use crate::room_versions::RoomVersionId;
use crate::state_res::StateMap;

/// Room versions with hash-based event IDs whose resolution differs: v2
/// with the first hash format, v2 with the current one, and v2.1.
pub(super) const VERSIONS: [RoomVersionId; 3] =
    [RoomVersionId::V3, RoomVersionId::V10, RoomVersionId::V12];

/// A resolution scenario: the graph, the forks' states and the winners.
pub(super) struct Scenario {
    pub(super) dag: Dag,
    pub(super) state_sets: Vec<StateMap>,
    pub(super) power_levels: EventId,
    pub(super) carol_membership: Option<EventId>,
}

/// Alice made Bob a moderator and Carol joined. Then, concurrently, Alice
/// demoted Bob and Bob (earlier) banned Carol. Alice outranks Bob, so her
/// demotion is replayed first and the ban is no longer allowed.
pub(super) fn ban_vs_power_levels(version: RoomVersionId) -> Scenario {
    let mut dag = Dag::new(version);
    let (alice_join, join_rules) = (dag.alice_join.clone(), dag.join_rules.clone());
    let (promote_bob, bob_join) = dag.promote_and_join_bob();
    let carol_join = dag.member(CAROL, CAROL, "join", &[&promote_bob, &join_rules]);
    let ban = dag.member(BOB, CAROL, "ban", &[&promote_bob, &bob_join, &carol_join]);
    let demote_bob = dag.state(
        ALICE,
        "m.room.power_levels",
        "",
        dag.levels(&[]),
        &[&alice_join, &promote_bob],
    );
    let state_sets = vec![
        dag.base_with(&[&demote_bob, &bob_join, &carol_join]),
        dag.base_with(&[&promote_bob, &bob_join, &ban]),
        dag.base_with(&[&promote_bob, &bob_join, &carol_join]),
    ];
    Scenario {
        dag,
        state_sets,
        power_levels: demote_bob,
        carol_membership: Some(carol_join),
    }
}

#[test]
fn ban_loses_to_concurrent_demotion_of_the_banner() {
    for version in VERSIONS {
        let scenario = ban_vs_power_levels(version);
        let resolved = scenario.dag.resolve(&scenario.state_sets);
        assert_eq!(
            resolved.get(&key("m.room.power_levels", "")),
            Some(&scenario.power_levels),
            "{version}"
        );
        assert_eq!(
            resolved.get(&key("m.room.member", CAROL)),
            scenario.carol_membership.as_ref(),
            "{version}"
        );
    }
}

/// Bob, a moderator, changed the topic while Alice demoted him. The topic
/// falls back to Alice's earlier one rather than to Bob's.
#[test]
fn topic_by_concurrently_demoted_user_is_reset() {
    for version in VERSIONS {
        let mut dag = Dag::new(version);
        let alice_join = dag.alice_join.clone();
        let (promote_bob, bob_join) = dag.promote_and_join_bob();
        let alice_topic = dag.state(
            ALICE,
            "m.room.topic",
            "",
            json!({"topic": "Alice's"}),
            &[&alice_join, &promote_bob],
        );
        let bob_topic = dag.state(
            BOB,
            "m.room.topic",
            "",
            json!({"topic": "Bob's"}),
            &[&bob_join, &promote_bob],
        );
        let demote_bob = dag.state(
            ALICE,
            "m.room.power_levels",
            "",
            dag.levels(&[]),
            &[&alice_join, &promote_bob],
        );
        let resolved = dag.resolve(&[
            dag.base_with(&[&promote_bob, &bob_join, &bob_topic]),
            dag.base_with(&[&demote_bob, &bob_join, &alice_topic]),
        ]);
        assert_eq!(
            resolved.get(&key("m.room.topic", "")),
            Some(&alice_topic),
            "{version}"
        );
        assert_eq!(
            resolved.get(&key("m.room.power_levels", "")),
            Some(&demote_bob),
            "{version}"
        );
    }
}

/// Carol joined the public room just as (though slightly before) Alice made
/// it invite-only. The join rule change is a power event, resolved first,
/// and the join is then not allowed.
#[test]
fn join_concurrent_with_closing_the_room_is_dropped() {
    for version in VERSIONS {
        let mut dag = Dag::new(version);
        let carol_join = dag.join(CAROL);
        let invite_only = dag.state(
            ALICE,
            "m.room.join_rules",
            "",
            json!({"join_rule": "invite"}),
            &[&dag.alice_join.clone(), &dag.power_levels.clone()],
        );
        let resolved = dag.resolve(&[
            dag.base_with(&[&invite_only]),
            dag.base_with(&[&carol_join]),
        ]);
        assert_eq!(
            resolved.get(&key("m.room.join_rules", "")),
            Some(&invite_only),
            "{version}"
        );
        assert_eq!(
            resolved.get(&key("m.room.member", CAROL)),
            None,
            "{version}"
        );
    }
}

/// Power levels that went Alice → Bob → Carol on one fork, while the other
/// fork still has Alice's: the chain is replayed in order and Carol's,
/// the last, stands, though none of it is Alice's doing.
#[test]
fn chain_of_power_levels_by_others_is_replayed_in_order() {
    for version in VERSIONS {
        let mut dag = Dag::new(version);
        let join_rules = dag.join_rules.clone();
        let by_alice = dag.state(
            ALICE,
            "m.room.power_levels",
            "",
            dag.levels(&[(BOB, 50)]),
            &[&dag.alice_join.clone(), &dag.power_levels.clone()],
        );
        let bob_join = dag.member(BOB, BOB, "join", &[&by_alice, &join_rules]);
        let carol_join = dag.member(CAROL, CAROL, "join", &[&by_alice, &join_rules]);
        let by_bob = dag.state(
            BOB,
            "m.room.power_levels",
            "",
            dag.levels(&[(BOB, 50), (CAROL, 50)]),
            &[&bob_join, &by_alice],
        );
        let by_carol = dag.state(
            CAROL,
            "m.room.power_levels",
            "",
            dag.levels(&[(BOB, 50), (CAROL, 0)]),
            &[&carol_join, &by_bob],
        );
        let resolved = dag.resolve(&[
            dag.base_with(&[&by_alice, &bob_join, &carol_join]),
            dag.base_with(&[&by_carol, &bob_join, &carol_join]),
        ]);
        assert_eq!(
            resolved.get(&key("m.room.power_levels", "")),
            Some(&by_carol),
            "{version}"
        );
    }
}

/// Two topics at different points of the power levels' history: the one
/// citing the newer power levels is replayed last and wins, although it
/// has the earlier timestamp.
#[test]
fn topic_citing_newer_power_levels_wins() {
    for version in VERSIONS {
        let mut dag = Dag::new(version);
        let alice_join = dag.alice_join.clone();
        let older = dag.state(
            ALICE,
            "m.room.power_levels",
            "",
            dag.levels(&[(BOB, 50)]),
            &[&alice_join, &dag.power_levels.clone()],
        );
        let newer = dag.state(
            ALICE,
            "m.room.power_levels",
            "",
            dag.levels(&[(BOB, 50), (CAROL, 10)]),
            &[&alice_join, &older],
        );
        let newer_topic = dag.state_at(
            2_000,
            ALICE,
            "m.room.topic",
            "",
            json!({"topic": "new"}),
            &[&alice_join, &newer],
        );
        let older_topic = dag.state_at(
            3_000,
            ALICE,
            "m.room.topic",
            "",
            json!({"topic": "old"}),
            &[&alice_join, &older],
        );
        let resolved = dag.resolve(&[
            dag.base_with(&[&newer, &newer_topic]),
            dag.base_with(&[&newer, &older_topic]),
        ]);
        assert_eq!(
            resolved.get(&key("m.room.topic", "")),
            Some(&newer_topic),
            "{version}"
        );
    }
}

/// A single state set, or identical ones, resolve to themselves.
#[test]
fn agreeing_states_resolve_to_themselves() {
    for version in VERSIONS {
        let mut dag = Dag::new(version);
        let bob_join = dag.join(BOB);
        let state = dag.base_with(&[&bob_join]);
        assert_eq!(
            dag.resolve(std::slice::from_ref(&state)),
            state,
            "{version}"
        );
        assert_eq!(
            dag.resolve(&[state.clone(), state.clone()]),
            state,
            "{version}"
        );
        assert_eq!(dag.resolve(&[]), StateMap::new(), "{version}");
    }
}
