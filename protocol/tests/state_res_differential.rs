//! Differential test of state resolution: Hanse's `state_res::resolve`
//! against ruma's (`ruma-state-res`, a dev-dependency), on
//!
//! 1. ruma's own fixtures (`tests/fixtures/ruma-state-res`, copied from the
//!    crate with their snapshots), MSC4297's problems A and B among them,
//!    rebuilt as real PDUs, resolved the ways ruma's harness resolves them;
//! 2. random rooms whose forks change power levels, join rules, members and
//!    the topic concurrently, in room versions 11 (v2) and 12 (v2.1).
//!
//! Every resolution must give the same state in both; a difference fails
//! the test with the whole DAG printed.

mod support;

use std::collections::{HashMap, HashSet};

use hanse_protocol::state_res::StateMap;
use hanse_protocol::{EventId, RoomVersionId};
use proptest::prelude::*;
use serde_json::{json, Value};

use support::{Fixture, NewEvent, Room};

// ---------------------------------------------------------------------------
// ruma's fixtures

/// ruma's `snapshot_test_state_maps!` cases: resolve the given state maps
/// once.
fn check_state_maps(name: &str, state_paths: &[&str], pdu_paths: &[&str]) {
    let fixture = Fixture::load(pdu_paths);
    let sets: Vec<StateMap> = state_paths.iter().map(|p| fixture.state_map(p)).collect();
    let resolved = fixture
        .room
        .resolve_both(&sets)
        .unwrap_or_else(|report| panic!("{name}: {report}"));
    let expected = fixture.snapshot(name);
    assert_eq!(
        resolved,
        expected,
        "{name}: both agree but not with ruma's snapshot {}",
        fixture.room.describe_state(&expected)
    );
}

/// ruma's `snapshot_test_batches!` cases: resolve every event of the
/// fixture files iteratively along `prev_events`, batch by batch, and all
/// at once, each resolution by both implementations.
fn check_batches(name: &str, pdu_paths: &[&str]) {
    let fixture = Fixture::load(pdu_paths);
    let room = &fixture.room;
    let resolve = |sets: &[StateMap]| {
        room.resolve_both(sets)
            .unwrap_or_else(|report| panic!("{name}: {report}"))
    };
    let single = |id: &EventId| StateMap::from([(room.key_of(id), id.clone())]);

    // Iteratively: the state after each event from the states after its
    // prev events, as a server computes it.
    let mut state_after: HashMap<EventId, StateMap> = HashMap::new();
    let mut cited: HashSet<EventId> = HashSet::new();
    for id in &room.order {
        let pdu = room.pdu(id);
        let before_sets: Vec<StateMap> = pdu
            .prev_events()
            .iter()
            .map(|prev| state_after[prev].clone())
            .collect();
        cited.extend(pdu.prev_events().iter().cloned());
        let before = resolve(&before_sets);
        let mut proposed = before.clone();
        proposed.insert(room.key_of(id), id.clone());
        let after = resolve(&[before, proposed]);
        state_after.insert(id.clone(), after);
    }
    let leaves: Vec<StateMap> = room
        .order
        .iter()
        .filter(|id| !cited.contains(*id))
        .map(|id| state_after[id].clone())
        .collect();
    let iterative = resolve(&leaves);

    // Batch by batch: the previous result and each event of the batch on
    // its own.
    let mut batched: Option<StateMap> = None;
    for batch in &fixture.batches {
        let mut sets: Vec<StateMap> = batched.into_iter().collect();
        sets.extend(batch.iter().map(single));
        batched = Some(resolve(&sets));
    }
    let batched = batched.expect("at least one batch");

    // At once: every event on its own.
    let sets: Vec<StateMap> = room.order.iter().map(single).collect();
    let atomic = resolve(&sets);

    let expected = fixture.snapshot(name);
    for (mode, state) in [
        ("iterative", &iterative),
        ("batched", &batched),
        ("atomic", &atomic),
    ] {
        assert_eq!(
            state,
            &expected,
            "{name} ({mode}): {} but ruma's snapshot has {}",
            room.describe_state(state),
            room.describe_state(&expected)
        );
    }
}

