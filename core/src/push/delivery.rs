//! Sending notifications to push gateways: one task per pusher follows
//! the user's rooms, evaluates their push rules on each new event, and
//! posts what notifies to the gateway in the push gateway API's format,
//! in order, retrying with exponential back-off.
//!
//! Each pusher's position is stored as it advances, so after a restart
//! its task goes on where it stopped: nothing is pushed twice, nothing is
//! skipped (but what is given up after `give_up_after`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hanse_protocol::identifiers::UserId;
use hanse_protocol::push_rules::{Outcome, Ruleset};
use reqwest::Url;
use serde_json::{json, Map, Value};
use tokio::sync::Notify;

use super::pushers::GATEWAY_USER_AGENT;
use crate::rooms::StoredEvent;
use crate::store::{Direction, MembershipRow, PusherRow};
use crate::streams::Topic;
use crate::{outbound, Error, Homeserver, Result};

/// Events read at a time.
const PAGE: i64 = 100;
/// How often an idle task looks at its pusher again even unwoken (its
/// settings may have changed on another node).
const IDLE_RECHECK: Duration = Duration::from_secs(60);

/// (user, app ID, pushkey).
type PusherKey = (String, String, String);

/// The running delivery tasks, each with the bell that tells it its
/// pusher changed.
#[derive(Debug, Default)]
pub struct PushDelivery {
    tasks: Mutex<HashMap<PusherKey, Arc<Notify>>>,
}

/// What became of one notification.
enum Delivered {
    Sent,
    /// The gateway rejected the pushkey: the pusher is removed.
    Rejected,
    /// The pusher was removed meanwhile.
    Gone,
    GivenUp,
}

impl Homeserver {
    /// Starts delivering for every stored pusher (at start-up).
    pub async fn start_push_delivery(&self) -> Result<()> {
        let pushers = self.store.all_pushers().await?;
        if !pushers.is_empty() {
            tracing::info!(pushers = pushers.len(), "delivering to push gateways");
        }
        for (user, app_id, pushkey) in pushers {
            self.start_pusher(&user, &app_id, &pushkey);
        }
        Ok(())
    }

    /// Makes sure the pusher has a running task, and tells it to read its
    /// settings again.
    pub(super) fn start_pusher(&self, user: &str, app_id: &str, pushkey: &str) {
        let key = (user.to_owned(), app_id.to_owned(), pushkey.to_owned());
        let mut tasks = crate::lock(&self.push_delivery.tasks);
        if let Some(bell) = tasks.get(&key) {
            bell.notify_one();
            return;
        }
        let bell = Arc::new(Notify::new());
        tasks.insert(key.clone(), bell.clone());
        let homeserver = self.clone();
        tokio::spawn(async move { homeserver.run_pusher(key, bell).await });
    }

