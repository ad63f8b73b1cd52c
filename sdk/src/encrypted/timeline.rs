//! Room events as the user reads them: decrypted where they were
//! encrypted, from a sync or from the room's history.

use serde::Deserialize;
use serde_json::Value;

use super::{EncryptedClient, EncryptedClientError};
use crate::crypto::{CryptoError, DecryptedRoomEvent};
use hanse_protocol::path_segment;

const ENCRYPTED_EVENT_TYPE: &str = "m.room.encrypted";

/// A room event and what decrypting it gave.
#[derive(Debug)]
pub struct TimelineEvent {
    pub room_id: String,
    /// The event as the server sent it.
    pub raw: Value,
    pub decryption: Decryption,
}

/// Whether an event was encrypted, and if so whether this device read it.
#[derive(Debug)]
pub enum Decryption {
    /// The event was sent in the clear.
    Plaintext,
    /// The event was encrypted and this device read it.
    Decrypted(Box<DecryptedRoomEvent>),
    /// The event was encrypted and this device cannot read it: the room
    /// key never reached it (it was not in the room, or its keys were not
    /// known to the sender), or the engine refused the event (a replayed
    /// message index, a sender who does not own the key, ...).
    Undecryptable(CryptoError),
}

impl TimelineEvent {
    pub fn event_id(&self) -> Option<&str> {
        self.raw.get("event_id").and_then(Value::as_str)
    }

    pub fn sender(&self) -> Option<&str> {
        self.raw.get("sender").and_then(Value::as_str)
    }

    pub fn origin_server_ts(&self) -> Option<i64> {
        self.raw.get("origin_server_ts").and_then(Value::as_i64)
    }

    /// The event's type, the decrypted one for an encrypted event.
    pub fn event_type(&self) -> Option<&str> {
        match &self.decryption {
            Decryption::Decrypted(decrypted) => Some(&decrypted.event_type),
            _ => self.raw.get("type").and_then(Value::as_str),
        }
    }

    /// The event's content, decrypted; `None` for an event that could not
    /// be decrypted.
    pub fn content(&self) -> Option<&Value> {
        match &self.decryption {
            Decryption::Plaintext => self.raw.get("content"),
            Decryption::Decrypted(decrypted) => Some(&decrypted.content),
            Decryption::Undecryptable(_) => None,
        }
    }

    /// The `body` of a message.
    pub fn body(&self) -> Option<&str> {
        self.content()?.get("body")?.as_str()
    }

    /// Whether the event was sent encrypted.
    pub fn was_encrypted(&self) -> bool {
        !matches!(self.decryption, Decryption::Plaintext)
    }
}

#[derive(Deserialize)]
struct MessagesPage {
    chunk: Vec<Value>,
}

impl EncryptedClient {
    /// Decrypts `event` of room `room_id` if it is encrypted. Decrypting
    /// the same event again is fine; another event with a message index
    /// already seen is refused as a replay.
    pub fn decrypt(&mut self, room_id: &str, event: Value) -> TimelineEvent {
        let decryption = if event.get("type").and_then(Value::as_str) == Some(ENCRYPTED_EVENT_TYPE)
        {
            match self.machine.decrypt_room_event(room_id, &event) {
                Ok(decrypted) => Decryption::Decrypted(Box::new(decrypted)),
                Err(error) => Decryption::Undecryptable(error),
            }
        } else {
            Decryption::Plaintext
        };
        TimelineEvent {
            room_id: room_id.to_owned(),
            raw: event,
            decryption,
        }
    }

    /// The latest `limit` events of the room (`/messages`, backwards from
    /// now), oldest first, decrypted.
    pub async fn messages(
        &mut self,
        room_id: &str,
        limit: usize,
    ) -> Result<Vec<TimelineEvent>, EncryptedClientError> {
        let path = format!(
            "/_matrix/client/v3/rooms/{}/messages?dir=b&limit={limit}",
            path_segment::encode(room_id)
        );
        let page: MessagesPage = self.client.get(&path).await?;
        Ok(page
            .chunk
            .into_iter()
            .rev()
            .map(|event| self.decrypt(room_id, event))
            .collect())
    }
}
