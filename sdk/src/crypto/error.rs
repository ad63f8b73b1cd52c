//! What can go wrong in the encryption engine.
//!
//! Every refusal the spec asks a client to make (a bad signature, a message
//! meant for someone else, a replayed Megolm index, a room key that did not
//! arrive over Olm) is its own variant, so callers and tests can tell a
//! security decision from a malformed input or a broken store.

use std::path::PathBuf;

/// An error of the encryption engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// A JSON object lacks a field or has one of the wrong type.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// What was being read, such as "device keys".
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// An algorithm this engine does not implement.
    #[error("unsupported algorithm {0:?}")]
    UnsupportedAlgorithm(String),
    /// A signed object's signature is missing or wrong.
    #[error("bad signature by {signer} with {key_id}: {reason}")]
    BadSignature {
        /// The user whose signature was checked.
        signer: String,
        /// The key ID it was looked up under, such as `ed25519:ABCDEF`.
        key_id: String,
        /// Why it was refused.
        reason: &'static str,
    },
    /// Device keys describe another user or device than the one they were
    /// listed under.
    #[error("device keys listed as {listed} describe {described}")]
    DeviceMismatch {
        /// `user_id device_id` of the entry in the response.
        listed: String,
        /// `user_id device_id` inside the signed object.
        described: String,
    },
    /// A known device came back with another Ed25519 key. The spec treats a
    /// device's Ed25519 key as its fingerprint, so the new keys are ignored.
    #[error("the Ed25519 key of {user_id} {device_id} changed")]
    DeviceKeyChanged {
        /// The device's owner.
        user_id: String,
        /// The device.
        device_id: String,
    },
    /// No verified device keys are known for this device.
    #[error("unknown device {user_id} {device_id}")]
    UnknownDevice {
        /// The device's owner.
        user_id: String,
        /// The device.
        device_id: String,
    },
    /// No Olm session with this device exists yet; claim a one-time key.
    #[error("no Olm session with {user_id} {device_id}")]
    NoOlmSession {
        /// The device's owner.
        user_id: String,
        /// The device.
        device_id: String,
    },
    /// Creating an Olm session failed.
    #[error("Olm session creation: {0}")]
    OlmSession(#[from] vodozemac::olm::SessionCreationError),
    /// An Olm or Megolm message could not be decoded.
    #[error("undecodable message: {0}")]
    Message(#[from] vodozemac::DecodeError),
    /// Olm encryption failed.
    #[error("Olm encryption: {0}")]
    OlmEncryption(#[from] vodozemac::olm::EncryptionError),
    /// An Olm message failed to decrypt with a session that should fit it.
    #[error("Olm decryption: {0}")]
    OlmDecryption(#[from] vodozemac::olm::DecryptionError),
    /// A normal (type 1) Olm message no existing session could decrypt.
    #[error("no Olm session with {sender_key} decrypts this message")]
    NoMatchingOlmSession {
        /// The sender's Curve25519 key.
        sender_key: String,
    },
    /// The Olm ciphertext map has no entry for this device's Curve25519 key.
    #[error("the message is not encrypted for this device")]
    NotForThisDevice,
    /// An event that must be encrypted was not, e.g. a cleartext
    /// `m.room_key` to-device event: room keys are accepted only over Olm.
    #[error("{event_type} events are only accepted when encrypted")]
    NotEncrypted {
        /// The event's type.
        event_type: String,
    },
    /// A decrypted Olm payload names another recipient user.
    #[error("the message is addressed to {0}")]
    WrongRecipient(String),
    /// A decrypted Olm payload names another recipient Ed25519 key.
    #[error("the message is addressed to another device's key")]
    WrongRecipientKey,
    /// The decrypted payload names another sender than the event.
    #[error("the event's sender is {event} but the encrypted payload says {payload}")]
    SenderMismatch {
        /// The sender of the event.
        event: String,
        /// The sender in the decrypted payload.
        payload: String,
    },
    /// The sender's Ed25519 key in the payload is not that of the device
    /// known for the sending Curve25519 key.
    #[error("the sender's Ed25519 key does not match the known device {device_id}")]
    SenderKeyMismatch {
        /// The known device with the sending Curve25519 key.
        device_id: String,
    },
    /// A Megolm message arrived for a session whose key has not (yet) been
    /// received.
    #[error("no room key for session {session_id} in {room_id}")]
    UnknownGroupSession {
        /// The room.
        room_id: String,
        /// The Megolm session.
        session_id: String,
    },
    /// A Megolm message failed to decrypt.
    #[error("Megolm decryption: {0}")]
    MegolmDecryption(#[from] vodozemac::megolm::DecryptionError),
    /// A session key could not be decoded.
    #[error("session key: {0}")]
    SessionKey(#[from] vodozemac::megolm::SessionKeyDecodeError),
    /// The same Megolm message index was seen before in another event.
    #[error("message index {index} of session {session_id} was already used by {first_event_id}")]
    Replay {
        /// The Megolm session.
        session_id: String,
        /// The reused index.
        index: u32,
        /// The event that used it first.
        first_event_id: String,
    },
    /// The decrypted payload belongs to another room than the event.
    #[error("the event is in {event} but its encrypted payload says {payload}")]
    RoomMismatch {
        /// The room the event arrived in.
        event: String,
        /// The room in the decrypted payload or in the room key.
        payload: String,
    },
    /// A room key names a session ID that does not match its key.
    #[error("the room key says session {claimed} but the key is for {actual}")]
    SessionIdMismatch {
        /// The session ID in the `m.room_key` content.
        claimed: String,
        /// The ID of the session the key opens.
        actual: String,
    },
    /// No outbound Megolm session is ready for the room: share a room key
    /// first (the old one may have been rotated out).
    #[error("no room key has been shared for {0}; call share_room_key first")]
    RoomKeyNotShared(String),
    /// Backup encryption or decryption failed.
    #[error("key backup: {0}")]
    Backup(#[from] vodozemac::pk_encryption::Error),
    /// Backup session data could not be decoded.
    #[error("key backup data: {0}")]
    BackupData(#[from] vodozemac::pk_encryption::MessageDecodeError),
    /// A key is not valid base64 of the right length.
    #[error("invalid key: {0}")]
    Key(#[from] vodozemac::KeyError),
    /// The backup's `auth_data` is not signed by a device of ours.
    #[error("the backup is not signed by a known device of ours")]
    UntrustedBackup,
    /// A store file could not be read or written.
    #[error("store {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// A stored pickle could not be decrypted (wrong pickle key?) or read.
    #[error("store {}: {source}", path.display())]
    Pickle {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: vodozemac::PickleError,
    },
    /// A store file is not what this version wrote.
    #[error("store {}: {source}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: serde_json::Error,
    },
    /// The store belongs to another user or device.
    #[error("the store holds the account of {stored}, not {requested}")]
    StoreMismatch {
        /// `user_id device_id` found in the store.
        stored: String,
        /// `user_id device_id` asked for.
        requested: String,
    },
}

impl CryptoError {
    pub(crate) fn malformed(what: &'static str, reason: impl Into<String>) -> Self {
        Self::Malformed {
            what,
            reason: reason.into(),
        }
    }
}
