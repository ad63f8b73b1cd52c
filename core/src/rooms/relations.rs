//! Relations between events (GET /relations), threads (GET /threads) and
//! finding events by time (GET /timestamp_to_event), through history
//! visibility like every read.

use std::sync::Arc;

use hanse_protocol::identifiers::{EventId, RoomId, UserId};
use serde_json::Value;

use super::build::RoomRef;
use super::events::StoredEvent;
use super::timeline::{parse_token, token, MAX_MESSAGES_LIMIT};
use super::visibility::Reader;
use crate::accounts::Session;
use crate::store::Direction;
use crate::{Error, Homeserver, Result};

/// GET /rooms/{roomId}/relations/{eventId}[/{relType}[/{eventType}]].
#[derive(Debug, Clone)]
pub struct RelationsQuery {
    pub rel_type: Option<String>,
    pub event_type: Option<String>,
    pub from: Option<String>,
    pub backward: bool,
    pub limit: usize,
    pub recurse: bool,
}

/// A page of related events.
#[derive(Debug, Clone)]
pub struct Relations {
    pub chunk: Vec<Value>,
    pub next_batch: Option<String>,
    /// How deep the recursion went, when it was asked for.
    pub recursion_depth: Option<usize>,
}

/// How deep `recurse` follows relations of relations; the spec lets
/// servers choose, and 3 covers edits of replies in threads.
const MAX_RECURSION: usize = 3;

impl Homeserver {
    /// The room and its reader, if they may see `event_id` in it.
    pub(super) async fn visible_event(
        &self,
        user: &UserId,
        room_id: &RoomId,
        event_id: &EventId,
    ) -> Result<(RoomRef, Reader, Arc<StoredEvent>)> {
        let room = self.room(room_id).await?;
        let reader = self.reader(&room, user).await?;
        let not_found = || Error::NotFound(format!("no event {event_id} you can see in this room"));
        let event = self
            .event_by_id(event_id.as_str())
            .await?
            .ok_or_else(not_found)?;
        if event.room_nid != room.nid || !self.may_see(&reader, &event).await? {
            return Err(not_found());
        }
        Ok((room, reader, event))
    }

    pub async fn relations(
        &self,
        viewer: &Session,
        room_id: &RoomId,
        event_id: &EventId,
        query: RelationsQuery,
    ) -> Result<Relations> {
        let user = &viewer.user_id;
        let (room, reader, parent) = self.visible_event(user, room_id, event_id).await?;
        let direction = if query.backward {
            Direction::Backward
        } else {
            Direction::Forward
        };
        let from = match &query.from {
            Some(from) => parse_token(from)?,
            None if query.backward => i64::MAX,
            None => 0,
        };
        let limit = query.limit.clamp(1, MAX_MESSAGES_LIMIT);
        let mut parents = vec![parent.nid];
        let mut found: Vec<Arc<StoredEvent>> = Vec::new();
        let mut depth = 0;
        // Direct relations page by stream position; with recursion, the
        // relations of those come along (bounded by depth and limit).
        let want = i64::try_from(limit + 1).unwrap_or(i64::MAX);
        loop {
            let mut level = Vec::new();
            for parent in &parents {
                let nids = self
                    .store
                    .relations(*parent, query.rel_type.as_deref(), from, direction, want)
                    .await?;
                level.extend(self.events(&nids).await?);
            }
            // A relation only counts within the room of its target.
            level.retain(|event| event.room_nid == room.nid);
            if level.is_empty() {
                break;
            }
            parents = level.iter().map(|event| event.nid).collect();
            found.extend(level);
            depth += 1;
            if !query.recurse || depth >= MAX_RECURSION {
                break;
            }
        }
        found.sort_by_key(|event| event.stream_ordering);
        if query.backward {
            found.reverse();
        }
        let mut chunk = Vec::new();
        let mut next_batch = None;
        for event in found {
            if query
                .event_type
                .as_deref()
                .is_some_and(|wanted| event.pdu.event_type() != wanted)
            {
                continue;
            }
            if !self.may_see(&reader, &event).await? {
                continue;
            }
            if chunk.len() == limit {
                next_batch = chunk
                    .last()
                    .map(|last: &Arc<StoredEvent>| token(last.stream_ordering));
                break;
            }
            chunk.push(event);
        }
        Ok(Relations {
            chunk: self.client_events(viewer, &chunk).await?,
            next_batch,
            recursion_depth: query.recurse.then_some(depth),
        })
    }

    /// Thread roots of the room, latest activity first (GET /threads).
    pub async fn threads(
        &self,
        viewer: &Session,
        room_id: &RoomId,
        participated_only: bool,
        from: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Value>, Option<String>)> {
        let user = &viewer.user_id;
        let room = self.room(room_id).await?;
        let reader = self.reader(&room, user).await?;
        self.readable_state_root(&room, &reader).await?;
        let limit = limit.clamp(1, MAX_MESSAGES_LIMIT);
        let mut before = match from {
            Some(from) => parse_token(from)?,
            None => i64::MAX,
        };
        let mut roots = Vec::new();
        let mut next_batch = None;
        'pages: loop {
            let page = self
                .store
                .thread_roots(room.nid, before, i64::try_from(limit).unwrap_or(i64::MAX))
                .await?;
            if page.is_empty() {
                break;
            }
            for (root, latest) in page {
                before = latest;
                let event = self.events(&[root]).await?.remove(0);
                let participated = !participated_only
                    || self
                        .store
                        .participated_in_thread(root, user.as_str())
                        .await?;
                if participated && self.may_see(&reader, &event).await? {
                    roots.push(event);
                    if roots.len() == limit {
                        next_batch = Some(token(latest));
                        break 'pages;
                    }
                }
            }
        }
        Ok((self.client_events(viewer, &roots).await?, next_batch))
    }

    /// The visible event nearest to `ts` in the given direction
    /// (GET /timestamp_to_event): its ID and timestamp.
    pub async fn timestamp_to_event(
        &self,
        viewer: &Session,
        room_id: &RoomId,
        ts: i64,
        forward: bool,
    ) -> Result<(EventId, i64)> {
        let user = &viewer.user_id;
        let room = self.room(room_id).await?;
        let reader = self.reader(&room, user).await?;
        self.readable_state_root(&room, &reader).await?;
        // Look at a bounded number of candidates: an event the user cannot
        // see is skipped, a long run of them ends the search.
        let nids = self
            .store
            .events_near_time(room.nid, ts, forward, 200)
            .await?;
        for event in self.events(&nids).await? {
            if self.may_see(&reader, &event).await? {
                return Ok((event.pdu.event_id().clone(), event.pdu.origin_server_ts()));
            }
        }
        Err(Error::NotFound(format!(
            "no event you can see {} {ts}",
            if forward {
                "at or after"
            } else {
                "at or before"
            }
        )))
    }
}
