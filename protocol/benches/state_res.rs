//! State resolution of two conflicting states of a 10,000-member room, by
//! Hanse and by ruma (`ruma-state-res`) in the same run.
//!
//! `cargo bench -p hanse-protocol --bench state_res`
//!
//! The room: Alice creates it, makes it public, 10,000 users join. Then two
//! forks: on one Alice makes Bob a moderator and he bans 50 users while 100
//! others leave and the topic changes; on the other Alice makes Carol a
//! moderator, she kicks 50 other users, 100 users change their display
//! name, the room becomes invite-only and the topic changes too.
//!
//! Each implementation is timed on the inputs it takes, prepared
//! beforehand:
//! - `hanse`: [`resolve_numbered`] on an [`EventGraph`] of the room's
//!   events, states keyed by interned numbers: the form a server can keep
//!   beside its events, as ruma's callers keep auth chains (Hanse's store
//!   numbers events and interns state keys already; it builds the graph per
//!   resolution today). Numbering is timed on its own (`hanse/numbering`).
//! - `hanse/by_event_id`: `resolve`, which numbers the events it is given
//!   by ID each time, then does the same.
//! - `ruma/given_auth_chains`: ruma's `resolve` given the full auth chain of
//!   each state set, which its caller is to keep cached (the chains cloned
//!   in, as ruma's own benchmark does).
//! - `ruma/with_auth_chains`: the same, computing the chains from the events.
//!
//! After criterion's figures, the medians of interleaved runs of each print
//! the ratios.

use std::hint::black_box;
use std::time::{Duration, Instant};

use std::collections::HashMap;

use criterion::Criterion;
use hanse_protocol::state_res::{
    resolve_numbered, EventGraph, GraphEvent, NumberedState, StateMap,
};
use hanse_protocol::{EventId, RoomVersionId};
use serde_json::{json, Value};

#[path = "../tests/support/mod.rs"]
mod support;

use support::{NewEvent, Room};

const MEMBERS: usize = 10_000;
/// Runs of each implementation for the closing summary.
const RUNS: usize = 31;
const ALICE: &str = "@alice:a.example";
const BOB: &str = "@bob:b.example";
const CAROL: &str = "@carol:c.example";

fn user(i: usize) -> String {
    format!("@user{i}:s{}.example", i % 50)
}

