//! Matrix protocol primitives for Hanse: the parts of the specification
//! that are pure functions of their input. Nothing here does I/O, keeps
//! state or is async, and nothing panics on untrusted input: every failure
//! is a typed error.
//!
//! * [`canonical_json`]: the value type everything is signed and hashed as,
//!   with a strict parser for network input.
//! * [`identifiers`]: server names, user/room/event IDs, aliases, device and
//!   key IDs.
//! * [`signing`]: server signing keys, [`ServerSigningKey::sign_json`] and
//!   [`verify_json`].
//! * [`room_versions`]: the table of what each room version changes;
//!   algorithms take a [`RoomVersion`] rather than a version number.
//! * [`redaction`], [`hashes`], [`event_id`], [`event_signing`]: the event
//!   algorithms built on the above.
//! * [`pdu`]: [`Pdu`], an event validated against its room version's
//!   format, with typed accessors.
//! * [`power_levels`]: [`PowerLevels`], who may do what in a room.
//! * [`auth`]: the authorisation rules, [`auth::authorize`], and the
//!   selection of auth events.
//! * [`state_res`]: state resolution v2 and v2.1, [`state_res::resolve`],
//!   which merges the states of forks of a room.
//! * [`push_rules`]: a user's push rules, the server-default ones, and
//!   which rule decides whether an event notifies them.
//! * [`x_matrix`]: request authentication between servers, the signed
//!   `X-Matrix` Authorization header.
//!
//! Receiving a PDU typically goes: parse with
//! [`canonical_json::object_from_slice`] (rejects duplicate keys, floats,
//! deep nesting); check the room version's event format and compute the
//! event ID with [`Pdu::from_canonical`]; check the signatures of every
//! server [`auth::required_signers`] names with
//! [`event_signing::verify_event_signature`]; then
//! [`hashes::check_content_hash`], falling back to the [`redaction::redact`]ed
//! form if the hash does not match; finally [`auth::authorize`] against the
//! event's [`auth::AuthEvents`] and against the state before the event.
//! Sending one is [`event_signing::sign_event`] followed by
//! [`event_id::event_id`].

pub mod auth;
pub mod base64;
pub mod canonical_json;
pub mod event_id;
pub mod event_signing;
pub mod hashes;
pub mod identifiers;
pub mod path_segment;
pub mod pdu;
pub mod power_levels;
pub mod push_rules;
pub mod redaction;
pub mod room_versions;
pub mod signing;
pub mod state_res;
pub mod x_matrix;

pub use canonical_json::{CanonicalJsonError, CanonicalJsonObject, CanonicalJsonValue};
pub use identifiers::{DeviceId, EventId, IdError, KeyId, RoomAlias, RoomId, ServerName, UserId};
pub use pdu::{Pdu, PduError};
pub use power_levels::{PowerLevels, UserPowerLevel};
pub use room_versions::{RoomVersion, RoomVersionId};
pub use signing::{verify_json, ServerSigningKey, VerifyingKey};