    async fn run_pusher(self, key: PusherKey, bell: Arc<Notify>) {
        loop {
            match self.deliver_pending(&key, &bell).await {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    tracing::warn!(user = %key.0, app_id = %key.1, error = %e,
                        "push delivery failed; trying again in a minute");
                    tokio::time::sleep(IDLE_RECHECK).await;
                }
            }
        }
        crate::lock(&self.push_delivery.tasks).remove(&key);
        // Set again between the last read and the removal: start over.
        if let Ok(Some(_)) = self.store.pusher(&key.0, &key.1, &key.2).await {
            self.start_pusher(&key.0, &key.1, &key.2);
        }
    }

    /// Delivers everything after the pusher's position, then waits for
    /// more; `false` once the pusher is gone.
    async fn deliver_pending(&self, key: &PusherKey, bell: &Notify) -> Result<bool> {
        let (user_id, app_id, pushkey) = key;
        let user = UserId::parse(user_id)
            .map_err(|e| Error::Internal(format!("stored pusher of {user_id}: {e}")))?;
        // Listen before reading, so nothing committed meanwhile is missed.
        let mut listener = self
            .streams
            .notifier
            .listen(vec![Topic::User(user_id.clone())]);
        let Some(pusher) = self.store.pusher(user_id, app_id, pushkey).await? else {
            return Ok(false);
        };
        let memberships = self.store.memberships_of(user_id, None).await?;
        listener.add(
            memberships
                .iter()
                .filter(|row| row.membership == "join")
                .map(|row| Topic::Room(row.room_nid)),
        );
        let now = self.persisted_position().await?;
        if pusher.delivered_upto < now {
            self.deliver_page(&user, &pusher, &memberships, now).await?;
            return Ok(true);
        }
        tokio::select! {
            () = listener.notified() => {}
            () = bell.notified() => {}
            () = tokio::time::sleep(IDLE_RECHECK) => {}
        }
        Ok(true)
    }

    /// Delivers the next page of events up to `now`: what the user may
    /// see of their joined rooms, and their invites.
    async fn deliver_page(
        &self,
        user: &UserId,
        pusher: &PusherRow,
        memberships: &[MembershipRow],
        now: i64,
    ) -> Result<()> {
        let from = pusher.delivered_upto;
        let mut rooms = Vec::new();
        let mut after = Vec::new();
        let mut upto = Vec::new();
        for row in memberships {
            let range = match row.membership.as_str() {
                "join" => (from.max(row.event_position), now),
                // Of a room they are invited to, the invite alone.
                "invite" => (
                    from.max(row.event_position - 1),
                    now.min(row.event_position),
                ),
                _ => continue,
            };
            if range.0 < range.1 {
                rooms.push(row.room_nid);
                after.push(range.0);
                upto.push(range.1);
            }
        }
        let page = self
            .store
            .events_in_rooms(&rooms, &after, &upto, Direction::Forward, PAGE)
            .await?;
        let reached = match page.last() {
            Some(&(_, last)) if page.len() as i64 == PAGE => last,
            _ => now,
        };
        let nids: Vec<i64> = page.iter().map(|(nid, _)| *nid).collect();
        let rules = self.push_rules(user).await?;
        let mut contexts = HashMap::new();
        for event in self.events(&nids).await? {
            let context = match contexts.entry(event.room_nid) {
                std::collections::hash_map::Entry::Occupied(context) => context.into_mut(),
                std::collections::hash_map::Entry::Vacant(slot) => {
                    let row = memberships
                        .iter()
                        .find(|row| row.room_nid == event.room_nid)
                        .ok_or_else(|| Error::Internal("an event of no room of the user".into()))?;
                    let room = self.room_of(row).await?;
                    let root = self.current_root(&room).await?;
                    slot.insert(self.room_push_context(&room, user, root).await?)
                }
            };
            let Some(outcome) = context.evaluate(&rules, user, &event)? else {
                continue;
            };
            if !outcome.notify() {
                continue;
            }
            let delivered = self
                .deliver_event(user, pusher, &rules, &event, &outcome)
                .await?;
            match delivered {
                Delivered::Sent | Delivered::GivenUp => {
                    self.store
                        .advance_pusher(
                            &pusher.user_id,
                            &pusher.app_id,
                            &pusher.pushkey,
                            event.stream_ordering,
                        )
                        .await?;
                }
                Delivered::Rejected | Delivered::Gone => return Ok(()),
            }
        }
        self.store
            .advance_pusher(&pusher.user_id, &pusher.app_id, &pusher.pushkey, reached)
            .await?;
        Ok(())
    }

    /// Posts one notification, retrying with back-off until it is taken,
    /// the pusher goes, or it is given up.
    async fn deliver_event(
        &self,
        user: &UserId,
        pusher: &PusherRow,
        rules: &Ruleset,
        event: &StoredEvent,
        outcome: &Outcome<'_>,
    ) -> Result<Delivered> {
        let settings = &self.settings.push;
        let notification = self
            .gateway_notification(user, pusher, rules, event, outcome)
            .await?;
        let started = Instant::now();
        let backoff = settings.backoff();
        let mut failures = 0;
        loop {
            match self.post_notification(pusher, &notification).await {
                Ok(rejected) if rejected => {
                    tracing::info!(user = %pusher.user_id, app_id = %pusher.app_id,
                        "the push gateway rejected the pushkey; pusher removed");
                    self.store
                        .delete_pusher(&pusher.user_id, &pusher.app_id, &pusher.pushkey)
                        .await?;
                    return Ok(Delivered::Rejected);
                }
                Ok(_) => return Ok(Delivered::Sent),
                Err(e) if started.elapsed() >= settings.give_up_after => {
                    tracing::warn!(user = %pusher.user_id, app_id = %pusher.app_id,
                        event_id = %event.pdu.event_id().as_str(), error = %e,
                        "giving up pushing a notification");
                    return Ok(Delivered::GivenUp);
                }
                Err(e) => {
                    failures += 1;
                    let wait = backoff.after(failures);
                    tracing::warn!(user = %pusher.user_id, app_id = %pusher.app_id,
                        error = %e, retry_in_ms = wait.as_millis() as u64,
                        "push gateway unreachable or failing; will retry");
                    tokio::time::sleep(wait).await;
                    let current = self
                        .store
                        .pusher(&pusher.user_id, &pusher.app_id, &pusher.pushkey)
                        .await?;
                    if current.is_none_or(|current| current.data != pusher.data) {
                        // Removed or pointed elsewhere: its task starts over.
                        return Ok(Delivered::Gone);
                    }
                }
            }
        }
    }

    /// One POST to the gateway; whether it rejected the pushkey.
    async fn post_notification(&self, pusher: &PusherRow, notification: &Value) -> Result<bool> {
        let settings = &self.settings.push;
        let url = gateway_url(pusher)?;
        let client = outbound::client_for(
            &url,
            settings.allow_private_gateways,
            settings.timeout,
            GATEWAY_USER_AGENT,
        )
        .await?;
        let response = client
            .post(url.clone())
            .json(notification)
            .send()
            .await
            .map_err(|e| Error::Unknown(format!("posting to {url}: {e}")))?;
        let status = response.status();
        if !status.is_success() {
            return Err(Error::Unknown(format!("{url} answered {status}")));
        }
        let answer: Value = response.json().await.unwrap_or_default();
        Ok(answer["rejected"]
            .as_array()
            .is_some_and(|rejected| rejected.iter().any(|key| key == pusher.pushkey.as_str())))
    }

    /// The body of POST /_matrix/push/v1/notify for `event`.
    async fn gateway_notification(
        &self,
        user: &UserId,
        pusher: &PusherRow,
        rules: &Ruleset,
        event: &StoredEvent,
        outcome: &Outcome<'_>,
    ) -> Result<Value> {
        let mut data: Map<String, Value> = serde_json::from_str(&pusher.data)
            .map_err(|e| Error::Internal(format!("stored pusher data: {e}")))?;
        data.remove("url");
        let event_id_only = data.get("format").and_then(Value::as_str) == Some("event_id_only");
        let tweaks = outcome.tweaks();
        let device = json!({
            "app_id": pusher.app_id,
            "pushkey": pusher.pushkey,
            "pushkey_ts": pusher.pushkey_ts / 1000,
            "data": data,
            "tweaks": tweaks,
        });
        let pdu = &event.pdu;
        let mut notification = json!({
            "event_id": pdu.event_id().as_str(),
            "room_id": pdu.room_id().as_str(),
            "counts": { "unread": self.rooms_with_unread(user, rules).await? },
            "devices": [device],
        });
        if event_id_only {
            return Ok(json!({ "notification": notification }));
        }
        // Encrypted events may hide anything: they are always urgent.
        let urgent = pdu.event_type() == "m.room.encrypted"
            || tweaks.get("highlight").is_some_and(|h| h != &json!(false))
            || tweaks.contains_key("sound");
        notification["type"] = json!(pdu.event_type());
        notification["sender"] = json!(pdu.sender().as_str());
        notification["prio"] = json!(if urgent { "high" } else { "low" });
        notification["content"] = serde_json::to_value(pdu.content())
            .map_err(|e| Error::Internal(format!("event content as JSON: {e}")))?;
        if pdu.event_type() == "m.room.member" {
            notification["user_is_target"] = json!(pdu.state_key() == Some(user.as_str()));
        }
        let root = event.state_before;
        let names = [
            (
                "sender_display_name",
                "m.room.member",
                pdu.sender().as_str(),
                "displayname",
            ),
            ("room_name", "m.room.name", "", "name"),
            ("room_alias", "m.room.canonical_alias", "", "alias"),
        ];
        for (field, event_type, state_key, content_key) in names {
            let state = self.state_event_at(root, event_type, state_key).await?;
            if let Some(value) = state
                .as_ref()
                .and_then(|state| state.pdu.content().get(content_key)?.as_str())
            {
                notification[field] = json!(value);
            }
        }
        Ok(json!({ "notification": notification }))
    }
}

fn gateway_url(pusher: &PusherRow) -> Result<Url> {
    let data: Value = serde_json::from_str(&pusher.data)
        .map_err(|e| Error::Internal(format!("stored pusher data: {e}")))?;
    let url = data["url"]
        .as_str()
        .ok_or_else(|| Error::Internal("a stored pusher without data.url".into()))?;
    Url::parse(url).map_err(|e| Error::Internal(format!("stored pusher URL {url}: {e}")))
}
