//! The authorisation rules of room versions 1–12: whether an event is
//! allowed, given a room state.
//!
//! On receipt, a PDU is authorised twice (and a third time, for soft
//! failure, against the current state):
//!
//! 1. against its auth events: build them with [`AuthEvents::from_cited`],
//!    which also applies the rules about the auth events themselves, then
//!    call [`authorize`] with them;
//! 2. against the state before the event: call [`authorize`] with that
//!    state (any [`AuthState`]; maps keyed by `(type, state_key)`
//!    implement it).
//!
//! Both assume the earlier checks on receipt passed: the event parsed as a
//! [`Pdu`] of the room version, and carries valid signatures from every
//! server [`required_signers`] lists. Which state events a new event must
//! cite is [`auth_types_for_event`].
//!
//! The rules are evaluated in the specification's order, each group in its
//! own function named after the step; a rejection reports the failed rule
//! as an [`AuthError`]. Version differences come from [`RoomVersion`]
//! flags.

mod auth_events;
mod context;
mod create;
mod error;
mod membership;
mod power_level_changes;
pub mod selection;
mod signers;
mod third_party_invite;

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

pub use auth_events::AuthEvents;
pub use error::AuthError;
pub use selection::auth_types_for_event;
pub use signers::required_signers;

use crate::pdu::Pdu;
use crate::room_versions::RoomVersion;

use context::RoomContext;

/// The room state an event is authorised against.
///
/// Only the event types the rules consult are ever asked for:
/// `m.room.create`, `m.room.power_levels`, `m.room.join_rules`,
/// `m.room.member` and `m.room.third_party_invite`. The create event must
/// be available in every room version, including version 12 where events
/// do not cite it.
pub trait AuthState {
    /// The current state event of `event_type` and `state_key`, if any.
    fn get(&self, event_type: &str, state_key: &str) -> Option<&Pdu>;
}

impl<S: BuildHasher> AuthState for HashMap<(String, String), Pdu, S> {
    fn get(&self, event_type: &str, state_key: &str) -> Option<&Pdu> {
        HashMap::get(self, &(event_type.to_owned(), state_key.to_owned()))
    }
}

impl AuthState for BTreeMap<(String, String), Pdu> {
    fn get(&self, event_type: &str, state_key: &str) -> Option<&Pdu> {
        BTreeMap::get(self, &(event_type.to_owned(), state_key.to_owned()))
    }
}

/// Whether `pdu` is allowed in a room of `version` whose state is `state`.
///
/// Returns the first rule that rejects the event, in the order the
/// specification lists them; `Ok(())` means the event is allowed. Malformed
/// content never panics: it fails the rule that needs it.
pub fn authorize(
    pdu: &Pdu,
    version: &RoomVersion,
    state: &(impl AuthState + ?Sized),
) -> Result<(), AuthError> {
    if pdu.event_type() == "m.room.create" {
        return create::check_create_event(pdu, version);
    }
    let create = state
        .get("m.room.create", "")
        .ok_or(AuthError::MissingCreateEvent)?;
    create::check_room_id(pdu, create, version)?;
    create::check_federation(pdu, create)?;

    if version.special_case_aliases_auth && pdu.event_type() == "m.room.aliases" {
        return check_aliases_event(pdu);
    }
    let room = RoomContext::new(version, state, create);
    if pdu.event_type() == "m.room.member" {
        return membership::check_member_event(pdu, &room);
    }
    membership::require_sender_joined(pdu, &room)?;
    if pdu.event_type() == "m.room.third_party_invite" {
        return check_third_party_invite_event(pdu, &room);
    }
    check_required_power_level(pdu, &room)?;
    check_user_state_key(pdu)?;
    if pdu.event_type() == "m.room.power_levels" {
        return power_level_changes::check_power_levels_event(pdu, &room);
    }
    if version.redaction_auth_rule && pdu.event_type() == "m.room.redaction" {
        return check_redaction_event(pdu, &room);
    }
    Ok(())
}

/// Rule 4 (versions 1–5): a server may publish its aliases in the room
/// under its own name as state key, without further checks.
fn check_aliases_event(pdu: &Pdu) -> Result<(), AuthError> {
    let state_key = pdu.state_key().ok_or(AuthError::AliasesWithoutStateKey)?;
    if state_key == pdu.sender().server_name().as_str() {
        Ok(())
    } else {
        Err(AuthError::AliasesForOtherServer)
    }
}

/// Rule 7 (versions 1–5) / 6 (6–11) / 7 (12): an
/// `m.room.third_party_invite` needs exactly the invite level, whatever
/// the power levels say about the event type.
fn check_third_party_invite_event<S: AuthState + ?Sized>(
    pdu: &Pdu,
    room: &RoomContext<'_, S>,
) -> Result<(), AuthError> {
    if room
        .user_level(pdu.sender().as_str())?
        .at_least(room.power_levels()?.invite())
    {
        Ok(())
    } else {
        Err(AuthError::CannotInvite)
    }
}

/// Rule 8 (versions 1–5) / 7 (6–11) / 8 (12): the sender needs the level
/// the power levels require for the event type.
fn check_required_power_level<S: AuthState + ?Sized>(
    pdu: &Pdu,
    room: &RoomContext<'_, S>,
) -> Result<(), AuthError> {
    let required = room
        .power_levels()?
        .event_level(pdu.event_type(), pdu.is_state());
    if room.user_level(pdu.sender().as_str())?.at_least(required) {
        Ok(())
    } else {
        Err(AuthError::InsufficientPower {
            event_type: pdu.event_type().to_owned(),
            required,
        })
    }
}

/// Rule 9 (versions 1–5) / 8 (6–11) / 9 (12): state keys starting with `@`
/// belong to the user they name.
fn check_user_state_key(pdu: &Pdu) -> Result<(), AuthError> {
    match pdu.state_key() {
        Some(key) if key.starts_with('@') && key != pdu.sender().as_str() => {
            Err(AuthError::StateKeyOfOtherUser)
        }
        _ => Ok(()),
    }
}

/// Rule 11 (versions 1–2): a redaction needs the redact level, unless it
/// redacts an event from its own server (judged by the server names in the
/// event IDs). Later versions check this when applying the redaction.
fn check_redaction_event<S: AuthState + ?Sized>(
    pdu: &Pdu,
    room: &RoomContext<'_, S>,
) -> Result<(), AuthError> {
    if room
        .user_level(pdu.sender().as_str())?
        .at_least(room.power_levels()?.redact())
    {
        return Ok(());
    }
    let own_server = pdu.event_id().server_name();
    let target_server = pdu.redacts().and_then(|target| target.server_name());
    if own_server.is_some() && own_server == target_server {
        Ok(())
    } else {
        Err(AuthError::CannotRedact)
    }
}

#[cfg(test)]
mod tests;
