//! What can go wrong in the encrypting client.

use crate::crypto::CryptoError;

/// An error of [`EncryptedClient`](super::EncryptedClient).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncryptedClientError {
    /// A request failed, or the server refused it.
    #[error(transparent)]
    Http(#[from] crate::Error),
    /// The encryption engine refused, or its store failed.
    #[error("encryption: {0}")]
    Crypto(#[from] CryptoError),
    /// The room is not among those this client has seen in a sync.
    #[error("{0} is not a room this client has joined and synced; join it first")]
    UnknownRoom(String),
    /// The room is encrypted with an algorithm this client cannot encrypt
    /// with. Sending in the clear instead would defeat the room's setting,
    /// so nothing is sent.
    #[error("{room_id} is encrypted with {algorithm:?}, which this client does not support")]
    UnsupportedRoomEncryption { room_id: String, algorithm: String },
    /// The server holds no key backup to restore from.
    #[error("there is no key backup on the server")]
    NoBackup,
    /// The backup this device wrote to was deleted, or replaced by another
    /// device. Keys may only go to a backup this device trusts, so it
    /// stopped backing up until a backup is restored or created again.
    #[error(
        "key backup version {version} was deleted or replaced on the server; \
         this device stopped backing up until a backup is restored or created"
    )]
    BackupGone { version: String },
    /// An answer of the server lacks something the spec says it has.
    #[error("the server's answer to {request} has no {field}")]
    Incomplete {
        request: &'static str,
        field: &'static str,
    },
}
