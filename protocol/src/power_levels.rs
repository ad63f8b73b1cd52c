//! Power levels: who may do what in a room.
//!
//! [`PowerLevels`] is the parsed content of an `m.room.power_levels` event
//! (or the defaults a room has before it sends one), interpreted under the
//! rules of a room version. The authorisation rules use it, and so should
//! anything that answers "may this user do X?" ahead of time, such as the
//! client API, so that both always agree.
//!
//! Version differences handled here:
//!
//! * Before version 10, every level may be an integer or a string holding
//!   one (`" +050 "`); from version 10 only JSON integers are accepted.
//! * From version 12 the room creators ([`room_creators`]) outrank everyone:
//!   their level is [`UserPowerLevel::Infinite`] whatever the event says.
//!
//! Floats, which versions 1–5 also tolerate in power levels, never reach
//! this module: [`CanonicalJsonValue`] cannot hold them, so such events are
//! refused when they are parsed.

use std::collections::BTreeMap;

use crate::canonical_json::{
    CanonicalJsonObject, CanonicalJsonValue, MAX_SAFE_INTEGER, MIN_SAFE_INTEGER,
};
use crate::identifiers::UserId;
use crate::pdu::Pdu;
use crate::room_versions::RoomVersion;

/// Level required to ban when the event does not say.
const DEFAULT_BAN: i64 = 50;
/// Level required to kick when the event does not say.
const DEFAULT_KICK: i64 = 50;
/// Level required to redact other users' events when the event does not say.
const DEFAULT_REDACT: i64 = 50;
/// Level required to invite when the event does not say.
const DEFAULT_INVITE: i64 = 0;
/// Level required for state events not listed in `events`.
const DEFAULT_STATE: i64 = 50;
/// Level required for message events not listed in `events`.
const DEFAULT_EVENTS: i64 = 0;
/// Level of users not listed in `users`.
const DEFAULT_USERS: i64 = 0;
/// Level required for `@room` notifications when `notifications.room` is
/// absent.
const DEFAULT_ROOM_NOTIFICATION: i64 = 50;
/// Level of the creator of a room without power levels (versions 1–11).
const INITIAL_CREATOR_LEVEL: i64 = 100;

/// The top-level keys whose value is a single level.
pub(crate) const SINGLE_LEVEL_KEYS: [&str; 7] = [
    "users_default",
    "events_default",
    "state_default",
    "ban",
    "redact",
    "kick",
    "invite",
];

/// A user's effective power level.
///
/// Ordered so that every finite level is below [`UserPowerLevel::Infinite`],
/// which only room creators have, from room version 12 on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UserPowerLevel {
    /// An ordinary level.
    Finite(i64),
    /// Above every finite level; cannot be granted or taken away by
    /// `m.room.power_levels`.
    Infinite,
}

impl UserPowerLevel {
    /// Whether this level meets a requirement of `required`.
    pub fn at_least(self, required: i64) -> bool {
        self >= Self::Finite(required)
    }
}

/// Why `m.room.power_levels` content cannot be interpreted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PowerLevelsError {
    /// A single-level key (`ban`, `users_default`, …) holds something other
    /// than an integer (or, before version 10, an integer string).
    #[error("{key:?} is not an integer power level")]
    NotAnInteger {
        /// The top-level key.
        key: &'static str,
    },
    /// `events`, `notifications` or `users` is not an object.
    #[error("{key:?} is not an object")]
    NotAnObject {
        /// The top-level key.
        key: &'static str,
    },
    /// An entry of `events`, `notifications` or `users` is not an integer
    /// (or, before version 10, an integer string).
    #[error("{key:?} entry {entry:?} is not an integer power level")]
    EntryNotAnInteger {
        /// The top-level key holding the entry.
        key: &'static str,
        /// The entry's key.
        entry: String,
    },
    /// A key of `users` is not a user ID.
    #[error("{0:?} in \"users\" is not a valid user ID")]
    InvalidUserId(String),
}

impl PowerLevelsError {
    /// The top-level content key the problem is in. The authorisation rules
    /// of versions before 10 only insist on a valid `users` map.
    pub fn key(&self) -> &'static str {
        match self {
            Self::NotAnInteger { key }
            | Self::NotAnObject { key }
            | Self::EntryNotAnInteger { key, .. } => key,
            Self::InvalidUserId(_) => "users",
        }
    }
}

