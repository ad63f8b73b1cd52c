//! Presence of local users.

use super::prepared::Prepared;
use super::{Store, StoreError};

/// A user's stored presence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresenceRow {
    pub state: String,
    pub status_msg: Option<String>,
    pub last_active_ts: i64,
}

impl Store {
    pub async fn set_presence(
        &self,
        user_id: &str,
        state: &str,
        status_msg: Option<&str>,
        now_ms: i64,
    ) -> Result<i64, StoreError> {
        self.query_value(
            "INSERT INTO presence (user_id, state, status_msg, last_active_ts, stream_pos)
                 VALUES ($1, $2, $3, $4, nextval('presence_stream'))
                 ON CONFLICT (user_id) DO UPDATE
                 SET state = EXCLUDED.state, status_msg = EXCLUDED.status_msg,
                     last_active_ts = CASE WHEN EXCLUDED.state = 'online'
                                           THEN EXCLUDED.last_active_ts
                                           ELSE presence.last_active_ts END,
                     stream_pos = EXCLUDED.stream_pos
                 RETURNING stream_pos",
            &[&user_id, &state, &status_msg, &now_ms],
        )
        .await
    }

    pub async fn presence(&self, user_id: &str) -> Result<Option<PresenceRow>, StoreError> {
        let row = self
            .client()
            .await?
            .cached_query_opt(
                "SELECT state, status_msg, last_active_ts FROM presence WHERE user_id = $1",
                &[&user_id],
            )
            .await?;
        Ok(row.map(|row| PresenceRow {
            state: row.get(0),
            status_msg: row.get(1),
            last_active_ts: row.get(2),
        }))
    }

    /// Whether both users are joined to some room.
    pub async fn share_a_room(&self, user: &str, other: &str) -> Result<bool, StoreError> {
        self.query_value(
            "SELECT EXISTS (
                 SELECT 1 FROM memberships a
                 JOIN memberships b ON b.room_nid = a.room_nid
                 WHERE a.user_nid = (SELECT state_key_nid FROM state_keys WHERE state_key = $1)
                   AND b.user_nid = (SELECT state_key_nid FROM state_keys WHERE state_key = $2)
                   AND a.membership = 'join' AND b.membership = 'join')",
            &[&user, &other],
        )
        .await
    }
}
