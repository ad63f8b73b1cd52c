//! What other servers may read of a room: single events, the state at an
//! event, auth chains, the events before some (backfill) and between two
//! points (get_missing_events). A server reads a room only while one of
//! its users is joined to it; the operator's policy was checked when its
//! request was authenticated, so nothing of a room reaches a server
//! outside it.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use hanse_protocol::identifiers::{EventId, RoomId, ServerName};
use serde_json::{json, Value};

use super::receive::federation_format;
use crate::rooms::{RoomRef, StoredEvent};
use crate::{Error, Homeserver, Result};

/// The most events one backfill or get_missing_events answer holds.
pub const MAX_EVENTS_PER_ANSWER: usize = 100;

impl Homeserver {
    /// The room, if `origin` may read it: a user of `origin` is joined and
    /// the room's server ACL lets it in.
    pub(crate) async fn room_for_server(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
    ) -> Result<RoomRef> {
        let room = self.room(room_id).await?;
        if !self.store.server_in_room(room.nid, origin.as_str()).await? {
            tracing::info!(%origin, %room_id, "refusing a read by a server not in the room");
            return Err(Error::Forbidden(format!(
                "{origin} has no user in {room_id}"
            )));
        }
        self.require_acl(&room, origin).await?;
        Ok(room)
    }

    /// A stored event of a room `origin` is in, as JSON, or M_NOT_FOUND.
    async fn event_for_server(
        &self,
        origin: &ServerName,
        event_id: &EventId,
    ) -> Result<(RoomRef, Arc<StoredEvent>)> {
        let not_found = || Error::NotFound(format!("no event {event_id} here"));
        let event = self
            .event_by_id(event_id.as_str())
            .await?
            .filter(|event| !event.rejected)
            .ok_or_else(not_found)?;
        let room = self.room_for_server(origin, event.pdu.room_id()).await?;
        Ok((room, event))
    }

    /// GET /event/{eventId}
    pub async fn serve_event(&self, origin: &ServerName, event_id: &EventId) -> Result<Value> {
        let (_, event) = self.event_for_server(origin, event_id).await?;
        Ok(json!({
            "origin": self.identity.server_name.as_str(),
            "origin_server_ts": crate::clock::now_ms(),
            "pdus": [federation_format(&event.pdu)],
        }))
    }

    /// The state before `event_id` and its auth chain, as events.
    async fn state_at_event(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        event_id: &EventId,
    ) -> Result<(Vec<Arc<StoredEvent>>, Vec<Arc<StoredEvent>>)> {
        let (room, event) = self.event_for_server(origin, event_id).await?;
        if room.room_id != *room_id || event.outlier {
            return Err(Error::NotFound(format!(
                "no state is known at {event_id} in {room_id}"
            )));
        }
        let state = self.full_state_at(event.state_before).await?;
        let chain = self.auth_chain(&state).await?;
        Ok((state, chain))
    }

    /// GET /state_ids/{roomId}?event_id=
    pub async fn serve_state_ids(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        event_id: &EventId,
    ) -> Result<Value> {
        let (state, chain) = self.state_at_event(origin, room_id, event_id).await?;
        let ids = |events: &[Arc<StoredEvent>]| -> Vec<String> {
            events
                .iter()
                .map(|event| event.pdu.event_id().as_str().to_owned())
                .collect()
        };
        Ok(json!({ "pdu_ids": ids(&state), "auth_chain_ids": ids(&chain) }))
    }

    /// GET /state/{roomId}?event_id=
    pub async fn serve_state(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        event_id: &EventId,
    ) -> Result<Value> {
        let (state, chain) = self.state_at_event(origin, room_id, event_id).await?;
        Ok(json!({ "pdus": formats(&state), "auth_chain": formats(&chain) }))
    }

    /// GET /event_auth/{roomId}/{eventId}
    pub async fn serve_event_auth(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        event_id: &EventId,
    ) -> Result<Value> {
        let (room, event) = self.event_for_server(origin, event_id).await?;
        if room.room_id != *room_id {
            return Err(Error::NotFound(format!("no event {event_id} in {room_id}")));
        }
        let chain = self.auth_chain(&[event]).await?;
        Ok(json!({ "auth_chain": formats(&chain) }))
    }