#[test]
fn ruma_minimal_private_chat() {
    check_batches("minimal_private_chat", &["bootstrap-private-chat.json"]);
}

#[test]
fn ruma_minimal_public_chat() {
    check_batches("minimal_public_chat", &["bootstrap-public-chat.json"]);
}

#[test]
fn ruma_origin_server_ts_tiebreak() {
    check_batches(
        "origin_server_ts_tiebreak",
        &[
            "bootstrap-private-chat.json",
            "origin-server-ts-tiebreak.json",
        ],
    );
}

#[test]
fn ruma_msc4297_problem_a_state_res_v2_0() {
    check_state_maps(
        "msc4297_problem_a_state_res_v2_0",
        &[
            "MSC4297-problem-A/state-bob.json",
            "MSC4297-problem-A/state-charlie.json",
        ],
        &["MSC4297-problem-A/pdus-v11.json"],
    );
}

#[test]
fn ruma_msc4297_problem_a_state_res_v2_1() {
    check_state_maps(
        "msc4297_problem_a_state_res_v2_1",
        &[
            "MSC4297-problem-A/state-bob.json",
            "MSC4297-problem-A/state-charlie.json",
        ],
        &["MSC4297-problem-A/pdus-v12.json"],
    );
}

#[test]
fn ruma_msc4297_problem_b_state_res_v2_0() {
    check_state_maps(
        "msc4297_problem_b_state_res_v2_0",
        &[
            "MSC4297-problem-B/state-eve.json",
            "MSC4297-problem-B/state-zara.json",
        ],
        &["MSC4297-problem-B/pdus-v11.json"],
    );
}

#[test]
fn ruma_msc4297_problem_b_state_res_v2_1() {
    check_state_maps(
        "msc4297_problem_b_state_res_v2_1",
        &[
            "MSC4297-problem-B/state-eve.json",
            "MSC4297-problem-B/state-zara.json",
        ],
        &["MSC4297-problem-B/pdus-v12.json"],
    );
}

#[test]
fn ruma_ban_vs_power_levels() {
    check_batches(
        "ban_vs_power_levels",
        &[
            "bootstrap-public-chat.json",
            "ban-vs-power-levels-alice.json",
            "ban-vs-power-levels-bob.json",
        ],
    );
}

#[test]
fn ruma_topic_vs_power_levels() {
    check_batches(
        "topic_vs_power_levels",
        &[
            "bootstrap-public-chat.json",
            "topic-vs-power-levels-alice.json",
            "topic-vs-power-levels-bob.json",
        ],
    );
}

#[test]
fn ruma_power_levels_admin_vs_mod() {
    check_batches(
        "power_levels_admin_vs_mod",
        &[
            "bootstrap-public-chat.json",
            "power-levels-admin-vs-mod-alice.json",
            "power-levels-admin-vs-mod-bob.json",
        ],
    );
}

#[test]
fn ruma_topic_vs_ban() {
    check_batches(
        "topic_vs_ban",
        &[
            "bootstrap-public-chat.json",
            "topic-vs-ban-common.json",
            "topic-vs-ban-alice.json",
            "topic-vs-ban-bob.json",
        ],
    );
}

#[test]
fn ruma_join_rules_vs_join() {
    check_batches(
        "join_rules_vs_join",
        &[
            "bootstrap-public-chat.json",
            "join-rules-vs-join-common.json",
            "join-rules-vs-join-alice.json",
            "join-rules-vs-join-ella.json",
        ],
    );
}

#[test]
fn ruma_concurrent_joins() {
    check_batches(
        "concurrent_joins",
        &[
            "bootstrap-public-chat.json",
            "concurrent-joins-charlie.json",
            "concurrent-joins-ella.json",
        ],
    );
}

// ---------------------------------------------------------------------------
// Random conflicting forks

/// The users of the random rooms; Alice creates them.
const USERS: [&str; 5] = [
    "@alice:a.example",
    "@bob:b.example",
    "@carol:c.example",
    "@dave:a.example",
    "@eve:e.example",
];

