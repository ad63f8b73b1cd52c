//! Olm: one-to-one sessions between two devices, used for to-device
//! messages (above all, for handing out Megolm room keys).

use std::collections::BTreeMap;
use std::fmt;

use serde_json::{json, Value};
use vodozemac::olm::{OlmMessage, Session, SessionConfig};
use vodozemac::{base64_decode, base64_encode, Curve25519PublicKey, DecodeError, Ed25519PublicKey};

use super::account::OwnAccount;
use super::device::{Device, KnownDevices};
use super::{CryptoError, OLM_ALGORITHM};

/// An Olm session and when it was last useful.
pub(crate) struct OlmSession {
    pub(crate) session: Session,
    /// The other device's Curve25519 key.
    pub(crate) their_key: Curve25519PublicKey,
    /// Logical time of creation or of the last message received on it: the
    /// spec asks senders to use the session that last received a message.
    pub(crate) last_use: u64,
}

impl fmt::Debug for OlmSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OlmSession")
            .field("session_id", &self.session.session_id())
            .field("their_key", &self.their_key.to_base64())
            .field("last_use", &self.last_use)
            .finish()
    }
}

/// All Olm sessions, by the other device's Curve25519 key.
#[derive(Debug, Default)]
pub(crate) struct OlmSessions {
    by_key: BTreeMap<String, Vec<OlmSession>>,
    clock: u64,
}

/// Where a decrypted Olm message came from.
pub(crate) struct OlmDecrypted {
    pub(crate) plaintext: Vec<u8>,
    pub(crate) sender_key: Curve25519PublicKey,
    pub(crate) session_id: String,
    /// Whether the message set up a new inbound session (and so used up
    /// one of our one-time keys: the account changed too).
    pub(crate) created: bool,
}

impl OlmSessions {
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// Adds a session restored from the store.
    pub(crate) fn restore(&mut self, session: OlmSession) {
        self.clock = self.clock.max(session.last_use);
        self.by_key
            .entry(session.their_key.to_base64())
            .or_default()
            .push(session);
    }

    /// Adds a new session, as the most recently used one for its device.
    pub(crate) fn insert(&mut self, their_key: Curve25519PublicKey, session: Session) -> String {
        let session_id = session.session_id();
        let last_use = self.tick();
        self.restore(OlmSession {
            session,
            their_key,
            last_use,
        });
        session_id
    }

    pub(crate) fn has_session_with(&self, key: &Curve25519PublicKey) -> bool {
        self.by_key
            .get(&key.to_base64())
            .is_some_and(|s| !s.is_empty())
    }

    pub(crate) fn get(&self, key: &Curve25519PublicKey, session_id: &str) -> Option<&OlmSession> {
        self.by_key
            .get(&key.to_base64())?
            .iter()
            .find(|s| s.session.session_id() == session_id)
    }

    /// The session to send with: the one that most recently received a
    /// message (or, lacking any, was most recently created).
    fn preferred_mut(&mut self, key: &Curve25519PublicKey) -> Option<&mut OlmSession> {
        self.by_key
            .get_mut(&key.to_base64())?
            .iter_mut()
            .max_by_key(|s| s.last_use)
    }

    /// Encrypts an event for `recipient` with the preferred session, as the
    /// content of an `m.room.encrypted` to-device event. Returns the
    /// content and the ID of the session that changed.
    pub(crate) fn encrypt(
        &mut self,
        account: &OwnAccount,
        recipient: &Device,
        event_type: &str,
        content: Value,
    ) -> Result<(Value, String), CryptoError> {
        let their_key = recipient.curve25519_key();
        let entry = self
            .preferred_mut(&their_key)
            .ok_or_else(|| CryptoError::NoOlmSession {
                user_id: recipient.user_id().to_owned(),
                device_id: recipient.device_id().to_owned(),
            })?;
        let payload = json!({
            "sender": account.user_id(),
            "sender_device": account.device_id(),
            "keys": {"ed25519": account.ed25519_key().to_base64()},
            "recipient": recipient.user_id(),
            "recipient_keys": {"ed25519": recipient.ed25519_key().to_base64()},
            "type": event_type,
            "content": content,
        });
        let message = entry.session.encrypt(payload.to_string())?;
        let (message_type, body) = message.to_parts();
        let content = json!({
            "algorithm": OLM_ALGORITHM,
            "sender_key": account.curve25519_key().to_base64(),
            "ciphertext": {
                their_key.to_base64(): {"type": message_type, "body": base64_encode(body)},
            },
        });
        Ok((content, entry.session.session_id()))
    }

