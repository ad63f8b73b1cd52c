//! The media repository: uploads (at once, or into an mxc URI created
//! first), downloads, thumbnails, URL previews, quotas and deletion.
//!
//! Bytes are files named by their hash ([`files`]); what is known about
//! them is in PostgreSQL (store/media.rs). Media of other servers is not
//! fetched yet: it answers "not found" until federation can fetch it.

pub mod files;
mod metadata;
mod preview;
mod quota;
mod thumbnails;

use std::sync::Arc;

use tokio::sync::Semaphore;

pub use files::{Content, FileStore, Overflow};
pub use metadata::{
    check_filename, served_inline, Access, MediaUpload, Mxc, StoredMedia, UploadMeta,
    MAX_FILENAME_BYTES,
};
pub use preview::UrlPreview;
pub use thumbnails::{ThumbnailMethod, ThumbnailRequest};

use crate::settings::MediaSettings;

/// The media repository's shared parts: the files, and a bound on the
/// thumbnails made at once (each is CPU work on a blocking thread).
#[derive(Debug, Clone)]
pub struct MediaRepo {
    pub files: FileStore,
    thumbnailing: Arc<Semaphore>,
}

impl MediaRepo {
    pub fn new(settings: &MediaSettings) -> Self {
        Self {
            files: FileStore::new(settings.dir.clone()),
            thumbnailing: Arc::new(Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            )),
        }
    }
}
