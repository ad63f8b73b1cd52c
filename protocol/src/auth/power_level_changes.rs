//! The `m.room.power_levels` rule: rule 10 in versions 1–5 and 12, rule 9
//! in versions 6–11. Sub-rule numbers below are those of version 12.

use std::collections::{BTreeMap, BTreeSet};

use crate::pdu::Pdu;
use crate::power_levels::{PowerLevels, UserPowerLevel, SINGLE_LEVEL_KEYS};

use super::context::RoomContext;
use super::{AuthError, AuthState};

/// Checks a new `m.room.power_levels` event against the current one.
///
/// 10.1–10.3 the content must be well-formed: from version 10 every level
/// an integer and `events`, `notifications` and `users` objects of them;
/// before, only `users` is checked up front (integers or integer strings).
/// 10.4 (version 12) no creator may be listed in `users`. 10.5 the first
/// power levels event is allowed. Otherwise the sender may only change
/// values that are, before and after, within their own level: 10.6 the
/// single levels, 10.7–10.8 `events` and (versions 6 on) `notifications`,
/// 10.9 other users' levels only where those are below the sender's, and
/// 10.10 no user above the sender.
pub(super) fn check_power_levels_event<S: AuthState + ?Sized>(
    pdu: &Pdu,
    room: &RoomContext<'_, S>,
) -> Result<(), AuthError> {
    let version = room.version;
    let new = PowerLevels::from_content(pdu.content(), version);
    if let Err(error) = &new {
        if version.integer_power_levels || error.key() == "users" {
            return Err(AuthError::InvalidPowerLevels(error.clone()));
        }
    }
    if let (true, Ok(new)) = (version.additional_creators, &new) {
        if let Some(creator) = room
            .creators()
            .iter()
            .find(|creator| new.users().contains_key(*creator))
        {
            return Err(AuthError::CreatorInPowerLevels(creator.clone()));
        }
    }
    if room.state.get("m.room.power_levels", "").is_none() {
        return Ok(());
    }
    // Before version 10, malformed values outside `users` are only
    // refused once they would have to be compared with the current ones.
    let new = new.map_err(AuthError::InvalidPowerLevels)?;
    let current = room.power_levels()?;
    let sender = pdu.sender();
    let sender_level = room.user_level(sender.as_str())?;

    for key in SINGLE_LEVEL_KEYS {
        check_change(key, current.explicit(key), new.explicit(key), sender_level)?;
    }
    check_map_changes("events", current.events(), new.events(), sender_level)?;
    if version.limit_notifications_power_levels {
        check_map_changes(
            "notifications",
            current.notifications(),
            new.notifications(),
            sender_level,
        )?;
    }

    let users: BTreeSet<_> = current.users().keys().chain(new.users().keys()).collect();
    for user in users {
        let old = current.users().get(user).copied();
        let updated = new.users().get(user).copied();
        if old == updated {
            continue;
        }
        if user != sender && old.is_some_and(|old| UserPowerLevel::Finite(old) >= sender_level) {
            return Err(AuthError::PowerLevelOfPeer {
                user: user.to_string(),
            });
        }
        if updated.is_some_and(|updated| exceeds(updated, sender_level)) {
            return Err(AuthError::PowerLevelAboveSender {
                key: format!("users.{user}"),
            });
        }
    }
    Ok(())
}

/// Rules 10.7–10.8 for one of `events` and `notifications`.
fn check_map_changes(
    name: &str,
    current: &BTreeMap<String, i64>,
    new: &BTreeMap<String, i64>,
    sender_level: UserPowerLevel,
) -> Result<(), AuthError> {
    let keys: BTreeSet<&String> = current.keys().chain(new.keys()).collect();
    for key in keys {
        check_change(
            &format!("{name}.{key}"),
            current.get(key).copied(),
            new.get(key).copied(),
            sender_level,
        )?;
    }
    Ok(())
}

/// A value may be added, changed or removed only if neither its current
/// nor its new value exceeds the sender's level.
fn check_change(
    key: &str,
    current: Option<i64>,
    new: Option<i64>,
    sender_level: UserPowerLevel,
) -> Result<(), AuthError> {
    if current == new {
        return Ok(());
    }
    if current
        .into_iter()
        .chain(new)
        .any(|value| exceeds(value, sender_level))
    {
        Err(AuthError::PowerLevelAboveSender {
            key: key.to_owned(),
        })
    } else {
        Ok(())
    }
}

fn exceeds(value: i64, level: UserPowerLevel) -> bool {
    UserPowerLevel::Finite(value) > level
}
