//! Megolm, sending side: one outbound group session per room, rotated as
//! the room's `m.room.encryption` settings and its membership require.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use vodozemac::megolm::{GroupSession, SessionConfig};

use super::account::OwnAccount;
use super::device::Device;
use super::{CryptoError, MEGOLM_ALGORITHM};

/// How long a Megolm session is used when the room does not say: a week,
/// as the spec recommends.
pub const DEFAULT_ROTATION_PERIOD_MS: u64 = 7 * 24 * 60 * 60 * 1000;
/// How many messages a Megolm session encrypts when the room does not say.
pub const DEFAULT_ROTATION_PERIOD_MSGS: u64 = 100;

/// When a room's outbound Megolm session must be replaced, from the room's
/// `m.room.encryption` state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptionSettings {
    /// Replace the session once it is this old (milliseconds).
    pub rotation_period_ms: u64,
    /// Replace the session once it has encrypted this many messages.
    pub rotation_period_msgs: u64,
}

impl Default for EncryptionSettings {
    fn default() -> Self {
        Self {
            rotation_period_ms: DEFAULT_ROTATION_PERIOD_MS,
            rotation_period_msgs: DEFAULT_ROTATION_PERIOD_MSGS,
        }
    }
}

impl EncryptionSettings {
    /// Reads the content of a room's `m.room.encryption` state event.
    /// Missing periods take the defaults; a period of 0 messages is read as
    /// 1 (a session must encrypt something before it is replaced).
    pub fn from_event_content(content: &Value) -> Result<Self, CryptoError> {
        const WHAT: &str = "m.room.encryption content";
        let algorithm = content
            .get("algorithm")
            .and_then(Value::as_str)
            .ok_or_else(|| CryptoError::malformed(WHAT, "no algorithm"))?;
        if algorithm != MEGOLM_ALGORITHM {
            return Err(CryptoError::UnsupportedAlgorithm(algorithm.to_owned()));
        }
        let period = |name: &str, default: u64| match content.get(name) {
            None => Ok(default),
            Some(value) => value
                .as_u64()
                .ok_or_else(|| CryptoError::malformed(WHAT, format!("{name} is not a count"))),
        };
        Ok(Self {
            rotation_period_ms: period("rotation_period_ms", DEFAULT_ROTATION_PERIOD_MS)?,
            rotation_period_msgs: period("rotation_period_msgs", DEFAULT_ROTATION_PERIOD_MSGS)?
                .max(1),
        })
    }
}

/// The session a room's messages are currently encrypted with.
pub(crate) struct OutboundGroupSession {
    pub(crate) room_id: String,
    pub(crate) session: GroupSession,
    /// Milliseconds since the Unix epoch.
    pub(crate) created_at_ms: u64,
    pub(crate) settings: EncryptionSettings,
    /// Who was sent the room key: user ID → device ID → the device's
    /// Curve25519 key (base64) at the time.
    pub(crate) shared_with: BTreeMap<String, BTreeMap<String, String>>,
}

impl fmt::Debug for OutboundGroupSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboundGroupSession")
            .field("room_id", &self.room_id)
            .field("session_id", &self.session.session_id())
            .field("message_index", &self.session.message_index())
            .field("created_at_ms", &self.created_at_ms)
            .field("settings", &self.settings)
            .field("shared_with", &self.shared_with)
            .finish()
    }
}

impl OutboundGroupSession {
    pub(crate) fn new(room_id: &str, settings: EncryptionSettings, now_ms: u64) -> Self {
        Self {
            room_id: room_id.to_owned(),
            session: GroupSession::new(SessionConfig::version_1()),
            created_at_ms: now_ms,
            settings,
            shared_with: BTreeMap::new(),
        }
    }

    /// Whether the session has encrypted as many messages, or lived as
    /// long, as the settings allow.
    pub(crate) fn is_expired(&self, now_ms: u64) -> bool {
        u64::from(self.session.message_index()) >= self.settings.rotation_period_msgs
            || now_ms.saturating_sub(self.created_at_ms) >= self.settings.rotation_period_ms
    }

