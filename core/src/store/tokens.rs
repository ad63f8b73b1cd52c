//! Access and refresh tokens, stored as SHA-256 hashes.

use super::prepared::Prepared;
use super::{Store, StoreError};

/// Who an access token belongs to, and its state.
#[derive(Debug, Clone)]
pub struct TokenOwner {
    pub user_id: String,
    pub device_id: String,
    pub is_guest: bool,
    pub is_admin: bool,
    pub deactivated: bool,
    pub expires_ts: Option<i64>,
    pub used: bool,
    pub refresh_token_id: Option<i64>,
}

/// A refresh token as stored.
#[derive(Debug, Clone)]
pub struct RefreshTokenRow {
    pub id: i64,
    pub user_id: String,
    pub device_id: String,
    pub next_id: Option<i64>,
}

/// A new access token (and optionally a refresh token) for a device.
#[derive(Debug, Clone)]
pub struct NewTokens<'a> {
    pub user_id: &'a str,
    pub device_id: &'a str,
    pub access_hash: &'a [u8],
    pub access_expires_ts: Option<i64>,
    pub refresh_hash: Option<&'a [u8]>,
    pub now_ms: i64,
}

impl Store {
    /// Stores the tokens.
    pub async fn insert_tokens(&self, tokens: &NewTokens<'_>) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        insert_tokens(&tx, tokens).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The owner of the access token with this hash.
    pub async fn token_owner(&self, access_hash: &[u8]) -> Result<Option<TokenOwner>, StoreError> {
        let row = self
            .client()
            .await?
            .cached_query_opt(
                "SELECT t.user_id, t.device_id, a.is_guest, a.is_admin,
                        a.deactivated_ts IS NOT NULL, t.expires_ts, t.used, t.refresh_token_id
                 FROM access_tokens t JOIN accounts a USING (user_id)
                 WHERE t.token_hash = $1",
                &[&access_hash],
            )
            .await?;
        Ok(row.map(|row| TokenOwner {
            user_id: row.get(0),
            device_id: row.get(1),
            is_guest: row.get(2),
            is_admin: row.get(3),
            deactivated: row.get(4),
            expires_ts: row.get(5),
            used: row.get(6),
            refresh_token_id: row.get(7),
        }))
    }

    /// Marks an access token used. The first use of a token issued by a
    /// refresh retires the refresh token that was spent for it.
    pub async fn mark_token_used(
        &self,
        access_hash: &[u8],
        refresh_token_id: Option<i64>,
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.cached_execute(
            "UPDATE access_tokens SET used = TRUE WHERE token_hash = $1",
            &[&access_hash],
        )
        .await?;
        if let Some(id) = refresh_token_id {
            tx.cached_execute("DELETE FROM refresh_tokens WHERE next_id = $1", &[&id])
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn refresh_token(&self, hash: &[u8]) -> Result<Option<RefreshTokenRow>, StoreError> {
        let row = self
            .client()
            .await?
            .cached_query_opt(
                "SELECT id, user_id, device_id, next_id FROM refresh_tokens WHERE token_hash = $1",
                &[&hash],
            )
            .await?;
        Ok(row.map(|row| RefreshTokenRow {
            id: row.get(0),
            user_id: row.get(1),
            device_id: row.get(2),
            next_id: row.get(3),
        }))
    }

    /// Spends refresh token `old_id` for the new pair: links them, drops a
    /// pair an earlier spend of the same token issued but nobody used, and
    /// retires the refresh token that `old_id` itself replaced.
    pub async fn spend_refresh_token(
        &self,
        old_id: i64,
        tokens: &NewTokens<'_>,
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let new_id = insert_tokens(&tx, tokens).await?;
        let previous_next: Option<i64> = tx
            .cached_query_one(
                "SELECT next_id FROM refresh_tokens WHERE id = $1",
                &[&old_id],
            )
            .await?
            .get(0);
        tx.cached_execute(
            "UPDATE refresh_tokens SET next_id = $2 WHERE id = $1",
            &[&old_id, &new_id],
        )
        .await?;
        if let Some(unused) = previous_next {
            tx.cached_execute("DELETE FROM refresh_tokens WHERE id = $1", &[&unused])
                .await?;
        }
        tx.cached_execute("DELETE FROM refresh_tokens WHERE next_id = $1", &[&old_id])
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Inserts the tokens in `tx`; returns the refresh token's row ID if one
/// was given.
async fn insert_tokens(
    tx: &deadpool_postgres::Transaction<'_>,
    tokens: &NewTokens<'_>,
) -> Result<Option<i64>, StoreError> {
    let refresh_id = match tokens.refresh_hash {
        Some(hash) => Some(
            tx.cached_query_one(
                "INSERT INTO refresh_tokens (token_hash, user_id, device_id, created_ts)
                 VALUES ($1, $2, $3, $4) RETURNING id",
                &[&hash, &tokens.user_id, &tokens.device_id, &tokens.now_ms],
            )
            .await?
            .get::<_, i64>(0),
        ),
        None => None,
    };
    tx.cached_execute(
        "INSERT INTO access_tokens
             (token_hash, user_id, device_id, created_ts, expires_ts, refresh_token_id)
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            &tokens.access_hash,
            &tokens.user_id,
            &tokens.device_id,
            &tokens.now_ms,
            &tokens.access_expires_ts,
            &refresh_id,
        ],
    )
    .await?;
    Ok(refresh_id)
}
