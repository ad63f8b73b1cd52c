//! Sending into a room: in the clear where the room is not encrypted;
//! otherwise the room key is first handed to every device of the room's
//! members that lacks it (after fetching changed device lists and
//! claiming one-time keys for devices we have no Olm session with), and
//! the event goes out encrypted with it.

use serde::Deserialize;
use serde_json::{json, Value};

use super::room_state::RoomEncryption;
use super::{EncryptedClient, EncryptedClientError};
use crate::crypto::{EncryptionSettings, RoomKeyShare};
use hanse_protocol::path_segment;

const ENCRYPTED_EVENT_TYPE: &str = "m.room.encrypted";

/// A sent room event.
#[derive(Debug)]
#[non_exhaustive]
pub struct SentEvent {
    pub event_id: String,
    /// The Megolm session the event was encrypted with; `None` when the
    /// room is not encrypted.
    pub session_id: Option<String>,
    /// `(user ID, device ID)` of recipients' devices that did not get the
    /// room key because no Olm session could be set up with them (they
    /// published no one-time or fallback key). They cannot read the event.
    pub devices_without_key: Vec<(String, String)>,
}

#[derive(Deserialize)]
struct EventIdAnswer {
    event_id: String,
}

/// A transaction ID no other request of this device uses.
fn transaction_id() -> String {
    format!("hanse-{:032x}", rand::random::<u128>())
}

impl EncryptedClient {
    /// Sends a text message (`m.room.message`, `m.text`).
    pub async fn send_text(
        &mut self,
        room_id: &str,
        body: &str,
    ) -> Result<SentEvent, EncryptedClientError> {
        self.send_message(
            room_id,
            "m.room.message",
            json!({ "msgtype": "m.text", "body": body }),
        )
        .await
    }

    /// Sends a room event of `event_type`, encrypted if the room is.
    ///
    /// Fails with [`EncryptedClientError::UnknownRoom`] for a room no sync
    /// has shown as joined: whether it is encrypted is unknown, and sending
    /// in the clear into an encrypted room must not happen.
    pub async fn send_message(
        &mut self,
        room_id: &str,
        event_type: &str,
        content: Value,
    ) -> Result<SentEvent, EncryptedClientError> {
        let room = self
            .state
            .rooms
            .get(room_id)
            .ok_or_else(|| EncryptedClientError::UnknownRoom(room_id.to_owned()))?;
        let settings = match room.encryption() {
            None => {
                let event_id = self.put_room_event(room_id, event_type, &content).await?;
                return Ok(SentEvent {
                    event_id,
                    session_id: None,
                    devices_without_key: Vec::new(),
                });
            }
            Some(RoomEncryption::Unsupported { algorithm }) => {
                return Err(EncryptedClientError::UnsupportedRoomEncryption {
                    room_id: room_id.to_owned(),
                    algorithm: algorithm.clone(),
                })
            }
            Some(RoomEncryption::Megolm(settings)) => *settings,
        };
        let share = self.share_room_key(room_id, &settings).await?;
        let encrypted = self
            .machine
            .encrypt_room_event(room_id, event_type, content)?;
        let event_id = self
            .put_room_event(room_id, ENCRYPTED_EVENT_TYPE, &encrypted)
            .await?;
        Ok(SentEvent {
            event_id,
            session_id: Some(share.session_id),
            devices_without_key: share.missing_sessions,
        })
    }

    /// Makes sure every device of the room's key recipients holds the
    /// room's current room key: the engine starts a new one when the old
    /// one is used up, too old, or known to a device no longer among the
    /// recipients; this sends it to those lacking it, in one to-device
    /// request.
    async fn share_room_key(
        &mut self,
        room_id: &str,
        settings: &EncryptionSettings,
    ) -> Result<RoomKeyShare, EncryptedClientError> {
        self.refresh_device_lists().await?;
        let recipients: Vec<String> = self
            .state
            .rooms
            .get(room_id)
            .map(|room| {
                room.key_recipients()
                    .into_iter()
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let recipients: Vec<&str> = recipients.iter().map(String::as_str).collect();

        let missing = self.machine.missing_sessions(&recipients);
        if !missing.is_empty() {
            let claimed: Value = self
                .client
                .post(
                    "/_matrix/client/v3/keys/claim",
                    &json!({ "one_time_keys": missing }),
                )
                .await?;
            // Devices whose key is missing or refused stay without a
            // session; the share reports them.
            self.machine.receive_keys_claim(&claimed)?;
        }

        let share = self
            .machine
            .share_room_key(room_id, &recipients, settings)?;
        if !share.messages.is_empty() {
            let path = format!(
                "/_matrix/client/v3/sendToDevice/{ENCRYPTED_EVENT_TYPE}/{}",
                transaction_id()
            );
            let sent: Result<Value, _> = self
                .client
                .put(&path, &json!({ "messages": share.messages }))
                .await;
            if let Err(error) = sent {
                // The engine counts those devices as holding the key; they
                // may not. A new key next time reaches everyone.
                self.machine.invalidate(room_id)?;
                return Err(error.into());
            }
        }
        Ok(share)
    }

    async fn put_room_event(
        &self,
        room_id: &str,
        event_type: &str,
        content: &Value,
    ) -> Result<String, EncryptedClientError> {
        let path = format!(
            "/_matrix/client/v3/rooms/{}/send/{}/{}",
            path_segment::encode(room_id),
            path_segment::encode(event_type),
            transaction_id()
        );
        let sent: EventIdAnswer = self.client.put(&path, content).await?;
        Ok(sent.event_id)
    }
}
