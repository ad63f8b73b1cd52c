//! The media repository's metadata: uploads, pending asynchronous uploads,
//! cached thumbnails, and which stored files are still referred to.

use super::prepared::Prepared;
use super::{Store, StoreError, Write};

/// One mxc URI as stored.
#[derive(Debug, Clone)]
pub struct MediaRow {
    pub origin: String,
    pub media_id: String,
    pub uploader: String,
    pub content_type: Option<String>,
    pub filename: Option<String>,
    /// `None` while an asynchronous upload is pending.
    pub size: Option<i64>,
    pub sha256: Option<String>,
    pub created_ts: i64,
    pub unused_expires_ts: Option<i64>,
    pub authenticated: bool,
    pub quarantined: bool,
    pub deleted_ts: Option<i64>,
}

/// Content for a media row: from an upload, or the PUT that fills a
/// created one.
#[derive(Debug, Clone)]
pub struct MediaContent<'a> {
    pub content_type: &'a str,
    pub filename: Option<&'a str>,
    pub size: i64,
    pub sha256: &'a str,
    pub now_ms: i64,
}

/// A cached thumbnail, by the box and method it was made for.
#[derive(Debug, Clone)]
pub struct ThumbnailRow {
    pub width: i32,
    pub height: i32,
    pub method: String,
    pub animated: bool,
    pub content_type: String,
    pub size: i64,
    pub sha256: String,
}

const MEDIA_COLUMNS: &str = "origin, media_id, uploader, content_type, filename, size, sha256, \
     created_ts, unused_expires_ts, authenticated, quarantined, deleted_ts";

fn media_from_row(row: &tokio_postgres::Row) -> MediaRow {
    MediaRow {
        origin: row.get(0),
        media_id: row.get(1),
        uploader: row.get(2),
        content_type: row.get(3),
        filename: row.get(4),
        size: row.get(5),
        sha256: row.get(6),
        created_ts: row.get(7),
        unused_expires_ts: row.get(8),
        authenticated: row.get(9),
        quarantined: row.get(10),
        deleted_ts: row.get(11),
    }
}

impl Store {
    pub async fn media(
        &self,
        origin: &str,
        media_id: &str,
    ) -> Result<Option<MediaRow>, StoreError> {
        let row = self
            .client()
            .await?
            .cached_query_opt(
                &format!("SELECT {MEDIA_COLUMNS} FROM media WHERE origin = $1 AND media_id = $2"),
                &[&origin, &media_id],
            )
            .await?;
        Ok(row.as_ref().map(media_from_row))
    }

    /// Bytes of media the user has stored and not deleted.
    pub async fn media_usage(&self, uploader: &str) -> Result<i64, StoreError> {
        self.query_value(
            "SELECT coalesce(sum(size), 0)::BIGINT FROM media
             WHERE uploader = $1 AND deleted_ts IS NULL",
            &[&uploader],
        )
        .await
    }

    /// When the user's first pending asynchronous upload lapses.
    pub async fn first_pending_media_expiry(
        &self,
        uploader: &str,
    ) -> Result<Option<i64>, StoreError> {
        self.query_value(
            "SELECT min(unused_expires_ts) FROM media
             WHERE uploader = $1 AND sha256 IS NULL AND deleted_ts IS NULL",
            &[&uploader],
        )
        .await
    }

    /// Records a created, still empty mxc URI for an asynchronous upload,
    /// unless the user has `max_pending` unexpired ones already (`false`).
    /// Lapsed ones of the user are forgotten on the way.
    pub async fn insert_pending_media(
        &self,
        origin: &str,
        media_id: &str,
        uploader: &str,
        now_ms: i64,
        expires_ts: i64,
        max_pending: i64,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        client
            .cached_execute(
                "DELETE FROM media WHERE uploader = $1 AND sha256 IS NULL
                 AND unused_expires_ts <= $2",
                &[&uploader, &now_ms],
            )
            .await?;
        let inserted = client
            .cached_execute(
                "INSERT INTO media (origin, media_id, uploader, created_ts, unused_expires_ts)
                 SELECT $1, $2, $3, $4, $5
                 WHERE (SELECT count(*) FROM media WHERE uploader = $3 AND sha256 IS NULL
                        AND deleted_ts IS NULL) < $6",
                &[
                    &origin,
                    &media_id,
                    &uploader,
                    &now_ms,
                    &expires_ts,
                    &max_pending,
                ],
            )
            .await?;
        Ok(inserted == 1)
    }

