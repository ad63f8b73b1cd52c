//! What the client knows of a room it is in: who is in it, whether and how
//! it is encrypted, and who may read its history. Learned from the state
//! events of each sync, it decides who is given the room key and when the
//! room key must be replaced.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::crypto::EncryptionSettings;

/// A membership that can hold a room key: joined, or invited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Membership {
    Join,
    Invite,
}

/// How a room's messages are encrypted, from its `m.room.encryption`
/// state event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RoomEncryption {
    /// Megolm, with these rotation limits.
    Megolm(EncryptionSettings),
    /// An algorithm this client does not implement, or an unreadable
    /// event: the room wants encryption, so nothing may be sent in the
    /// clear.
    Unsupported { algorithm: String },
}

/// One room, as far as encryption is concerned.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RoomState {
    /// Joined and invited users; those who left, were banned or only knock
    /// are not kept.
    members: BTreeMap<String, Membership>,
    encryption: Option<RoomEncryption>,
    history_visibility: Option<String>,
}

impl RoomState {
    /// Whether the room asks for end-to-end encryption.
    pub fn is_encrypted(&self) -> bool {
        self.encryption.is_some()
    }

    pub fn encryption(&self) -> Option<&RoomEncryption> {
        self.encryption.as_ref()
    }

    /// Joined and invited members.
    pub fn members(&self) -> impl Iterator<Item = (&str, Membership)> {
        self.members.iter().map(|(user, m)| (user.as_str(), *m))
    }

    /// The users whose devices are given the room key: the joined members,
    /// and the invited ones unless the room's history is visible to joined
    /// members only (an invited user could not read those messages anyway).
    pub fn key_recipients(&self) -> Vec<&str> {
        let invited_may_read = self.history_visibility.as_deref() != Some("joined");
        self.members
            .iter()
            .filter(|(_, m)| **m == Membership::Join || invited_may_read)
            .map(|(user, _)| user.as_str())
            .collect()
    }

    /// Takes in one state event (others are ignored). `in_limited_sync`:
    /// the event came in a sync whose timeline was cut short, so events
    /// between it and the previous sync are unseen.
    ///
    /// Returns whether the room's outbound room key must be replaced before
    /// the next message. The spec requires it when someone leaves: they may
    /// hold the current key and must not read what follows. A user seen
    /// with any membership but `join` after a gap may have joined and left
    /// unseen, so that counts too. So does a change of whether history is
    /// shared with later members, which decides who may hold the key.
    pub(crate) fn apply(&mut self, event: &Value, in_limited_sync: bool) -> bool {
        let (Some(event_type), Some(state_key)) = (
            event.get("type").and_then(Value::as_str),
            event.get("state_key").and_then(Value::as_str),
        ) else {
            return false;
        };
        let content = &event["content"];
        match event_type {
            "m.room.member" => {
                let membership = content["membership"].as_str().unwrap_or_default();
                match membership {
                    "join" => self.members.insert(state_key.to_owned(), Membership::Join),
                    "invite" => self
                        .members
                        .insert(state_key.to_owned(), Membership::Invite),
                    _ => self.members.remove(state_key),
                };
                matches!(membership, "leave" | "ban") || (in_limited_sync && membership != "join")
            }
            "m.room.encryption" if state_key.is_empty() => {
                match EncryptionSettings::from_event_content(content) {
                    Ok(settings) => self.encryption = Some(RoomEncryption::Megolm(settings)),
                    // Encryption, once on, cannot be switched off or
                    // weakened by a later event: keep what works.
                    Err(_) if matches!(self.encryption, Some(RoomEncryption::Megolm(_))) => {}
                    Err(_) => {
                        self.encryption = Some(RoomEncryption::Unsupported {
                            algorithm: content["algorithm"].as_str().unwrap_or("").to_owned(),
                        });
                    }
                }
                // New rotation limits are the engine's to compare.
                false
            }
            "m.room.history_visibility" if state_key.is_empty() => {
                let shared_before = self.history_is_shared();
                self.history_visibility = content["history_visibility"].as_str().map(str::to_owned);
                shared_before != self.history_is_shared()
            }
            _ => false,
        }
    }

