//! A room DAG that both state resolution implementations can read: Hanse's
//! `state_res::resolve` and ruma's `ruma_state_res::resolve`, the oracle.
//!
//! Shared by the differential test (`tests/state_res_differential.rs`) and
//! the benchmark (`benches/state_res.rs`, through `#[path]`). Events are
//! built once as Hanse PDUs, so their event IDs are real reference hashes
//! (and, in room version 12, the room ID is the create event's); ruma gets
//! a copy of each event under the same ID.
//!
//! ruma's `resolve` leaves two inputs to its caller, which are computed
//! here the way the specification defines them:
//!
//! - the full auth chain of each state set is the union of the auth chains
//!   of its events, an event's auth chain *not* containing the event itself
//!   (as ruma's own fixture harness computes it);
//! - the conflicted state subgraph (room version 12) is every event on an
//!   `auth_events` path from one conflicted event to another, endpoints
//!   included.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::Path;

use hanse_protocol::auth::{auth_types_for_event, authorize};
use hanse_protocol::canonical_json::object_from_json;
use hanse_protocol::state_res::{self, EventSource, StateMap, StateResError};
use hanse_protocol::{CanonicalJsonObject, EventId, Pdu, RoomVersion, RoomVersionId};
use ruma_common::room_version_rules::{AuthorizationRules, StateResolutionV2Rules};
use ruma_common::{MilliSecondsSinceUnixEpoch, OwnedEventId, OwnedRoomId, OwnedUserId, RoomId};
use ruma_events::{StateEventType, TimelineEventType};
use ruma_state_res::utils::event_id_set::EventIdSet;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Value};

/// An event to add to a [`Room`].
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// A name for the event in failure reports.
    pub name: String,
    pub sender: String,
    pub event_type: String,
    pub state_key: Option<String>,
    pub content: Value,
    pub auth_events: Vec<EventId>,
    pub prev_events: Vec<EventId>,
    pub origin_server_ts: i64,
    pub rejected: bool,
    /// Varies the (unchecked) content hash, and so the event ID, without
    /// changing anything else.
    pub nonce: u32,
}

/// The copy of an event that ruma reads, with the same ID as Hanse's.
#[derive(Debug, Clone, Deserialize)]
pub struct RumaPdu {
    event_id: OwnedEventId,
    room_id: Option<OwnedRoomId>,
    sender: OwnedUserId,
    origin_server_ts: MilliSecondsSinceUnixEpoch,
    #[serde(rename = "type")]
    event_type: TimelineEventType,
    content: Box<RawValue>,
    state_key: Option<String>,
    prev_events: Vec<OwnedEventId>,
    auth_events: Vec<OwnedEventId>,
    redacts: Option<OwnedEventId>,
    #[serde(default)]
    rejected: bool,
}

impl ruma_state_res::Event for RumaPdu {
    type Id = OwnedEventId;

    fn event_id(&self) -> &Self::Id {
        &self.event_id
    }

    fn room_id(&self) -> Option<&RoomId> {
        self.room_id.as_deref()
    }

    fn sender(&self) -> &ruma_common::UserId {
        &self.sender
    }

    fn origin_server_ts(&self) -> MilliSecondsSinceUnixEpoch {
        self.origin_server_ts
    }

    fn event_type(&self) -> &TimelineEventType {
        &self.event_type
    }

    fn content(&self) -> &RawValue {
        &self.content
    }

    fn state_key(&self) -> Option<&str> {
        self.state_key.as_deref()
    }

    fn prev_events(&self) -> Box<dyn DoubleEndedIterator<Item = &Self::Id> + '_> {
        Box::new(self.prev_events.iter())
    }

    fn auth_events(&self) -> Box<dyn DoubleEndedIterator<Item = &Self::Id> + '_> {
        Box::new(self.auth_events.iter())
    }

    fn redacts(&self) -> Option<&Self::Id> {
        self.redacts.as_ref()
    }

    fn rejected(&self) -> bool {
        self.rejected
    }
}

