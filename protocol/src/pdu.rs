//! PDUs: room events as servers exchange them, checked against the event
//! format of a room version.
//!
//! [`Pdu::from_canonical`] is the first of the checks performed on receipt
//! of a PDU: an event that fails it is not a valid event of the room
//! version and is dropped, not rejected. Everything later (signatures,
//! hashes, authorisation) can then rely on the accessors instead of
//! re-validating JSON.
//!
//! Format differences between versions:
//!
//! * versions 1–2 carry the server-assigned `event_id`, and reference
//!   other events as `[event_id, {"sha256": hash}]` pairs;
//! * from version 3 the event ID is the reference hash (computed here) and
//!   references are plain event IDs;
//! * from version 11 a redaction names its target in `content.redacts`
//!   rather than at the top level;
//! * from version 12 `m.room.create` has no `room_id`: the room ID is
//!   derived from the create event's reference hash.

use std::fmt;
use std::sync::Arc;

use crate::canonical_json::{object_to_canonical_string, CanonicalJsonObject, CanonicalJsonValue};
use crate::event_id::{event_id, room_id_for_create_event, EventIdError};
use crate::identifiers::{EventId, IdError, RoomId, UserId};
use crate::room_versions::{EventIdFormat, RoomVersion};

/// Largest PDU, in bytes of canonical JSON, signatures included.
pub const MAX_PDU_BYTES: usize = 65_536;
/// Longest `type` and `state_key`, in bytes.
pub const MAX_TYPE_OR_STATE_KEY_BYTES: usize = 255;
/// Most events a PDU may cite in `auth_events`.
pub const MAX_AUTH_EVENTS: usize = 10;
/// Most events a PDU may cite in `prev_events`.
pub const MAX_PREV_EVENTS: usize = 20;