    /// Whether members who join later may read earlier messages (`shared`,
    /// the default, or `world_readable`).
    fn history_is_shared(&self) -> bool {
        matches!(
            self.history_visibility.as_deref(),
            None | Some("shared") | Some("world_readable")
        )
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::crypto::MEGOLM_ALGORITHM;

    fn member(user: &str, membership: &str) -> Value {
        json!({"type": "m.room.member", "state_key": user, "content": {"membership": membership}})
    }

    fn state(event_type: &str, content: Value) -> Value {
        json!({"type": event_type, "state_key": "", "content": content})
    }

    #[test]
    fn leaving_rotates_and_joining_does_not() {
        let mut room = RoomState::default();
        assert!(!room.apply(&member("@a:h", "join"), false));
        assert!(!room.apply(&member("@b:h", "invite"), false));
        assert!(!room.apply(&member("@b:h", "join"), false));
        assert_eq!(room.key_recipients(), ["@a:h", "@b:h"]);
        assert!(room.apply(&member("@b:h", "leave"), false));
        assert!(room.apply(&member("@c:h", "ban"), false));
        assert_eq!(room.key_recipients(), ["@a:h"]);
        assert!(!room.apply(&member("@d:h", "knock"), false));

        // After a gap, anything but a join may hide a join and a leave.
        assert!(room.apply(&member("@e:h", "invite"), true));
        assert!(!room.apply(&member("@f:h", "join"), true));
    }

    #[test]
    fn invited_members_get_the_key_unless_history_is_for_joined_members_only() {
        let mut room = RoomState::default();
        room.apply(&member("@a:h", "join"), false);
        room.apply(&member("@b:h", "invite"), false);
        assert_eq!(room.key_recipients(), ["@a:h", "@b:h"]);
        room.apply(
            &state(
                "m.room.history_visibility",
                json!({"history_visibility": "invited"}),
            ),
            false,
        );
        assert_eq!(room.key_recipients(), ["@a:h", "@b:h"]);
        room.apply(
            &state(
                "m.room.history_visibility",
                json!({"history_visibility": "joined"}),
            ),
            false,
        );
        assert_eq!(room.key_recipients(), ["@a:h"]);
    }

    #[test]
    fn sharing_history_with_later_members_or_not_rotates() {
        let mut room = RoomState::default();
        let visibility = |v: &str| {
            state(
                "m.room.history_visibility",
                json!({"history_visibility": v}),
            )
        };
        assert!(!room.apply(&visibility("world_readable"), false));
        assert!(room.apply(&visibility("invited"), false));
        assert!(!room.apply(&visibility("joined"), false));
        assert!(room.apply(&visibility("shared"), false));
    }

    #[test]
    fn encryption_is_read_and_never_switched_off() {
        let mut room = RoomState::default();
        assert!(!room.is_encrypted());
        room.apply(
            &state(
                "m.room.encryption",
                json!({"algorithm": MEGOLM_ALGORITHM, "rotation_period_msgs": 5}),
            ),
            false,
        );
        let Some(RoomEncryption::Megolm(settings)) = room.encryption() else {
            panic!("megolm expected");
        };
        assert_eq!(settings.rotation_period_msgs, 5);
        room.apply(&state("m.room.encryption", json!({})), false);
        assert!(matches!(room.encryption(), Some(RoomEncryption::Megolm(_))));

        let mut other = RoomState::default();
        other.apply(
            &state("m.room.encryption", json!({"algorithm": "m.megolm.v2"})),
            false,
        );
        assert_eq!(
            other.encryption(),
            Some(&RoomEncryption::Unsupported {
                algorithm: "m.megolm.v2".to_owned()
            })
        );
        // Not a state event: ignored.
        let mut plain = RoomState::default();
        plain.apply(
            &json!({"type": "m.room.encryption", "content": {"algorithm": MEGOLM_ALGORITHM}}),
            false,
        );
        assert!(!plain.is_encrypted());
    }
}
