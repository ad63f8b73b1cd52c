//! User-interactive authentication sessions and registration tokens.

use super::prepared::Prepared;
use super::{Store, StoreError};

#[derive(Debug, Clone)]
pub struct UiaSessionRow {
    pub action: String,
    pub user_id: Option<String>,
    pub completed: Vec<String>,
    pub registration_token: Option<String>,
    pub created_ts: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationTokenRow {
    pub token: String,
    pub uses_allowed: Option<i32>,
    pub completed: i32,
    pub expiry_ts: Option<i64>,
}

impl Store {
    pub async fn create_uia_session(
        &self,
        session_id: &str,
        action: &str,
        user_id: Option<&str>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.client()
            .await?
            .cached_execute(
                "INSERT INTO uia_sessions (session_id, action, user_id, created_ts)
                 VALUES ($1, $2, $3, $4)",
                &[&session_id, &action, &user_id, &now_ms],
            )
            .await?;
        Ok(())
    }

    pub async fn uia_session(&self, session_id: &str) -> Result<Option<UiaSessionRow>, StoreError> {
        let row = self
            .client()
            .await?
            .cached_query_opt(
                "SELECT action, user_id, completed, registration_token, created_ts
                 FROM uia_sessions WHERE session_id = $1",
                &[&session_id],
            )
            .await?;
        Ok(row.map(|row| UiaSessionRow {
            action: row.get(0),
            user_id: row.get(1),
            completed: row.get(2),
            registration_token: row.get(3),
            created_ts: row.get(4),
        }))
    }

    /// Records a completed stage (and the registration token it checked).
    pub async fn complete_uia_stage(
        &self,
        session_id: &str,
        stage: &str,
        registration_token: Option<&str>,
    ) -> Result<(), StoreError> {
        self.client()
            .await?
            .cached_execute(
                "UPDATE uia_sessions
                 SET completed = array_append(completed, $2),
                     registration_token = COALESCE($3, registration_token)
                 WHERE session_id = $1 AND NOT ($2 = ANY(completed))",
                &[&session_id, &stage, &registration_token],
            )
            .await?;
        Ok(())
    }

    pub async fn delete_uia_session(&self, session_id: &str) -> Result<(), StoreError> {
        self.client()
            .await?
            .cached_execute(
                "DELETE FROM uia_sessions WHERE session_id = $1",
                &[&session_id],
            )
            .await?;
        Ok(())
    }

    pub async fn create_registration_token(
        &self,
        token: &str,
        uses_allowed: Option<i32>,
        expiry_ts: Option<i64>,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let inserted = self
            .client()
            .await?
            .cached_execute(
                "INSERT INTO registration_tokens (token, uses_allowed, expiry_ts, created_ts)
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                &[&token, &uses_allowed, &expiry_ts, &now_ms],
            )
            .await?;
        Ok(inserted == 1)
    }

    pub async fn registration_tokens(&self) -> Result<Vec<RegistrationTokenRow>, StoreError> {
        let rows = self
            .client()
            .await?
            .cached_query(
                "SELECT token, uses_allowed, completed, expiry_ts FROM registration_tokens
                 ORDER BY created_ts, token",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| RegistrationTokenRow {
                token: row.get(0),
                uses_allowed: row.get(1),
                completed: row.get(2),
                expiry_ts: row.get(3),
            })
            .collect())
    }

    /// Whether the token exists, has not expired and has uses left.
    pub async fn registration_token_usable(
        &self,
        token: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        Ok(self
            .client()
            .await?
            .cached_query_opt(
                "SELECT 1 FROM registration_tokens
                 WHERE token = $1 AND (expiry_ts IS NULL OR expiry_ts > $2)
                   AND (uses_allowed IS NULL OR completed < uses_allowed)",
                &[&token, &now_ms],
            )
            .await?
            .is_some())
    }

    /// Uses the token up by one registration, atomically: `false` when it
    /// is gone, expired or used up by now.
    pub async fn consume_registration_token(
        &self,
        token: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let updated = self
            .client()
            .await?
            .cached_execute(
                "UPDATE registration_tokens SET completed = completed + 1
                 WHERE token = $1 AND (expiry_ts IS NULL OR expiry_ts > $2)
                   AND (uses_allowed IS NULL OR completed < uses_allowed)",
                &[&token, &now_ms],
            )
            .await?;
        Ok(updated == 1)
    }
}
