//! Stored events as parsed PDUs, with a bounded cache, and the client
//! format the client-server API returns them in.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

use hanse_protocol::canonical_json::{self, CanonicalJsonValue};
use hanse_protocol::pdu::Pdu;
use hanse_protocol::room_versions::RoomVersionId;
use lru::LruCache;
use serde_json::{json, Map, Value};

use super::state_trie::{EventNid, NodeNid};
use crate::store::EventRow;
use crate::{Error, Homeserver, Result};

/// A persisted event.
#[derive(Clone)]
pub struct StoredEvent {
    pub nid: EventNid,
    pub room_nid: i64,
    pub pdu: Pdu,
    /// Its position in the room's timeline; 0 for events outside it
    /// (outliers, rejected and soft-failed events).
    pub stream_ordering: i64,
    /// The room state before the event (an empty state for outliers,
    /// whose state this server does not know).
    pub state_before: NodeNid,
    /// The redaction that removed the content, if any.
    pub redacted_by: Option<EventNid>,
    /// Whether the event failed the checks on receipt (kept, never used).
    pub rejected: bool,
    /// Whether the event is known without the state before it.
    pub outlier: bool,
}

impl std::fmt::Debug for StoredEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredEvent")
            .field("nid", &self.nid)
            .field("event_id", &self.pdu.event_id().as_str())
            .finish()
    }
}

impl StoredEvent {
    fn from_row(row: EventRow) -> Result<Self> {
        let version: RoomVersionId = row.room_version.parse().map_err(|_| {
            Error::Internal(format!(
                "room version {} is stored but unknown",
                row.room_version
            ))
        })?;
        let object = canonical_json::object_from_str(&row.json)
            .map_err(|e| Error::Internal(format!("stored event {}: {e}", row.event_id)))?;
        let pdu = Pdu::from_canonical(object, version.rules())
            .map_err(|e| Error::Internal(format!("stored event {}: {e}", row.event_id)))?;
        Ok(Self {
            nid: row.event_nid,
            room_nid: row.room_nid,
            pdu,
            stream_ordering: row.stream_ordering,
            state_before: row.state_before,
            redacted_by: row.redacted_by,
            rejected: row.rejected,
            outlier: row.outlier,
        })
    }

    /// The event as clients see it (the spec's ClientEvent).
    pub fn client_format(&self) -> Value {
        let pdu = &self.pdu;
        let mut event = Map::new();
        event.insert("event_id".into(), json!(pdu.event_id().as_str()));
        event.insert("room_id".into(), json!(pdu.room_id().as_str()));
        event.insert("sender".into(), json!(pdu.sender().as_str()));
        event.insert("type".into(), json!(pdu.event_type()));
        event.insert("origin_server_ts".into(), json!(pdu.origin_server_ts()));
        event.insert("content".into(), to_json(pdu.content()));
        if let Some(state_key) = pdu.state_key() {
            event.insert("state_key".into(), json!(state_key));
        }
        if let Some(redacts) = pdu.redacts() {
            event.insert("redacts".into(), json!(redacts.as_str()));
        }
        let mut unsigned = Map::new();
        let age = crate::clock::now_ms().saturating_sub(pdu.origin_server_ts());
        unsigned.insert("age".into(), json!(age.max(0)));
        event.insert("unsigned".into(), Value::Object(unsigned));
        Value::Object(event)
    }
}

/// A canonical JSON object as a serde_json value.
pub(crate) fn to_json(object: &canonical_json::CanonicalJsonObject) -> Value {
    serde_json::to_value(CanonicalJsonValue::Object(object.clone()))
        .expect("canonical JSON always converts to serde_json")
}

/// Events parsed once and shared; redaction replaces an entry.
pub(crate) struct EventCache {
    events: Mutex<LruCache<EventNid, Arc<StoredEvent>>>,
}

impl EventCache {
    pub fn new(capacity: NonZeroUsize) -> Self {
        Self {
            events: Mutex::new(LruCache::new(capacity)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<EventNid, Arc<StoredEvent>>> {
        crate::lock(&self.events)
    }

    pub fn insert(&self, event: Arc<StoredEvent>) {
        self.lock().put(event.nid, event);
    }

    pub fn forget(&self, nid: EventNid) {
        self.lock().pop(&nid);
    }
}

impl Homeserver {
    /// The events `nids`, in the order asked; an unknown number is an
    /// internal error (numbers come from the database).
    pub(crate) async fn events(&self, nids: &[EventNid]) -> Result<Vec<Arc<StoredEvent>>> {
        let cache = &self.rooms.events;
        let mut found: Vec<Option<Arc<StoredEvent>>> = {
            let mut events = cache.lock();
            nids.iter().map(|nid| events.get(nid).cloned()).collect()
        };
        let missing: Vec<EventNid> = nids
            .iter()
            .zip(&found)
            .filter(|(_, event)| event.is_none())
            .map(|(nid, _)| *nid)
            .collect();
        if !missing.is_empty() {
            let mut loaded = std::collections::HashMap::new();
            for row in self.store.events_by_nid(&missing).await? {
                let event = Arc::new(StoredEvent::from_row(row)?);
                cache.insert(event.clone());
                loaded.insert(event.nid, event);
            }
            for (slot, nid) in found.iter_mut().zip(nids) {
                if slot.is_none() {
                    *slot = loaded.get(nid).cloned();
                }
            }
        }
        found
            .into_iter()
            .zip(nids)
            .map(|(event, nid)| {
                event.ok_or_else(|| {
                    Error::Internal(format!("event {nid} is referenced but not stored"))
                })
            })
            .collect()
    }

    /// The events with these IDs that are stored, in no particular order.
    pub(crate) async fn events_by_ids(&self, event_ids: &[&str]) -> Result<Vec<Arc<StoredEvent>>> {
        let mut found = Vec::with_capacity(event_ids.len());
        for row in self.store.events_by_ids(event_ids).await? {
            let event = Arc::new(StoredEvent::from_row(row)?);
            self.rooms.events.insert(event.clone());
            found.push(event);
        }
        Ok(found)
    }

    /// The event with this ID, if stored.
    pub(crate) async fn event_by_id(&self, event_id: &str) -> Result<Option<Arc<StoredEvent>>> {
        let Some(row) = self.store.event_by_id(event_id).await? else {
            return Ok(None);
        };
        let event = Arc::new(StoredEvent::from_row(row)?);
        self.rooms.events.insert(event.clone());
        Ok(Some(event))
    }
}
