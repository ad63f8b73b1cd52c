//! Content-addressed files: media and thumbnails are stored under the media
//! directory as `<aa>/<bb>/<sha256 in hex>`, so the same bytes are kept
//! once however often they are uploaded. New content is written to a
//! temporary file in `tmp/` while it is hashed, then renamed into place;
//! nothing of a failed write stays behind.

use std::io;
use std::path::{Path, PathBuf};

use rand::distributions::{Alphanumeric, DistString};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::{Error, Result};

/// The media directory.
#[derive(Debug, Clone)]
pub struct FileStore {
    root: PathBuf,
}

/// Content once written: its hash (lowercase hex) and length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    pub sha256: String,
    pub size: u64,
}

/// Why a write stopped taking bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// The upload size limit (413 M_TOO_LARGE).
    TooLarge,
    /// The uploader's storage quota (403 M_FORBIDDEN).
    Quota,
}

impl Overflow {
    /// The error for content past `limit` bytes (`declared`: as the
    /// request's Content-Length said, before any byte was read).
    pub fn error(self, limit: u64, declared: Option<u64>) -> Error {
        match self {
            Self::TooLarge => Error::TooLarge(match declared {
                Some(size) => format!(
                    "the upload of {size} bytes is larger than the {limit} bytes this server \
                     accepts"
                ),
                None => format!("the upload is larger than the {limit} bytes this server accepts"),
            }),
            // Clients are told 403 M_FORBIDDEN, as the spec's upload
            // endpoints list for a user who "has reached a quota for
            // uploaded content"; M_RESOURCE_LIMIT_EXCEEDED is for limits of
            // the whole server and needs an admin contact.
            Self::Quota => {
                Error::Forbidden("the upload would exceed your media storage quota".into())
            }
        }
    }
}

/// Whether `hash` is a SHA-256 in lowercase hex, the only names files have.
fn is_sha256_hex(hash: &str) -> bool {
    hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn io_error(what: &str, path: &Path, error: io::Error) -> Error {
    Error::Internal(format!("{what} {}: {error}", path.display()))
}

impl FileStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the content with this hash lives. Hashes come from the
    /// database, which only holds ones computed here; anything else is a
    /// bug and never becomes a path.
    pub fn path_of(&self, sha256: &str) -> Result<PathBuf> {
        if !is_sha256_hex(sha256) {
            return Err(Error::Internal(format!("{sha256:?} is not a SHA-256 hash")));
        }
        Ok(self
            .root
            .join(&sha256[0..2])
            .join(&sha256[2..4])
            .join(sha256))
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Starts writing new content of at most `limit` bytes; `overflow`
    /// says which limit that is.
    pub async fn create(&self, limit: u64, overflow: Overflow) -> Result<PendingFile> {
        let dir = self.tmp_dir();
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| io_error("creating", &dir, e))?;
        let path = dir.join(format!(
            "upload-{}",
            Alphanumeric.sample_string(&mut rand::thread_rng(), 24)
        ));
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await
            .map_err(|e| io_error("creating", &path, e))?;
        Ok(PendingFile {
            file: Some(file),
            path: Some(path),
            hasher: Sha256::new(),
            size: 0,
            limit,
            overflow,
        })
    }

    /// Stores `bytes` (a thumbnail, made in memory) as content.
    pub async fn store_bytes(&self, bytes: &[u8]) -> Result<(Content, PendingFile)> {
        let mut file = self.create(bytes.len() as u64, Overflow::TooLarge).await?;
        file.write(bytes).await?;
        let content = file.finish().await?;
        Ok((content, file))
    }

    /// Removes the content with this hash; its absence is no error.
    pub async fn remove(&self, sha256: &str) -> Result<()> {
        let path = self.path_of(sha256)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(error) => Err(io_error("removing", &path, error)),
        }
    }
}

/// Content being written: a temporary file, removed when this is dropped
/// before [`PendingFile::place`] moved it into the store.
#[derive(Debug)]
pub struct PendingFile {
    file: Option<tokio::fs::File>,
    path: Option<PathBuf>,
    hasher: Sha256,
    size: u64,
    limit: u64,
    overflow: Overflow,
}

impl PendingFile {
    /// Appends `chunk`; fails once the content would pass the limit.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<()> {
        self.size += chunk.len() as u64;
        if self.size > self.limit {
            return Err(self.overflow.error(self.limit, None));
        }
        self.hasher.update(chunk);
        let file = self
            .file
            .as_mut()
            .ok_or_else(|| Error::Internal("writing to a finished upload".into()))?;
        file.write_all(chunk)
            .await
            .map_err(|e| Error::Internal(format!("writing an upload: {e}")))
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Ends writing (the bytes reach the disk) and names the content.
    pub async fn finish(&mut self) -> Result<Content> {
        let mut file = self
            .file
            .take()
            .ok_or_else(|| Error::Internal("finishing an upload twice".into()))?;
        file.flush()
            .await
            .and(file.sync_all().await)
            .map_err(|e| Error::Internal(format!("writing an upload: {e}")))?;
        let hash = std::mem::take(&mut self.hasher).finalize();
        Ok(Content {
            sha256: hash.iter().map(|b| format!("{b:02x}")).collect(),
            size: self.size,
        })
    }

    /// Moves the finished content into the store under its hash. Call it
    /// while holding the content's file lock (see
    /// [`crate::store::Write::lock_media_file`]), so a deletion of the
    /// same bytes cannot remove the file between this and the row that
    /// refers to it.
    pub fn place(&mut self, store: &FileStore, content: &Content) -> Result<()> {
        let from = self
            .path
            .take()
            .ok_or_else(|| Error::Internal("placing an upload twice".into()))?;
        let target = store.path_of(&content.sha256)?;
        let result = (|| {
            if target.exists() {
                // The same bytes are stored already.
                return std::fs::remove_file(&from);
            }
            if let Some(dir) = target.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::rename(&from, &target)
        })();
        result.map_err(|e| {
            let _ = std::fs::remove_file(&from);
            io_error("storing", &target, e)
        })
    }
}

impl Drop for PendingFile {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            drop(self.file.take());
            if let Err(error) = std::fs::remove_file(&path) {
                tracing::warn!(path = %path.display(), %error, "removing an unfinished upload");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn content_is_stored_once_under_its_hash_and_failures_leave_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = FileStore::new(dir.path().join("media"));
        let mut first = store.create(10, Overflow::TooLarge).await.expect("create");
        first.write(b"hello").await.expect("write");
        let content = first.finish().await.expect("finish");
        assert_eq!(
            content.sha256,
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        first.place(&store, &content).expect("place");
        let path = store.path_of(&content.sha256).expect("path");
        assert!(path
            .ends_with("2c/f2/2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"));
        assert_eq!(std::fs::read(&path).expect("read"), b"hello");

        let (again, mut second) = store.store_bytes(b"hello").await.expect("store");
        second.place(&store, &again).expect("place the same bytes");
        assert_eq!(again, content);

        let mut big = store.create(4, Overflow::Quota).await.expect("create");
        let refused = big.write(b"hello").await.expect_err("over the limit");
        assert!(matches!(refused, Error::Forbidden(_)), "{refused:?}");
        drop(big);
        let unfinished = store.create(4, Overflow::TooLarge).await.expect("create");
        drop(unfinished);
        let leftovers = std::fs::read_dir(store.tmp_dir()).expect("tmp").count();
        assert_eq!(leftovers, 0, "temporary files are removed");

        assert!(store.path_of("../../etc/passwd").is_err());
        assert!(store.path_of(&"A".repeat(64)).is_err());
    }
}
