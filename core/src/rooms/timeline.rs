//! Reading rooms: single events, the timeline (/messages), state and
//! members, each through the history visibility rules.

use std::collections::HashMap;
use std::sync::Arc;

use hanse_protocol::identifiers::{EventId, RoomId, UserId};
use serde_json::{json, Map, Value};

use super::build::RoomRef;
use super::events::StoredEvent;
use super::membership_of;
use super::state_trie::{EventNid, NodeNid};
use super::visibility::{ReadableState, Reader};
use crate::accounts::Session;
use crate::filters::RoomEventFilter;
use crate::store::Direction;
use crate::{Error, Homeserver, Result};

/// GET /rooms/{roomId}/messages.
#[derive(Debug, Clone)]
pub struct MessagesQuery {
    pub from: Option<String>,
    pub to: Option<String>,
    pub backward: bool,
    pub limit: usize,
    pub filter: RoomEventFilter,
}

/// A page of timeline.
#[derive(Debug, Clone)]
pub struct Messages {
    pub chunk: Vec<Value>,
    pub start: String,
    /// Absent when there is nothing more in that direction.
    pub end: Option<String>,
    /// With lazy loading: the member events of the chunk's senders.
    pub state: Vec<Value>,
}

/// An event in its surroundings (GET /context).
#[derive(Debug, Clone)]
pub struct Context {
    pub start: Option<String>,
    pub end: Option<String>,
    pub events_before: Vec<Value>,
    pub event: Value,
    pub events_after: Vec<Value>,
    pub state: Vec<Value>,
}

/// A walk along a room's timeline: from position `from` (exclusive)
/// towards `to` (forward: inclusive; backward: exclusive).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Walk {
    pub from: i64,
    pub to: Option<i64>,
    pub direction: Direction,
}

/// Events of one walk along a room's timeline.
#[derive(Debug)]
pub(crate) struct Page {
    pub events: Vec<Arc<StoredEvent>>,
    /// Where the walk stopped: the last event examined.
    pub position: i64,
    /// Whether the walk reached the end (or `to`).
    pub exhausted: bool,
}

/// The most events /messages returns at once.
pub const MAX_MESSAGES_LIMIT: usize = 1000;
/// How many candidate events /messages examines per page at most, so that
/// a long stretch of invisible events cannot make one request unbounded.
const MAX_EXAMINED: usize = 5_000;

/// Pagination tokens are positions in the event stream: `s<position>`,
/// negative in older history fetched from other servers. A /sync token
/// (`s<position>_<other streams>`) works too.
pub(crate) fn parse_token(token: &str) -> Result<i64> {
    token
        .strip_prefix('s')
        .and_then(|rest| rest.split('_').next())
        .and_then(|n| n.parse::<i64>().ok())
        .ok_or_else(|| Error::InvalidParam(format!("{token:?} is not a pagination token")))
}

pub(crate) fn token(position: i64) -> String {
    format!("s{position}")
}

impl Homeserver {
    /// One event, if the user may see it (GET /rooms/{roomId}/event/{eventId}).
    pub async fn room_event(
        &self,
        viewer: &Session,
        room_id: &RoomId,
        event_id: &EventId,
    ) -> Result<Value> {
        let user = &viewer.user_id;
        let room = self.room(room_id).await?;
        let not_found = || Error::NotFound(format!("no event {event_id} you can see in this room"));
        let event = self
            .event_by_id(event_id.as_str())
            .await?
            .ok_or_else(not_found)?;
        if event.room_nid != room.nid {
            return Err(not_found());
        }
        let reader = self.reader(&room, user).await?;
        if !self.may_see(&reader, &event).await? {
            return Err(not_found());
        }
        Ok(self.client_events(viewer, &[event]).await?.remove(0))
    }

