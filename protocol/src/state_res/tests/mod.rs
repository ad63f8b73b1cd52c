//! Tests of state resolution on small DAGs built in code, one file per
//! concern, built on [`Dag`].

mod classic;
mod conflicts;
mod graph;
mod iterative_auth;
mod ordering;
mod power_event;
mod properties;
mod versions;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::events::StrKey;
use super::graph::{EventGraph, EventIndex, GraphEvent};
use super::{EventSource, NumberedState, StateMap};
use crate::canonical_json::object_from_json;
use crate::identifiers::EventId;
use crate::pdu::Pdu;
use crate::room_versions::{RoomVersion, RoomVersionId};

/// The creator of every test room.
const ALICE: &str = "@alice:a.test";
/// A user on another server.
const BOB: &str = "@bob:b.test";
/// A third user, on a third server.
const CAROL: &str = "@carol:c.test";

/// A room's event graph under construction: Alice creates the room, joins
/// it, sets the power levels (only herself at 100) and makes it public.
/// Every event gets the next timestamp unless told otherwise; its auth
/// events are exactly the ones given, plus the create event where the room
/// version wants it cited.
struct Dag {
    version: &'static RoomVersion,
    events: BTreeMap<EventId, Pdu>,
    rejected: BTreeSet<EventId>,
    room_id: String,
    clock: i64,
    create: EventId,
    alice_join: EventId,
    power_levels: EventId,
    join_rules: EventId,
}

impl EventSource for Dag {
    fn event(&self, id: &EventId) -> Option<&Pdu> {
        self.events.get(id)
    }

    fn is_rejected(&self, id: &EventId) -> bool {
        self.rejected.contains(id)
    }
}

impl Dag {
    fn new(version: RoomVersionId) -> Self {
        let rules = version.rules();
        let mut create = json!({
            "type": "m.room.create",
            "state_key": "",
            "sender": ALICE,
            "content": {"room_version": version.as_str(), "creator": ALICE},
            "depth": 1,
            "origin_server_ts": 1_000,
            "prev_events": [],
            "auth_events": [],
            "hashes": {"sha256": "aGFzaA"},
            "signatures": {"a.test": {"ed25519:1": "c2ln"}},
        });
        if rules.create_event_has_room_id() {
            create["room_id"] = "!room:a.test".into();
        }
        let create = parse(rules, create);
        let mut dag = Dag {
            version: rules,
            room_id: create.room_id().to_string(),
            create: create.event_id().clone(),
            events: BTreeMap::from([(create.event_id().clone(), create.clone())]),
            rejected: BTreeSet::new(),
            clock: 1_000,
            alice_join: create.event_id().clone(),
            power_levels: create.event_id().clone(),
            join_rules: create.event_id().clone(),
        };
        dag.alice_join = dag.member(ALICE, ALICE, "join", &[]);
        let alice_join = dag.alice_join.clone();
        dag.power_levels = dag.state(
            ALICE,
            "m.room.power_levels",
            "",
            dag.levels(&[]),
            &[&alice_join],
        );
        let power_levels = dag.power_levels.clone();
        dag.join_rules = dag.state(
            ALICE,
            "m.room.join_rules",
            "",
            json!({"join_rule": "public"}),
            &[&alice_join, &power_levels],
        );
        dag
    }

    /// Power levels content with `users` at the given levels, Alice at 100
    /// where she is not a creator outranking everyone anyway (listing her
    /// is forbidden from version 12), and every other level at its default.
    fn levels(&self, users: &[(&str, i64)]) -> Value {
        let mut levels: serde_json::Map<String, Value> = users
            .iter()
            .map(|(user, level)| ((*user).to_owned(), (*level).into()))
            .collect();
        if !self.version.additional_creators {
            levels.insert(ALICE.to_owned(), 100.into());
        }
        json!({"users": levels})
    }

    /// Adds a state event with the next timestamp.
    fn state(
        &mut self,
        sender: &str,
        event_type: &str,
        state_key: &str,
        content: Value,
        auth: &[&EventId],
    ) -> EventId {
        self.clock += 1;
        let ts = self.clock;
        self.state_at(ts, sender, event_type, state_key, content, auth)
    }

    /// Adds a state event with timestamp `ts`.
    fn state_at(
        &mut self,
        ts: i64,
        sender: &str,
        event_type: &str,
        state_key: &str,
        content: Value,
        auth: &[&EventId],
    ) -> EventId {
        let mut auth_events: Vec<&EventId> = auth.to_vec();
        if self.version.create_event_has_room_id() {
            auth_events.push(&self.create);
        }
        let server = sender.split_once(':').map_or("a.test", |(_, s)| s);
        let event = json!({
            "type": event_type,
            "state_key": state_key,
            "sender": sender,
            "room_id": self.room_id,
            "content": content,
            "depth": self.events.len(),
            "origin_server_ts": ts,
            "prev_events": [self.create.as_str()],
            "auth_events": auth_events.iter().map(|id| id.as_str()).collect::<Vec<_>>(),
            "hashes": {"sha256": "aGFzaA"},
            "signatures": {server: {"ed25519:1": "c2ln"}},
        });
        let pdu = parse(self.version, event);
        let id = pdu.event_id().clone();
        self.events.insert(id.clone(), pdu);
        id
    }

