//! The per-room sections of /sync: timeline, state, summary, and the
//! stripped state of invites and knocks.

use std::collections::HashSet;
use std::sync::Arc;

use serde_json::{json, Value};

use super::SyncToken;
use crate::accounts::Session;
use crate::filters::Filter;
use crate::push::CountRequest;
use crate::rooms::{stripped, token, Reader, RoomRef, StoredEvent, Walk, MAX_MESSAGES_LIMIT};
use crate::store::{Direction, MembershipRow};
use crate::{Homeserver, Result};

/// What every room of one /sync shares.
pub(super) struct RoomSync<'a> {
    pub session: &'a Session,
    pub filter: &'a Filter,
    pub since: Option<SyncToken>,
    pub now: SyncToken,
    pub full_state: bool,
    /// The user's push rules, for the unread counts.
    pub unread: CountRequest<'a>,
}

/// Timeline events when a filter names no limit.
const DEFAULT_TIMELINE_LIMIT: u32 = 10;
/// Members named for a room without a name or alias.
const HEROES: i64 = 5;

/// A room's timeline section.
struct Timeline {
    events: Vec<Arc<StoredEvent>>,
    limited: bool,
    prev_batch: String,
}

impl Homeserver {
    /// A joined room's section; `None` when there is nothing to say.
    pub(super) async fn joined_room(
        &self,
        sync: &RoomSync<'_>,
        row: &MembershipRow,
        has_events: bool,
        ephemeral: Vec<Value>,
        account_data: Vec<Value>,
    ) -> Result<Option<Value>> {
        let user = &sync.session.user_id;
        let room = self.room_of(row).await?;
        let reader = self.reader_from(user, Some(row.clone())).await?;
        // Joined since the token: the client knows nothing of the room.
        let newly_joined = match sync.since {
            Some(since) if row.event_position > since.events => {
                let join = self.events(&[row.event_nid]).await?.remove(0);
                self.membership_at(join.state_before, user)
                    .await?
                    .as_deref()
                    != Some("join")
            }
            _ => false,
        };
        let timeline = if has_events {
            self.sync_timeline(sync, &room, &reader, sync.now.events)
                .await?
        } else {
            Timeline {
                events: Vec::new(),
                limited: false,
                prev_batch: token(sync.now.events + 1),
            }
        };
        let whole = sync.since.is_none() || sync.full_state || newly_joined;
        let state = self.sync_state(sync, &room, &timeline, whole).await?;
        if !whole
            && timeline.events.is_empty()
            && state.is_empty()
            && ephemeral.is_empty()
            && account_data.is_empty()
        {
            return Ok(None);
        }
        let members_changed = timeline
            .events
            .iter()
            .chain(&state)
            .any(|event| event.pdu.event_type() == "m.room.member");
        let (unread, unread_threads) = self
            .unread_counts(&room, user, row, sync.unread, sync.now)
            .await?;
        let mut section = json!({
            "timeline": self.timeline_json(sync, &timeline).await?,
            "state": { "events": self.sync_events(sync.session, &state).await? },
            "ephemeral": { "events": ephemeral },
            "account_data": { "events": account_data },
            "unread_notifications": unread,
        });
        if let Some(threads) = unread_threads {
            section["unread_thread_notifications"] = threads;
        }
        if whole || members_changed {
            section["summary"] = self.sync_summary(&room, user.as_str()).await?;
        }
        Ok(Some(section))
    }

    /// The section of a room the user left (or was banned from): what
    /// happened up to their leaving.
    pub(super) async fn left_room(
        &self,
        sync: &RoomSync<'_>,
        row: &MembershipRow,
    ) -> Result<Value> {
        let room = self.room_of(row).await?;
        let reader = self
            .reader_from(&sync.session.user_id, Some(row.clone()))
            .await?;
        let upto = sync.now.events.min(row.event_position);
        let timeline = self.sync_timeline(sync, &room, &reader, upto).await?;
        let whole = sync.since.is_none() || sync.full_state;
        let state = self.sync_state(sync, &room, &timeline, whole).await?;
        Ok(json!({
            "timeline": self.timeline_json(sync, &timeline).await?,
            "state": { "events": self.sync_events(sync.session, &state).await? },
            "account_data": { "events": [] },
        }))
    }

    /// The state shown with an invite or knock: the room's name and the
    /// like, and the user's own membership event. In a room this server is not in, the room's state is what the
    /// inviting or knocked-on server described.
    pub(super) async fn stripped_state(&self, row: &MembershipRow) -> Result<Vec<Value>> {
        let mut state: Vec<Value> = match self.store.out_of_band(row.event_nid).await? {
            Some(out_of_band) => serde_json::from_str(&out_of_band.stripped_state)
                .map_err(|e| crate::Error::Internal(format!("stored stripped state: {e}")))?,
            None => {
                let room = self.room_of(row).await?;
                let events = self.stripped_state_events(&room).await?;
                events.iter().map(|event| stripped(&event.pdu)).collect()
            }
        };
        state.extend(
            self.events(&[row.event_nid])
                .await?
                .iter()
                .map(|event| stripped(&event.pdu)),
        );
        Ok(state)
    }