/// Power levels a random power levels event may give.
const LEVELS: [i64; 5] = [0, 25, 50, 75, 100];

/// What a random event does.
#[derive(Debug, Clone)]
enum Kind {
    PowerLevels { users: [u8; 4], ban: u8, topic: u8 },
    JoinRules { public: bool },
    Join,
    Leave,
    Kick { target: u8 },
    Ban { target: u8 },
    Unban { target: u8 },
    Topic,
}

/// One step of a random room's history.
#[derive(Debug, Clone)]
enum Op {
    /// A new fork from the state of fork `from`.
    Branch { from: u8 },
    /// Fork `into` takes the resolution of its state and `with`'s.
    Merge { into: u8, with: u8 },
    /// `sender` sends an event on `fork` at timestamp 2000 + `ts`; it is
    /// dropped if the rules do not allow it there.
    Act {
        fork: u8,
        sender: u8,
        kind: Kind,
        ts: u8,
    },
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        3 => (any::<[u8; 4]>(), any::<u8>(), any::<u8>())
            .prop_map(|(users, ban, topic)| Kind::PowerLevels { users, ban, topic }),
        1 => any::<bool>().prop_map(|public| Kind::JoinRules { public }),
        2 => Just(Kind::Join),
        1 => Just(Kind::Leave),
        1 => any::<u8>().prop_map(|target| Kind::Kick { target }),
        2 => any::<u8>().prop_map(|target| Kind::Ban { target }),
        1 => any::<u8>().prop_map(|target| Kind::Unban { target }),
        2 => Just(Kind::Topic),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => any::<u8>().prop_map(|from| Op::Branch { from }),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(into, with)| Op::Merge { into, with }),
        8 => (any::<u8>(), any::<u8>(), kind(), 0..40u8)
            .prop_map(|(fork, sender, kind, ts)| Op::Act { fork, sender, kind, ts }),
    ]
}

/// A random room under construction: its DAG and the state of each fork.
struct RandomRoom {
    room: Room,
    forks: Vec<StateMap>,
    /// The latest event of each fork, its next event's prev event.
    heads: Vec<EventId>,
    clock: i64,
}

impl RandomRoom {
    /// Alice creates the room, sets power levels (Bob at 50), makes it
    /// public; Bob, Carol and Dave join. Two forks start from there.
    fn new(version: RoomVersionId) -> Self {
        let mut room = RandomRoom {
            room: Room::new(version, "!random:a.example"),
            forks: vec![StateMap::new()],
            heads: Vec::new(),
            clock: 1_000,
        };
        let create = NewEvent {
            name: "create".to_owned(),
            sender: USERS[0].to_owned(),
            event_type: "m.room.create".to_owned(),
            state_key: Some(String::new()),
            content: json!({"room_version": version.as_str(), "creator": USERS[0]}),
            auth_events: vec![],
            prev_events: vec![],
            origin_server_ts: 1_000,
            rejected: false,
            nonce: 0,
        };
        let create = room.room.add(create);
        room.forks[0].insert(room.room.key_of(&create), create.clone());
        room.heads.push(create);
        let joined = |room: &mut RandomRoom, user: usize, name: &str| {
            let ts = room.tick();
            let id = room.act(
                0,
                user,
                "m.room.member",
                Some(USERS[user]),
                json!({"membership": "join"}),
                ts,
                name,
            );
            assert!(id.is_some(), "{name} is allowed");
        };
        joined(&mut room, 0, "alice-join");
        let ts = room.tick();
        let levels = room.levels(&[(USERS[1], 50)], None, None);
        assert!(room
            .act(0, 0, "m.room.power_levels", Some(""), levels, ts, "pl-base")
            .is_some());
        let ts = room.tick();
        assert!(room
            .act(
                0,
                0,
                "m.room.join_rules",
                Some(""),
                json!({"join_rule": "public"}),
                ts,
                "jr-base"
            )
            .is_some());
        joined(&mut room, 1, "bob-join");
        joined(&mut room, 2, "carol-join");
        joined(&mut room, 3, "dave-join");
        room.forks.push(room.forks[0].clone());
        room.heads.push(room.heads[0].clone());
        room
    }