/// The power levels in force in a room.
///
/// Values the content leaves out are remembered as absent, not filled in:
/// the authorisation rules treat adding or removing a key as a change, so
/// [`PowerLevels::explicit`] reports exactly what the event said, while the
/// accessors apply the specification's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PowerLevels {
    single: [Option<i64>; SINGLE_LEVEL_KEYS.len()],
    events: BTreeMap<String, i64>,
    notifications: BTreeMap<String, i64>,
    users: BTreeMap<UserId, i64>,
    privileged_creators: bool,
}

impl PowerLevels {
    /// Interprets the content of an `m.room.power_levels` event.
    ///
    /// Unknown keys are ignored. Every known key that is present must be
    /// well-formed for the version, or the whole content is refused: a level
    /// that cannot be read cannot be enforced either. The exception is
    /// `notifications` before version 6, which the authorisation rules never
    /// read: there, entries that are not levels are left out.
    pub fn from_content(
        content: &CanonicalJsonObject,
        version: &RoomVersion,
    ) -> Result<Self, PowerLevelsError> {
        let strings_allowed = !version.integer_power_levels;
        let mut single = [None; SINGLE_LEVEL_KEYS.len()];
        for (slot, key) in single.iter_mut().zip(SINGLE_LEVEL_KEYS) {
            if let Some(value) = content.get(key) {
                *slot = Some(
                    parse_level(value, strings_allowed)
                        .ok_or(PowerLevelsError::NotAnInteger { key })?,
                );
            }
        }
        let users = level_map(content, "users", strings_allowed)?
            .into_iter()
            .map(|(user, level)| match UserId::parse(&user) {
                Ok(user) => Ok((user, level)),
                Err(_) => Err(PowerLevelsError::InvalidUserId(user)),
            })
            .collect::<Result<_, _>>()?;
        let notifications = if version.limit_notifications_power_levels {
            level_map(content, "notifications", strings_allowed)?
        } else {
            readable_levels(content, "notifications", strings_allowed)
        };
        Ok(Self {
            single,
            events: level_map(content, "events", strings_allowed)?,
            notifications,
            users,
            privileged_creators: version.additional_creators,
        })
    }

    /// The levels of a room that has no `m.room.power_levels` event yet:
    /// every default applies, and up to version 11 the creator has level
    /// 100. (From version 12 creators outrank everyone anyway.)
    pub fn initial(creators: &[UserId], version: &RoomVersion) -> Self {
        let users = if version.additional_creators {
            BTreeMap::new()
        } else {
            creators
                .iter()
                .map(|creator| (creator.clone(), INITIAL_CREATOR_LEVEL))
                .collect()
        };
        Self {
            single: [None; SINGLE_LEVEL_KEYS.len()],
            events: BTreeMap::new(),
            notifications: BTreeMap::new(),
            users,
            privileged_creators: version.additional_creators,
        }
    }

    /// The level of `user`. `creators` are the room's creators (see
    /// [`room_creators`]); they only matter from version 12, where they
    /// outrank everyone.
    pub fn user_level(&self, user: &UserId, creators: &[UserId]) -> UserPowerLevel {
        if self.privileged_creators && creators.contains(user) {
            return UserPowerLevel::Infinite;
        }
        UserPowerLevel::Finite(
            self.users
                .get(user)
                .copied()
                .unwrap_or_else(|| self.users_default()),
        )
    }

    /// The level required to send an event of `event_type`: its entry in
    /// `events`, else `state_default` or `events_default`.
    pub fn event_level(&self, event_type: &str, is_state: bool) -> i64 {
        match self.events.get(event_type) {
            Some(level) => *level,
            None if is_state => self.state_default(),
            None => self.events_default(),
        }
    }

    /// The level required to trigger the notification `key` (such as
    /// `room` for `@room`), if the room defines one. `room` defaults to 50.
    pub fn notification_level(&self, key: &str) -> Option<i64> {
        match self.notifications.get(key) {
            Some(level) => Some(*level),
            None if key == "room" => Some(DEFAULT_ROOM_NOTIFICATION),
            None => None,
        }
    }

    /// Level required to ban users.
    pub fn ban(&self) -> i64 {
        self.single_or("ban", DEFAULT_BAN)
    }

    /// Level required to kick users.
    pub fn kick(&self) -> i64 {
        self.single_or("kick", DEFAULT_KICK)
    }

    /// Level required to invite users.
    pub fn invite(&self) -> i64 {
        self.single_or("invite", DEFAULT_INVITE)
    }

    /// Level required to redact other users' events.
    pub fn redact(&self) -> i64 {
        self.single_or("redact", DEFAULT_REDACT)
    }

    /// Level required for state events not listed in `events`.
    pub fn state_default(&self) -> i64 {
        self.single_or("state_default", DEFAULT_STATE)
    }