/// ruma's state map.
pub type RumaStateMap = ruma_state_res::StateMap<OwnedEventId>;

/// A room's events, readable by both implementations.
pub struct Room {
    pub version: RoomVersionId,
    pub rules: &'static RoomVersion,
    /// The room ID, once known (in version 12 it comes from the create
    /// event).
    room_id: Option<String>,
    pub events: HashMap<EventId, Pdu>,
    pub rejected: HashSet<EventId>,
    /// Event IDs in the order they were added.
    pub order: Vec<EventId>,
    pub names: HashMap<EventId, String>,
    pub ruma: HashMap<OwnedEventId, RumaPdu>,
    ruma_auth: AuthorizationRules,
    ruma_state_res: StateResolutionV2Rules,
}

impl EventSource for Room {
    fn event(&self, id: &EventId) -> Option<&Pdu> {
        self.events.get(id)
    }

    fn is_rejected(&self, id: &EventId) -> bool {
        self.rejected.contains(id)
    }
}

impl Room {
    /// An empty room of `version`; in versions before 12 its ID is
    /// `room_id`.
    pub fn new(version: RoomVersionId, room_id: &str) -> Self {
        let rules = version.rules();
        let ruma_version = ruma_common::RoomVersionId::try_from(version.as_str())
            .expect("ruma knows every version Hanse resolves");
        let ruma_rules = ruma_version.rules().expect("ruma supports the version");
        let ruma_state_res = *ruma_rules
            .state_res
            .v2_rules()
            .expect("versions 2 on use state resolution v2");
        Room {
            version,
            rules,
            room_id: rules.create_event_has_room_id().then(|| room_id.to_owned()),
            events: HashMap::new(),
            rejected: HashSet::new(),
            order: Vec::new(),
            names: HashMap::new(),
            ruma: HashMap::new(),
            ruma_auth: ruma_rules.authorization,
            ruma_state_res,
        }
    }

    /// The room ID, once the create event is in.
    pub fn room_id(&self) -> &str {
        self.room_id
            .as_deref()
            .expect("the room has its create event")
    }

    /// Builds the PDU for `event` without adding it.
    pub fn build(&self, event: &NewEvent) -> Pdu {
        let mut object = json!({
            "type": event.event_type,
            "sender": event.sender,
            "content": event.content,
            "depth": self.order.len() + 1,
            "origin_server_ts": event.origin_server_ts,
            "prev_events": event.prev_events.iter().map(EventId::as_str).collect::<Vec<_>>(),
            "auth_events": event.auth_events.iter().map(EventId::as_str).collect::<Vec<_>>(),
            "hashes": {"sha256": format!("aGFzaA{}", event.nonce)},
            "signatures": {"example.com": {"ed25519:1": "c2ln"}},
        });
        if let Some(state_key) = &event.state_key {
            object["state_key"] = state_key.as_str().into();
        }
        let is_v12_create = event.event_type == "m.room.create" && self.room_id.is_none();
        if !is_v12_create {
            object["room_id"] = self.room_id().into();
        }
        let object = object_from_json(object).expect("builder events are canonical JSON");
        Pdu::from_canonical(object, self.rules).expect("builder events are valid PDUs")
    }

    /// Adds `pdu`, built by [`Room::build`] from `event`.
    pub fn insert(&mut self, event: &NewEvent, pdu: Pdu) -> EventId {
        let id = pdu.event_id().clone();
        if self.room_id.is_none() {
            self.room_id = Some(pdu.room_id().to_string());
        }
        let mut ruma_json = json!({
            "event_id": id.as_str(),
            "sender": event.sender,
            "origin_server_ts": event.origin_server_ts,
            "type": event.event_type,
            "content": event.content,
            "state_key": event.state_key,
            "prev_events": event.prev_events.iter().map(EventId::as_str).collect::<Vec<_>>(),
            "auth_events": event.auth_events.iter().map(EventId::as_str).collect::<Vec<_>>(),
            "rejected": event.rejected,
        });
        if event.event_type != "m.room.create" || self.rules.create_event_has_room_id() {
            ruma_json["room_id"] = pdu.room_id().as_str().into();
        }
        let ruma: RumaPdu = serde_json::from_value(ruma_json).expect("ruma reads the event");
        self.ruma.insert(ruma.event_id.clone(), ruma);
        if event.rejected {
            self.rejected.insert(id.clone());
        }
        self.names.insert(id.clone(), event.name.clone());
        self.order.push(id.clone());
        self.events.insert(id.clone(), pdu);
        id
    }

