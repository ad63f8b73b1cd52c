//! What the rules look up in the room state, read once per check.

use std::cell::OnceCell;

use crate::canonical_json::CanonicalJsonValue;
use crate::identifiers::UserId;
use crate::pdu::Pdu;
use crate::power_levels::{room_creators, PowerLevels, UserPowerLevel};
use crate::room_versions::RoomVersion;

use super::{AuthError, AuthState};

/// The room state as the rules see it: the create event and creators, the
/// power levels (parsed on first use, so rules that never consult them do
/// not fail on malformed ones), memberships and the join rule.
pub(super) struct RoomContext<'a, S: AuthState + ?Sized> {
    pub(super) version: &'a RoomVersion,
    pub(super) state: &'a S,
    pub(super) create: &'a Pdu,
    creators: Vec<UserId>,
    power_levels: OnceCell<Result<PowerLevels, AuthError>>,
}

impl<'a, S: AuthState + ?Sized> RoomContext<'a, S> {
    pub(super) fn new(version: &'a RoomVersion, state: &'a S, create: &'a Pdu) -> Self {
        Self {
            version,
            state,
            create,
            creators: room_creators(create, version),
            power_levels: OnceCell::new(),
        }
    }

    /// The power levels in force: the current event's, or the defaults of
    /// a room without one.
    pub(super) fn power_levels(&self) -> Result<&PowerLevels, AuthError> {
        self.power_levels
            .get_or_init(|| match self.state.get("m.room.power_levels", "") {
                Some(event) => PowerLevels::from_content(event.content(), self.version)
                    .map_err(AuthError::InvalidCurrentPowerLevels),
                None => Ok(PowerLevels::initial(&self.creators, self.version)),
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The level of `user`, which may be any string: a state key that is
    /// not a valid user ID cannot be listed in the power levels (nor be a
    /// creator), so it has the default level.
    pub(super) fn user_level(&self, user: &str) -> Result<UserPowerLevel, AuthError> {
        let levels = self.power_levels()?;
        Ok(match UserId::parse(user) {
            Ok(user) => levels.user_level(&user, &self.creators),
            Err(_) => UserPowerLevel::Finite(levels.users_default()),
        })
    }

    /// The room's creators under the version's rules.
    pub(super) fn creators(&self) -> &[UserId] {
        &self.creators
    }

    /// The current membership of `user`, if the state has a membership
    /// event for them with a membership string.
    pub(super) fn membership(&self, user: &str) -> Option<&'a str> {
        self.state
            .get("m.room.member", user)
            .and_then(|event| event.content().get("membership"))
            .and_then(CanonicalJsonValue::as_str)
    }

    /// The current join rule. A room without `m.room.join_rules` (or with
    /// one lacking a `join_rule` string) is treated as `invite`, as the
    /// reference implementation does: nobody joins uninvited.
    pub(super) fn join_rule(&self) -> &'a str {
        self.state
            .get("m.room.join_rules", "")
            .and_then(|event| event.content().get("join_rule"))
            .and_then(CanonicalJsonValue::as_str)
            .unwrap_or("invite")
    }
}
