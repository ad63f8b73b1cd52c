//! Server-side key backup with `m.megolm_backup.v1.curve25519-aes-sha2`:
//! room keys encrypted to a Curve25519 public key, so any device of the
//! user can add keys while only holders of the private key can read them.
//!
//! The encryption is libolm's PkEncryption, which vodozemac provides behind
//! its `insecure-pk-encryption` feature: an ephemeral Curve25519 key agrees
//! a secret with the backup key, HKDF-SHA-256 expands it into an AES-256
//! key, an HMAC key and an IV, the session data is encrypted with
//! AES-256-CBC, and the "MAC" is the truncated HMAC of an empty string (a
//! libolm bug the spec kept for compatibility). So nothing authenticates
//! the ciphertext: whoever can write to the backup can plant keys in it.
//! That is why keys restored from a backup are marked
//! [`RoomKeySource::Backup`] and never stand for a known sender.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use vodozemac::megolm::{ExportedSessionKey, InboundGroupSession, SessionConfig};
use vodozemac::pk_encryption::{Message, PkDecryption, PkEncryption};
use vodozemac::{
    base64_decode, base64_encode, Curve25519PublicKey, Curve25519SecretKey, Ed25519PublicKey,
};

use super::account::{as_object, OwnAccount};
use super::device::Device;
use super::inbound_group::{InboundGroup, RoomKeySource};
use super::signing::{device_signing_key_id, verify_json};
use super::{CryptoError, MEGOLM_ALGORITHM};

/// The backup algorithm this module implements.
pub const BACKUP_ALGORITHM: &str = "m.megolm_backup.v1.curve25519-aes-sha2";

/// The private key of a key backup. Whoever holds it can read every backed
/// up room key; it belongs in secret storage (as `m.megolm_backup.v1`) or
/// with the user, never on the server in the clear.
pub struct BackupDecryptionKey {
    inner: PkDecryption,
}

impl BackupDecryptionKey {
    /// A new random key.
    pub fn new() -> Self {
        Self {
            inner: PkDecryption::new(),
        }
    }

    /// The key from the base64 of its 32 bytes (padded or not), as secret
    /// storage holds it.
    pub fn from_base64(encoded: &str) -> Result<Self, CryptoError> {
        let bytes: [u8; 32] = base64_decode(encoded)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| CryptoError::malformed("backup key", "not base64 of 32 bytes"))?;
        Ok(Self::from_bytes(bytes))
    }

    /// The unpadded base64 of the private key, for secret storage.
    pub fn to_base64(&self) -> String {
        base64_encode(self.to_bytes().as_slice())
    }

    pub(crate) fn from_bytes(bytes: [u8; 32]) -> Self {
        Self {
            inner: PkDecryption::from_key(Curve25519SecretKey::from_slice(&bytes)),
        }
    }

    pub(crate) fn to_bytes(&self) -> [u8; 32] {
        *self.inner.secret_key().to_bytes()
    }

    /// The public half, which the backup's `auth_data` publishes.
    pub fn public_key(&self) -> BackupPublicKey {
        BackupPublicKey(self.inner.public_key())
    }

    /// Decrypts the `session_data` of a backed up key.
    fn decrypt(&self, session_data: &Value) -> Result<BackedUpSessionData, CryptoError> {
        const WHAT: &str = "backup session_data";
        let string = |name: &str| {
            session_data
                .get(name)
                .and_then(Value::as_str)
                .ok_or_else(|| CryptoError::malformed(WHAT, format!("no string {name}")))
        };
        let message =
            Message::from_base64(string("ciphertext")?, string("mac")?, string("ephemeral")?)?;
        let plaintext = self.inner.decrypt(&message)?;
        serde_json::from_slice(&plaintext)
            .map_err(|e| CryptoError::malformed("backed up session data", e.to_string()))
    }
}

impl Default for BackupDecryptionKey {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for BackupDecryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackupDecryptionKey")
            .field("public_key", &self.public_key())
            .finish_non_exhaustive()
    }
}

/// The public key of a key backup: what room keys are encrypted to.
#[derive(Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupPublicKey(Curve25519PublicKey);

impl BackupPublicKey {
    /// The key as published in `auth_data.public_key`.
    pub fn to_base64(&self) -> String {
        self.0.to_base64()
    }