    /// Builds and adds `event`.
    pub fn add(&mut self, event: NewEvent) -> EventId {
        let pdu = self.build(&event);
        self.insert(&event, pdu)
    }

    /// The event `id`.
    pub fn pdu(&self, id: &EventId) -> &Pdu {
        &self.events[id]
    }

    /// The `(type, state_key)` of the state event `id`.
    pub fn key_of(&self, id: &EventId) -> (String, String) {
        let pdu = self.pdu(id);
        (
            pdu.event_type().to_owned(),
            pdu.state_key().expect("a state event").to_owned(),
        )
    }

    /// The auth events a new event would cite in `state`: those the rules
    /// select, the create event included where the version cites it.
    pub fn auth_events_for(
        &self,
        state: &StateMap,
        event_type: &str,
        state_key: Option<&str>,
        sender: &str,
        content: &Value,
    ) -> Vec<EventId> {
        let content: CanonicalJsonObject =
            object_from_json(content.clone()).expect("builder content is canonical JSON");
        let sender = hanse_protocol::UserId::parse(sender).expect("a valid user ID");
        let mut keys = auth_types_for_event(event_type, state_key, &sender, &content, self.rules);
        if self.rules.create_event_has_room_id() {
            keys.push(("m.room.create".to_owned(), String::new()));
        }
        let mut ids: Vec<EventId> = Vec::new();
        for key in keys {
            if let Some(id) = state.get(&key) {
                if !ids.contains(id) {
                    ids.push(id.clone());
                }
            }
        }
        ids
    }

    /// Whether `pdu` passes the authorisation rules against `state`.
    pub fn allowed_in(&self, pdu: &Pdu, state: &StateMap) -> bool {
        let mut keys = auth_types_for_event(
            pdu.event_type(),
            pdu.state_key(),
            pdu.sender(),
            pdu.content(),
            self.rules,
        );
        keys.push(("m.room.create".to_owned(), String::new()));
        let mut auth_state: BTreeMap<(String, String), Pdu> = keys
            .into_iter()
            .filter_map(|key| {
                let pdu = self.pdu(state.get(&key)?).clone();
                Some((key, pdu))
            })
            .collect();
        if !self.rules.create_event_has_room_id() {
            if let Some(create) = pdu.room_id().create_event_id() {
                if let Some(create) = self.events.get(&create) {
                    auth_state.insert(("m.room.create".to_owned(), String::new()), create.clone());
                }
            }
        }
        authorize(pdu, self.rules, &auth_state).is_ok()
    }

    /// Resolves `state_sets` with Hanse.
    pub fn resolve_hanse(&self, state_sets: &[StateMap]) -> Result<StateMap, StateResError> {
        state_res::resolve(self.rules, state_sets, self)
    }

    /// The inputs ruma's `resolve` takes beside the events: the state sets
    /// in its types and their full auth chains.
    pub fn ruma_inputs(
        &self,
        state_sets: &[StateMap],
    ) -> (Vec<RumaStateMap>, Vec<EventIdSet<OwnedEventId>>) {
        let maps = state_sets.iter().map(|set| self.to_ruma_map(set)).collect();
        let chains = state_sets
            .iter()
            .map(|set| self.ruma_auth_chain(set.values()))
            .collect();
        (maps, chains)
    }

    /// Resolves `state_sets` with ruma, giving it auth chains and the
    /// conflicted state subgraph computed by definition.
    pub fn resolve_ruma(&self, state_sets: &[StateMap]) -> Result<StateMap, String> {
        let (maps, chains) = self.ruma_inputs(state_sets);
        self.resolve_ruma_with(&maps, chains)
    }

