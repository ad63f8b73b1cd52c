//! Server-side key backups: versions per user and the opaque session keys
//! stored in them.

use super::prepared::Prepared;
use super::{Store, StoreError};

/// A backup version's description.
#[derive(Debug, Clone)]
pub struct BackupVersionRow {
    pub version: i64,
    pub algorithm: String,
    pub auth_data: String,
    pub etag: i64,
    /// Keys stored in it.
    pub count: i64,
}

/// One backed-up session key.
#[derive(Debug, Clone)]
pub struct BackedUpKey {
    pub room_id: String,
    pub session_id: String,
    pub first_message_index: i64,
    pub forwarded_count: i64,
    pub is_verified: bool,
    /// JSON text.
    pub session_data: String,
}

/// Which keys of a version a read or delete covers.
#[derive(Debug, Clone, Copy)]
pub enum BackupScope<'a> {
    All,
    Room(&'a str),
    Session(&'a str, &'a str),
}

impl BackupScope<'_> {
    fn room(&self) -> Option<&str> {
        match self {
            Self::All => None,
            Self::Room(room) | Self::Session(room, _) => Some(room),
        }
    }

    fn session(&self) -> Option<&str> {
        match self {
            Self::Session(_, session) => Some(session),
            _ => None,
        }
    }
}

/// Why keys were not written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackupWriteRefused {
    /// The user has no backup.
    NoBackup,
    /// Only the newest version takes keys; this is it.
    NotCurrent { current: i64 },
}

const VERSION_COLUMNS: &str = "v.version, v.algorithm, v.auth_data, v.etag,
     (SELECT count(*) FROM key_backup_sessions s
      WHERE s.user_id = v.user_id AND s.version = v.version)";

fn version_row(row: &tokio_postgres::Row) -> BackupVersionRow {
    BackupVersionRow {
        version: row.get(0),
        algorithm: row.get(1),
        auth_data: row.get(2),
        etag: row.get(3),
        count: row.get(4),
    }
}

