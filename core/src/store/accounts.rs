//! Accounts and their profile fields.

use serde_json::{Map, Value};

use super::prepared::Prepared;
use super::{Store, StoreError};

/// A local account as stored.
#[derive(Debug, Clone)]
pub struct AccountRow {
    pub user_id: String,
    pub password_hash: Option<String>,
    pub is_admin: bool,
    pub is_guest: bool,
    pub created_ts: i64,
    pub deactivated_ts: Option<i64>,
}

/// What creating an account stores.
#[derive(Debug, Clone)]
pub struct NewAccount<'a> {
    pub user_id: &'a str,
    pub localpart: &'a str,
    pub password_hash: Option<&'a str>,
    pub is_admin: bool,
    pub is_guest: bool,
    pub now_ms: i64,
}

const ACCOUNT_COLUMNS: &str =
    "user_id, password_hash, is_admin, is_guest, created_ts, deactivated_ts";

fn account_from_row(row: &tokio_postgres::Row) -> AccountRow {
    AccountRow {
        user_id: row.get(0),
        password_hash: row.get(1),
        is_admin: row.get(2),
        is_guest: row.get(3),
        created_ts: row.get(4),
        deactivated_ts: row.get(5),
    }
}

impl Store {
    /// Creates the account; `false` when the user ID or localpart is taken.
    pub async fn insert_account(&self, account: &NewAccount<'_>) -> Result<bool, StoreError> {
        let inserted = self
            .client()
            .await?
            .cached_execute(
                "INSERT INTO accounts (user_id, localpart, password_hash, is_admin, is_guest, created_ts)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                &[
                    &account.user_id,
                    &account.localpart,
                    &account.password_hash,
                    &account.is_admin,
                    &account.is_guest,
                    &account.now_ms,
                ],
            )
            .await?;
        Ok(inserted == 1)
    }

    pub async fn account(&self, user_id: &str) -> Result<Option<AccountRow>, StoreError> {
        let row = self
            .client()
            .await?
            .cached_query_opt(
                &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE user_id = $1"),
                &[&user_id],
            )
            .await?;
        Ok(row.as_ref().map(account_from_row))
    }

    /// Every account, oldest first.
    pub async fn accounts(&self) -> Result<Vec<AccountRow>, StoreError> {
        let rows = self
            .client()
            .await?
            .cached_query(
                &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY created_ts, user_id"),
                &[],
            )
            .await?;
        Ok(rows.iter().map(account_from_row).collect())
    }

    pub async fn localpart_taken(&self, localpart: &str) -> Result<bool, StoreError> {
        Ok(self
            .client()
            .await?
            .cached_query_opt("SELECT 1 FROM accounts WHERE localpart = $1", &[&localpart])
            .await?
            .is_some())
    }

    pub async fn set_password_hash(&self, user_id: &str, hash: &str) -> Result<bool, StoreError> {
        let updated = self
            .client()
            .await?
            .cached_execute(
                "UPDATE accounts SET password_hash = $2
                 WHERE user_id = $1 AND deactivated_ts IS NULL",
                &[&user_id, &hash],
            )
            .await?;
        Ok(updated == 1)
    }

    /// Deactivates the account for good: no password, no devices (and so
    /// no tokens), no profile. The user ID stays taken.
    pub async fn deactivate_account(&self, user_id: &str, now_ms: i64) -> Result<bool, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let updated = tx
            .cached_execute(
                "UPDATE accounts SET deactivated_ts = $2, password_hash = NULL
                 WHERE user_id = $1 AND deactivated_ts IS NULL",
                &[&user_id, &now_ms],
            )
            .await?;
        tx.cached_execute("DELETE FROM devices WHERE user_id = $1", &[&user_id])
            .await?;
        tx.cached_execute("DELETE FROM profile_fields WHERE user_id = $1", &[&user_id])
            .await?;
        tx.cached_execute("DELETE FROM uia_sessions WHERE user_id = $1", &[&user_id])
            .await?;
        tx.commit().await?;
        Ok(updated == 1)
    }

    /// All profile fields of a user.
    pub async fn profile_fields(&self, user_id: &str) -> Result<Map<String, Value>, StoreError> {
        let rows = self
            .client()
            .await?
            .cached_query(
                "SELECT field, value FROM profile_fields WHERE user_id = $1",
                &[&user_id],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| (row.get::<_, String>(0), row.get::<_, Value>(1)))
            .collect())
    }

    pub async fn set_profile_field(
        &self,
        user_id: &str,
        field: &str,
        value: &Value,
    ) -> Result<(), StoreError> {
        self.client()
            .await?
            .cached_execute(
                "INSERT INTO profile_fields (user_id, field, value) VALUES ($1, $2, $3)
                 ON CONFLICT (user_id, field) DO UPDATE SET value = EXCLUDED.value",
                &[&user_id, &field, value],
            )
            .await?;
        Ok(())
    }

    pub async fn delete_profile_field(&self, user_id: &str, field: &str) -> Result<(), StoreError> {
        self.client()
            .await?
            .cached_execute(
                "DELETE FROM profile_fields WHERE user_id = $1 AND field = $2",
                &[&user_id, &field],
            )
            .await?;
        Ok(())
    }
}
