//! Invites that redeem a third-party invite (invite rule 4.1 of the
//! membership rules).
//!
//! An identity server signs `{mxid, token}` once the third-party identifier
//! is bound to `mxid`; the room's `m.room.third_party_invite` event for
//! `token` carries the identity server's public keys. A valid signature
//! with one of those keys proves the invited user owns the identifier.

use crate::canonical_json::{CanonicalJsonObject, CanonicalJsonValue};
use crate::identifiers::KeyId;
use crate::pdu::Pdu;
use crate::signing::{verify_json, verifying_key_from_any_base64, VerifyingKey};

use super::context::RoomContext;
use super::{AuthError, AuthState};

/// Invite rule 4.1, for an invite whose content has `third_party_invite`.
///
/// 4.1.1 the target must not be banned; 4.1.2 `signed` must exist and
/// 4.1.3 hold `mxid` and `token`; 4.1.4 `mxid` must be the target; 4.1.5
/// the state must have an `m.room.third_party_invite` for `token`, 4.1.6
/// sent by this event's sender; 4.1.7 some signature in `signed` must
/// verify with one of its public keys, 4.1.8 else reject.
pub(super) fn check_third_party_invite<S: AuthState + ?Sized>(
    pdu: &Pdu,
    target: &str,
    third_party_invite: &CanonicalJsonValue,
    room: &RoomContext<'_, S>,
) -> Result<(), AuthError> {
    if room.membership(target) == Some("ban") {
        return Err(AuthError::TargetBanned);
    }
    let signed = third_party_invite
        .as_object()
        .and_then(|invite| invite.get("signed"))
        .and_then(CanonicalJsonValue::as_object)
        .ok_or(AuthError::ThirdPartyInviteNotSigned)?;
    let string = |key| signed.get(key).and_then(CanonicalJsonValue::as_str);
    let (Some(mxid), Some(token)) = (string("mxid"), string("token")) else {
        return Err(AuthError::ThirdPartyInviteIncomplete);
    };
    if mxid != target {
        return Err(AuthError::ThirdPartyInviteWrongUser);
    }
    let invite_event = room
        .state
        .get("m.room.third_party_invite", token)
        .ok_or(AuthError::ThirdPartyInviteUnknownToken)?;
    if invite_event.sender() != pdu.sender() {
        return Err(AuthError::ThirdPartyInviteWrongSender);
    }
    let keys = public_keys(invite_event.content());
    if signed_with_any(signed, &keys) {
        Ok(())
    } else {
        Err(AuthError::ThirdPartyInviteBadSignature)
    }
}

/// The identity server keys of an `m.room.third_party_invite`: the single
/// `public_key` and every `public_keys[].public_key`. Keys that do not
/// decode cannot have made any signature and are skipped.
fn public_keys(content: &CanonicalJsonObject) -> Vec<VerifyingKey> {
    let listed = content
        .get("public_keys")
        .and_then(CanonicalJsonValue::as_array)
        .into_iter()
        .flatten()
        .filter_map(CanonicalJsonValue::as_object)
        .filter_map(|entry| entry.get("public_key"));
    content
        .get("public_key")
        .into_iter()
        .chain(listed)
        .filter_map(CanonicalJsonValue::as_str)
        .filter_map(|key| verifying_key_from_any_base64(key).ok())
        .collect()
}

/// Whether any signature in `signed.signatures` verifies with any of
/// `keys`. Signatures are made with the keys directly, so the signing
/// entity and key ID only locate the signature.
fn signed_with_any(signed: &CanonicalJsonObject, keys: &[VerifyingKey]) -> bool {
    let Some(signatures) = signed
        .get("signatures")
        .and_then(CanonicalJsonValue::as_object)
    else {
        return false;
    };
    signatures.iter().any(|(entity, by_key)| {
        by_key
            .as_object()
            .into_iter()
            .flat_map(|by_key| by_key.keys())
            .filter_map(|key_id| KeyId::parse(key_id).ok())
            .any(|key_id| {
                keys.iter()
                    .any(|key| verify_json(entity, &key_id, key, signed).is_ok())
            })
    })
}
