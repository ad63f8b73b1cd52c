//! Filters uploaded by local users.

use super::prepared::Prepared;
use super::{Store, StoreError};

impl Store {
    /// Stores a filter's JSON text; returns its ID.
    pub async fn insert_filter(&self, user_id: &str, json: &str) -> Result<i64, StoreError> {
        self.query_value(
            "INSERT INTO filters (user_id, json) VALUES ($1, $2) RETURNING filter_id",
            &[&user_id, &json],
        )
        .await
    }

    pub async fn filter(
        &self,
        user_id: &str,
        filter_id: i64,
    ) -> Result<Option<String>, StoreError> {
        let row = self
            .client()
            .await?
            .cached_query_opt(
                "SELECT json FROM filters WHERE user_id = $1 AND filter_id = $2",
                &[&user_id, &filter_id],
            )
            .await?;
        Ok(row.map(|row| row.get(0)))
    }
}