    /// The `auth_data` of a new backup version with this key, signed by
    /// `account` so the user's other devices can trust it.
    pub(crate) fn auth_data(&self, account: &OwnAccount) -> Result<Value, CryptoError> {
        let mut auth_data = json!({"public_key": self.to_base64()});
        account.sign(as_object(&mut auth_data))?;
        Ok(auth_data)
    }

    /// Reads the public key of a backup's `auth_data` if one of `devices`
    /// (devices of `user_id` we know, this one included) signed it.
    pub(crate) fn from_signed_auth_data(
        auth_data: &Value,
        user_id: &str,
        devices: &[(String, Ed25519PublicKey)],
    ) -> Result<Self, CryptoError> {
        let object = auth_data
            .as_object()
            .ok_or_else(|| CryptoError::malformed("auth_data", "not an object"))?;
        let trusted = devices.iter().any(|(device_id, key)| {
            verify_json(object, user_id, &device_signing_key_id(device_id), key).is_ok()
        });
        if !trusted {
            return Err(CryptoError::UntrustedBackup);
        }
        Self::from_auth_data(auth_data)
    }

    /// Reads the public key of a backup's `auth_data`, trusting it.
    pub(crate) fn from_auth_data(auth_data: &Value) -> Result<Self, CryptoError> {
        let encoded = auth_data
            .get("public_key")
            .and_then(Value::as_str)
            .ok_or_else(|| CryptoError::malformed("auth_data", "no public_key"))?;
        Ok(Self(Curve25519PublicKey::from_base64(encoded)?))
    }

    /// The `KeyBackupData` of a room key (as `PUT /room_keys/keys` takes
    /// it): the key exported at its first known index and encrypted to
    /// this backup key.
    pub(crate) fn encrypt_room_key(&self, group: &InboundGroup) -> Result<Value, CryptoError> {
        let data = BackedUpSessionData {
            algorithm: MEGOLM_ALGORITHM.to_owned(),
            sender_key: group.sender_key.to_base64(),
            sender_claimed_keys: group
                .sender_ed25519
                .iter()
                .map(|key| ("ed25519".to_owned(), key.to_base64()))
                .collect(),
            forwarding_curve25519_key_chain: group.forwarding_chain.clone(),
            session_key: group.session.export_at_first_known_index().to_base64(),
        };
        let plaintext = serde_json::to_vec(&data)
            .map_err(|e| CryptoError::malformed("backed up session data", e.to_string()))?;
        let message = PkEncryption::from_key(self.0).encrypt(&plaintext)?;
        Ok(json!({
            "first_message_index": group.session.first_known_index(),
            "forwarded_count": group.forwarding_chain.len(),
            "is_verified": false,
            "session_data": {
                "ephemeral": message.ephemeral_key.to_base64(),
                "ciphertext": base64_encode(&message.ciphertext),
                "mac": base64_encode(&message.mac),
            },
        }))
    }
}

impl fmt::Debug for BackupPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("BackupPublicKey")
            .field(&self.to_base64())
            .finish()
    }
}

/// The plaintext of a backed up room key (the spec's BackedUpSessionData).
#[derive(Serialize, Deserialize)]
struct BackedUpSessionData {
    algorithm: String,
    sender_key: String,
    sender_claimed_keys: BTreeMap<String, String>,
    forwarding_curve25519_key_chain: Vec<String>,
    session_key: String,
}