    /// Decrypts the content of an Olm `m.room.encrypted` event.
    ///
    /// Existing sessions with the sender are tried first. Only a pre-key
    /// message that none of them decrypts sets up a new inbound session
    /// (using up the one-time key it names); a normal message that none of
    /// them decrypts is refused.
    pub(crate) fn decrypt(
        &mut self,
        account: &mut OwnAccount,
        content: &Value,
    ) -> Result<OlmDecrypted, CryptoError> {
        const WHAT: &str = "Olm event content";
        let algorithm = content
            .get("algorithm")
            .and_then(Value::as_str)
            .ok_or_else(|| CryptoError::malformed(WHAT, "no algorithm"))?;
        if algorithm != OLM_ALGORITHM {
            return Err(CryptoError::UnsupportedAlgorithm(algorithm.to_owned()));
        }
        let sender_key = content
            .get("sender_key")
            .and_then(Value::as_str)
            .ok_or_else(|| CryptoError::malformed(WHAT, "no sender_key"))?;
        let sender_key = Curve25519PublicKey::from_base64(sender_key)?;
        let ours = content
            .get("ciphertext")
            .and_then(|c| c.get(account.curve25519_key().to_base64()))
            .ok_or(CryptoError::NotForThisDevice)?;
        let message_type = ours
            .get("type")
            .and_then(Value::as_u64)
            .and_then(|t| usize::try_from(t).ok())
            .ok_or_else(|| CryptoError::malformed(WHAT, "no message type"))?;
        let body = ours
            .get("body")
            .and_then(Value::as_str)
            .ok_or_else(|| CryptoError::malformed(WHAT, "no body"))?;
        let body = base64_decode(body).map_err(DecodeError::from)?;
        let message = OlmMessage::from_parts(message_type, &body)?;

        let now = self.tick();
        if let Some(sessions) = self.by_key.get_mut(&sender_key.to_base64()) {
            for entry in sessions {
                if let Ok(plaintext) = entry.session.decrypt(&message) {
                    entry.last_use = now;
                    return Ok(OlmDecrypted {
                        plaintext,
                        sender_key,
                        session_id: entry.session.session_id(),
                        created: false,
                    });
                }
            }
        }
        let OlmMessage::PreKey(pre_key) = &message else {
            return Err(CryptoError::NoMatchingOlmSession {
                sender_key: sender_key.to_base64(),
            });
        };
        let created = account.inner.create_inbound_session(
            SessionConfig::version_1(),
            sender_key,
            pre_key,
        )?;
        let session_id = self.insert(sender_key, created.session);
        Ok(OlmDecrypted {
            plaintext: created.plaintext,
            sender_key,
            session_id,
            created: true,
        })
    }
}

/// A to-device event that was Olm-encrypted for this device, decrypted and
/// checked.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct DecryptedToDevice {
    /// The sending user (the event's `sender`, which the payload confirmed).
    pub sender: String,
    /// The sending device, when its keys are known from `/keys/query` and
    /// match the keys the message was sent with. `None` means the sender is
    /// not (yet) known: the content is authentic to the Curve25519 key, but
    /// nothing ties that key to `sender`.
    pub sender_device: Option<String>,
    /// The Curve25519 key the Olm session is with.
    pub sender_curve25519_key: Curve25519PublicKey,
    /// The Ed25519 key the sender claims in the encrypted payload.
    pub sender_ed25519_key: Ed25519PublicKey,
    /// The type of the decrypted event, such as `m.room_key`.
    pub event_type: String,
    /// The content of the decrypted event.
    pub content: Value,
}

/// Checks a decrypted Olm payload against the event it came in and against
/// what we know, as the spec's validation of incoming decrypted events
/// requires.
pub(crate) fn check_payload(
    account: &OwnAccount,
    devices: &KnownDevices,
    event_sender: &str,
    sender_key: Curve25519PublicKey,
    plaintext: &[u8],
) -> Result<DecryptedToDevice, CryptoError> {
    const WHAT: &str = "Olm payload";
    let payload: Value = serde_json::from_slice(plaintext)
        .map_err(|e| CryptoError::malformed(WHAT, e.to_string()))?;
    let string = |pointer: &str| {
        payload
            .pointer(pointer)
            .and_then(Value::as_str)
            .ok_or_else(|| CryptoError::malformed(WHAT, format!("no string at {pointer}")))
    };
    let sender = string("/sender")?;
    if sender != event_sender {
        return Err(CryptoError::SenderMismatch {
            event: event_sender.to_owned(),
            payload: sender.to_owned(),
        });
    }
    let recipient = string("/recipient")?;
    if recipient != account.user_id() {
        return Err(CryptoError::WrongRecipient(recipient.to_owned()));
    }
    if string("/recipient_keys/ed25519")? != account.ed25519_key().to_base64() {
        return Err(CryptoError::WrongRecipientKey);
    }
    let sender_ed25519_key = Ed25519PublicKey::from_base64(string("/keys/ed25519")?)?;
    let known = devices.by_curve25519(sender, &sender_key);
    if let Some(device) = known {
        if device.ed25519_key() != sender_ed25519_key {
            return Err(CryptoError::SenderKeyMismatch {
                device_id: device.device_id().to_owned(),
            });
        }
    }
    if let Some(device_keys) = payload.get("sender_device_keys") {
        check_sender_device_keys(sender, sender_key, sender_ed25519_key, device_keys)?;
    }
    let event_type = string("/type")?.to_owned();
    let content = payload
        .get("content")
        .filter(|c| c.is_object())
        .cloned()
        .ok_or_else(|| CryptoError::malformed(WHAT, "no content object"))?;
    Ok(DecryptedToDevice {
        sender: sender.to_owned(),
        sender_device: known.map(|d| d.device_id().to_owned()),
        sender_curve25519_key: sender_key,
        sender_ed25519_key,
        event_type,
        content,
    })
}

/// When a payload carries the sender's device keys, they must be validly
/// signed, belong to the sender, and hold the keys the message used.
fn check_sender_device_keys(
    sender: &str,
    sender_key: Curve25519PublicKey,
    sender_ed25519_key: Ed25519PublicKey,
    device_keys: &Value,
) -> Result<(), CryptoError> {
    let device_id = device_keys
        .get("device_id")
        .and_then(Value::as_str)
        .ok_or_else(|| CryptoError::malformed("sender_device_keys", "no device_id"))?;
    let device = Device::from_device_keys(sender, device_id, device_keys)?;
    if device.curve25519_key() != sender_key || device.ed25519_key() != sender_ed25519_key {
        return Err(CryptoError::SenderKeyMismatch {
            device_id: device_id.to_owned(),
        });
    }
    Ok(())
}
