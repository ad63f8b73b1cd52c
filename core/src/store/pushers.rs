//! Pushers: the push gateways users have registered, and how far each
//! has been delivered.

use super::prepared::Prepared;
use super::{Store, StoreError};

/// A pusher as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PusherRow {
    pub user_id: String,
    pub app_id: String,
    pub pushkey: String,
    pub kind: String,
    pub app_display_name: String,
    pub device_display_name: String,
    pub profile_tag: Option<String>,
    pub lang: String,
    /// The `data` object, JSON text.
    pub data: String,
    pub device_id: String,
    pub pushkey_ts: i64,
    pub delivered_upto: i64,
}

const COLUMNS: &str = "user_id, app_id, pushkey, kind, app_display_name, device_display_name,
     profile_tag, lang, data, device_id, pushkey_ts, delivered_upto";

fn pusher_from_row(row: &tokio_postgres::Row) -> PusherRow {
    PusherRow {
        user_id: row.get(0),
        app_id: row.get(1),
        pushkey: row.get(2),
        kind: row.get(3),
        app_display_name: row.get(4),
        device_display_name: row.get(5),
        profile_tag: row.get(6),
        lang: row.get(7),
        data: row.get(8),
        device_id: row.get(9),
        pushkey_ts: row.get(10),
        delivered_upto: row.get(11),
    }
}

impl Store {
    /// Creates or replaces the user's pusher of `pusher.app_id` and
    /// `pusher.pushkey`. A replaced pusher keeps its delivery position.
    /// Unless `append`, other users' pushers of the same app and pushkey
    /// are removed, in the same transaction.
    pub async fn set_pusher(&self, pusher: &PusherRow, append: bool) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        if !append {
            tx.cached_execute(
                "DELETE FROM pushers WHERE app_id = $1 AND pushkey = $2 AND user_id <> $3",
                &[&pusher.app_id, &pusher.pushkey, &pusher.user_id],
            )
            .await?;
        }
        tx.cached_execute(
            "INSERT INTO pushers (user_id, app_id, pushkey, kind, app_display_name,
                 device_display_name, profile_tag, lang, data, device_id, pushkey_ts,
                 delivered_upto)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
             ON CONFLICT (user_id, app_id, pushkey) DO UPDATE SET
                 kind = excluded.kind, app_display_name = excluded.app_display_name,
                 device_display_name = excluded.device_display_name,
                 profile_tag = excluded.profile_tag, lang = excluded.lang,
                 data = excluded.data, device_id = excluded.device_id,
                 pushkey_ts = excluded.pushkey_ts",
            &[
                &pusher.user_id,
                &pusher.app_id,
                &pusher.pushkey,
                &pusher.kind,
                &pusher.app_display_name,
                &pusher.device_display_name,
                &pusher.profile_tag,
                &pusher.lang,
                &pusher.data,
                &pusher.device_id,
                &pusher.pushkey_ts,
                &pusher.delivered_upto,
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes the user's pusher; whether there was one.
    pub async fn delete_pusher(
        &self,
        user_id: &str,
        app_id: &str,
        pushkey: &str,
    ) -> Result<bool, StoreError> {
        let deleted = self
            .client()
            .await?
            .cached_execute(
                "DELETE FROM pushers WHERE user_id = $1 AND app_id = $2 AND pushkey = $3",
                &[&user_id, &app_id, &pushkey],
            )
            .await?;
        Ok(deleted > 0)
    }

    pub async fn pushers_of(&self, user_id: &str) -> Result<Vec<PusherRow>, StoreError> {
        let rows = self
            .client()
            .await?
            .cached_query(
                &format!(
                    "SELECT {COLUMNS} FROM pushers WHERE user_id = $1 ORDER BY app_id, pushkey"
                ),
                &[&user_id],
            )
            .await?;
        Ok(rows.iter().map(pusher_from_row).collect())
    }

    pub async fn pusher(
        &self,
        user_id: &str,
        app_id: &str,
        pushkey: &str,
    ) -> Result<Option<PusherRow>, StoreError> {
        let row = self
            .client()
            .await?
            .cached_query_opt(
                &format!(
                    "SELECT {COLUMNS} FROM pushers
                     WHERE user_id = $1 AND app_id = $2 AND pushkey = $3"
                ),
                &[&user_id, &app_id, &pushkey],
            )
            .await?;
        Ok(row.as_ref().map(pusher_from_row))
    }

    /// Every pusher's (user, app, pushkey).
    pub async fn all_pushers(&self) -> Result<Vec<(String, String, String)>, StoreError> {
        let rows = self
            .client()
            .await?
            .cached_query("SELECT user_id, app_id, pushkey FROM pushers", &[])
            .await?;
        Ok(rows
            .iter()
            .map(|row| (row.get(0), row.get(1), row.get(2)))
            .collect())
    }

    /// Records that the pusher is dealt with up to `position` (never moving
    /// it back).
    pub async fn advance_pusher(
        &self,
        user_id: &str,
        app_id: &str,
        pushkey: &str,
        position: i64,
    ) -> Result<(), StoreError> {
        self.client()
            .await?
            .cached_execute(
                "UPDATE pushers SET delivered_upto = greatest(delivered_upto, $4)
                 WHERE user_id = $1 AND app_id = $2 AND pushkey = $3",
                &[&user_id, &app_id, &pushkey, &position],
            )
            .await?;
        Ok(())
    }
}
