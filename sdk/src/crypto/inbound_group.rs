//! Megolm, receiving side: the room keys we hold, and decryption of room
//! events with them, refusing replays.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use vodozemac::megolm::{InboundGroupSession, MegolmMessage, SessionConfig, SessionKey};
use vodozemac::{Curve25519PublicKey, Ed25519PublicKey};

use super::olm::DecryptedToDevice;
use super::{CryptoError, MEGOLM_ALGORITHM};

/// How we came to hold a room key, which says how far its sender can be
/// trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum RoomKeySource {
    /// This device created the session.
    Own,
    /// An `m.room_key` that arrived Olm-encrypted: the sender's keys are
    /// those of the Olm session.
    Olm,
    /// Restored from the server-side key backup. Anyone who knows the
    /// backup's public key can write to it, so the sender is unproven.
    Backup,
}

/// A room key (inbound Megolm session) and what we know about it.
pub(crate) struct InboundGroup {
    pub(crate) room_id: String,
    pub(crate) session: InboundGroupSession,
    /// The Curve25519 key of the device that created the session.
    pub(crate) sender_key: Curve25519PublicKey,
    /// The Ed25519 key that device claimed.
    pub(crate) sender_ed25519: Option<Ed25519PublicKey>,
    /// The user whose Olm message brought the key; `None` for backups.
    pub(crate) sender_user: Option<String>,
    /// The known device that sent the key, if it was known.
    pub(crate) sender_device: Option<String>,
    pub(crate) forwarding_chain: Vec<String>,
    pub(crate) source: RoomKeySource,
    /// Message index → (event ID, origin_server_ts) of the event that used
    /// it, for replay detection.
    pub(crate) seen: BTreeMap<u32, (String, i64)>,
    /// Whether the key was uploaded to the active backup.
    pub(crate) backed_up: bool,
}

impl fmt::Debug for InboundGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboundGroup")
            .field("room_id", &self.room_id)
            .field("session_id", &self.session.session_id())
            .field("first_known_index", &self.session.first_known_index())
            .field("sender_key", &self.sender_key.to_base64())
            .field("sender_user", &self.sender_user)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl InboundGroup {
    /// A room key from an `m.room_key` event that arrived Olm-encrypted as
    /// `event`.
    pub(crate) fn from_room_key(event: &DecryptedToDevice) -> Result<Self, CryptoError> {
        const WHAT: &str = "m.room_key content";
        let string = |name: &str| {
            event
                .content
                .get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| CryptoError::malformed(WHAT, format!("no string {name}")))
        };
        let algorithm = string("algorithm")?;
        if algorithm != MEGOLM_ALGORITHM {
            return Err(CryptoError::UnsupportedAlgorithm(algorithm.to_owned()));
        }
        let key = SessionKey::from_base64(string("session_key")?)?;
        let session = InboundGroupSession::new(&key, SessionConfig::version_1());
        let claimed = string("session_id")?;
        if session.session_id() != claimed {
            return Err(CryptoError::SessionIdMismatch {
                claimed: claimed.to_owned(),
                actual: session.session_id(),
            });
        }
        Ok(Self {
            room_id: string("room_id")?.to_owned(),
            session,
            sender_key: event.sender_curve25519_key,
            sender_ed25519: Some(event.sender_ed25519_key),
            sender_user: Some(event.sender.clone()),
            sender_device: event.sender_device.clone(),
            forwarding_chain: Vec::new(),
            source: RoomKeySource::Olm,
            seen: BTreeMap::new(),
            backed_up: false,
        })
    }

    pub(crate) fn session_id(&self) -> String {
        self.session.session_id()
    }
}

/// A room event decrypted with a room key.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DecryptedRoomEvent {
    /// The type of the decrypted event, such as `m.room.message`.
    pub event_type: String,
    /// The content of the decrypted event.
    pub content: Value,
    /// The Megolm session.
    pub session_id: String,
    /// The message's index in the session.
    pub message_index: u32,
    /// The Curve25519 key of the device that created the session.
    pub sender_curve25519_key: Curve25519PublicKey,
    /// The Ed25519 key that device claimed, when known.
    pub sender_ed25519_key: Option<Ed25519PublicKey>,
    /// The sending device, when the key came over Olm from a device whose
    /// keys we know.
    pub sender_device: Option<String>,
    /// How the key reached us.
    pub key_source: RoomKeySource,
}

/// All room keys, by room and session ID. The spec forbids looking them up
/// by the (deprecated, unauthenticated) `sender_key` of the event.
#[derive(Debug, Default)]
pub(crate) struct InboundGroups {
    by_id: BTreeMap<(String, String), InboundGroup>,
}

