//! The events of a resolution, numbered: what the algorithm runs on.
//!
//! State resolution walks auth chains that reach across the whole room: in
//! a room of 10,000 members, the auth difference has to rule out the auth
//! chain of every unconflicted membership. Walking event IDs through a map
//! of events makes that a lookup by a 44-byte key and a pointer chase per
//! event; on an [`EventGraph`] it is a step through an array of numbers.
//! The caller numbers the events once (a server numbers them as it stores
//! them) and names states by its own compact keys.

// foldhash rather than the standard SipHash: building a graph hashes every
// event ID of the room several times, and event IDs from room version 3 on
// are hashes of the events themselves, which a peer cannot choose freely.
use foldhash::{HashMap, HashMapExt};

use crate::identifiers::EventId;
use crate::pdu::Pdu;

use super::StateResError;

/// An event's number in an [`EventGraph`]: its position in the events the
/// graph was built from, after duplicates were dropped.
pub type EventIndex = u32;

/// One event given to [`EventGraph::new`].
#[derive(Debug, Clone, Copy)]
pub struct GraphEvent<'a, K> {
    pub pdu: &'a Pdu,
    /// The caller's key for the event's `(type, state_key)`. Events with
    /// the same `(type, state_key)` must have the same key.
    pub key: K,
    /// Whether the event was rejected: the iterative auth checks do not
    /// fall back on rejected auth events.
    pub rejected: bool,
}

/// The state events of a room that a resolution may read, numbered, with
/// their `auth_events` edges as numbers too. `K` is the caller's key for a
/// `(type, state_key)` pair.
#[derive(Debug)]
pub struct EventGraph<'a, K> {
    events: Vec<GraphEvent<'a, K>>,
    /// Event `i` cites `auth[auth_starts[i]..auth_starts[i + 1]]`.
    auth_starts: Vec<usize>,
    auth: Vec<EventIndex>,
    by_id: HashMap<&'a EventId, EventIndex>,
    by_key: HashMap<(&'a str, &'a str), K>,
}

impl<'a, K> EventGraph<'a, K> {
    /// Numbers `events`, in the order given; an event given twice keeps its
    /// first number. Every event one of them cites must be among them, or
    /// this fails with [`StateResError::MissingEvent`]. Message events are
    /// not state and have no place here.
    pub fn new(events: impl IntoIterator<Item = GraphEvent<'a, K>>) -> Result<Self, StateResError>
    where
        K: Copy,
    {
        let mut graph = EventGraph {
            events: Vec::new(),
            auth_starts: Vec::new(),
            auth: Vec::new(),
            by_id: HashMap::new(),
            by_key: HashMap::new(),
        };
        for event in events {
            let next = EventIndex::try_from(graph.events.len())
                .expect("fewer than 2^32 events in one resolution");
            if let std::collections::hash_map::Entry::Vacant(slot) =
                graph.by_id.entry(event.pdu.event_id())
            {
                slot.insert(next);
                if let Some(state_key) = event.pdu.state_key() {
                    graph
                        .by_key
                        .insert((event.pdu.event_type(), state_key), event.key);
                }
                graph.events.push(event);
            }
        }
        graph.auth_starts.reserve(graph.events.len() + 1);
        for event in &graph.events {
            graph.auth_starts.push(graph.auth.len());
            for id in event.pdu.auth_events() {
                let index = graph
                    .by_id
                    .get(id)
                    .ok_or_else(|| StateResError::MissingEvent(id.clone()))?;
                graph.auth.push(*index);
            }
        }
        graph.auth_starts.push(graph.auth.len());
        Ok(graph)
    }

    /// How many events the graph holds.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// Whether the graph holds no event.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The number of the event with ID `id`, if the graph holds it.
    pub fn index(&self, id: &EventId) -> Option<EventIndex> {
        self.by_id.get(id).copied()
    }

    /// The event numbered `index`.
    pub fn pdu(&self, index: EventIndex) -> &'a Pdu {
        self.events[index as usize].pdu
    }

    /// The caller's key of the event numbered `index`.
    pub fn key_of(&self, index: EventIndex) -> K
    where
        K: Copy,
    {
        self.events[index as usize].key
    }

    /// The caller's key for `(event_type, state_key)`, if an event of the
    /// graph has that place in the state.
    pub(super) fn key(&self, event_type: &str, state_key: &str) -> Option<K>
    where
        K: Copy,
    {
        self.by_key.get(&(event_type, state_key)).copied()
    }

    pub(super) fn is_rejected(&self, index: EventIndex) -> bool {
        self.events[index as usize].rejected
    }

    /// The numbers of the events `index` cites, in its `auth_events` order.
    pub(super) fn auth_events(&self, index: EventIndex) -> &[EventIndex] {
        let i = index as usize;
        &self.auth[self.auth_starts[i]..self.auth_starts[i + 1]]
    }

    /// The number of the create event that a room version 12 event names
    /// by its room ID instead of citing it, if the version does that.
    pub(super) fn room_create(
        &self,
        index: EventIndex,
    ) -> Result<Option<EventIndex>, StateResError> {
        match self.pdu(index).room_id().create_event_id() {
            None => Ok(None),
            Some(id) => self
                .index(&id)
                .map(Some)
                .ok_or(StateResError::MissingEvent(id)),
        }
    }
}

/// A set of events of one graph, as one bit per event: the walks over
/// auth chains visit thousands of events and test each against it.
#[derive(Debug, Clone)]
pub(super) struct EventBits {
    words: Vec<u64>,
}

impl EventBits {
    pub(super) fn new<K>(graph: &EventGraph<'_, K>) -> Self {
        EventBits {
            words: vec![0; graph.len().div_ceil(64)],
        }
    }

    pub(super) fn contains(&self, index: EventIndex) -> bool {
        self.words[index as usize / 64] & (1 << (index % 64)) != 0
    }

    /// Adds `index`; false if it was there already.
    pub(super) fn insert(&mut self, index: EventIndex) -> bool {
        let word = &mut self.words[index as usize / 64];
        let bit = 1 << (index % 64);
        let added = *word & bit == 0;
        *word |= bit;
        added
    }
}