    /// Resolves with ruma from prepared inputs.
    pub fn resolve_ruma_with(
        &self,
        maps: &[RumaStateMap],
        chains: Vec<EventIdSet<OwnedEventId>>,
    ) -> Result<StateMap, String> {
        let resolved = ruma_state_res::resolve(
            &self.ruma_auth,
            &self.ruma_state_res,
            maps,
            chains,
            |id| self.ruma.get(id),
            |conflicted| Some(self.ruma_conflicted_subgraph(conflicted)),
        )
        .map_err(|error| error.to_string())?;
        Ok(resolved
            .into_iter()
            .map(|((event_type, state_key), id)| {
                let id = EventId::parse(id.as_str()).expect("ruma returns our IDs");
                ((event_type.to_string(), state_key), id)
            })
            .collect())
    }

    fn ruma_id(&self, id: &EventId) -> OwnedEventId {
        OwnedEventId::try_from(id.as_str()).expect("Hanse event IDs are valid for ruma")
    }

    /// `set` in ruma's types.
    pub fn to_ruma_map(&self, set: &StateMap) -> RumaStateMap {
        set.iter()
            .map(|((event_type, state_key), id)| {
                (
                    (StateEventType::from(event_type.as_str()), state_key.clone()),
                    self.ruma_id(id),
                )
            })
            .collect()
    }

