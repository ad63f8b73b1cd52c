//! This server's own signing keys, as published to other servers.

use super::prepared::Prepared;
use super::{Store, StoreError};

/// A signing key this server used before its current one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetiredKey {
    pub key_id: String,
    /// Unpadded base64 of the ed25519 public key.
    pub public_key: String,
    /// Milliseconds since the epoch when it stopped being used.
    pub retired_ts: i64,
}

impl Store {
    /// Records `key_id` as the key in use from `now_ms` on, retiring any
    /// other key still marked in use. Idempotent across restarts.
    pub async fn record_signing_key(
        &self,
        key_id: &str,
        public_key: &str,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.cached_execute(
            "UPDATE local_server_keys SET retired_ts = $2
             WHERE retired_ts IS NULL AND key_id <> $1",
            &[&key_id, &now_ms],
        )
        .await?;
        tx.cached_execute(
            "INSERT INTO local_server_keys (key_id, public_key, first_used_ts)
             VALUES ($1, $2, $3)
             ON CONFLICT (key_id) DO UPDATE SET retired_ts = NULL",
            &[&key_id, &public_key, &now_ms],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every key this server has stopped using, oldest first.
    pub async fn retired_signing_keys(&self) -> Result<Vec<RetiredKey>, StoreError> {
        let rows = self
            .client()
            .await?
            .cached_query(
                "SELECT key_id, public_key, retired_ts FROM local_server_keys
                 WHERE retired_ts IS NOT NULL ORDER BY retired_ts, key_id",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| RetiredKey {
                key_id: row.get(0),
                public_key: row.get(1),
                retired_ts: row.get(2),
            })
            .collect())
    }
}
