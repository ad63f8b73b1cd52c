//! Media IDs and what is recorded about each upload: uploads at once or
//! into a created mxc URI, lookups for download (waiting for a pending
//! upload), and deletion.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use hanse_protocol::identifiers::{ServerName, UserId};
use rand::distributions::{Alphanumeric, DistString};

use super::files::{Content, PendingFile};
use crate::clock::now_ms;
use crate::store::{MediaContent, MediaRow};
use crate::{Error, Homeserver, Result};

/// Longest media ID accepted in a request (ours have 24 characters).
const MAX_MEDIA_ID_BYTES: usize = 255;
/// Longest file name and content type recorded.
pub const MAX_FILENAME_BYTES: usize = 255;
const MAX_CONTENT_TYPE_BYTES: usize = 255;
/// Longest a download waits for a pending asynchronous upload.
const MAX_DOWNLOAD_WAIT: Duration = Duration::from_secs(60);
const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// Content types the spec deems safe to serve with `Content-Disposition:
/// inline`; everything else is served as an attachment.
const INLINE_CONTENT_TYPES: &[&str] = &[
    "text/css",
    "text/plain",
    "text/csv",
    "application/json",
    "application/ld+json",
    "image/jpeg",
    "image/gif",
    "image/png",
    "image/apng",
    "image/webp",
    "image/avif",
    "video/mp4",
    "video/webm",
    "video/ogg",
    "video/quicktime",
    "audio/mp4",
    "audio/webm",
    "audio/aac",
    "audio/mpeg",
    "audio/ogg",
    "audio/wave",
    "audio/wav",
    "audio/x-wav",
    "audio/x-pn-wav",
    "audio/flac",
    "audio/x-flac",
];

/// Whether content of this type may be served inline.
pub fn served_inline(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    INLINE_CONTENT_TYPES.contains(&essence.as_str())
}

/// An `mxc://<server_name>/<media_id>` URI whose parts are checked: a
/// valid server name, and a media ID of `A-Za-z0-9_-` only, so neither can
/// ever walk a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mxc {
    pub server_name: ServerName,
    pub media_id: String,
}

impl Mxc {
    /// The URI of `server_name` and `media_id` as given in a request path.
    /// Anything malformed cannot name media: "not found".
    pub fn from_parts(server_name: &str, media_id: &str) -> Result<Self> {
        let server_name = ServerName::parse(server_name)
            .map_err(|e| Error::NotFound(format!("{server_name:?} is not a server name: {e}")))?;
        let valid_id = !media_id.is_empty()
            && media_id.len() <= MAX_MEDIA_ID_BYTES
            && media_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !valid_id {
            return Err(Error::NotFound(format!(
                "{media_id:?} is not a media ID (A-Za-z0-9, _ and - only)"
            )));
        }
        Ok(Self {
            server_name,
            media_id: media_id.to_owned(),
        })
    }

    /// `mxc://server/id`.
    pub fn parse(uri: &str) -> Result<Self> {
        let (server_name, media_id) = uri
            .strip_prefix("mxc://")
            .and_then(|rest| rest.split_once('/'))
            .ok_or_else(|| Error::InvalidParam(format!("{uri:?} is not an mxc:// URI")))?;
        Self::from_parts(server_name, media_id)
    }
}

impl std::fmt::Display for Mxc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "mxc://{}/{}", self.server_name, self.media_id)
    }
}

/// Which endpoints a download came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// /_matrix/client/v1/media/*, with an access token.
    Authenticated,
    /// The deprecated /_matrix/media/v3/download and thumbnail: frozen,
    /// they serve only media uploaded before the freeze, which on Hanse is
    /// none.
    Unauthenticated,
}

/// What the uploader says about a file.
#[derive(Debug, Clone)]
pub struct UploadMeta {
    pub content_type: String,
    pub filename: Option<String>,
}