    /// The union of the auth chains of `starts`, which are not in it unless
    /// one cites another.
    pub fn auth_chain<'a>(
        &self,
        starts: impl IntoIterator<Item = &'a EventId>,
    ) -> BTreeSet<EventId> {
        let mut chain = BTreeSet::new();
        let mut pending: Vec<&EventId> = starts
            .into_iter()
            .flat_map(|id| self.pdu(id).auth_events())
            .collect();
        while let Some(id) = pending.pop() {
            if chain.insert(id.clone()) {
                pending.extend(self.pdu(id).auth_events());
            }
        }
        chain
    }

    fn ruma_auth_chain<'a>(
        &self,
        starts: impl IntoIterator<Item = &'a EventId>,
    ) -> EventIdSet<OwnedEventId> {
        self.auth_chain(starts)
            .iter()
            .map(|id| self.ruma_id(id))
            .collect()
    }

    /// The conflicted state subgraph of ruma's conflicted state set: the
    /// events reachable from a conflicted event through `auth_events` that
    /// reach a conflicted event themselves (each event reaching itself).
    fn ruma_conflicted_subgraph(
        &self,
        conflicted: &ruma_state_res::StateMap<Vec<OwnedEventId>>,
    ) -> EventIdSet<OwnedEventId> {
        let conflicted: BTreeSet<EventId> = conflicted
            .values()
            .flatten()
            .map(|id| EventId::parse(id.as_str()).expect("our IDs"))
            .collect();
        let mut reachable = self.auth_chain(&conflicted);
        reachable.extend(conflicted.iter().cloned());
        // Memoised: does `id` reach a conflicted event?
        let mut reaches: HashMap<EventId, bool> = HashMap::new();
        fn visit(
            room: &Room,
            id: &EventId,
            conflicted: &BTreeSet<EventId>,
            reaches: &mut HashMap<EventId, bool>,
        ) -> bool {
            if let Some(&known) = reaches.get(id) {
                return known;
            }
            let mut result = conflicted.contains(id);
            for auth in room.pdu(id).auth_events() {
                result |= visit(room, auth, conflicted, reaches);
            }
            reaches.insert(id.clone(), result);
            result
        }
        reachable
            .iter()
            .filter(|id| visit(self, id, &conflicted, &mut reaches))
            .map(|id| self.ruma_id(id))
            .collect()
    }

    /// A readable name for `id`.
    pub fn name(&self, id: &EventId) -> String {
        match self.names.get(id) {
            Some(name) => name.clone(),
            None => id.to_string(),
        }
    }

    /// The DAG, the state sets and the two results, for a failure report.
    pub fn describe(
        &self,
        state_sets: &[StateMap],
        hanse: &Result<StateMap, StateResError>,
        ruma: &Result<StateMap, String>,
    ) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "room version {} ({} events):",
            self.version,
            self.order.len()
        );
        for id in &self.order {
            let pdu = self.pdu(id);
            let auth: Vec<String> = pdu.auth_events().iter().map(|a| self.name(a)).collect();
            let content = Value::from(hanse_protocol::CanonicalJsonValue::Object(
                pdu.content().clone(),
            ));
            let _ = writeln!(
                out,
                "  {name:<28} {id} type={ty} state_key={sk:?} sender={sender} ts={ts}{rej} content={content} auth=[{auth}]",
                name = self.name(id),
                ty = pdu.event_type(),
                sk = pdu.state_key(),
                sender = pdu.sender(),
                ts = pdu.origin_server_ts(),
                rej = if self.rejected.contains(id) { " REJECTED" } else { "" },
                auth = auth.join(", "),
            );
        }
        for (index, set) in state_sets.iter().enumerate() {
            let _ = writeln!(out, "state set {index}: {}", self.describe_state(set));
        }
        let _ = writeln!(
            out,
            "hanse: {}",
            match hanse {
                Ok(state) => self.describe_state(state),
                Err(error) => format!("error: {error}"),
            }
        );
        let _ = writeln!(
            out,
            "ruma:  {}",
            match ruma {
                Ok(state) => self.describe_state(state),
                Err(error) => format!("error: {error}"),
            }
        );
        if let (Ok(hanse), Ok(ruma)) = (hanse, ruma) {
            let keys: BTreeSet<&(String, String)> = hanse.keys().chain(ruma.keys()).collect();
            for key in keys {
                let (h, r) = (hanse.get(key), ruma.get(key));
                if h != r {
                    let _ = writeln!(
                        out,
                        "differs at {key:?}: hanse {:?}, ruma {:?}",
                        h.map(|id| self.name(id)),
                        r.map(|id| self.name(id))
                    );
                }
            }
        }
        out
    }

    /// A state map by event names.
    pub fn describe_state(&self, state: &StateMap) -> String {
        let names: Vec<String> = state.values().map(|id| self.name(id)).collect();
        format!("{{{}}}", names.join(", "))
    }

    /// Resolves `state_sets` with both implementations and returns the
    /// result, or a report of the DAG if they differ.
    pub fn resolve_both(&self, state_sets: &[StateMap]) -> Result<StateMap, String> {
        let hanse = self.resolve_hanse(state_sets);
        let ruma = self.resolve_ruma(state_sets);
        match (&hanse, &ruma) {
            (Ok(h), Ok(r)) if h == r => Ok(h.clone()),
            _ => Err(format!(
                "Hanse and ruma disagree\n{}",
                self.describe(state_sets, &hanse, &ruma)
            )),
        }
    }
}

/// The folder of the ruma-state-res fixtures.
pub fn fixtures_dir() -> &'static Path {
    Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/ruma-state-res"
    ))
}

/// A ruma fixture DAG rebuilt as a [`Room`].
pub struct Fixture {
    pub room: Room,
    /// The events of each fixture file, in order.
    pub batches: Vec<Vec<EventId>>,
    /// The fixture's event IDs mapped to the rebuilt events' IDs.
    pub ids: HashMap<String, EventId>,
}

