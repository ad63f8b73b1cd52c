//! Typing notifications (PUT /rooms/{roomId}/typing/{userId}).

use std::time::Duration;

use hanse_protocol::identifiers::{RoomId, UserId};

use crate::accounts::Session;
use crate::{Error, Homeserver, Result};

/// The longest a typing notification lasts without being renewed.
const MAX_TYPING: Duration = Duration::from_secs(120);

impl Homeserver {
    /// Marks the session's user as typing in the room for `timeout`
    /// (capped), or as not typing when `timeout` is `None`.
    pub async fn set_typing(
        &self,
        session: &Session,
        room_id: &RoomId,
        user: &UserId,
        timeout: Option<Duration>,
    ) -> Result<()> {
        if &session.user_id != user {
            return Err(Error::Forbidden(
                "you may only send your own typing notifications".into(),
            ));
        }
        let room = self.room(room_id).await?;
        let joined = self
            .store
            .membership(room.nid, user.as_str())
            .await?
            .is_some_and(|row| row.membership == "join");
        if !joined {
            return Err(Error::Forbidden(format!("you are not joined to {room_id}")));
        }
        self.streams.typing.set(
            room.nid,
            user.as_str(),
            timeout.map(|timeout| timeout.min(MAX_TYPING)),
        );
        self.send_typing(room.nid, room_id, user, timeout.is_some())
            .await
    }
}
