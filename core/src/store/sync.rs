//! What /sync reads: which rooms have new events, and the changes of
//! the other streams between two positions.

use super::prepared::Prepared;
use super::{PresenceRow, Store, StoreError};

/// A read receipt as /sync sends it.
#[derive(Debug, Clone)]
pub struct ReceiptRow {
    pub room_nid: i64,
    pub user_id: String,
    pub receipt_type: String,
    pub thread_id: String,
    pub event_id: String,
    pub ts: i64,
}

/// A room's member counts.
#[derive(Debug, Clone, Copy)]
pub struct MemberCounts {
    pub joined: i64,
    pub invited: i64,
}

impl Store {
    /// The rooms among `room_nids` with events after position `after` up
    /// to `upto`, each with whether it is encrypted and its membership
    /// changed in that range (what device list changes need to know).
    pub async fn rooms_with_events(
        &self,
        room_nids: &[i64],
        after: i64,
        upto: i64,
    ) -> Result<Vec<(i64, bool)>, StoreError> {
        let rows = self
            .client()
            .await?
            .cached_query(
                "SELECT r.nid,
                        CASE WHEN rm.encrypted THEN EXISTS (
                            SELECT 1 FROM events e
                            JOIN event_types t ON t.type_nid = e.type_nid
                            WHERE e.room_nid = r.nid AND t.event_type = 'm.room.member'
                              AND e.stream_ordering > $2 AND e.stream_ordering <= $3)
                        ELSE FALSE END
                 FROM unnest($1::bigint[]) AS r(nid)
                 JOIN rooms rm ON rm.room_nid = r.nid
                 WHERE EXISTS (SELECT 1 FROM events
                               WHERE room_nid = r.nid
                                 AND stream_ordering > $2 AND stream_ordering <= $3)",
                &[&room_nids, &after, &upto],
            )
            .await?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }

    /// The user's account data written after `after` up to `upto`, as
    /// (room ID or "" for global, type, content).
    pub async fn account_data_changes(
        &self,
        user_id: &str,
        after: i64,
        upto: i64,
    ) -> Result<Vec<(String, String, String)>, StoreError> {
        let rows = self
            .client()
            .await?
            .cached_query(
                "SELECT room_id, data_type, content FROM account_data
                 WHERE user_id = $1 AND stream_pos > $2 AND stream_pos <= $3
                 ORDER BY stream_pos",
                &[&user_id, &after, &upto],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| (row.get(0), row.get(1), row.get(2)))
            .collect())
    }

    /// Receipts in the rooms that moved after `after` up to `upto`
    /// (`after` 0: all of them).
    pub async fn receipt_changes(
        &self,
        room_nids: &[i64],
        after: i64,
        upto: i64,
    ) -> Result<Vec<ReceiptRow>, StoreError> {
        let rows = self
            .client()
            .await?
            .cached_query(
                "SELECT r.room_nid, r.user_id, r.receipt_type, r.thread_id, e.event_id, r.ts
                 FROM receipts r JOIN events e ON e.event_nid = r.event_nid
                 WHERE r.room_nid = ANY($1) AND r.stream_pos > $2 AND r.stream_pos <= $3",
                &[&room_nids, &after, &upto],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| ReceiptRow {
                room_nid: row.get(0),
                user_id: row.get(1),
                receipt_type: row.get(2),
                thread_id: row.get(3),
                event_id: row.get(4),
                ts: row.get(5),
            })
            .collect())
    }

    /// Presence changes after `after` up to `upto` of the user and of
    /// everyone sharing a joined room with them.
    pub async fn presence_changes(
        &self,
        user_id: &str,
        after: i64,
        upto: i64,
    ) -> Result<Vec<(String, PresenceRow)>, StoreError> {
        let rows = self
            .client()
            .await?
            .cached_query(
                "WITH me AS (SELECT state_key_nid FROM state_keys WHERE state_key = $1),
                 peers AS (
                     SELECT DISTINCT k.state_key AS user_id
                     FROM memberships mine
                     JOIN memberships theirs ON theirs.room_nid = mine.room_nid
                     JOIN state_keys k ON k.state_key_nid = theirs.user_nid
                     WHERE mine.user_nid = (SELECT state_key_nid FROM me)
                       AND mine.membership = 'join' AND theirs.membership = 'join')
                 SELECT p.user_id, p.state, p.status_msg, p.last_active_ts FROM presence p
                 WHERE p.stream_pos > $2 AND p.stream_pos <= $3
                   AND (p.user_id = $1 OR p.user_id IN (SELECT user_id FROM peers))",
                &[&user_id, &after, &upto],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| {
                (
                    row.get(0),
                    PresenceRow {
                        state: row.get(1),
                        status_msg: row.get(2),
                        last_active_ts: row.get(3),
                    },
                )
            })
            .collect())
    }

    /// The room's joined and invited member counts.
    pub async fn member_counts(&self, room_nid: i64) -> Result<MemberCounts, StoreError> {
        let row = self
            .client()
            .await?
            .cached_query_one(
                "SELECT count(*) FILTER (WHERE membership = 'join'),
                        count(*) FILTER (WHERE membership = 'invite')
                 FROM memberships WHERE room_nid = $1",
                &[&room_nid],
            )
            .await?;
        Ok(MemberCounts {
            joined: row.get(0),
            invited: row.get(1),
        })
    }

    /// Up to `limit` joined or invited members of the room other than
    /// `user_id`, by user ID: the heroes a client names a room after.
    pub async fn heroes(
        &self,
        room_nid: i64,
        user_id: &str,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        let rows = self
            .client()
            .await?
            .cached_query(
                "SELECT k.state_key FROM memberships m
                 JOIN state_keys k ON k.state_key_nid = m.user_nid
                 WHERE m.room_nid = $1 AND m.membership IN ('join', 'invite')
                   AND k.state_key <> $2
                 ORDER BY k.state_key LIMIT $3",
                &[&room_nid, &user_id, &limit],
            )
            .await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }
}

impl Store {
    /// Where the user has read up to in the room, per thread ID (`""`
    /// for unthreaded receipts): the latest event their public or private
    /// read receipts point at.
    /// As [`Store::read_positions`], for each of `rooms` at once: (room,
    /// thread ID, position).
    pub async fn read_positions_in(
        &self,
        rooms: &[i64],
        user_id: &str,
    ) -> Result<Vec<(i64, String, i64)>, StoreError> {
        let rows = self
            .client()
            .await?
            .cached_query(
                "SELECT r.room_nid, r.thread_id, max(e.stream_ordering) FROM receipts r
                 JOIN events e ON e.event_nid = r.event_nid
                 WHERE r.room_nid = ANY($1) AND r.user_id = $2
                   AND r.receipt_type IN ('m.read', 'm.read.private')
                 GROUP BY r.room_nid, r.thread_id",
                &[&rooms, &user_id],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| (row.get(0), row.get(1), row.get(2)))
            .collect())
    }

    pub async fn read_positions(
        &self,
        room_nid: i64,
        user_id: &str,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = self
            .client()
            .await?
            .cached_query(
                "SELECT r.thread_id, max(e.stream_ordering) FROM receipts r
                 JOIN events e ON e.event_nid = r.event_nid
                 WHERE r.room_nid = $1 AND r.user_id = $2
                   AND r.receipt_type IN ('m.read', 'm.read.private')
                 GROUP BY r.thread_id ORDER BY r.thread_id",
                &[&room_nid, &user_id],
            )
            .await?;
        Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
    }
}
