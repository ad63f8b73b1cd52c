//! What federation keeps beside the rooms: the transactions other servers
//! sent, with the answers they got.

use super::prepared::Prepared;
use super::{Store, StoreError};

impl Store {
    /// The answer given to transaction `txn_id` of `origin`, if seen.
    pub async fn inbound_transaction(
        &self,
        origin: &str,
        txn_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let row = self
            .client()
            .await?
            .cached_query_opt(
                "SELECT response FROM federation_inbound_txns WHERE origin = $1 AND txn_id = $2",
                &[&origin, &txn_id],
            )
            .await?;
        Ok(row.map(|row| row.get(0)))
    }

    /// Records the answer to a transaction. A concurrent copy of the same
    /// transaction may have recorded it first; its answer stays.
    pub async fn record_inbound_transaction(
        &self,
        origin: &str,
        txn_id: &str,
        response: &str,
    ) -> Result<(), StoreError> {
        self.client()
            .await?
            .cached_execute(
                "INSERT INTO federation_inbound_txns (origin, txn_id, response, received_ts)
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                &[&origin, &txn_id, &response, &crate::clock::now_ms()],
            )
            .await?;
        Ok(())
    }

    /// The servers of the room's joined members.
    pub async fn joined_servers(&self, room_nid: i64) -> Result<Vec<String>, StoreError> {
        let rows = self
            .client()
            .await?
            .cached_query(
                "SELECT DISTINCT substr(k.state_key, strpos(k.state_key, ':') + 1)
                 FROM memberships m JOIN state_keys k ON k.state_key_nid = m.user_nid
                 WHERE m.room_nid = $1 AND m.membership = 'join'",
                &[&room_nid],
            )
            .await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    /// Whether a user of `server` is joined to the room.
    pub async fn server_in_room(&self, room_nid: i64, server: &str) -> Result<bool, StoreError> {
        let row = self
            .client()
            .await?
            .cached_query_one(
                "SELECT EXISTS (
                     SELECT 1 FROM room_servers s
                     JOIN federation_destinations d ON d.destination_nid = s.destination_nid
                     WHERE s.room_nid = $1 AND d.server_name = $2 AND s.joined > 0)",
                &[&room_nid, &server],
            )
            .await?;
        Ok(row.get(0))
    }
}