impl InboundGroups {
    pub(crate) fn get(&self, room_id: &str, session_id: &str) -> Option<&InboundGroup> {
        self.by_id.get(&(room_id.to_owned(), session_id.to_owned()))
    }

    pub(crate) fn get_mut(&mut self, room_id: &str, session_id: &str) -> Option<&mut InboundGroup> {
        self.by_id
            .get_mut(&(room_id.to_owned(), session_id.to_owned()))
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &InboundGroup> {
        self.by_id.values()
    }

    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = &mut InboundGroup> {
        self.by_id.values_mut()
    }

    /// Adds a room key. If one with the same ID is held already, the two
    /// are merged: the earlier first index wins, but the signing key and
    /// what we know of the sender stay those of the held key. A key that is
    /// not the same session (another signing key or ratchet) is ignored.
    /// Returns whether anything changed.
    pub(crate) fn add(&mut self, mut new: InboundGroup) -> bool {
        let id = (new.room_id.clone(), new.session_id());
        let Some(held) = self.by_id.get_mut(&id) else {
            self.by_id.insert(id, new);
            return true;
        };
        let before = held.session.first_known_index();
        match held.session.merge(&mut new.session) {
            Some(merged) if merged.first_known_index() < before => {
                held.session = merged;
                held.backed_up = false;
                true
            }
            _ => false,
        }
    }

    /// Decrypts a Megolm-encrypted room `event` received in `room_id`.
    ///
    /// Refused: events from another user than the one who sent us the key;
    /// a message index already used by another event (a replay; the same
    /// event decrypted twice is fine); a payload naming another room.
    pub(crate) fn decrypt(
        &mut self,
        room_id: &str,
        event: &Value,
    ) -> Result<DecryptedRoomEvent, CryptoError> {
        const WHAT: &str = "encrypted room event";
        let string = |pointer: &str| {
            event
                .pointer(pointer)
                .and_then(Value::as_str)
                .ok_or_else(|| CryptoError::malformed(WHAT, format!("no string at {pointer}")))
        };
        let algorithm = string("/content/algorithm")?;
        if algorithm != MEGOLM_ALGORITHM {
            return Err(CryptoError::UnsupportedAlgorithm(algorithm.to_owned()));
        }
        let session_id = string("/content/session_id")?;
        let sender = string("/sender")?;
        let event_id = string("/event_id")?;
        let origin_server_ts = event
            .get("origin_server_ts")
            .and_then(Value::as_i64)
            .ok_or_else(|| CryptoError::malformed(WHAT, "no origin_server_ts"))?;
        let message = MegolmMessage::from_base64(string("/content/ciphertext")?)?;

        let group =
            self.get_mut(room_id, session_id)
                .ok_or_else(|| CryptoError::UnknownGroupSession {
                    room_id: room_id.to_owned(),
                    session_id: session_id.to_owned(),
                })?;
        if let Some(key_sender) = &group.sender_user {
            if key_sender != sender {
                return Err(CryptoError::SenderMismatch {
                    event: sender.to_owned(),
                    payload: key_sender.clone(),
                });
            }
        }
        let decrypted = group.session.decrypt(&message)?;
        let payload: Value = serde_json::from_slice(&decrypted.plaintext)
            .map_err(|e| CryptoError::malformed("Megolm payload", e.to_string()))?;
        let payload_room = payload
            .get("room_id")
            .and_then(Value::as_str)
            .ok_or_else(|| CryptoError::malformed("Megolm payload", "no room_id"))?;
        if payload_room != room_id {
            return Err(CryptoError::RoomMismatch {
                event: room_id.to_owned(),
                payload: payload_room.to_owned(),
            });
        }
        let event_type = payload
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| CryptoError::malformed("Megolm payload", "no type"))?
            .to_owned();
        let content = payload
            .get("content")
            .filter(|c| c.is_object())
            .cloned()
            .ok_or_else(|| CryptoError::malformed("Megolm payload", "no content object"))?;

        let index = decrypted.message_index;
        match group.seen.get(&index) {
            Some((first, ts)) if first != event_id || *ts != origin_server_ts => {
                return Err(CryptoError::Replay {
                    session_id: session_id.to_owned(),
                    index,
                    first_event_id: first.clone(),
                });
            }
            Some(_) => {}
            None => {
                group
                    .seen
                    .insert(index, (event_id.to_owned(), origin_server_ts));
            }
        }
        Ok(DecryptedRoomEvent {
            event_type,
            content,
            session_id: session_id.to_owned(),
            message_index: index,
            sender_curve25519_key: group.sender_key,
            sender_ed25519_key: group.sender_ed25519,
            sender_device: group.sender_device.clone(),
            key_source: group.source,
        })
    }
}
