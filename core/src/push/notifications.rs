//! GET /notifications: the events of the user's joined rooms that their
//! push rules say notify them, newest first.
//!
//! Like the unread counts, the list is evaluated from the stored events
//! when asked for, with the rules as they are now: nothing is written
//! per member when an event is sent. A request examines at most
//! [`MAX_EXAMINED`] events; when it finds fewer notifications than asked
//! for, its `next_token` goes on from where it stopped.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use serde_json::{json, Value};

use super::evaluate::RoomPushContext;
use super::unread::ReadPositions;
use crate::accounts::Session;
use crate::rooms::RoomRef;
use crate::store::{Direction, MembershipRow};
use crate::{Error, Homeserver, Result};

/// Notifications returned when the request names no limit.
const DEFAULT_LIMIT: usize = 20;
/// The most a request may ask for.
const MAX_LIMIT: usize = 100;
/// The most events one request evaluates.
const MAX_EXAMINED: usize = 1000;
/// Events read from the store at a time.
const PAGE: i64 = 100;

/// The query of GET /notifications.
#[derive(Debug, Default, Clone)]
pub struct NotificationsQuery {
    /// A `next_token` of an earlier answer.
    pub from: Option<String>,
    pub limit: Option<usize>,
    /// Only highlighted notifications.
    pub only_highlights: bool,
}

/// A joined room as the evaluation needs it, read once per request.
struct RoomView {
    room: RoomRef,
    context: RoomPushContext,
    read: ReadPositions,
}

impl Homeserver {
    /// The user's notifications, newest first.
    pub async fn notifications(
        &self,
        session: &Session,
        query: NotificationsQuery,
    ) -> Result<Value> {
        let user = &session.user_id;
        let before = match &query.from {
            Some(token) => token
                .parse::<i64>()
                .ok()
                .filter(|position| *position >= 0)
                .ok_or_else(|| {
                    Error::InvalidParam(format!("not a notifications token: {token}"))
                })?,
            None => self.streams.events.persisted(&self.store).await? + 1,
        };
        let limit = query.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
        let joined = self
            .store
            .memberships_of(user.as_str(), Some("join"))
            .await?;
        let rows: HashMap<i64, &MembershipRow> =
            joined.iter().map(|row| (row.room_nid, row)).collect();
        let room_nids: Vec<i64> = joined.iter().map(|row| row.room_nid).collect();
        // Nothing from before the user joined notified them.
        let joined_at: Vec<i64> = joined.iter().map(|row| row.event_position).collect();
        let rules = self.push_rules(user).await?;

        let mut views: HashMap<i64, RoomView> = HashMap::new();
        let mut notifications = Vec::new();
        let mut examined = 0;
        let mut cursor = before;
        let mut more = true;
        'pages: while more && examined < MAX_EXAMINED {
            let upto = vec![cursor - 1; room_nids.len()];
            let page = self
                .store
                .events_in_rooms(&room_nids, &joined_at, &upto, Direction::Backward, PAGE)
                .await?;
            let last_page = (page.len() as i64) < PAGE;
            let nids: Vec<i64> = page.iter().map(|(nid, _)| *nid).collect();
            let events = self.events(&nids).await?;
            for (index, event) in events.iter().enumerate() {
                examined += 1;
                cursor = event.stream_ordering;
                let view = match views.entry(event.room_nid) {
                    Entry::Occupied(view) => view.into_mut(),
                    Entry::Vacant(slot) => {
                        let row = rows[&event.room_nid];
                        let room = self.room_of(row).await?;
                        let root = self.current_root(&room).await?;
                        let context = self.room_push_context(&room, user, root).await?;
                        let read = self.read_positions(room.nid, user, row).await?;
                        slot.insert(RoomView {
                            room,
                            context,
                            read,
                        })
                    }
                };
                let Some(outcome) = view.context.evaluate(&rules, user, event)? else {
                    continue;
                };
                if !outcome.notify() || (query.only_highlights && !outcome.highlight()) {
                    continue;
                }
                let thread = self.thread_of(event).await?;
                let mut rendered = self
                    .client_events(session, std::slice::from_ref(event))
                    .await?
                    .pop()
                    .ok_or_else(|| Error::Internal("an event rendered to nothing".into()))?;
                if let Some(object) = rendered.as_object_mut() {
                    object.remove("room_id");
                }
                notifications.push(json!({
                    "actions": outcome.actions(),
                    "event": rendered,
                    "read": event.stream_ordering <= view.read.of(&thread),
                    "room_id": view.room.room_id.as_str(),
                    "ts": event.pdu.origin_server_ts(),
                }));
                if notifications.len() == limit {
                    more = !last_page || index + 1 < events.len();
                    break 'pages;
                }
            }
            more = !last_page;
        }
        let mut answer = json!({ "notifications": notifications });
        if more {
            answer["next_token"] = json!(cursor.to_string());
        }
        Ok(answer)
    }
}
