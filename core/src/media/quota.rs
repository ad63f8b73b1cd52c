//! How much a user may upload: the server's upload size limit, or what is
//! left of the user's storage quota, whichever is smaller.

use hanse_protocol::identifiers::UserId;

use super::files::Overflow;
use crate::{Homeserver, Result};

impl Homeserver {
    /// The most bytes `uploader`'s next upload may have, and which limit
    /// that is. Uploads running at the same time are each allowed what is
    /// left, so together they may pass the quota by at most one upload
    /// limit each.
    pub async fn upload_allowance(&self, uploader: &UserId) -> Result<(u64, Overflow)> {
        let max_upload = self.settings.media.max_upload_bytes;
        let Some(quota) = self.settings.media.quota_bytes_per_user else {
            return Ok((max_upload, Overflow::TooLarge));
        };
        let used =
            u64::try_from(self.store.media_usage(uploader.as_str()).await?).unwrap_or_default();
        let left = quota.saturating_sub(used);
        Ok(if left < max_upload {
            (left, Overflow::Quota)
        } else {
            (max_upload, Overflow::TooLarge)
        })
    }
}
