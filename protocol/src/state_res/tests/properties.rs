//! Properties over random forks: the resolution does not depend on the
//! order of the state sets, and keeps what they all agree on.

use std::collections::BTreeMap;

use proptest::prelude::*;
use serde_json::{json, Value};

use super::classic::VERSIONS;
use super::{Dag, ALICE, BOB, CAROL};
use crate::auth::{auth_types_for_event, authorize};
use crate::identifiers::UserId;
use crate::room_versions::RoomVersionId;
use crate::state_res::StateMap;

const USERS: [&str; 3] = [ALICE, BOB, CAROL];

/// Something a user does on a fork; users are indices into [`USERS`].
#[derive(Debug, Clone)]
enum Action {
    Topic {
        sender: usize,
    },
    SetLevel {
        sender: usize,
        target: usize,
        level: i64,
    },
    Ban {
        sender: usize,
        target: usize,
    },
    Join {
        user: usize,
    },
    Leave {
        user: usize,
    },
    JoinRule {
        sender: usize,
        public: bool,
    },
}

fn action() -> impl Strategy<Value = Action> {
    let user = 0..USERS.len();
    prop_oneof![
        user.clone().prop_map(|sender| Action::Topic { sender }),
        (
            user.clone(),
            1..USERS.len(),
            prop::sample::select(vec![0, 50])
        )
            .prop_map(|(sender, target, level)| Action::SetLevel {
                sender,
                target,
                level
            }),
        (user.clone(), 1..USERS.len()).prop_map(|(sender, target)| Action::Ban { sender, target }),
        user.clone().prop_map(|user| Action::Join { user }),
        user.clone().prop_map(|user| Action::Leave { user }),
        (user, any::<bool>()).prop_map(|(sender, public)| Action::JoinRule { sender, public }),
    ]
}

/// The event an action sends: sender, type, state key and content. Power
/// levels are read from `levels`, the fork's current users' levels.
fn event_for(
    dag: &Dag,
    action: &Action,
    levels: &mut BTreeMap<&'static str, i64>,
) -> (&'static str, &'static str, &'static str, Value) {
    match *action {
        Action::Topic { sender } => (USERS[sender], "m.room.topic", "", json!({"topic": sender})),
        Action::SetLevel {
            sender,
            target,
            level,
        } => {
            levels.insert(USERS[target], level);
            let users: Vec<(&str, i64)> = levels.iter().map(|(u, l)| (*u, *l)).collect();
            (USERS[sender], "m.room.power_levels", "", dag.levels(&users))
        }
        Action::Ban { sender, target } => (
            USERS[sender],
            "m.room.member",
            USERS[target],
            json!({"membership": "ban"}),
        ),
        Action::Join { user } => (
            USERS[user],
            "m.room.member",
            USERS[user],
            json!({"membership": "join"}),
        ),
        Action::Leave { user } => (
            USERS[user],
            "m.room.member",
            USERS[user],
            json!({"membership": "leave"}),
        ),
        Action::JoinRule { sender, public } => (
            USERS[sender],
            "m.room.join_rules",
            "",
            json!({"join_rule": if public { "public" } else { "invite" }}),
        ),
    }
}

/// Plays `actions` on top of `state`, each citing the auth events the
/// selection algorithm names and entering the fork's state only if allowed
/// there, as an honest server would do.
fn play_fork(dag: &mut Dag, mut state: StateMap, actions: &[(Action, i64)]) -> StateMap {
    let mut levels = BTreeMap::from([(BOB, 50)]);
    for (action, ts) in actions {
        let (sender, event_type, state_key, content) = event_for(dag, action, &mut levels);
        let sender_id = UserId::parse(sender).unwrap();
        let cited: Vec<_> = auth_types_for_event(
            event_type,
            Some(state_key),
            &sender_id,
            crate::canonical_json::object_from_json(content.clone())
                .as_ref()
                .unwrap(),
            dag.version,
        )
        .into_iter()
        .filter(|key| key.0 != "m.room.create")
        .filter_map(|key| state.get(&key).cloned())
        .collect();
        let cited: Vec<_> = cited.iter().collect();
        let id = dag.state_at(2_000 + ts, sender, event_type, state_key, content, &cited);
        let pdus: BTreeMap<_, _> = state
            .iter()
            .map(|(key, id)| (key.clone(), dag.events[id].clone()))
            .collect();
        if authorize(&dag.events[&id], dag.version, &pdus).is_ok() {
            state.insert((event_type.to_owned(), state_key.to_owned()), id);
        }
    }
    state
}

/// A room where Bob (a moderator) and Carol have joined, and the states of
/// three forks of it.
fn forks(version: RoomVersionId, actions: &[Vec<(Action, i64)>]) -> (Dag, Vec<StateMap>) {
    let mut dag = Dag::new(version);
    let join_rules = dag.join_rules.clone();
    let (promote_bob, bob_join) = dag.promote_and_join_bob();
    let carol_join = dag.member(CAROL, CAROL, "join", &[&promote_bob, &join_rules]);
    let base = dag.base_with(&[&promote_bob, &bob_join, &carol_join]);
    let states = actions
        .iter()
        .map(|fork| play_fork(&mut dag, base.clone(), fork))
        .collect();
    (dag, states)
}

fn fork_actions() -> impl Strategy<Value = Vec<(Action, i64)>> {
    // Few distinct timestamps, so that the event ID tie-break matters.
    prop::collection::vec((action(), 0..3i64), 1..5)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn resolution_ignores_the_order_of_the_state_sets(
        version in prop::sample::select(VERSIONS.to_vec()),
        actions in prop::collection::vec(fork_actions(), 3),
        order in Just(vec![0, 1, 2]).prop_shuffle(),
    ) {
        let (dag, states) = forks(version, &actions);
        let reordered: Vec<StateMap> = order.iter().map(|&i| states[i].clone()).collect();
        prop_assert_eq!(dag.resolve(&states), dag.resolve(&reordered));
    }

    #[test]
    fn resolution_keeps_what_every_state_set_agrees_on(
        version in prop::sample::select(VERSIONS.to_vec()),
        actions in prop::collection::vec(fork_actions(), 3),
    ) {
        let (dag, states) = forks(version, &actions);
        let resolved = dag.resolve(&states);
        for (key, id) in &states[0] {
            if states.iter().all(|state| state.get(key) == Some(id)) {
                prop_assert_eq!(resolved.get(key), Some(id));
            }
        }
    }
}