/// Builds the room and the states of its two forks.
fn build(version: RoomVersionId) -> (Room, Vec<StateMap>) {
    let mut room = Room::new(version, "!bench:a.example");
    let mut state = StateMap::new();
    let mut clock = 1_000;
    let mut last: Option<EventId> = None;
    let mut send = |room: &mut Room,
                    state: &mut StateMap,
                    sender: &str,
                    event_type: &str,
                    state_key: &str,
                    content: Value,
                    name: String|
     -> EventId {
        clock += 1;
        let auth_events =
            room.auth_events_for(state, event_type, Some(state_key), sender, &content);
        let event = NewEvent {
            name,
            sender: sender.to_owned(),
            event_type: event_type.to_owned(),
            state_key: Some(state_key.to_owned()),
            content,
            auth_events,
            prev_events: last.iter().cloned().collect(),
            origin_server_ts: clock,
            rejected: false,
            nonce: 0,
        };
        let pdu = room.build(&event);
        assert!(room.allowed_in(&pdu, state), "{} is allowed", event.name);
        let id = room.insert(&event, pdu);
        state.insert(room.key_of(&id), id.clone());
        last = Some(id.clone());
        id
    };
    let levels = |users: &[(&str, i64)]| {
        let mut map = serde_json::Map::new();
        if !version.rules().additional_creators {
            map.insert(ALICE.to_owned(), 100.into());
        }
        for (user, level) in users {
            map.insert((*user).to_owned(), (*level).into());
        }
        json!({"users": map})
    };
    let join = json!({"membership": "join"});

    send(
        &mut room,
        &mut state,
        ALICE,
        "m.room.create",
        "",
        json!({"room_version": version.as_str(), "creator": ALICE}),
        "create".into(),
    );
    send(
        &mut room,
        &mut state,
        ALICE,
        "m.room.member",
        ALICE,
        join.clone(),
        "alice".into(),
    );
    send(
        &mut room,
        &mut state,
        ALICE,
        "m.room.power_levels",
        "",
        levels(&[]),
        "pl".into(),
    );
    let public = json!({"join_rule": "public"});
    send(
        &mut room,
        &mut state,
        ALICE,
        "m.room.join_rules",
        "",
        public,
        "public".into(),
    );
    for member in [BOB, CAROL] {
        send(
            &mut room,
            &mut state,
            member,
            "m.room.member",
            member,
            join.clone(),
            member.into(),
        );
    }
    for i in 0..MEMBERS {
        let u = user(i);
        send(
            &mut room,
            &mut state,
            &u,
            "m.room.member",
            &u,
            join.clone(),
            format!("join{i}"),
        );
    }

    let mut bob_fork = state.clone();
    let s = &mut bob_fork;
    send(
        &mut room,
        s,
        ALICE,
        "m.room.power_levels",
        "",
        levels(&[(BOB, 50)]),
        "pl-bob".into(),
    );
    for i in 0..50 {
        let ban = json!({"membership": "ban"});
        send(
            &mut room,
            s,
            BOB,
            "m.room.member",
            &user(i),
            ban,
            format!("ban{i}"),
        );
    }
    for i in 100..200 {
        let (u, leave) = (user(i), json!({"membership": "leave"}));
        send(
            &mut room,
            s,
            &u,
            "m.room.member",
            &u,
            leave,
            format!("leave{i}"),
        );
    }
    send(
        &mut room,
        s,
        ALICE,
        "m.room.topic",
        "",
        json!({"topic": "bob"}),
        "topic-a".into(),
    );

    let mut carol_fork = state;
    let s = &mut carol_fork;
    let pl = levels(&[(CAROL, 50)]);
    send(
        &mut room,
        s,
        ALICE,
        "m.room.power_levels",
        "",
        pl,
        "pl-carol".into(),
    );
    for i in 50..100 {
        let kick = json!({"membership": "leave"});
        send(
            &mut room,
            s,
            CAROL,
            "m.room.member",
            &user(i),
            kick,
            format!("kick{i}"),
        );
    }
    for i in 200..300 {
        let u = user(i);
        let rename = json!({"membership": "join", "displayname": format!("user {i}")});
        send(
            &mut room,
            s,
            &u,
            "m.room.member",
            &u,
            rename,
            format!("rename{i}"),
        );
    }
    let invite = json!({"join_rule": "invite"});
    send(
        &mut room,
        s,
        ALICE,
        "m.room.join_rules",
        "",
        invite,
        "invite".into(),
    );
    send(
        &mut room,
        s,
        CAROL,
        "m.room.topic",
        "",
        json!({"topic": "carol"}),
        "topic-c".into(),
    );

    (room, vec![bob_fork, carol_fork])
}

/// A state key as a number, as a server's store interns them.
type KeyNumber = u32;

/// The room's events numbered, with their keys interned in order of first
/// appearance.
fn number_events(room: &Room) -> EventGraph<'_, KeyNumber> {
    let mut keys: HashMap<(&str, &str), KeyNumber> = HashMap::new();
    let events = room.order.iter().map(|id| {
        let pdu = &room.events[id];
        let place = (pdu.event_type(), pdu.state_key().unwrap_or_default());
        let next = KeyNumber::try_from(keys.len()).expect("few keys");
        GraphEvent {
            pdu,
            key: *keys.entry(place).or_insert(next),
            rejected: room.rejected.contains(id),
        }
    });
    EventGraph::new(events).expect("the room holds every event it cites")
}

/// `sets` over the numbered events.
fn number_sets(
    graph: &EventGraph<'_, KeyNumber>,
    sets: &[StateMap],
) -> Vec<NumberedState<KeyNumber>> {
    sets.iter()
        .map(|set| {
            set.values()
                .map(|id| {
                    let index = graph.index(id).expect("numbered");
                    (graph.key_of(index), index)
                })
                .collect()
        })
        .collect()
}