    /// A page of the room's timeline.
    pub async fn messages(
        &self,
        viewer: &Session,
        room_id: &RoomId,
        query: MessagesQuery,
    ) -> Result<Messages> {
        let user = &viewer.user_id;
        let room = self.room(room_id).await?;
        let reader = self.reader(&room, user).await?;
        self.readable_state_root(&room, &reader).await?;
        let direction = if query.backward {
            Direction::Backward
        } else {
            Direction::Forward
        };
        // Nothing beyond the persisted position: an event still being
        // committed below it must not fall behind the tokens returned.
        let persisted = self.persisted_position().await?;
        let from = match &query.from {
            Some(from) if query.backward => parse_token(from)?.min(persisted + 1),
            Some(from) => parse_token(from)?,
            None if query.backward => persisted + 1,
            None => i64::MIN,
        };
        let to = query.to.as_deref().map(parse_token).transpose()?;
        let to = match direction {
            Direction::Forward => Some(to.map_or(persisted, |to| to.min(persisted))),
            Direction::Backward => to,
        };
        let limit = query.limit.clamp(1, MAX_MESSAGES_LIMIT);
        let mut page = self
            .timeline_page(
                &room,
                &reader,
                Walk {
                    from,
                    to,
                    direction,
                },
                limit,
                &query.filter,
            )
            .await?;
        // At the start of what this server has: older history may be on
        // the room's other servers.
        if query.backward && page.exhausted && to.is_none() && page.events.len() < limit {
            let added = match self.backfill(&room).await {
                Ok(added) => added,
                Err(error) => {
                    tracing::warn!(room_id = %room.room_id, %error, "backfill failed");
                    0
                }
            };
            if added > 0 {
                let more = self
                    .timeline_page(
                        &room,
                        &reader,
                        Walk {
                            from: page.position,
                            to,
                            direction,
                        },
                        limit - page.events.len(),
                        &query.filter,
                    )
                    .await?;
                page.events.extend(more.events);
                // The next page asks again: the other servers may have
                // more still.
                page.position = more.position;
                page.exhausted = false;
            }
        }
        let chunk = page.events;
        let state = match chunk.first() {
            Some(first) if query.filter.lazy_load_members => {
                let members = self.senders_members(first.state_before, &chunk).await?;
                self.client_events(viewer, &members).await?
            }
            _ => Vec::new(),
        };
        Ok(Messages {
            chunk: self.client_events(viewer, &chunk).await?,
            start: token(from),
            end: (!page.exhausted).then(|| token(page.position)),
            state,
        })
    }

    /// Up to `limit` events of the room's timeline that pass `filter` and
    /// `reader` may see, in walking order.
    pub(crate) async fn timeline_page(
        &self,
        room: &RoomRef,
        reader: &Reader,
        walk: Walk,
        limit: usize,
        filter: &RoomEventFilter,
    ) -> Result<Page> {
        let Walk {
            from,
            to,
            direction,
        } = walk;
        let mut chunk = Vec::new();
        let mut position = from;
        let mut examined = 0;
        let mut exhausted = false;
        while chunk.len() < limit && examined < MAX_EXAMINED {
            let want = (limit - chunk.len()).max(20) as i64;
            let page = self
                .store
                .room_timeline(room.nid, position, to, direction, want)
                .await?;
            if page.is_empty() {
                exhausted = true;
                break;
            }
            examined += page.len();
            let nids: Vec<i64> = page.iter().map(|(nid, _)| *nid).collect();
            let events = self.events(&nids).await?;
            for event in events {
                if chunk.len() == limit {
                    break;
                }
                position = event.stream_ordering;
                if filter.matches(&event) && self.may_see(reader, &event).await? {
                    chunk.push(event);
                }
            }
            if (page.len() as i64) < want && chunk.len() < limit {
                exhausted = true;
                break;
            }
        }
        Ok(Page {
            events: chunk,
            position,
            exhausted,
        })
    }

    /// The member events, in the state rooted at `root`, of the senders of
    /// `events`.
    async fn senders_members(
        &self,
        root: NodeNid,
        events: &[Arc<StoredEvent>],
    ) -> Result<Vec<Arc<StoredEvent>>> {
        let mut senders: Vec<&str> = events.iter().map(|e| e.pdu.sender().as_str()).collect();
        senders.sort_unstable();
        senders.dedup();
        let pairs: Vec<(&str, &str)> = senders.iter().map(|s| ("m.room.member", *s)).collect();
        Ok(self
            .state_at(root, &pairs)
            .await?
            .into_iter()
            .flatten()
            .collect())
    }

