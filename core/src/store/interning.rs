//! Interned strings: event types and state keys (which include every user
//! ID that sends or is a member) as numbers.
//!
//! Interning commits on its own connection, never inside a room write: a
//! number handed out stays valid even if the write that wanted it rolls
//! back, so it can be cached.

use std::collections::HashMap;

use super::prepared::Prepared;
use super::{Store, StoreError};

impl Store {
    /// The numbers of `event_types`, creating those not seen before.
    pub async fn intern_event_types(
        &self,
        event_types: &[&str],
    ) -> Result<HashMap<String, i32>, StoreError> {
        let client = self.client().await?;
        client
            .cached_execute(
                "INSERT INTO event_types (event_type) SELECT unnest($1::text[])
                 ON CONFLICT DO NOTHING",
                &[&event_types],
            )
            .await?;
        let rows = client
            .cached_query(
                "SELECT event_type, type_nid FROM event_types WHERE event_type = ANY($1)",
                &[&event_types],
            )
            .await?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    /// The numbers of `state_keys`, creating those not seen before.
    pub async fn intern_state_keys(
        &self,
        state_keys: &[&str],
    ) -> Result<HashMap<String, i64>, StoreError> {
        let client = self.client().await?;
        client
            .cached_execute(
                "INSERT INTO state_keys (state_key) SELECT unnest($1::text[])
                 ON CONFLICT DO NOTHING",
                &[&state_keys],
            )
            .await?;
        let rows = client
            .cached_query(
                "SELECT state_key, state_key_nid FROM state_keys WHERE state_key = ANY($1)",
                &[&state_keys],
            )
            .await?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    /// The numbers of those `event_types` already interned.
    pub async fn event_type_nids(
        &self,
        event_types: &[&str],
    ) -> Result<HashMap<String, i32>, StoreError> {
        let rows = self
            .client()
            .await?
            .cached_query(
                "SELECT event_type, type_nid FROM event_types WHERE event_type = ANY($1)",
                &[&event_types],
            )
            .await?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    /// The numbers of those `state_keys` already interned.
    pub async fn state_key_nids(
        &self,
        state_keys: &[&str],
    ) -> Result<HashMap<String, i64>, StoreError> {
        let rows = self
            .client()
            .await?
            .cached_query(
                "SELECT state_key, state_key_nid FROM state_keys WHERE state_key = ANY($1)",
                &[&state_keys],
            )
            .await?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    /// The strings of interned event types and state keys.
    pub async fn interned_strings(
        &self,
        type_nids: &[i32],
        state_key_nids: &[i64],
    ) -> Result<(HashMap<i32, String>, HashMap<i64, String>), StoreError> {
        let client = self.client().await?;
        let types = client
            .cached_query(
                "SELECT type_nid, event_type FROM event_types WHERE type_nid = ANY($1)",
                &[&type_nids],
            )
            .await?;
        let keys = client
            .cached_query(
                "SELECT state_key_nid, state_key FROM state_keys WHERE state_key_nid = ANY($1)",
                &[&state_key_nids],
            )
            .await?;
        Ok((
            types.iter().map(|row| (row.get(0), row.get(1))).collect(),
            keys.iter().map(|row| (row.get(0), row.get(1))).collect(),
        ))
    }
}