/// Decrypts the `KeyBackupData` of room `room_id`'s session `session_id`
/// (as `GET /room_keys/keys/{roomId}/{sessionId}` returns it) into a room
/// key.
pub(crate) fn decrypt_room_key(
    key: &BackupDecryptionKey,
    room_id: &str,
    session_id: &str,
    key_backup_data: &Value,
) -> Result<InboundGroup, CryptoError> {
    let session_data = key_backup_data
        .get("session_data")
        .ok_or_else(|| CryptoError::malformed("KeyBackupData", "no session_data"))?;
    let data = key.decrypt(session_data)?;
    if data.algorithm != MEGOLM_ALGORITHM {
        return Err(CryptoError::UnsupportedAlgorithm(data.algorithm));
    }
    let exported = ExportedSessionKey::from_base64(&data.session_key)?;
    let session = InboundGroupSession::import(&exported, SessionConfig::version_1());
    if session.session_id() != session_id {
        return Err(CryptoError::SessionIdMismatch {
            claimed: session_id.to_owned(),
            actual: session.session_id(),
        });
    }
    let sender_ed25519 = data
        .sender_claimed_keys
        .get("ed25519")
        .map(|key| Ed25519PublicKey::from_base64(key))
        .transpose()?;
    Ok(InboundGroup {
        room_id: room_id.to_owned(),
        session,
        sender_key: Curve25519PublicKey::from_base64(&data.sender_key)?,
        sender_ed25519,
        sender_user: None,
        sender_device: None,
        forwarding_chain: data.forwarding_curve25519_key_chain,
        source: RoomKeySource::Backup,
        seen: BTreeMap::new(),
        backed_up: true,
    })
}

