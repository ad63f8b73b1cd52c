//! Event hashes.
//!
//! * The content hash covers the whole event as sent (minus `unsigned`,
//!   `signatures` and `hashes`). It is stored in the event under
//!   `hashes.sha256` and, because signatures cover `hashes`, lets a receiver
//!   tell a complete event from one whose non-essential parts were removed.
//! * The reference hash covers only the redacted event. From room version 3
//!   on it is the event ID, and from version 12 the create event's reference
//!   hash is also the room ID.

use sha2::{Digest as _, Sha256};

use crate::base64;
use crate::canonical_json::{canonical_string_without, CanonicalJsonObject, CanonicalJsonValue};
use crate::redaction::{redact, RedactionError};
use crate::room_versions::RoomVersion;

/// A SHA-256 digest.
pub type Sha256Hash = [u8; 32];

/// Why an event's stored content hash does not check out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ContentHashError {
    /// There is no `hashes.sha256` string.
    #[error("event has no sha256 content hash")]
    Missing,
    /// `hashes.sha256` is not unpadded base64 of 32 bytes.
    #[error("event's sha256 content hash is not base64 of 32 bytes")]
    Malformed,
    /// The stored hash differs from the computed one: the event has been
    /// altered, typically by redaction.
    #[error("event content does not match its sha256 content hash")]
    Mismatch,
}

/// Computes the content hash of an event.
pub fn content_hash(event: &CanonicalJsonObject) -> Sha256Hash {
    sha256(&canonical_string_without(
        event,
        &["unsigned", "signatures", "hashes"],
    ))
}

/// Checks the event's `hashes.sha256` against its content.
///
/// Receivers do this after verifying signatures; on
/// [`ContentHashError::Mismatch`] they must carry on with the redacted form
/// of the event instead of rejecting it.
pub fn check_content_hash(event: &CanonicalJsonObject) -> Result<(), ContentHashError> {
    let encoded = event
        .get("hashes")
        .and_then(CanonicalJsonValue::as_object)
        .and_then(|hashes| hashes.get("sha256"))
        .and_then(CanonicalJsonValue::as_str)
        .ok_or(ContentHashError::Missing)?;
    let stored = base64::decode(encoded).map_err(|_| ContentHashError::Malformed)?;
    if stored.len() != 32 {
        return Err(ContentHashError::Malformed);
    }
    if stored == content_hash(event) {
        Ok(())
    } else {
        Err(ContentHashError::Mismatch)
    }
}

/// Computes the reference hash of an event: SHA-256 over the canonical JSON
/// of its redacted form without `signatures` and `unsigned`. (Redaction has
/// already removed any top-level `age_ts` and `unsigned`.)
pub fn reference_hash(
    event: &CanonicalJsonObject,
    version: &RoomVersion,
) -> Result<Sha256Hash, RedactionError> {
    let redacted = redact(event, version)?;
    Ok(sha256(&canonical_string_without(
        &redacted,
        &["signatures", "unsigned"],
    )))
}

fn sha256(text: &str) -> Sha256Hash {
    Sha256::digest(text.as_bytes()).into()
}