/// Why an object is not a valid PDU of the room version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PduError {
    /// The canonical JSON form exceeds [`MAX_PDU_BYTES`].
    #[error("event is {size} bytes of canonical JSON; at most {MAX_PDU_BYTES} are allowed")]
    TooLarge {
        /// The actual size.
        size: usize,
    },
    /// A required key is absent.
    #[error("event has no {0:?} key")]
    MissingField(&'static str),
    /// A key holds the wrong JSON type or shape.
    #[error("event key {field:?} must be {expected}")]
    WrongType {
        /// The key (dotted for nested keys).
        field: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// A key that holds an identifier does not hold a valid one.
    #[error("event key {field:?} is not a valid identifier: {source}")]
    InvalidId {
        /// The key.
        field: &'static str,
        /// What is wrong with the identifier.
        source: IdError,
    },
    /// `type` or `state_key` exceeds [`MAX_TYPE_OR_STATE_KEY_BYTES`].
    #[error(
        "event key {field:?} is {len} bytes; at most {MAX_TYPE_OR_STATE_KEY_BYTES} are allowed"
    )]
    FieldTooLong {
        /// The key.
        field: &'static str,
        /// The actual length in bytes.
        len: usize,
    },
    /// `auth_events` or `prev_events` cites too many events.
    #[error("event key {field:?} lists {count} events; at most {max} are allowed")]
    TooManyReferences {
        /// The key.
        field: &'static str,
        /// How many are listed.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// `depth` is negative.
    #[error("event depth {0} is negative")]
    NegativeDepth(i64),
    /// The event ID (or, for a version 12 create event, the room ID) could
    /// not be determined.
    #[error(transparent)]
    EventId(#[from] EventIdError),
}

/// A PDU that has the format its room version requires.
///
/// Cloning is cheap: the event is shared. The accessors return what the
/// event says (or, for the event ID of versions 3 on and the room ID of a
/// version 12 create event, what it implies); none of them re-parse.
#[derive(Clone)]
pub struct Pdu {
    inner: Arc<Inner>,
}

struct Inner {
    object: CanonicalJsonObject,
    event_id: EventId,
    room_id: RoomId,
    sender: UserId,
    event_type: String,
    state_key: Option<String>,
    prev_events: Vec<EventId>,
    auth_events: Vec<EventId>,
    depth: u64,
    origin_server_ts: i64,
    redacts: Option<EventId>,
}

/// Returned by [`Pdu::content`] should the content be missing, which
/// validation rules out; it avoids a panic path all the same.
static EMPTY_OBJECT: CanonicalJsonObject = CanonicalJsonObject::new();

impl Pdu {
    /// Validates `object` as a PDU of a room of `version` and computes its
    /// event ID (and, for a version 12 create event, its room ID).
    ///
    /// Checked: the size limits; the presence and JSON type of every key the
    /// version's PDU format requires (`type`, `sender`, `content`, `depth`,
    /// `origin_server_ts`, `hashes.sha256`, `signatures`, `prev_events`,
    /// `auth_events`, `room_id`, and `event_id` in versions 1–2); the
    /// identifiers in them; the shape of `prev_events` and `auth_events` and
    /// their count limits; a non-negative `depth`. Whether the event is
    /// *allowed* is for [`crate::auth`]: a version 12 create event that
    /// carries a `room_id`, for example, parses and is then rejected there.
    pub fn from_canonical(
        object: CanonicalJsonObject,
        version: &RoomVersion,
    ) -> Result<Pdu, PduError> {
        let size = object_to_canonical_string(&object).len();
        if size > MAX_PDU_BYTES {
            return Err(PduError::TooLarge { size });
        }

        let event_type = required_str(&object, "type")?.to_owned();
        check_length("type", &event_type)?;
        let state_key = match object.get("state_key") {
            None => None,
            Some(CanonicalJsonValue::String(key)) => {
                check_length("state_key", key)?;
                Some(key.clone())
            }
            Some(_) => return Err(wrong_type("state_key", "a string")),
        };
        let sender = parse_id("sender", required_str(&object, "sender")?, UserId::parse)?;
        if !matches!(object.get("content"), Some(CanonicalJsonValue::Object(_))) {
            return Err(missing_or_wrong(&object, "content", "an object"));
        }
        let depth = required_integer(&object, "depth")?;
        let depth = u64::try_from(depth).map_err(|_| PduError::NegativeDepth(depth))?;
        let origin_server_ts = required_integer(&object, "origin_server_ts")?;
        check_hashes(&object)?;
        check_signatures(&object)?;
        if !matches!(
            object.get("unsigned"),
            None | Some(CanonicalJsonValue::Object(_))
        ) {
            return Err(wrong_type("unsigned", "an object"));
        }

        let server_assigned_ids = version.event_id_format == EventIdFormat::ServerAssigned;
        let prev_events = references(&object, "prev_events", MAX_PREV_EVENTS, server_assigned_ids)?;
        let auth_events = references(&object, "auth_events", MAX_AUTH_EVENTS, server_assigned_ids)?;

        let is_create = event_type == "m.room.create";
        let room_id = if is_create && !version.create_event_has_room_id() {
            room_id_for_create_event(&object, version)?
        } else {
            parse_id("room_id", required_str(&object, "room_id")?, RoomId::parse)?
        };

        let event_id = if server_assigned_ids {
            let id = parse_id(
                "event_id",
                required_str(&object, "event_id")?,
                EventId::parse,
            )?;
            if id.server_name().is_none() {
                return Err(wrong_type("event_id", "an event ID with a server name"));
            }
            id
        } else {
            event_id(&object, version)?
        };

        let redacts = redacts(&object, &event_type, version)?;

        Ok(Pdu {
            inner: Arc::new(Inner {
                object,
                event_id,
                room_id,
                sender,
                event_type,
                state_key,
                prev_events,
                auth_events,
                depth,
                origin_server_ts,
                redacts,
            }),
        })
    }

    /// The event ID: read from the event in versions 1–2, the reference
    /// hash from version 3.
    pub fn event_id(&self) -> &EventId {
        &self.inner.event_id
    }

    /// The room ID; for a version 12 create event, the one it establishes.
    pub fn room_id(&self) -> &RoomId {
        &self.inner.room_id
    }

    /// The user who sent the event.
    pub fn sender(&self) -> &UserId {
        &self.inner.sender
    }

    /// The event type, such as `m.room.member`.
    pub fn event_type(&self) -> &str {
        &self.inner.event_type
    }

    /// The state key; `None` for message events.
    pub fn state_key(&self) -> Option<&str> {
        self.inner.state_key.as_deref()
    }

    /// Whether this is a state event (it has a `state_key`, possibly empty).
    pub fn is_state(&self) -> bool {
        self.inner.state_key.is_some()
    }

    /// The event content.
    pub fn content(&self) -> &CanonicalJsonObject {
        self.inner
            .object
            .get("content")
            .and_then(CanonicalJsonValue::as_object)
            .unwrap_or(&EMPTY_OBJECT)
    }

    /// The events this one follows in the room DAG.
    pub fn prev_events(&self) -> &[EventId] {
        &self.inner.prev_events
    }

    /// The events this one cites as its authorisation.
    pub fn auth_events(&self) -> &[EventId] {
        &self.inner.auth_events
    }

    /// The event's depth in the DAG.
    pub fn depth(&self) -> u64 {
        self.inner.depth
    }

    /// When the origin server created the event, in milliseconds since the
    /// Unix epoch, as claimed by that server.
    pub fn origin_server_ts(&self) -> i64 {
        self.inner.origin_server_ts
    }

    /// For `m.room.redaction`, the event to redact: the top-level `redacts`
    /// up to version 10, `content.redacts` from version 11. `None` if absent
    /// (redacting a redaction removes it up to version 10) or, from version
    /// 11, not an event ID.
    pub fn redacts(&self) -> Option<&EventId> {
        self.inner.redacts.as_ref()
    }

    /// The event as received.
    pub fn as_object(&self) -> &CanonicalJsonObject {
        &self.inner.object
    }

    /// The event as received, without copying if this is the only handle.
    pub fn into_object(self) -> CanonicalJsonObject {
        match Arc::try_unwrap(self.inner) {
            Ok(inner) => inner.object,
            Err(shared) => shared.object.clone(),
        }
    }
}

impl fmt::Debug for Pdu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pdu")
            .field("event_id", self.event_id())
            .field("room_id", self.room_id())
            .field("type", &self.event_type())
            .field("state_key", &self.state_key())
            .field("sender", self.sender())
            .finish_non_exhaustive()
    }
}