/// The devices whose signature on a backup's `auth_data` we accept: this
/// one and the other known devices of its user.
pub(crate) fn own_signers<'a>(
    account: &OwnAccount,
    others: impl Iterator<Item = &'a Device>,
) -> Vec<(String, Ed25519PublicKey)> {
    std::iter::once((account.device_id().to_owned(), account.ed25519_key()))
        .chain(others.map(|d| (d.device_id().to_owned(), d.ed25519_key())))
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::crypto::inbound_group::InboundGroups;

    /// Fixtures generated by matrix-js-sdk's
    /// spec/test-utils/test-data/generate-test-data.py with libolm: a backup
    /// key, a room key encrypted to it, and an event encrypted with that
    /// room key.
    const JS_SDK_BACKUP_KEY: &str = "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=";
    const JS_SDK_SESSION_ID: &str = "ipdI6Zs/7DzFTEhiA2iGaMDfHkIYCleqXT6L+5e1/co";

    fn js_sdk_key_backup_data() -> Value {
        json!({
            "first_message_index": 1,
            "forwarded_count": 0,
            "is_verified": false,
            "session_data": {
                "ciphertext": "r6HRk2/Im2yJe5cLP8R81aVjFWjYWPHpw7TVxphiSK1cdIDZTTK57r6MfU+0i/mTPn+/PosT74OvYwCnehy2d1BPGxhDl8AhPcBu3//Kzlq2o5CssPsw+88gRehkAsPg9Zp5G9sL9to6giltvTWTbsaQpmvv3HLmBOYSFIxvyZrOT/Ffqu325f0IEsKcyV2BdIkw8Ob9Xt+VWoe4MYEGG6y1T8W125zeFgKWI4Ow76uput64H9zZjIo+Cc+hCTO9Ea4EnosSjizCotevkNck7C/zGgfhBikiohROb6SbaZgxicSsEDZ+f7brnri9yP3iXS3PMDHHpa1+XzG2VOG/Y9OQZpkPq+pbLrCC+NWJeJPslDAK5i+RURwzjnPmaHKCRHTq86CwhFyiCDf61MGwCY3xjrmBJg44BCdxWqCx0YJvwsvVqqnl4vTieUfrwThNPsQ81aVkDHvlmrgrTt8icDa8jTJhu34jem+pbRSEM5aJikV4B+zYiLz+dH/v6UpYA2eG8ReOvwpPXp6CAcIlplRPpWbMBeLFVcPkT4KAXTp9exFpB4on4pf8OsaDomlt4qAA0rhAZmhPWPKcU/A0Tz4gyMu54OivVtw1SPj+5Iq+YDQ8jB6Po3ApzMf6fwF9x/FjevbboFB05X2Jr0NrbFqXMOUwXHMgDAGiIWX8+gkmmbaiNWqg2etjN94pobQSGZelb18XGN7kuwMk+Zwk7A",
                "ephemeral": "q+P1WdRtEiPIEtNuuGrRcueZxUbLnSKdsuTAkxewXgU",
                "mac": "OibmACbORhI"
            }
        })
    }

    #[test]
    fn decrypts_a_libolm_backup_and_the_event_its_key_opens() {
        let key = BackupDecryptionKey::from_base64(JS_SDK_BACKUP_KEY).unwrap();
        assert_eq!(
            key.public_key().to_base64(),
            "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo"
        );
        let group = decrypt_room_key(
            &key,
            "!room:id",
            JS_SDK_SESSION_ID,
            &js_sdk_key_backup_data(),
        )
        .unwrap();
        assert_eq!(
            group.sender_key.to_base64(),
            "WimPd2udAU/1S/+YBpPbmr9L+0H5H+BnAVHSwDxlPGc"
        );
        assert_eq!(group.source, RoomKeySource::Backup);

        let mut groups = InboundGroups::default();
        groups.add(group);
        let event = json!({
            "type": "m.room.encrypted",
            "room_id": "!room:id",
            "sender": "@alice:localhost",
            "content": {
                "algorithm": "m.megolm.v1.aes-sha2",
                "sender_key": "WimPd2udAU/1S/+YBpPbmr9L+0H5H+BnAVHSwDxlPGc",
                "ciphertext": "AwgAEnAkBmciEAyhh1j6DCk29UXJ7kv/kvayUNfuNT0iAioLxcXjFXOZ5ho3jF1/wrytlt0Lb298uMM67OxdVMi+/mMfYpwlvi07P9cIH6CMSj8tyhYoWl0SrKY6tkPf5GWOlRSRRKbziXa96FHXvnA3V2FCAIGtAe3G4ei5RPbhkmKAFBLAen33/D6MjJVqU8Ojr5vTkgls5eyirarlVpsmnH06alDaxO8avrU0NL+Vsw26xvlUQgEMOnUJ",
                "session_id": JS_SDK_SESSION_ID,
                "device_id": "TEST_DEVICE"
            },
            "event_id": "$event1",
            "origin_server_ts": 1507753886000_i64
        });
        let decrypted = groups.decrypt("!room:id", &event).unwrap();
        assert_eq!(decrypted.event_type, "m.room.message");
        assert_eq!(
            decrypted.content,
            json!({"msgtype": "m.text", "body": "Hello world"})
        );
        assert_eq!(decrypted.key_source, RoomKeySource::Backup);
    }

    #[test]
    fn accepts_the_auth_data_libolm_signed_and_refuses_others() {
        let auth_data = json!({
            "public_key": "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo",
            "signatures": {
                "@alice:localhost": {
                    "ed25519:test_device": "KDSNeumirTsd8piI0oVfv/wzg4J4HlEc7rs5XhODFcJ/YAcUdg65ajsZG+rLI0TQOSSGjorJqcrSiSB1HRSCAA"
                }
            }
        });
        let device_key =
            Ed25519PublicKey::from_base64("YI/7vbGVLpGdYtuceQR8MSsKB/QjgfMXM1xqnn+0NWU").unwrap();
        let signers = vec![("test_device".to_owned(), device_key)];
        let key = BackupPublicKey::from_signed_auth_data(&auth_data, "@alice:localhost", &signers)
            .unwrap();
        assert_eq!(
            key.to_base64(),
            "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo"
        );

        let mut swapped = auth_data.clone();
        swapped["public_key"] = json!("ZRuVWcWlDuvOwZRygccUCD4Avtnt130800I+WQNwwRY");
        assert!(matches!(
            BackupPublicKey::from_signed_auth_data(&swapped, "@alice:localhost", &signers),
            Err(CryptoError::UntrustedBackup)
        ));
    }

    #[test]
    fn a_wrong_key_or_a_mislabelled_session_is_refused() {
        let other = BackupDecryptionKey::new();
        assert!(decrypt_room_key(
            &other,
            "!room:id",
            JS_SDK_SESSION_ID,
            &js_sdk_key_backup_data()
        )
        .is_err());

        let key = BackupDecryptionKey::from_base64(JS_SDK_BACKUP_KEY).unwrap();
        assert!(matches!(
            decrypt_room_key(&key, "!room:id", "another", &js_sdk_key_backup_data()),
            Err(CryptoError::SessionIdMismatch { .. })
        ));
    }

    #[test]
    fn the_private_key_round_trips_through_base64() {
        let key = BackupDecryptionKey::new();
        let again = BackupDecryptionKey::from_base64(&key.to_base64()).unwrap();
        assert_eq!(again.public_key(), key.public_key());
        assert!(BackupDecryptionKey::from_base64("c2hvcnQ").is_err());
    }
}
