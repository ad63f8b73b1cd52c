//! Creating, joining and leaving rooms.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::crypto::MEGOLM_ALGORITHM;
use crate::{Client, Error};
use hanse_protocol::path_segment;

/// What a new room should be like.
#[derive(Debug, Clone, Default)]
pub struct NewRoom {
    /// Anyone may join (`public_chat`), or only the invited
    /// (`private_chat`).
    pub public: bool,
    /// Messages are end-to-end encrypted from the first one on: the room
    /// starts with an `m.room.encryption` state event.
    pub encrypted: bool,
    pub name: Option<String>,
    /// User IDs to invite.
    pub invite: Vec<String>,
}

#[derive(Deserialize)]
struct RoomIdAnswer {
    room_id: String,
}

impl Client {
    /// Creates a room; returns its ID.
    pub async fn create_room(&self, room: &NewRoom) -> Result<String, Error> {
        let mut body = json!({
            "preset": if room.public { "public_chat" } else { "private_chat" },
            "invite": room.invite,
        });
        if let Some(name) = &room.name {
            body["name"] = json!(name);
        }
        if room.encrypted {
            body["initial_state"] = json!([{
                "type": "m.room.encryption",
                "state_key": "",
                "content": { "algorithm": MEGOLM_ALGORITHM },
            }]);
        }
        let created: RoomIdAnswer = self.post("/_matrix/client/v3/createRoom", &body).await?;
        Ok(created.room_id)
    }

    /// Joins the room with this ID or alias; returns its ID.
    pub async fn join_room(&self, room_id_or_alias: &str) -> Result<String, Error> {
        let path = format!(
            "/_matrix/client/v3/join/{}",
            path_segment::encode(room_id_or_alias)
        );
        let joined: RoomIdAnswer = self.post(&path, &json!({})).await?;
        Ok(joined.room_id)
    }

    /// Leaves the room.
    pub async fn leave_room(&self, room_id: &str) -> Result<(), Error> {
        let path = format!(
            "/_matrix/client/v3/rooms/{}/leave",
            path_segment::encode(room_id)
        );
        let _: Value = self.post(&path, &json!({})).await?;
        Ok(())
    }
}
