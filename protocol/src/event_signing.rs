//! Hashing and signing outgoing events, and checking received ones.
//!
//! A server signature on an event covers its redacted form, which includes
//! the content hash. The signature therefore stays valid when the event is
//! redacted, while the content hash reveals whether the full content is
//! intact.

use crate::base64;
use crate::canonical_json::{CanonicalJsonObject, CanonicalJsonValue};
use crate::hashes::content_hash;
use crate::identifiers::KeyId;
use crate::redaction::{redact, RedactionError};
use crate::room_versions::RoomVersion;
use crate::signing::{verify_json, ServerSigningKey, SignJsonError, VerifyError, VerifyingKey};

/// Why an event could not be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignEventError {
    /// The event is too malformed to redact.
    #[error(transparent)]
    Redaction(#[from] RedactionError),
    /// The existing `signatures` cannot be added to.
    #[error(transparent)]
    Signing(#[from] SignJsonError),
}

/// Why an event's signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyEventError {
    /// The event is too malformed to redact.
    #[error(transparent)]
    Redaction(#[from] RedactionError),
    /// The signature check failed.
    #[error(transparent)]
    Signature(#[from] VerifyError),
}

/// Adds the content hash and this server's signature to an outgoing event.
///
/// Sets `hashes` to `{"sha256": <content hash>}`, signs the redacted event as
/// `entity` (this server's name), and copies the resulting `signatures` back
/// into `event`; signatures already present are kept. On error `event` is
/// unchanged.
pub fn sign_event(
    event: &mut CanonicalJsonObject,
    key: &ServerSigningKey,
    entity: &str,
    version: &RoomVersion,
) -> Result<(), SignEventError> {
    let hashes = CanonicalJsonValue::Object(
        [(
            "sha256".to_owned(),
            CanonicalJsonValue::String(base64::encode(content_hash(event))),
        )]
        .into(),
    );
    // Redaction keeps `hashes`, so adding them to the redacted copy gives the
    // same result as redacting the hashed event, and leaves `event` untouched
    // until nothing can fail any more.
    let mut redacted = redact(event, version)?;
    redacted.insert("hashes".to_owned(), hashes.clone());
    key.sign_json(entity, &mut redacted)?;

    event.insert("hashes".to_owned(), hashes);
    if let Some(signatures) = redacted.remove("signatures") {
        event.insert("signatures".to_owned(), signatures);
    }
    Ok(())
}

/// Checks that `entity` signed `event` with `key_id`/`key`.
///
/// The check runs on the redacted form, so it succeeds for both the full
/// event and a redacted copy. Which entities must have signed depends on the
/// event and room version and is up to the caller. A valid signature says
/// nothing about the content: follow up with
/// [`crate::hashes::check_content_hash`].
pub fn verify_event_signature(
    event: &CanonicalJsonObject,
    version: &RoomVersion,
    entity: &str,
    key_id: &KeyId,
    key: &VerifyingKey,
) -> Result<(), VerifyEventError> {
    let redacted = redact(event, version)?;
    verify_json(entity, key_id, key, &redacted)?;
    Ok(())
}

#[cfg(test)]
mod tests;