    fn tick(&mut self) -> i64 {
        self.clock += 1;
        self.clock
    }

    /// Power levels content: `users` at their levels, Alice at 100 unless
    /// she is a creator (version 12 forbids listing her).
    fn levels(&self, users: &[(&str, i64)], ban: Option<i64>, topic: Option<i64>) -> Value {
        let mut map = serde_json::Map::new();
        if !self.room.rules.additional_creators {
            map.insert(USERS[0].to_owned(), 100.into());
        }
        for (user, level) in users {
            if *level != 0 {
                map.insert((*user).to_owned(), (*level).into());
            }
        }
        let mut content = json!({"users": map});
        if let Some(ban) = ban {
            content["ban"] = ban.into();
        }
        if let Some(topic) = topic {
            content["events"] = json!({"m.room.topic": topic});
        }
        content
    }

    /// Sends an event on `fork` if the rules allow it against the fork's
    /// state; returns its ID if so.
    #[allow(clippy::too_many_arguments)]
    fn act(
        &mut self,
        fork: usize,
        sender: usize,
        event_type: &str,
        state_key: Option<&str>,
        content: Value,
        ts: i64,
        name: &str,
    ) -> Option<EventId> {
        let state = &self.forks[fork];
        let auth_events =
            self.room
                .auth_events_for(state, event_type, state_key, USERS[sender], &content);
        let event = NewEvent {
            name: format!("{}#{}", name, self.room.order.len()),
            sender: USERS[sender].to_owned(),
            event_type: event_type.to_owned(),
            state_key: state_key.map(str::to_owned),
            content,
            auth_events,
            prev_events: vec![self.heads[fork].clone()],
            origin_server_ts: ts,
            rejected: false,
            nonce: 0,
        };
        let pdu = self.room.build(&event);
        if !self.room.allowed_in(&pdu, state) {
            return None;
        }
        let id = self.room.insert(&event, pdu);
        self.forks[fork].insert(self.room.key_of(&id), id.clone());
        self.heads[fork] = id.clone();
        Some(id)
    }

    /// Applies `op`; a merge whose resolutions differ is an error.
    fn apply(&mut self, op: &Op) -> Result<(), String> {
        let forks = self.forks.len();
        match *op {
            Op::Branch { from } => {
                if forks < 4 {
                    let from = usize::from(from) % forks;
                    self.forks.push(self.forks[from].clone());
                    self.heads.push(self.heads[from].clone());
                }
            }
            Op::Merge { into, with } => {
                let (into, with) = (usize::from(into) % forks, usize::from(with) % forks);
                if into != with {
                    let sets = [self.forks[into].clone(), self.forks[with].clone()];
                    self.forks[into] = self.room.resolve_both(&sets)?;
                }
            }
            Op::Act {
                fork,
                sender,
                ref kind,
                ts,
            } => {
                let fork = usize::from(fork) % forks;
                let sender = usize::from(sender) % USERS.len();
                let ts = 2_000 + i64::from(ts);
                let member = |membership: &str| json!({"membership": membership});
                let target = |t: u8| USERS[usize::from(t) % USERS.len()];
                match kind {
                    Kind::PowerLevels { users, ban, topic } => {
                        let users: Vec<(&str, i64)> = users
                            .iter()
                            .enumerate()
                            .map(|(i, l)| (USERS[i + 1], LEVELS[usize::from(*l) % LEVELS.len()]))
                            .collect();
                        let ban = Some(LEVELS[usize::from(*ban) % 3 + 2]);
                        let topic = (*topic % 2 == 0).then_some(LEVELS[usize::from(*topic) % 5]);
                        let content = self.levels(&users, ban, topic);
                        self.act(
                            fork,
                            sender,
                            "m.room.power_levels",
                            Some(""),
                            content,
                            ts,
                            "pl",
                        );
                    }
                    Kind::JoinRules { public } => {
                        let rule = if *public { "public" } else { "invite" };
                        let content = json!({"join_rule": rule});
                        self.act(
                            fork,
                            sender,
                            "m.room.join_rules",
                            Some(""),
                            content,
                            ts,
                            rule,
                        );
                    }
                    Kind::Join => {
                        let user = USERS[sender];
                        self.act(
                            fork,
                            sender,
                            "m.room.member",
                            Some(user),
                            member("join"),
                            ts,
                            "join",
                        );
                    }
                    Kind::Leave => {
                        let user = USERS[sender];
                        self.act(
                            fork,
                            sender,
                            "m.room.member",
                            Some(user),
                            member("leave"),
                            ts,
                            "leave",
                        );
                    }
                    Kind::Kick { target: t } => {
                        let t = target(*t);
                        self.act(
                            fork,
                            sender,
                            "m.room.member",
                            Some(t),
                            member("leave"),
                            ts,
                            "kick",
                        );
                    }
                    Kind::Ban { target: t } => {
                        let t = target(*t);
                        self.act(
                            fork,
                            sender,
                            "m.room.member",
                            Some(t),
                            member("ban"),
                            ts,
                            "ban",
                        );
                    }
                    Kind::Unban { target: t } => {
                        let t = target(*t);
                        self.act(
                            fork,
                            sender,
                            "m.room.member",
                            Some(t),
                            member("leave"),
                            ts,
                            "unban",
                        );
                    }
                    Kind::Topic => {
                        let content = json!({"topic": format!("topic {}", self.room.order.len())});
                        self.act(fork, sender, "m.room.topic", Some(""), content, ts, "topic");
                    }
                }
            }
        }
        Ok(())
    }
}