impl UploadMeta {
    /// Checks what a client sent: a content type (default
    /// `application/octet-stream`) of printable ASCII, and a file name that
    /// is a name, not a path.
    pub fn new(content_type: Option<&str>, filename: Option<&str>) -> Result<Self> {
        let content_type = content_type
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .unwrap_or("application/octet-stream");
        if content_type.len() > MAX_CONTENT_TYPE_BYTES
            || !content_type.bytes().all(|b| (0x20..0x7f).contains(&b))
        {
            return Err(Error::InvalidParam(
                "the Content-Type must be printable ASCII of at most 255 bytes".into(),
            ));
        }
        let filename = filename.filter(|name| !name.is_empty());
        if let Some(name) = filename {
            check_filename(name)?;
        }
        Ok(Self {
            content_type: content_type.to_owned(),
            filename: filename.map(str::to_owned),
        })
    }
}

/// A file name to record or put in a header: not a path (no `/`, `\`,
/// `.` or `..`), no control characters, at most 255 bytes.
pub fn check_filename(name: &str) -> Result<()> {
    let path_like = name.contains(['/', '\\']) || name == "." || name == "..";
    if path_like || name.len() > MAX_FILENAME_BYTES || name.chars().any(char::is_control) {
        return Err(Error::InvalidParam(format!(
            "{name:?} is not a file name (at most {MAX_FILENAME_BYTES} bytes, no path \
             separators or control characters)"
        )));
    }
    Ok(())
}

/// An upload whose bytes are being received.
#[derive(Debug)]
pub struct MediaUpload {
    file: PendingFile,
    uploader: UserId,
    meta: UploadMeta,
    /// The created URI a PUT fills; `None` for POST /upload.
    target: Option<Mxc>,
}

impl MediaUpload {
    /// Takes the next part of the body.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<()> {
        self.file.write(chunk).await
    }
}

/// A stored file ready to be served.
#[derive(Debug, Clone)]
pub struct StoredMedia {
    pub path: PathBuf,
    pub size: u64,
    pub content_type: String,
    pub filename: Option<String>,
}

impl Homeserver {
    /// The URI is of this server (remote media cannot be fetched yet).
    fn local_media(&self, mxc: &Mxc) -> Result<()> {
        if mxc.server_name != self.identity.server_name {
            return Err(Error::NotFound(format!(
                "{mxc} is remote media, which this server does not fetch yet"
            )));
        }
        Ok(())
    }

    /// POST /create: a new mxc URI for the user to upload to later.
    /// Returns it and when it lapses unused.
    pub async fn create_media(&self, uploader: &UserId) -> Result<(Mxc, i64)> {
        let settings = &self.settings.media;
        let mxc = self.new_mxc();
        let now = now_ms();
        let lifetime =
            i64::try_from(settings.pending_upload_lifetime.as_millis()).unwrap_or(i64::MAX);
        let expires = now.saturating_add(lifetime);
        let created = self
            .store
            .insert_pending_media(
                mxc.server_name.as_str(),
                &mxc.media_id,
                uploader.as_str(),
                now,
                expires,
                i64::from(settings.max_pending_uploads),
            )
            .await?;
        if !created {
            // Free again when the first of them lapses (or is uploaded to).
            let first_lapse = self
                .store
                .first_pending_media_expiry(uploader.as_str())
                .await?
                .unwrap_or(now);
            return Err(Error::LimitExceeded {
                retry_after_ms: u64::try_from(first_lapse - now).unwrap_or_default(),
            });
        }
        Ok((mxc, expires))
    }

    fn new_mxc(&self) -> Mxc {
        Mxc {
            server_name: self.identity.server_name.clone(),
            media_id: Alphanumeric.sample_string(&mut rand::thread_rng(), 24),
        }
    }

    /// Starts receiving an upload: POST /upload (`target` `None`), or the
    /// PUT that fills `target`. Everything that can be refused before the
    /// body is read is refused here; `declared_size` is the request's
    /// Content-Length.
    pub async fn begin_upload(
        &self,
        uploader: &UserId,
        target: Option<Mxc>,
        meta: UploadMeta,
        declared_size: Option<u64>,
    ) -> Result<MediaUpload> {
        if let Some(mxc) = &target {
            self.local_media(mxc)?;
            let row = self
                .store
                .media(mxc.server_name.as_str(), &mxc.media_id)
                .await?;
            check_fillable(row.as_ref(), mxc, uploader, now_ms())?;
        }
        let (limit, overflow) = self.upload_allowance(uploader).await?;
        if let Some(declared) = declared_size.filter(|&size| size > limit) {
            // Refused before any byte is read.
            return Err(overflow.error(limit, Some(declared)));
        }
        let file = self.media.files.create(limit, overflow).await?;
        Ok(MediaUpload {
            file,
            uploader: uploader.clone(),
            meta,
            target,
        })
    }