    /// An event with what came just before and after it
    /// (GET /rooms/{roomId}/context/{eventId}): `limit` events in all,
    /// split between both sides, and the room state at the event.
    pub async fn context(
        &self,
        viewer: &Session,
        room_id: &RoomId,
        event_id: &EventId,
        limit: usize,
        filter: RoomEventFilter,
    ) -> Result<Context> {
        let event = self.room_event(viewer, room_id, event_id).await?;
        let stored = self
            .event_by_id(event_id.as_str())
            .await?
            .ok_or_else(|| Error::Internal("an event vanished".into()))?;
        let position = stored.stream_ordering;
        let before_limit = limit / 2;
        let after_limit = limit - before_limit;
        let lazy = filter.lazy_load_members;
        let page = |backward: bool, limit: usize| MessagesQuery {
            from: Some(token(position)),
            to: None,
            backward,
            limit,
            filter: RoomEventFilter {
                lazy_load_members: false,
                ..filter.clone()
            },
        };
        let before = match before_limit {
            0 => None,
            n => Some(self.messages(viewer, room_id, page(true, n)).await?),
        };
        let after = match after_limit {
            0 => None,
            n => Some(self.messages(viewer, room_id, page(false, n)).await?),
        };
        let mut state = self.state_after(stored).await?;
        if lazy {
            // Of the members, only those who sent what is shown.
            let shown: Vec<&Value> = [&before, &after]
                .into_iter()
                .flatten()
                .flat_map(|page| &page.chunk)
                .chain(std::iter::once(&event))
                .collect();
            let senders: Vec<&str> = shown.iter().filter_map(|e| e["sender"].as_str()).collect();
            state.retain(|e| {
                e.pdu.event_type() != "m.room.member"
                    || e.pdu.state_key().is_some_and(|key| senders.contains(&key))
            });
        }
        Ok(Context {
            start: before
                .as_ref()
                .and_then(|p| p.end.clone())
                .or_else(|| Some(token(position))),
            end: after
                .as_ref()
                .and_then(|p| p.end.clone())
                .or_else(|| Some(token(position))),
            events_before: before.map(|p| p.chunk).unwrap_or_default(),
            event,
            events_after: after.map(|p| p.chunk).unwrap_or_default(),
            state: self.client_events(viewer, &state).await?,
        })
    }

    /// The room state the user may see (GET /rooms/{roomId}/state).
    pub async fn room_state(&self, viewer: &Session, room_id: &RoomId) -> Result<Vec<Value>> {
        let user = &viewer.user_id;
        let events = self.readable_state(user, room_id, None).await?;
        self.client_events(viewer, &events).await
    }

