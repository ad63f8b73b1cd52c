//! To-device messages: each device's inbox, emptied as it syncs past
//! them, and the transactions that sent them.

use super::prepared::Prepared;
use super::{Store, StoreError};

/// One message for one device, or (`device_id` `*`) every device of the
/// user.
#[derive(Debug, Clone)]
pub struct NewToDevice<'a> {
    pub user_id: &'a str,
    pub device_id: &'a str,
    /// The content, JSON text.
    pub content: String,
}

/// A message waiting in an inbox.
#[derive(Debug, Clone)]
pub struct ToDeviceRow {
    pub position: i64,
    pub sender: String,
    pub event_type: String,
    pub content: String,
}

/// What became of a send.
#[derive(Debug)]
pub enum ToDeviceSent {
    /// Stored; the highest position taken (none when no device exists).
    Sent(Option<i64>),
    /// The transaction was sent before: nothing is stored again.
    Repeated,
    /// A recipient device has this many messages waiting already.
    InboxFull { user_id: String, device_id: String },
}

impl Store {
    /// Stores the messages of one transaction of the sender's device, all
    /// or none; messages for devices that do not exist are dropped.
    pub async fn send_to_device(
        &self,
        sender: (&str, &str),
        txn_id: &str,
        event_type: &str,
        messages: &[NewToDevice<'_>],
        max_inbox: i64,
        now_ms: i64,
    ) -> Result<ToDeviceSent, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let first = tx
            .cached_execute(
                "INSERT INTO to_device_transactions (user_id, device_id, txn_id, created_ts)
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                &[&sender.0, &sender.1, &txn_id, &now_ms],
            )
            .await?;
        if first == 0 {
            return Ok(ToDeviceSent::Repeated);
        }
        let mut highest = None;
        let mut users = Vec::new();
        let mut devices = Vec::new();
        for message in messages {
            let rows = tx
                .cached_query(
                    "INSERT INTO to_device_inbox (user_id, device_id, sender, event_type, content)
                     SELECT user_id, device_id, $3, $4, $5 FROM devices
                     WHERE user_id = $1 AND ($2 = '*' OR device_id = $2)
                     RETURNING stream_pos, device_id",
                    &[
                        &message.user_id,
                        &message.device_id,
                        &sender.0,
                        &event_type,
                        &message.content,
                    ],
                )
                .await?;
            for row in &rows {
                highest = highest.max(Some(row.get::<_, i64>(0)));
                users.push(message.user_id.to_owned());
                devices.push(row.get::<_, String>(1));
            }
        }
        let full = tx
            .cached_query_opt(
                "SELECT user_id, device_id FROM to_device_inbox
                 WHERE (user_id, device_id) IN (SELECT * FROM unnest($1::text[], $2::text[]))
                 GROUP BY user_id, device_id HAVING count(*) > $3 LIMIT 1",
                &[&users, &devices, &max_inbox],
            )
            .await?;
        if let Some(row) = full {
            // Dropping the transaction undoes every insert.
            return Ok(ToDeviceSent::InboxFull {
                user_id: row.get(0),
                device_id: row.get(1),
            });
        }
        tx.commit().await?;
        Ok(ToDeviceSent::Sent(highest))
    }

    /// Up to `limit` messages of the device's inbox after `after` and up to
    /// `upto`, oldest first.
    pub async fn to_device_messages(
        &self,
        user_id: &str,
        device_id: &str,
        after: i64,
        upto: i64,
        limit: i64,
    ) -> Result<Vec<ToDeviceRow>, StoreError> {
        let rows = self
            .client()
            .await?
            .cached_query(
                "SELECT stream_pos, sender, event_type, content FROM to_device_inbox
                 WHERE user_id = $1 AND device_id = $2 AND stream_pos > $3 AND stream_pos <= $4
                 ORDER BY stream_pos LIMIT $5",
                &[&user_id, &device_id, &after, &upto, &limit],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| ToDeviceRow {
                position: row.get(0),
                sender: row.get(1),
                event_type: row.get(2),
                content: row.get(3),
            })
            .collect())
    }

    /// Deletes what the device has received: its messages up to `upto`.
    pub async fn delete_to_device_messages(
        &self,
        user_id: &str,
        device_id: &str,
        upto: i64,
    ) -> Result<(), StoreError> {
        self.client()
            .await?
            .cached_execute(
                "DELETE FROM to_device_inbox
                 WHERE user_id = $1 AND device_id = $2 AND stream_pos <= $3",
                &[&user_id, &device_id, &upto],
            )
            .await?;
        Ok(())
    }
}