    /// The latest events of the room after the token up to `upto`.
    async fn sync_timeline(
        &self,
        sync: &RoomSync<'_>,
        room: &RoomRef,
        reader: &Reader,
        upto: i64,
    ) -> Result<Timeline> {
        let filter = &sync.filter.room.timeline;
        let limit = (filter.events.limit.unwrap_or(DEFAULT_TIMELINE_LIMIT) as usize)
            .clamp(1, MAX_MESSAGES_LIMIT);
        // One more than shown tells whether there is more.
        let mut page = self
            .timeline_page(
                room,
                reader,
                Walk {
                    from: upto + 1,
                    to: sync.since.map(|s| s.events),
                    direction: Direction::Backward,
                },
                limit + 1,
                filter,
            )
            .await?;
        let limited = page.events.len() > limit || !page.exhausted && page.events.len() == limit;
        page.events.truncate(limit);
        page.events.reverse();
        let prev_batch = token(page.events.first().map_or(upto + 1, |e| e.stream_ordering));
        Ok(Timeline {
            events: page.events,
            limited,
            prev_batch,
        })
    }

    async fn timeline_json(&self, sync: &RoomSync<'_>, timeline: &Timeline) -> Result<Value> {
        Ok(json!({
            "events": self.sync_events(sync.session, &timeline.events).await?,
            "limited": timeline.limited,
            "prev_batch": timeline.prev_batch,
        }))
    }

    /// The state before the timeline's first event: all of it (`whole`),
    /// or what changed since the token.
    async fn sync_state(
        &self,
        sync: &RoomSync<'_>,
        room: &RoomRef,
        timeline: &Timeline,
        whole: bool,
    ) -> Result<Vec<Arc<StoredEvent>>> {
        let start = match timeline.events.first() {
            Some(first) => first.state_before,
            None if whole => self.current_root(room).await?,
            None => return Ok(Vec::new()),
        };
        let state = match sync.since {
            Some(since) if !whole => {
                // What the client has: the state before the first event
                // after its token, which the timeline may not show.
                let next = self
                    .store
                    .room_timeline(room.nid, since.events, None, Direction::Forward, 1)
                    .await?;
                let Some(&(next, _)) = next.first() else {
                    return Ok(Vec::new());
                };
                let known = self.events(&[next]).await?.remove(0).state_before;
                self.state_changes(start, known).await?
            }
            _ => self.full_state_at(start).await?,
        };
        let filter = &sync.filter.room.state;
        let user = sync.session.user_id.as_str();
        // Lazy loading: of the members, only the timeline's senders (and
        // the user).
        let senders: HashSet<&str> = timeline
            .events
            .iter()
            .map(|event| event.pdu.sender().as_str())
            .chain([user])
            .collect();
        Ok(state
            .into_iter()
            .filter(|event| filter.matches(event))
            .filter(|event| {
                !filter.lazy_load_members
                    || event.pdu.event_type() != "m.room.member"
                    || event
                        .pdu
                        .state_key()
                        .is_some_and(|key| senders.contains(key))
            })
            .collect())
    }

    /// Member counts, and the heroes when the room has no name or alias.
    async fn sync_summary(&self, room: &RoomRef, user: &str) -> Result<Value> {
        let counts = self.store.member_counts(room.nid).await?;
        let mut summary = json!({
            "m.joined_member_count": counts.joined,
            "m.invited_member_count": counts.invited,
        });
        let root = self.current_root(room).await?;
        let named = self
            .state_at(root, &[("m.room.name", ""), ("m.room.canonical_alias", "")])
            .await?
            .iter()
            .flatten()
            .any(|event| {
                ["name", "alias"].iter().any(|key| {
                    event
                        .pdu
                        .content()
                        .get(*key)
                        .and_then(|value| value.as_str())
                        .is_some_and(|value| !value.is_empty())
                })
            });
        if !named {
            summary["m.heroes"] = json!(self.store.heroes(room.nid, user, HEROES).await?);
        }
        Ok(summary)
    }

    /// Events as /sync sends them: client format without the room ID,
    /// which the section already names.
    async fn sync_events(
        &self,
        session: &Session,
        events: &[Arc<StoredEvent>],
    ) -> Result<Vec<Value>> {
        let mut rendered = self.client_events(session, events).await?;
        for event in &mut rendered {
            if let Some(object) = event.as_object_mut() {
                object.remove("room_id");
            }
        }
        Ok(rendered)
    }
}