impl Fixture {
    /// Rebuilds the events of the fixture files `paths`, in order. Each
    /// event keeps its fields; its ID becomes its reference hash, and the
    /// IDs it cites are rewritten to match. The room version is the create
    /// event's.
    pub fn load(paths: &[&str]) -> Fixture {
        let mut room: Option<Room> = None;
        let mut batches = Vec::new();
        let mut ids: HashMap<String, EventId> = HashMap::new();
        for path in paths {
            let text = std::fs::read_to_string(fixtures_dir().join(path))
                .unwrap_or_else(|error| panic!("reading fixture {path}: {error}"));
            let events: Vec<Value> = serde_json::from_str(&text).expect("a JSON array");
            let mut batch = Vec::new();
            for event in events {
                let fixture_id = event["event_id"].as_str().expect("an event ID").to_owned();
                let room = room.get_or_insert_with(|| {
                    let version = event["content"]["room_version"]
                        .as_str()
                        .expect("the first event is the create event");
                    let version: RoomVersionId = version.parse().expect("a known version");
                    let room_id = event["room_id"].as_str().unwrap_or("!room:example.com");
                    Room::new(version, room_id)
                });
                let map_ids = |key: &str| -> Vec<EventId> {
                    event[key]
                        .as_array()
                        .expect("an array of event IDs")
                        .iter()
                        .map(|id| {
                            let id = id.as_str().expect("an event ID");
                            ids.get(id)
                                .unwrap_or_else(|| panic!("{fixture_id} cites unknown {id}"))
                                .clone()
                        })
                        .collect()
                };
                let mut new = NewEvent {
                    name: fixture_id.trim_start_matches('$').to_owned(),
                    sender: event["sender"].as_str().expect("a sender").to_owned(),
                    event_type: event["type"].as_str().expect("a type").to_owned(),
                    state_key: event["state_key"].as_str().map(str::to_owned),
                    content: event["content"].clone(),
                    auth_events: map_ids("auth_events"),
                    prev_events: map_ids("prev_events"),
                    origin_server_ts: event["origin_server_ts"].as_i64().expect("a timestamp"),
                    rejected: event["rejected"].as_bool().unwrap_or(false),
                    nonce: 0,
                };
                // The algorithm breaks timestamp ties by event ID, which
                // the fixtures choose: keep their order among the events
                // with this one's timestamp by trying nonces.
                let same_ts: Vec<(&String, &EventId)> = ids
                    .iter()
                    .filter(|(_, id)| room.pdu(id).origin_server_ts() == new.origin_server_ts)
                    .collect();
                let pdu = loop {
                    let pdu = room.build(&new);
                    let keeps_order = same_ts.iter().all(|(fixture, id)| {
                        (fixture.as_str() < fixture_id.as_str()) == (*id < pdu.event_id())
                    });
                    if keeps_order {
                        break pdu;
                    }
                    new.nonce += 1;
                };
                let id = room.insert(&new, pdu);
                ids.insert(fixture_id, id.clone());
                batch.push(id);
            }
            batches.push(batch);
        }
        Fixture {
            room: room.expect("fixture files hold events"),
            batches,
            ids,
        }
    }

    /// A fixture file of event IDs as a state map.
    pub fn state_map(&self, path: &str) -> StateMap {
        let text = std::fs::read_to_string(fixtures_dir().join(path))
            .unwrap_or_else(|error| panic!("reading fixture {path}: {error}"));
        let fixture_ids: Vec<String> = serde_json::from_str(&text).expect("a JSON array");
        fixture_ids
            .iter()
            .map(|id| {
                let id = &self.ids[id];
                (self.room.key_of(id), id.clone())
            })
            .collect()
    }

    /// The state ruma's snapshot `name` records, in rebuilt IDs.
    pub fn snapshot(&self, name: &str) -> StateMap {
        let path = fixtures_dir().join(format!("snapshots/{name}@resolved_state.snap"));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|error| panic!("reading {}: {error}", path.display()));
        // The insta header is between the first two `---` lines.
        let body = text.splitn(3, "---\n").nth(2).expect("an insta snapshot");
        let entries: Vec<Value> = serde_json::from_str(body).expect("a JSON array");
        entries
            .iter()
            .map(|entry| {
                let key = (
                    entry["type"].as_str().expect("a type").to_owned(),
                    entry["state_key"].as_str().expect("a state key").to_owned(),
                );
                (
                    key,
                    self.ids[entry["event_id"].as_str().expect("an ID")].clone(),
                )
            })
            .collect()
    }
}
