//! Each user's dehydrated device (MSC3814).

use super::keys::{write_keys, KeyConflict, NewKey};
use super::prepared::Prepared;
use super::{Store, StoreError};

/// A dehydrated device to store with its keys.
#[derive(Debug)]
pub struct NewDehydratedDevice<'a> {
    pub device_id: &'a str,
    pub display_name: Option<&'a str>,
    /// JSON text.
    pub device_data: String,
    /// Canonical JSON of its device keys.
    pub device_keys: &'a str,
    pub one_time_keys: &'a [NewKey<'a>],
    pub fallback_keys: &'a [NewKey<'a>],
}

/// Why a dehydrated device was not stored.
#[derive(Debug)]
pub enum DehydrationRefused {
    /// An ordinary device of the user has this ID.
    DeviceIdInUse,
    Keys(KeyConflict),
}

impl Store {
    /// The user's dehydrated device: (device ID, device data JSON).
    pub async fn dehydrated_device(
        &self,
        user_id: &str,
    ) -> Result<Option<(String, String)>, StoreError> {
        let row = self
            .client()
            .await?
            .cached_query_opt(
                "SELECT device_id, device_data FROM dehydrated_devices WHERE user_id = $1",
                &[&user_id],
            )
            .await?;
        Ok(row.map(|row| (row.get(0), row.get(1))))
    }

    /// Replaces the user's dehydrated device (deleting the previous one
    /// with its keys and messages) with `device` and its keys, in one
    /// transaction; the device list change recorded (new device keys
    /// always record one).
    pub async fn replace_dehydrated_device(
        &self,
        user_id: &str,
        device: &NewDehydratedDevice<'_>,
        now_ms: i64,
    ) -> Result<Result<Option<i64>, DehydrationRefused>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.cached_execute(
            "WITH deleted AS (
                 DELETE FROM devices WHERE (user_id, device_id) IN (
                     SELECT user_id, device_id FROM dehydrated_devices WHERE user_id = $1
                 ) RETURNING device_id
             )
             DELETE FROM key_signatures
             WHERE target_user_id = $1 AND target_key_id IN (SELECT device_id FROM deleted)",
            &[&user_id],
        )
        .await?;
        let created = tx
            .cached_execute(
                "INSERT INTO devices (user_id, device_id, display_name, created_ts)
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                &[&user_id, &device.device_id, &device.display_name, &now_ms],
            )
            .await?;
        if created == 0 {
            return Ok(Err(DehydrationRefused::DeviceIdInUse));
        }
        tx.cached_execute(
            "INSERT INTO dehydrated_devices (user_id, device_id, device_data) VALUES ($1, $2, $3)",
            &[&user_id, &device.device_id, &device.device_data],
        )
        .await?;
        let written = write_keys(
            &tx,
            user_id,
            device.device_id,
            Some((device.device_keys, true)),
            device.one_time_keys,
            device.fallback_keys,
        )
        .await?;
        match written {
            Ok((_, change)) => {
                tx.commit().await?;
                Ok(Ok(change))
            }
            Err(conflict) => Ok(Err(DehydrationRefused::Keys(conflict))),
        }
    }
}
