//! A user's devices.

use hanse_protocol::identifiers::UserId;

use crate::store::DeviceRow;
use crate::{Error, Homeserver, Result};

/// A device as its owner sees it.
pub type Device = DeviceRow;

impl Homeserver {
    pub async fn devices(&self, user_id: &UserId) -> Result<Vec<Device>> {
        Ok(self.store.devices(user_id.as_str()).await?)
    }

    pub async fn device(&self, user_id: &UserId, device_id: &str) -> Result<Device> {
        self.store
            .device(user_id.as_str(), device_id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("no device {device_id}")))
    }

    /// Renames a device; `None` removes its name. A new name is a device
    /// list change: /keys/query shows it to others as the device's
    /// `device_display_name`.
    pub async fn rename_device(
        &self,
        user_id: &UserId,
        device_id: &str,
        display_name: Option<&str>,
    ) -> Result<()> {
        if display_name.is_some_and(|name| name.len() > super::MAX_DEVICE_FIELD_BYTES) {
            return Err(Error::InvalidParam("the device name is too long".into()));
        }
        let user = user_id.as_str();
        let found = self
            .device_list_write(&[user], async {
                Ok(self
                    .store
                    .set_device_display_name(user, device_id, display_name)
                    .await?)
            })
            .await?;
        if !found {
            return Err(Error::NotFound(format!("no device {device_id}")));
        }
        Ok(())
    }

    /// Deletes devices and logs them out. Unknown IDs are ignored, as
    /// deleting is idempotent.
    pub async fn delete_devices(&self, user_id: &UserId, device_ids: &[String]) -> Result<()> {
        let user = user_id.as_str();
        self.device_list_write(&[user], async {
            Ok(((), self.store.delete_devices(user, device_ids).await?))
        })
        .await
    }

    /// Deletes every device of the user but `keep`, logging them out.
    pub(crate) async fn delete_other_devices(
        &self,
        user_id: &UserId,
        keep: Option<&str>,
    ) -> Result<()> {
        let user = user_id.as_str();
        self.device_list_write(&[user], async {
            Ok(((), self.store.delete_other_devices(user, keep).await?))
        })
        .await
    }
}
