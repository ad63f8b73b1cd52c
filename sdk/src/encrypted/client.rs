//! [`EncryptedClient`]: a logged-in device that encrypts and decrypts,
//! and keeps what it knows in a directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::json;

use super::room_state::RoomState;
use super::sync_state::SyncState;
use super::EncryptedClientError;
use crate::crypto::CryptoMachine;
use crate::{Client, LoginInfo};

/// The engine's store, inside the client's directory.
const CRYPTO_DIR: &str = "crypto";
/// The sync position, rooms and device list flags.
const SYNC_STATE_FILE: &str = "sync.json";

/// A device's client with end-to-end encryption: the HTTP [`Client`] and
/// the [`CryptoMachine`] wired together the way the spec's client
/// behaviour asks.
///
/// - [`open`](Self::open) publishes the device's keys;
/// - [`sync_once`](Self::sync_once) takes in one `/sync`: room keys from
///   to-device messages first, then the rooms' timelines, decrypted; it
///   follows members, device lists and room settings, and tops up
///   one-time keys;
/// - [`send_message`](Self::send_message) encrypts for every device of the
///   room's members, handing out and rotating room keys as needed;
/// - [`create_backup`](Self::create_backup) and
///   [`restore_backup`](Self::restore_backup) use server-side key backup.
///
/// Everything it learns is kept in its directory, so a client opened again
/// on the same directory carries on where it stopped: same identity keys,
/// same Olm and Megolm sessions, same sync position.
#[derive(Debug)]
pub struct EncryptedClient {
    pub(crate) client: Client,
    pub(crate) machine: CryptoMachine,
    pub(crate) state: SyncState,
    state_path: PathBuf,
}

#[derive(Deserialize)]
struct KeysUploaded {
    #[serde(default)]
    one_time_key_counts: BTreeMap<String, u64>,
}

impl EncryptedClient {
    /// Opens the client of the device `login` describes (`client` must act
    /// with its access token), keeping its state in `store_dir`, and makes
    /// sure the server has the device's keys.
    ///
    /// The encryption engine's secrets in `store_dir` are encrypted with
    /// `pickle_key`, which must be the same at every opening. A directory
    /// used by another device is refused: one directory, one device.
    pub async fn open(
        client: Client,
        login: &LoginInfo,
        store_dir: &Path,
        pickle_key: [u8; 32],
    ) -> Result<Self, EncryptedClientError> {
        let machine = CryptoMachine::open(
            &store_dir.join(CRYPTO_DIR),
            pickle_key,
            &login.user_id,
            &login.device_id,
        )?;
        let state_path = store_dir.join(SYNC_STATE_FILE);
        let state = SyncState::load(&state_path)?;
        let mut this = Self {
            client,
            machine,
            state,
            state_path,
        };
        // An empty upload changes nothing and tells how many one-time keys
        // the server holds, so a reopened device tops up rather than
        // guessing.
        let counts = this.upload(&json!({})).await?;
        this.upload_keys(&counts, None).await?;
        Ok(this)
    }

    /// The HTTP client, acting as this device.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The encryption engine.
    pub fn machine(&self) -> &CryptoMachine {
        &self.machine
    }

    pub fn user_id(&self) -> &str {
        self.machine.user_id()
    }

    pub fn device_id(&self) -> &str {
        self.machine.device_id()
    }

    /// A joined room, as far as the syncs so far told.
    pub fn room(&self, room_id: &str) -> Option<&RoomState> {
        self.state.rooms.get(room_id)
    }

    /// The joined rooms, by ID.
    pub fn rooms(&self) -> impl Iterator<Item = (&str, &RoomState)> {
        self.state
            .rooms
            .iter()
            .map(|(id, room)| (id.as_str(), room))
    }

    pub(crate) fn save_state(&self) -> Result<(), EncryptedClientError> {
        Ok(self.state.save(&self.state_path)?)
    }

    /// Uploads whatever keys the engine wants published, given the
    /// server's one-time key counts and, when a sync told, which fallback
    /// keys are unused; nothing when the server has enough.
    pub(crate) async fn upload_keys(
        &mut self,
        one_time_key_counts: &BTreeMap<String, u64>,
        unused_fallback_key_types: Option<&[String]>,
    ) -> Result<(), EncryptedClientError> {
        let Some(body) = self
            .machine
            .keys_for_upload(one_time_key_counts, unused_fallback_key_types)?
        else {
            return Ok(());
        };
        self.upload(&body).await?;
        self.machine.mark_keys_as_published()?;
        Ok(())
    }

    /// POST /keys/upload; returns the server's one-time key counts.
    async fn upload(
        &self,
        body: &serde_json::Value,
    ) -> Result<BTreeMap<String, u64>, EncryptedClientError> {
        let uploaded: KeysUploaded = self
            .client
            .post("/_matrix/client/v3/keys/upload", body)
            .await?;
        Ok(uploaded.one_time_key_counts)
    }
}