    /// Every local media row created before `before_ms` and not deleted.
    pub async fn media_created_before(
        &self,
        origin: &str,
        before_ms: i64,
    ) -> Result<Vec<String>, StoreError> {
        let rows = self
            .client()
            .await?
            .cached_query(
                "SELECT media_id FROM media WHERE origin = $1 AND created_ts < $2
                 AND deleted_ts IS NULL ORDER BY created_ts",
                &[&origin, &before_ms],
            )
            .await?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    /// Marks the media deleted and forgets its thumbnails. Returns the
    /// hashes of the files that may now be unreferenced; `None` when there
    /// was no such media, or it was deleted already.
    pub async fn mark_media_deleted(
        &self,
        origin: &str,
        media_id: &str,
        now_ms: i64,
    ) -> Result<Option<Vec<String>>, StoreError> {
        let write = self.begin().await?;
        let client = write.client();
        let Some(row) = client
            .cached_query_opt(
                "UPDATE media SET deleted_ts = $3
                 WHERE origin = $1 AND media_id = $2 AND deleted_ts IS NULL RETURNING sha256",
                &[&origin, &media_id, &now_ms],
            )
            .await?
        else {
            return Ok(None);
        };
        let mut hashes: Vec<String> = row.get::<_, Option<String>>(0).into_iter().collect();
        let thumbnails = client
            .cached_query(
                "DELETE FROM media_thumbnails WHERE origin = $1 AND media_id = $2
                 RETURNING sha256",
                &[&origin, &media_id],
            )
            .await?;
        hashes.extend(thumbnails.iter().map(|row| row.get::<_, String>(0)));
        write.commit().await?;
        hashes.sort_unstable();
        hashes.dedup();
        Ok(Some(hashes))
    }

    pub async fn thumbnail(
        &self,
        origin: &str,
        media_id: &str,
        width: i32,
        height: i32,
        method: &str,
        animated: bool,
    ) -> Result<Option<ThumbnailRow>, StoreError> {
        let row = self
            .client()
            .await?
            .cached_query_opt(
                "SELECT width, height, method, animated, content_type, size, sha256
                 FROM media_thumbnails WHERE origin = $1 AND media_id = $2 AND width = $3
                 AND height = $4 AND method = $5 AND animated = $6",
                &[&origin, &media_id, &width, &height, &method, &animated],
            )
            .await?;
        Ok(row.map(|row| ThumbnailRow {
            width: row.get(0),
            height: row.get(1),
            method: row.get(2),
            animated: row.get(3),
            content_type: row.get(4),
            size: row.get(5),
            sha256: row.get(6),
        }))
    }
}

impl Write {
    /// Serialises everything done to the stored file with this hash until
    /// the transaction ends: placing it and recording a row that refers to
    /// it, or finding it unreferenced and removing it.
    pub async fn lock_media_file(&self, sha256: &str) -> Result<(), StoreError> {
        self.client()
            .cached_execute(
                "SELECT pg_advisory_xact_lock(hashtextextended('media:' || $1, 0))",
                &[&sha256],
            )
            .await?;
        Ok(())
    }

    /// Whether a media row or thumbnail still refers to the file.
    pub async fn media_file_referenced(&self, sha256: &str) -> Result<bool, StoreError> {
        let row = self
            .client()
            .cached_query_one(
                "SELECT EXISTS (SELECT 1 FROM media WHERE sha256 = $1 AND deleted_ts IS NULL)
                     OR EXISTS (SELECT 1 FROM media_thumbnails WHERE sha256 = $1)",
                &[&sha256],
            )
            .await?;
        Ok(row.get(0))
    }

    /// Records an upload (POST /upload).
    pub async fn insert_media(
        &self,
        origin: &str,
        media_id: &str,
        uploader: &str,
        content: &MediaContent<'_>,
    ) -> Result<(), StoreError> {
        self.client()
            .cached_execute(
                "INSERT INTO media (origin, media_id, uploader, content_type, filename, size,
                                    sha256, created_ts, uploaded_ts)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
                &[
                    &origin,
                    &media_id,
                    &uploader,
                    &content.content_type,
                    &content.filename,
                    &content.size,
                    &content.sha256,
                    &content.now_ms,
                ],
            )
            .await?;
        Ok(())
    }

    /// Fills a created mxc URI of `uploader` that is still empty and
    /// unexpired; `false` when there is none (any more).
    pub async fn fill_pending_media(
        &self,
        origin: &str,
        media_id: &str,
        uploader: &str,
        content: &MediaContent<'_>,
    ) -> Result<bool, StoreError> {
        let updated = self
            .client()
            .cached_execute(
                "UPDATE media SET content_type = $4, filename = $5, size = $6, sha256 = $7,
                                  uploaded_ts = $8, unused_expires_ts = NULL
                 WHERE origin = $1 AND media_id = $2 AND uploader = $3 AND sha256 IS NULL
                 AND deleted_ts IS NULL AND unused_expires_ts > $8",
                &[
                    &origin,
                    &media_id,
                    &uploader,
                    &content.content_type,
                    &content.filename,
                    &content.size,
                    &content.sha256,
                    &content.now_ms,
                ],
            )
            .await?;
        Ok(updated == 1)
    }

    /// Caches a thumbnail; one made concurrently for the same box wins.
    pub async fn insert_thumbnail(
        &self,
        origin: &str,
        media_id: &str,
        thumbnail: &ThumbnailRow,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let inserted = self
            .client()
            .cached_execute(
                "INSERT INTO media_thumbnails (origin, media_id, width, height, method, animated,
                                               content_type, size, sha256, created_ts)
                 SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10
                 WHERE EXISTS (SELECT 1 FROM media WHERE origin = $1 AND media_id = $2
                               AND deleted_ts IS NULL)
                 ON CONFLICT DO NOTHING",
                &[
                    &origin,
                    &media_id,
                    &thumbnail.width,
                    &thumbnail.height,
                    &thumbnail.method,
                    &thumbnail.animated,
                    &thumbnail.content_type,
                    &thumbnail.size,
                    &thumbnail.sha256,
                    &now_ms,
                ],
            )
            .await?;
        Ok(inserted == 1)
    }
}
