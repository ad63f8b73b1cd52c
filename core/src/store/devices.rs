//! Devices of local accounts.

use super::prepared::Prepared;
use super::{Store, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRow {
    pub device_id: String,
    pub display_name: Option<String>,
    pub last_seen_ts: Option<i64>,
    pub last_seen_ip: Option<String>,
}

fn device_from_row(row: &tokio_postgres::Row) -> DeviceRow {
    DeviceRow {
        device_id: row.get(0),
        display_name: row.get(1),
        last_seen_ts: row.get(2),
        last_seen_ip: row.get(3),
    }
}

impl Store {
    /// Creates the device unless it exists; an existing device keeps its
    /// display name.
    pub async fn ensure_device(
        &self,
        user_id: &str,
        device_id: &str,
        display_name: Option<&str>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.client()
            .await?
            .cached_execute(
                "INSERT INTO devices (user_id, device_id, display_name, created_ts)
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                &[&user_id, &device_id, &display_name, &now_ms],
            )
            .await?;
        Ok(())
    }

    pub async fn devices(&self, user_id: &str) -> Result<Vec<DeviceRow>, StoreError> {
        let rows = self
            .client()
            .await?
            .cached_query(
                "SELECT device_id, display_name, last_seen_ts, last_seen_ip FROM devices
                 WHERE user_id = $1 ORDER BY created_ts, device_id",
                &[&user_id],
            )
            .await?;
        Ok(rows.iter().map(device_from_row).collect())
    }

    pub async fn device(
        &self,
        user_id: &str,
        device_id: &str,
    ) -> Result<Option<DeviceRow>, StoreError> {
        let row = self
            .client()
            .await?
            .cached_query_opt(
                "SELECT device_id, display_name, last_seen_ts, last_seen_ip FROM devices
                 WHERE user_id = $1 AND device_id = $2",
                &[&user_id, &device_id],
            )
            .await?;
        Ok(row.as_ref().map(device_from_row))
    }

    /// Sets the display name: whether the device exists, and the device
    /// list change recorded when the name changed.
    pub async fn set_device_display_name(
        &self,
        user_id: &str,
        device_id: &str,
        display_name: Option<&str>,
    ) -> Result<(bool, Option<i64>), StoreError> {
        let row = self
            .client()
            .await?
            .cached_query_one(
                "WITH found AS (
                     SELECT 1 FROM devices WHERE user_id = $1 AND device_id = $2
                 ), renamed AS (
                     UPDATE devices SET display_name = $3
                     WHERE user_id = $1 AND device_id = $2
                       AND display_name IS DISTINCT FROM $3
                     RETURNING 1
                 ), change AS (
                     INSERT INTO device_list_changes (user_id)
                     SELECT $1 WHERE EXISTS (SELECT 1 FROM renamed) RETURNING stream_pos
                 )
                 SELECT EXISTS (SELECT 1 FROM found), (SELECT stream_pos FROM change)",
                &[&user_id, &device_id, &display_name],
            )
            .await?;
        Ok((row.get(0), row.get(1)))
    }

    /// Deletes the devices, and with them their tokens, keys, inboxes and
    /// the signatures of their keys.
    /// Returns the device list change recorded if any device went.
    pub async fn delete_devices(
        &self,
        user_id: &str,
        device_ids: &[String],
    ) -> Result<Option<i64>, StoreError> {
        let row = self
            .client()
            .await?
            .cached_query_opt(
                "WITH deleted AS (
                     DELETE FROM devices WHERE user_id = $1 AND device_id = ANY($2)
                     RETURNING device_id
                 ), signatures AS (
                     DELETE FROM key_signatures
                     WHERE target_user_id = $1 AND target_key_id IN (SELECT device_id FROM deleted)
                 )
                 INSERT INTO device_list_changes (user_id)
                 SELECT $1 WHERE EXISTS (SELECT 1 FROM deleted) RETURNING stream_pos",
                &[&user_id, &device_ids],
            )
            .await?;
        Ok(row.map(|row| row.get(0)))
    }

    /// Deletes every device of the user except `keep`, as
    /// [`Store::delete_devices`].
    pub async fn delete_other_devices(
        &self,
        user_id: &str,
        keep: Option<&str>,
    ) -> Result<Option<i64>, StoreError> {
        let row = self
            .client()
            .await?
            .cached_query_opt(
                "WITH deleted AS (
                     DELETE FROM devices WHERE user_id = $1 AND device_id IS DISTINCT FROM $2
                     RETURNING device_id
                 ), signatures AS (
                     DELETE FROM key_signatures
                     WHERE target_user_id = $1 AND target_key_id IN (SELECT device_id FROM deleted)
                 )
                 INSERT INTO device_list_changes (user_id)
                 SELECT $1 WHERE EXISTS (SELECT 1 FROM deleted) RETURNING stream_pos",
                &[&user_id, &keep],
            )
            .await?;
        Ok(row.map(|row| row.get(0)))
    }

    /// Records that the device was used now from `ip`.
    pub async fn touch_device(
        &self,
        user_id: &str,
        device_id: &str,
        ip: Option<&str>,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.client()
            .await?
            .cached_execute(
                "UPDATE devices SET last_seen_ts = $3, last_seen_ip = COALESCE($4, last_seen_ip)
                 WHERE user_id = $1 AND device_id = $2",
                &[&user_id, &device_id, &now_ms, &ip],
            )
            .await?;
        Ok(())
    }
}
