//! Cross-signing keys and the signatures uploaded for keys.

use super::keys::record_change;
use super::prepared::Prepared;
use super::{Store, StoreError};

/// A stored cross-signing key.
#[derive(Debug, Clone)]
pub struct CrossSigningKeyRow {
    pub user_id: String,
    /// `master`, `self_signing` or `user_signing`.
    pub usage: String,
    /// `ed25519:<public key>`.
    pub key_id: String,
    /// Canonical JSON as uploaded.
    pub json: String,
}

/// A signature of a device's keys or a master key.
#[derive(Debug, Clone)]
pub struct KeySignature {
    pub signer_user_id: String,
    pub signer_key_id: String,
    pub target_user_id: String,
    /// The device ID, or the master key's public key.
    pub target_key_id: String,
    pub signature: String,
}

impl Store {
    /// The cross-signing keys of these users.
    pub async fn cross_signing_keys_of(
        &self,
        user_ids: &[String],
    ) -> Result<Vec<CrossSigningKeyRow>, StoreError> {
        let rows = self
            .client()
            .await?
            .cached_query(
                "SELECT user_id, usage, key_id, json FROM cross_signing_keys
                 WHERE user_id = ANY($1)",
                &[&user_ids],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| CrossSigningKeyRow {
                user_id: row.get(0),
                usage: row.get(1),
                key_id: row.get(2),
                json: row.get(3),
            })
            .collect())
    }

    /// Stores (usage, key ID, JSON) keys of a user, replacing those of the
    /// same usage, and records a device list change; its position.
    pub async fn set_cross_signing_keys(
        &self,
        user_id: &str,
        keys: &[(&str, String, String)],
    ) -> Result<i64, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        for (usage, key_id, json) in keys {
            tx.cached_execute(
                "INSERT INTO cross_signing_keys (user_id, usage, key_id, json)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (user_id, usage) DO UPDATE
                 SET key_id = excluded.key_id, json = excluded.json",
                &[&user_id, usage, key_id, json],
            )
            .await?;
        }
        let position = record_change(&tx, user_id).await?;
        tx.commit().await?;
        Ok(position)
    }

    /// The uploaded signatures of these users' keys that `viewer` may see:
    /// those each user made of their own keys, and those `viewer` made.
    pub async fn key_signatures_of(
        &self,
        target_user_ids: &[String],
        viewer: &str,
    ) -> Result<Vec<KeySignature>, StoreError> {
        let rows = self
            .client()
            .await?
            .cached_query(
                "SELECT signer_user_id, signer_key_id, target_user_id, target_key_id, signature
                 FROM key_signatures
                 WHERE target_user_id = ANY($1)
                   AND (signer_user_id = target_user_id OR signer_user_id = $2)",
                &[&target_user_ids, &viewer],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| KeySignature {
                signer_user_id: row.get(0),
                signer_key_id: row.get(1),
                target_user_id: row.get(2),
                target_key_id: row.get(3),
                signature: row.get(4),
            })
            .collect())
    }

    /// Stores signatures and records a device list change of each user
    /// whose keys gained one; the last position recorded.
    pub async fn add_key_signatures(
        &self,
        signatures: &[KeySignature],
    ) -> Result<Option<i64>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        for signature in signatures {
            tx.cached_execute(
                "INSERT INTO key_signatures (signer_user_id, signer_key_id, target_user_id,
                     target_key_id, signature)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (target_user_id, target_key_id, signer_user_id, signer_key_id)
                 DO UPDATE SET signature = excluded.signature",
                &[
                    &signature.signer_user_id,
                    &signature.signer_key_id,
                    &signature.target_user_id,
                    &signature.target_key_id,
                    &signature.signature,
                ],
            )
            .await?;
        }
        let mut targets: Vec<&str> = signatures
            .iter()
            .map(|s| s.target_user_id.as_str())
            .collect();
        targets.sort_unstable();
        targets.dedup();
        let mut position = None;
        for target in targets {
            position = Some(record_change(&tx, target).await?);
        }
        tx.commit().await?;
        Ok(position)
    }
}