    /// Level required for message events not listed in `events`.
    pub fn events_default(&self) -> i64 {
        self.single_or("events_default", DEFAULT_EVENTS)
    }

    /// Level of users not listed in `users`.
    pub fn users_default(&self) -> i64 {
        self.single_or("users_default", DEFAULT_USERS)
    }

    /// The explicit levels of users.
    pub fn users(&self) -> &BTreeMap<UserId, i64> {
        &self.users
    }

    /// The explicit levels required for event types.
    pub fn events(&self) -> &BTreeMap<String, i64> {
        &self.events
    }

    /// The explicit levels required for notifications.
    pub fn notifications(&self) -> &BTreeMap<String, i64> {
        &self.notifications
    }

    /// The value the content gave for a single-level key (`ban`,
    /// `users_default`, …), without defaults; `None` if absent or not such a
    /// key.
    pub fn explicit(&self, key: &str) -> Option<i64> {
        SINGLE_LEVEL_KEYS
            .iter()
            .position(|known| *known == key)
            .and_then(|index| self.single[index])
    }

    fn single_or(&self, key: &str, default: i64) -> i64 {
        self.explicit(key).unwrap_or(default)
    }
}

/// The creators of a room, who get special treatment from the power rules.
///
/// Up to version 10 that is `content.creator` of the create event; in
/// version 11 its `sender`; from version 12 its `sender` plus
/// `content.additional_creators`. Entries that are not valid user IDs are
/// skipped (an accepted create event has none where they matter).
pub fn room_creators(create_event: &Pdu, version: &RoomVersion) -> Vec<UserId> {
    let content = create_event.content();
    if !version.creator_is_sender {
        return content
            .get("creator")
            .and_then(CanonicalJsonValue::as_str)
            .and_then(|creator| UserId::parse(creator).ok())
            .into_iter()
            .collect();
    }
    let mut creators = vec![create_event.sender().clone()];
    if version.additional_creators {
        let additional = content
            .get("additional_creators")
            .and_then(CanonicalJsonValue::as_array)
            .into_iter()
            .flatten()
            .filter_map(CanonicalJsonValue::as_str)
            .filter_map(|user| UserId::parse(user).ok());
        for user in additional {
            if !creators.contains(&user) {
                creators.push(user);
            }
        }
    }
    creators
}

/// Reads one level: an integer, or before version 10 also a string holding
/// one.
fn parse_level(value: &CanonicalJsonValue, strings_allowed: bool) -> Option<i64> {
    match value {
        CanonicalJsonValue::Integer(level) => Some(*level),
        CanonicalJsonValue::String(text) if strings_allowed => parse_integer_string(text),
        _ => None,
    }
}

/// Parses a power level written as a string: surrounding whitespace, an
/// optional single sign, then decimal digits (leading zeros allowed). The
/// result must lie in the canonical JSON integer range, like any other level.
fn parse_integer_string(text: &str) -> Option<i64> {
    let trimmed = text.trim();
    let (negative, digits) = match trimmed.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, trimmed.strip_prefix('+').unwrap_or(trimmed)),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Dropping leading zeros keeps arbitrarily padded values from
    // overflowing the parse.
    let significant = digits.trim_start_matches('0');
    let magnitude: i64 = if significant.is_empty() {
        0
    } else {
        significant.parse().ok()?
    };
    let value = if negative { -magnitude } else { magnitude };
    (MIN_SAFE_INTEGER..=MAX_SAFE_INTEGER)
        .contains(&value)
        .then_some(value)
}

/// The entries of `content[key]` that are levels, ignoring anything else.
fn readable_levels(
    content: &CanonicalJsonObject,
    key: &str,
    strings_allowed: bool,
) -> BTreeMap<String, i64> {
    content
        .get(key)
        .and_then(CanonicalJsonValue::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(entry, value)| Some((entry.clone(), parse_level(value, strings_allowed)?)))
        .collect()
}

/// Reads `events`, `notifications` or `users`: absent is empty, otherwise an
/// object of levels.
fn level_map(
    content: &CanonicalJsonObject,
    key: &'static str,
    strings_allowed: bool,
) -> Result<BTreeMap<String, i64>, PowerLevelsError> {
    let Some(value) = content.get(key) else {
        return Ok(BTreeMap::new());
    };
    let map = value
        .as_object()
        .ok_or(PowerLevelsError::NotAnObject { key })?;
    map.iter()
        .map(|(entry, value)| match parse_level(value, strings_allowed) {
            Some(level) => Ok((entry.clone(), level)),
            None => Err(PowerLevelsError::EntryNotAnInteger {
                key,
                entry: entry.clone(),
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests;