fn wrong_type(field: &'static str, expected: &'static str) -> PduError {
    PduError::WrongType { field, expected }
}

/// The error for a key that is either absent or of the wrong type.
fn missing_or_wrong(
    object: &CanonicalJsonObject,
    field: &'static str,
    expected: &'static str,
) -> PduError {
    if object.contains_key(field) {
        wrong_type(field, expected)
    } else {
        PduError::MissingField(field)
    }
}

fn required_str<'a>(
    object: &'a CanonicalJsonObject,
    field: &'static str,
) -> Result<&'a str, PduError> {
    object
        .get(field)
        .and_then(CanonicalJsonValue::as_str)
        .ok_or_else(|| missing_or_wrong(object, field, "a string"))
}

fn required_integer(object: &CanonicalJsonObject, field: &'static str) -> Result<i64, PduError> {
    object
        .get(field)
        .and_then(CanonicalJsonValue::as_integer)
        .ok_or_else(|| missing_or_wrong(object, field, "an integer"))
}

fn parse_id<T>(
    field: &'static str,
    text: &str,
    parse: fn(&str) -> Result<T, IdError>,
) -> Result<T, PduError> {
    parse(text).map_err(|source| PduError::InvalidId { field, source })
}

fn check_length(field: &'static str, value: &str) -> Result<(), PduError> {
    if value.len() > MAX_TYPE_OR_STATE_KEY_BYTES {
        Err(PduError::FieldTooLong {
            field,
            len: value.len(),
        })
    } else {
        Ok(())
    }
}

