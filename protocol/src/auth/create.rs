//! The rules that revolve around the create event: the create event itself
//! (rule 1), from version 12 that every other event's room ID is derived
//! from it (rule 2), and its `m.federate` setting (rule 3 / 4).

use crate::canonical_json::CanonicalJsonValue;
use crate::identifiers::UserId;
use crate::pdu::Pdu;
use crate::room_versions::{RoomVersion, RoomVersionId};

use super::AuthError;

/// Rule 1: an `m.room.create` event is decided by these checks alone.
///
/// 1.1 no `prev_events`; 1.2 no `room_id` (version 12) or a room ID on the
/// sender's server (versions 1–11); 1.3 a known `content.room_version` if
/// given; 1.4 a `content.creator` (versions 1–10) or well-formed
/// `content.additional_creators` (version 12).
pub(super) fn check_create_event(pdu: &Pdu, version: &RoomVersion) -> Result<(), AuthError> {
    if !pdu.prev_events().is_empty() {
        return Err(AuthError::CreateHasPrevEvents);
    }
    if version.create_event_has_room_id() {
        if pdu.room_id().server_name() != Some(pdu.sender().server_name()) {
            return Err(AuthError::CreateRoomIdServerMismatch);
        }
    } else if pdu.as_object().contains_key("room_id") {
        return Err(AuthError::CreateHasRoomId);
    }

    let content = pdu.content();
    if let Some(room_version) = content.get("room_version") {
        let known = room_version
            .as_str()
            .is_some_and(|name| name.parse::<RoomVersionId>().is_ok());
        if !known {
            return Err(AuthError::CreateUnknownRoomVersion);
        }
    }
    if !version.creator_is_sender && !content.contains_key("creator") {
        return Err(AuthError::CreateWithoutCreator);
    }
    if version.additional_creators {
        if let Some(additional) = content.get("additional_creators") {
            let valid = additional.as_array().is_some_and(|users| {
                users.iter().all(|user| {
                    user.as_str()
                        .is_some_and(|user| UserId::parse(user).is_ok())
                })
            });
            if !valid {
                return Err(AuthError::CreateInvalidAdditionalCreators);
            }
        }
    }
    Ok(())
}

/// Rule 2 (version 12): the event's room ID must be the ID of the room's
/// create event with the `!` sigil. That the create event was accepted is
/// up to whoever supplied the state.
pub(super) fn check_room_id(
    pdu: &Pdu,
    create: &Pdu,
    version: &RoomVersion,
) -> Result<(), AuthError> {
    if version.create_event_has_room_id() {
        return Ok(());
    }
    if pdu.room_id().create_event_id().as_ref() == Some(create.event_id()) {
        Ok(())
    } else {
        Err(AuthError::RoomIdNotFromCreateEvent)
    }
}

/// Rule 3 (versions 1–11) / 4 (version 12): a create event with
/// `"m.federate": false` confines the room to its creator's server.
pub(super) fn check_federation(pdu: &Pdu, create: &Pdu) -> Result<(), AuthError> {
    let federates = !matches!(
        create.content().get("m.federate"),
        Some(CanonicalJsonValue::Bool(false))
    );
    if federates || pdu.sender().server_name() == create.sender().server_name() {
        Ok(())
    } else {
        Err(AuthError::FederationDisabled)
    }
}
