//! Local accounts: registration, login, credentials, devices, profiles.

mod account_data;
mod devices;
mod password;
mod profile;
pub mod push_rules;
mod registration;
mod registration_tokens;
mod tags;
mod tokens;
pub mod uia;

pub use account_data::INVITE_PERMISSION_CONFIG;
pub use devices::Device;
pub use password::{PasswordHashing, MAX_PASSWORD_BYTES};
pub use profile::{AVATAR_URL, DISPLAYNAME};
pub use registration::{validate_localpart, Registered, Registration};
pub use tokens::{IssuedTokens, Session};

use hanse_protocol::identifiers::{ServerName, UserId};

use crate::clock::now_ms;
use crate::{Error, Homeserver, Result};

/// A user ID read back from the database, which only holds valid ones.
fn stored_user_id(stored: &str) -> Result<UserId> {
    UserId::parse(stored).map_err(|e| Error::Internal(format!("stored user ID {stored}: {e}")))
}

/// The user of `server_name` that `user` names: a localpart (lowercased)
/// or a full user ID. Whether the account exists is not checked.
pub fn local_user_id(server_name: &ServerName, user: &str) -> Result<UserId> {
    let user_id = if user.starts_with('@') {
        UserId::parse(user).map_err(|e| Error::Forbidden(format!("invalid user ID: {e}")))?
    } else {
        UserId::parse(&format!("@{}:{server_name}", user.to_lowercase()))
            .map_err(|e| Error::Forbidden(format!("invalid user name: {e}")))?
    };
    if user_id.server_name() != server_name {
        return Err(Error::Forbidden(format!(
            "{user_id} is not a user of this server"
        )));
    }
    Ok(user_id)
}

/// A successful login.
#[derive(Debug, Clone)]
pub struct LoggedIn {
    pub user_id: UserId,
    pub device_id: String,
    pub tokens: IssuedTokens,
}

/// How a device is named when a login creates it.
#[derive(Debug, Clone, Default)]
pub struct DeviceRequest {
    /// Reuse this device (its keys survive); a new ID is generated if unset.
    pub device_id: Option<String>,
    pub initial_display_name: Option<String>,
}

/// Longest device ID or display name a client may choose.
const MAX_DEVICE_FIELD_BYTES: usize = 255;

impl Homeserver {
    /// Resolves what a client typed as the user to log in: a localpart or a
    /// full user ID of this server.
    pub fn local_user_id(&self, user: &str) -> Result<UserId> {
        local_user_id(&self.identity.server_name, user)
    }

    /// Checks a user's password. Wrong passwords, unknown users and
    /// accounts without a password look the same to the caller.
    pub async fn check_password(&self, user_id: &UserId, password: &str) -> Result<()> {
        let account = self.store.account(user_id.as_str()).await?;
        let Some(account) = account else {
            return Err(Error::Forbidden("invalid username or password".into()));
        };
        if account.deactivated_ts.is_some() {
            return Err(Error::UserDeactivated);
        }
        let matches = match &account.password_hash {
            Some(hash) => self.password_hashing.verify(password, hash).await?,
            None => false,
        };
        if !matches {
            return Err(Error::Forbidden("invalid username or password".into()));
        }
        Ok(())
    }

    /// POST /login with a password.
    pub async fn password_login(
        &self,
        user: &str,
        password: &str,
        device: DeviceRequest,
        with_refresh: bool,
    ) -> Result<LoggedIn> {
        let user_id = self.local_user_id(user)?;
        self.check_password(&user_id, password).await?;
        self.log_in(user_id, device, with_refresh).await
    }

    /// Creates (or reuses) the device and issues its tokens.
    pub(crate) async fn log_in(
        &self,
        user_id: UserId,
        device: DeviceRequest,
        with_refresh: bool,
    ) -> Result<LoggedIn> {
        for value in [&device.device_id, &device.initial_display_name]
            .into_iter()
            .flatten()
        {
            if value.is_empty() || value.len() > MAX_DEVICE_FIELD_BYTES {
                return Err(Error::InvalidParam(format!(
                    "device IDs and names must have between 1 and {MAX_DEVICE_FIELD_BYTES} bytes"
                )));
            }
        }
        let device_id = device
            .device_id
            .unwrap_or_else(|| hanse_protocol::identifiers::DeviceId::generate().to_string());
        self.store
            .ensure_device(
                user_id.as_str(),
                &device_id,
                device.initial_display_name.as_deref(),
                now_ms(),
            )
            .await?;
        let tokens = self
            .issue_tokens(&user_id, &device_id, with_refresh)
            .await?;
        Ok(LoggedIn {
            user_id,
            device_id,
            tokens,
        })
    }

    /// Sets a new password. With `logout_devices`, every other device is
    /// logged out (the caller's `keep` device stays).
    pub async fn change_password(
        &self,
        user_id: &UserId,
        new_password: &str,
        logout_devices: bool,
        keep: Option<&str>,
    ) -> Result<()> {
        let hash = self.password_hashing.hash(new_password).await?;
        if !self
            .store
            .set_password_hash(user_id.as_str(), &hash)
            .await?
        {
            return Err(Error::NotFound(format!("no active account {user_id}")));
        }
        if logout_devices {
            self.delete_other_devices(user_id, keep).await?;
        }
        Ok(())
    }

    /// Sets a password for the user as an operator does (admin CLI): every
    /// device is logged out, so whoever held the account loses it.
    pub async fn reset_password(&self, user_id: &UserId, new_password: &str) -> Result<()> {
        self.change_password(user_id, new_password, true, None)
            .await?;
        tracing::info!(%user_id, "password reset by an operator");
        Ok(())
    }

    /// Deactivates the account for good.
    pub async fn deactivate(&self, user_id: &UserId) -> Result<()> {
        if !self
            .store
            .deactivate_account(user_id.as_str(), now_ms())
            .await?
        {
            return Err(Error::NotFound(format!("no active account {user_id}")));
        }
        tracing::info!(%user_id, "account deactivated");
        self.leave_all_rooms(user_id).await;
        Ok(())
    }
}