    /// Stores a received upload and records it; returns its URI.
    pub async fn finish_upload(&self, mut upload: MediaUpload) -> Result<Mxc> {
        let content = upload.file.finish().await?;
        let new_row = upload.target.is_none();
        let mxc = upload.target.clone().unwrap_or_else(|| self.new_mxc());
        let recorded = self
            .record_upload(&mut upload, &mxc, &content, new_row)
            .await;
        match recorded {
            Ok(true) => Ok(mxc),
            Ok(false) => {
                self.remove_file_if_unreferenced(&content.sha256).await?;
                Err(Error::CannotOverwriteMedia)
            }
            Err(error) => {
                self.remove_file_if_unreferenced(&content.sha256).await?;
                Err(error)
            }
        }
    }

    /// Places the file and records the row, under the file's lock;
    /// `false` when the created URI was filled meanwhile.
    async fn record_upload(
        &self,
        upload: &mut MediaUpload,
        mxc: &Mxc,
        content: &Content,
        new_row: bool,
    ) -> Result<bool> {
        let size = i64::try_from(content.size)
            .map_err(|_| Error::TooLarge("the upload is too large".into()))?;
        let row = MediaContent {
            content_type: &upload.meta.content_type,
            filename: upload.meta.filename.as_deref(),
            size,
            sha256: &content.sha256,
            now_ms: now_ms(),
        };
        let (origin, uploader) = (mxc.server_name.as_str(), upload.uploader.as_str());
        let write = self.store.begin().await?;
        write.lock_media_file(&content.sha256).await?;
        upload.file.place(&self.media.files, content)?;
        let recorded = if new_row {
            write
                .insert_media(origin, &mxc.media_id, uploader, &row)
                .await?;
            true
        } else {
            write
                .fill_pending_media(origin, &mxc.media_id, uploader, &row)
                .await?
        };
        if recorded {
            write.commit().await?;
        }
        Ok(recorded)
    }

    /// Removes the stored file with this hash unless media or a thumbnail
    /// still refers to it. Returns whether it was removed.
    pub(crate) async fn remove_file_if_unreferenced(&self, sha256: &str) -> Result<bool> {
        let write = self.store.begin().await?;
        write.lock_media_file(sha256).await?;
        let referenced = write.media_file_referenced(sha256).await?;
        if !referenced {
            self.media.files.remove(sha256).await?;
        }
        write.commit().await?;
        Ok(!referenced)
    }

