//! Deriving event IDs and room IDs from events.

use crate::canonical_json::{CanonicalJsonObject, CanonicalJsonValue};
use crate::hashes::reference_hash;
use crate::identifiers::{EventId, IdError, RoomId};
use crate::redaction::RedactionError;
use crate::room_versions::{EventIdFormat, RoomIdFormat, RoomVersion};

/// Why an event's ID (or the room ID it establishes) cannot be determined.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventIdError {
    /// The event is too malformed to hash.
    #[error(transparent)]
    Redaction(#[from] RedactionError),
    /// The room version carries the ID in the event, but the field is
    /// absent or not a string.
    #[error("event has no {0:?} string")]
    MissingField(&'static str),
    /// The carried ID is not a valid identifier.
    #[error("invalid identifier in event: {0}")]
    InvalidId(#[from] IdError),
    /// A room ID was asked of an event that is not `m.room.create`.
    #[error("only an m.room.create event establishes a room ID")]
    NotACreateEvent,
}

/// The ID of `event` in a room of the given version.
///
/// Versions 1 and 2 carry a server-assigned ID in the `event_id` field,
/// which is read and validated. Later versions derive it from the reference
/// hash (standard base64 in version 3, URL-safe from version 4).
pub fn event_id(
    event: &CanonicalJsonObject,
    version: &RoomVersion,
) -> Result<EventId, EventIdError> {
    match version.event_id_format {
        EventIdFormat::ServerAssigned => Ok(EventId::parse(string_field(event, "event_id")?)?),
        EventIdFormat::ReferenceHash => Ok(EventId::from_reference_hash(
            &reference_hash(event, version)?,
            false,
        )),
        EventIdFormat::ReferenceHashUrlSafe => Ok(EventId::from_reference_hash(
            &reference_hash(event, version)?,
            true,
        )),
    }
}

/// The room ID established by the `m.room.create` event `create_event`.
///
/// Up to version 11 that is the `room_id` the creating server chose and put
/// in the event. From version 12 it is derived from the event's reference
/// hash: the create event's ID with the sigil `!`.
pub fn room_id_for_create_event(
    create_event: &CanonicalJsonObject,
    version: &RoomVersion,
) -> Result<RoomId, EventIdError> {
    if string_field(create_event, "type")? != "m.room.create" {
        return Err(EventIdError::NotACreateEvent);
    }
    match version.room_id_format {
        RoomIdFormat::ServerAssigned => Ok(RoomId::parse(string_field(create_event, "room_id")?)?),
        RoomIdFormat::CreateEventHash => Ok(RoomId::from_reference_hash(&reference_hash(
            create_event,
            version,
        )?)),
    }
}

fn string_field<'a>(
    event: &'a CanonicalJsonObject,
    field: &'static str,
) -> Result<&'a str, EventIdError> {
    event
        .get(field)
        .and_then(CanonicalJsonValue::as_str)
        .ok_or(EventIdError::MissingField(field))
}

#[cfg(test)]
mod tests;