    /// POST /get_missing_events/{roomId}: walking back from `latest` along
    /// prev events, the events not before `earliest`, at least
    /// `min_depth` deep, at most `limit`, oldest first.
    pub async fn serve_missing_events(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        earliest: &[EventId],
        latest: &[EventId],
        limit: usize,
        min_depth: u64,
    ) -> Result<Value> {
        let room = self.room_for_server(origin, room_id).await?;
        let stop: HashSet<&EventId> = earliest.iter().collect();
        let limit = limit.min(MAX_EVENTS_PER_ANSWER);
        let start: Vec<&str> = latest.iter().map(EventId::as_str).collect();
        let start = self.events_by_ids(&start).await?;
        let mut frontier: Vec<EventId> = start
            .iter()
            .filter(|event| event.room_nid == room.nid)
            .flat_map(|event| event.pdu.prev_events().iter().cloned())
            .collect();
        let found = self
            .walk_back(&room, &mut frontier, &stop, limit, min_depth)
            .await?;
        Ok(json!({ "events": formats(&found) }))
    }

    /// GET /backfill/{roomId}?v=&limit=: the events `from` and those
    /// before them, newest first, at most `limit`.
    pub async fn serve_backfill(
        &self,
        origin: &ServerName,
        room_id: &RoomId,
        from: &[EventId],
        limit: usize,
    ) -> Result<Value> {
        let room = self.room_for_server(origin, room_id).await?;
        let limit = limit.min(MAX_EVENTS_PER_ANSWER);
        let mut frontier = from.to_vec();
        let mut found = self
            .walk_back(&room, &mut frontier, &HashSet::new(), limit, 0)
            .await?;
        found.reverse();
        Ok(json!({
            "origin": self.identity.server_name.as_str(),
            "origin_server_ts": crate::clock::now_ms(),
            "pdus": formats(&found),
        }))
    }

    /// Walks the room's graph backwards from `frontier`, deepest first,
    /// not past `stop` or below `min_depth`; at most `limit` events,
    /// returned oldest first. Rejected events and outliers are skipped.
    async fn walk_back(
        &self,
        room: &RoomRef,
        frontier: &mut Vec<EventId>,
        stop: &HashSet<&EventId>,
        limit: usize,
        min_depth: u64,
    ) -> Result<Vec<Arc<StoredEvent>>> {
        let mut seen: HashSet<EventId> = HashSet::new();
        let mut queue: BTreeMap<(u64, EventId), Arc<StoredEvent>> = BTreeMap::new();
        let mut found = Vec::new();
        loop {
            let wanted: Vec<&str> = frontier
                .iter()
                .filter(|id| !stop.contains(id) && seen.insert((*id).clone()))
                .map(EventId::as_str)
                .collect();
            for event in self.events_by_ids(&wanted).await? {
                if event.room_nid == room.nid && !event.rejected && !event.outlier {
                    queue.insert((event.pdu.depth(), event.pdu.event_id().clone()), event);
                }
            }
            frontier.clear();
            let Some((_, event)) = queue.pop_last() else {
                break;
            };
            if event.pdu.depth() < min_depth {
                break;
            }
            frontier.extend(event.pdu.prev_events().iter().cloned());
            found.push(event);
            if found.len() >= limit {
                break;
            }
        }
        found.reverse();
        Ok(found)
    }

    /// Every event in the auth chains of `events`, oldest first.
    pub(crate) async fn auth_chain(
        &self,
        events: &[Arc<StoredEvent>],
    ) -> Result<Vec<Arc<StoredEvent>>> {
        let mut chain: BTreeMap<EventId, Arc<StoredEvent>> = BTreeMap::new();
        let mut wanted: Vec<EventId> = events
            .iter()
            .flat_map(|event| event.pdu.auth_events().iter().cloned())
            .collect();
        while !wanted.is_empty() {
            wanted.sort();
            wanted.dedup();
            wanted.retain(|id| !chain.contains_key(id));
            let ids: Vec<&str> = wanted.iter().map(EventId::as_str).collect();
            let found = self.events_by_ids(&ids).await?;
            wanted = found
                .iter()
                .flat_map(|event| event.pdu.auth_events().iter().cloned())
                .collect();
            for event in found {
                chain.insert(event.pdu.event_id().clone(), event);
            }
        }
        let mut chain: Vec<Arc<StoredEvent>> = chain.into_values().collect();
        chain.sort_by_key(|event| event.pdu.depth());
        Ok(chain)
    }
}

fn formats(events: &[Arc<StoredEvent>]) -> Vec<Value> {
    events
        .iter()
        .map(|event| federation_format(&event.pdu))
        .collect()
}