/// `hashes` must be an object with a `sha256` string. Whether the hash is
/// right is checked later, with [`crate::hashes::check_content_hash`].
fn check_hashes(object: &CanonicalJsonObject) -> Result<(), PduError> {
    let hashes = object
        .get("hashes")
        .and_then(CanonicalJsonValue::as_object)
        .ok_or_else(|| missing_or_wrong(object, "hashes", "an object"))?;
    if is_sha256_hash(hashes) {
        Ok(())
    } else {
        Err(wrong_type("hashes", "an object with a \"sha256\" string"))
    }
}

fn is_sha256_hash(hashes: &CanonicalJsonObject) -> bool {
    matches!(hashes.get("sha256"), Some(CanonicalJsonValue::String(_)))
}

/// `signatures` maps server names to objects mapping key IDs to strings.
fn check_signatures(object: &CanonicalJsonObject) -> Result<(), PduError> {
    let signatures = object
        .get("signatures")
        .and_then(CanonicalJsonValue::as_object)
        .ok_or_else(|| missing_or_wrong(object, "signatures", "an object"))?;
    let well_formed = signatures.values().all(|by_server| {
        by_server
            .as_object()
            .is_some_and(|keys| keys.values().all(|sig| sig.as_str().is_some()))
    });
    if well_formed {
        Ok(())
    } else {
        Err(wrong_type(
            "signatures",
            "an object of objects of signature strings",
        ))
    }
}

/// Reads `prev_events` or `auth_events`: event IDs, each wrapped with its
/// hash as `[id, {"sha256": hash}]` when event IDs are server-assigned.
fn references(
    object: &CanonicalJsonObject,
    field: &'static str,
    max: usize,
    with_hashes: bool,
) -> Result<Vec<EventId>, PduError> {
    let items = object
        .get(field)
        .and_then(CanonicalJsonValue::as_array)
        .ok_or_else(|| missing_or_wrong(object, field, "an array"))?;
    if items.len() > max {
        return Err(PduError::TooManyReferences {
            field,
            count: items.len(),
            max,
        });
    }
    let expected = if with_hashes {
        "an array of [event ID, {\"sha256\": hash}] pairs"
    } else {
        "an array of event IDs"
    };
    items
        .iter()
        .map(|item| {
            let id =
                if with_hashes {
                    match item.as_array().map(Vec::as_slice) {
                        Some(
                            [CanonicalJsonValue::String(id), CanonicalJsonValue::Object(hashes)],
                        ) if is_sha256_hash(hashes) => id,
                        _ => return Err(wrong_type(field, expected)),
                    }
                } else {
                    item.as_str().ok_or_else(|| wrong_type(field, expected))?
                };
            parse_id(field, id, EventId::parse)
        })
        .collect()
}

/// The target of a redaction, from where the version keeps it.
///
/// Up to version 10 `redacts` is a top-level key of the PDU format, so a
/// malformed one makes the event invalid. From version 11 it lives in the
/// content of `m.room.redaction`, which the event format does not
/// constrain: a malformed one there simply names no target.
fn redacts(
    object: &CanonicalJsonObject,
    event_type: &str,
    version: &RoomVersion,
) -> Result<Option<EventId>, PduError> {
    if version.redacts_in_content {
        if event_type != "m.room.redaction" {
            return Ok(None);
        }
        return Ok(object
            .get("content")
            .and_then(CanonicalJsonValue::as_object)
            .and_then(|content| content.get("redacts"))
            .and_then(CanonicalJsonValue::as_str)
            .and_then(|id| EventId::parse(id).ok()));
    }
    match object.get("redacts") {
        None => Ok(None),
        Some(CanonicalJsonValue::String(id)) => parse_id("redacts", id, EventId::parse).map(Some),
        Some(_) => Err(wrong_type("redacts", "an event ID string")),
    }
}

#[cfg(test)]
mod tests;