/// Times one run of `f` into `times`. Wall clock: the CPU time Linux
/// reports per thread here moves in 4 ms ticks. The runs of the
/// implementations are interleaved so that load from other work on the
/// machine falls on all of them alike.
fn timed(times: &mut Vec<Duration>, f: impl FnOnce()) {
    let start = Instant::now();
    f();
    times.push(start.elapsed());
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn main() {
    let mut criterion = Criterion::default()
        .sample_size(10)
        .measurement_time(Duration::from_secs(8))
        .configure_from_args();
    let mut summary = Vec::new();
    for version in [RoomVersionId::V11, RoomVersionId::V12] {
        let (room, sets) = build(version);
        let hanse = room.resolve_hanse(&sets).expect("Hanse resolves");
        let ruma = room.resolve_ruma(&sets).expect("ruma resolves");
        assert_eq!(
            hanse, ruma,
            "both implementations agree on the benchmark room"
        );
        let (maps, chains) = room.ruma_inputs(&sets);
        let graph = number_events(&room);
        let numbered_sets = number_sets(&graph, &sets);
        let rules = version.rules();
        let numbered = resolve_numbered(rules, &numbered_sets, &graph).expect("Hanse resolves");
        assert_eq!(
            numbered,
            number_sets(&graph, std::slice::from_ref(&hanse))[0],
            "numbered events resolve as events by ID do"
        );

        let mut group = criterion.benchmark_group(format!("state_res_10k_members_v{version}"));
        group.bench_function("hanse", |b| {
            b.iter(|| {
                black_box(resolve_numbered(rules, black_box(&numbered_sets), &graph).unwrap())
            });
        });
        group.bench_function("hanse/numbering", |b| {
            b.iter(|| black_box(number_events(black_box(&room))));
        });
        group.bench_function("hanse/by_event_id", |b| {
            b.iter(|| black_box(room.resolve_hanse(black_box(&sets)).unwrap()));
        });
        group.bench_function("ruma/given_auth_chains", |b| {
            b.iter(|| black_box(room.resolve_ruma_with(&maps, chains.clone()).unwrap()));
        });
        group.bench_function("ruma/with_auth_chains", |b| {
            b.iter(|| black_box(room.resolve_ruma(black_box(&sets)).unwrap()));
        });
        group.finish();

        let (mut hanse, mut by_id, mut ruma_given, mut ruma_with) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..RUNS {
            timed(&mut hanse, || {
                black_box(resolve_numbered(rules, &numbered_sets, &graph).unwrap());
            });
            timed(&mut by_id, || {
                black_box(room.resolve_hanse(&sets).unwrap());
            });
            timed(&mut ruma_given, || {
                black_box(room.resolve_ruma_with(&maps, chains.clone()).unwrap());
            });
            timed(&mut ruma_with, || {
                black_box(room.resolve_ruma(&sets).unwrap());
            });
        }
        let (hanse, by_id) = (median(hanse), median(by_id));
        let (ruma_given, ruma_with) = (median(ruma_given), median(ruma_with));
        let ratio = |ruma: Duration, hanse: Duration| ruma.as_secs_f64() / hanse.as_secs_f64();
        summary.push(format!(
            "room version {version}: hanse {hanse:.2?}, by event ID {by_id:.2?}; \
             ruma given auth chains {ruma_given:.2?} ({:.1}x, {:.1}x by event ID), \
             ruma with auth chains {ruma_with:.2?} ({:.1}x, {:.1}x by event ID)",
            ratio(ruma_given, hanse),
            ratio(ruma_given, by_id),
            ratio(ruma_with, hanse),
            ratio(ruma_with, by_id),
        ));
    }
    criterion.final_summary();
    println!("\nmedian of {RUNS} interleaved runs each (ruma time / Hanse time):");
    for line in summary {
        println!("  {line}");
    }
}