/// Builds a random room from `ops` and resolves its forks' states with
/// both implementations (merges along the way included).
fn check_random(version: RoomVersionId, ops: &[Op]) -> Result<(), String> {
    let mut room = RandomRoom::new(version);
    for op in ops {
        room.apply(op)?;
    }
    room.room.resolve_both(&room.forks).map(|_| ())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_forks_resolve_alike_v2(ops in prop::collection::vec(op(), 1..40)) {
        if let Err(report) = check_random(RoomVersionId::V11, &ops) {
            prop_assert!(false, "{}", report);
        }
    }

    #[test]
    fn random_forks_resolve_alike_v2_1(ops in prop::collection::vec(op(), 1..40)) {
        if let Err(report) = check_random(RoomVersionId::V12, &ops) {
            prop_assert!(false, "{}", report);
        }
    }
}

// ---------------------------------------------------------------------------
// Where Hanse and ruma part: the enlargement of the power events (step 1)

/// Step 1 enlarges the power events with "the events in the auth chain of
/// P which also belong to the full conflicted set". Hanse takes the whole
/// auth chain; ruma (like Synapse) only follows `auth_events` edges
/// *between* events of the full conflicted set, so it misses a conflicted
/// event that P reaches only through an event outside the set.
///
/// Carol joins (J1, timestamp 100), renames herself (J2, citing J1, at 50)
/// and again (J3, citing J2, at 60); as a moderator she kicks Dave (P,
/// citing J2). One fork holds J1 and the kick, the other J3 and Dave's
/// join. J2 is in both forks' auth chains and neither state, so it is not
/// in the full conflicted set; J1 is (conflicted with J3) and is in P's
/// auth chain. By the text J1 joins the power events and is replayed in
/// step 2, before J3 in step 4: Carol ends at J3. ruma replays J1 with J3
/// in step 4, by timestamp after it: Carol ends at J1.
///
/// In room version 12 the conflicted state subgraph puts J2 in the full
/// conflicted set, and the two agree again.
#[test]
fn power_event_enlargement_follows_the_whole_auth_chain() {
    let (alice, carol, dave) = (USERS[0], USERS[2], USERS[3]);
    for version in [RoomVersionId::V11, RoomVersionId::V12] {
        let mut room = Room::new(version, "!enlarge:a.example");
        let mut state = StateMap::new();
        let send = |room: &mut Room,
                    state: &mut StateMap,
                    name: &str,
                    sender: &str,
                    event_type: &str,
                    state_key: &str,
                    content: Value,
                    ts: i64,
                    extra_auth: &[&EventId]|
         -> EventId {
            let mut auth_events =
                room.auth_events_for(state, event_type, Some(state_key), sender, &content);
            auth_events.extend(extra_auth.iter().map(|id| (*id).clone()));
            let id = room.add(NewEvent {
                name: name.to_owned(),
                sender: sender.to_owned(),
                event_type: event_type.to_owned(),
                state_key: Some(state_key.to_owned()),
                content,
                auth_events,
                prev_events: vec![],
                origin_server_ts: ts,
                rejected: false,
                nonce: 0,
            });
            state.insert(room.key_of(&id), id.clone());
            id
        };
        let join = json!({"membership": "join"});
        let creator = json!({"room_version": version.as_str(), "creator": alice});
        send(
            &mut room,
            &mut state,
            "create",
            alice,
            "m.room.create",
            "",
            creator,
            1,
            &[],
        );
        send(
            &mut room,
            &mut state,
            "alice",
            alice,
            "m.room.member",
            alice,
            join.clone(),
            2,
            &[],
        );
        let mut users = serde_json::Map::new();
        if !room.rules.additional_creators {
            users.insert(alice.to_owned(), 100.into());
        }
        send(
            &mut room,
            &mut state,
            "pl0",
            alice,
            "m.room.power_levels",
            "",
            json!({"users": users}),
            3,
            &[],
        );
        let public = json!({"join_rule": "public"});
        send(
            &mut room,
            &mut state,
            "jr",
            alice,
            "m.room.join_rules",
            "",
            public,
            4,
            &[],
        );
        users.insert(carol.to_owned(), 50.into());
        send(
            &mut room,
            &mut state,
            "pl1",
            alice,
            "m.room.power_levels",
            "",
            json!({"users": users}),
            5,
            &[],
        );
        let d = send(
            &mut room,
            &mut state,
            "D",
            dave,
            "m.room.member",
            dave,
            join.clone(),
            6,
            &[],
        );
        let base = state.clone();
        let j1 = send(
            &mut room,
            &mut state,
            "J1",
            carol,
            "m.room.member",
            carol,
            join.clone(),
            100,
            &[],
        );
        let rename = |name: &str| json!({"membership": "join", "displayname": name});
        let j2 = send(
            &mut room,
            &mut state,
            "J2",
            carol,
            "m.room.member",
            carol,
            rename("c2"),
            50,
            &[],
        );
        let at_j2 = state.clone();
        let j3 = send(
            &mut room,
            &mut state,
            "J3",
            carol,
            "m.room.member",
            carol,
            rename("c3"),
            60,
            &[],
        );
        let mut kick_state = at_j2;
        let kick = json!({"membership": "leave"});
        let p = send(
            &mut room,
            &mut kick_state,
            "P",
            carol,
            "m.room.member",
            dave,
            kick,
            70,
            &[],
        );
        assert!(
            room.pdu(&p).auth_events().contains(&j2),
            "the kick cites J2"
        );

        let mut fork_1 = base.clone();
        fork_1.insert(room.key_of(&j1), j1.clone());
        fork_1.insert(room.key_of(&p), p.clone());
        let mut fork_2 = base;
        fork_2.insert(room.key_of(&j3), j3.clone());
        fork_2.insert(room.key_of(&d), d.clone());
        let sets = [fork_1, fork_2];

        let hanse = room.resolve_hanse(&sets).expect("Hanse resolves");
        let ruma = room.resolve_ruma(&sets).expect("ruma resolves");
        let carol_key = room.key_of(&j1);
        assert_eq!(
            hanse.get(&carol_key),
            Some(&j3),
            "{version}: the text's reading"
        );
        assert_eq!(hanse.get(&room.key_of(&p)), Some(&p), "{version}");
        match version {
            RoomVersionId::V12 => assert_eq!(hanse, ruma, "{version}: v2.1 agrees"),
            _ => assert_eq!(
                ruma.get(&carol_key),
                Some(&j1),
                "{version}: ruma no longer differs here; see ARCHITECTURE.md\n{}",
                room.describe(&sets, &Ok(hanse.clone()), &Ok(ruma.clone()))
            ),
        }
    }
}
