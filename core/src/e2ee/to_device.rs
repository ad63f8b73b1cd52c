//! To-device messages: PUT /sendToDevice/{eventType}/{txnId}, delivered
//! by the recipient device's /sync exactly once. A message stays in the
//! device's inbox until the device syncs with a token past it, so a
//! response lost on the way is sent again.

use std::num::NonZeroUsize;
use std::sync::Mutex;

use lru::LruCache;
use serde_json::{json, Map, Value};

use crate::accounts::Session;
use crate::store::{NewToDevice, ToDeviceRow, ToDeviceSent};
use crate::streams::Topic;
use crate::sync::SyncToken;
use crate::{Error, Homeserver, Result};

/// Messages one /sync delivers at most; the rest follow.
const MAX_PER_SYNC: i64 = 100;
/// Most messages waiting for one device before senders are refused.
const MAX_INBOX: i64 = 10_000;
/// Largest content of one message, as JSON text.
const MAX_CONTENT_BYTES: usize = 65_536;
/// Most messages one request may send.
const MAX_MESSAGES: usize = 10_000;

/// Devices remembered in [`Acknowledged`].
const REMEMBERED_DEVICES: usize = 100_000;

/// How far each device has acknowledged its inbox, as this process last
/// deleted it: a sync with the same token deletes nothing again, so a
/// waiting sync's rounds cost no write. (Another node may delete the same
/// messages again: deleting is idempotent.)
pub struct Acknowledged {
    positions: Mutex<LruCache<(String, String), i64>>,
}

impl Default for Acknowledged {
    fn default() -> Self {
        Self {
            positions: Mutex::new(LruCache::new(
                NonZeroUsize::new(REMEMBERED_DEVICES).expect("not zero"),
            )),
        }
    }
}

impl std::fmt::Debug for Acknowledged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Acknowledged")
    }
}

/// What a /sync delivers of the device's inbox.
#[derive(Debug, Default)]
pub(crate) struct ToDeviceBatch {
    pub events: Vec<Value>,
    /// The position the next token may claim: below the sync's when more
    /// messages wait.
    pub upto: Option<i64>,
}

impl Homeserver {
    /// PUT /sendToDevice: `messages` maps user ID to device ID (or `*`)
    /// to content. Idempotent per device and transaction ID.
    pub async fn send_to_device(
        &self,
        session: &Session,
        event_type: &str,
        txn_id: &str,
        messages: &Map<String, Value>,
    ) -> Result<()> {
        let mut batch = Vec::new();
        let mut recipients = Vec::new();
        for (user, devices) in messages {
            let parsed = hanse_protocol::identifiers::UserId::parse(user)
                .map_err(|e| Error::InvalidParam(format!("{user:?} is not a user ID: {e}")))?;
            let Value::Object(devices) = devices else {
                return Err(Error::InvalidParam(format!(
                    "messages.{user} must map device IDs to contents"
                )));
            };
            if parsed.server_name() != &self.identity.server_name {
                // Nothing can reach other servers until federation exists.
                return Err(Error::InvalidParam(format!(
                    "{user} is on another server, which this server cannot reach yet"
                )));
            }
            for (device, content) in devices {
                if !content.is_object() {
                    return Err(Error::InvalidParam(format!(
                        "the content for {user} {device} must be an object"
                    )));
                }
                let content = content.to_string();
                if content.len() > MAX_CONTENT_BYTES {
                    return Err(Error::TooLarge(format!(
                        "a to-device message may be at most {MAX_CONTENT_BYTES} bytes"
                    )));
                }
                batch.push(NewToDevice {
                    user_id: user,
                    device_id: device,
                    content,
                });
            }
            recipients.push(user.clone());
        }
        if batch.len() > MAX_MESSAGES {
            return Err(Error::InvalidParam(format!(
                "at most {MAX_MESSAGES} messages per request"
            )));
        }
        let mut ticket = self.streams.to_device.begin(&self.store).await?;
        let sent = self
            .store
            .send_to_device(
                (session.user_id.as_str(), &session.device_id),
                txn_id,
                event_type,
                &batch,
                MAX_INBOX,
                crate::clock::now_ms(),
            )
            .await?;
        match sent {
            ToDeviceSent::Sent(Some(position)) => {
                ticket.allocated(position);
                ticket.committed(recipients.into_iter().map(Topic::User));
                Ok(())
            }
            ToDeviceSent::Sent(None) | ToDeviceSent::Repeated => Ok(()),
            ToDeviceSent::InboxFull { user_id, device_id } => {
                tracing::warn!(%user_id, %device_id, sender = %session.user_id,
                    "to-device message refused: the device's inbox is full");
                Err(Error::LimitExceeded {
                    retry_after_ms: 60_000,
                })
            }
        }
    }

    /// The device's to-device messages after the token, up to `now`;
    /// what the token acknowledges is deleted first.
    pub(crate) async fn to_device_for_sync(
        &self,
        session: &Session,
        since: Option<SyncToken>,
        now: SyncToken,
    ) -> Result<ToDeviceBatch> {
        let user = session.user_id.as_str();
        let device = session.device_id.as_str();
        let after = since.map_or(0, |s| s.to_device);
        let key = (user.to_owned(), device.to_owned());
        let deleted = crate::lock(&self.to_device_acks.positions)
            .get(&key)
            .copied();
        if after > deleted.unwrap_or(0) {
            self.store
                .delete_to_device_messages(user, device, after)
                .await?;
            crate::lock(&self.to_device_acks.positions).put(key, after);
        }
        if after >= now.to_device {
            return Ok(ToDeviceBatch::default());
        }
        let rows = self
            .store
            .to_device_messages(user, device, after, now.to_device, MAX_PER_SYNC)
            .await?;
        let upto = match rows.last() {
            Some(last) if rows.len() as i64 == MAX_PER_SYNC => Some(last.position),
            _ => None,
        };
        let events = rows.iter().map(to_device_event).collect::<Result<_>>()?;
        Ok(ToDeviceBatch { events, upto })
    }
}

/// A stored message as a device receives it.
pub(super) fn to_device_event(row: &ToDeviceRow) -> Result<Value> {
    let content: Value = serde_json::from_str(&row.content)
        .map_err(|e| Error::Internal(format!("stored to-device content: {e}")))?;
    Ok(json!({ "sender": row.sender, "type": row.event_type, "content": content }))
}