    /// The media at `server_name`/`media_id` for download, waiting up to
    /// `wait` (at most a minute) for a pending asynchronous upload.
    pub async fn media_for_download(
        &self,
        server_name: &str,
        media_id: &str,
        access: Access,
        wait: Duration,
    ) -> Result<(Mxc, StoredMedia)> {
        let mxc = Mxc::from_parts(server_name, media_id)?;
        self.local_media(&mxc)?;
        let deadline = Instant::now() + wait.min(MAX_DOWNLOAD_WAIT);
        loop {
            let row = self
                .store
                .media(mxc.server_name.as_str(), &mxc.media_id)
                .await?;
            if let Some(stored) = self.servable(row, &mxc, access)? {
                return Ok((mxc, stored));
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::NotYetUploaded);
            }
            tokio::time::sleep(POLL_INTERVAL.min(deadline - now)).await;
        }
    }

    /// The row's file if it may be served; `None` while its upload is
    /// pending.
    fn servable(
        &self,
        row: Option<MediaRow>,
        mxc: &Mxc,
        access: Access,
    ) -> Result<Option<StoredMedia>> {
        let not_found = || Error::NotFound(format!("no media at {mxc}"));
        let row = row.ok_or_else(not_found)?;
        if row.deleted_ts.is_some() || row.quarantined {
            return Err(not_found());
        }
        if access == Access::Unauthenticated && row.authenticated {
            return Err(Error::NotFound(format!(
                "{mxc} is served only through the authenticated media endpoints \
                 (/_matrix/client/v1/media)"
            )));
        }
        let (Some(sha256), Some(size)) = (row.sha256, row.size) else {
            if row
                .unused_expires_ts
                .is_none_or(|expires| expires <= now_ms())
            {
                return Err(not_found());
            }
            return Ok(None);
        };
        Ok(Some(StoredMedia {
            path: self.media.files.path_of(&sha256)?,
            size: u64::try_from(size).unwrap_or_default(),
            content_type: row
                .content_type
                .unwrap_or_else(|| "application/octet-stream".into()),
            filename: row.filename,
        }))
    }

    /// Deletes media (admin or retention): it answers "not found" from now
    /// on, its thumbnails go, and its file goes unless other media has the
    /// same bytes. `false` if there was no such media or it was deleted
    /// already.
    pub async fn delete_media(&self, mxc: &Mxc) -> Result<bool> {
        self.local_media(mxc)?;
        let Some(hashes) = self
            .store
            .mark_media_deleted(mxc.server_name.as_str(), &mxc.media_id, now_ms())
            .await?
        else {
            return Ok(false);
        };
        for sha256 in hashes {
            self.remove_file_if_unreferenced(&sha256).await?;
        }
        Ok(true)
    }

    /// Deletes every local media created before `before_ms`; returns how
    /// many.
    pub async fn delete_media_before(&self, before_ms: i64) -> Result<Vec<Mxc>> {
        let server_name = &self.identity.server_name;
        let mut deleted = Vec::new();
        for media_id in self
            .store
            .media_created_before(server_name.as_str(), before_ms)
            .await?
        {
            let mxc = Mxc {
                server_name: server_name.clone(),
                media_id,
            };
            if self.delete_media(&mxc).await? {
                deleted.push(mxc);
            }
        }
        Ok(deleted)
    }
}

/// Whether `uploader` may fill the created URI `row`.
fn check_fillable(row: Option<&MediaRow>, mxc: &Mxc, uploader: &UserId, now: i64) -> Result<()> {
    let not_found = || {
        Error::NotFound(format!(
            "{mxc} was not created for an upload, or has lapsed"
        ))
    };
    let row = row
        .filter(|row| row.deleted_ts.is_none())
        .ok_or_else(not_found)?;
    if row.uploader != uploader.as_str() {
        return Err(Error::Forbidden(format!(
            "{mxc} was created by another user"
        )));
    }
    if row.sha256.is_some() {
        return Err(Error::CannotOverwriteMedia);
    }
    if row.unused_expires_ts.is_none_or(|expires| expires <= now) {
        return Err(not_found());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_ids_and_server_names_cannot_walk_paths() {
        for (server, id) in [
            ("hanse.test", "../etc"),
            ("hanse.test", "a/b"),
            ("hanse.test", "a%2Fb"),
            ("hanse.test", ".."),
            ("hanse.test", ""),
            ("hanse.test", "ä"),
            ("../x", "abc"),
            ("a/b", "abc"),
        ] {
            assert!(Mxc::from_parts(server, id).is_err(), "{server} {id}");
        }
        let mxc = Mxc::parse("mxc://hanse.test:8448/Ab_9-z").expect("valid");
        assert_eq!(mxc.to_string(), "mxc://hanse.test:8448/Ab_9-z");
    }

    #[test]
    fn only_safe_types_are_inline() {
        assert!(served_inline("image/png"));
        assert!(served_inline("Text/Plain; charset=utf-8"));
        assert!(!served_inline("text/html"));
        assert!(!served_inline("image/svg+xml"));
        assert!(!served_inline("application/octet-stream"));
    }

    #[test]
    fn file_names_are_names() {
        for bad in [
            "../passwd",
            "a/b",
            "a\\b",
            "..",
            ".",
            "a\nb",
            &"x".repeat(256),
        ] {
            assert!(UploadMeta::new(None, Some(bad)).is_err(), "{bad:?}");
        }
        let meta = UploadMeta::new(None, Some("War and Peace.pdf")).expect("a name");
        assert_eq!(meta.content_type, "application/octet-stream");
        assert!(UploadMeta::new(Some("text/plain\r\nX: y"), None).is_err());
    }
}