impl Store {
    /// Creates the user's next backup version (numbers are never reused)
    /// and returns it.
    pub async fn create_backup_version(
        &self,
        user_id: &str,
        algorithm: &str,
        auth_data: &str,
    ) -> Result<i64, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // Two creations at once would pick the same number; the account
        // row serialises them.
        tx.cached_execute(
            "SELECT 1 FROM accounts WHERE user_id = $1 FOR UPDATE",
            &[&user_id],
        )
        .await?;
        let row = tx
            .cached_query_one(
                "INSERT INTO key_backup_versions (user_id, version, algorithm, auth_data)
                 SELECT $1, COALESCE(max(version), 0) + 1, $2, $3
                 FROM key_backup_versions WHERE user_id = $1
                 RETURNING version",
                &[&user_id, &algorithm, &auth_data],
            )
            .await?;
        tx.commit().await?;
        Ok(row.get(0))
    }

    /// A version that exists and is not deleted; with no version given,
    /// the newest.
    pub async fn backup_version(
        &self,
        user_id: &str,
        version: Option<i64>,
    ) -> Result<Option<BackupVersionRow>, StoreError> {
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM key_backup_versions v
             WHERE v.user_id = $1 AND NOT v.deleted AND ($2::BIGINT IS NULL OR v.version = $2)
             ORDER BY v.version DESC LIMIT 1"
        );
        let row = self
            .client()
            .await?
            .cached_query_opt(&sql, &[&user_id, &version])
            .await?;
        Ok(row.as_ref().map(version_row))
    }

    /// Replaces a live version's auth_data; false when there is no such
    /// version.
    pub async fn update_backup_auth_data(
        &self,
        user_id: &str,
        version: i64,
        auth_data: &str,
    ) -> Result<bool, StoreError> {
        let updated = self
            .client()
            .await?
            .cached_execute(
                "UPDATE key_backup_versions SET auth_data = $3
                 WHERE user_id = $1 AND version = $2 AND NOT deleted",
                &[&user_id, &version, &auth_data],
            )
            .await?;
        Ok(updated == 1)
    }

    /// Deletes a version and its keys; true when the version exists or
    /// existed (deleting twice succeeds).
    pub async fn delete_backup_version(
        &self,
        user_id: &str,
        version: i64,
    ) -> Result<bool, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let found = tx
            .cached_execute(
                "UPDATE key_backup_versions SET deleted = TRUE
                 WHERE user_id = $1 AND version = $2",
                &[&user_id, &version],
            )
            .await?;
        tx.cached_execute(
            "DELETE FROM key_backup_sessions WHERE user_id = $1 AND version = $2",
            &[&user_id, &version],
        )
        .await?;
        tx.commit().await?;
        Ok(found == 1)
    }

    /// Stores keys in the user's current version, each replacing the one
    /// already there only when it is better (verified over unverified,
    /// then the lower first message index, then the lower forwarded
    /// count). Returns the version's etag and key count afterwards; the
    /// etag moves only when a key was written.
    pub async fn put_backup_keys(
        &self,
        user_id: &str,
        version: i64,
        keys: &[BackedUpKey],
    ) -> Result<Result<(i64, i64), BackupWriteRefused>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        // Locking the newest version keeps a new version or a deletion
        // from slipping in between the check and the write.
        let current = tx
            .cached_query_opt(
                "SELECT version FROM key_backup_versions
                 WHERE user_id = $1 AND NOT deleted
                 ORDER BY version DESC LIMIT 1 FOR UPDATE",
                &[&user_id],
            )
            .await?;
        let current: i64 = match current {
            None => return Ok(Err(BackupWriteRefused::NoBackup)),
            Some(row) => row.get(0),
        };
        if current != version {
            return Ok(Err(BackupWriteRefused::NotCurrent { current }));
        }
        let rooms: Vec<&str> = keys.iter().map(|k| k.room_id.as_str()).collect();
        let sessions: Vec<&str> = keys.iter().map(|k| k.session_id.as_str()).collect();
        let first_indexes: Vec<i64> = keys.iter().map(|k| k.first_message_index).collect();
        let forwarded: Vec<i64> = keys.iter().map(|k| k.forwarded_count).collect();
        let verified: Vec<bool> = keys.iter().map(|k| k.is_verified).collect();
        let data: Vec<&str> = keys.iter().map(|k| k.session_data.as_str()).collect();
        let written = tx
            .cached_execute(
                "INSERT INTO key_backup_sessions AS k (user_id, version, room_id, session_id,
                     first_message_index, forwarded_count, is_verified, session_data)
                 SELECT $1, $2, * FROM unnest($3::TEXT[], $4::TEXT[], $5::BIGINT[],
                     $6::BIGINT[], $7::BOOLEAN[], $8::TEXT[])
                 ON CONFLICT (user_id, version, room_id, session_id) DO UPDATE SET
                     first_message_index = excluded.first_message_index,
                     forwarded_count = excluded.forwarded_count,
                     is_verified = excluded.is_verified,
                     session_data = excluded.session_data
                 WHERE (excluded.is_verified AND NOT k.is_verified)
                    OR (excluded.is_verified = k.is_verified
                        AND (excluded.first_message_index < k.first_message_index
                             OR (excluded.first_message_index = k.first_message_index
                                 AND excluded.forwarded_count < k.forwarded_count)))",
                &[
                    &user_id,
                    &version,
                    &rooms,
                    &sessions,
                    &first_indexes,
                    &forwarded,
                    &verified,
                    &data,
                ],
            )
            .await?;
        let etag_and_count = etag_and_count(&tx, user_id, version, written > 0).await?;
        tx.commit().await?;
        Ok(Ok(etag_and_count))
    }

    /// The keys of a live version within `scope`, by room and session.
    pub async fn backup_keys(
        &self,
        user_id: &str,
        version: i64,
        scope: BackupScope<'_>,
    ) -> Result<Vec<BackedUpKey>, StoreError> {
        let rows = self
            .client()
            .await?
            .cached_query(
                "SELECT room_id, session_id, first_message_index, forwarded_count, is_verified,
                        session_data
                 FROM key_backup_sessions
                 WHERE user_id = $1 AND version = $2
                   AND ($3::TEXT IS NULL OR room_id = $3)
                   AND ($4::TEXT IS NULL OR session_id = $4)
                 ORDER BY room_id, session_id",
                &[&user_id, &version, &scope.room(), &scope.session()],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|row| BackedUpKey {
                room_id: row.get(0),
                session_id: row.get(1),
                first_message_index: row.get(2),
                forwarded_count: row.get(3),
                is_verified: row.get(4),
                session_data: row.get(5),
            })
            .collect())
    }

    /// Deletes the keys of a live version within `scope`; the version's
    /// etag and key count afterwards, or None when there is no such
    /// version.
    pub async fn delete_backup_keys(
        &self,
        user_id: &str,
        version: i64,
        scope: BackupScope<'_>,
    ) -> Result<Option<(i64, i64)>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let live = tx
            .cached_query_opt(
                "SELECT 1 FROM key_backup_versions
                 WHERE user_id = $1 AND version = $2 AND NOT deleted FOR UPDATE",
                &[&user_id, &version],
            )
            .await?;
        if live.is_none() {
            return Ok(None);
        }
        let deleted = tx
            .cached_execute(
                "DELETE FROM key_backup_sessions
                 WHERE user_id = $1 AND version = $2
                   AND ($3::TEXT IS NULL OR room_id = $3)
                   AND ($4::TEXT IS NULL OR session_id = $4)",
                &[&user_id, &version, &scope.room(), &scope.session()],
            )
            .await?;
        let etag_and_count = etag_and_count(&tx, user_id, version, deleted > 0).await?;
        tx.commit().await?;
        Ok(Some(etag_and_count))
    }
}

/// Moves the version's etag when its keys `changed`; its etag and key
/// count afterwards.
async fn etag_and_count(
    client: &impl Prepared,
    user_id: &str,
    version: i64,
    changed: bool,
) -> Result<(i64, i64), StoreError> {
    let row = client
        .cached_query_one(
            "UPDATE key_backup_versions SET etag = etag + $3::BIGINT
             WHERE user_id = $1 AND version = $2
             RETURNING etag, (SELECT count(*) FROM key_backup_sessions
                              WHERE user_id = $1 AND version = $2)",
            &[&user_id, &version, &i64::from(changed)],
        )
        .await?;
    Ok((row.get(0), row.get(1)))
}