    /// One state event in the client format
    /// (GET /rooms/{roomId}/state/{type}/{key}).
    pub async fn room_state_event(
        &self,
        viewer: &Session,
        room_id: &RoomId,
        event_type: &str,
        state_key: &str,
    ) -> Result<Value> {
        let user = &viewer.user_id;
        let events = self.readable_state(user, room_id, None).await?;
        let event = events
            .into_iter()
            .find(|event| {
                event.pdu.event_type() == event_type && event.pdu.state_key() == Some(state_key)
            })
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "the room has no {event_type} state with key {state_key:?}"
                ))
            })?;
        Ok(self.client_events(viewer, &[event]).await?.remove(0))
    }

    /// Member events of the room (GET /rooms/{roomId}/members).
    pub async fn room_members(
        &self,
        viewer: &Session,
        room_id: &RoomId,
        at: Option<&str>,
        membership: Option<&str>,
        not_membership: Option<&str>,
    ) -> Result<Vec<Value>> {
        let user = &viewer.user_id;
        let at = at.map(parse_token).transpose()?;
        let members: Vec<Arc<StoredEvent>> = self
            .readable_state(user, room_id, at)
            .await?
            .into_iter()
            .filter(|event| event.pdu.event_type() == "m.room.member")
            .filter(|event| {
                let current = membership_of(event);
                membership.is_none_or(|m| current.as_deref() == Some(m))
                    && not_membership.is_none_or(|m| current.as_deref() != Some(m))
            })
            .collect();
        self.client_events(viewer, &members).await
    }

    /// Joined members and their profile in the room
    /// (GET /rooms/{roomId}/joined_members).
    pub async fn joined_members(
        &self,
        viewer: &Session,
        room_id: &RoomId,
    ) -> Result<Map<String, Value>> {
        let user = &viewer.user_id;
        let mut joined = Map::new();
        for event in self.readable_state(user, room_id, None).await? {
            if event.pdu.event_type() != "m.room.member"
                || membership_of(&event).as_deref() != Some("join")
            {
                continue;
            }
            let content = event.pdu.content();
            let field = |name: &str| {
                content
                    .get(name)
                    .and_then(|v| v.as_str())
                    .map(str::to_owned)
            };
            if let Some(member) = event.pdu.state_key() {
                joined.insert(
                    member.to_owned(),
                    json!({ "display_name": field("displayname"), "avatar_url": field("avatar_url") }),
                );
            }
        }
        Ok(joined)
    }

    /// The room state the user may read: now (or when they left), or as
    /// of token `at` (a position, exclusive: the state after the last
    /// event before it; no later than their leaving).
    async fn readable_state(
        &self,
        user: &UserId,
        room_id: &RoomId,
        at: Option<i64>,
    ) -> Result<Vec<Arc<StoredEvent>>> {
        let room = self.room(room_id).await?;
        let reader = self.reader(&room, user).await?;
        let (current, left) = match self.readable_state_root(&room, &reader).await? {
            ReadableState::Current(root) => (Some(root), None),
            ReadableState::AtLeave(leave_nid) => {
                (None, Some(self.events(&[leave_nid]).await?.remove(0)))
            }
        };
        let limit = match (at, &left) {
            (Some(at), Some(leave)) => Some(at.min(leave.stream_ordering + 1)),
            (Some(at), None) => Some(at),
            (None, _) => None,
        };
        match (limit, current, left) {
            (Some(position), _, _) => {
                let latest = self
                    .store
                    .room_timeline(room.nid, position, None, Direction::Backward, 1)
                    .await?;
                match latest.first() {
                    Some((nid, _)) => {
                        let event = self.events(&[*nid]).await?.remove(0);
                        self.state_after(event).await
                    }
                    None => Ok(Vec::new()),
                }
            }
            (None, Some(root), _) => self.full_state_at(root).await,
            (None, None, Some(leave)) => self.state_after(leave).await,
            (None, None, None) => unreachable!("a readable state is current or at a leave"),
        }
    }

    /// Events in the client format, with what `unsigned` must say: the
    /// redaction that emptied an event, the transaction ID to the device
    /// that sent it, and the bundled aggregations of its children.
    pub(crate) async fn client_events(
        &self,
        viewer: &Session,
        events: &[Arc<StoredEvent>],
    ) -> Result<Vec<Value>> {
        self.render_events(viewer, events, true).await
    }

    /// As [`Homeserver::client_events`]; `threads`: whether thread roots
    /// get their thread summed up (not for a thread's latest reply, which
    /// cannot be a root).
    async fn render_events(
        &self,
        viewer: &Session,
        events: &[Arc<StoredEvent>],
        threads: bool,
    ) -> Result<Vec<Value>> {
        let mut bundles = self.bundled_aggregations(viewer, events, threads).await?;
        let (roots, latest): (Vec<EventNid>, Vec<Arc<StoredEvent>>) =
            std::mem::take(&mut bundles.latest_replies)
                .into_iter()
                .unzip();
        let rendered_latest = if latest.is_empty() {
            Vec::new()
        } else {
            Box::pin(self.render_events(viewer, &latest, false)).await?
        };
        for (root, rendered) in roots.iter().zip(rendered_latest) {
            if let Some(thread) = bundles
                .relations
                .get_mut(root)
                .and_then(|relations| relations.get_mut("m.thread"))
            {
                thread["latest_event"] = rendered;
            }
        }
        let redactions: Vec<i64> = events.iter().filter_map(|e| e.redacted_by).collect();
        let redactions = self.events(&redactions).await?;
        let own: Vec<i64> = events
            .iter()
            .filter(|e| e.pdu.sender() == &viewer.user_id)
            .map(|e| e.nid)
            .collect();
        let transactions = if own.is_empty() {
            HashMap::new()
        } else {
            self.store
                .transaction_ids(&own, viewer.user_id.as_str(), &viewer.device_id)
                .await?
        };
        let mut out = Vec::with_capacity(events.len());
        for event in events {
            let mut value = event.client_format();
            if let Some(by) = event.redacted_by {
                if let Some(redaction) = redactions.iter().find(|r| r.nid == by) {
                    value["unsigned"]["redacted_because"] = redaction.client_format();
                }
            }
            if let Some(txn_id) = transactions.get(&event.nid) {
                value["unsigned"]["transaction_id"] = json!(txn_id);
            }
            if let Some(relations) = bundles.relations.remove(&event.nid) {
                value["unsigned"]["m.relations"] = Value::Object(relations);
            }
            out.push(value);
        }
        Ok(out)
    }
}