    /// Whether the room key went to this device (with these keys).
    pub(crate) fn was_shared_with(&self, device: &Device) -> bool {
        self.shared_with
            .get(device.user_id())
            .and_then(|devices| devices.get(device.device_id()))
            .is_some_and(|key| *key == device.curve25519_key().to_base64())
    }

    /// Whether a device that got the room key is not among `recipients`
    /// any more: it left, or its owner did, and must not read what follows.
    pub(crate) fn shared_with_someone_outside(&self, recipients: &[&Device]) -> bool {
        self.shared_with.iter().any(|(user_id, devices)| {
            devices.iter().any(|(device_id, key)| {
                !recipients.iter().any(|d| {
                    d.user_id() == user_id
                        && d.device_id() == device_id
                        && d.curve25519_key().to_base64() == *key
                })
            })
        })
    }

    pub(crate) fn mark_shared_with(&mut self, device: &Device) {
        self.shared_with
            .entry(device.user_id().to_owned())
            .or_default()
            .insert(
                device.device_id().to_owned(),
                device.curve25519_key().to_base64(),
            );
    }

    /// The content of the `m.room_key` event that hands this session out,
    /// at its current index: a device that gets it later cannot read the
    /// messages sent before.
    pub(crate) fn room_key_content(&self) -> Value {
        json!({
            "algorithm": MEGOLM_ALGORITHM,
            "room_id": self.room_id,
            "session_id": self.session.session_id(),
            "session_key": self.session.session_key().to_base64(),
        })
    }

    /// Encrypts a room event as `m.room.encrypted` content.
    pub(crate) fn encrypt(
        &mut self,
        account: &OwnAccount,
        event_type: &str,
        content: Value,
    ) -> Value {
        let plaintext = json!({
            "type": event_type,
            "content": content,
            "room_id": self.room_id,
        });
        let message = self.session.encrypt(plaintext.to_string());
        json!({
            "algorithm": MEGOLM_ALGORITHM,
            "sender_key": account.curve25519_key().to_base64(),
            "ciphertext": message.to_base64(),
            "session_id": self.session.session_id(),
            "device_id": account.device_id(),
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn settings_default_and_are_read_from_the_state_event() {
        let content = json!({"algorithm": MEGOLM_ALGORITHM});
        assert_eq!(
            EncryptionSettings::from_event_content(&content).unwrap(),
            EncryptionSettings::default()
        );
        let content = json!({
            "algorithm": MEGOLM_ALGORITHM,
            "rotation_period_ms": 1000,
            "rotation_period_msgs": 0,
        });
        assert_eq!(
            EncryptionSettings::from_event_content(&content).unwrap(),
            EncryptionSettings {
                rotation_period_ms: 1000,
                rotation_period_msgs: 1
            }
        );
        assert!(matches!(
            EncryptionSettings::from_event_content(
                &json!({"algorithm": "m.olm.v1.curve25519-aes-sha2"})
            ),
            Err(CryptoError::UnsupportedAlgorithm(_))
        ));
        assert!(EncryptionSettings::from_event_content(
            &json!({"algorithm": MEGOLM_ALGORITHM, "rotation_period_ms": "soon"})
        )
        .is_err());
    }

    #[test]
    fn expires_by_age_and_by_message_count() {
        let account = OwnAccount::new("@a:h", "A");
        let settings = EncryptionSettings {
            rotation_period_ms: 1000,
            rotation_period_msgs: 2,
        };
        let mut session = OutboundGroupSession::new("!r:h", settings, 10_000);
        assert!(!session.is_expired(10_999));
        assert!(session.is_expired(11_000));

        session.encrypt(&account, "m.room.message", json!({}));
        assert!(!session.is_expired(10_000));
        session.encrypt(&account, "m.room.message", json!({}));
        assert!(session.is_expired(10_000));
    }
}
