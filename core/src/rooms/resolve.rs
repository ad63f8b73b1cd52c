//! State resolution over stored states: the states (trie roots) of forks
//! of a room, resolved by the protocol crate's algorithm into one new
//! root, written in the batch's transaction.
//!
//! The algorithm runs on numbers (`resolve_numbered`): the store's
//! interned state keys, and the loaded events numbered once here, so that
//! walking the auth chains of thousands of unconflicted members is a walk
//! through arrays rather than lookups by event ID.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use hanse_protocol::identifiers::EventId;
use hanse_protocol::state_res::{self, EventGraph, GraphEvent, NumberedState};

use super::build::Batch;
use super::events::StoredEvent;
use super::state_trie::{EventNid, NodeNid, StateKey};
use crate::{Error, Result};

/// Events state resolution reads, by ID.
struct Loaded {
    events: HashMap<EventId, Arc<StoredEvent>>,
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
        for event in &state_events {
            loaded
                .events
                .insert(event.pdu.event_id().clone(), event.clone());
        }
        self.load_auth_chains(&mut loaded).await?;

        // Events of the auth chains that no state set holds have no key
        // yet; v2.1 may put one of them in the resolved state.
        let unkeyed: Vec<(&str, &str)> = loaded
            .events
            .values()
            .filter(|event| !key_of.contains_key(&event.nid))
            .filter_map(|event| Some((event.pdu.event_type(), event.pdu.state_key()?)))
            .collect();
        let keys = if unkeyed.is_empty() {
            Vec::new()
        } else {
            let interner = &self.homeserver.rooms.interner;
            interner.state_keys(store, &unkeyed, true).await?
        };
        let mut key_by_place: HashMap<(&str, &str), StateKey> = HashMap::new();
        for (place, key) in unkeyed.iter().zip(keys) {
            let key = key.ok_or_else(|| Error::Internal("interning a state key failed".into()))?;
            key_by_place.insert(*place, key);
        }

        // Numbered in this order, each event once: index `i` is `order[i]`.
        let order: Vec<&StoredEvent> = loaded
            .events
            .values()
            .map(Arc::as_ref)
            .filter(|event| event.pdu.is_state())
            .collect();
        let graph = EventGraph::new(order.iter().map(|event| {
            let place = (
                event.pdu.event_type(),
                event.pdu.state_key().unwrap_or_default(),
            );
            GraphEvent {
                pdu: &event.pdu,
                key: key_of
                    .get(&event.nid)
                    .or_else(|| key_by_place.get(&place))
                    .copied()
                    .expect("every state event has a key"),
                rejected: event.rejected,
            }
        }))
        .map_err(|error| Error::Internal(format!("state resolution failed: {error}")))?;
        let index_of: HashMap<EventNid, u32> = (0..)
            .zip(&order)
            .map(|(index, event)| (event.nid, index))
            .collect();
        let numbered_sets = sets
            .iter()
            .map(|set| {
                set.iter()
                    .map(|(key, nid)| match index_of.get(nid) {
                        Some(index) => Ok((*key, *index)),
                        None => Err(Error::Internal(format!("state event {nid} is not loaded"))),
                    })
                    .collect::<Result<NumberedState<StateKey>>>()
            })
            .collect::<Result<Vec<_>>>()?;
        let resolved =
            state_res::resolve_numbered(self.room.version.rules(), &numbered_sets, &graph)
                .map_err(|error| Error::Internal(format!("state resolution failed: {error}")))?;

        // The result's difference from the first state.
        let base = &sets[0];
        let mut changes: BTreeMap<StateKey, Option<EventNid>> = BTreeMap::new();
        for (key, index) in &resolved {
            let nid = order[*index as usize].nid;
            if base.get(key) != Some(&nid) {
                changes.insert(*key, Some(nid));
            }
        }
        for key in base.keys() {
            if !resolved.contains_key(key) {
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
