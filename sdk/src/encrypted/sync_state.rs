//! What the client keeps between runs besides the encryption engine's
//! store: where its sync stands, the rooms it is in, and whose device
//! lists must be fetched again. One JSON file, replaced atomically.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::room_state::RoomState;
use crate::crypto::{read_record, write_record, CryptoError};

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct SyncState {
    /// The `next_batch` of the last sync taken in: the next sync continues
    /// from there, so nothing is seen twice or missed across restarts.
    pub(crate) since: Option<String>,
    /// Joined rooms.
    pub(crate) rooms: BTreeMap<String, RoomState>,
    /// Tracked users whose devices may have changed since we last asked:
    /// their device lists are fetched before anything is encrypted to
    /// them. Kept across restarts, as the spec asks, so a change announced
    /// before a crash is not forgotten.
    pub(crate) outdated_device_lists: BTreeSet<String>,
}

impl SyncState {
    /// The state saved at `path`, or a fresh one if there is none.
    pub(crate) fn load(path: &Path) -> Result<Self, CryptoError> {
        Ok(read_record(path)?.unwrap_or_default())
    }

    pub(crate) fn save(&self, path: &Path) -> Result<(), CryptoError> {
        write_record(path, self)
    }

    /// The users whose device lists we follow: the members of the
    /// encrypted rooms we are in, ourselves included (our other devices
    /// need room keys too).
    pub(crate) fn tracked_users(&self) -> BTreeSet<String> {
        self.rooms
            .values()
            .filter(|room| room.is_encrypted())
            .flat_map(|room| room.members().map(|(user, _)| user.to_owned()))
            .collect()
    }
}
