//! Other servers' signing keys, as fetched from them or from a notary.

use super::prepared::Prepared;
use super::{Store, StoreError};

/// A remote server's key, with the time up to which it may verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteKeyRow {
    pub key_id: String,
    /// Unpadded base64 of the ed25519 public key.
    pub public_key: String,
    pub valid_until_ts: i64,
}

/// A fetched key document and the keys read from it.
#[derive(Debug, Clone)]
pub struct RemoteKeyDocument<'a> {
    pub server_name: &'a str,
    /// Canonical JSON as signed by its server.
    pub json: &'a str,
    pub valid_until_ts: i64,
    pub fetched_ts: i64,
    pub keys: &'a [RemoteKeyRow],
}

impl Store {
    /// The known key `key_id` of `server_name`.
    pub async fn remote_key(
        &self,
        server_name: &str,
        key_id: &str,
    ) -> Result<Option<RemoteKeyRow>, StoreError> {
        let row = self
            .client()
            .await?
            .cached_query_opt(
                "SELECT key_id, public_key, valid_until_ts FROM remote_server_keys
                 WHERE server_name = $1 AND key_id = $2",
                &[&server_name, &key_id],
            )
            .await?;
        Ok(row.map(|row| RemoteKeyRow {
            key_id: row.get(0),
            public_key: row.get(1),
            valid_until_ts: row.get(2),
        }))
    }

    /// Records a fetched document: it replaces the previous one, and its
    /// keys are added; keys it no longer lists keep their rows, since old
    /// events stay signed with them. A key's validity only grows, so an
    /// older document arriving late cannot shorten it.
    pub async fn record_remote_keys(
        &self,
        document: &RemoteKeyDocument<'_>,
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.cached_execute(
            "INSERT INTO remote_key_documents (server_name, json, valid_until_ts, fetched_ts)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (server_name) DO UPDATE
                 SET json = EXCLUDED.json, valid_until_ts = EXCLUDED.valid_until_ts,
                     fetched_ts = EXCLUDED.fetched_ts
                 WHERE remote_key_documents.valid_until_ts <= EXCLUDED.valid_until_ts",
            &[
                &document.server_name,
                &document.json,
                &document.valid_until_ts,
                &document.fetched_ts,
            ],
        )
        .await?;
        for key in document.keys {
            tx.cached_execute(
                "INSERT INTO remote_server_keys (server_name, key_id, public_key, valid_until_ts)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (server_name, key_id) DO UPDATE
                     SET valid_until_ts = GREATEST(remote_server_keys.valid_until_ts,
                                                   EXCLUDED.valid_until_ts)
                     WHERE remote_server_keys.public_key = EXCLUDED.public_key",
                &[
                    &document.server_name,
                    &key.key_id,
                    &key.public_key,
                    &key.valid_until_ts,
                ],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The last document fetched from `server_name`: its JSON and validity.
    pub async fn remote_key_document(
        &self,
        server_name: &str,
    ) -> Result<Option<(String, i64)>, StoreError> {
        let row = self
            .client()
            .await?
            .cached_query_opt(
                "SELECT json, valid_until_ts FROM remote_key_documents WHERE server_name = $1",
                &[&server_name],
            )
            .await?;
        Ok(row.map(|row| (row.get(0), row.get(1))))
    }
}
