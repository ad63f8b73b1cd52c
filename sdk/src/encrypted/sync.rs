//! Taking in one `/sync` answer, in the order encryption needs: room
//! state first (who is in which room, which rooms are encrypted), then
//! device lists, then to-device messages (they carry the room keys), then
//! the timelines, which those keys open.

use std::collections::BTreeMap;

use serde_json::Value;

use super::timeline::TimelineEvent;
use super::{EncryptedClient, EncryptedClientError};
use crate::crypto::{CryptoError, DecryptedToDevice};

const ENCRYPTED_EVENT_TYPE: &str = "m.room.encrypted";

/// What one sync brought, decrypted.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct SyncUpdate {
    /// To-device events, in the order they came.
    pub to_device: Vec<ToDeviceEvent>,
    /// Each joined room's new timeline events, oldest first.
    pub timelines: BTreeMap<String, Vec<TimelineEvent>>,
    /// Rooms we are invited to.
    pub invited: Vec<String>,
    /// Rooms we left or were removed from.
    pub left: Vec<String>,
    /// Key uploads and backups that failed after the sync was taken in.
    /// Nothing is lost: they are tried again after the next sync.
    pub upkeep_failures: Vec<EncryptedClientError>,
}

/// A to-device event.
#[derive(Debug)]
pub enum ToDeviceEvent {
    /// An Olm-encrypted event for this device, decrypted and checked. A
    /// room key (`m.room_key`) inside has been taken in.
    Decrypted(Box<DecryptedToDevice>),
    /// An Olm-encrypted event this device could not read or refused.
    Undecryptable { sender: String, error: CryptoError },
    /// An event sent in the clear (verification requests, for instance).
    Plaintext(Value),
}

/// The entries of the object at `value`, or nothing.
fn entries(value: &Value) -> impl Iterator<Item = (&String, &Value)> {
    value.as_object().into_iter().flatten()
}

/// The array at `value`, or nothing.
fn array(value: &Value) -> impl Iterator<Item = &Value> {
    value.as_array().into_iter().flatten()
}

impl EncryptedClient {
    /// One `/sync` from where the last one ended (from the start on the
    /// first), waiting up to `timeout_ms` for something new, taken in.
    ///
    /// If a request fails before the sync's to-device messages were read
    /// (the answer itself, or the device lists it asks to refresh), this
    /// returns the error and nothing is lost: the next call starts from
    /// the same position.
    pub async fn sync_once(&mut self, timeout_ms: u64) -> Result<SyncUpdate, EncryptedClientError> {
        let answer = self
            .client
            .sync(self.state.since.as_deref(), timeout_ms, None)
            .await?;
        let next_batch = answer["next_batch"]
            .as_str()
            .ok_or(EncryptedClientError::Incomplete {
                request: "/sync",
                field: "next_batch",
            })?
            .to_owned();
        let mut update = SyncUpdate::default();
        let rooms = &answer["rooms"];

        let tracked_before = self.state.tracked_users();
        self.take_in_room_state(rooms, &mut update)?;
        self.note_device_list_changes(&tracked_before, &answer["device_lists"]);
        self.refresh_device_lists().await?;

        for event in array(&answer["to_device"]["events"]) {
            update.to_device.push(self.receive_to_device(event));
        }
        for (room_id, room) in entries(&rooms["join"]) {
            let events = array(&room["timeline"]["events"])
                .map(|event| self.decrypt(room_id, event.clone()))
                .collect();
            update.timelines.insert(room_id.clone(), events);
        }

        // From here on, the sync counts as taken in.
        self.state.since = Some(next_batch);
        self.save_state()?;

        let counts: BTreeMap<String, u64> =
            serde_json::from_value(answer["device_one_time_keys_count"].clone())
                .unwrap_or_default();
        let unused_fallback: Option<Vec<String>> =
            serde_json::from_value(answer["device_unused_fallback_key_types"].clone()).ok();
        if let Err(error) = self.upload_keys(&counts, unused_fallback.as_deref()).await {
            update.upkeep_failures.push(error);
        }
        if let Err(error) = self.back_up_room_keys().await {
            update.upkeep_failures.push(error);
        }
        Ok(update)
    }

    /// Takes in the state events of joined rooms and our leaving of rooms,
    /// replacing outbound room keys where someone may hold one who should
    /// not read on.
    fn take_in_room_state(
        &mut self,
        rooms: &Value,
        update: &mut SyncUpdate,
    ) -> Result<(), EncryptedClientError> {
        for (room_id, room) in entries(&rooms["join"]) {
            let limited = room["timeline"]["limited"].as_bool().unwrap_or(false);
            let state = self.state.rooms.entry(room_id.clone()).or_default();
            let mut rotate = false;
            for event in array(&room["state"]["events"]).chain(array(&room["timeline"]["events"])) {
                rotate |= state.apply(event, limited);
            }
            if rotate {
                self.machine.invalidate(room_id)?;
            }
        }
        for (room_id, _) in entries(&rooms["leave"]) {
            // Who came and went while we were out is unknown: a room we
            // come back to starts with a new room key.
            self.state.rooms.remove(room_id);
            self.machine.invalidate(room_id)?;
            update.left.push(room_id.clone());
        }
        update
            .invited
            .extend(entries(&rooms["invite"]).map(|(room_id, _)| room_id.clone()));
        Ok(())
    }

    fn receive_to_device(&mut self, event: &Value) -> ToDeviceEvent {
        if event.get("type").and_then(Value::as_str) != Some(ENCRYPTED_EVENT_TYPE) {
            return ToDeviceEvent::Plaintext(event.clone());
        }
        match self.machine.receive_to_device(event) {
            Ok(decrypted) => ToDeviceEvent::Decrypted(Box::new(decrypted)),
            Err(error) => ToDeviceEvent::Undecryptable {
                sender: event["sender"].as_str().unwrap_or_default().to_owned(),
                error,
            },
        }
    }
}
