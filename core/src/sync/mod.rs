//! GET /sync: what changed for a user since a token, in every stream,
//! waiting (at no cost) until something does.
//!
//! A response covers the changes after the `since` token up to `now`, the
//! positions read at its start; `now` becomes `next_batch`. Every stream
//! is read only up to positions whose writes are all committed
//! (see [`crate::streams`]), so consecutive tokens neither repeat nor skip
//! anything.

mod rooms;
mod token;

use std::collections::HashMap;
use std::time::Duration;

use hanse_protocol::identifiers::UserId;
use serde_json::{json, Map, Value};
use tokio::time::Instant;

pub use token::SyncToken;

use crate::accounts::push_rules::PUSH_RULES;
use crate::accounts::Session;
use crate::e2ee::{DeviceListChanges, ToDeviceBatch};
use crate::filters::Filter;
use crate::presence::{presence_of, PresenceState};
use crate::push::{rules_fingerprint, CountRequest};
use crate::store::MembershipRow;
use crate::streams::Topic;
use crate::{Error, Homeserver, Result};

/// What a /sync asks for.
#[derive(Debug, Clone)]
pub struct SyncRequest {
    pub since: Option<String>,
    pub filter: Filter,
    pub full_state: bool,
    /// The presence the sync sets for its user, if any.
    pub set_presence: Option<PresenceState>,
    /// How long to wait for something to happen.
    pub timeout: Duration,
}

/// The longest a /sync waits, whatever it asks for.
const MAX_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// What one round of /sync found.
#[derive(Debug, Default)]
struct Response {
    join: Map<String, Value>,
    invite: Map<String, Value>,
    leave: Map<String, Value>,
    knock: Map<String, Value>,
    account_data: Vec<Value>,
    presence: Vec<Value>,
    to_device: ToDeviceBatch,
    device_lists: DeviceListChanges,
    /// The device's key counts: sent every time, but no reason to answer.
    one_time_key_counts: Value,
    unused_fallback_key_types: Vec<String>,
}

impl Response {
    fn is_empty(&self) -> bool {
        self.join.is_empty()
            && self.invite.is_empty()
            && self.leave.is_empty()
            && self.knock.is_empty()
            && self.account_data.is_empty()
            && self.presence.is_empty()
            && self.to_device.events.is_empty()
            && self.device_lists.is_empty()
    }

    fn into_json(self, mut next_batch: SyncToken) -> Value {
        if let Some(upto) = self.to_device.upto {
            // More messages wait: the next sync goes on from the last sent.
            next_batch.to_device = upto;
        }
        json!({
            "next_batch": next_batch.to_string(),
            "rooms": {
                "join": self.join,
                "invite": self.invite,
                "leave": self.leave,
                "knock": self.knock,
            },
            "account_data": { "events": self.account_data },
            "presence": { "events": self.presence },
            "to_device": { "events": self.to_device.events },
            "device_lists": {
                "changed": self.device_lists.changed,
                "left": self.device_lists.left,
            },
            "device_one_time_keys_count": self.one_time_key_counts,
            "device_unused_fallback_key_types": self.unused_fallback_key_types,
        })
    }
}

impl Homeserver {
    /// GET /sync.
    pub async fn sync(&self, session: &Session, request: SyncRequest) -> Result<Value> {
        let user = &session.user_id;
        if let Some(state) = request.set_presence {
            self.presence_from_sync(user, state).await?;
        }
        let since = request.since.as_deref().map(SyncToken::parse).transpose()?;
        let deadline = Instant::now() + request.timeout.min(MAX_TIMEOUT);
        loop {
            // Listen before reading, so nothing committed meanwhile is
            // missed: a membership change of the user wakes them whatever
            // the room, an event in a joined room wakes its members.
            let mut listener = self
                .streams
                .notifier
                .listen(vec![Topic::User(user.as_str().to_owned())]);
            let joined = self
                .store
                .memberships_of(user.as_str(), Some("join"))
                .await?;
            listener.add(joined.iter().map(|row| Topic::Room(row.room_nid)));
            let (now, memberships) = self.consistent_positions(session).await?;
            let response = self
                .sync_response(session, &request, since, now, memberships)
                .await?;
            if since.is_none() || !response.is_empty() {
                return self.answer(session, response, now).await;
            }
            if tokio::time::timeout_at(deadline, listener.notified())
                .await
                .is_err()
            {
                return self.answer(session, response, now).await;
            }
        }
    }

    /// The response sent, with what every answer carries: the device's
    /// key counts (read only for the round that answers).
    async fn answer(
        &self,
        session: &Session,
        mut response: Response,
        now: SyncToken,
    ) -> Result<Value> {
        let (counts, unused_fallbacks) = self.device_key_status(session).await?;
        response.one_time_key_counts = counts;
        response.unused_fallback_key_types = unused_fallbacks;
        Ok(response.into_json(now))
    }