    /// Adds a membership event for `target` sent by `sender`.
    fn member(
        &mut self,
        sender: &str,
        target: &str,
        membership: &str,
        auth: &[&EventId],
    ) -> EventId {
        self.state(
            sender,
            "m.room.member",
            target,
            json!({"membership": membership}),
            auth,
        )
    }

    /// Alice raises Bob to power level 50, then Bob joins: the start of
    /// most conflicts below. Returns (the power levels, Bob's join).
    fn promote_and_join_bob(&mut self) -> (EventId, EventId) {
        let (alice_join, power_levels, join_rules) = (
            self.alice_join.clone(),
            self.power_levels.clone(),
            self.join_rules.clone(),
        );
        let promote_bob = self.state(
            ALICE,
            "m.room.power_levels",
            "",
            self.levels(&[(BOB, 50)]),
            &[&alice_join, &power_levels],
        );
        let bob_join = self.member(BOB, BOB, "join", &[&promote_bob, &join_rules]);
        (promote_bob, bob_join)
    }

    /// Lets `user` join under the initial power levels and join rules.
    fn join(&mut self, user: &str) -> EventId {
        let auth = [self.power_levels.clone(), self.join_rules.clone()];
        self.member(user, user, "join", &[&auth[0], &auth[1]])
    }

    /// The state holding `ids`, each under its own `(type, state_key)`.
    fn state_map(&self, ids: &[&EventId]) -> StateMap {
        ids.iter()
            .map(|id| {
                let pdu = &self.events[*id];
                let key = (
                    pdu.event_type().to_owned(),
                    pdu.state_key().expect("a state event").to_owned(),
                );
                (key, (*id).clone())
            })
            .collect()
    }

    /// The base state of the room: create, Alice's join, power levels and
    /// join rules, plus `more`.
    fn base_with(&self, more: &[&EventId]) -> StateMap {
        let mut state = self.state_map(&[
            &self.create,
            &self.alice_join,
            &self.power_levels,
            &self.join_rules,
        ]);
        state.extend(self.state_map(more));
        state
    }

    /// Resolves `state_sets` under the room's version.
    fn resolve(&self, state_sets: &[StateMap]) -> StateMap {
        super::resolve(self.version, state_sets, self).expect("every event is available")
    }
}

/// A [`Dag`]'s events numbered, for the parts of the algorithm that work
/// on numbers, with the conversions to and from event IDs.
struct Numbered<'a> {
    graph: EventGraph<'a, StrKey<'a>>,
}

impl Dag {
    fn numbered(&self) -> Numbered<'_> {
        let events = self.events.values().map(|pdu| GraphEvent {
            pdu,
            key: (pdu.event_type(), pdu.state_key().unwrap_or_default()),
            rejected: self.rejected.contains(pdu.event_id()),
        });
        Numbered {
            graph: EventGraph::new(events).expect("a DAG cites only its own events"),
        }
    }
}

impl<'a> Numbered<'a> {
    fn of(&self, id: &EventId) -> EventIndex {
        self.graph.index(id).expect("an event of the DAG")
    }

    fn set(&self, ids: &[&EventId]) -> BTreeSet<EventIndex> {
        ids.iter().map(|id| self.of(id)).collect()
    }

    fn id(&self, index: EventIndex) -> EventId {
        self.graph.pdu(index).event_id().clone()
    }

    fn ids(&self, indices: impl IntoIterator<Item = EventIndex>) -> Vec<EventId> {
        indices.into_iter().map(|index| self.id(index)).collect()
    }

    fn id_set(&self, indices: &BTreeSet<EventIndex>) -> BTreeSet<EventId> {
        indices.iter().map(|&index| self.id(index)).collect()
    }

    fn state<'s>(&self, state: &'s StateMap) -> NumberedState<StrKey<'s>> {
        state
            .iter()
            .map(|((event_type, state_key), id)| {
                ((event_type.as_str(), state_key.as_str()), self.of(id))
            })
            .collect()
    }

    fn state_map(&self, state: &NumberedState<StrKey<'_>>) -> StateMap {
        state
            .iter()
            .map(|(&(event_type, state_key), &index)| (key(event_type, state_key), self.id(index)))
            .collect()
    }
}

/// The set of events `ids`.
fn event_set(ids: &[&EventId]) -> BTreeSet<EventId> {
    ids.iter().map(|id| (*id).clone()).collect()
}

/// The key of a state event in a [`StateMap`].
fn key(event_type: &str, state_key: &str) -> (String, String) {
    (event_type.to_owned(), state_key.to_owned())
}

/// Parses test JSON as a PDU of `version`, which it must be.
fn parse(version: &RoomVersion, event: Value) -> Pdu {
    let object = object_from_json(event).expect("test events are canonical JSON");
    Pdu::from_canonical(object, version).expect("test events are valid PDUs")
}
