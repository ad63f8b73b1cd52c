//! The login hanse-chat keeps in its store directory beside the client's
//! state: `session.json` (homeserver, user, device, access token) and
//! `pickle.key` (the key the encryption engine's secrets are encrypted
//! with).
//!
//! Both files are readable by their owner only. The pickle key lying next
//! to what it encrypts means the directory's permissions are what protects
//! the keys at rest; a client with a system keyring would keep it there.

use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use hanse_sdk::{Client, LoginInfo};
use serde::{Deserialize, Serialize};

use crate::Failure;

const SESSION_FILE: &str = "session.json";
const PICKLE_KEY_FILE: &str = "pickle.key";

#[derive(Serialize, Deserialize)]
pub struct SavedSession {
    pub homeserver: String,
    pub user_id: String,
    pub device_id: String,
    access_token: String,
}

impl SavedSession {
    /// Saves a new login and a new pickle key into `store`, which must be
    /// a new or empty directory: a directory belongs to one device.
    pub fn create(
        store: &Path,
        homeserver: &str,
        login: &LoginInfo,
    ) -> Result<(Self, [u8; 32]), Failure> {
        fs::create_dir_all(store).map_err(|e| format!("cannot create {}: {e}", store.display()))?;
        if fs::read_dir(store)?.next().is_some() {
            return Err(format!(
                "{} is not empty: it holds another device's session; log in with a new --store",
                store.display()
            )
            .into());
        }
        let session = Self {
            homeserver: homeserver.to_owned(),
            user_id: login.user_id.clone(),
            device_id: login.device_id.clone(),
            access_token: login.access_token.clone(),
        };
        let pickle_key: [u8; 32] = rand::random();
        write_private(&store.join(PICKLE_KEY_FILE), &pickle_key)?;
        write_private(
            &store.join(SESSION_FILE),
            &serde_json::to_vec_pretty(&session)?,
        )?;
        Ok((session, pickle_key))
    }

    /// The session saved in `store` and its pickle key.
    pub fn load(store: &Path) -> Result<(Self, [u8; 32]), Failure> {
        let session_path = store.join(SESSION_FILE);
        let bytes = fs::read(&session_path).map_err(|e| {
            format!(
                "no session in {} ({e}); run `hanse-chat login` first",
                store.display()
            )
        })?;
        let session: Self = serde_json::from_slice(&bytes)
            .map_err(|e| format!("{} is damaged: {e}", session_path.display()))?;
        let key_path = store.join(PICKLE_KEY_FILE);
        let pickle_key: [u8; 32] = fs::read(&key_path)
            .map_err(|e| format!("cannot read {}: {e}", key_path.display()))?
            .try_into()
            .map_err(|_| format!("{} is damaged: not 32 bytes", key_path.display()))?;
        Ok((session, pickle_key))
    }

    /// A client of the homeserver acting as this device.
    pub fn client(&self) -> Client {
        Client::new(&self.homeserver).with_token(&self.access_token)
    }

    pub fn login_info(&self) -> LoginInfo {
        LoginInfo {
            user_id: self.user_id.clone(),
            device_id: self.device_id.clone(),
            access_token: self.access_token.clone(),
            refresh_token: None,
            expires_in_ms: None,
        }
    }
}

/// Creates `path` (it must not exist) readable and writable by its owner
/// only, with `bytes`, synced.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}
