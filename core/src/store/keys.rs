//! Devices' published end-to-end encryption keys (identity, one-time and
//! fallback keys) and the device list changes that follow them.

use std::collections::BTreeMap;

use super::prepared::Prepared;
use super::{Store, StoreError};

/// A claimed key: (key ID with algorithm, key JSON text).
pub type ClaimedKey = (String, String);

/// A one-time or fallback key to store.
#[derive(Debug, Clone)]
pub struct NewKey<'a> {
    pub algorithm: &'a str,
    pub key_id: &'a str,
    pub json: String,
}

/// Why keys were not stored.
#[derive(Debug)]
pub enum KeyConflict {
    /// A one-time key ID already holds another key.
    OneTimeKey(String),
}

impl Store {
    /// The device's identity keys as uploaded, if any.
    pub async fn device_keys(
        &self,
        user_id: &str,
        device_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let row = self
            .client()
            .await?
            .cached_query_opt(
                "SELECT json FROM device_keys WHERE user_id = $1 AND device_id = $2",
                &[&user_id, &device_id],
            )
            .await?;
        Ok(row.map(|row| row.get(0)))
    }

    /// The identity keys of every device of each user that has uploaded
    /// them: (user, device, keys JSON, device display name).
    pub async fn devices_keys_of(
        &self,
        user_ids: &[String],
    ) -> Result<Vec<(String, String, String, Option<String>)>, StoreError> {
        let rows = self
            .client()
            .await?
            .cached_query(
                "SELECT k.user_id, k.device_id, k.json, d.display_name
                 FROM device_keys k JOIN devices d USING (user_id, device_id)
                 WHERE k.user_id = ANY($1) ORDER BY k.user_id, k.device_id",
                &[&user_ids],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| (row.get(0), row.get(1), row.get(2), row.get(3)))
            .collect())
    }

    /// Stores what a device uploads, in one transaction: its identity keys
    /// (when given; `changed` says whether they differ from the stored
    /// ones, which records a device list change), one-time keys (a key ID
    /// already holding a different key refuses the whole upload; the same
    /// key again is accepted) and fallback keys (replacing the
    /// algorithm's). Returns the device's unclaimed one-time key counts
    /// and, when a change was recorded, its device list position.
    pub async fn upload_keys(
        &self,
        user_id: &str,
        device_id: &str,
        device_keys: Option<(&str, bool)>,
        one_time_keys: &[NewKey<'_>],
        fallback_keys: &[NewKey<'_>],
    ) -> Result<Result<(BTreeMap<String, i64>, Option<i64>), KeyConflict>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let outcome = write_keys(
            &tx,
            user_id,
            device_id,
            device_keys,
            one_time_keys,
            fallback_keys,
        )
        .await?;
        if outcome.is_ok() {
            tx.commit().await?;
        }
        Ok(outcome)
    }

    /// The device's unclaimed one-time keys per algorithm, and the
    /// algorithms of its fallback keys not handed out yet, in one query.
    pub async fn device_key_status(
        &self,
        user_id: &str,
        device_id: &str,
    ) -> Result<(BTreeMap<String, i64>, Vec<String>), StoreError> {
        let rows = self
            .client()
            .await?
            .cached_query(
                "SELECT algorithm, count(*), FALSE FROM one_time_keys
                 WHERE user_id = $1 AND device_id = $2 GROUP BY algorithm
                 UNION ALL
                 SELECT algorithm, 0, TRUE FROM fallback_keys
                 WHERE user_id = $1 AND device_id = $2 AND NOT used
                 ORDER BY 1",
                &[&user_id, &device_id],
            )
            .await?;
        let mut counts = BTreeMap::new();
        let mut unused_fallbacks = Vec::new();
        for row in &rows {
            if row.get::<_, bool>(2) {
                unused_fallbacks.push(row.get(0));
            } else {
                counts.insert(row.get(0), row.get(1));
            }
        }
        Ok((counts, unused_fallbacks))
    }

    /// Takes one of the device's one-time keys of `algorithm`, each handed
    /// out once however many claim at the same time; when none is left,
    /// the fallback key (which stays, marked used).
    pub async fn claim_key(
        &self,
        user_id: &str,
        device_id: &str,
        algorithm: &str,
    ) -> Result<Option<ClaimedKey>, StoreError> {
        let client = self.client().await?;
        let claimed = client
            .cached_query_opt(
                "DELETE FROM one_time_keys WHERE (user_id, device_id, algorithm, key_id) = (
                     SELECT user_id, device_id, algorithm, key_id FROM one_time_keys
                     WHERE user_id = $1 AND device_id = $2 AND algorithm = $3
                     ORDER BY key_id LIMIT 1 FOR UPDATE SKIP LOCKED
                 ) RETURNING key_id, json",
                &[&user_id, &device_id, &algorithm],
            )
            .await?;
        if let Some(row) = claimed {
            return Ok(Some((
                format!("{algorithm}:{}", row.get::<_, String>(0)),
                row.get(1),
            )));
        }
        let fallback = client
            .cached_query_opt(
                "UPDATE fallback_keys SET used = TRUE
                 WHERE user_id = $1 AND device_id = $2 AND algorithm = $3
                 RETURNING key_id, json",
                &[&user_id, &device_id, &algorithm],
            )
            .await?;
        Ok(fallback.map(|row| {
            (
                format!("{algorithm}:{}", row.get::<_, String>(0)),
                row.get(1),
            )
        }))
    }

    /// Records that the user's devices changed (one was added, removed or
    /// given new keys); returns the device list position.
    pub async fn record_device_list_change(&self, user_id: &str) -> Result<i64, StoreError> {
        record_change(&self.client().await?, user_id).await
    }

    /// The users whose devices changed after `from` and up to `to` and
    /// who are `user_id` or share an encrypted room with them now.
    pub async fn device_lists_changed_for(
        &self,
        user_id: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<String>, StoreError> {
        let rows = self
            .client()
            .await?
            .cached_query(
                "SELECT DISTINCT c.user_id FROM device_list_changes c
                 WHERE c.stream_pos > $2 AND c.stream_pos <= $3
                   AND (c.user_id = $1 OR EXISTS (
                       SELECT 1 FROM state_keys me
                       JOIN memberships mine ON mine.user_nid = me.state_key_nid
                       JOIN rooms r ON r.room_nid = mine.room_nid AND r.encrypted
                       JOIN memberships theirs ON theirs.room_nid = mine.room_nid
                       JOIN state_keys them ON them.state_key_nid = theirs.user_nid
                       WHERE me.state_key = $1 AND mine.membership = 'join'
                         AND theirs.membership = 'join' AND them.state_key = c.user_id))
                 ORDER BY c.user_id",
                &[&user_id, &from, &to],
            )
            .await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    /// Of `others`, those who share an encrypted room with `user_id` now.
    pub async fn sharing_encrypted_room(
        &self,
        user_id: &str,
        others: &[String],
    ) -> Result<Vec<String>, StoreError> {
        let rows = self
            .client()
            .await?
            .cached_query(
                "SELECT DISTINCT them.state_key FROM state_keys me
                 JOIN memberships mine ON mine.user_nid = me.state_key_nid
                 JOIN rooms r ON r.room_nid = mine.room_nid AND r.encrypted
                 JOIN memberships theirs ON theirs.room_nid = mine.room_nid
                 JOIN state_keys them ON them.state_key_nid = theirs.user_nid
                 WHERE me.state_key = $1 AND mine.membership = 'join'
                   AND theirs.membership = 'join' AND them.state_key = ANY($2)",
                &[&user_id, &others],
            )
            .await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    /// Membership changes after `from` up to `to` in those of `rooms`
    /// that are encrypted: (room, member, membership), the latest of each
    /// member.
    pub async fn encrypted_member_changes(
        &self,
        rooms: &[i64],
        from: i64,
        to: i64,
    ) -> Result<Vec<(i64, String, String)>, StoreError> {
        let rows = self
            .client()
            .await?
            .cached_query(
                "SELECT m.room_nid, k.state_key, m.membership FROM memberships m
                 JOIN rooms r ON r.room_nid = m.room_nid AND r.encrypted
                 JOIN events e ON e.event_nid = m.event_nid
                 JOIN state_keys k ON k.state_key_nid = m.user_nid
                 WHERE m.room_nid = ANY($1)
                   AND e.stream_ordering > $2 AND e.stream_ordering <= $3",
                &[&rooms, &from, &to],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| (row.get(0), row.get(1), row.get(2)))
            .collect())
    }

    /// The members joined to the room now.
    pub async fn joined_members(&self, room_nid: i64) -> Result<Vec<String>, StoreError> {
        let rows = self
            .client()
            .await?
            .cached_query(
                "SELECT k.state_key FROM memberships m
                 JOIN state_keys k ON k.state_key_nid = m.user_nid
                 WHERE m.room_nid = $1 AND m.membership = 'join'",
                &[&room_nid],
            )
            .await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    /// The encrypted rooms the user is joined to.
    pub async fn encrypted_rooms_of(&self, user_id: &str) -> Result<Vec<i64>, StoreError> {
        let rows = self
            .client()
            .await?
            .cached_query(
                "SELECT m.room_nid FROM memberships m
                 JOIN state_keys k ON k.state_key_nid = m.user_nid
                 JOIN rooms r ON r.room_nid = m.room_nid AND r.encrypted
                 WHERE k.state_key = $1 AND m.membership = 'join'",
                &[&user_id],
            )
            .await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }
}

/// Writes what a device uploads within the caller's transaction (see
/// [`Store::upload_keys`]); on a conflict the caller must not commit.
pub(super) async fn write_keys(
    client: &impl Prepared,
    user_id: &str,
    device_id: &str,
    device_keys: Option<(&str, bool)>,
    one_time_keys: &[NewKey<'_>],
    fallback_keys: &[NewKey<'_>],
) -> Result<Result<(BTreeMap<String, i64>, Option<i64>), KeyConflict>, StoreError> {
    let mut change = None;
    if let Some((json, changed)) = device_keys {
        client
            .cached_execute(
                "INSERT INTO device_keys (user_id, device_id, json) VALUES ($1, $2, $3)
             ON CONFLICT (user_id, device_id) DO UPDATE SET json = excluded.json",
                &[&user_id, &device_id, &json],
            )
            .await?;
        if changed {
            change = Some(record_change(client, user_id).await?);
        }
    }
    for key in one_time_keys {
        let stored = client
            .cached_query_one(
                "WITH inserted AS (
                     INSERT INTO one_time_keys (user_id, device_id, algorithm, key_id, json)
                     VALUES ($1, $2, $3, $4, $5)
                     ON CONFLICT DO NOTHING RETURNING json
                 )
                 SELECT json FROM inserted
                 UNION ALL
                 SELECT json FROM one_time_keys
                 WHERE user_id = $1 AND device_id = $2 AND algorithm = $3 AND key_id = $4
                 LIMIT 1",
                &[&user_id, &device_id, &key.algorithm, &key.key_id, &key.json],
            )
            .await?;
        let stored: String = stored.get(0);
        if stored != key.json {
            return Ok(Err(KeyConflict::OneTimeKey(format!(
                "{}:{}",
                key.algorithm, key.key_id
            ))));
        }
    }
    for key in fallback_keys {
        client
            .cached_execute(
                "INSERT INTO fallback_keys (user_id, device_id, algorithm, key_id, json)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (user_id, device_id, algorithm) DO UPDATE
             SET key_id = excluded.key_id, json = excluded.json,
                 used = fallback_keys.used AND fallback_keys.key_id = excluded.key_id",
                &[&user_id, &device_id, &key.algorithm, &key.key_id, &key.json],
            )
            .await?;
    }
    let counts = one_time_key_counts(client, user_id, device_id).await?;
    Ok(Ok((counts, change)))
}

pub(super) async fn record_change(
    client: &impl Prepared,
    user_id: &str,
) -> Result<i64, StoreError> {
    Ok(client
        .cached_query_one(
            "INSERT INTO device_list_changes (user_id) VALUES ($1) RETURNING stream_pos",
            &[&user_id],
        )
        .await?
        .get(0))
}

async fn one_time_key_counts(
    client: &impl Prepared,
    user_id: &str,
    device_id: &str,
) -> Result<BTreeMap<String, i64>, StoreError> {
    let rows = client
        .cached_query(
            "SELECT algorithm, count(*) FROM one_time_keys
             WHERE user_id = $1 AND device_id = $2 GROUP BY algorithm",
            &[&user_id, &device_id],
        )
        .await?;
    Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
}