    /// The positions every stream may be read up to, and the user's
    /// memberships as of them.
    async fn consistent_positions(
        &self,
        session: &Session,
    ) -> Result<(SyncToken, Vec<MembershipRow>)> {
        let user = session.user_id.as_str();
        for _ in 0..1000 {
            let now = self.sync_positions().await?;
            let memberships = self.store.memberships_of(user, None).await?;
            // A membership committed while an earlier event of another room
            // is still being written lies beyond the readable position:
            // sending the room now and skipping the membership later would
            // lose it, so wait the moment it takes the other to commit.
            if memberships
                .iter()
                .all(|row| row.event_position <= now.events)
            {
                return Ok((now, memberships));
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        Err(Error::Internal(
            "the event stream stopped advancing: a room write is stuck".into(),
        ))
    }

    /// The positions every stream may be read up to now.
    pub(crate) async fn sync_positions(&self) -> Result<SyncToken> {
        let streams = &self.streams;
        Ok(SyncToken {
            events: self.persisted_position().await?,
            account_data: streams.account_data.persisted(&self.store).await?,
            receipts: streams.receipts.persisted(&self.store).await?,
            presence: streams.presence.persisted(&self.store).await?,
            typing: streams.typing.position(),
            to_device: streams.to_device.persisted(&self.store).await?,
            device_lists: streams.device_lists.persisted(&self.store).await?,
        })
    }

    async fn sync_response(
        &self,
        session: &Session,
        request: &SyncRequest,
        since: Option<SyncToken>,
        now: SyncToken,
        memberships: Vec<MembershipRow>,
    ) -> Result<Response> {
        let user = session.user_id.as_str();
        let filter = &request.filter;
        let mut response = Response::default();

        let (mut global, mut room_account_data) = self
            .account_data_changes(
                &session.user_id,
                filter,
                since.map_or(0, |s| s.account_data),
                now,
            )
            .await?;
        let has_push_rules = global.iter().any(|event| event["type"] == PUSH_RULES);
        if since.is_none() && !has_push_rules && filter.account_data.matches(PUSH_RULES, user) {
            // Every client needs the rules; the defaults are stored nowhere.
            global.push(json!({
                "type": PUSH_RULES,
                "content": self.push_rules_content(&session.user_id).await?,
            }));
        }
        response.account_data = global;
        response.presence = self.presence_changes(user, filter, since, now).await?;
        response.to_device = self.to_device_for_sync(session, since, now).await?;

        // Rooms with news, whatever the filter: device list changes do not
        // depend on it. Each with whether its membership changed and it is
        // encrypted.
        let all_joined: Vec<i64> = memberships
            .iter()
            .filter(|row| row.membership == "join")
            .map(|row| row.room_nid)
            .collect();
        let with_events: HashMap<i64, bool> = match since {
            Some(since) => self
                .store
                .rooms_with_events(&all_joined, since.events, now.events)
                .await?
                .into_iter()
                .collect(),
            None => all_joined.iter().map(|&room| (room, false)).collect(),
        };
        if let Some(since) = since {
            let mut examined: Vec<i64> = with_events
                .iter()
                .filter(|(_, &members_changed)| members_changed)
                .map(|(&room, _)| room)
                .collect();
            examined.extend(
                memberships
                    .iter()
                    .filter(|row| row.event_position > since.events)
                    .map(|row| row.room_nid),
            );
            response.device_lists = self
                .device_list_changes(&session.user_id, since, now, &examined)
                .await?;
        }

        let memberships: Vec<MembershipRow> = memberships
            .into_iter()
            .filter(|row| {
                filter
                    .room
                    .rooms
                    .as_ref()
                    .is_none_or(|rooms| rooms.contains(&row.room_id))
                    && !filter.room.not_rooms.contains(&row.room_id)
            })
            .collect();
        let joined: Vec<i64> = memberships
            .iter()
            .filter(|row| row.membership == "join")
            .map(|row| row.room_nid)
            .collect();
        let mut receipts = self
            .receipt_events(user, filter, &joined, since.map_or(0, |s| s.receipts), now)
            .await?;

        let push_rules = self.push_rules(&session.user_id).await?;
        let sync = rooms::RoomSync {
            session,
            filter,
            since,
            now,
            full_state: request.full_state,
            unread: CountRequest {
                rules: &push_rules,
                fingerprint: rules_fingerprint(&push_rules),
                by_thread: filter.room.timeline.unread_thread_notifications,
            },
        };
        for row in &memberships {
            let changed_since = |position: i64| since.is_none_or(|s| position > s.events);
            match row.membership.as_str() {
                "join" => {
                    let mut ephemeral = receipts.remove(&row.room_nid).unwrap_or_default();
                    let typing = self
                        .streams
                        .typing
                        .changed_since(row.room_nid, since.map_or(i64::MIN, |s| s.typing))
                        .filter(|users| since.is_some() || !users.is_empty());
                    if let Some(users) = typing {
                        if filter.room.ephemeral.events.matches("m.typing", "") {
                            ephemeral.push(json!({
                                "type": "m.typing",
                                "content": { "user_ids": users },
                            }));
                        }
                    }
                    let account_data = room_account_data.remove(&row.room_id).unwrap_or_default();
                    let has_events = with_events.contains_key(&row.room_nid);
                    if since.is_some()
                        && !request.full_state
                        && !has_events
                        && ephemeral.is_empty()
                        && account_data.is_empty()
                    {
                        continue;
                    }
                    if let Some(room) = self
                        .joined_room(&sync, row, has_events, ephemeral, account_data)
                        .await?
                    {
                        response.join.insert(row.room_id.clone(), room);
                    }
                }
                "invite" if changed_since(row.event_position) => {
                    let state = self.stripped_state(row).await?;
                    response.invite.insert(
                        row.room_id.clone(),
                        json!({ "invite_state": { "events": state } }),
                    );
                }
                "knock" if changed_since(row.event_position) => {
                    let state = self.stripped_state(row).await?;
                    response.knock.insert(
                        row.room_id.clone(),
                        json!({ "knock_state": { "events": state } }),
                    );
                }
                "leave" | "ban" if !row.forgotten => {
                    let wanted = match since {
                        None => filter.room.include_leave,
                        Some(since) => row.event_position > since.events || request.full_state,
                    };
                    if wanted {
                        let room = self.left_room(&sync, row).await?;
                        response.leave.insert(row.room_id.clone(), room);
                    }
                }
                _ => {}
            }
        }
        Ok(response)
    }

    /// Account data written in the range: global, and per room ID.
    async fn account_data_changes(
        &self,
        owner: &UserId,
        filter: &Filter,
        after: i64,
        now: SyncToken,
    ) -> Result<(Vec<Value>, HashMap<String, Vec<Value>>)> {
        let user = owner.as_str();
        let mut global = Vec::new();
        let mut rooms: HashMap<String, Vec<Value>> = HashMap::new();
        for (room_id, data_type, content) in self
            .store
            .account_data_changes(user, after, now.account_data)
            .await?
        {
            let content: Value = if room_id.is_empty() && data_type == PUSH_RULES {
                // Stored are only the user's changes to the defaults.
                Self::push_rules_content_of(owner, &content)
            } else {
                serde_json::from_str(&content)
                    .map_err(|e| Error::Internal(format!("stored account data: {e}")))?
            };
            let event = json!({ "type": data_type, "content": content });
            if room_id.is_empty() {
                if filter.account_data.matches(&data_type, user) {
                    global.push(event);
                }
            } else if filter.room.account_data.events.matches(&data_type, user) {
                rooms.entry(room_id).or_default().push(event);
            }
        }
        if let Some(limit) = filter.account_data.limit {
            global.truncate(limit as usize);
        }
        Ok((global, rooms))
    }

    /// Presence changes in the range of the user and those sharing a room
    /// with them.
    async fn presence_changes(
        &self,
        user: &str,
        filter: &Filter,
        since: Option<SyncToken>,
        now: SyncToken,
    ) -> Result<Vec<Value>> {
        if !self.settings.presence {
            return Ok(Vec::new());
        }
        let mut events: Vec<Value> = self
            .store
            .presence_changes(user, since.map_or(0, |s| s.presence), now.presence)
            .await?
            .into_iter()
            .filter(|(sender, _)| filter.presence.matches("m.presence", sender))
            .map(|(sender, row)| {
                json!({ "type": "m.presence", "sender": sender, "content": presence_of(row) })
            })
            .collect();
        if let Some(limit) = filter.presence.limit {
            events.truncate(limit as usize);
        }
        Ok(events)
    }

    /// One m.receipt event per room with receipts that moved in the range;
    /// private receipts only for their owner.
    async fn receipt_events(
        &self,
        user: &str,
        filter: &Filter,
        rooms: &[i64],
        after: i64,
        now: SyncToken,
    ) -> Result<HashMap<i64, Vec<Value>>> {
        if !filter.room.ephemeral.events.matches("m.receipt", "") {
            return Ok(HashMap::new());
        }
        let mut contents: HashMap<i64, Map<String, Value>> = HashMap::new();
        for receipt in self
            .store
            .receipt_changes(rooms, after, now.receipts)
            .await?
        {
            if receipt.receipt_type == "m.read.private" && receipt.user_id != user {
                continue;
            }
            let mut entry = json!({ "ts": receipt.ts });
            if !receipt.thread_id.is_empty() {
                entry["thread_id"] = json!(receipt.thread_id);
            }
            let content = contents.entry(receipt.room_nid).or_default();
            let by_event = content.entry(receipt.event_id).or_insert_with(|| json!({}));
            by_event[receipt.receipt_type.as_str()][receipt.user_id.as_str()] = entry;
        }
        Ok(contents
            .into_iter()
            .map(|(room, content)| {
                (
                    room,
                    vec![json!({ "type": "m.receipt", "content": content })],
                )
            })
            .collect())
    }
}
