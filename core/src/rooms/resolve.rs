//! State resolution over stored states: the states (trie roots) of forks
//! of a room, resolved by the protocol crate's algorithm into one new
//! root, written in the batch's transaction.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use hanse_protocol::identifiers::EventId;
use hanse_protocol::pdu::Pdu;
use hanse_protocol::state_res::{self, EventSource, StateMap};

use super::build::Batch;
use super::events::StoredEvent;
use super::state_trie::{EventNid, NodeNid, StateKey};
use crate::{Error, Result};

/// Events state resolution reads, by ID.
struct Loaded {
    events: HashMap<EventId, Arc<StoredEvent>>,
}

impl EventSource for Loaded {
    fn event(&self, id: &EventId) -> Option<&Pdu> {
        self.events.get(id).map(|event| &event.pdu)
    }

    fn is_rejected(&self, id: &EventId) -> bool {
        self.events.get(id).is_some_and(|event| event.rejected)
    }
}

impl Batch<'_> {
    /// The state that follows from the states rooted at `roots`.
    pub(super) async fn resolve_roots(&mut self, roots: &[NodeNid]) -> Result<NodeNid> {
        let mut distinct: Vec<NodeNid> = roots.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        match distinct.as_slice() {
            [] => return Err(Error::Internal("no states to resolve".into())),
            [only] => return Ok(*only),
            _ => {}
        }
        let store = &self.homeserver.store;
        let mut sets: Vec<BTreeMap<StateKey, EventNid>> = Vec::with_capacity(distinct.len());
        for root in &distinct {
            sets.push(
                self.nodes
                    .entries(store, *root)
                    .await?
                    .into_iter()
                    .collect(),
            );
        }
        let mut nids: Vec<EventNid> = sets.iter().flat_map(|set| set.values().copied()).collect();
        nids.sort_unstable();
        nids.dedup();
        let mut key_of: HashMap<EventNid, StateKey> = HashMap::new();
        for set in &sets {
            key_of.extend(set.iter().map(|(key, nid)| (*nid, *key)));
        }
        let state_events = self.events_by_nid(&nids).await?;
        let mut loaded = Loaded {
            events: HashMap::with_capacity(state_events.len()),
        };
        let mut nid_of: HashMap<EventId, EventNid> = HashMap::new();
        for event in &state_events {
            nid_of.insert(event.pdu.event_id().clone(), event.nid);
            loaded
                .events
                .insert(event.pdu.event_id().clone(), event.clone());
        }
        self.load_auth_chains(&mut loaded).await?;

        let state_maps: Vec<StateMap> = sets
            .iter()
            .map(|set| {
                set.values()
                    .map(|nid| {
                        let event = &state_events[nids.binary_search(nid).expect("loaded")];
                        let pdu = &event.pdu;
                        (
                            (
                                pdu.event_type().to_owned(),
                                pdu.state_key().unwrap_or_default().to_owned(),
                            ),
                            pdu.event_id().clone(),
                        )
                    })
                    .collect()
            })
            .collect();
        let resolved = state_res::resolve(self.room.version.rules(), &state_maps, &loaded)
            .map_err(|error| Error::Internal(format!("state resolution failed: {error}")))?;

        // The result as numbers, and its difference from the first state.
        let base = &sets[0];
        let mut changes: BTreeMap<StateKey, Option<EventNid>> = BTreeMap::new();
        let mut kept: HashSet<StateKey> = HashSet::new();
        for ((event_type, state_key), event_id) in &resolved {
            let nid = match nid_of.get(event_id) {
                Some(nid) => *nid,
                // v2.1 may pick an event on the conflicted subgraph that no
                // state set holds.
                None => self.nid_of_loaded(&loaded, event_id).await?,
            };
            let key = match key_of.get(&nid) {
                Some(key) => *key,
                None => self.state_key(event_type, state_key).await?,
            };
            kept.insert(key);
            if base.get(&key) != Some(&nid) {
                changes.insert(key, Some(nid));
            }
        }
        for key in base.keys() {
            if !kept.contains(key) {
                changes.insert(*key, None);
            }
        }
        let root = distinct[0];
        // `sets[0]` is the state at `distinct[0]`.
        self.write_state_changes(root, &changes).await
    }

    /// Adds to `loaded` every event in the auth chains of those in it.
    async fn load_auth_chains(&mut self, loaded: &mut Loaded) -> Result<()> {
        let mut wanted: Vec<EventId> = loaded
            .events
            .values()
            .flat_map(|event| event.pdu.auth_events().iter().cloned())
            .filter(|id| !loaded.events.contains_key(id))
            .collect();
        while !wanted.is_empty() {
            wanted.sort();
            wanted.dedup();
            let found = self.events_by_id(&wanted).await?;
            let mut next = Vec::new();
            for event in found {
                next.extend(
                    event
                        .pdu
                        .auth_events()
                        .iter()
                        .filter(|id| !loaded.events.contains_key(*id))
                        .cloned(),
                );
                loaded
                    .events
                    .insert(event.pdu.event_id().clone(), event.clone());
            }
            next.retain(|id| !loaded.events.contains_key(id));
            wanted = next;
        }
        Ok(())
    }

    async fn nid_of_loaded(&self, loaded: &Loaded, event_id: &EventId) -> Result<EventNid> {
        loaded
            .events
            .get(event_id)
            .map(|event| event.nid)
            .ok_or_else(|| Error::Internal(format!("resolved state names unknown {event_id}")))
    }

    /// The interned key of `(event_type, state_key)`, interning it if new.
    pub(super) async fn state_key(&self, event_type: &str, state_key: &str) -> Result<StateKey> {
        let keys = self
            .homeserver
            .rooms
            .interner
            .state_keys(&self.homeserver.store, &[(event_type, state_key)], true)
            .await?;
        keys[0].ok_or_else(|| Error::Internal("interning a state key failed".into()))
    }
}
