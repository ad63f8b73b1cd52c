//! Read receipts of local users.

use super::prepared::Prepared;
use super::{Store, StoreError};

/// A receipt to record.
#[derive(Debug, Clone)]
pub struct NewReceipt<'a> {
    pub room_nid: i64,
    pub user_id: &'a str,
    pub receipt_type: &'a str,
    /// `""` for an unthreaded receipt.
    pub thread_id: &'a str,
    pub event_nid: i64,
    pub ts: i64,
}

impl Store {
    /// Records the receipt unless the user's receipt of that kind already
    /// points at a later event: receipts only move forward. Returns the
    /// new stream position, if the receipt moved.
    pub async fn put_receipt(&self, receipt: &NewReceipt<'_>) -> Result<Option<i64>, StoreError> {
        let row = self
            .client()
            .await?
            .cached_query_opt(
                "INSERT INTO receipts (room_nid, user_id, receipt_type, thread_id, event_nid,
                                       ts, stream_pos)
                 VALUES ($1, $2, $3, $4, $5, $6, nextval('receipts_stream'))
                 ON CONFLICT (room_nid, user_id, receipt_type, thread_id) DO UPDATE
                 SET event_nid = EXCLUDED.event_nid, ts = EXCLUDED.ts,
                     stream_pos = EXCLUDED.stream_pos
                 WHERE (SELECT stream_ordering FROM events WHERE event_nid = EXCLUDED.event_nid)
                     > (SELECT stream_ordering FROM events
                        WHERE event_nid = receipts.event_nid)
                 RETURNING stream_pos",
                &[
                    &receipt.room_nid,
                    &receipt.user_id,
                    &receipt.receipt_type,
                    &receipt.thread_id,
                    &receipt.event_nid,
                    &receipt.ts,
                ],
            )
            .await?;
        Ok(row.map(|row| row.get(0)))
    }
}
