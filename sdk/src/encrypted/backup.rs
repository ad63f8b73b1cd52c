//! Server-side key backup (`/room_keys`): room keys encrypted to a backup
//! key whose private half only the user holds, so a new device can read
//! old messages.

use serde::Deserialize;
use serde_json::{json, Value};

use super::{EncryptedClient, EncryptedClientError};
use crate::crypto::{BackupDecryptionKey, CryptoError, BACKUP_ALGORITHM};
use hanse_protocol::path_segment;

/// Room keys per `PUT /room_keys/keys`: one backed up key takes about a
/// kilobyte, so a request stays far below the 1 MiB body limit servers
/// commonly have, and below the 64 KiB Hanse's tests use.
const KEYS_PER_UPLOAD: usize = 40;

/// What a restore from the backup did.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct RestoredKeys {
    /// The backup version read.
    pub version: String,
    /// Room keys in the backup.
    pub found: usize,
    /// Room keys this device did not have (or had from a later index).
    pub imported: usize,
    /// `(room ID, session ID, why)` of keys that could not be read.
    pub failed: Vec<(String, String, CryptoError)>,
}

#[derive(Deserialize)]
struct BackupVersion {
    algorithm: String,
    auth_data: Value,
    version: String,
}

#[derive(Deserialize)]
struct CreatedVersion {
    version: String,
}

#[derive(Deserialize)]
struct BackedUpKeys {
    rooms: std::collections::BTreeMap<String, BackedUpRoom>,
}

#[derive(Deserialize)]
struct BackedUpRoom {
    sessions: serde_json::Map<String, Value>,
}

impl EncryptedClient {
    /// Creates a new backup version (replacing the current one for all of
    /// the user's devices), uploads every room key this device holds to
    /// it, and returns its version and private key. The key is the only
    /// way back into the backup: show it to the user (see
    /// [`BackupDecryptionKey::to_base58`]); it is not stored.
    pub async fn create_backup(
        &mut self,
    ) -> Result<(String, BackupDecryptionKey), EncryptedClientError> {
        let (key, auth_data) = self.machine.create_backup()?;
        let created: CreatedVersion = self
            .client
            .post(
                "/_matrix/client/v3/room_keys/version",
                &json!({ "algorithm": BACKUP_ALGORITHM, "auth_data": auth_data }),
            )
            .await?;
        self.machine
            .enable_backup(&created.version, &auth_data, Some(&key))?;
        self.back_up_room_keys().await?;
        Ok((created.version, key))
    }

    /// Uploads the room keys the active backup lacks; returns how many.
    /// Nothing happens without an active backup.
    pub async fn back_up_room_keys(&mut self) -> Result<usize, EncryptedClientError> {
        let mut uploaded = 0;
        while let Some(request) = self.machine.room_keys_for_backup(KEYS_PER_UPLOAD)? {
            let path = format!(
                "/_matrix/client/v3/room_keys/keys?version={}",
                path_segment::encode(&request.version)
            );
            let sent: Result<Value, _> = self.client.put(&path, &request.body).await;
            if let Err(error) = sent {
                return Err(match error.errcode() {
                    Some("M_WRONG_ROOM_KEYS_VERSION" | "M_NOT_FOUND") => {
                        self.machine.disable_backup()?;
                        EncryptedClientError::BackupGone {
                            version: request.version,
                        }
                    }
                    _ => error.into(),
                });
            }
            self.machine.mark_backed_up(&request)?;
            uploaded += request.session_count();
        }
        Ok(uploaded)
    }

    /// Restores room keys from the current backup with its private `key`
    /// (from the user). The key proves the backup genuine, so this device
    /// also starts adding its own room keys to it.
    pub async fn restore_backup(
        &mut self,
        key: &BackupDecryptionKey,
    ) -> Result<RestoredKeys, EncryptedClientError> {
        let current: BackupVersion = match self
            .client
            .get("/_matrix/client/v3/room_keys/version")
            .await
        {
            Err(error) if error.errcode() == Some("M_NOT_FOUND") => {
                return Err(EncryptedClientError::NoBackup)
            }
            answer => answer?,
        };
        if current.algorithm != BACKUP_ALGORITHM {
            return Err(CryptoError::UnsupportedAlgorithm(current.algorithm).into());
        }
        // Refused unless `key` is the backup's key.
        self.machine
            .enable_backup(&current.version, &current.auth_data, Some(key))?;
        let backed_up: BackedUpKeys = self
            .client
            .get(&format!(
                "/_matrix/client/v3/room_keys/keys?version={}",
                path_segment::encode(&current.version)
            ))
            .await?;
        let mut restored = RestoredKeys {
            version: current.version,
            ..RestoredKeys::default()
        };
        for (room_id, room) in backed_up.rooms {
            for (session_id, data) in room.sessions {
                restored.found += 1;
                match self
                    .machine
                    .import_backed_up_room_key(key, &room_id, &session_id, &data)
                {
                    Ok(true) => restored.imported += 1,
                    Ok(false) => {}
                    Err(error) => restored.failed.push((room_id.clone(), session_id, error)),
                }
            }
        }
        Ok(restored)
    }
}
